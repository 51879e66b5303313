"""What a protected route demands of a token, with no framework imported.

* :func:`build_requirements` / :class:`RouteRequirements`: the arguments of a route
  decorator turned into :mod:`rs_guard.requirements` objects (never re-implemented here),
  in the one order every adapter checks them: scopes and permissions first, then claim
  checks (authentication itself comes before both); the step-up (RFC 9470) and RAR
  (RFC 9396) keywords through :func:`rs_guard.route_checks.route_checks`; each check runs
  with the guard's clock and leeway (:class:`~rs_guard.requirements.Timing`);
* :func:`check_defined_scopes` / :func:`check_route_scopes`: the optional start-up check
  that every scope a route requires is one the API defines (``scopes`` in the settings);
  :func:`check_route_details`: every ``authorization_details`` type a route requires is
  one the API declares (when the settings list them);
* :func:`app_route_requirements`: the protected routes of a Starlette/FastAPI app or the
  views of a Flask app, found without importing either;
* :func:`require_token`: the token a protected route may use, or the refusal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import GuardConfig
from ..errors import ConfigError, MissingCredentials, RSGuardError
from ..observability import record_refusal
from ..rar import DetailsSpec, check_declared_types
from ..requirements import DEFAULT_TIMING, Requirement, Timing, all_of, any_of, permissions
from ..route_checks import route_checks
from ..token import AccessToken

__all__ = [
    "REQUIREMENTS_ATTR",
    "SCHEME_ATTR",
    "RouteRequirements",
    "app_route_requirements",
    "app_route_scopes",
    "build_requirements",
    "check_defined_scopes",
    "check_route_details",
    "check_route_scopes",
    "dependant_scopes",
    "require_token",
]

#: The attribute a route decorator sets on the endpoint it wraps (a :class:`RouteRequirements`),
#: so that start-up checks can find every protected route.
REQUIREMENTS_ATTR = "__rs_guard_requirements__"
#: A class attribute marking a dependency whose ``Security(..., scopes=...)`` are rs_guard
#: scopes (FastAPI's ``RSGuard``), so routes can be scanned without importing FastAPI.
SCHEME_ATTR = "__rs_guard_scheme__"


def _rank(requirement: Requirement) -> int:
    """Scopes and permissions (they name scopes) before claim checks (they name none)."""
    return 0 if requirement.scopes else 1


@dataclass(frozen=True, slots=True)
class RouteRequirements:
    """What one route demands of a token: every requirement must pass."""

    requirements: tuple[Requirement, ...]
    #: The plain scope names given (all required): what FastAPI's ``Security`` declares.
    all_of: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.requirements, key=_rank))
        object.__setattr__(self, "requirements", ordered)

    def __add__(self, other: RouteRequirements) -> RouteRequirements:
        names = dict.fromkeys(self.all_of + other.all_of)
        return RouteRequirements(self.requirements + other.requirements, tuple(names))

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope or permission name the route mentions, in order, once each."""
        seen: dict[str, None] = {}
        for requirement in self.requirements:
            for scope in requirement.scopes:
                seen.setdefault(scope, None)
        return tuple(seen)

    def check(
        self,
        token: AccessToken,
        *,
        method: str | None = None,
        path: str | None = None,
        timing: Timing = DEFAULT_TIMING,
    ) -> None:
        """Raise the refusal of the first failed check (403 ``insufficient_scope``, or 401
        ``insufficient_user_authentication`` for step-up), under the guard's ``timing``.

        The refusal is logged and observed here (:func:`rs_guard.observability.record_refusal`),
        since it is decided outside the guard, which logs its own.
        """
        try:
            for requirement in self.requirements:
                requirement.check_at(token, timing)
        except RSGuardError as exc:
            record_refusal(exc, method=method, url=path, token=token)
            raise

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self.requirements)


def build_requirements(
    scopes: Iterable[str | Requirement] = (),
    *,
    any_scopes: Iterable[str] = (),
    permission_names: Iterable[str] = (),
    checks: Iterable[Requirement] = (),
    acr_values: Iterable[str] | None = None,
    max_age: int | None = None,
    authorization_details: DetailsSpec | None = None,
) -> RouteRequirements:
    """Turn decorator arguments into requirements (in the order of :class:`RouteRequirements`).

    Plain strings in ``scopes`` are all required (:func:`~rs_guard.requirements.all_of`);
    :class:`Requirement` objects (``claim_equals(...)``, ``any_of(...)``) are kept as
    they are; ``acr_values``/``max_age`` (step-up, RFC 9470) and ``authorization_details``
    (RAR, RFC 9396) become claim checks. Misuse (a bare string where a list is meant, an
    empty name) is a ``TypeError``/``ValueError`` raised here, when the route is declared.
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
    out += route_checks(
        acr_values=acr_values, max_age=max_age, authorization_details=authorization_details
    )
    return RouteRequirements(tuple(out), tuple(names))


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


def _routes(app: Any) -> Iterator[Any]:
    """Every route of a Starlette/FastAPI app, through mounts and middleware wrappers."""
    seen: set[int] = set()
    stack = [app]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        routes = getattr(node, "routes", None)
        if isinstance(routes, list):
            stack.extend(routes)
            if hasattr(node, "endpoint") or hasattr(node, "dependant"):
                yield node
            continue
        if hasattr(node, "endpoint") or hasattr(node, "dependant"):
            yield node
        for attr in ("app", "router"):
            inner = getattr(node, attr, None)
            if inner is not None:
                stack.append(inner)


def dependant_scopes(dependant: Any) -> tuple[str, ...]:
    """Every scope an operation's ``Security(RSGuard, scopes=...)`` dependencies require."""
    seen: dict[str, None] = {}
    stack = [dependant]
    while stack:
        node = stack.pop()
        if getattr(getattr(node, "call", None), SCHEME_ATTR, False):
            for scope in (node.parent_oauth_scopes or []) + (node.own_oauth_scopes or []):
                seen.setdefault(scope, None)
        stack.extend(getattr(node, "dependencies", None) or [])
    return tuple(seen)


def app_route_requirements(app: Any) -> Iterator[tuple[str, RouteRequirements]]:
    """``(route description, requirements)`` for every route decorator's requirements:
    on a Starlette/FastAPI endpoint or ``HTTPEndpoint`` method, or on a view of a Flask
    app (``view_functions``)."""
    views = getattr(app, "view_functions", None)
    if isinstance(views, Mapping):
        for endpoint, view in views.items():
            found = getattr(view, REQUIREMENTS_ATTR, None)
            if isinstance(found, RouteRequirements):
                yield f"view {endpoint!r}", found
        return
    for route in _routes(app):
        endpoint = getattr(route, "endpoint", None)
        candidates = [endpoint]
        if isinstance(endpoint, type):
            candidates += [getattr(endpoint, name, None) for name in dir(endpoint)]
        for candidate in candidates:
            found = getattr(candidate, REQUIREMENTS_ATTR, None)
            if isinstance(found, RouteRequirements):
                yield f"route {getattr(route, 'path', route)!r}", found


def app_route_scopes(app: Any) -> Iterator[tuple[str, tuple[str, ...]]]:
    """``(route description, scopes)`` for every protected route of ``app``.

    Finds the requirements of the route decorators (:func:`app_route_requirements`) and
    the ``Security(...)`` scopes of the FastAPI dependency.
    """
    for where, found in app_route_requirements(app):
        if found.scopes:
            yield where, found.scopes
    for route in _routes(app) if not hasattr(app, "view_functions") else ():
        dependant = getattr(route, "dependant", None)
        if dependant is not None:
            scopes = dependant_scopes(dependant)
            if scopes:
                yield f"route {getattr(route, 'path', route)!r}", scopes


def check_route_scopes(app: Any, config: GuardConfig) -> None:
    """Refuse a route that requires a scope the API does not define (``config.scopes``).

    Run by the ASGI middleware at start-up with ``check_scopes=True``; call it yourself
    (after the routes are declared) for an app that verifies tokens without the middleware.
    Raises :class:`~rs_guard.errors.ConfigError` naming the route and the scope.
    """
    for where, scopes in app_route_scopes(app):
        check_defined_scopes(scopes, config, where)


def check_route_details(app: Any, config: GuardConfig) -> None:
    """Refuse a route that requires an ``authorization_details`` type the API does not
    declare (RFC 9396; ``config.authorization_details``, skipped when that is ``None``).

    Raises :class:`~rs_guard.errors.ConfigError` naming the route and the type.
    """
    if config.authorization_details is None:
        return
    for where, found in app_route_requirements(app):
        check_declared_types(found, config, where)
