"""Route requirements: checked against token.granted (scope, or permissions under RBAC)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from rs_guard import Guard, InsufficientScope, render_error
from rs_guard.requirements import (
    all_of,
    any_of,
    check_all,
    claim_equals,
    claim_includes,
    claim_matches,
    clients_only,
    permissions,
    users_only,
)
from rs_guard.testing import TokenIssuer
from rs_guard.token import AccessToken


@pytest.fixture
def verify(issuer: TokenIssuer, clock: Any) -> Any:
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)

    def mint_and_verify(**kwargs: Any) -> AccessToken:
        return guard.verify(issuer.mint(**kwargs))

    return mint_and_verify


def refuses(requirement: Any, token: AccessToken) -> InsufficientScope:
    with pytest.raises(InsufficientScope) as caught:
        requirement(token)
    assert caught.value.status_code == 403
    return caught.value


def test_all_of(verify: Any) -> None:
    both = all_of("read:appointments", "write:appointments")
    both(verify(scopes=["read:appointments", "write:appointments", "x"]))
    error = refuses(both, verify(scopes=["read:appointments"]))
    assert error.required == ("read:appointments", "write:appointments")
    assert "write:appointments" in error.description
    _, headers, _ = render_error(error)
    assert dict(headers)["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="read:appointments write:appointments"'
    )
    assert both.scopes == ("read:appointments", "write:appointments")


def test_any_of(verify: Any) -> None:
    either = any_of("a", "b")
    either(verify(scopes=["b"]))
    assert refuses(either, verify(scopes=["c"])).required == ("a", "b")
    with pytest.raises(ValueError, match="at least one"):
        any_of()


@pytest.mark.parametrize("bad", ["two words", "", 5])
def test_scope_names_are_checked_when_the_route_is_defined(bad: Any) -> None:
    with pytest.raises(ValueError, match="not a scope name"):
        all_of("ok", bad)


def test_a_scope_is_a_whole_word(verify: Any) -> None:
    refuses(all_of("read"), verify(scopes=["read:appointments"]))
    refuses(all_of("read:appointments"), verify(claims={"scope": "read:appointmentsX"}))


def test_granted_is_permissions_under_rbac(issuer: TokenIssuer, clock: Any) -> None:
    issuer.token_dialect = "access_token_authz"
    guard = Guard(issuer.config(enforce_policies=True), transport=issuer.transport(), clock=clock)
    token = guard.verify(issuer.mint(scopes=["write:a"], permissions=["read:a"]))
    all_of("read:a")(token)
    refuses(all_of("write:a"), token)  # scope no longer grants under enforce_policies


def test_permissions_reads_the_claim_whatever_the_dialect(verify: Any) -> None:
    token = verify(scopes=["read:a"], permissions=["delete:a"])
    permissions("delete:a")(token)
    error = refuses(permissions("read:a"), token)
    assert error.reason == "insufficient_permission"


def test_claims(verify: Any) -> None:
    token = verify(claims={"https://example.com/roles": ["admin", "staff"], "org_id": "org_1"})
    claim_equals("org_id", "org_1")(token)
    refuses(claim_equals("org_id", "org_2"), token)
    refuses(claim_equals("missing", None), token)
    claim_includes("https://example.com/roles", "admin")(token)
    refuses(claim_includes("https://example.com/roles", "root"), token)
    refuses(claim_includes("org_id", "org"), token)
    claim_includes("scope", "x")(verify(scopes=["x", "y"]))
    claim_matches(lambda t: t.subject == "auth0|user-1", "only user 1")(token)
    error = refuses(claim_matches(lambda t: False, "never"), token)
    assert error.description == "never"
    assert error.required == ()


def test_subject_types(verify: Any) -> None:
    user = verify()
    machine = verify(subject="svc@clients", claims={"gty": "client-credentials"})
    users_only(user)
    clients_only(machine)
    assert refuses(users_only, machine).reason == "wrong_subject_type"
    refuses(clients_only, user)


def test_check_all_stops_at_the_first_refusal(verify: Any) -> None:
    token = verify(scopes=["a"])
    check_all(token, [all_of("a"), any_of("a", "b")])
    error = refuses(lambda t: check_all(t, [all_of("a"), all_of("b"), all_of("c")]), token)
    assert error.required == ("b",)


def test_requirement_descriptions(verify: Any) -> None:
    assert re.search("all of a b", all_of("a", "b").description)
    assert "any of" in any_of("a").description


#: Characters that are whitespace to ``str.split()`` but never separate scope tokens.
NOT_A_SEPARATOR = [
    "\t",  # TAB
    "\n",  # LF
    "\x0b",  # VT
    "\x0c",  # FF
    "\r",  # CR
    "\x1c",  # file separator (str.split() splits on it)
    "\x85",  # NEL
    "\u00a0",  # NO-BREAK SPACE
    "\u1680",  # OGHAM SPACE MARK
    "\u2003",  # EM SPACE
    "\u2028",  # LINE SEPARATOR
    "\u2029",  # PARAGRAPH SEPARATOR
    "\u202f",  # NARROW NO-BREAK SPACE
    "\u3000",  # IDEOGRAPHIC SPACE
]


@pytest.mark.parametrize("separator", NOT_A_SEPARATOR, ids=lambda c: f"U+{ord(c):04X}")
def test_scope_is_split_on_sp_only(verify: Any, separator: str) -> None:
    """RFC 6749 §3.3, RFC 9068 §2.2.3: SP (0x20) alone separates scope tokens."""
    odd = f"write:x{separator}read:x"
    token = verify(claims={"scope": f"{odd} list:x"})
    assert token.scopes == frozenset({odd, "list:x"})
    assert token.granted == frozenset({odd, "list:x"})
    assert refuses(all_of("read:x"), token).required == ("read:x",)
    refuses(any_of("read:x", "write:x"), token)
    refuses(claim_includes("scope", "read:x"), token)
    refuses(claim_includes("scope", "write:x"), token)
    claim_includes("scope", "list:x")(token)


def test_empty_scope_pieces_are_dropped(verify: Any) -> None:
    token = verify(claims={"scope": "  read:x   write:x "})
    assert token.scopes == frozenset({"read:x", "write:x"})
    all_of("read:x", "write:x")(token)
    claim_includes("scope", "read:x", "write:x")(token)
    assert verify(claims={"scope": "   "}).scopes == frozenset()


def test_claim_includes_splits_any_string_claim_on_sp_only(verify: Any) -> None:
    token = verify(claims={"groups": "admin\tstaff\u3000ops", "teams": "red  blue"})
    refuses(claim_includes("groups", "staff"), token)
    refuses(claim_includes("groups", "admin"), token)
    claim_includes("groups", "admin\tstaff\u3000ops")(token)
    claim_includes("teams", "red", "blue")(token)


# -- a scope in the other claim: say so in the 403 (issue 14.1) -------------------------------


def test_scope_only_in_permissions_is_named_in_the_403(verify: Any) -> None:
    token = verify(scopes=["openid", "q9Z-other"], permissions=["read:orders", "q9Z-perm"])
    error = refuses(all_of("read:orders", "write:orders"), token)
    assert error.description == (
        "the token lacks read:orders write:orders; the token carries read:orders in "
        "permissions, but this API checks scope (enforce_policies is off)"
    )
    status, headers, body = render_error(error)
    assert status == 403
    assert dict(headers)["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="read:orders write:orders"'
    )
    assert json.loads(body) == {
        "error": "insufficient_scope",
        "error_description": error.description,
    }
    assert "q9Z" not in error.description  # only the route's own scope names appear


def test_permission_only_in_scope_under_enforce_policies_is_named(
    issuer: TokenIssuer, clock: Any
) -> None:
    issuer.token_dialect = "access_token_authz"
    guard = Guard(issuer.config(enforce_policies=True), transport=issuer.transport(), clock=clock)
    token = guard.verify(issuer.mint(scopes=["read:orders", "q9Z"], permissions=["list:orders"]))
    assert token.granted_claim == "permissions"
    error = refuses(any_of("read:orders", "admin"), token)
    assert error.description == (
        "the token has none of read:orders admin; the token carries read:orders in scope, "
        "but this API checks permissions (enforce_policies is on)"
    )
    assert refuses(all_of("admin"), token).description == "the token lacks admin"


def test_permissions_requirement_names_a_scope_that_has_it(verify: Any) -> None:
    token = verify(scopes=["delete:orders"], permissions=["read:orders"])
    assert token.granted_claim == "scope"
    error = refuses(permissions("delete:orders"), token)
    assert error.description == (
        "the token lacks the permission delete:orders; the token carries delete:orders in "
        "scope, but this route checks permissions (a permissions() requirement)"
    )


def test_nothing_is_named_when_neither_claim_has_it(verify: Any) -> None:
    token = verify(scopes=["a"], permissions=["b"])
    assert refuses(all_of("c"), token).description == "the token lacks c"
    assert refuses(any_of("c", "d"), token).description == "the token has none of c d"


@pytest.mark.parametrize(
    ("dialect", "enforce", "why"),
    [
        ("access_token_authz", False, "enforce_policies is off"),
        ("access_token", True, "the token_dialect access_token carries no RBAC permissions"),
        ("access_token", False, "enforce_policies is off"),
    ],
)
def test_the_403_and_inspect_say_the_same_sentence(
    issuer: TokenIssuer, clock: Any, dialect: str, enforce: bool, why: str
) -> None:
    from rs_guard.hints import scope_hints

    issuer.token_dialect = dialect
    config = issuer.config(token_dialect=dialect, enforce_policies=enforce)
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    raw = issuer.mint(scopes=["openid"], permissions=["read:orders", "q9Z"])
    token = guard.verify(raw)
    guard.close()
    sentence = f"the token carries read:orders in permissions, but this API checks scope ({why})"
    error = refuses(all_of("read:orders", "write:orders"), token)
    assert error.description == f"the token lacks read:orders write:orders; {sentence}"
    assert list(scope_hints(["read:orders", "write:orders"], token.claims, config)) == [sentence]
