"""token_lifetime is a ceiling on exp - iat; token_lifetime_for_web is not applied blindly."""

from __future__ import annotations

from typing import Any

import pytest

from rs_guard import ConfigError, Guard, InvalidToken
from rs_guard.testing import TokenIssuer


def guard_for(issuer: TokenIssuer, clock: Any, **settings: Any) -> Guard:
    return Guard(issuer.config(**settings), transport=issuer.transport(), clock=clock)


@pytest.mark.parametrize(
    ("lifetime", "accepted"),
    [(3600, True), (3600 + 10, True), (3600 + 11, False), (86400, False), (60, True)],
)
def test_token_lifetime_ceiling(
    issuer: TokenIssuer, clock: Any, lifetime: int, accepted: bool
) -> None:
    guard = guard_for(issuer, clock, token_lifetime=3600, leeway=10)
    token = issuer.mint(expires_in=lifetime)
    if accepted:
        verified = guard.verify(token)
        assert verified.expires_at == clock() + lifetime
    else:
        with pytest.raises(InvalidToken) as caught:
            guard.verify(token)
        assert caught.value.reason == "lifetime_exceeded"
        assert issuer.jwks_requests == 0  # refused before any key is needed


def test_backdated_iat_cannot_hide_a_long_lifetime(issuer: TokenIssuer, clock: Any) -> None:
    guard = guard_for(issuer, clock, token_lifetime=600)
    now = int(clock())
    token = issuer.mint(claims={"iat": now - 3000, "exp": now + 600})
    with pytest.raises(InvalidToken) as caught:
        guard.verify(token)
    assert caught.value.reason == "lifetime_exceeded"


def test_no_ceiling_without_token_lifetime(issuer: TokenIssuer, clock: Any) -> None:
    guard = guard_for(issuer, clock)
    verified = guard.verify(issuer.mint(expires_in=30 * 86400))
    assert verified.subject == "auth0|user-1"


def test_ceiling_needs_iat_which_every_dialect_requires(issuer: TokenIssuer, clock: Any) -> None:
    guard = guard_for(issuer, clock, token_lifetime=600)
    with pytest.raises(InvalidToken) as caught:
        guard.verify(issuer.mint(drop=["iat"]))
    assert caught.value.reason == "missing_claim"


def test_token_lifetime_for_web_is_not_applied_to_indistinguishable_tokens(
    issuer: TokenIssuer, clock: Any
) -> None:
    """Auth0 tokens from the implicit/hybrid flows carry nothing that tells them from an
    authorization-code token (gty appears only for password, refresh_token and
    client-credentials grants), so the smaller web ceiling would refuse valid tokens."""
    guard = guard_for(issuer, clock, token_lifetime=86400, token_lifetime_for_web=7200)
    code_flow_token = issuer.mint(expires_in=86400)
    verified = guard.verify(code_flow_token)
    assert verified.subject == "auth0|user-1"
    refreshed = issuer.mint(expires_in=86400, claims={"gty": "refresh_token"})
    verified = guard.verify(refreshed)
    assert verified.subject == "auth0|user-1"
    # token_lifetime still bounds every token.
    with pytest.raises(InvalidToken):
        guard.verify(issuer.mint(expires_in=86400 * 2))


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"token_lifetime": -1}, "token_lifetime"),
        ({"token_lifetime": 2_592_001}, "token_lifetime"),
        ({"token_lifetime": True}, "token_lifetime"),
        ({"token_lifetime": "3600"}, "token_lifetime"),
        ({"token_lifetime": 600, "token_lifetime_for_web": 7200}, "token_lifetime_for_web"),
    ],
)
def test_bad_lifetimes_are_config_errors(
    issuer: TokenIssuer, settings: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        issuer.config(**settings)
    assert caught.value.field == field
