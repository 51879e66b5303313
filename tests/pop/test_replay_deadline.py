"""One deadline on the whole sync Redis exchange: a Redis that does not answer is refused.

Socket timeouts bound one operation each; a server that accepts and never answers, or
answers one byte at a time, or a real Redis that is paused, must not hold a request
longer than the store's ``timeout``. Each call runs in a thread joined with a generous
bound (never a timed assertion): it must have ended, refused with 503.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

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


class SilentServer:
    """Accepts connections; ``trickle``: then sends an endless line one byte at a time."""

    def __init__(self, *, trickle: bool) -> None:
        self.trickle = trickle
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            self._conns.append(conn)
            if self.trickle:
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        # "+" opens a simple string; its CRLF never comes: each byte arrives well inside
        # the socket timeout, so only a deadline on the whole exchange ends the read.
        for byte in b"+" + b"x" * 100_000:
            if self._stop.wait(TIMEOUT / 4):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join()
        for conn in self._conns:
            conn.close()


@pytest.fixture(params=["silent", "trickle"])
def dead_redis(request: pytest.FixtureRequest) -> Iterator[SilentServer]:
    server = SilentServer(trickle=request.param == "trickle")
    yield server
    server.close()


def bounded(call: Any) -> BaseException | object:
    """Run ``call`` in a thread; its exception or result, once it has ended."""
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(OUTER_BOUND)
    assert not worker.is_alive(), "the call was not cut off at its deadline"
    [result] = outcome
    return result


def test_a_redis_that_does_not_answer_is_refused_at_the_deadline(
    dead_redis: SilentServer,
) -> None:
    store = RedisReplayStore(dead_redis.url, timeout=TIMEOUT)
    try:
        for _ in range(2):  # the second call: a pooled or a fresh connection, same end
            outcome = bounded(lambda: store.remember(f"k-{time.time_ns()}", time.time() + 60))
            assert isinstance(outcome, ReplayStoreUnavailable)
            assert outcome.status_code == 503
            assert outcome.reason == "replay_store_down"
            assert outcome.retry_after == 5
    finally:
        store.close()


def test_the_guard_answers_503_when_redis_does_not_answer(
    dead_redis: SilentServer, issuer: TokenIssuer, clock: Any
) -> None:
    clock.now = time.time()
    config = issuer.config(proof_of_possession=ProofOfPossession("dpop"))
    store = RedisReplayStore(dead_redis.url, timeout=TIMEOUT)
    guard = Guard(config, clock=clock, transport=issuer.transport(), replay_store=store)
    key = DPoPKey(clock=clock)
    token = issuer.mint(cnf=key.cnf)
    proof = key.proof("GET", URL, access_token=token)
    try:
        outcome = bounded(
            lambda: guard.authenticate(request(token, scheme="DPoP", headers=[("DPoP", proof)]))
        )
        assert isinstance(outcome, ReplayStoreUnavailable)
        status, headers, _ = render_error(outcome, guard.challenge)
        assert status == 503
        assert dict(headers)["retry-after"] == "5"
    finally:
        guard.close()


@pytest.mark.slow
def test_a_paused_real_redis_is_refused_and_the_store_recovers(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    store = RedisReplayStore(redis_url, timeout=TIMEOUT)
    admin = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        assert store.remember(f"warm-{time.time_ns()}", time.time() + 60) is True
        admin.execute_command("CLIENT", "PAUSE", "20000", "WRITE")  # SET waits, reads go on
        try:
            outcome = bounded(lambda: store.remember(f"p-{time.time_ns()}", time.time() + 60))
        finally:
            admin.execute_command("CLIENT", "UNPAUSE")
        assert isinstance(outcome, ReplayStoreUnavailable)
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
