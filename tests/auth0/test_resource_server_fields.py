"""Every field of the Management API's resource-server object: what rs_guard does with it.

Each test here is cited by a row of docs/auth0-settings.md.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rs_guard import ConfigError, Guard, InvalidToken, RequestContext
from rs_guard.config import Scope
from rs_guard.loaders import build_config, settings_from_resource_server
from rs_guard.testing import TokenIssuer


def full_resource_server(issuer: TokenIssuer) -> dict[str, Any]:
    """Every field, as GET /api/v2/resource-servers/{id} answers it."""
    return {
        "id": "6561f8c7e1ab2c0012345678",
        "name": "Appointments API",
        "is_system": False,
        "identifier": issuer.audience,
        "scopes": [
            {"value": "read:appointments", "description": "Read appointments"},
            {"value": "write:appointments", "description": "Book appointments"},
        ],
        "signing_alg": "RS256",
        "signing_secret": "a-secret-auth0-always-returns",
        "allow_offline_access": True,
        "allow_online_access": False,
        "skip_consent_for_verifiable_first_party_clients": True,
        "token_lifetime": 86400,
        "token_lifetime_for_web": 7200,
        "enforce_policies": False,
        "token_dialect": "access_token",
        "token_encryption": None,
        "consent_policy": "transactional-authorization-with-mfa",
        "authorization_details": [{"type": "payment_initiation"}],
        "proof_of_possession": None,
        "subject_type_authorization": {
            "user": {"policy": "allow_all"},
            "client": {"policy": "require_client_grant"},
        },
        "authorization_policy": {"policy": "all"},
        "client_id": "rs-client-0123456789",
    }


def config_of(issuer: TokenIssuer, data: dict[str, Any], **extra: Any) -> Any:
    settings = settings_from_resource_server(data)
    settings.update(issuer=issuer.issuer, **extra)
    return build_config(settings)


def test_id_and_name_are_kept_for_diagnostics(issuer: TokenIssuer) -> None:
    config = config_of(issuer, full_resource_server(issuer))
    assert config.resource_server_id == "6561f8c7e1ab2c0012345678"
    assert config.name == "Appointments API"


def test_identifier_is_the_audience(issuer: TokenIssuer, clock: Any) -> None:
    data = full_resource_server(issuer)
    guard = Guard(config_of(issuer, data), transport=issuer.transport(), clock=clock)
    verified = guard.verify(issuer.mint())
    assert verified.audiences[0] == data["identifier"]
    with pytest.raises(InvalidToken) as caught:
        guard.verify(issuer.mint(claims={"aud": "https://another-api.example.com"}))
    assert caught.value.reason == "wrong_audience"


def test_scopes_are_read_with_their_descriptions(issuer: TokenIssuer) -> None:
    config = config_of(issuer, full_resource_server(issuer))
    assert config.scopes == (
        Scope("read:appointments", "Read appointments"),
        Scope("write:appointments", "Book appointments"),
    )


def test_signing_alg_pins_the_algorithm(issuer: TokenIssuer, clock: Any) -> None:
    data = full_resource_server(issuer)
    data["signing_alg"] = "PS256"
    guard = Guard(config_of(issuer, data), transport=issuer.transport(), clock=clock)
    with pytest.raises(InvalidToken) as caught:
        guard.verify(issuer.mint())  # RS256, while the API says PS256
    assert caught.value.reason == "wrong_algorithm"
    data["signing_alg"] = "none"
    with pytest.raises(ConfigError, match="signing_alg"):
        config_of(issuer, data)


def test_signing_secret_is_used_for_hs256_only(issuer: TokenIssuer, clock: Any) -> None:
    data = full_resource_server(issuer)
    assert config_of(issuer, data).signing_secret is None  # RS256: ignored
    hs = TokenIssuer(algorithm="HS256", audience=issuer.audience, clock=clock)
    data.update(signing_alg="HS256", signing_secret=hs.secret)
    guard = Guard(config_of(issuer, data), clock=clock)
    verified = guard.verify(hs.mint(scopes=["read:appointments"]))
    assert verified.scopes == {"read:appointments"}
    other = TokenIssuer(algorithm="HS256", audience=issuer.audience, clock=clock)
    with pytest.raises(InvalidToken) as caught:
        guard.verify(other.mint())
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("is_system", True),
        ("allow_offline_access", False),
        ("allow_online_access", True),
        ("skip_consent_for_verifiable_first_party_clients", False),
        ("consent_policy", None),
        # authorization_details: read since issue 15 (RFC 9396 types, tests/newground)
        ("authorization_policy", None),
        ("client_id", None),
        ("verification_location", "https://example.com/verify"),
        ("some_field_auth0_adds_later", {"x": 1}),
    ],
)
def test_authorization_server_fields_do_not_change_verification(
    issuer: TokenIssuer, clock: Any, field: str, value: Any
) -> None:
    """These concern how Auth0 issues tokens (refresh tokens, consent, RAR, the API's own
    client); a resource server cannot see them in a token. Read, ignored, never an error."""
    data = full_resource_server(issuer)
    changed = copy.deepcopy(data)
    changed[field] = value
    assert config_of(issuer, changed) == config_of(issuer, data)
    guard = Guard(config_of(issuer, changed), transport=issuer.transport(), clock=clock)
    verified = guard.verify(issuer.mint())
    assert verified.subject == "auth0|user-1"


def test_proof_of_possession_from_the_json_is_enforced(issuer: TokenIssuer, clock: Any) -> None:
    data = full_resource_server(issuer)
    data["proof_of_possession"] = {"mechanism": "mtls", "required": True}
    guard = Guard(config_of(issuer, data), transport=issuer.transport(), clock=clock)
    token = issuer.mint()
    ctx = RequestContext("GET", "https://api.test/x", [("authorization", f"Bearer {token}")])
    with pytest.raises(InvalidToken):
        guard.authenticate(ctx)  # no certificate binding: refused (RFC 8705 §3)
    data["proof_of_possession"] = {"mechanism": "dpop", "required": True}
    guard = Guard(config_of(issuer, data), transport=issuer.transport(), clock=clock)
    with pytest.raises(InvalidToken):
        guard.authenticate(ctx)  # Bearer where DPoP is required


def test_invalid_values_fail_at_start_naming_the_field(issuer: TokenIssuer) -> None:
    for field, value in (
        ("token_dialect", "jwt"),
        ("token_lifetime", "long"),
        ("enforce_policies", "yes"),
        ("proof_of_possession", {"mechanism": "tls"}),
        ("subject_type_authorization", {"user": {"policy": "sometimes"}}),
        ("token_encryption", {"format": "jwe-json"}),
    ):
        data = full_resource_server(issuer)
        data[field] = value
        with pytest.raises(ConfigError) as caught:
            config_of(issuer, data)
        assert caught.value.field.split(".")[0] == field
