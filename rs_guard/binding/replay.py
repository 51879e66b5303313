"""Where DPoP proof ids are remembered, so that no proof is accepted twice (RFC 9449 §11.1).

A :class:`ReplayStore` answers one question atomically: "remember ``key`` until
``expires_at``; was it new?". The guard asks it only after every other check of the
proof has passed, so an invalid proof never takes a slot.

* :class:`MemoryReplayStore` (default, ``replay_store: memory``): one process, bounded,
  expiring, thread-safe. Enough for one worker; with several, a proof replayed to
  another worker would be accepted there.
* :class:`RedisReplayStore` (``replay_store: redis://...``): shared by every worker and
  machine, one ``SET key 1 NX PX ttl`` per proof. Sync (``redis.Redis``) for
  :class:`~rs_guard.Guard`, asyncio (``redis.asyncio.Redis``) for
  :class:`~rs_guard.AsyncGuard`. If Redis cannot be reached the request is answered
  503 (``KeysUnavailable``, a server fault) rather than accepted unchecked.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from ..errors import KeysUnavailable

__all__ = ["MemoryReplayStore", "RedisReplayStore", "ReplayStore", "make_replay_store"]

log = logging.getLogger("rs_guard.replay")

Clock = Callable[[], float]


@runtime_checkable
class ReplayStore(Protocol):
    def remember(self, key: str, expires_at: float) -> bool:
        """Store ``key`` until ``expires_at`` (epoch seconds); False if it was there."""

    async def aremember(self, key: str, expires_at: float) -> bool:
        """The same, for asyncio."""

    def close(self) -> None: ...

    async def aclose(self) -> None: ...


class MemoryReplayStore:
    """Proof ids in a dict, dropped when expired; at most ``maxsize`` of them.

    When full of unexpired ids, the oldest is dropped (and a warning logged) rather than
    refusing new proofs: size it above requests-per-second times the proof window.
    """

    def __init__(self, *, maxsize: int = 100_000, clock: Clock = time.time) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be positive")
        self.maxsize = maxsize
        self.clock = clock
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, key: str, expires_at: float) -> bool:
        now = self.clock()
        with self._lock:
            entries = self._entries
            seen = entries.get(key)
            if seen is not None and seen > now:
                return False
            while entries:
                oldest_key, oldest_exp = next(iter(entries.items()))
                if oldest_exp > now and len(entries) < self.maxsize:
                    break
                if oldest_exp > now:
                    log.warning("DPoP replay store full (%d ids): oldest dropped", self.maxsize)
                del entries[oldest_key]
            entries[key] = expires_at
            entries.move_to_end(key)
            return True

    async def aremember(self, key: str, expires_at: float) -> bool:
        return self.remember(key, expires_at)

    def close(self) -> None:
        with self._lock:
            self._entries.clear()

    async def aclose(self) -> None:
        self.close()


class RedisReplayStore:
    """Proof ids in Redis, shared by every worker: ``SET rs_guard:dpop:<key> 1 NX PX <ttl>``."""

    prefix = "rs_guard:dpop:"

    def __init__(self, url: str, *, clock: Clock = time.time, timeout: float = 2.0) -> None:
        try:
            import redis  # noqa: F401  (optional dependency: rs_guard[redis])
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "replay_store is a redis URL: install rs_guard[redis] (redis>=5)"
            ) from exc
        self.url = url
        self.clock = clock
        self.timeout = timeout
        self._sync: Any = None
        self._async: Any = None
        self._lock = threading.Lock()

    def _ttl_ms(self, expires_at: float) -> int:
        return max(1000, math.ceil((expires_at - self.clock()) * 1000))

    def _client(self) -> Any:
        if self._sync is None:
            import redis

            with self._lock:
                if self._sync is None:
                    self._sync = redis.Redis.from_url(
                        self.url,
                        socket_timeout=self.timeout,
                        socket_connect_timeout=self.timeout,
                    )
        return self._sync

    def _aclient(self) -> Any:
        if self._async is None:
            import redis.asyncio

            self._async = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
        return self._async

    @staticmethod
    def _unavailable(exc: Exception) -> KeysUnavailable:
        log.error("the DPoP replay store cannot be reached: %s", type(exc).__name__)
        return KeysUnavailable(
            "the DPoP replay store cannot be reached", retry_after=5, reason="replay_store_down"
        )

    def remember(self, key: str, expires_at: float) -> bool:
        import redis

        try:
            done = self._client().set(self.prefix + key, b"1", nx=True, px=self._ttl_ms(expires_at))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None
        return bool(done)

    async def aremember(self, key: str, expires_at: float) -> bool:
        import redis

        try:
            done = await self._aclient().set(
                self.prefix + key, b"1", nx=True, px=self._ttl_ms(expires_at)
            )
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None
        return bool(done)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        self.close()
        if self._async is not None:
            await self._async.aclose()
            self._async = None


def make_replay_store(setting: str, *, clock: Clock = time.time) -> ReplayStore:
    """The store ``replay_store`` names: ``memory`` or a ``redis://`` / ``unix://`` URL."""
    if setting == "memory":
        return MemoryReplayStore(clock=clock)
    return RedisReplayStore(setting, clock=clock)
