"""Denial of service: hung workers in the deadline runner, many unknown kids."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from rs_guard import Guard, InvalidToken
from rs_guard.deadline import DeadlinePassed, DeadlineRunner
from rs_guard.testing import TokenIssuer


def test_every_worker_hung_the_next_call_fails_closed_at_its_deadline(
    bounded: Callable[..., Any],
) -> None:
    """A resolver (or Redis) that holds every worker thread: the next call is refused at
    its own deadline, no thread is added past the bound, and the runner recovers."""
    runner = DeadlineRunner("rs_guard-attack", 2)
    release = threading.Event()
    try:
        for _ in range(2):
            with pytest.raises(DeadlinePassed):
                runner.call(lambda: release.wait(60), 0.05)
        ran: list[bool] = []

        def next_call() -> None:
            with pytest.raises(DeadlinePassed):
                runner.call(lambda: ran.append(True), 0.2)

        bounded(next_call)
        for _ in range(50):  # a flood while hung: still no new thread
            with pytest.raises(DeadlinePassed):
                runner.call(lambda: ran.append(True), 0.0)
        names = [t.name for t in threading.enumerate() if t.name.startswith("rs_guard-attack")]
        assert len(names) == 2
    finally:
        release.set()
    assert bounded(lambda: runner.call(lambda: 7, 30)) == 7
    assert ran == []  # the calls refused in line never ran


def test_many_unknown_kids_cost_one_fetch(issuer: TokenIssuer, clock) -> None:
    """Tokens with a fresh random kid each (no valid signature needed) do not make the
    guard fetch the key set once per token (RFC 7517 §4.5 kid; a refetch is rate limited)."""
    fetches: list[str] = []
    transport = issuer.transport()

    def counting(request: httpx.Request) -> httpx.Response:
        fetches.append(str(request.url))
        return transport.handle_request(request)

    guard = Guard(issuer.config(), transport=httpx.MockTransport(counting), clock=clock)
    guard.warm()
    before = len(fetches)
    for n in range(200):
        token = issuer.mint(headers={"kid": f"attacker-{n}"})
        with pytest.raises(InvalidToken):
            guard.verify(token)
    assert len(fetches) - before <= 1


@pytest.mark.parametrize("depth", [5_000, 50_000])
def test_deeply_nested_json_is_a_refusal(issuer: TokenIssuer, clock, depth: int) -> None:
    """Nesting in the (unverified) payload: an invalid_token, never a RecursionError."""
    from rs_guard._jose import b64url_encode

    guard = Guard(
        issuer.config(max_token_bytes=1024 * 1024), transport=issuer.transport(), clock=clock
    )
    header = b64url_encode(b'{"alg":"RS256","typ":"JWT"}')
    payload = b64url_encode(b'{"a":' + b"[" * depth + b"]" * depth + b"}")
    with pytest.raises(InvalidToken) as info:
        guard.verify(f"{header}.{payload}.AAAA")
    assert (info.value.status_code, info.value.error) == (401, "invalid_token")
