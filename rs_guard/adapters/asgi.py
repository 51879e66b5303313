"""A pure ASGI middleware that refuses requests without a valid access token (RFC 6750).

``RSGuardMiddleware`` follows the "pure ASGI middleware" shape of Starlette's docs and
imports no framework: ``lifespan`` and unknown scope types pass through untouched;
``http`` and ``websocket`` connections are authenticated with an
:class:`~rs_guard.guard.AsyncGuard` (never a blocking call on the event loop); the
decisions (public paths, authenticate-or-refuse, the refusal) are the shell core's
(:mod:`rs_guard.adapters._shell`), shared with the WSGI middleware. Per-request state
lives in locals and in ``scope``::

    scope["rs_guard.token"]      the verified AccessToken (absent: anonymous or public path)
    scope["rs_guard.verified"]   (Verified(config, token), ...): which settings verified it
    scope["rs_guard"]            the middleware's Shell (for route decorators)

:class:`rs_guard.adapters.starlette.RSGuardMiddleware` is this middleware plus Starlette's
``scope["auth"]``/``scope["user"]`` and the app's exception handler for refusals (the
hooks :meth:`RSGuardMiddleware.fill_principal` and :meth:`RSGuardMiddleware.refusal_app`).
A refused HTTP request is answered as :func:`~rs_guard.errors.render_error` says
(RFC 6750 §3); a refused websocket is denied before it is accepted, with the same status
when the server offers the ``websocket.http.response`` extension and a 1008 (policy
violation) close otherwise (RFC 6455 §7.4.1).

The lifespan startup warms the key cache in the background (bounded by ``warm_timeout``
so an unreachable issuer never stops the app from starting) and refuses to start when a
route requires an ``authorization_details`` type the API does not declare or, with
``check_scopes=True``, a scope it does not define. The shutdown closes the guard's HTTP
client. With ``resource_metadata`` on, the RFC 9728 document is answered before any
authentication (:meth:`~rs_guard.adapters._shell.Shell.metadata_answer`).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from typing import Any, ClassVar

import anyio
from anyio.abc import TaskGroup

from ..config import GuardConfig
from ..errors import RSGuardError
from ..guard import AsyncGuard
from ..loaders import load_config
from ..token import AccessToken
from ._asgi_io import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    URLCache,
    WebSocketProgress,
    known_token,
    request_context,
    route_path,
    send_answer,
    send_refusal,
    token_from_scope,
    verify_connection,
)
from ._memo import MEMO_SIZE, TokenMemo
from ._routes import check_route_scopes
from ._shell import TOKEN_KEY, VERIFIED_KEY, Shell, error_response, refusal_challenge

__all__ = [
    "STATE_KEY",
    "TOKEN_KEY",
    "ASGIApp",
    "RSGuardMiddleware",
    "URLCache",
    "check_route_scopes",
    "request_context",
    "send_refusal",
    "token_from_scope",
]

log = logging.getLogger("rs_guard.asgi")

#: Where the middleware leaves its :class:`~rs_guard.adapters._shell.Shell` for decorators.
STATE_KEY = "rs_guard"


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
        self.shell = Shell.of(guard, public_paths=public_paths, allow_anonymous=allow_anonymous)
        self.check_scopes = check_scopes
        self.warm_timeout = warm_timeout
        self._warming: _WarmUp | None = None
        self._tasks: TaskGroup | None = None
        self._urls = URLCache()
        # Nothing kept with the cache off (a new token each time) or a per-request principal.
        memo_size = min(MEMO_SIZE, max(self.config.token_cache_size, 0))
        self._admitted = TokenMemo(self._admission, memo_size if self.principal_by_token else 0)

    #: :meth:`fill_principal` writes what depends on the token alone (a subclass that
    #: overrides it gets ``False`` unless it sets this itself).
    principal_by_token: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "fill_principal" in cls.__dict__ and "principal_by_token" not in cls.__dict__:
            cls.principal_by_token = False

    # -- hooks for a framework's glue (rs_guard.adapters.starlette) --------------------

    def fill_principal(self, scope: Scope, token: AccessToken | None) -> None:
        """Write the principal of an admitted connection into ``scope`` (``token`` ``None``:
        a public path, or anonymous).

        It runs on every request, unless the class sets :attr:`principal_by_token`: then
        what it writes for a token must depend on the token alone, and with the token
        cache on it runs once per token object and is copied into later requests that
        present the same token (:meth:`_admission`).
        """

    async def refusal_app(
        self, scope: Scope, receive: Receive, exc: RSGuardError
    ) -> ASGIApp | None:
        """An ASGI app that answers a refused HTTP request, or ``None`` for the default."""
        return None

    # -- one connection ----------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            if kind == "lifespan":
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        shell = self.shell
        if shell.metadata is not None and kind == "http":  # RFC 9728 document, public
            answer = shell.metadata_answer(scope["path"], scope["method"])
            if answer is not None:
                await send_answer(send, answer)
                return
        scope[STATE_KEY] = shell
        progress: WebSocketProgress | None = None
        if kind == "websocket":  # to answer a refusal raised by the app mid-handshake
            progress = WebSocketProgress(receive, send)
            receive, send = progress.wrapped_receive, progress.wrapped_send
        token: AccessToken | None = None
        # (the route path only when some path is public: it is not free on every request)
        if not (shell.any_public and shell.is_public(route_path(scope))):
            token = known_token(self.guard, scope)
            if token is None:
                try:
                    token = await verify_connection(self.guard, scope, self._urls)
                except RSGuardError as exc:  # the guard has logged it (observability)
                    refusal = shell.refuse(scope, exc)
                    if refusal is not None:
                        await self._refuse(scope, receive, send, exc, refusal)
                        return
        if token is None:
            self.fill_principal(scope, None)
        elif VERIFIED_KEY in scope or not self._admitted.maxsize:
            self._admit(scope, token)  # another guard's records to merge; or no memo
        else:  # the usual case: what _admit writes, made once per token object
            scope.update(self._admitted.get(token))
        try:
            await self.app(scope, receive, send)
        except RSGuardError as exc:  # raised by a route decorator or a dependency
            if progress is not None:
                receive, send = progress.receive, progress.send
            answer = error_response(exc, refusal_challenge(scope, shell.challenge))
            await send_refusal(scope, receive, send, answer, exc.description, progress)

    def _admit(self, storage: Scope, token: AccessToken) -> None:
        """Keep an accepted token in the request: the shell's records, the principal."""
        self.shell.accept(storage, token)
        self.fill_principal(storage, token)

    def _admission(self, token: AccessToken) -> dict[str, Any]:
        """What :meth:`_admit` writes into a request that holds nothing of rs_guard yet."""
        entries: dict[str, Any] = {}
        self._admit(entries, token)
        return entries

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        exc: RSGuardError,
        answer: tuple[int, list[tuple[str, str]], bytes],
    ) -> None:
        if scope["type"] == "http":
            responder = await self.refusal_app(scope, receive, exc)
            if responder is not None:
                await responder(scope, receive, send)
                return
        await send_refusal(scope, receive, send, answer, exc.description)

    # -- lifespan ----------------------------------------------------------------------

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

        # The warm-up may outlive the startup: it runs in this task group (anyio, so on
        # asyncio and trio alike), which the app's own lifespan runs inside.
        failure: Exception | None = None
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                await self.app(scope, lifespan_receive, send)
            except Exception as exc:  # raised as it is, not in an exception group
                failure = exc
            finally:
                self._tasks = None
                tasks.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def startup(self, app: Any = None) -> None:
        """Check the routes (their scopes if asked, their RAR types), then warm the keys
        without blocking start."""
        self.shell.check_routes(app if app is not None else self.app, scopes=self.check_scopes)
        if not self.guard.key_sets:
            return
        warm_up = self._warming = _WarmUp()
        with anyio.move_on_after(self.warm_timeout):
            if self._tasks is None:  # called outside a lifespan: warm in line
                await self._warm(warm_up)
            else:
                self._tasks.start_soon(self._warm, warm_up)
                await warm_up.done.wait()
        if not warm_up.done.is_set():
            log.warning("the issuer's keys were not fetched within %ss", self.warm_timeout)

    async def _warm(self, warm_up: _WarmUp) -> None:
        try:
            with warm_up.scope:
                await self.guard.warm()
        finally:
            warm_up.done.set()

    async def shutdown(self) -> None:
        """Stop a warm-up still running and close the HTTP client this middleware made."""
        warm_up, self._warming = self._warming, None
        if warm_up is not None and not warm_up.done.is_set():
            warm_up.scope.cancel()
            await warm_up.done.wait()  # a fetch under way ends by its own deadline
        if self._owns_guard:
            await self.guard.aclose()
            # A new client for a next lifespan (a test client, a reload) on a new loop.
            self.guard = AsyncGuard(self.config)


class _WarmUp:
    """One lifespan's key warm-up: its cancel scope, and an event set when it ended."""

    __slots__ = ("done", "scope")

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.done = anyio.Event()
