"""What every framework adapter shares, with no framework imported.

* :class:`PublicPaths`: which request paths skip authentication (exact or prefix);
* :func:`error_response`: the HTTP answer to a refusal, from :func:`~rs_guard.errors.render_error`
  plus ``content-length`` (RFC 6750 §3), and :func:`status_line` for WSGI;
* :func:`build_requirements` / :class:`RouteRequirements`: the arguments of a route
  decorator turned into :mod:`rs_guard.requirements` objects (never re-implemented here);
* :func:`check_defined_scopes`: the optional start-up check that every scope a route
  requires is one the API defines (``scopes`` in the settings), so a typo fails at start;
* :func:`require_token`: the token a protected route may use, or the refusal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NamedTuple

from ..config import GuardConfig
from ..errors import Challenge, ConfigError, MissingCredentials, RSGuardError, render_error
from ..observability import record_refusal
from ..requirements import Requirement, all_of, any_of, permissions
from ..token import AccessToken

__all__ = [
    "REQUIREMENTS_ATTR",
    "TOKEN_KEY",
    "ErrorResponse",
    "PublicPaths",
    "RouteRequirements",
    "build_requirements",
    "check_defined_scopes",
    "error_response",
    "require_token",
    "status_line",
]

#: Where an adapter stores the verified :class:`AccessToken` (ASGI scope, WSGI environ).
TOKEN_KEY = "rs_guard.token"
#: The attribute a route decorator sets on the endpoint it wraps (a :class:`RouteRequirements`),
#: so that start-up checks can find every protected route.
REQUIREMENTS_ATTR = "__rs_guard_requirements__"


def _has_dot_segment(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))


class PublicPaths:
    """Paths that need no token.

    ``"/health"`` matches that path exactly; an entry ending in ``*`` is a prefix
    (``"/static/*"`` matches ``/static/app.css``; ``"/docs*"`` matches ``/docs`` and
    ``/docs/oauth2-redirect``). Matching is on the raw path, without the query.
    """

    __slots__ = ("exact", "prefixes")

    def __init__(self, paths: Iterable[str] = ()) -> None:
        if isinstance(paths, str):
            raise TypeError("public_paths takes a list of paths, not one string")
        exact: set[str] = set()
        prefixes: list[str] = []
        for path in paths:
            if not isinstance(path, str) or not path.startswith("/"):
                raise ConfigError("public_paths", f"{path!r} is not a path starting with /")
            if path.endswith("*"):
                prefixes.append(path[:-1])
            else:
                exact.add(path)
        self.exact = frozenset(exact)
        self.prefixes = tuple(prefixes)

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        if path in self.exact:
            return True
        # "/static/../admin" is never public: the app (or a proxy) may normalise it to a
        # protected route after this check (RFC 3986 §5.2.4 dot segments).
        return (
            bool(self.prefixes)
            and path.startswith(self.prefixes)
            and not ("/." in path and _has_dot_segment(path))
        )

    def __bool__(self) -> bool:
        return bool(self.exact or self.prefixes)

    def __repr__(self) -> str:
        entries = sorted(self.exact) + [p + "*" for p in self.prefixes]
        return f"PublicPaths({entries!r})"


class ErrorResponse(NamedTuple):
    """A refusal ready to send: status, header pairs (``str``), JSON body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def error_response(exc: RSGuardError, challenge: Challenge | None) -> ErrorResponse:
    """The RFC 6750 answer to ``exc``, exactly as INTERFACE.md §3 says, with a length."""
    status, headers, body = render_error(exc, challenge)
    headers.append(("content-length", str(len(body))))
    return ErrorResponse(status, headers, body)


def status_line(status: int) -> str:
    """``"401 Unauthorized"``: the WSGI status string."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


@dataclass(frozen=True, slots=True)
class RouteRequirements:
    """What one route demands of a token: every requirement must pass."""

    requirements: tuple[Requirement, ...]

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope or permission name the route mentions, in order, once each."""
        seen: dict[str, None] = {}
        for requirement in self.requirements:
            for scope in requirement.scopes:
                seen.setdefault(scope, None)
        return tuple(seen)

    def check(
        self, token: AccessToken, *, method: str | None = None, path: str | None = None
    ) -> None:
        """Raise :class:`~rs_guard.errors.InsufficientScope` (403) on the first failed check.

        The refusal is logged and observed here (:func:`rs_guard.observability.record_refusal`),
        since it is decided outside the guard, which logs its own.
        """
        try:
            for requirement in self.requirements:
                requirement.check(token)
        except RSGuardError as exc:
            record_refusal(exc, method=method, url=path, token=token.raw)
            raise

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self.requirements)


def build_requirements(
    scopes: Iterable[str | Requirement] = (),
    *,
    any_scopes: Iterable[str] = (),
    permission_names: Iterable[str] = (),
    checks: Iterable[Requirement] = (),
) -> RouteRequirements:
    """Turn decorator arguments into requirements.

    Plain strings in ``scopes`` are all required (:func:`~rs_guard.requirements.all_of`);
    :class:`Requirement` objects (``claim_equals(...)``, ``any_of(...)``) are kept as
    they are. Misuse (a bare string where a list is meant, an empty name) is a
    ``TypeError``/``ValueError`` raised here, when the route is declared.
    """
    if isinstance(scopes, str) or isinstance(any_scopes, str):
        raise TypeError("pass scope names as separate arguments or a list, not one string")
    if isinstance(permission_names, str):
        raise TypeError("permissions takes a list of names, not one string")
    names: list[str] = []
    out: list[Requirement] = []
    for item in scopes:
        if isinstance(item, Requirement):
            out.append(item)
        elif isinstance(item, str):
            names.append(item)
        else:
            raise TypeError(f"{item!r} is neither a scope name nor a rs_guard Requirement")
    if names:
        out.insert(0, all_of(*names))
    options = tuple(any_scopes)
    if options:
        out.append(any_of(*options))
    perms = tuple(permission_names)
    if perms:
        out.append(permissions(*perms))
    for check in checks:
        if not isinstance(check, Requirement):
            raise TypeError(f"{check!r} is not a rs_guard Requirement")
        out.append(check)
    return RouteRequirements(tuple(out))


def check_defined_scopes(required: Iterable[str], config: GuardConfig, where: str) -> None:
    """Refuse at start-up a route scope the API does not define (``scopes`` in the settings).

    Raises :class:`~rs_guard.errors.ConfigError` naming the route and the unknown scope.
    """
    defined = {scope.value for scope in config.scopes}
    if not defined:
        raise ConfigError(
            "scopes",
            "the scope check is on but the API defines no scopes "
            "(set scopes in the settings or turn check_scopes off)",
        )
    unknown = [scope for scope in required if scope not in defined]
    if unknown:
        raise ConfigError(
            "scopes",
            f"{where} requires {', '.join(unknown)}, which the API does not define "
            f"(defined: {', '.join(sorted(defined))})",
        )


def require_token(token: Any) -> AccessToken:
    """The verified token of a request that reached a protected route, or a 401.

    In anonymous mode a request without credentials reaches the app with no token;
    a route that demands one refuses it as RFC 6750 §3.1 says (no error code).
    """
    if isinstance(token, AccessToken):
        return token
    raise MissingCredentials("this route requires an access token", reason="missing_credentials")
