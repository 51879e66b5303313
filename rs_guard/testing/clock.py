"""A clock a test moves by hand, for the issuer and the guard alike."""

from __future__ import annotations

import time

__all__ = ["FrozenClock"]


class FrozenClock:
    """Seconds since the epoch that change only when the test says so.

    Give the same instance to :class:`~rs_guard.testing.TokenIssuer` (``clock=``) and to
    the guard (``Guard(config, clock=clock)``); ``clock.advance(3600)`` then expires
    the tokens minted before.
    """

    def __init__(self, now: float | None = None) -> None:
        self.now = float(int(time.time()) if now is None else now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, now: float) -> None:
        self.now = float(now)

    def __repr__(self) -> str:
        return f"FrozenClock({self.now!r})"
