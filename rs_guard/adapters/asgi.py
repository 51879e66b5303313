"""A pure ASGI middleware that refuses requests without a valid access token (RFC 6750).

``RSGuardMiddleware`` follows the "pure ASGI middleware" shape of Starlette's docs:
``lifespan`` and unknown scope types pass through untouched; ``http`` and ``websocket``
connections are authenticated with an :class:`~rs_guard.guard.AsyncGuard` (never a
blocking call on the event loop); per-request state lives in locals and in ``scope``::

    scope["rs_guard.token"]   the verified AccessToken (absent: anonymous or public path)
    scope["auth"]             TokenCredentials: starlette AuthCredentials, scopes = token.granted
    scope["user"]             TokenUser: a starlette BaseUser wrapping the token
    scope["rs_guard"]         the middleware's shared state (for route decorators)

so that Starlette's own ``requires()``, ``request.auth`` and ``request.user`` work. A refused
HTTP request is answered as :func:`~rs_guard.errors.render_error` says (RFC 6750 §3); a
refused websocket is denied before it is accepted, with the same status when the server
offers the ``websocket.http.response`` extension and a 1008 (policy violation) close
otherwise (RFC 6455 §7.4.1).

The lifespan startup warms the key cache in the background (bounded by ``warm_timeout``
so an unreachable issuer never stops the app from starting) and, with
``check_scopes=True``, refuses to start when a route requires a scope the API does not
define. The shutdown closes the guard's HTTP client. Starlette is required (the
``starlette`` extra) for ``AuthCredentials`` and ``BaseUser``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any

from starlette.authentication import AuthCredentials, BaseUser, UnauthenticatedUser

from ..binding.certs import client_cert_from_asgi
from ..config import GuardConfig
from ..context import RequestContext
from ..errors import MissingCredentials, RSGuardError
from ..guard import AsyncGuard
from ..loaders import load_config
from ..metadata import endpoint_for
from ..rar import check_declared_types
from ..token import AccessToken
from ..urls import request_url
from ._common import (
    REQUIREMENTS_ATTR,
    TOKEN_KEY,
    PublicPaths,
    RouteRequirements,
    check_defined_scopes,
    error_response,
)

__all__ = [
    "STATE_KEY",
    "TOKEN_KEY",
    "GuardState",
    "RSGuardMiddleware",
    "TokenCredentials",
    "TokenUser",
    "URLCache",
    "app_route_scopes",
    "check_route_scopes",
    "request_context",
    "send_refusal",
    "token_from_scope",
]

log = logging.getLogger("rs_guard.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where the middleware leaves its :class:`GuardState` for route decorators and dependencies.
STATE_KEY = "rs_guard"

#: WebSocket close code for a refused handshake without the denial extension (RFC 6455 §7.4.1).
POLICY_VIOLATION = 1008

_ANONYMOUS = UnauthenticatedUser()
#: ``request.auth`` without a token (public path, anonymous mode): shared, so immutable.
_NO_CREDENTIALS = AuthCredentials()
_NO_CREDENTIALS.scopes = ()  # type: ignore[assignment]

#: How many tokens' ``request.auth``/``request.user`` objects a middleware keeps.
_MAX_PRINCIPALS = 4096


class TokenCredentials(AuthCredentials):
    """``request.auth`` of an authenticated request: what the token grants, read-only.

    ``scopes`` is ``token.granted`` (the ``scope`` claim, or ``permissions`` for an
    ``*_authz`` dialect with ``enforce_policies``), sorted, as a tuple: one instance is
    shared by every request that presents the same token, so it must not be mutable.
    """

    def __init__(self, token: AccessToken) -> None:
        self.scopes = tuple(sorted(token.granted))  # type: ignore[assignment]


class TokenUser(BaseUser):
    """The ``request.user`` of an authenticated request: the token's subject."""

    __slots__ = ("token",)

    def __init__(self, token: AccessToken) -> None:
        self.token = token

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.token.subject or self.token.client_id or ""

    @property
    def identity(self) -> str:
        return self.token.subject or ""

    def __repr__(self) -> str:
        return f"TokenUser({self.token!r})"


class GuardState:
    """What the middleware shares with decorators and dependencies (one per middleware)."""

    __slots__ = ("allow_anonymous", "guard")

    def __init__(self, guard: AsyncGuard, allow_anonymous: bool) -> None:
        self.guard = guard
        self.allow_anonymous = allow_anonymous


def token_from_scope(scope: Scope) -> AccessToken | None:
    """The verified token the middleware stored, or ``None``."""
    token = scope.get(TOKEN_KEY)
    return token if isinstance(token, AccessToken) else None


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


class _WebSocketProgress:
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
    exc: RSGuardError,
    guard: AsyncGuard,
    progress: _WebSocketProgress | None = None,
) -> None:
    """Answer a refused connection: an RFC 6750 response, or a refused websocket handshake.

    A websocket not yet accepted is denied with the HTTP answer when the server offers the
    ``websocket.http.response`` extension, else closed with 1008 (RFC 6455 §7.4.1), which
    the server turns into a 403 before the handshake completes.
    """
    status, headers, body = error_response(exc, guard.challenge)
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
            reason = exc.description.encode("utf-8")[:120].decode("utf-8", "ignore")
            await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": reason})
        return
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RSGuardMiddleware:
    """Authenticate every ``http`` and ``websocket`` connection before the app sees it.

    ``config`` (a :class:`GuardConfig`; default: :func:`~rs_guard.loaders.load_config`
    from the environment) or a ready ``guard`` (an :class:`AsyncGuard`, which the caller
    then owns and closes). ``public_paths``: exact paths, or prefixes ending in ``*``.
    ``allow_anonymous``: a request with no credentials at all reaches the app without a
    token (only routes that demand scopes refuse it); a bad token is still refused.
    ``check_scopes``: at start-up, every scope a route requires must be in ``config.scopes``.
    ``warm_timeout``: how long the startup may wait for the first key fetch (seconds).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        config: GuardConfig | None = None,
        guard: AsyncGuard | None = None,
        public_paths: Iterable[str] = (),
        allow_anonymous: bool = False,
        check_scopes: bool = False,
        warm_timeout: float = 1.0,
    ) -> None:
        self.app = app
        self._owns_guard = guard is None
        if guard is None:
            guard = AsyncGuard(config if config is not None else load_config())
        elif config is not None and config is not guard.config:
            raise TypeError("pass either config or guard, not both")
        self.guard = guard
        self.config = guard.config
        self.public_paths = PublicPaths(public_paths)
        self.allow_anonymous = allow_anonymous
        self.check_scopes = check_scopes
        self.warm_timeout = warm_timeout
        self._state = GuardState(guard, allow_anonymous)
        self._warming: asyncio.Task[bool] | None = None
        self._principals: dict[int, tuple[AccessToken, TokenCredentials, TokenUser]] = {}
        self._urls = URLCache()
        # Bound once: the hot path reads locals, not attribute chains.
        self._exact = self.public_paths.exact
        self._prefixes = self.public_paths.prefixes
        self._metadata = endpoint_for(self.config)  # newground: RFC 9728 document

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            if kind == "lifespan":
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        scope[STATE_KEY] = self._state
        path = scope["path"]
        if self._metadata is not None and path == self._metadata.path and kind == "http":
            status, headers, body = self._metadata.answer(scope["method"])  # newground
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
            await send({"type": "http.response.start", "status": status, "headers": raw})
            await send({"type": "http.response.body", "body": body})
            return
        guard = self.guard
        progress: _WebSocketProgress | None = None
        if kind == "websocket":  # to answer a refusal raised by the app mid-handshake
            progress = _WebSocketProgress(receive, send)
            receive, send = progress.wrapped_receive, progress.wrapped_send
        if path in self._exact or (self._prefixes and path.startswith(self._prefixes)):
            scope["auth"] = _NO_CREDENTIALS
            scope["user"] = _ANONYMOUS
        else:
            try:
                token = await guard.authenticate(request_context(scope, self.config, self._urls))
            except MissingCredentials as exc:
                if not self.allow_anonymous:
                    await send_refusal(scope, receive, send, exc, guard)
                    return
                scope["auth"] = _NO_CREDENTIALS
                scope["user"] = _ANONYMOUS
            except RSGuardError as exc:  # the guard has logged it (rs_guard.observability)
                await send_refusal(scope, receive, send, exc, guard)
                return
            else:
                scope[TOKEN_KEY] = token
                principal = self._principals.get(id(token))
                if principal is None or principal[0] is not token:
                    principal = self._principal(token)
                scope["auth"] = principal[1]
                scope["user"] = principal[2]
        try:
            await self.app(scope, receive, send)
        except RSGuardError as exc:  # raised by a route decorator or a dependency
            if progress is not None:
                receive, send = progress.receive, progress.send
            await send_refusal(scope, receive, send, exc, guard, progress)

    def _principal(self, token: AccessToken) -> tuple[AccessToken, TokenCredentials, TokenUser]:
        """``request.auth`` and ``request.user`` of a token, made once per cached token.

        Keyed by ``id(token)``: the entry holds the token, so the id cannot be reused
        while the entry lives. The guard's token cache hands back the same object for
        the same token, so a repeated token costs no allocation here.
        """
        principal = (token, TokenCredentials(token), TokenUser(token))
        if not self.config.token_cache_size:  # every request brings a new token object
            return principal
        if len(self._principals) >= _MAX_PRINCIPALS:
            self._principals.clear()
        self._principals[id(token)] = principal
        return principal

    # -- lifespan ----------------------------------------------------------------

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def lifespan_receive() -> Message:
            message = await receive()
            kind = message.get("type")
            if kind == "lifespan.startup":
                try:
                    await self.startup(scope.get("app"))
                except Exception:
                    await send(
                        {"type": "lifespan.startup.failed", "message": traceback.format_exc()}
                    )
                    raise
            elif kind == "lifespan.shutdown":
                await self.shutdown()
            return message

        await self.app(scope, lifespan_receive, send)

    async def startup(self, app: Any = None) -> None:
        """Check the routes' scopes (if asked), then warm the keys without blocking start."""
        if self.check_scopes:
            check_route_scopes(app if app is not None else self.app, self.config)
        check_route_details(app if app is not None else self.app, self.config)  # newground
        if self.guard.key_sets:
            self._warming = asyncio.get_running_loop().create_task(self.guard.warm())
            done, _ = await asyncio.wait({self._warming}, timeout=self.warm_timeout)
            if not done:
                log.warning("the issuer's keys were not fetched within %ss", self.warm_timeout)

    async def shutdown(self) -> None:
        """Stop a warm-up still running and close the HTTP client this middleware made."""
        warming, self._warming = self._warming, None
        if warming is not None and not warming.done():
            warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warming
        if self._owns_guard:
            await self.guard.aclose()
            # A new client for a next lifespan (a test client, a reload) on a new loop.
            self.guard = AsyncGuard(self.config)
            self._state = GuardState(self.guard, self.allow_anonymous)


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


def app_route_scopes(app: Any) -> Iterator[tuple[str, tuple[str, ...]]]:
    """``(route description, scopes)`` for every protected route of ``app``.

    Finds the requirements of :func:`rs_guard.adapters.starlette.requires` (on the
    endpoint or an ``HTTPEndpoint`` method) and the ``Security(...)`` scopes of the
    FastAPI dependency.
    """
    for route in _routes(app):
        where = f"route {getattr(route, 'path', route)!r}"
        endpoint = getattr(route, "endpoint", None)
        candidates = [endpoint]
        if isinstance(endpoint, type):
            candidates += [getattr(endpoint, name, None) for name in dir(endpoint)]
        for candidate in candidates:
            found = getattr(candidate, REQUIREMENTS_ATTR, None)
            if isinstance(found, RouteRequirements) and found.scopes:
                yield where, found.scopes
        dependant = getattr(route, "dependant", None)
        if dependant is not None:
            from .fastapi import dependant_scopes  # only FastAPI routes have a dependant

            scopes = dependant_scopes(dependant)
            if scopes:
                yield where, scopes


def check_route_scopes(app: Any, config: GuardConfig) -> None:
    """Refuse a route that requires a scope the API does not define (``config.scopes``).

    Run by the middleware at start-up with ``check_scopes=True``; call it yourself (after
    the routes are declared) for an app that verifies tokens without the middleware.
    Raises :class:`~rs_guard.errors.ConfigError` naming the route and the scope.
    """
    for where, scopes in app_route_scopes(app):
        check_defined_scopes(scopes, config, where)


def check_route_details(app: Any, config: GuardConfig) -> None:
    """newground: refuse a route requiring an ``authorization_details`` type the API does
    not declare (RFC 9396; skipped when the settings do not list the API's types)."""
    for route in _routes(app):
        found = getattr(getattr(route, "endpoint", None), REQUIREMENTS_ATTR, None)
        if isinstance(found, RouteRequirements):
            check_declared_types(found, config, f"route {getattr(route, 'path', route)!r}")
