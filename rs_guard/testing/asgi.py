"""A synchronous ``httpx.Client`` over an ASGI app, with its lifespan, for tests.

The app runs on an event loop in a background thread (an anyio blocking portal); each
request goes through ``httpx.ASGITransport`` on that loop. The lifespan startup runs before
the first request and the shutdown when the client closes, as under a real server, so
rs_guard's middleware warms its keys and closes its HTTP client exactly as in production.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager, suppress
from typing import Any

import anyio
import anyio.from_thread
import httpx

__all__ = ["asgi_client"]

Message = MutableMapping[str, Any]
_ENDED: Message = {"type": "rs_guard.lifespan.ended"}
_GONE = (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError)


class _Lifespan:
    """Drives the ASGI lifespan protocol: startup, then shutdown (both optional for the app)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.to_app, self.app_inbox = anyio.create_memory_object_stream[Message](2)
        self.app_outbox, self.from_app = anyio.create_memory_object_stream[Message](2)
        self.ended = False

    async def run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        with self.app_inbox, self.app_outbox:
            try:
                await self.app(scope, self.app_inbox.receive, self.app_outbox.send)
            except Exception:  # noqa: S110 - an app without lifespan support raises: none then
                pass
            finally:
                with suppress(*_GONE):
                    self.app_outbox.send_nowait(_ENDED)

    def close(self) -> None:
        self.to_app.close()
        self.from_app.close()

    async def exchange(self, kind: str) -> None:
        if self.ended:
            return
        await self.to_app.send({"type": f"lifespan.{kind}"})
        with anyio.fail_after(30):  # a generous cap: a hung startup fails the test
            reply = await self.from_app.receive()
        if reply is _ENDED:
            self.ended = True
        elif reply["type"] == f"lifespan.{kind}.failed":
            raise RuntimeError(f"ASGI lifespan {kind} failed: {reply.get('message', '')}")


class _PortalTransport(httpx.BaseTransport):
    """Runs each request through ``httpx.ASGITransport`` on the portal's loop."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, app: Any) -> None:
        self.portal = portal
        self.transport = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            body = request.read()
            async_request = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self.transport.handle_async_request(async_request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self.portal.call(send)


@contextmanager
def asgi_client(app: Any, *, base_url: str = "http://testserver") -> Iterator[httpx.Client]:
    """``with asgi_client(app) as client: client.get("/path")`` (lifespan included)."""
    with anyio.from_thread.start_blocking_portal() as portal:
        lifespan = _Lifespan(app)
        portal.start_task_soon(lifespan.run)
        portal.call(lifespan.exchange, "startup")
        try:
            transport = _PortalTransport(portal, app)
            with httpx.Client(transport=transport, base_url=base_url) as client:
                yield client
        finally:
            try:
                portal.call(lifespan.exchange, "shutdown")
            finally:
                lifespan.close()
