"""The verified-token cache: exact-token key, exp-aware, bounded, per-key invalidation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rs_guard import Guard, InvalidToken
from rs_guard.keys import KeyChange
from rs_guard.testing import TokenIssuer
from rs_guard.token import AccessToken
from rs_guard.token_cache import VerifiedTokenCache


@pytest.fixture
def guard(issuer: TokenIssuer, clock: Any) -> Iterator[Guard]:
    g = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    yield g
    g.close()


def test_a_hit_returns_the_same_token(issuer: TokenIssuer, guard: Guard) -> None:
    raw = issuer.mint(scopes=["read:a"])
    first = guard.verify(raw)
    verified = guard.verify(raw)
    assert verified is first
    assert len(guard.token_cache) == 1


def test_exp_is_checked_again_on_a_hit(issuer: TokenIssuer, guard: Guard, clock: Any) -> None:
    raw = issuer.mint(expires_in=60)
    verified = guard.verify(raw)
    assert verified.subject == "auth0|user-1"
    clock.advance(60 + guard.config.leeway - 0.01)
    verified = guard.verify(raw)
    assert verified.subject == "auth0|user-1"
    clock.advance(0.01)
    with pytest.raises(InvalidToken) as caught:
        guard.verify(raw)
    assert caught.value.reason == "expired"
    assert len(guard.token_cache) == 0


def test_nbf_is_checked_again_on_a_hit(issuer: TokenIssuer, guard: Guard, clock: Any) -> None:
    raw = issuer.mint(claims={"nbf": clock.now})
    verified = guard.verify(raw)
    assert verified.subject == "auth0|user-1"
    clock.advance(-(guard.config.leeway + 1))  # a clock stepped back
    with pytest.raises(InvalidToken) as caught:
        guard.verify(raw)
    assert caught.value.reason == "not_yet_valid"


def test_the_key_is_the_exact_token(issuer: TokenIssuer, guard: Guard) -> None:
    raw = issuer.mint()
    verified = guard.verify(raw)
    assert verified.subject == "auth0|user-1"
    signature = raw.split(".")[2]
    other = issuer.mint(scopes=["admin"])
    forged = ".".join([*other.split(".")[:2], signature])
    with pytest.raises(InvalidToken) as caught:
        guard.verify(forged)
    assert caught.value.reason == "bad_signature"


def test_cache_off_with_size_zero(issuer: TokenIssuer, clock: Any) -> None:
    guard = Guard(issuer.config(token_cache_size=0), transport=issuer.transport(), clock=clock)
    raw = issuer.mint()
    first = guard.verify(raw)
    second = guard.verify(raw)
    assert first is not second
    assert first == second
    assert len(guard.token_cache) == 0


def test_bounded_in_entries(issuer: TokenIssuer, clock: Any) -> None:
    guard = Guard(issuer.config(token_cache_size=3), transport=issuer.transport(), clock=clock)
    tokens = [issuer.mint(subject=f"u{i}") for i in range(5)]
    verified = [guard.verify(t) for t in tokens]
    assert len(guard.token_cache) == 3
    assert guard.token_cache.get(tokens[0]) is None  # the oldest went first
    assert guard.token_cache.get(tokens[4]) is verified[4]


def token_of(issuer: TokenIssuer, guard: Guard, **kwargs: Any) -> AccessToken:
    return guard.verify(issuer.mint(**kwargs))


def test_bounded_in_bytes(issuer: TokenIssuer, clock: Any) -> None:
    uncached = Guard(issuer.config(token_cache_size=0), transport=issuer.transport(), clock=clock)
    tokens = [token_of(issuer, uncached, claims={"pad": "x" * 3000}) for _ in range(6)]
    cache = VerifiedTokenCache(maxsize=100, max_bytes=20_000, clock=clock)
    for token in tokens:
        cache.put(token)
    per_entry = len(tokens[0].raw) * 2 + 512
    assert len(cache) == 20_000 // per_entry
    assert cache.get(tokens[-1].raw) is tokens[-1]
    assert cache.get(tokens[0].raw) is None


def test_a_token_larger_than_the_byte_budget_is_not_kept(
    issuer: TokenIssuer, guard: Guard, clock: Any
) -> None:
    token = token_of(issuer, guard, claims={"pad": "x" * 3000})
    cache = VerifiedTokenCache(maxsize=100, max_bytes=1024, clock=clock)
    cache.put(token)
    assert len(cache) == 0
    assert cache.get(token.raw) is None


def test_an_entry_never_outlives_exp(issuer: TokenIssuer, guard: Guard, clock: Any) -> None:
    token = token_of(issuer, guard, expires_in=30)
    cache = VerifiedTokenCache(maxsize=10, leeway=0, clock=clock)
    cache.put(token)
    clock.advance(29.9)
    assert cache.get(token.raw) is token
    clock.advance(0.1)
    assert cache.get(token.raw) is None
    assert len(cache) == 0


def test_clear(issuer: TokenIssuer, guard: Guard) -> None:
    raw = issuer.mint()
    guard.verify(raw)
    guard.token_cache.clear()
    assert len(guard.token_cache) == 0
    assert guard.token_cache.get(raw) is None
    verified = guard.verify(raw)
    assert verified.subject == "auth0|user-1"


def test_a_refresh_that_removes_a_key_clears_the_cache(issuer: TokenIssuer, clock: Any) -> None:
    local = TokenIssuer(algorithm="ES256", clock=clock)
    guard = Guard(local.config(), transport=local.transport(), clock=clock)
    raw = local.mint()
    guard.verify(raw)
    local.rotate(keep_old=False)
    clock.advance(guard.config.jwks.ttl)
    guard.verify(local.mint())  # the refresh drops the old key
    assert guard.token_cache.get(raw) is None
    with pytest.raises(InvalidToken):
        guard.verify(raw)


def test_the_cache_never_holds_a_refused_token(issuer: TokenIssuer, guard: Guard) -> None:
    for raw in (issuer.mint(claims={"aud": "other"}), "a.b.c"):
        with pytest.raises(InvalidToken):
            guard.verify(raw)
    assert len(guard.token_cache) == 0


def _change(issuer: TokenIssuer, *kids: str | None) -> KeyChange:
    return KeyChange(issuer.issuer, frozenset(kids))


def test_a_key_change_drops_only_what_that_key_verified(issuer: TokenIssuer, clock: Any) -> None:
    local = TokenIssuer(algorithm="ES256", clock=clock)
    guard = Guard(local.config(), transport=local.transport(), clock=clock)
    second = local.rotate()
    first = local.keys[0]
    by_first, by_second = token_of(local, guard, key=first), token_of(local, guard, key=second)
    cache = VerifiedTokenCache(maxsize=10, clock=clock)
    cache.put(by_first)
    cache.put(by_second)
    cache.forget(_change(local, None))  # the kid-less lookup: neither token used it
    cache.forget(KeyChange("https://other.example/", frozenset({first.kid})))  # another issuer
    assert cache.get(by_first.raw) is by_first
    cache.forget(_change(local, first.kid))
    assert cache.get(by_first.raw) is None
    assert cache.get(by_second.raw) is by_second
    assert len(cache) == 1
    guard.close()


def test_a_kid_less_token_is_dropped_with_the_kid_less_lookup(
    issuer: TokenIssuer, guard: Guard, clock: Any
) -> None:
    token = token_of(issuer, guard)
    kid_less = token._replace(header={"alg": "RS256"}, raw=token.raw + "x")
    cache = VerifiedTokenCache(maxsize=10, clock=clock)
    cache.put(token)
    cache.put(kid_less)
    cache.forget(_change(issuer, None))
    assert cache.get(kid_less.raw) is None
    assert cache.get(token.raw) is token


def test_a_token_verified_across_a_key_change_is_not_stored(
    issuer: TokenIssuer, guard: Guard, clock: Any
) -> None:
    token = token_of(issuer, guard)
    cache = VerifiedTokenCache(maxsize=10, clock=clock)
    assert cache.get(token.raw) is None  # the miss: its key is looked up now ...
    cache.forget(_change(issuer, "some-other-kid"))  # ... a refresh lands meanwhile ...
    cache.put(token)  # ... so the result, verified by what may be old material, is not kept
    assert len(cache) == 0
    assert cache.get(token.raw) is None
    assert cache.get(token.raw) is None  # looked up again after the change ...
    cache.put(token)  # ... kept
    assert cache.get(token.raw) is token
