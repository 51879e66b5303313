"""Remembering verified tokens so that a repeated token skips the signature check.

Keyed by the exact token text. An entry never outlives the token's ``exp`` (plus
leeway), the time window is checked again on every hit, and the cache is bounded in
entries and in bytes. Each entry records the key lookup that verified it (issuer and
``kid``, or no kid); when a key refresh removes or replaces the material behind a lookup
(:class:`~rs_guard.keys.KeyChange`), the entries it verified are dropped and nothing
else. Proof of possession is never cached: it is checked on every request.

A token whose key was looked up before a change and that is stored after it is not
kept: each miss notes the change count in a context variable (per thread, per task),
and :meth:`VerifiedTokenCache.put` refuses an entry when a change came in between.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar

from .keys import KeyChange
from .token import AccessToken

__all__ = ["VerifiedTokenCache"]

_ENTRY_OVERHEAD = 512  # rough bytes of an entry beyond the token text

#: (the cache's marker, its count of key changes) at this context's last miss.
_MISSED_AT: ContextVar[tuple[object, int] | None] = ContextVar("rs_guard_missed_at", default=None)


class _Entry:
    __slots__ = ("issuer", "kid", "token", "valid_from", "valid_until")

    def __init__(self, token: AccessToken, valid_from: float, valid_until: float) -> None:
        self.token = token
        self.valid_from = valid_from
        self.valid_until = valid_until
        self.issuer = token.issuer
        kid = token.header.get("kid")
        self.kid = kid if isinstance(kid, str) else None


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
        self._entries: dict[str, _Entry] = {}
        self._bytes = 0
        self._changes = 0
        self._marker = object()  # names this cache in _MISSED_AT without keeping it alive
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> AccessToken | None:
        entry = self._entries.get(token)
        if entry is None:
            _MISSED_AT.set((self._marker, self._changes))
            return None
        if entry.valid_from <= self.clock() < entry.valid_until:
            return entry.token
        self._discard(token)
        _MISSED_AT.set((self._marker, self._changes))
        return None

    def put(self, token: AccessToken) -> None:
        if self.maxsize <= 0:
            return  # cache off
        size = len(token.raw) * 2 + _ENTRY_OVERHEAD
        if size > self.max_bytes:
            return  # one entry alone would break the byte bound
        valid_from = (token.not_before or float("-inf")) - self.leeway
        valid_until = token.expires_at + self.leeway
        missed = _MISSED_AT.get()
        with self._lock:
            if missed is not None and missed[0] is self._marker and missed[1] != self._changes:
                return  # its key may have been replaced while it was being verified
            if token.raw in self._entries:
                return
            while self._entries and (
                len(self._entries) >= self.maxsize or self._bytes + size > self.max_bytes
            ):
                oldest = next(iter(self._entries))
                self._bytes -= len(oldest) * 2 + _ENTRY_OVERHEAD
                del self._entries[oldest]
            self._entries[token.raw] = _Entry(token, valid_from, valid_until)
            self._bytes += size

    def forget(self, change: KeyChange) -> None:
        """Drop every token verified by a key that ``change`` removed or replaced."""
        with self._lock:
            self._changes += 1
            gone = [
                raw
                for raw, entry in self._entries.items()
                if entry.issuer == change.issuer and entry.kid in change.kids
            ]
            for raw in gone:
                del self._entries[raw]
                self._bytes -= len(raw) * 2 + _ENTRY_OVERHEAD

    def _discard(self, raw: str) -> None:
        with self._lock:
            if self._entries.pop(raw, None) is not None:
                self._bytes -= len(raw) * 2 + _ENTRY_OVERHEAD

    def clear(self) -> None:
        with self._lock:
            self._changes += 1
            self._entries.clear()
            self._bytes = 0
