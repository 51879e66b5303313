"""subject_type_authorization (user/client policies) and per-route users_only/clients_only."""

from __future__ import annotations

from typing import Any

import pytest

from rs_guard import Guard, InsufficientScope, InvalidToken, RequestContext, render_error
from rs_guard.config import SubjectTypeAuthorization
from rs_guard.loaders import build_config, settings_from_resource_server
from rs_guard.requirements import clients_only, users_only
from rs_guard.testing import TokenIssuer

POLICIES = ("allow_all", "deny_all", "require_client_grant")

#: How a token shows its subject type (verify.is_client_token).
USER = {"subject": "auth0|user-1"}
CLIENT_GTY = {"subject": "abc123", "claims": {"gty": "client-credentials"}}
CLIENT_SUB = {"subject": "abc123@clients"}


def guard_for(issuer: TokenIssuer, clock: Any, user: str | None, client: str | None) -> Guard:
    config = issuer.config(subject_type_authorization=SubjectTypeAuthorization(user, client))
    return Guard(config, transport=issuer.transport(), clock=clock)


@pytest.mark.parametrize("user", POLICIES)
@pytest.mark.parametrize("client", POLICIES)
def test_each_policy_pair(issuer: TokenIssuer, clock: Any, user: str, client: str) -> None:
    """deny_all is enforced; allow_all and require_client_grant accept (the grant check
    is the authorization server's: it issues no client token without a client grant)."""
    guard = guard_for(issuer, clock, user, client)
    cases = [(USER, user), (CLIENT_GTY, client), (CLIENT_SUB, client)]
    for mint_args, policy in cases:
        token = issuer.mint(**mint_args)  # type: ignore[arg-type]
        if policy == "deny_all":
            with pytest.raises(InvalidToken) as caught:
                guard.verify(token)
            assert caught.value.reason == "subject_type_denied"
            assert caught.value.status_code == 401
        else:
            verified = guard.verify(token)
            assert verified.is_client is (mint_args is not USER)


def test_denied_subject_type_costs_no_key_fetch(issuer: TokenIssuer, clock: Any) -> None:
    guard = guard_for(issuer, clock, "allow_all", "deny_all")
    with pytest.raises(InvalidToken):
        guard.verify(issuer.mint(**CLIENT_SUB))  # type: ignore[arg-type]
    assert issuer.jwks_requests == 0


def test_denied_answer_is_401_invalid_token(issuer: TokenIssuer, clock: Any) -> None:
    guard = guard_for(issuer, clock, "deny_all", None)
    token = issuer.mint()
    ctx = RequestContext("GET", "https://api.test/x", [("authorization", f"Bearer {token}")])
    with pytest.raises(InvalidToken) as caught:
        guard.authenticate(ctx)
    status, headers, body = render_error(caught.value, guard.challenge)
    assert status == 401
    assert b"invalid_token" in body
    assert b"user tokens" in body
    assert any('error="invalid_token"' in v for k, v in headers if k.lower() == "www-authenticate")


def test_rfc9068_client_token_is_sub_equal_client_id(clock: Any) -> None:
    issuer = TokenIssuer(token_dialect="rfc9068_profile", clock=clock)
    guard = Guard(
        issuer.config(subject_type_authorization=SubjectTypeAuthorization("allow_all", "deny_all")),
        transport=issuer.transport(),
        clock=clock,
    )
    with pytest.raises(InvalidToken) as caught:
        guard.verify(issuer.mint(subject="m2m-app", client_id="m2m-app"))
    assert caught.value.reason == "subject_type_denied"
    verified = guard.verify(issuer.mint(subject="auth0|u", client_id="m2m-app"))
    assert verified.is_client is False


def test_auth0_dialect_does_not_read_sub_equal_client_id(issuer: TokenIssuer, clock: Any) -> None:
    # Under Auth0's dialect a client token always says so (gty or @clients); a user
    # whose id happens to equal azp is still a user.
    guard = guard_for(issuer, clock, "allow_all", "deny_all")
    token = guard.verify(issuer.mint(subject="same", client_id="same"))
    assert token.is_client is False


def test_from_the_management_api_shape(issuer: TokenIssuer, clock: Any) -> None:
    settings = settings_from_resource_server(
        {
            "identifier": issuer.audience,
            "subject_type_authorization": {
                "user": {"policy": "require_client_grant"},
                "client": {"policy": "deny_all"},
            },
        }
    )
    config = build_config({**settings, "issuer": issuer.issuer})
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    verified = guard.verify(issuer.mint())
    assert verified.is_client is False
    with pytest.raises(InvalidToken):
        guard.verify(issuer.mint(**CLIENT_GTY))  # type: ignore[arg-type]


def test_unknown_policy_is_a_config_error() -> None:
    from rs_guard import ConfigError

    with pytest.raises(ConfigError, match=r"subject_type_authorization\.user\.policy"):
        SubjectTypeAuthorization(user="deny_some")


# -- per-route restrictions ----------------------------------------------------------------


def test_clients_only_route_refuses_a_user_token_with_403(issuer: TokenIssuer, clock: Any) -> None:
    guard = guard_for(issuer, clock, None, None)
    user = guard.verify(issuer.mint(**USER))  # type: ignore[arg-type]
    client = guard.verify(issuer.mint(**CLIENT_GTY))  # type: ignore[arg-type]
    clients_only.check(client)
    with pytest.raises(InsufficientScope) as caught:
        clients_only.check(user)
    assert caught.value.status_code == 403
    assert caught.value.reason == "wrong_subject_type"
    status, _, body = render_error(caught.value, guard.challenge)
    assert status == 403
    assert b"insufficient_scope" in body


def test_users_only_route_refuses_a_client_token_with_403(issuer: TokenIssuer, clock: Any) -> None:
    guard = guard_for(issuer, clock, None, None)
    users_only.check(guard.verify(issuer.mint(**USER)))  # type: ignore[arg-type]
    for kind in (CLIENT_GTY, CLIENT_SUB):
        token = guard.verify(issuer.mint(**kind))  # type: ignore[arg-type]
        with pytest.raises(InsufficientScope) as caught:
            users_only.check(token)
        assert caught.value.status_code == 403
