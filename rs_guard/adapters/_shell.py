"""The shell core: what the ASGI and the WSGI middleware decide, with no protocol in it.

Both middlewares (:mod:`.asgi`, :mod:`.wsgi`) and the dependencies and extensions that
verify a request themselves (:mod:`.fastapi`, :mod:`.flask`) call these functions; the
protocol modules only turn a scope or an environ into a
:class:`~rs_guard.context.RequestContext` and send the answer:

* :class:`PublicPaths`: which paths skip authentication (one rule, with the dot-segment
  guard, for both protocols);
* :class:`Shell`: one middleware's decisions: the RFC 9728 metadata document answered
  before anything else (:meth:`Shell.metadata_answer`); public or not; the guard's token
  kept in the request (:meth:`Shell.accept`); a refusal answered, or let through
  anonymously (:meth:`Shell.refuse`); the start-up checks of the app's routes
  (:meth:`Shell.check_routes`); the guard's clock and leeway for route checks
  (:attr:`Shell.timing`);
* :func:`record_verified` / :func:`verified_under`: the verified token of a request with
  the settings that verified it (:class:`Verified`), kept in the request's own storage
  (ASGI scope, WSGI environ), so that a guard takes only a token verified under its own
  settings and otherwise verifies the request itself;
* :func:`error_response`, :func:`refusal_challenge`, :func:`status_line`: the RFC 6750
  answer to a refusal, with the challenge of the guard that refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from http import HTTPStatus
from typing import Any, NamedTuple, Protocol

from ..config import GuardConfig
from ..errors import Challenge, ConfigError, MissingCredentials, RSGuardError, render_error
from ..metadata import endpoint_for
from ..requirements import Timing
from ..token import AccessToken
from ._routes import check_route_details, check_route_scopes

__all__ = [
    "CHALLENGE_KEY",
    "TOKEN_KEY",
    "VERIFIED_KEY",
    "ErrorResponse",
    "PublicPaths",
    "Shell",
    "Verified",
    "error_response",
    "record_verified",
    "refusal_challenge",
    "status_line",
    "verified_under",
    "warn_if_htu_from_host",
]

#: The verified :class:`AccessToken` of the request (ASGI scope, WSGI environ), as documented.
TOKEN_KEY = "rs_guard.token"
#: Beside it: every :class:`Verified` record of the request (which settings verified what).
VERIFIED_KEY = "rs_guard.verified"
#: The :class:`~rs_guard.errors.Challenge` of the guard that refused the request last.
CHALLENGE_KEY = "rs_guard.challenge"

Storage = MutableMapping[str, Any]


def _has_dot_segment(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))


class PublicPaths:
    """Paths that need no token.

    ``"/health"`` matches that path exactly; an entry ending in ``*`` is a prefix that
    stops at a segment boundary (``"/static/*"`` matches ``/static/app.css``; ``"/docs*"``
    matches ``/docs`` and ``/docs/oauth2-redirect``, never ``/docsets``). Matching is on the
    decoded path inside the app, without the query: WSGI ``PATH_INFO``, ASGI ``path``
    without its ``root_path``.
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
                stem = path[:-1]
                if not stem.endswith("/"):  # "/docs*": /docs and below it, not /docsets
                    exact.add(stem)
                    stem += "/"
                prefixes.append(stem)
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


class Verified(NamedTuple):
    """A token and the settings object it was verified under."""

    config: GuardConfig
    token: AccessToken


def record_verified(storage: Storage, config: GuardConfig, token: AccessToken) -> None:
    """Keep ``token`` as the request's token, verified under ``config``."""
    storage[TOKEN_KEY] = token
    record = Verified(config, token)
    previous = storage.get(VERIFIED_KEY)
    if not previous or not isinstance(previous, tuple):
        storage[VERIFIED_KEY] = (record,)  # the usual case: one guard per request
        return
    kept = tuple(r for r in previous if isinstance(r, Verified) and r.config is not config)
    storage[VERIFIED_KEY] = (*kept, record)


def verified_under(storage: Mapping[str, Any], config: GuardConfig) -> AccessToken | None:
    """The request's token if it was verified under exactly ``config`` (the same object).

    Another guard's token is never taken, however alike its settings look: the caller
    verifies the request itself instead.
    """
    records = storage.get(VERIFIED_KEY)
    for record in records if isinstance(records, tuple) else ():
        if isinstance(record, Verified) and record.config is config:
            return record.token
    return None


class ErrorResponse(NamedTuple):
    """An answer ready to send (a refusal, or the metadata document): status, header
    pairs (``str``), JSON body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def error_response(exc: RSGuardError, challenge: Challenge | None) -> ErrorResponse:
    """The RFC 6750 §3 answer to ``exc`` (``render_error``), with a content length."""
    status, headers, body = render_error(exc, challenge)
    headers.append(("content-length", str(len(body))))
    return ErrorResponse(status, headers, body)


def refusal_challenge(storage: Mapping[str, Any], default: Challenge | None) -> Challenge | None:
    """The challenge of the guard that refused this request, else ``default``."""
    found = storage.get(CHALLENGE_KEY)
    return found if isinstance(found, Challenge) else default


def status_line(status: int) -> str:
    """``"401 Unauthorized"``: the WSGI status string."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


class Verifier(Protocol):
    """What the shell needs of a guard (:class:`~rs_guard.guard.Guard` or ``AsyncGuard``)."""

    @property
    def config(self) -> GuardConfig: ...

    @property
    def challenge(self) -> Challenge: ...

    @property
    def clock(self) -> Callable[[], float]: ...


class Shell:
    """One middleware's decisions, the same for ASGI and WSGI.

    ``allow_anonymous``: a request with no credentials at all reaches the app without a
    token; any other refusal (a bad token) is still answered.
    """

    __slots__ = (
        "allow_anonymous",
        "any_public",
        "challenge",
        "config",
        "metadata",
        "public_paths",
        "timing",
    )

    def __init__(
        self,
        config: GuardConfig,
        challenge: Challenge,
        *,
        public_paths: Iterable[str] = (),
        allow_anonymous: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.challenge = challenge
        self.public_paths = PublicPaths(public_paths)
        #: Whether any path is public (else a middleware need not compute the route path).
        self.any_public = bool(self.public_paths)
        self.allow_anonymous = allow_anonymous
        #: The guard's clock and the configured leeway, for route checks (step-up).
        self.timing = Timing(clock or time.time, config.leeway)
        #: The RFC 9728 document's answers (``resource_metadata`` on), else ``None``.
        self.metadata = endpoint_for(config)

    @classmethod
    def of(
        cls, guard: Verifier, *, public_paths: Iterable[str] = (), allow_anonymous: bool = False
    ) -> Shell:
        """The shell of a middleware that verifies with ``guard``."""
        return cls(
            guard.config,
            guard.challenge,
            public_paths=public_paths,
            allow_anonymous=allow_anonymous,
            clock=guard.clock,
        )

    def metadata_answer(self, path: str, method: str) -> ErrorResponse | None:
        """The answer for the RFC 9728 document's path (§3.1), before any authentication
        (the document is public), or ``None`` for any other path or with the setting off."""
        metadata = self.metadata
        if metadata is None or path != metadata.path:
            return None
        return ErrorResponse(*metadata.answer(method))

    def check_routes(self, app: Any, *, scopes: bool) -> None:
        """The start-up checks of ``app``'s routes: each scope is one the API defines (when
        ``scopes``), each ``authorization_details`` type one it declares (RFC 9396)."""
        if scopes:
            check_route_scopes(app, self.config)
        check_route_details(app, self.config)

    def is_public(self, path: str) -> bool:
        """Whether ``path`` (decoded, without the query) skips authentication."""
        return self.any_public and path in self.public_paths

    def accept(self, storage: Storage, token: AccessToken) -> None:
        """Keep the guard's token in the request, with the settings that verified it."""
        record_verified(storage, self.config, token)

    def refuse(self, storage: Storage, exc: RSGuardError) -> ErrorResponse | None:
        """The answer to a refusal, or ``None`` when the request goes on anonymously.

        The guard has logged and observed the refusal (:mod:`rs_guard.observability`).
        """
        if self.allow_anonymous and isinstance(exc, MissingCredentials):
            return None
        storage[CHALLENGE_KEY] = self.challenge
        return error_response(exc, self.challenge)


def warn_if_htu_from_host(config: GuardConfig, log: logging.Logger) -> None:
    """At a WSGI start-up: DPoP without ``public_url`` checks ``htu`` against a URL that
    gunicorn on a unix socket builds from the client's ``Host`` (RFC 9449 §4.3 step 9)."""
    if config.dpop_enabled and not config.public_url:
        log.warning(
            "DPoP is on and public_url (RS_GUARD_PUBLIC_URL) is not set: a WSGI server builds "
            "the request URL that the proof's htu must match from SERVER_NAME, which gunicorn "
            "on a unix socket takes from the client's Host header; set public_url to the API's "
            "public address"
        )
