"""Reading one WSGI request, with no framework imported.

* :func:`context_from_environ`: the :class:`~rs_guard.context.RequestContext` of an
  environ; :func:`known_token` and :func:`authenticate`: the guard's two ways in, shared
  by the WSGI middleware and the Flask extension.

How the environ is read:

* headers come from the ``HTTP_*`` keys (PEP 3333). A WSGI server joins repeated header
  lines with commas (RFC 9110 §5.3), and a ``b64token`` (RFC 6750 §2.1) never contains
  one, so a comma in ``Authorization`` or ``DPoP`` is read as two header lines, which
  the core refuses (400 ``invalid_request``; RFC 9449 §4.3 for ``DPoP``). Those two are
  read from their PEP 3333 key only (``HTTP_AUTHORIZATION``, ``HTTP_DPOP``). The other
  headers are turned into lines only when something asks for them
  (:class:`EnvironHeaders`): the guard itself reads none of them, except a trusted
  proxy's certificate header;
* the URL (for the DPoP ``htu`` check) comes from ``public_url`` when set, otherwise
  from ``wsgi.url_scheme``, ``SERVER_NAME`` and ``SERVER_PORT``, never from
  ``X-Forwarded-*``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from ..binding.certs import client_cert_from_wsgi
from ..config import GuardConfig
from ..context import RequestContext
from ..guard import Guard
from ..token import AccessToken
from ..urls import request_url

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = [
    "EnvironContext",
    "EnvironHeaders",
    "authenticate",
    "context_from_environ",
    "known_token",
    "wsgi_str",
]

#: Headers whose value is a single b64token or JWT: a comma means two header lines. Each
#: is read from its PEP 3333 key only (``HTTP_`` + the name in capitals).
_SINGLE_TOKEN_KEYS = {"authorization": "HTTP_AUTHORIZATION", "dpop": "HTTP_DPOP"}
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


def _token_header(environ: Mapping[str, Any], name: str) -> list[str]:
    """The lines of ``Authorization`` or ``DPoP``: their PEP 3333 key, split where joined."""
    value = environ.get(_SINGLE_TOKEN_KEYS[name])
    return _split_joined(name, value) if isinstance(value, str) else []


def _header_lines(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every header line of the request, names in lower case, in the environ's order."""
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
        token_key = _SINGLE_TOKEN_KEYS.get(name)
        if token_key is None:
            headers.append((name, value))
        elif key == token_key:
            # PEP 3333's spelling only (HTTP_AUTHORIZATION): another one is no server's,
            # and would make this reading and _token_header's differ.
            headers.extend((name, part) for part in _split_joined(name, value))
    return headers


class EnvironHeaders(Sequence[tuple[str, str]]):
    """Every header line of a WSGI request, built from the environ when first asked for.

    :meth:`values` answers ``Authorization`` and ``DPoP`` from their own key without
    building the others; it gives what filtering the whole sequence by name gives.
    """

    __slots__ = ("_environ", "_lines")

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ
        self._lines: list[tuple[str, str]] | None = None

    def _all(self) -> list[tuple[str, str]]:
        lines = self._lines
        if lines is None:
            lines = self._lines = _header_lines(self._environ)
        return lines

    @overload
    def __getitem__(self, index: int) -> tuple[str, str]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[str, str]]: ...
    def __getitem__(self, index: int | slice) -> tuple[str, str] | Sequence[tuple[str, str]]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._all())

    def values(self, name: str) -> list[str]:
        """Every value of one header (``name`` in lower case), in order."""
        if name in _SINGLE_TOKEN_KEYS:
            return _token_header(self._environ, name)
        return [value for key, value in self._all() if key == name]


class EnvironContext(RequestContext):
    """A :class:`RequestContext` whose header lookups go to :meth:`EnvironHeaders.values`."""

    __slots__ = ()

    def header_values(self, name: str) -> list[str]:
        headers = self.headers
        if isinstance(headers, EnvironHeaders) and self.raw_headers is None:
            return headers.values(name)
        return RequestContext.header_values(self, name)


def known_token(guard: Guard, environ: WSGIEnvironment) -> AccessToken | None:
    """The guard's :meth:`~rs_guard.guard.GuardCore.known_token` for this request (the
    ``Authorization`` lines read as :func:`context_from_environ` reads them)."""
    value = environ.get("HTTP_AUTHORIZATION")
    if not isinstance(value, str):
        return None
    lines = [value] if "," not in value else _split_joined("authorization", value)
    return guard.known_token(lines, environ.get("QUERY_STRING") or "")


def authenticate(guard: Guard, environ: WSGIEnvironment) -> AccessToken:
    """The verified token of this request (:func:`known_token`, else the guard's whole
    flow on :func:`context_from_environ`), or the refusal raised."""
    token = known_token(guard, environ)
    if token is None:
        token = guard.authenticate(context_from_environ(environ, guard.config))
    return token


def wsgi_str(value: str) -> str:
    """A PEP 3333 "bytes as latin-1" string back to text (the path is UTF-8 on the wire)."""
    if value.isascii():  # the same in latin-1 and UTF-8
        return value
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
    path_info = wsgi_str(environ.get("PATH_INFO") or "")
    if config.public_url:
        path = path_info
    else:
        path = wsgi_str(environ.get("SCRIPT_NAME") or "") + path_info
    url = request_url(
        public_url=config.public_url,
        scheme=str(environ.get("wsgi.url_scheme") or "http"),
        host=str(environ.get("SERVER_NAME") or "localhost"),
        port=_port(environ),
        path=path or "/",
        query_string=query,
    )
    return EnvironContext(
        method=str(environ.get("REQUEST_METHOD") or "GET").upper(),
        url=url,
        headers=EnvironHeaders(environ),
        query_string=query,
        client_cert=client_cert_from_wsgi(environ, config) if config.mtls_enabled else None,
        peer=environ.get("REMOTE_ADDR") or None,
    )
