"""token_dialect x enforce_policies: what route requirements are checked against; typ rules;
namespaced custom claims in claim checks."""

from __future__ import annotations

from typing import Any

import pytest

from rs_guard import Guard, InsufficientScope, InvalidToken
from rs_guard.requirements import all_of, any_of, claim_equals, claim_includes, permissions
from rs_guard.testing import TokenIssuer

DIALECTS = ("access_token", "access_token_authz", "rfc9068_profile", "rfc9068_profile_authz")

#: The table of docs/auth0-settings.md: (dialect, enforce_policies) -> what `granted` is.
TABLE = {
    ("access_token", False): "scope",
    ("access_token", True): "scope",
    ("access_token_authz", False): "scope",
    ("access_token_authz", True): "permissions",
    ("rfc9068_profile", False): "scope",
    ("rfc9068_profile", True): "scope",
    ("rfc9068_profile_authz", False): "scope",
    ("rfc9068_profile_authz", True): "permissions",
}


def guard_for(issuer: TokenIssuer, clock: Any, dialect: str, enforce: bool) -> Guard:
    issuer.token_dialect = dialect
    config = issuer.config(token_dialect=dialect, enforce_policies=enforce)
    return Guard(config, transport=issuer.transport(), clock=clock)


@pytest.mark.parametrize(("dialect", "enforce"), list(TABLE))
def test_each_cell_of_the_rbac_table(
    issuer: TokenIssuer, clock: Any, dialect: str, enforce: bool
) -> None:
    guard = guard_for(issuer, clock, dialect, enforce)
    assert guard.config.uses_permissions is (TABLE[dialect, enforce] == "permissions")
    # scope grants read, permissions grant write: each cell decides which one counts.
    token = guard.verify(issuer.mint(scopes=["read:appointments"], permissions=["write:x"]))
    route_read = all_of("read:appointments")
    route_write = all_of("write:x")
    if TABLE[dialect, enforce] == "permissions":
        assert token.granted == {"write:x"}
        route_write.check(token)
        with pytest.raises(InsufficientScope) as caught:
            route_read.check(token)
    else:
        assert token.granted == {"read:appointments"}
        route_read.check(token)
        with pytest.raises(InsufficientScope) as caught:
            route_write.check(token)
    assert caught.value.status_code == 403
    # Both claims stay readable whatever counts for routes.
    assert token.scopes == {"read:appointments"}
    assert token.permissions == {"write:x"}


@pytest.mark.parametrize("dialect", ["access_token_authz", "rfc9068_profile_authz"])
def test_authz_without_enforce_policies_falls_back_to_scope(
    issuer: TokenIssuer, clock: Any, dialect: str
) -> None:
    """Auth0 puts no permissions in the token then (an empty list, or none)."""
    guard = guard_for(issuer, clock, dialect, False)
    token = guard.verify(issuer.mint(scopes=["read:a"], permissions=[]))
    any_of("read:a", "read:b").check(token)
    token = guard.verify(issuer.mint(scopes=["read:a"], drop=["permissions"]))
    assert token.granted == {"read:a"}


def test_authz_with_enforce_policies_ignores_scope(issuer: TokenIssuer, clock: Any) -> None:
    guard = guard_for(issuer, clock, "access_token_authz", True)
    token = guard.verify(issuer.mint(scopes=["read:a", "write:a"], permissions=[]))
    with pytest.raises(InsufficientScope) as caught:
        all_of("read:a").check(token)
    assert caught.value.required == ("read:a",)


def test_permissions_requirement_reads_the_claim_in_any_dialect(
    issuer: TokenIssuer, clock: Any
) -> None:
    guard = guard_for(issuer, clock, "access_token", False)
    token = guard.verify(issuer.mint(permissions=["admin"]))
    permissions("admin").check(token)
    with pytest.raises(InsufficientScope):
        permissions("root").check(token)


@pytest.mark.parametrize("dialect", ["rfc9068_profile", "rfc9068_profile_authz"])
@pytest.mark.parametrize(
    ("typ", "accepted"),
    [("at+jwt", True), ("application/at+jwt", True), ("JWT", False), (None, False)],
)
def test_rfc9068_dialects_demand_at_jwt(
    issuer: TokenIssuer, clock: Any, dialect: str, typ: str | None, accepted: bool
) -> None:
    guard = guard_for(issuer, clock, dialect, False)
    token = issuer.mint(headers={"typ": typ})
    if typ is None:
        token = issuer.mint(headers={"typ": None})
    if accepted:
        verified = guard.verify(token)
        assert verified.subject == "auth0|user-1"
    else:
        with pytest.raises(InvalidToken) as caught:
            guard.verify(token)
        assert caught.value.reason == "wrong_type"


@pytest.mark.parametrize("claim", ["client_id", "jti", "iat", "exp", "sub", "aud", "iss"])
def test_rfc9068_required_claims(issuer: TokenIssuer, clock: Any, claim: str) -> None:
    guard = guard_for(issuer, clock, "rfc9068_profile", False)
    with pytest.raises(InvalidToken) as caught:
        guard.verify(issuer.mint(drop=[claim]))
    assert caught.value.reason == "missing_claim"


@pytest.mark.parametrize("dialect", ["access_token", "access_token_authz"])
@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt", None])
def test_auth0_dialects_accept_auth0_typ(
    issuer: TokenIssuer, clock: Any, dialect: str, typ: str | None
) -> None:
    guard = guard_for(issuer, clock, dialect, False)
    # Auth0's own access tokens carry typ JWT and azp, no client_id/jti needed.
    token = issuer.mint(headers={"typ": typ}, drop=["jti"])
    verified = guard.verify(token)
    assert verified.client_id == "client-1"


def test_auth0_dialect_refuses_other_types(issuer: TokenIssuer, clock: Any) -> None:
    guard = guard_for(issuer, clock, "access_token", False)
    for typ in ("dpop+jwt", "logout+jwt", "secevent+jwt"):
        with pytest.raises(InvalidToken) as caught:
            guard.verify(issuer.mint(headers={"typ": typ}))
        assert caught.value.reason == "wrong_type"


# -- namespaced custom claims ------------------------------------------------------------


ROLES = "https://example.com/roles"
TENANT = "https://example.com/tenant"


def test_namespaced_claims_in_claim_checks(issuer: TokenIssuer, clock: Any) -> None:
    guard = guard_for(issuer, clock, "access_token", False)
    token = guard.verify(issuer.mint(claims={ROLES: ["admin", "editor"], TENANT: "acme"}))
    assert token.get(ROLES) == ["admin", "editor"]
    claim_includes(ROLES, "admin").check(token)
    claim_includes(ROLES, "admin", "editor").check(token)
    claim_equals(TENANT, "acme").check(token)
    with pytest.raises(InsufficientScope) as caught:
        claim_includes(ROLES, "owner").check(token)
    assert caught.value.status_code == 403
    with pytest.raises(InsufficientScope):
        claim_equals(TENANT, "other").check(token)


def test_missing_or_mistyped_namespaced_claims_are_refused(issuer: TokenIssuer, clock: Any) -> None:
    guard = guard_for(issuer, clock, "access_token", False)
    without = guard.verify(issuer.mint())
    with pytest.raises(InsufficientScope):
        claim_includes(ROLES, "admin").check(without)
    with pytest.raises(InsufficientScope):
        claim_equals(TENANT, None).check(without)  # absent is not null
    as_object = guard.verify(issuer.mint(claims={ROLES: {"admin": True}}))
    with pytest.raises(InsufficientScope):
        claim_includes(ROLES, "admin").check(as_object)
    space_delimited = guard.verify(issuer.mint(claims={ROLES: "admin editor"}))
    claim_includes(ROLES, "editor").check(space_delimited)
