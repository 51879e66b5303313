"""The whole-exchange deadline of a key fetch, against a real trickling server (issue 10).

An issuer that sends its status line and headers one byte at a time satisfies every
per-operation timeout of httpx; only a wall-clock cap on the whole exchange stops it.
The sync fetch runs in a thread joined with a generous bound (so nothing here is a timed
assertion): it must have ended, with a failed fetch. The async fetch runs under asyncio
and trio.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from rs_guard import AsyncGuard, Guard, KeysUnavailable
from rs_guard.config import JWKSOptions
from rs_guard.testing import TokenIssuer

OPTIONS = JWKSOptions(cooldown=5, timeout=0.5)
#: Far beyond the 0.5 s deadline; the trickle alone would last minutes.
OUTER_BOUND = 10.0


class TricklingServer:
    """Accepts connections and sends an endless header, one byte every 50 ms."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/.well-known/jwks.json"
        self._stop = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        data = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: a\r\n" * 100_000
        with conn:
            for byte in data:
                if self._stop.wait(0.05):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def trickle() -> Iterator[TricklingServer]:
    server = TricklingServer()
    yield server
    server.close()


def test_a_trickling_issuer_is_cut_off_at_the_deadline_in_threads(
    trickle: TricklingServer, clock: Any
) -> None:
    issuer = TokenIssuer(algorithm="ES256", clock=clock)
    guard = Guard(issuer.config(jwks_uri=trickle.url, jwks=OPTIONS), clock=clock)
    outcome: list[BaseException | None] = []

    def verify() -> None:
        try:
            guard.verify(issuer.mint())
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=verify, daemon=True)
    worker.start()
    worker.join(OUTER_BOUND)
    try:
        assert not worker.is_alive(), "the fetch was not cut off"
        assert len(outcome) == 1
        assert isinstance(outcome[0], KeysUnavailable)
        state = guard.key_sets[issuer.issuer]
        assert state.requests_sent == 1
        assert "longer than 0.5 s" in (state.last_error or "")
        assert trickle.connections == 1
    finally:
        guard.close()


@pytest.mark.anyio
async def test_a_trickling_issuer_is_cut_off_at_the_deadline_in_async(
    trickle: TricklingServer, clock: Any
) -> None:
    issuer = TokenIssuer(algorithm="ES256", clock=clock)
    guard = AsyncGuard(issuer.config(jwks_uri=trickle.url, jwks=OPTIONS), clock=clock)
    try:
        with anyio.fail_after(OUTER_BOUND):
            with pytest.raises(KeysUnavailable):
                await guard.verify(issuer.mint())
        state = guard.key_sets[issuer.issuer]
        assert state.requests_sent == 1
        assert "longer than 0.5 s" in (state.last_error or "")
    finally:
        await guard.aclose()
