"""Reading and answering one ASGI connection, with no framework imported.

* :func:`request_context`: the :class:`~rs_guard.context.RequestContext` of a scope (the
  URL from ``public_url`` or the server's own address, never from ``Host``);
* :func:`send_refusal`: an RFC 6750 answer as ASGI messages, or a refused websocket
  handshake (RFC 6455 §7.4.1); :func:`send_answer`: any ready HTTP answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..binding.certs import client_cert_from_asgi
from ..config import GuardConfig
from ..context import RequestContext, raw_header_values
from ..guard import AsyncGuard
from ..token import AccessToken
from ..urls import request_url
from ._shell import TOKEN_KEY

__all__ = [
    "POLICY_VIOLATION",
    "ASGIApp",
    "URLCache",
    "WebSocketProgress",
    "authenticate",
    "known_token",
    "request_context",
    "route_path",
    "send_answer",
    "send_refusal",
    "token_from_scope",
    "verify_connection",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: WebSocket close code for a refused handshake without the denial extension (RFC 6455 §7.4.1).
POLICY_VIOLATION = 1008


def token_from_scope(scope: Scope) -> AccessToken | None:
    """The verified token the middleware stored, or ``None``."""
    token = scope.get(TOKEN_KEY)
    return token if isinstance(token, AccessToken) else None


def route_path(scope: Scope) -> str:
    """The path inside the app (``path`` without the ``root_path`` it is mounted at), as
    the app's router matches it; the WSGI counterpart is ``PATH_INFO``."""
    path: str = scope["path"]
    root: str = scope.get("root_path") or ""
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path


def _url(scope: Scope, config: GuardConfig, query: str) -> str:
    path: str = scope.get("path", "/")
    if config.public_url:
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        return request_url(
            public_url=config.public_url,
            scheme="",
            host="",
            port=None,
            path=path,
            query_string=query,
        )
    server = scope.get("server")
    host, port = (server[0], server[1]) if server else ("localhost", None)
    return request_url(
        public_url=None,
        scheme=scope.get("scheme", "http"),
        host=host,
        port=port,
        path=path,
        query_string=query,
    )


class URLCache:
    """Request URLs already built, by what they are built from (bounded; paths repeat).

    One per middleware (one ``config``): the key is the path, query, root path, scheme
    and server address the URL is made of.
    """

    __slots__ = ("_urls", "maxsize")

    def __init__(self, maxsize: int = 1024) -> None:
        self._urls: dict[tuple[Any, ...], str] = {}
        self.maxsize = maxsize

    def url(self, scope: Scope, config: GuardConfig, query: str) -> str:
        key = (
            scope["path"],
            query,
            scope.get("root_path"),
            scope.get("scheme"),
            scope.get("server"),
        )
        try:
            return self._urls[key]
        except (KeyError, TypeError):  # TypeError: an unhashable server entry
            url = _url(scope, config, query)
        if len(self._urls) >= self.maxsize:
            self._urls.clear()
        with contextlib.suppress(TypeError):
            self._urls[key] = url
        return url


def request_context(
    scope: Scope, config: GuardConfig, urls: URLCache | None = None
) -> RequestContext:
    """The framework-neutral view of an ASGI connection that the guard reads.

    The URL comes from ``config.public_url`` or the server's own ``scheme``/``server``,
    never from ``Host`` or ``X-Forwarded-*`` (a client can forge those).
    """
    query = scope.get("query_string", b"").decode("latin-1")
    client = scope.get("client")
    return RequestContext(
        method=scope.get("method", "GET"),
        url=urls.url(scope, config, query) if urls is not None else _url(scope, config, query),
        raw_headers=scope["headers"],
        query_string=query,
        client_cert=client_cert_from_asgi(scope, config) if config.mtls_enabled else None,
        peer=client[0] if client else None,
    )


def known_token(guard: AsyncGuard, scope: Scope) -> AccessToken | None:
    """The guard's :meth:`~rs_guard.guard.GuardCore.known_token` for this connection."""
    return guard.known_token(
        raw_header_values(scope["headers"], "authorization"), scope.get("query_string", b"")
    )


async def verify_connection(
    guard: AsyncGuard, scope: Scope, urls: URLCache | None = None
) -> AccessToken:
    """The guard's whole flow on :func:`request_context`: the token, or the refusal raised."""
    return await guard.authenticate(request_context(scope, guard.config, urls))


async def authenticate(
    guard: AsyncGuard, scope: Scope, urls: URLCache | None = None
) -> AccessToken:
    """The verified token of this connection (:func:`known_token`, else
    :func:`verify_connection`), or the refusal raised.

    A middleware on every request calls the two itself (no coroutine when the token is
    known), in this order.
    """
    token = known_token(guard, scope)
    if token is None:
        token = await verify_connection(guard, scope, urls)
    return token


class WebSocketProgress:
    """Wraps a websocket's receive/send to know how far the handshake went."""

    __slots__ = ("accepted", "connected", "receive", "send")

    def __init__(self, receive: Receive, send: Send) -> None:
        self.receive = receive
        self.send = send
        self.connected = False  # the app has read websocket.connect
        self.accepted = False  # the app has sent websocket.accept

    async def wrapped_receive(self) -> Message:
        message = await self.receive()
        if message.get("type") == "websocket.connect":
            self.connected = True
        return message

    async def wrapped_send(self, message: Message) -> None:
        if message.get("type") == "websocket.accept":
            self.accepted = True
        await self.send(message)


async def send_refusal(
    scope: Scope,
    receive: Receive,
    send: Send,
    answer: tuple[int, list[tuple[str, str]], bytes],
    description: str,
    progress: WebSocketProgress | None = None,
) -> None:
    """Send a refusal (:func:`~._shell.error_response`): an HTTP response, or a refused
    websocket handshake.

    A websocket not yet accepted is denied with the HTTP answer when the server offers the
    ``websocket.http.response`` extension, else closed with 1008 (RFC 6455 §7.4.1), which
    the server turns into a 403 before the handshake completes.
    """
    status, headers, body = answer
    raw = [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in headers]
    if scope["type"] == "websocket":
        if progress is None or not progress.connected:
            message = await receive()  # the websocket.connect the server sends first
            if message.get("type") != "websocket.connect":
                return
        accepted = progress is not None and progress.accepted
        if not accepted and "websocket.http.response" in (scope.get("extensions") or {}):
            await send({"type": "websocket.http.response.start", "status": status, "headers": raw})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            reason = description.encode("utf-8")[:120].decode("utf-8", "ignore")
            await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": reason})
        return
    await send_answer(send, answer)


async def send_answer(send: Send, answer: tuple[int, list[tuple[str, str]], bytes]) -> None:
    """Send an HTTP answer (status, ``str`` header pairs, body) as ASGI messages."""
    status, headers, body = answer
    raw = [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
