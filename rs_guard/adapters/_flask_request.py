"""The Flask extension's per-app state and its per-request side.

* :class:`AppState` (in ``app.extensions["rs_guard"]``) and :func:`state_of`;
* :data:`GUARDED`: how a decorated view finds its token (:func:`request_token`): the
  token already verified for this request under this app's own settings object (the
  WSGI middleware's, or a stacked decorator's), else the app's guard verifies it;
* :func:`current_token_of_request`: what :data:`~rs_guard.adapters.flask.current_token`
  reads.

The token lives in the request's environ, never in ``flask.g`` (the app context): an
app context may outlive or be shared beyond one request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, has_request_context, request

from ..guard import Guard
from ..token import AccessToken
from ._decorate import Authorized, Guarded
from ._shell import Shell, record_verified, verified_under
from ._wsgi_io import authenticate
from .wsgi import token_from_environ

__all__ = [
    "EXTENSION_KEY",
    "GUARDED",
    "AppState",
    "current_token_of_request",
    "request_token",
    "state_of",
]

#: Where the extension keeps its per-app state: ``app.extensions["rs_guard"]``.
EXTENSION_KEY = "rs_guard"


@dataclass
class AppState:
    """One app's guard, its shell (metadata, timing, route checks) and the scope check."""

    guard: Guard
    check_scopes: bool
    shell: Shell
    scopes_checked: bool = False

    def answer_metadata(self) -> Response | None:
        """The RFC 9728 document, public: answered before authentication and any view."""
        answer = self.shell.metadata_answer(request.script_root + request.path, request.method)
        return None if answer is None else Response(answer.body, answer.status, answer.headers)


def state_of(app: Flask) -> AppState:
    """The extension's state on ``app``, or a helpful error when it is not set up."""
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, AppState):
        raise RuntimeError(
            "rs_guard is not set up on this Flask app: call RSGuard(app) or "
            "guard.init_app(app) before serving protected views"
        )
    return state


def request_token(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Authorized:
    """The request's token under this app's own settings (the middleware's, else verified)."""
    # One lookup per proxy: an attribute read through a LocalProxy costs several.
    req = request._get_current_object()  # type: ignore[attr-defined]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, AppState):
        state = state_of(app)  # the helpful error
    environ, guard = req.environ, state.guard
    token = verified_under(environ, guard.config)
    if token is None:
        token = authenticate(guard, environ)
        record_verified(environ, guard.config, token)
    return Authorized(token, req.method, req.path, state.shell.timing)


#: How every view decorated by the Flask extension finds its token.
GUARDED = Guarded(request_token)


def current_token_of_request() -> AccessToken | None:
    """The current request's token: under the extension's own settings only (provenance);
    on an app without the extension, ``RSGuardWSGIMiddleware``'s. ``None`` outside a
    request or when none was verified."""
    if not has_request_context():
        return None
    environ = request.environ
    state = current_app._get_current_object().extensions.get(EXTENSION_KEY)  # type: ignore[attr-defined]
    if isinstance(state, AppState):
        return verified_under(environ, state.guard.config)
    return token_from_environ(environ)
