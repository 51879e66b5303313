"""The whole-exchange deadline of a key fetch, against a real trickling server (issue 10).

An issuer that sends its status line and headers one byte at a time satisfies every
per-operation timeout of httpx; only a wall-clock cap on the whole exchange stops it.
The sync fetch runs in a thread joined with a generous bound (so nothing here is a timed
assertion): it must have ended, with a failed fetch. The async fetch runs under asyncio
and trio.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
from stalling_server import StallingServer

from rs_guard import AsyncGuard, Guard, KeysUnavailable
from rs_guard.config import JWKSOptions
from rs_guard.testing import TokenIssuer

OPTIONS = JWKSOptions(cooldown=5, timeout=0.5)
#: Far beyond the 0.5 s deadline; the trickle alone would last minutes.
OUTER_BOUND = 10.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def trickle() -> Iterator[StallingServer]:
    """An issuer sending an endless header, one byte every 50 ms."""
    server = StallingServer(drip=b"HTTP/1.1 200 OK\r\n" + b"X-Slow: a\r\n" * 100_000, interval=0.05)
    yield server
    server.close()


def jwks_url(server: StallingServer) -> str:
    return f"http://127.0.0.1:{server.port}/.well-known/jwks.json"


def test_a_trickling_issuer_is_cut_off_at_the_deadline_in_threads(
    trickle: StallingServer, clock: Any, bounded: Callable[..., Any]
) -> None:
    issuer = TokenIssuer(algorithm="ES256", clock=clock)
    guard = Guard(issuer.config(jwks_uri=jwks_url(trickle), jwks=OPTIONS), clock=clock)
    try:
        with pytest.raises(KeysUnavailable):
            bounded(lambda: guard.verify(issuer.mint()), OUTER_BOUND)
        state = guard.key_sets[issuer.issuer]
        assert state.requests_sent == 1
        assert "longer than 0.5 s" in (state.last_error or "")
        assert trickle.connections == 1
    finally:
        guard.close()


@pytest.mark.anyio
async def test_a_trickling_issuer_is_cut_off_at_the_deadline_in_async(
    trickle: StallingServer, clock: Any
) -> None:
    issuer = TokenIssuer(algorithm="ES256", clock=clock)
    guard = AsyncGuard(issuer.config(jwks_uri=jwks_url(trickle), jwks=OPTIONS), clock=clock)
    try:
        with anyio.fail_after(OUTER_BOUND):
            with pytest.raises(KeysUnavailable):
                await guard.verify(issuer.mint())
        state = guard.key_sets[issuer.issuer]
        assert state.requests_sent == 1
        assert "longer than 0.5 s" in (state.last_error or "")
    finally:
        await guard.aclose()
