"""One HTTP GET for the key engine, under one budget: a deadline and a body limit.

:class:`ExchangeBudget` is the single place that says how long a fetch may take and how
much it may read; :func:`fetch` (threads) and :func:`afetch` (async, anyio) both spend
it. The deadline covers the whole exchange: connect, status line, headers and body.

httpx's timeouts bound each socket operation, so an issuer that sends one byte just
under the read timeout can hold a request open for as long as it likes. The async side
cancels the exchange at the deadline (``anyio.move_on_after``). The sync side cannot be
cancelled, so it cuts the connection instead: httpcore's ``trace`` request extension
hands over the connection's socket as it is opened (``connect_tcp`` / ``start_tls``),
and a timer thread shuts that socket down at the deadline, which wakes a blocked read at
once; the request then fails and the fetch is reported as too slow. Every request asks
for ``Connection: close`` so that it always opens (and so sees) its own connection.
Name resolution is the one step no socket can cut short: the system resolver blocks
for as long as its own limits say (``options timeout:/attempts:`` in resolv.conf, often
many seconds). So the sync exchange runs in a helper thread
(:class:`~rs_guard.deadline.DeadlineRunner`) and the caller waits no longer than the
deadline; a lookup left behind ends by the resolver's limits, in a thread that holds
nothing else up. The async side needs no helper: anyio resolves in a worker thread
and the deadline cancels the wait.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from .deadline import DeadlinePassed, DeadlineRunner

__all__ = ["ExchangeBudget", "Fetched", "afetch", "fetch"]

#: ``identity``: a compressed answer could expand far beyond ``max_bytes`` within one
#: chunk before the size check sees it (a "zip bomb"); key sets are small anyway.
REQUEST_HEADERS = {"accept": "application/json", "accept-encoding": "identity"}
_SYNC_HEADERS = {**REQUEST_HEADERS, "connection": "close"}
_SOCKET_EVENTS = ("connection.connect_tcp.complete", "connection.start_tls.complete")


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one GET returned, or why it failed (``error`` set, nothing else)."""

    url: str
    status: int = 0
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    error: str | None = None


class ExchangeBudget:
    """How long one GET may take in all (``timeout`` seconds) and how much it may read."""

    def __init__(self, timeout: float, max_bytes: int) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.deadline = time.monotonic() + timeout

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def httpx_timeout(self) -> httpx.Timeout:
        """Per-operation timeouts that never reach past the deadline."""
        return httpx.Timeout(max(self.remaining(), 0.001))

    def too_slow(self, url: str) -> Fetched:
        return Fetched(url, error=f"the answer took longer than {self.timeout} s")

    def too_large(self, url: str) -> Fetched:
        return Fetched(url, error=f"body larger than {self.max_bytes} bytes")

    def declared_too_large(self, headers: httpx.Headers) -> bool:
        declared = headers.get("content-length", "")
        return declared.isdigit() and int(declared) > self.max_bytes

    def add(self, body: bytearray, chunk: bytes, url: str) -> Fetched | None:
        """Append ``chunk``; the failure if the body grew too large or time ran out."""
        body += chunk
        if len(body) > self.max_bytes:
            return self.too_large(url)
        if time.monotonic() > self.deadline:
            return self.too_slow(url)
        return None

    def failed(self, url: str, exc: Exception) -> Fetched:
        if isinstance(exc, httpx.TimeoutException):
            return self.too_slow(url)  # a per-operation timeout is the deadline too
        return Fetched(url, error=f"{type(exc).__name__}: {exc}")


#: For callers that bring no runner of their own (one per key client is the rule).
_SHARED_RUNNER = DeadlineRunner("rs_guard-fetch", 4)


def fetch(
    client: httpx.Client,
    url: str,
    budget: ExchangeBudget,
    *,
    runner: DeadlineRunner | None = None,
) -> Fetched:
    """GET ``url`` from a thread, cut off at the budget's deadline (name lookup included)."""
    try:
        return (runner or _SHARED_RUNNER).call(
            lambda: _fetch(client, url, budget), budget.remaining()
        )
    except DeadlinePassed:
        return budget.too_slow(url)


def _fetch(client: httpx.Client, url: str, budget: ExchangeBudget) -> Fetched:
    cutter = _ConnectionCutter(budget.remaining())
    try:
        with (
            cutter,
            client.stream(
                "GET",
                url,
                headers=_SYNC_HEADERS,
                timeout=budget.httpx_timeout(),
                extensions={"trace": cutter.trace},
            ) as response,
        ):
            if budget.declared_too_large(response.headers):
                return budget.too_large(url)
            body = bytearray()
            for chunk in response.iter_bytes():
                if (failure := budget.add(body, chunk, url)) is not None:
                    return failure
            return Fetched(url, response.status_code, response.headers, bytes(body))
    except Exception as exc:  # httpx.InvalidURL, StreamError, ...: a failed fetch, never a 500
        return budget.too_slow(url) if cutter.fired else budget.failed(url, exc)


async def afetch(client: httpx.AsyncClient, url: str, budget: ExchangeBudget) -> Fetched:
    """GET ``url`` from async code (asyncio or trio), cancelled at the budget's deadline."""
    with anyio.move_on_after(budget.remaining()):
        try:
            async with client.stream(
                "GET", url, headers=REQUEST_HEADERS, timeout=budget.httpx_timeout()
            ) as response:
                if budget.declared_too_large(response.headers):
                    return budget.too_large(url)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    if (failure := budget.add(body, chunk, url)) is not None:
                        return failure
                return Fetched(url, response.status_code, response.headers, bytes(body))
        except Exception as exc:  # a failed fetch, never a 500
            return budget.failed(url, exc)
    return budget.too_slow(url)


class _ConnectionCutter:
    """Shuts down the socket of one exchange when its time is up (see the module doc)."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _ConnectionCutter:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event not in _SOCKET_EVENTS:
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to cut
        sock.shutdown(socket.SHUT_RDWR)
