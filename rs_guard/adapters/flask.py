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

* Settings: the ``RS_GUARD_*`` keys of ``app.config``, with the names and meanings of the
  environment variables (INTERFACE.md §1), read once by :meth:`RSGuard.init_app`; a bad
  or unknown key raises :class:`~rs_guard.errors.ConfigError` there. ``config=`` or
  ``guard=`` give them directly instead.
* Decorators :func:`require`, :func:`require_any`, :func:`require_permissions` wrap
  :mod:`rs_guard.requirements`; they work on sync and ``async`` views (``ensure_sync``),
  in blueprints and before ``init_app``, and find the app's guard through ``current_app``.
* Refusals are :class:`~rs_guard.errors.RSGuardError`, answered by an error handler as
  JSON with the RFC 6750 §3 headers; replace it with :meth:`RSGuard.error_handler`.
* Start-up check: with scopes defined in the settings, every scope a view requires must
  be one of them (a typo is a :class:`ConfigError` at ``init_app``, at decoration when
  the extension is already bound, or at :meth:`RSGuard.check_scopes`; the first request
  checks again, so it is never skipped).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, has_request_context, request
from flask.typing import ResponseReturnValue
from werkzeug.local import LocalProxy

from ..config import GuardConfig
from ..errors import ConfigError, RSGuardError
from ..guard import Guard
from ..loaders import load_config, settings_from_env
from ..metadata import MetadataEndpoint, endpoint_for
from ..rar import check_declared_types
from ..requirements import Requirement
from ..route_checks import route_checks
from ..token import AccessToken
from ._common import (
    REQUIREMENTS_ATTR,
    TOKEN_KEY,
    RouteRequirements,
    build_requirements,
    check_defined_scopes,
    error_response,
    require_token,
    status_line,
)
from .wsgi import context_from_environ, token_from_environ

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

#: Where the extension keeps its per-app state: ``app.extensions["rs_guard"]``.
EXTENSION_KEY = "rs_guard"
_G_TOKEN = "_rs_guard_token"

F = TypeVar("F", bound=Callable[..., Any])
ErrorHandler = Callable[[RSGuardError], ResponseReturnValue]


# -- settings -------------------------------------------------------------------------


def _as_setting(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)  # type: ignore[no-any-return]
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(item) for item in value)
    raise ConfigError(name, f"must be a string, got {type(value).__name__}")


def _is_known(name: str, value: str) -> bool:
    """Whether the loader reads ``name`` (asked of the loader itself, so it stays in sync)."""
    if name == "RS_GUARD_CONFIG":
        return True
    try:
        return bool(settings_from_env({name: value}))
    except ConfigError:
        return True  # read, and refused: the full load names the problem


def config_from_app(app_config: Mapping[str, Any]) -> GuardConfig:
    """A :class:`GuardConfig` from the ``RS_GUARD_*`` keys of a Flask ``app.config``.

    Same names and meanings as the environment variables (``RS_GUARD_CONFIG`` names a
    Management API JSON file, the other keys override it); booleans, numbers and lists
    are accepted as well as strings. An unknown ``RS_GUARD_*`` key is refused (a typo
    would otherwise be ignored silently).
    """
    settings = {
        name: _as_setting(name, value)
        for name, value in app_config.items()
        if name.startswith("RS_GUARD_") and value is not None and value != ""
    }
    for name, value in settings.items():
        if not _is_known(name, value):
            raise ConfigError(name, "is not an rs_guard setting")
    return load_config(environ=settings)


# -- per-app state --------------------------------------------------------------------


@dataclass
class _AppState:
    guard: Guard
    owner: RSGuard
    check_scopes: bool
    scopes_checked: bool = False


def _state(app: Flask) -> _AppState:
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, _AppState):
        raise RuntimeError(
            "rs_guard is not set up on this Flask app: call RSGuard(app) or "
            "guard.init_app(app) before serving protected views"
        )
    return state


def _view_requirements(view: Callable[..., Any]) -> RouteRequirements | None:
    found = getattr(view, REQUIREMENTS_ATTR, None)
    return found if isinstance(found, RouteRequirements) else None


def _check_views(app: Flask, state: _AppState) -> None:
    for endpoint, view in app.view_functions.items():  # newground: RFC 9396 types declared
        found = _view_requirements(view)
        if found is not None:
            check_declared_types(found, state.guard.config, f"view {endpoint!r}")
    if not state.check_scopes:
        return
    for endpoint, view in app.view_functions.items():
        found = _view_requirements(view)
        if found is not None and found.scopes:
            check_defined_scopes(found.scopes, state.guard.config, f"view {endpoint!r}")


# -- the extension --------------------------------------------------------------------


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
        state = _AppState(
            guard=guard,
            owner=self,
            check_scopes=bool(guard.config.scopes) if check is None else check,
        )
        try:
            _check_views(app, state)  # views registered before init_app (factories, blueprints)
        except ConfigError:
            if owned:
                guard.close()
            raise
        app.extensions[EXTENSION_KEY] = state
        app.register_error_handler(RSGuardError, self._handle_error)
        metadata = endpoint_for(guard.config)  # newground: RFC 9728 document, public
        if metadata is not None:
            app.add_url_rule(
                metadata.path,
                endpoint="rs_guard_resource_metadata",
                view_func=lambda: Response(*_metadata_parts(metadata)),
            )

        def check_scopes_once() -> None:
            if not state.scopes_checked:
                _check_views(app, state)
                state.scopes_checked = True

        app.before_request(check_scopes_once)

    def check_scopes(self, app: Flask | None = None) -> None:
        """Check now that every view's scopes are defined (call once the app is built)."""
        app = app or self.app
        if app is None:
            raise TypeError("check_scopes(app): this extension is not bound to one app")
        state = _state(app)
        _check_views(app, state)
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

    def require(self, *scopes: str | Requirement, **extra: Any) -> Callable[[F], F]:
        """:func:`require`, with the scope check at decoration when bound to an app."""
        return self._bound(require(*scopes, **extra))

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
            found = _view_requirements(wrapped)
            if isinstance(state, _AppState) and state.check_scopes and found and found.scopes:
                check_defined_scopes(found.scopes, state.guard.config, f"view {view.__name__!r}")
            return wrapped

        return apply


def _metadata_parts(metadata: MetadataEndpoint) -> tuple[bytes, str, list[tuple[str, str]]]:
    status, headers, body = metadata.answer(request.method)
    return body, status_line(status), headers


def default_error_response(exc: RSGuardError) -> Response:
    """The standard answer to a refusal: JSON body, ``WWW-Authenticate`` (RFC 6750 §3),
    ``Retry-After`` on 503, with the current app's challenge (schemes, realm)."""
    state = current_app.extensions.get(EXTENSION_KEY)
    challenge = state.guard.challenge if isinstance(state, _AppState) else None
    status, headers, body = error_response(exc, challenge)
    return Response(body, status=status_line(status), headers=headers)


# -- per-request token ------------------------------------------------------------------


def _request_token() -> AccessToken:
    """Authenticate the current request once (several decorators share the result)."""
    token = g.get(_G_TOKEN)
    if isinstance(token, AccessToken):
        return token
    environ = request.environ
    if TOKEN_KEY in environ:  # the WSGI middleware ran in front of the app
        token = require_token(token_from_environ(environ))
    else:
        guard = _state(current_app).guard
        token = guard.authenticate(context_from_environ(environ, guard.config))
    setattr(g, _G_TOKEN, token)
    return token


def _protect(requirements: RouteRequirements) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        if not callable(view):
            raise TypeError("rs_guard decorators wrap view functions")

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            requirements.check(_request_token(), method=request.method, path=request.path)
            return current_app.ensure_sync(view)(*args, **kwargs)

        inner = _view_requirements(view)
        combined = requirements.requirements + (inner.requirements if inner else ())
        setattr(wrapper, REQUIREMENTS_ATTR, RouteRequirements(combined))
        return cast(F, wrapper)

    return decorator


def _no_bare_use(args: Iterable[object], name: str) -> None:
    for arg in args:
        if callable(arg) and not isinstance(arg, Requirement):
            raise TypeError(f"use @{name}(...) with parentheses: @{name}() or @{name}('scope')")


def require(
    *scopes: str | Requirement,
    acr_values: Iterable[str] | None = None,
    max_age: int | None = None,
    authorization_details: Any = None,
) -> Callable[[F], F]:
    """A valid token is required, granting every scope named (``require()``: any token).

    :class:`~rs_guard.requirements.Requirement` objects (``claim_equals(...)``,
    ``any_of(...)``, ``clients_only``) may be mixed with scope names.
    ``acr_values``/``max_age``: step-up (RFC 9470); ``authorization_details``: RAR (RFC 9396).
    """
    _no_bare_use(scopes, "require")
    checks = route_checks(  # newground: RFC 9470 / RFC 9396 keywords
        acr_values=acr_values, max_age=max_age, authorization_details=authorization_details
    )
    return _protect(build_requirements(scopes, checks=checks))


def require_any(*scopes: str) -> Callable[[F], F]:
    """A valid token granting at least one of ``scopes``."""
    _no_bare_use(scopes, "require_any")
    if not scopes:
        raise ValueError("require_any needs at least one scope")
    return _protect(build_requirements(any_scopes=scopes))


def require_permissions(*names: str) -> Callable[[F], F]:
    """A valid token whose ``permissions`` claim (RBAC) holds every one of ``names``."""
    _no_bare_use(names, "require_permissions")
    if not names:
        raise ValueError("require_permissions needs at least one permission")
    return _protect(build_requirements(permission_names=names))


def _current_token() -> AccessToken:
    if has_request_context():
        token = g.get(_G_TOKEN)
        if isinstance(token, AccessToken):
            return token
        token = token_from_environ(request.environ)
        if token is not None:
            return token
    raise RuntimeError(
        "current_token is only available while handling a request to a view protected by "
        "rs_guard (@require(...), @require_any(...), @require_permissions(...)) or behind "
        "RSGuardWSGIMiddleware"
    )


#: The verified :class:`~rs_guard.token.AccessToken` of the current request.
current_token: AccessToken = cast(AccessToken, LocalProxy(_current_token))
