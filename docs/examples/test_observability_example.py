"""Counting outcomes by reason and timing verifications with an observer."""

from collections import Counter

import pytest

from rs_guard import Guard, InvalidToken, RequestContext
from rs_guard.observability import Outcome


class Stats:
    """A tiny in-process metrics sink: counts by (accepted, reason), total time."""

    def __init__(self) -> None:
        self.by_reason: Counter[str] = Counter()
        self.seconds = 0.0

    def __call__(self, outcome: Outcome) -> None:
        self.by_reason[outcome.reason] += 1
        self.seconds += outcome.duration


def test_an_observer_sees_every_outcome(rs_guard_config, rs_guard_transport, rs_guard_issuer):
    guard = Guard(rs_guard_config, transport=rs_guard_transport, clock=rs_guard_issuer.clock)
    stats = Stats()
    guard.observers.append(stats)  # or rs_guard.observability.add_observer(stats): every guard

    def call(token: str) -> None:
        headers = [("authorization", f"Bearer {token}")]
        guard.authenticate(RequestContext("GET", "https://api.test/appointments", headers))

    call(rs_guard_issuer.mint())
    with pytest.raises(InvalidToken):
        call(rs_guard_issuer.mint(expires_in=-60))
    assert stats.by_reason == {"ok": 1, "expired": 1}
    assert stats.seconds > 0
