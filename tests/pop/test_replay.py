"""DPoP proof-id stores: in memory (bounded, expiring, thread-safe) and a real Redis."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rs_guard import AsyncGuard, Guard
from rs_guard.binding.replay import MemoryReplayStore, RedisReplayStore, make_replay_store
from rs_guard.config import ProofOfPossession
from rs_guard.errors import InvalidDPoPProof, KeysUnavailable
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import DPoPKey

from ._support import URL, free_port, request


def dpop_request(token: str, proof: str) -> Any:
    return request(token, scheme="DPoP", headers=[("DPoP", proof)])


class TestMemoryStore:
    def test_remembers_until_expiry(self, clock: Any) -> None:
        store = MemoryReplayStore(clock=clock)
        assert store.remember("a", clock() + 10)
        assert not store.remember("a", clock() + 10)
        clock.advance(10)
        assert store.remember("a", clock() + 10)

    def test_expired_entries_are_dropped(self, clock: Any) -> None:
        store = MemoryReplayStore(clock=clock)
        for i in range(100):
            store.remember(f"k{i}", clock() + 5)
        clock.advance(6)
        store.remember("new", clock() + 5)
        assert len(store) == 1

    def test_bounded(self, clock: Any, caplog: pytest.LogCaptureFixture) -> None:
        store = MemoryReplayStore(maxsize=3, clock=clock)
        for key in "abcd":
            assert store.remember(key, clock() + 60)
        assert len(store) == 3
        assert "full" in caplog.text
        assert not store.remember("d", clock() + 60)
        assert store.remember("a", clock() + 60)  # the oldest was dropped

    def test_thread_safe(self) -> None:
        store = MemoryReplayStore()
        results: list[bool] = []
        barrier = threading.Barrier(8)

        def worker() -> None:
            barrier.wait()
            for i in range(200):
                results.append(store.remember(f"k{i}", time.time() + 60))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results.count(True) == 200

    def test_default_store_of_a_guard(self, issuer: TokenIssuer) -> None:
        guard = Guard(issuer.config(), transport=issuer.transport())
        assert isinstance(guard.replay_store, MemoryReplayStore)
        guard.close()

    def test_invalid_size(self) -> None:
        with pytest.raises(ValueError, match="maxsize"):
            MemoryReplayStore(maxsize=0)


# -- Redis ----------------------------------------------------------------------------------


def redis_guard(issuer: TokenIssuer, clock: Any, redis_url: str, cls: Any = Guard) -> Any:
    config = issuer.config(proof_of_possession=ProofOfPossession("dpop"), replay_store=redis_url)
    return cls(config, clock=clock, transport=issuer.transport())


@pytest.mark.slow
class TestRedisStore:
    def test_store_set_nx_with_expiry(self, redis_url: str) -> None:
        now = [time.time()]
        store = RedisReplayStore(redis_url, clock=lambda: now[0])
        key = f"test-{time.time_ns()}"
        assert store.remember(key, now[0] + 1)
        assert not store.remember(key, now[0] + 1)
        ttl = store._client().pttl(store.prefix + key)
        assert 0 < ttl <= 1000
        store.close()

    def test_made_from_settings(self, redis_url: str) -> None:
        assert isinstance(make_replay_store(redis_url), RedisReplayStore)

    def test_replay_to_another_guard_is_refused(
        self, issuer: TokenIssuer, clock: Any, redis_url: str
    ) -> None:
        clock.now = time.time()
        key = DPoPKey(clock=clock)
        one, two = (redis_guard(issuer, clock, redis_url) for _ in range(2))
        try:
            assert isinstance(one.replay_store, RedisReplayStore)
            token = issuer.mint(cnf=key.cnf)
            proof = key.proof("GET", URL, access_token=token)
            assert one.authenticate(dpop_request(token, proof))
            with pytest.raises(InvalidDPoPProof, match="already used"):
                two.authenticate(dpop_request(token, proof))
            fresh = key.proof("GET", URL, access_token=token)
            assert two.authenticate(dpop_request(token, fresh))
        finally:
            one.close()
            two.close()

    @pytest.mark.anyio
    async def test_async_and_sync_guards_share_it(
        self, issuer: TokenIssuer, clock: Any, redis_url: str
    ) -> None:
        clock.now = time.time()
        key = DPoPKey(clock=clock)
        sync_guard = redis_guard(issuer, clock, redis_url)
        async_guard = redis_guard(issuer, clock, redis_url, AsyncGuard)
        try:
            token = issuer.mint(cnf=key.cnf)
            proof = key.proof("GET", URL, access_token=token)
            assert await async_guard.authenticate(dpop_request(token, proof))
            with pytest.raises(InvalidDPoPProof, match="already used"):
                sync_guard.authenticate(dpop_request(token, proof))
            with pytest.raises(InvalidDPoPProof, match="already used"):
                await async_guard.authenticate(dpop_request(token, proof))
        finally:
            sync_guard.close()
            await async_guard.aclose()

    def test_unreachable_redis_is_a_server_fault(self, issuer: TokenIssuer, clock: Any) -> None:
        clock.now = time.time()
        url = f"redis://127.0.0.1:{free_port()}/0"
        guard = redis_guard(issuer, clock, url)
        key = DPoPKey(clock=clock)
        token = issuer.mint(cnf=key.cnf)
        try:
            with pytest.raises(KeysUnavailable) as info:
                guard.authenticate(dpop_request(token, key.proof("GET", URL, access_token=token)))
            assert info.value.status_code == 503
            assert info.value.reason == "replay_store_down"
        finally:
            guard.close()
