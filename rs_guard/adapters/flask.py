"""Flask extension: protect views with access tokens (RFC 6750, RFC 9068).

::

    guard = RSGuard()                       # or RSGuard(app)

    def create_app() -> Flask:
        app = Flask(__name__)
        app.config["RS_GUARD_DOMAIN"] = "tenant.eu.auth0.com"
        app.config["RS_GUARD_AUDIENCE"] = "https://api.example.com"
        guard.init_app(app)                 # settings read and checked here, once
        return app

    @bp.get("/appointments")
    @require("read:appointments")           # all of these scopes
    def appointments():
        return {"for": current_token.subject}

* Settings: the ``RS_GUARD_*`` keys of ``app.config`` (the table of :mod:`rs_guard.settings`),
  read and checked once by :meth:`RSGuard.init_app`; or ``config=`` / ``guard=``.
* Decorators :func:`require`, :func:`require_any`, :func:`require_permissions` go through
  the decorator core (:mod:`._decorate`: authentication, scopes and permissions, claim
  checks), on sync and ``async`` views, in blueprints and before ``init_app``.
* The verified token belongs to the request (``request.environ``), never to the app
  context (``flask.g``); the WSGI middleware's is taken only when it was verified under
  this extension's own settings object, else the extension verifies the request itself.
* Refusals are answered as RFC 6750 §3 says; replace it with :meth:`RSGuard.error_handler`.
* Start-up check: each scope a view requires is one the API defines (with scopes in the
  settings), each ``authorization_details`` type one it declares: a :class:`ConfigError` at
  ``init_app``, at decoration when bound, at :meth:`RSGuard.check_scopes`, on the first
  request. The RFC 9728 document is answered before any view, as the middlewares do it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app
from flask.typing import ResponseReturnValue
from werkzeug.local import LocalProxy

from ..config import GuardConfig
from ..errors import ConfigError, RSGuardError
from ..guard import Guard
from ..rar import DetailsSpec
from ..requirements import Requirement
from ..token import AccessToken
from ._app_settings import config_from_app
from ._decorate import protect, refuse_bare_use
from ._flask_request import EXTENSION_KEY, GUARDED, AppState, current_token_of_request, state_of
from ._routes import RouteRequirements, build_requirements
from ._shell import Shell, error_response, status_line, warn_if_htu_from_host

__all__ = [
    "EXTENSION_KEY",
    "RSGuard",
    "config_from_app",
    "current_token",
    "default_error_response",
    "require",
    "require_any",
    "require_permissions",
]

log = logging.getLogger("rs_guard.flask")

F = TypeVar("F", bound=Callable[..., Any])
ErrorHandler = Callable[[RSGuardError], ResponseReturnValue]


class RSGuard:
    """The Flask extension: one :class:`~rs_guard.guard.Guard` per app, error handling,
    the start-up scope check, and decorators bound to it.

    ``check_scopes``: ``None`` (default) checks view scopes against the settings'
    ``scopes`` when the API defines some; ``True`` demands that it does; ``False`` skips.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        config: GuardConfig | None = None,
        guard: Guard | None = None,
        check_scopes: bool | None = None,
    ) -> None:
        self.config = config
        self.guard = guard
        self.check_scopes_setting = check_scopes
        self._error_handler: ErrorHandler | None = None
        self.app = app
        if app is not None:
            self.init_app(app)

    def init_app(
        self, app: Flask, *, config: GuardConfig | None = None, guard: Guard | None = None
    ) -> None:
        """Read and check the settings, register the error handler and the scope check."""
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("rs_guard is already set up on this Flask app")
        guard = guard or self.guard
        owned = guard is None
        if guard is None:
            guard = Guard(config or self.config or config_from_app(app.config))
        check = self.check_scopes_setting
        state = AppState(
            guard=guard,
            check_scopes=bool(guard.config.scopes) if check is None else check,
            shell=Shell.of(guard),
        )
        try:
            state.shell.check_routes(app, scopes=state.check_scopes)  # views declared before
        except ConfigError:
            if owned:
                guard.close()
            raise
        warn_if_htu_from_host(guard.config, log)
        app.extensions[EXTENSION_KEY] = state
        app.register_error_handler(RSGuardError, self._handle_error)
        if state.shell.metadata is not None:
            app.before_request(state.answer_metadata)

        def check_scopes_once() -> None:  # then off the list (a new list: Flask iterates it)
            if not state.scopes_checked:
                self.check_scopes(app)
            hooks = app.before_request_funcs.get(None, [])
            app.before_request_funcs[None] = [f for f in hooks if f is not check_scopes_once]

        app.before_request(check_scopes_once)

    def check_scopes(self, app: Flask | None = None) -> None:
        """Check now that every view's scopes are defined (call once the app is built)."""
        app = app or self.app
        if app is None:
            raise TypeError("check_scopes(app): this extension is not bound to one app")
        state = state_of(app)
        state.shell.check_routes(app, scopes=state.check_scopes)
        state.scopes_checked = True

    # -- errors -----------------------------------------------------------------------

    def error_handler(self, handler: ErrorHandler) -> ErrorHandler:
        """Decorator: answer refusals yourself. ``handler(exc)`` returns a Flask response;
        :func:`default_error_response` gives the standard one to build on."""
        self._error_handler = handler
        return handler

    def _handle_error(self, exc: RSGuardError) -> ResponseReturnValue:
        if self._error_handler is not None:
            return self._error_handler(exc)
        return default_error_response(exc)

    # -- decorators bound to this extension ----------------------------------------------

    def require(self, *scopes: str | Requirement, **route: Any) -> Callable[[F], F]:
        """:func:`require`, with the scope check at decoration when bound to an app."""
        return self._bound(require(*scopes, **route))

    def require_any(self, *scopes: str) -> Callable[[F], F]:
        """:func:`require_any`, with the scope check at decoration when bound to an app."""
        return self._bound(require_any(*scopes))

    def require_permissions(self, *names: str) -> Callable[[F], F]:
        """:func:`require_permissions`, checked at decoration when bound to an app."""
        return self._bound(require_permissions(*names))

    def _bound(self, decorator: Callable[[F], F]) -> Callable[[F], F]:
        def apply(view: F) -> F:
            wrapped = decorator(view)
            state = self.app.extensions.get(EXTENSION_KEY) if self.app is not None else None
            if isinstance(state, AppState):
                one = SimpleNamespace(view_functions={view.__name__: wrapped})  # as an app
                state.shell.check_routes(one, scopes=state.check_scopes)
            return wrapped

        return apply


def default_error_response(exc: RSGuardError) -> Response:
    """The standard answer to a refusal: JSON body, ``WWW-Authenticate`` (RFC 6750 §3),
    ``Retry-After`` on 503, with the current app's challenge (schemes, realm)."""
    state = current_app.extensions.get(EXTENSION_KEY)
    challenge = state.guard.challenge if isinstance(state, AppState) else None
    status, headers, body = error_response(exc, challenge)
    return Response(body, status=status_line(status), headers=headers)


def _protect(requirements: RouteRequirements, name: str) -> Callable[[F], F]:
    return lambda view: protect(view, requirements, lambda *_: GUARDED, key="flask", name=name)


def require(
    *scopes: str | Requirement,
    acr_values: Iterable[str] | None = None,
    max_age: int | None = None,
    authorization_details: DetailsSpec | None = None,
) -> Callable[[F], F]:
    """A valid token is required, granting every scope named (``require()``: any token).

    :class:`~rs_guard.requirements.Requirement` objects (``claim_equals(...)``,
    ``any_of(...)``, ``clients_only``) may be mixed with scope names.
    ``acr_values``/``max_age``: step-up (RFC 9470); ``authorization_details``: RAR (RFC 9396).
    """
    refuse_bare_use(scopes, "require")
    found = build_requirements(
        scopes, acr_values=acr_values, max_age=max_age, authorization_details=authorization_details
    )
    return _protect(found, "require")


def require_any(*scopes: str) -> Callable[[F], F]:
    """A valid token granting at least one of ``scopes``."""
    refuse_bare_use(scopes, "require_any")
    if not scopes:
        raise ValueError("require_any needs at least one scope")
    return _protect(build_requirements(any_scopes=scopes), "require_any")


def require_permissions(*names: str) -> Callable[[F], F]:
    """A valid token whose ``permissions`` claim (RBAC) holds every one of ``names``."""
    refuse_bare_use(names, "require_permissions")
    if not names:
        raise ValueError("require_permissions needs at least one permission")
    return _protect(build_requirements(permission_names=names), "require_permissions")


def _current_token() -> AccessToken:
    token = current_token_of_request()
    if token is None:
        raise RuntimeError(
            "current_token is only available while handling a request to a view protected "
            "by rs_guard (@require(...), @require_any(...), @require_permissions(...)) or "
            "behind RSGuardWSGIMiddleware"
        )
    return token


#: The verified :class:`~rs_guard.token.AccessToken` of the current request.
current_token: AccessToken = cast(AccessToken, LocalProxy(_current_token))
