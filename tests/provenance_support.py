"""What the provenance tests share (every adapter, Django included): two APIs A and B
on one issuer, and the tokens that reach one or both."""

from __future__ import annotations

from rs_guard.testing import TokenIssuer

#: API B's audience; API A has the issuer's default audience.
B_AUDIENCE = "https://b.rs-guard.test"
WRONG_AUDIENCE = (
    'Bearer error="invalid_token", error_description="the token is meant for another audience"'
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def for_a(issuer: TokenIssuer) -> str:
    """A token for API A only (the issuer's default audience)."""
    return issuer.mint(subject="auth0|a-user")


def for_both(issuer: TokenIssuer) -> str:
    """A token whose audience holds both APIs: it passes A and B."""
    return issuer.mint(subject="auth0|b-user", claims={"aud": [issuer.audience, B_AUDIENCE]})
