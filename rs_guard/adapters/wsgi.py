"""WSGI middleware: the bearer token of every request is verified before the app runs.

Works with any WSGI application (Flask, Django, Falcon, a bare function)::

    app = RSGuardWSGIMiddleware(app, load_config(), public_paths=["/health"])

The verified :class:`~rs_guard.token.AccessToken` is put in ``environ["rs_guard.token"]``;
a refused request is answered here, as RFC 6750 §3 says, and never
reaches the app. The :class:`~rs_guard.guard.Guard` behind it is thread-safe (one key
fetch in flight per issuer, locked caches), so one middleware serves a threaded server.

Building the request (:func:`context_from_environ`, in :mod:`._wsgi_io`): headers from
the ``HTTP_*`` keys (a comma in ``Authorization`` or ``DPoP`` is read as two header lines,
which the core refuses); the URL (for the DPoP ``htu`` check) from ``public_url`` when
set, otherwise from ``wsgi.url_scheme``, ``SERVER_NAME`` and ``SERVER_PORT``, never from
``X-Forwarded-*``. ``SERVER_NAME`` is the server's own name under most servers, but
gunicorn on a unix socket (the usual nginx setup) takes it from the client's ``Host``:
with DPoP on and no ``public_url`` a warning is logged at start-up.

The decisions (the RFC 9728 metadata document, public paths, authenticate-or-refuse,
the refusal) are the shell core's (:mod:`rs_guard.adapters._shell`), shared with the ASGI
middleware; the token is recorded with the settings that verified it
(``environ["rs_guard.verified"]``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..config import GuardConfig
from ..errors import RSGuardError
from ..guard import Guard
from ..token import AccessToken
from ._shell import TOKEN_KEY, ErrorResponse, Shell, status_line, warn_if_htu_from_host
from ._wsgi_io import authenticate, context_from_environ, known_token, wsgi_str

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "TOKEN_KEY",
    "RSGuardWSGIMiddleware",
    "authenticate",
    "context_from_environ",
    "known_token",
    "token_from_environ",
]

log = logging.getLogger("rs_guard.wsgi")


def token_from_environ(environ: WSGIEnvironment) -> AccessToken | None:
    """The token the middleware verified for this request (``None``: anonymous or absent)."""
    token = environ.get(TOKEN_KEY)
    return token if isinstance(token, AccessToken) else None


class RSGuardWSGIMiddleware:
    """Verify the access token of each request; answer refusals (RFC 6750 §3).

    * ``config`` or ``guard``: the settings, or a ready :class:`~rs_guard.guard.Guard`
      (to share it, or to give it a transport or clock);
    * ``public_paths``: paths that skip authentication (``"/health"``, ``"/static/*"``);
    * ``allow_anonymous``: a request without credentials rs_guard accepts (none, another
      scheme, a query-string token) reaches the app with ``environ["rs_guard.token"] =
      None``; a token that is sent in the header must still be valid.
    """

    def __init__(
        self,
        app: WSGIApplication,
        config: GuardConfig | None = None,
        *,
        guard: Guard | None = None,
        public_paths: Iterable[str] = (),
        allow_anonymous: bool = False,
    ) -> None:
        if guard is None:
            if config is None:
                raise TypeError("RSGuardWSGIMiddleware needs config= or guard=")
            guard = Guard(config)
        elif config is not None and config is not guard.config:
            raise TypeError("pass config= or guard=, not both")
        self.app = app
        self.guard = guard
        self.config = guard.config
        self.shell = Shell.of(guard, public_paths=public_paths, allow_anonymous=allow_anonymous)
        warn_if_htu_from_host(guard.config, log)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = wsgi_str(environ.get("PATH_INFO") or "")
        if self.shell.metadata is not None:  # RFC 9728 document, public
            answer = self.shell.metadata_answer(
                wsgi_str(environ.get("SCRIPT_NAME") or "") + path,
                str(environ.get("REQUEST_METHOD") or "GET"),
            )
            if answer is not None:
                return self._refuse(answer, start_response)
        if self.shell.is_public(path):
            return self.app(environ, start_response)
        try:
            token = authenticate(self.guard, environ)
        except RSGuardError as exc:  # the guard has logged it (rs_guard.observability)
            refusal = self.shell.refuse(environ, exc)
            if refusal is not None:
                return self._refuse(refusal, start_response)
            environ[TOKEN_KEY] = None  # anonymous: the key says the middleware ran
        else:
            self.shell.accept(environ, token)
        return self.app(environ, start_response)

    def _refuse(self, answer: ErrorResponse, start_response: StartResponse) -> list[bytes]:
        status, headers, body = answer
        start_response(status_line(status), headers)
        return [body]

    def close(self) -> None:
        """Close the guard's HTTP client."""
        self.guard.close()
