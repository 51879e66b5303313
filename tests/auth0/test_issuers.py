"""Several issuers (each with its own keys and key URL) and several audiences in one Guard."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from rs_guard import AsyncGuard, Guard, InvalidToken
from rs_guard.loaders import load_config
from rs_guard.testing import JWKSServer, TokenIssuer

A = "https://tenant-a.rs-guard.test/"
B = "https://login.example.com/"  # a custom domain, its keys at another URL
B_KEYS = "https://keys.example.com/b/jwks.json"
AUDIENCE = "https://api.rs-guard.test"


class TwoIssuers:
    """Serves A's keys at A's default URL and B's at B_KEYS; records every URL asked."""

    def __init__(self, clock: Any) -> None:
        self.a = TokenIssuer(issuer=A, audience=AUDIENCE, clock=clock)
        self.b = TokenIssuer(issuer=B, audience=AUDIENCE, clock=clock)
        self.fetched: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.fetched.append(url)
        if url == self.a.jwks_uri:
            return httpx.Response(200, json=self.a.jwks())
        if url == B_KEYS:
            return httpx.Response(200, json=self.b.jwks())
        return httpx.Response(404)

    def config(self, **overrides: Any) -> Any:
        return self.a.config(additional_issuers=(B,), issuer_jwks_uris={B: B_KEYS}, **overrides)

    def guard(self, clock: Any, **overrides: Any) -> Guard:
        return Guard(
            self.config(**overrides), transport=httpx.MockTransport(self.handle), clock=clock
        )


@pytest.fixture(scope="module")
def _issuers() -> TwoIssuers:
    return TwoIssuers(clock=lambda: 0.0)


@pytest.fixture
def two(_issuers: TwoIssuers, clock: Any) -> TwoIssuers:
    _issuers.a.clock = _issuers.b.clock = clock
    _issuers.fetched = []
    return _issuers


def test_tokens_of_both_issuers_are_accepted(two: TwoIssuers, clock: Any) -> None:
    guard = two.guard(clock)
    assert set(guard.key_sets) == {A, B}
    from_a = guard.verify(two.a.mint(scopes=["a"]))
    from_b = guard.verify(two.b.mint(scopes=["b"]))
    assert (from_a.issuer, from_a.scopes) == (A, {"a"})
    assert (from_b.issuer, from_b.scopes) == (B, {"b"})
    # Each issuer's keys come from its own URL, once.
    assert sorted(two.fetched) == sorted([two.a.jwks_uri, B_KEYS])
    assert guard.key_sets[A].requests_sent == 1
    assert guard.key_sets[B].requests_sent == 1


def test_unconfigured_issuer_is_refused_without_any_fetch(two: TwoIssuers, clock: Any) -> None:
    guard = two.guard(clock)
    stranger = TokenIssuer(issuer="https://evil.test/", audience=AUDIENCE, clock=clock)
    for token in (
        stranger.mint(),
        two.a.mint(claims={"iss": "https://evil.test/"}),
        two.a.mint(claims={"iss": A.rstrip("/")}),  # compared exactly: no trailing slash
        two.a.mint(claims={"iss": ["https://tenant-a.rs-guard.test/"]}),
    ):
        with pytest.raises(InvalidToken) as caught:
            guard.verify(token)
        assert caught.value.reason in ("wrong_issuer", "invalid_claim")
    assert two.fetched == []


def test_a_key_of_one_issuer_cannot_verify_a_token_claiming_the_other(
    two: TwoIssuers, clock: Any
) -> None:
    guard = two.guard(clock)
    guard.warm()
    two.fetched.clear()
    # Signed by A, claiming B, A's kid: B's keys do not have it.
    forged = two.a.mint(claims={"iss": B})
    with pytest.raises(InvalidToken) as caught:
        guard.verify(forged)
    assert caught.value.reason == "unknown_kid"
    # Signed by A, claiming B, naming B's kid: B's key does not verify A's signature.
    forged = two.a.mint(claims={"iss": B}, headers={"kid": two.b.current.kid})
    with pytest.raises(InvalidToken) as caught:
        guard.verify(forged)
    assert caught.value.reason == "bad_signature"
    # A's key URL was never asked about a token claiming B.
    assert two.a.jwks_uri not in two.fetched


def test_several_audiences(two: TwoIssuers, clock: Any) -> None:
    guard = two.guard(clock, additional_audiences=("https://admin.rs-guard.test",))
    verified = guard.verify(two.a.mint(claims={"aud": "https://admin.rs-guard.test"}))
    assert (verified.issuer, verified.audiences) == (A, ("https://admin.rs-guard.test",))
    verified = guard.verify(two.b.mint(claims={"aud": ["https://x.test", AUDIENCE]}))
    assert (verified.issuer, verified.audiences) == (B, ("https://x.test", AUDIENCE))
    with pytest.raises(InvalidToken) as caught:
        guard.verify(two.a.mint(claims={"aud": ["https://x.test", "https://y.test"]}))
    assert caught.value.reason == "wrong_audience"


def test_async_guard_routes_by_issuer_too(two: TwoIssuers, clock: Any) -> None:
    async def run() -> tuple[str, str]:
        guard = AsyncGuard(two.config(), transport=httpx.MockTransport(two.handle), clock=clock)
        try:
            a = await guard.verify(two.a.mint())
            b = await guard.verify(two.b.mint())
            return a.issuer, b.issuer
        finally:
            await guard.aclose()

    assert asyncio.run(run()) == (A, B)


def test_env_lists_issuers_and_audiences(two: TwoIssuers, clock: Any) -> None:
    config = load_config(
        {
            "RS_GUARD_ISSUER": f"{A}, {B}",
            "RS_GUARD_AUDIENCE": f"{AUDIENCE},https://admin.rs-guard.test",
        },
        issuer_jwks_uris={B: B_KEYS},
    )
    assert config.issuers == (A, B)
    assert config.audiences == (AUDIENCE, "https://admin.rs-guard.test")
    guard = Guard(config, transport=httpx.MockTransport(two.handle), clock=clock)
    verified = guard.verify(two.b.mint(claims={"aud": "https://admin.rs-guard.test"}))
    assert verified.issuer == B


@pytest.mark.slow
def test_two_real_key_servers(clock: Any) -> None:
    """Each issuer's keys from its own loopback HTTP server."""
    issuers: dict[str, TokenIssuer] = {}
    with (
        JWKSServer(lambda: issuers["a"].jwks()) as server_a,
        JWKSServer(lambda: issuers["b"].jwks()) as server_b,
    ):
        issuers["a"] = TokenIssuer(issuer=server_a.base_url, audience=AUDIENCE, clock=clock)
        issuers["b"] = TokenIssuer(issuer=server_b.base_url, audience=AUDIENCE, clock=clock)
        config = issuers["a"].config(additional_issuers=(server_b.base_url,))
        guard = Guard(config, clock=clock)
        try:
            verified = guard.verify(issuers["b"].mint())
            assert verified.issuer == server_b.base_url
            verified = guard.verify(issuers["a"].mint())
            assert verified.issuer == server_a.base_url
            with pytest.raises(InvalidToken):
                guard.verify(issuers["a"].mint(claims={"iss": server_b.base_url}))
        finally:
            guard.close()
        assert server_a.count() == 1
        assert server_b.count() >= 1
