"""Where DPoP proof ids are remembered, so that no proof is accepted twice (RFC 9449 §11.1).

A :class:`ReplayStore` answers one question atomically: "remember ``key`` until
``expires_at``; was it new?". The guard asks it only after every other check of the
proof has passed, so an invalid proof never takes a slot. A store that cannot answer
raises :class:`~rs_guard.errors.ReplayStoreUnavailable` (503, ``Retry-After``): a proof
is never accepted unchecked (fail closed).

* :class:`MemoryReplayStore` (default, ``replay_store: memory``): one process, bounded,
  expiring, thread-safe. Enough for one worker; with several, a proof replayed to
  another worker would be accepted there. An unexpired id is never forgotten: when the
  store is full of them, new proofs are refused until the oldest expire.
* :class:`RedisReplayStore` (``replay_store: redis://...``): shared by every worker and
  machine, one ``SET key 1 NX PX ttl`` per proof. Sync (``redis.Redis``) for
  :class:`~rs_guard.Guard`, asyncio (``redis.asyncio.Redis``) for
  :class:`~rs_guard.AsyncGuard`. If Redis cannot be reached, or has not answered within
  ``timeout`` seconds for the whole exchange (connect, command, the one retry), the
  request is answered 503.

Both log a refusal episode once when it starts and once when it ends, never per request.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from ..deadline import DeadlineRunner
from ..errors import ReplayStoreUnavailable

__all__ = ["MemoryReplayStore", "RedisReplayStore", "ReplayStore", "make_replay_store"]

log = logging.getLogger("rs_guard.replay")

Clock = Callable[[], float]


@runtime_checkable
class ReplayStore(Protocol):
    def remember(self, key: str, expires_at: float) -> bool:
        """Store ``key`` until ``expires_at`` (epoch seconds); False if it was there.

        Raise :class:`~rs_guard.errors.ReplayStoreUnavailable` when the key cannot be
        stored (never return True without storing it).
        """

    async def aremember(self, key: str, expires_at: float) -> bool:
        """The same, for asyncio."""

    def close(self) -> None: ...

    async def aclose(self) -> None: ...


class _Episode:
    """Logs the start and the end of a run of refusals, not each refusal."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.refused = 0

    def refusing(self, message: str, *args: object) -> None:
        if self.refused == 0:
            log.error(message + "; refusing DPoP proofs (503) until it recovers", *args)
        self.refused += 1

    def recovered(self) -> None:
        if self.refused:
            log.warning("%s recovered after refusing %d DPoP proof(s)", self.what, self.refused)
            self.refused = 0


class MemoryReplayStore:
    """Proof ids in a dict, each kept until it expires; at most ``maxsize`` of them.

    When full of unexpired ids the store refuses new proofs
    (:class:`~rs_guard.errors.ReplayStoreUnavailable`, ``Retry-After`` the time until
    the first id expires) rather than forget one: forgetting an unexpired id would let
    its proof be replayed. Size it above the proof rate times the proof acceptance
    window (``docs/dpop.md``); expired ids are purged as time passes.
    """

    def __init__(self, *, maxsize: int = 100_000, clock: Clock = time.time) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be positive")
        self.maxsize = maxsize
        self.clock = clock
        self._entries: dict[str, float] = {}
        # (expires_at, key), earliest first: expired ids leave in O(log n) each.
        self._expiries: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._episode = _Episode("the DPoP replay store")

    def __len__(self) -> int:
        return len(self._entries)

    def _purge(self, now: float) -> None:
        expiries, entries = self._expiries, self._entries
        while expiries and expiries[0][0] <= now:
            expires_at, key = heapq.heappop(expiries)
            if entries.get(key) == expires_at:
                del entries[key]

    def remember(self, key: str, expires_at: float) -> bool:
        now = self.clock()
        with self._lock:
            self._purge(now)
            if key in self._entries:  # unexpired: _purge dropped the expired ones
                return False
            if len(self._entries) >= self.maxsize:
                self._episode.refusing(
                    "the DPoP replay store is full (%d unexpired proof ids)", self.maxsize
                )
                wait = self._expiries[0][0] - now if self._expiries else 1.0
                raise ReplayStoreUnavailable(
                    "too many DPoP proofs are being checked; try again later",
                    retry_after=max(1, math.ceil(wait)),
                    reason="replay_store_full",
                )
            self._episode.recovered()
            self._entries[key] = expires_at
            heapq.heappush(self._expiries, (expires_at, key))
            return True

    async def aremember(self, key: str, expires_at: float) -> bool:
        return self.remember(key, expires_at)

    def close(self) -> None:
        with self._lock:
            self._entries.clear()
            self._expiries.clear()

    async def aclose(self) -> None:
        self.close()


class RedisReplayStore:
    """Proof ids in Redis, shared by every worker: ``SET rs_guard:dpop:<key> 1 NX PX <ttl>``.

    ``timeout`` is the deadline of one whole ``remember`` (connect, command and the one
    retry of a stale pooled connection), for both drivers: asyncio cancels the exchange
    (``asyncio.wait_for``); threads run it in one of :attr:`workers` daemon threads and
    stop waiting (:mod:`rs_guard.deadline`). Past it the proof is refused (503).
    """

    prefix = "rs_guard:dpop:"
    #: Sync exchanges under way at once (the ones left behind by a deadline included).
    workers = 8

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
        self._episode = _Episode("the DPoP replay store (Redis)")
        self._runner = DeadlineRunner("rs_guard-redis", self.workers)

    def _ttl_ms(self, expires_at: float) -> int:
        return max(1000, math.ceil((expires_at - self.clock()) * 1000))

    def _client(self) -> Any:
        if self._sync is None:
            import redis

            with self._lock:
                if self._sync is None:
                    from redis.backoff import NoBackoff
                    from redis.retry import Retry

                    self._sync = redis.Redis.from_url(
                        self.url,
                        socket_timeout=self.timeout,
                        socket_connect_timeout=self.timeout,
                        retry=Retry(NoBackoff(), 1),  # one retry (a stale pooled socket)
                    )
        return self._sync

    def _aclient(self) -> Any:
        if self._async is None:
            import redis.asyncio
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            self._async = redis.asyncio.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 1),
            )
        return self._async

    def _unavailable(self, exc: BaseException) -> ReplayStoreUnavailable:
        with self._lock:
            self._episode.refusing(
                "the DPoP replay store (Redis) cannot be reached: %s", type(exc).__name__
            )
        return ReplayStoreUnavailable(
            "the DPoP replay store cannot be reached", retry_after=5, reason="replay_store_down"
        )

    def _answered(self, done: Any) -> bool:
        if self._episode.refused:
            with self._lock:
                self._episode.recovered()
        return bool(done)

    def remember(self, key: str, expires_at: float) -> bool:
        import redis

        client, ttl = self._client(), self._ttl_ms(expires_at)
        try:
            # One deadline on the whole exchange (connect, retry, answer).
            done = self._runner.call(
                lambda: client.set(self.prefix + key, b"1", nx=True, px=ttl), self.timeout
            )
        except (redis.RedisError, OSError) as exc:  # DeadlinePassed is a TimeoutError
            raise self._unavailable(exc) from None
        return self._answered(done)

    async def aremember(self, key: str, expires_at: float) -> bool:
        import redis

        try:
            # One deadline on the whole exchange (connect, retry, answer).
            done = await asyncio.wait_for(
                self._aclient().set(self.prefix + key, b"1", nx=True, px=self._ttl_ms(expires_at)),
                timeout=self.timeout,
            )
        except (redis.RedisError, OSError, asyncio.TimeoutError) as exc:
            raise self._unavailable(exc) from None
        return self._answered(done)

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
