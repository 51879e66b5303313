"""Remembering verified tokens so that a repeated token skips the signature check.

Keyed by the exact token text. An entry never outlives the token's ``exp`` (plus
leeway), the time window is checked again on every hit, the cache is bounded in
entries and in bytes, and it is emptied whenever a key refresh removes a key.
Proof of possession is never cached: it is checked on every request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .token import AccessToken

__all__ = ["VerifiedTokenCache"]

_ENTRY_OVERHEAD = 512  # rough bytes of an entry beyond the token text


class VerifiedTokenCache:
    """A bounded, exp-aware map from token text to :class:`AccessToken`."""

    def __init__(
        self,
        *,
        maxsize: int = 4096,
        max_bytes: int = 32 * 1024 * 1024,
        leeway: float = 0.0,
        clock: Callable[[], float],
    ) -> None:
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self.leeway = leeway
        self.clock = clock
        self._entries: dict[str, tuple[AccessToken, float, float]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> AccessToken | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        now = self.clock()
        if entry[1] <= now < entry[2]:
            return entry[0]
        self._discard(token)
        return None

    def put(self, token: AccessToken) -> None:
        size = len(token.raw) * 2 + _ENTRY_OVERHEAD
        if self.maxsize <= 0 or size > self.max_bytes:
            return  # cache off, or one entry alone would break the byte bound
        valid_from = (token.not_before or float("-inf")) - self.leeway
        valid_until = token.expires_at + self.leeway
        with self._lock:
            if token.raw in self._entries:
                return
            while self._entries and (
                len(self._entries) >= self.maxsize or self._bytes + size > self.max_bytes
            ):
                oldest = next(iter(self._entries))
                self._bytes -= len(oldest) * 2 + _ENTRY_OVERHEAD
                del self._entries[oldest]
            self._entries[token.raw] = (token, valid_from, valid_until)
            self._bytes += size

    def _discard(self, raw: str) -> None:
        with self._lock:
            if self._entries.pop(raw, None) is not None:
                self._bytes -= len(raw) * 2 + _ENTRY_OVERHEAD

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
