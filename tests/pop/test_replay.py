"""DPoP proof-id stores: in memory (bounded, expiring, thread-safe) and a real Redis."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest

from rs_guard import AsyncGuard, Guard
from rs_guard.binding.replay import MemoryReplayStore, RedisReplayStore, make_replay_store
from rs_guard.config import ProofOfPossession
from rs_guard.errors import InvalidDPoPProof, ReplayStoreUnavailable, render_error
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

    def test_full_store_refuses_and_forgets_nothing(
        self, clock: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        store = MemoryReplayStore(maxsize=3, clock=clock)
        for key, ttl in zip("abc", (60, 30, 45), strict=True):
            assert store.remember(key, clock() + ttl) is True
        with pytest.raises(ReplayStoreUnavailable) as info:
            store.remember("d", clock() + 60)
        assert info.value.status_code == 503
        assert info.value.retry_after == 30  # when the first id ("b") expires
        assert info.value.reason == "replay_store_full"
        assert len(store) == 3
        for key in "abc":  # nothing was forgotten
            assert store.remember(key, clock() + 60) is False
        clock.advance(30)
        assert store.remember("d", clock() + 60) is True  # "b" expired and left
        with pytest.raises(ReplayStoreUnavailable) as info:
            store.remember("e", clock() + 60)
        assert info.value.retry_after == 15  # "c" expires at +45
        assert len(store) == 3

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


def replay_refusal_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "rs_guard.replay" and r.levelno >= logging.WARNING
    ]


class TestFullStoreThroughTheGuard:
    """Issue 11.2: filling the store with fresh proofs must never open a replay window."""

    def test_captured_proof_stays_refused_and_new_proofs_get_503(
        self, make_guard: Any, issuer: TokenIssuer, clock: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="rs_guard.replay")
        store = MemoryReplayStore(maxsize=5, clock=clock)
        guard = make_guard("dpop", replay_store=store)
        key = DPoPKey(clock=clock)
        token = issuer.mint(scopes=["read:a"], cnf=key.cnf)
        captured = key.proof("GET", URL, access_token=token)
        verified = guard.authenticate(dpop_request(token, captured))
        assert verified.subject == "auth0|user-1"
        for _ in range(4):  # an attacker with its own bound token fills the store
            fresh = key.proof("GET", URL, access_token=token)
            verified = guard.authenticate(dpop_request(token, fresh))
            assert verified.scopes == {"read:a"}
        assert len(store) == 5

        with pytest.raises(InvalidDPoPProof, match="already used"):
            guard.authenticate(dpop_request(token, captured))
        for _ in range(3):
            with pytest.raises(ReplayStoreUnavailable) as info:
                guard.authenticate(dpop_request(token, key.proof("GET", URL, access_token=token)))
            status, headers, body = render_error(info.value, guard.challenge)
            assert status == 503
            assert dict(headers)["retry-after"] == "61"  # iat + max_age (60 s) + 1 s
            assert "www-authenticate" not in dict(headers)
            assert json.loads(body) == {
                "error": "temporarily_unavailable",
                "error_description": "too many DPoP proofs are being checked; try again later",
            }
        with pytest.raises(InvalidDPoPProof, match="already used"):  # still remembered
            guard.authenticate(dpop_request(token, captured))
        logs = replay_refusal_logs(caplog)
        assert len(logs) == 1  # one episode, one line (not one per refused request)
        assert "full (5 unexpired proof ids)" in logs[0]

        clock.advance(61)  # every id expires: the episode ends, the captured proof too old
        after = key.proof("GET", URL, access_token=token)
        verified = guard.authenticate(dpop_request(token, after))
        assert verified.subject == "auth0|user-1"
        logs = replay_refusal_logs(caplog)
        assert len(logs) == 2
        assert "recovered after refusing 3 DPoP proof(s)" in logs[1]
        with pytest.raises(InvalidDPoPProof, match="too old"):
            guard.authenticate(dpop_request(token, captured))

    @pytest.mark.anyio
    async def test_async_guard_refuses_the_same_way(self, issuer: TokenIssuer, clock: Any) -> None:
        store = MemoryReplayStore(maxsize=1, clock=clock)
        config = issuer.config(proof_of_possession=ProofOfPossession("dpop"))
        guard = AsyncGuard(config, clock=clock, transport=issuer.transport(), replay_store=store)
        key = DPoPKey(clock=clock)
        token = issuer.mint(cnf=key.cnf)
        captured = key.proof("GET", URL, access_token=token)
        try:
            assert (await guard.authenticate(dpop_request(token, captured))).cnf == key.cnf
            with pytest.raises(InvalidDPoPProof, match="already used"):
                await guard.authenticate(dpop_request(token, captured))
            with pytest.raises(ReplayStoreUnavailable) as info:
                await guard.authenticate(
                    dpop_request(token, key.proof("GET", URL, access_token=token))
                )
            assert info.value.retry_after == 61
        finally:
            await guard.aclose()


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
            verified = one.authenticate(dpop_request(token, proof))
            assert verified.subject == "auth0|user-1"
            with pytest.raises(InvalidDPoPProof, match="already used"):
                two.authenticate(dpop_request(token, proof))
            fresh = key.proof("GET", URL, access_token=token)
            verified = two.authenticate(dpop_request(token, fresh))
            assert verified.subject == "auth0|user-1"
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
            verified = await async_guard.authenticate(dpop_request(token, proof))
            assert verified.subject == "auth0|user-1"
            with pytest.raises(InvalidDPoPProof, match="already used"):
                sync_guard.authenticate(dpop_request(token, proof))
            with pytest.raises(InvalidDPoPProof, match="already used"):
                await async_guard.authenticate(dpop_request(token, proof))
        finally:
            sync_guard.close()
            await async_guard.aclose()

    def test_unreachable_redis_is_a_server_fault(
        self, issuer: TokenIssuer, clock: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        clock.now = time.time()
        url = f"redis://127.0.0.1:{free_port()}/0"
        guard = redis_guard(issuer, clock, url)
        key = DPoPKey(clock=clock)
        token = issuer.mint(cnf=key.cnf)
        try:
            for _ in range(3):
                with pytest.raises(ReplayStoreUnavailable) as info:
                    guard.authenticate(
                        dpop_request(token, key.proof("GET", URL, access_token=token))
                    )
                status, headers, _ = render_error(info.value, guard.challenge)
                assert status == 503
                assert dict(headers)["retry-after"] == "5"
                assert "www-authenticate" not in dict(headers)
                assert info.value.reason == "replay_store_down"
            logs = replay_refusal_logs(caplog)
            assert len(logs) == 1
            assert "cannot be reached: ConnectionError" in logs[0]
        finally:
            guard.close()

    @pytest.mark.anyio
    async def test_unreachable_redis_refuses_async_too(
        self, issuer: TokenIssuer, clock: Any
    ) -> None:
        clock.now = time.time()
        url = f"redis://127.0.0.1:{free_port()}/0"
        guard = redis_guard(issuer, clock, url, AsyncGuard)
        key = DPoPKey(clock=clock)
        token = issuer.mint(cnf=key.cnf)
        try:
            with pytest.raises(ReplayStoreUnavailable) as info:
                await guard.authenticate(
                    dpop_request(token, key.proof("GET", URL, access_token=token))
                )
            assert info.value.status_code == 503
            assert info.value.reason == "replay_store_down"
        finally:
            await guard.aclose()
