"""The memo of header segments (rs_guard/_header_memo.py): bounded, filled only by tokens
whose signature was checked, and never a way around a rule or the key lookup."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rs_guard import Guard, RSGuardError, render_error
from rs_guard._header_memo import MAX_HEADERS, HeaderMemo
from rs_guard._jose import b64url_encode
from rs_guard.diagnose import explain
from rs_guard.guard import KeyWanted
from rs_guard.testing import TokenIssuer


@pytest.fixture
def guard(issuer: TokenIssuer, clock: Any) -> Iterator[Guard]:
    guard = Guard(issuer.config(token_cache_size=0), transport=issuer.transport(), clock=clock)
    yield guard
    guard.close()


@pytest.fixture
def rotating(clock: Any) -> Iterator[tuple[Guard, TokenIssuer]]:
    """An issuer of its own (its keys rotate), and a guard without token cache."""
    issuer = TokenIssuer(clock=clock)
    guard = Guard(issuer.config(token_cache_size=0), transport=issuer.transport(), clock=clock)
    yield guard, issuer
    guard.close()


def answer(guard: Guard, token: str) -> tuple[Any, ...]:
    """The subject of the verified token, or the exact refusal (status, error, challenge)."""
    try:
        verified = guard.verify(token)
    except RSGuardError as exc:
        status, headers, _ = render_error(exc, guard.challenge)
        return ("refused", status, exc.error, exc.description, dict(headers)["www-authenticate"])
    return ("accepted", verified.subject, verified.kid, dict(verified.header))


def forged(token: str) -> str:
    """The token with another signature (of the right length)."""
    head, body, _ = token.split(".")
    return f"{head}.{body}.{b64url_encode(b'x' * 256)}"


def segment(token: str) -> bytes:
    return token.split(".")[0].encode()


def test_a_verified_token_s_header_is_remembered_and_reused(
    guard: Guard, issuer: TokenIssuer
) -> None:
    first, second = issuer.mint(subject="a"), issuer.mint(subject="b")
    assert segment(first) == segment(second)
    guard.verify(first)
    memo = guard.policy._headers
    assert list(memo) == [segment(first)]
    unverified = guard.policy.precheck(second, issuer.clock())
    assert unverified.header is memo[segment(first)]
    assert answer(guard, second)[:3] == ("accepted", "b", issuer.current.kid)


def test_a_header_is_never_remembered_before_its_signature_is_checked(
    guard: Guard, issuer: TokenIssuer
) -> None:
    # The header passes every header rule; the signature does not.
    bad = forged(issuer.mint())
    assert answer(guard, bad)[1:3] == (401, "invalid_token")
    # A header that fails a rule, and one whose claims fail.
    assert answer(guard, issuer.mint(headers={"crit": ["b64"]}))[1:3] == (401, "invalid_token")
    assert answer(guard, issuer.mint(claims={"iss": "https://other.test/"}))[1:3] == (
        401,
        "invalid_token",
    )
    assert len(guard.policy._headers) == 0


def test_a_remembered_header_still_passes_the_rest_of_the_check(
    guard: Guard, issuer: TokenIssuer
) -> None:
    good = issuer.mint()
    guard.verify(good)
    assert len(guard.policy._headers) == 1
    fresh = Guard(
        issuer.config(token_cache_size=0), transport=issuer.transport(), clock=guard.clock
    )
    try:
        for token in (
            forged(issuer.mint()),
            issuer.mint(claims={"aud": "https://other.test"}),
            issuer.mint(claims={"exp": issuer.clock() - 3600}),
            issuer.mint(claims={"sub": 7}),
            issuer.mint(drop=["sub"]),
            good,
        ):
            # same header segment: the memo is used, and the answer is the memo-less one
            assert segment(token) == segment(good)
            assert answer(guard, token) == answer(fresh, token)
            fresh.policy._headers.clear()
    finally:
        fresh.close()


def test_a_remembered_header_still_asks_for_the_key_its_kid_names(
    rotating: tuple[Guard, TokenIssuer],
) -> None:
    guard, issuer = rotating
    old = issuer.mint()
    guard.verify(old)
    # The same header segment, asking the flow for the key again: by issuer and kid.
    flow = guard.verification_flow(issuer.mint())
    assert next(flow) == KeyWanted(issuer.issuer, issuer.current.kid)
    flow.close()
    # Once that key is gone from the key set, a token naming it is refused.
    old_kid = issuer.current.kid
    issuer.rotate(keep_old=False)
    guard.jwks[issuer.issuer].refresh()
    assert guard.jwks[issuer.issuer].state.holds_kid(old_kid) is False
    refused = answer(guard, old)
    fresh = Guard(
        issuer.config(token_cache_size=0), transport=issuer.transport(), clock=guard.clock
    )
    try:
        fresh.jwks[issuer.issuer].refresh()
        assert refused == answer(fresh, old)
        assert refused[:3] == ("refused", 401, "invalid_token")
    finally:
        fresh.close()


def test_the_memo_is_bounded_and_forgets_the_oldest_first() -> None:
    memo = HeaderMemo()
    segments = [f"seg{i}".encode() for i in range(MAX_HEADERS + 10)]
    for name in segments:
        memo.remember(name, {"alg": "RS256"})
    assert len(memo) == MAX_HEADERS
    assert list(memo) == segments[10:]
    memo.remember(b"x" * 600, {"alg": "RS256"})  # beyond any real header: not kept
    memo.remember(b"", {"alg": "RS256"})
    assert b"x" * 600 not in memo
    assert b"" not in memo
    assert len(memo) == MAX_HEADERS


def test_signed_headers_with_many_kids_stay_within_the_bound(
    rotating: tuple[Guard, TokenIssuer],
) -> None:
    guard, issuer = rotating
    # Each rotation is a new signed header: the memo keeps at most MAX_HEADERS of them.
    for _ in range(3):
        issuer.rotate()
        guard.jwks[issuer.issuer].refresh()
        guard.verify(issuer.mint())
    assert len(guard.policy._headers) == 3
    for number in range(MAX_HEADERS + 5):
        guard.policy._headers.remember(f"k{number}".encode(), {})
    assert len(guard.policy._headers) == MAX_HEADERS


def test_diagnose_runs_every_rule_on_a_remembered_header(guard: Guard, issuer: TokenIssuer) -> None:
    guard.verify(issuer.mint())
    bad = issuer.mint(claims={"aud": "https://other.test"})
    assert segment(bad) in guard.policy._headers
    result = explain(bad, guard.config, clock=issuer.clock, guard=guard)
    statuses = {check.name: check.status for check in result.checks}
    for rule in guard.policy.checks:
        assert rule.name in statuses
    assert [statuses[name] for name in ("alg", "typ", "header", "kid")] == ["pass"] * 4
    assert statuses["aud"] == "fail"
    assert result.accepted is False
