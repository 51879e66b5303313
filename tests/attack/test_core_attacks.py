"""Attacks on the core: a bound token verified alone, step-up and RAR type confusion,
tooling variables read as settings."""

from __future__ import annotations

import logging

import pytest

from rs_guard import AsyncGuard, Guard, InvalidToken
from rs_guard.config import ProofOfPossession
from rs_guard.errors import InsufficientScope, InsufficientUserAuthentication
from rs_guard.loaders import settings_from_env
from rs_guard.rar import details
from rs_guard.requirements import Timing
from rs_guard.stepup import step_up
from rs_guard.testing import TokenIssuer
from rs_guard.token import AccessToken

JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


# -- Guard.verify: a bound token has no request to prove possession against ------------


@pytest.mark.parametrize("cnf", [{"jkt": JKT}, {"x5t#S256": JKT}, {"other": "x"}])
def test_verify_refuses_a_bound_token_as_bearer(issuer: TokenIssuer, clock, cnf) -> None:
    """RFC 9449 §7.2 / RFC 8705 §3: a caller of verify() uses the token as a bearer token;
    a sender-constrained token must not come back from it as if it were one."""
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    token = issuer.mint(scopes=["read:a"], cnf=cnf)
    with pytest.raises(InvalidToken) as info:
        guard.verify(token)
    assert (info.value.status_code, info.value.error, info.value.reason) == (
        401,
        "invalid_token",
        "unchecked_binding",
    )
    # once more, from the token cache (the first call verified and cached it)
    with pytest.raises(InvalidToken):
        guard.verify(token)
    # the caller who checks the proof itself says so
    verified = guard.verify(token, binding_checked=True)
    assert (verified.subject, dict(verified.cnf or {})) == ("auth0|user-1", cnf)


def test_verify_refuses_unbound_when_the_api_requires_binding(issuer: TokenIssuer, clock) -> None:
    config = issuer.config(proof_of_possession=ProofOfPossession("dpop", required=True))
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    token = issuer.mint(scopes=["read:a"])
    with pytest.raises(InvalidToken) as info:
        guard.verify(token)
    assert info.value.reason == "binding_required"
    verified = guard.verify(token, binding_checked=True)
    assert verified.scopes == {"read:a"}


@pytest.mark.anyio
async def test_async_verify_refuses_a_bound_token(issuer: TokenIssuer, clock) -> None:
    guard = AsyncGuard(issuer.config(), transport=issuer.transport(), clock=clock)
    token = issuer.mint(cnf={"jkt": JKT})
    try:
        with pytest.raises(InvalidToken) as info:
            await guard.verify(token)
        assert info.value.reason == "unchecked_binding"
        assert (await guard.verify(token, binding_checked=True)).subject == "auth0|user-1"
    finally:
        await guard.aclose()


# -- step-up: auth_time that is no NumericDate ----------------------------------------


@pytest.mark.parametrize("auth_time", [10**400, -(10**400), "1800000000", True, None])
def test_step_up_refuses_auth_time_that_is_no_numeric_date(
    issuer: TokenIssuer, clock, auth_time
) -> None:
    """RFC 9470 §6.1 / RFC 7519 §2: auth_time is a finite NumericDate. An integer of
    hundreds of digits must be a refusal (not an OverflowError, a 500), an infinite one
    never "recent"."""
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    token = guard.verify(issuer.mint(claims={"auth_time": auth_time}))
    requirement = step_up(max_age=300)
    with pytest.raises(InsufficientUserAuthentication) as info:
        requirement.check_at(token, Timing(clock, 10))
    assert (info.value.status_code, info.value.error) == (401, "insufficient_user_authentication")
    assert "auth_time" in info.value.description


def test_step_up_refuses_an_auth_time_in_the_future(issuer: TokenIssuer, clock) -> None:
    """An authentication event later than now (beyond the leeway) would meet any max_age
    for the token's whole life."""
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    requirement = step_up(max_age=300)
    late = guard.verify(issuer.mint(claims={"auth_time": clock() + 3600}))
    with pytest.raises(InsufficientUserAuthentication) as info:
        requirement.check_at(late, Timing(clock, 10))
    assert info.value.description == "the token's auth_time is in the future"
    within_leeway = guard.verify(issuer.mint(claims={"auth_time": clock() + 5}))
    requirement.check_at(within_leeway, Timing(clock, 10))


# -- RAR: true is not 1, inside arrays and objects too --------------------------------


@pytest.mark.parametrize(
    ("required", "granted"),
    [
        ({"limits": [1]}, {"limits": [True]}),
        ({"limits": [True]}, {"limits": [1]}),
        ({"account": {"id": 1}}, {"account": {"id": True}}),
        ({"account": {"id": True}}, {"account": {"id": 1}}),
        ({"level": 1.0}, {"level": True}),
        ({"nested": [[1]]}, {"nested": [[True]]}),
    ],
)
def test_rar_does_not_take_true_for_one(issuer: TokenIssuer, clock, required, granted) -> None:
    """RFC 9396 §2: field values are JSON; JSON true is not the number 1 (RFC 8259 §3)."""
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    entry = {"type": "payment_initiation", **granted}
    token = guard.verify(issuer.mint(claims={"authorization_details": [entry]}))
    with pytest.raises(InsufficientScope) as info:
        details("payment_initiation", **required)(token)
    assert (info.value.status_code, info.value.error) == (403, "insufficient_scope")


def test_rar_still_matches_equal_values(issuer: TokenIssuer, clock) -> None:
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    entry = {"type": "t", "limits": [1, True], "account": {"id": 1, "tags": ["a"]}, "n": 2}
    token: AccessToken = guard.verify(issuer.mint(claims={"authorization_details": [entry]}))
    details("t", limits=[True, 1], account={"id": 1, "tags": ["a"]}, n=2.0)(token)


# -- our own tooling's RS_GUARD_* variables are not settings --------------------------


def test_tooling_variables_are_not_reported_as_misspelt_settings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {
        "RS_GUARD_VENV": "/opt/venv",
        "RS_GUARD_BENCH_APP": "flask",
        "RS_GUARD_BENCH_TOKEN": "x",
        "RS_GUARD_LEWAY": "5",
    }
    with caplog.at_level(logging.WARNING, logger="rs_guard"):
        settings_from_env(env)
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        "rs_guard settings: RS_GUARD_LEWAY is not an rs_guard setting; "
        "did you mean RS_GUARD_LEEWAY?"
    ]
