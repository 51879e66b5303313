"""One deadline on the whole sync Redis exchange: a Redis that does not answer is refused.

Socket timeouts bound one operation each; a server that accepts and never answers, or
answers one byte at a time, or a real Redis that is paused, must not hold a request
longer than the store's ``timeout``. Each call runs in a thread joined with a generous
bound (never a timed assertion): it must have ended, refused with 503.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from stalling_server import StallingServer

from rs_guard import Guard
from rs_guard.binding.replay import RedisReplayStore
from rs_guard.config import ProofOfPossession
from rs_guard.errors import ReplayStoreUnavailable, render_error
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import DPoPKey

from ._support import URL, request

TIMEOUT = 0.3
#: Far beyond the deadline; a trickling server would hold the old code for minutes.
OUTER_BOUND = 10.0


@pytest.fixture(params=["silent", "trickle"])
def dead_redis(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Redis URL whose server accepts and then says nothing, or (``trickle``) opens a
    simple string ("+") whose CRLF never comes, one byte well inside the socket timeout."""
    drip = b"+" + b"x" * 100_000 if request.param == "trickle" else b""
    server = StallingServer(drip=drip, interval=TIMEOUT / 4)
    yield f"redis://127.0.0.1:{server.port}/0"
    server.close()


def refusal_within_bound(
    bounded: Callable[..., object], call: Callable[[], object]
) -> ReplayStoreUnavailable:
    """``call`` run by the ``bounded`` fixture (a thread joined with a generous bound): it
    must have ended, refused."""
    with pytest.raises(ReplayStoreUnavailable) as refused:
        bounded(call, OUTER_BOUND)
    return refused.value


def test_a_redis_that_does_not_answer_is_refused_at_the_deadline(
    dead_redis: str, bounded: Callable[..., object]
) -> None:
    store = RedisReplayStore(dead_redis, timeout=TIMEOUT)
    try:
        for _ in range(2):  # the second call: a pooled or a fresh connection, same end
            outcome = refusal_within_bound(
                bounded, lambda: store.remember(f"k-{time.time_ns()}", time.time() + 60)
            )
            assert outcome.status_code == 503
            assert outcome.reason == "replay_store_down"
            assert outcome.retry_after == 5
    finally:
        store.close()


def test_the_guard_answers_503_when_redis_does_not_answer(
    dead_redis: str, issuer: TokenIssuer, clock: Any, bounded: Callable[..., object]
) -> None:
    clock.now = time.time()
    config = issuer.config(proof_of_possession=ProofOfPossession("dpop"))
    store = RedisReplayStore(dead_redis, timeout=TIMEOUT)
    guard = Guard(config, clock=clock, transport=issuer.transport(), replay_store=store)
    key = DPoPKey(clock=clock)
    token = issuer.mint(cnf=key.cnf)
    proof = key.proof("GET", URL, access_token=token)
    try:
        outcome = refusal_within_bound(
            bounded,
            lambda: guard.authenticate(request(token, scheme="DPoP", headers=[("DPoP", proof)])),
        )
        status, headers, _ = render_error(outcome, guard.challenge)
        assert status == 503
        assert dict(headers)["retry-after"] == "5"
    finally:
        guard.close()


@pytest.mark.slow
def test_a_paused_real_redis_is_refused_and_the_store_recovers(
    redis_url: str, caplog: pytest.LogCaptureFixture, bounded: Callable[..., object]
) -> None:
    import redis

    store = RedisReplayStore(redis_url, timeout=TIMEOUT)
    admin = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        assert store.remember(f"warm-{time.time_ns()}", time.time() + 60) is True
        admin.execute_command("CLIENT", "PAUSE", "20000", "WRITE")  # SET waits, reads go on
        try:
            outcome = refusal_within_bound(
                bounded, lambda: store.remember(f"p-{time.time_ns()}", time.time() + 60)
            )
        finally:
            admin.execute_command("CLIENT", "UNPAUSE")
        assert outcome.reason == "replay_store_down"
        key = f"after-{time.time_ns()}"
        assert store.remember(key, time.time() + 60) is True
        assert store.remember(key, time.time() + 60) is False
        messages = [r.getMessage() for r in caplog.records if r.name == "rs_guard.replay"]
        assert messages == [
            "the DPoP replay store (Redis) cannot be reached: DeadlinePassed; "
            "refusing DPoP proofs (503) until it recovers",
            "the DPoP replay store (Redis) recovered after refusing 1 DPoP proof(s)",
        ]
    finally:
        admin.close()
        store.close()
