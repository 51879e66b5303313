"""WSGI middleware: the bearer token of every request is verified before the app runs.

Works with any WSGI application (Flask, Django, Falcon, a bare function)::

    app = RSGuardWSGIMiddleware(app, load_config(), public_paths=["/health"])

The verified :class:`~rs_guard.token.AccessToken` is put in ``environ["rs_guard.token"]``;
a refused request is answered here, as RFC 6750 §3 says, and never
reaches the app. The :class:`~rs_guard.guard.Guard` behind it is thread-safe (one key
fetch in flight per issuer, locked caches), so one middleware serves a threaded server.

Building the request (:func:`context_from_environ`):

* headers come from the ``HTTP_*`` keys (PEP 3333). A WSGI server joins repeated header
  lines with commas (RFC 9110 §5.3), and a ``b64token`` (RFC 6750 §2.1) never contains
  one, so a comma in ``Authorization`` or ``DPoP`` is read as two header lines, which
  the core refuses (400 ``invalid_request``; RFC 9449 §4.3 for ``DPoP``);
* the URL (for the DPoP ``htu`` check) comes from ``public_url`` when set, otherwise
  from ``wsgi.url_scheme``, ``SERVER_NAME`` and ``SERVER_PORT``, never from
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

from ..binding.certs import client_cert_from_wsgi
from ..config import GuardConfig
from ..context import RequestContext
from ..errors import RSGuardError
from ..guard import Guard
from ..token import AccessToken
from ..urls import request_url
from ._shell import TOKEN_KEY, ErrorResponse, Shell, status_line, warn_if_htu_from_host

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

#: Headers whose value is a single b64token or JWT: a comma means two header lines.
_SINGLE_TOKEN_HEADERS = ("authorization", "dpop")
_TOKEN_SCHEMES = ("bearer", "dpop")


def _scheme(credentials: str) -> str:
    return credentials.strip(" \t").partition(" ")[0].lower()


def _split_joined(name: str, value: str) -> list[str]:
    """The header lines a WSGI server joined into one ``HTTP_*`` value.

    ``Authorization``: split only where the join is unambiguous, when a ``Bearer`` or
    ``DPoP`` credential is involved (their tokens hold no comma). A ``Digest`` header's
    own commas (``Digest a="1", b="2"``) are kept: that request is answered as an
    unsupported scheme. A split keeps empty pieces, so ``Bearer t,`` is still refused.
    """
    if "," not in value:
        return [value]
    parts = [part.strip(" \t") for part in value.split(",")]
    if name == "authorization" and not any(_scheme(p) in _TOKEN_SCHEMES for p in parts):
        return [value]
    return parts


def _headers(environ: WSGIEnvironment) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].lower().replace("_", "-")
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.lower().replace("_", "-")
        else:
            continue
        if not isinstance(value, str):
            continue
        if name in _SINGLE_TOKEN_HEADERS:
            if not key.isupper():
                # PEP 3333's spelling only (HTTP_AUTHORIZATION, as known_token reads it):
                # another one is no server's, and would make the two readings differ.
                continue
            headers.extend((name, part) for part in _split_joined(name, value))
        else:
            headers.append((name, value))
    return headers


def known_token(guard: Guard, environ: WSGIEnvironment) -> AccessToken | None:
    """The guard's :meth:`~rs_guard.guard.GuardCore.known_token` for this request (the
    ``Authorization`` lines read as :func:`context_from_environ` reads them)."""
    value = environ.get("HTTP_AUTHORIZATION")
    if not isinstance(value, str):
        return None
    return guard.known_token(
        _split_joined("authorization", value), environ.get("QUERY_STRING") or ""
    )


def authenticate(guard: Guard, environ: WSGIEnvironment) -> AccessToken:
    """The verified token of this request (:func:`known_token`, else the guard's whole
    flow on :func:`context_from_environ`), or the refusal raised."""
    token = known_token(guard, environ)
    if token is None:
        token = guard.authenticate(context_from_environ(environ, guard.config))
    return token


def _wsgi_str(value: str) -> str:
    """A PEP 3333 "bytes as latin-1" string back to text (the path is UTF-8 on the wire)."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _port(environ: WSGIEnvironment) -> int | None:
    raw = str(environ.get("SERVER_PORT") or "")
    return int(raw) if raw.isdigit() and len(raw) <= 5 else None


def context_from_environ(environ: WSGIEnvironment, config: GuardConfig) -> RequestContext:
    """The framework-neutral view of one WSGI request (see the module docstring).

    With ``public_url`` set, it stands for the app's mount point, so only ``PATH_INFO``
    is appended to it; otherwise the path is ``SCRIPT_NAME`` + ``PATH_INFO``.
    """
    query = environ.get("QUERY_STRING") or ""
    path_info = _wsgi_str(environ.get("PATH_INFO") or "")
    if config.public_url:
        path = path_info
    else:
        path = _wsgi_str(environ.get("SCRIPT_NAME") or "") + path_info
    url = request_url(
        public_url=config.public_url,
        scheme=str(environ.get("wsgi.url_scheme") or "http"),
        host=str(environ.get("SERVER_NAME") or "localhost"),
        port=_port(environ),
        path=path or "/",
        query_string=query,
    )
    return RequestContext(
        method=str(environ.get("REQUEST_METHOD") or "GET").upper(),
        url=url,
        headers=_headers(environ),
        query_string=query,
        client_cert=client_cert_from_wsgi(environ, config) if config.mtls_enabled else None,
        peer=environ.get("REMOTE_ADDR") or None,
    )


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
        path = _wsgi_str(environ.get("PATH_INFO") or "")
        if self.shell.metadata is not None:  # RFC 9728 document, public
            answer = self.shell.metadata_answer(
                _wsgi_str(environ.get("SCRIPT_NAME") or "") + path,
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
