"""Shared fixtures: issuers with keys generated once per session, a settable clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from rs_guard.testing import JWKSServer, TokenIssuer, no_token_in_logs


class FrozenClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


T = TypeVar("T")

#: A generous bound for a call that should end within about a second: far beyond any
#: deadline under test, far below what the bug it guards against would take.
BOUND = 20.0


def run_bounded(call: Callable[[], T], bound: float = BOUND) -> T:
    """``call()`` in a thread joined with ``bound``: its result, or its exception raised
    here. Fails the test if it has not ended by then (a bounded wait, not a timing)."""
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:
            outcome.append((False, exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(bound)
    assert not worker.is_alive(), f"the call had not ended after {bound} s"
    [(ok, value)] = outcome
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


@pytest.fixture
def bounded() -> Callable[..., Any]:
    """:func:`run_bounded`, as a fixture."""
    return run_bounded


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """``@pytest.mark.anyio`` tests run on asyncio unless their module asks for trio too
    (its own ``anyio_backend`` fixture): some async clients (Redis) are asyncio-only."""
    return "asyncio"


@pytest.fixture(scope="session")
def rs256_issuer() -> TokenIssuer:
    return TokenIssuer(algorithm="RS256")


@pytest.fixture(scope="module")
def live_issuer(rs256_issuer: TokenIssuer) -> TokenIssuer:
    """The session's key, minting on the real clock (the guards and apps under test use it
    against a real JWKS server)."""
    return TokenIssuer(key=rs256_issuer.current, clock=time.time)


@pytest.fixture
def jwks(live_issuer: TokenIssuer) -> Iterator[JWKSServer]:
    """A real JWKS server on 127.0.0.1 serving the live issuer's keys."""
    with JWKSServer(live_issuer.jwks) as server:
        yield server


@pytest.fixture
def issuer(rs256_issuer: TokenIssuer, clock: FrozenClock) -> TokenIssuer:
    """The session's RS256 issuer, minting on the test's frozen clock."""
    rs256_issuer.clock = clock
    rs256_issuer.token_dialect = "access_token"
    rs256_issuer.jwks_requests = 0
    return rs256_issuer


@pytest.fixture(autouse=True)
def _no_token_in_any_log_line() -> Iterator[None]:
    """Every test: capture all log records (rs_guard at DEBUG) and fail the test if one
    contains a token minted during it, or anything shaped like a signed JWT."""
    with no_token_in_logs():
        yield
