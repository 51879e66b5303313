"""Verified tokens share what they repeat (issue 13, memory), and nothing else changes."""

from __future__ import annotations

from typing import Any

from rs_guard import Guard
from rs_guard._sharing import Sharing
from rs_guard.testing import TokenIssuer

PERMISSIONS = ["read:a", "write:a", "read:b"]


def mint(issuer: TokenIssuer, subject: str) -> str:
    return issuer.mint(
        subject=subject,
        scopes=["read:a", "write:a"],
        permissions=PERMISSIONS,
        claims={"https://api.example.com/roles": ["reader"]},
    )


def test_two_tokens_share_scopes_permissions_names_and_values(
    issuer: TokenIssuer, clock: Any
) -> None:
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    one, two = guard.verify(mint(issuer, "auth0|1")), guard.verify(mint(issuer, "auth0|2"))
    assert one.scopes == frozenset({"read:a", "write:a"})
    assert one.scopes is two.scopes
    assert one.permissions == frozenset(PERMISSIONS)
    assert one.permissions is two.permissions
    assert dict(one.header) == dict(two.header)
    assert one.claims["iss"] is two.claims["iss"]
    assert one.claims["https://api.example.com/roles"] == ["reader"]
    assert (
        one.claims["https://api.example.com/roles"]
        is not two.claims["https://api.example.com/roles"]
    )
    assert (one.subject, two.subject) == ("auth0|1", "auth0|2")
    guard.close()


def test_with_the_cache_off_nothing_is_shared(issuer: TokenIssuer, clock: Any) -> None:
    guard = Guard(issuer.config(token_cache_size=0), transport=issuer.transport(), clock=clock)
    one, two = guard.verify(mint(issuer, "auth0|1")), guard.verify(mint(issuer, "auth0|2"))
    assert one.scopes == two.scopes
    assert one.scopes is not two.scopes
    guard.close()


def test_the_maps_are_bounded() -> None:
    sharing = Sharing(maxsize=4)
    for i in range(10):
        sharing.string(f"value-{i}")
    assert len(sharing._strings) <= 4
    assert sharing.string("x" * 600) is not None  # long strings are not kept
    assert "x" * 600 not in sharing._strings
