"""Importing an API's settings from `terraform show -json` (state and plan)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from rs_guard import ConfigError, Guard
from rs_guard.auth0 import (
    config_from_terraform,
    resource_server_from_terraform,
    settings_from_terraform,
)
from rs_guard.config import ProofOfPossession, Scope, SubjectTypeAuthorization
from rs_guard.testing import TokenIssuer

ISSUER = "https://tenant.rs-guard.test/"


def appointments_api(**changes: Any) -> dict[str, Any]:
    """``values`` of an auth0_resource_server as the provider writes it into the state."""
    values: dict[str, Any] = {
        "allow_offline_access": False,
        "authorization_details": [{"disable": True, "type": ""}],
        "client_id": "",
        "consent_policy": "null",
        "enforce_policies": True,
        "id": "6561f8c7e1ab2c0012345678",
        "identifier": "https://appointments.example.com",
        "name": "Appointments API",
        "proof_of_possession": [{"disable": False, "mechanism": "mtls", "required": True}],
        "signing_alg": "RS256",
        "signing_secret": "",
        "skip_consent_for_verifiable_first_party_clients": True,
        "subject_type_authorization": [
            {"client": [{"policy": "deny_all"}], "user": [{"policy": "allow_all"}]}
        ],
        "token_dialect": "rfc9068_profile_authz",
        "token_encryption": [{"disable": True, "encryption_key": [], "format": ""}],
        "token_lifetime": 3600,
        "token_lifetime_for_web": 1800,
        "verification_location": "",
    }
    values.update(changes)
    return values


def state_document() -> dict[str, Any]:
    """A realistic ``terraform show -json`` of an applied state with a child module."""
    return {
        "format_version": "1.0",
        "terraform_version": "1.9.5",
        "values": {
            "root_module": {
                "resources": [
                    {
                        "address": "auth0_resource_server.appointments",
                        "mode": "managed",
                        "type": "auth0_resource_server",
                        "name": "appointments",
                        "provider_name": "registry.terraform.io/auth0/auth0",
                        "schema_version": 0,
                        "values": appointments_api(),
                        "sensitive_values": {"signing_secret": True},
                    },
                    {
                        "address": "auth0_resource_server_scopes.appointments",
                        "mode": "managed",
                        "type": "auth0_resource_server_scopes",
                        "name": "appointments",
                        "provider_name": "registry.terraform.io/auth0/auth0",
                        "values": {
                            "id": "https://appointments.example.com",
                            "resource_server_identifier": "https://appointments.example.com",
                            "scopes": [
                                {"name": "read:appointments", "description": "Read"},
                                {"name": "write:appointments", "description": "Write"},
                            ],
                        },
                    },
                    {
                        "address": "auth0_resource_server_scope.delete",
                        "mode": "managed",
                        "type": "auth0_resource_server_scope",
                        "name": "delete",
                        "values": {
                            "description": "Delete",
                            "resource_server_identifier": "https://appointments.example.com",
                            "scope": "delete:appointments",
                        },
                    },
                    {
                        "address": "data.auth0_resource_server.mgmt",
                        "mode": "data",
                        "type": "auth0_resource_server",
                        "name": "mgmt",
                        "values": {"identifier": "https://tenant.rs-guard.test/api/v2/"},
                    },
                ],
                "child_modules": [
                    {
                        "address": "module.billing",
                        "resources": [
                            {
                                "address": "module.billing.auth0_resource_server.this",
                                "mode": "managed",
                                "type": "auth0_resource_server",
                                "name": "this",
                                "values": {
                                    "identifier": "https://billing.example.com",
                                    "name": "Billing",
                                    "signing_alg": "HS256",
                                    "signing_secret": "billing-secret-0123456789abcdef",
                                    "token_dialect": "access_token",
                                    "enforce_policies": False,
                                    "token_lifetime": 86400,
                                    "token_lifetime_for_web": 0,
                                    "proof_of_possession": [],
                                    "subject_type_authorization": [],
                                    "token_encryption": [],
                                },
                            },
                            {
                                "address": "module.billing.auth0_resource_server_scope.pay",
                                "mode": "managed",
                                "type": "auth0_resource_server_scope",
                                "name": "pay",
                                "values": {
                                    "resource_server_identifier": "https://billing.example.com",
                                    "scope": "pay:invoices",
                                    "description": None,
                                },
                            },
                        ],
                    }
                ],
            }
        },
    }


def plan_document() -> dict[str, Any]:
    """A saved plan: planned_values (no id yet) beside prior_state."""
    state = state_document()
    planned = copy.deepcopy(state["values"])
    api = planned["root_module"]["resources"][0]["values"]
    del api["id"]  # known after apply
    api["token_lifetime"] = 900
    return {
        "format_version": "1.2",
        "planned_values": planned,
        "prior_state": {"values": state["values"]},
        "resource_changes": [],
    }


def test_state_gives_the_management_api_shape() -> None:
    data = resource_server_from_terraform(
        state_document(), identifier="https://appointments.example.com"
    )
    assert data == {
        "id": "6561f8c7e1ab2c0012345678",
        "identifier": "https://appointments.example.com",
        "name": "Appointments API",
        "signing_alg": "RS256",
        "token_dialect": "rfc9068_profile_authz",
        "enforce_policies": True,
        "allow_offline_access": False,
        "skip_consent_for_verifiable_first_party_clients": True,
        "token_lifetime": 3600,
        "token_lifetime_for_web": 1800,
        "proof_of_possession": {"mechanism": "mtls", "required": True},
        "subject_type_authorization": {
            "user": {"policy": "allow_all"},
            "client": {"policy": "deny_all"},
        },
        "scopes": [
            {"value": "read:appointments", "description": "Read"},
            {"value": "write:appointments", "description": "Write"},
            {"value": "delete:appointments", "description": "Delete"},
        ],
    }


def test_config_from_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state_document()))
    config = config_from_terraform(path, issuer=ISSUER, name="Appointments API")
    assert config.audience == "https://appointments.example.com"
    assert config.rfc9068 is True
    assert config.uses_permissions is True
    assert config.token_lifetime == 3600
    assert config.proof_of_possession == ProofOfPossession("mtls", required=True)
    assert config.subject_type_authorization == SubjectTypeAuthorization("allow_all", "deny_all")
    assert [s.value for s in config.scopes] == [
        "read:appointments",
        "write:appointments",
        "delete:appointments",
    ]
    assert config.resource_server_id == "6561f8c7e1ab2c0012345678"


def test_child_module_resource_by_address() -> None:
    config = config_from_terraform(
        state_document(), issuer=ISSUER, name="module.billing.auth0_resource_server.this"
    )
    assert config.algorithm == "HS256"
    assert config.signing_secret == "billing-secret-0123456789abcdef"
    assert config.scopes == (Scope("pay:invoices", ""),)
    assert config.token_lifetime_for_web is None  # the provider's 0 means "not set"
    assert config.proof_of_possession is None
    assert config.subject_type_authorization is None


def test_plan_uses_planned_values() -> None:
    settings = settings_from_terraform(
        plan_document(), identifier="https://appointments.example.com"
    )
    assert settings["token_lifetime"] == 900
    assert "resource_server_id" not in settings


def test_token_encryption_block() -> None:
    doc = state_document()
    doc["values"]["root_module"]["resources"][0]["values"]["token_encryption"] = [
        {
            "disable": False,
            "format": "compact-nested-jwe",
            "encryption_key": [
                {"name": "k", "algorithm": "RSA-OAEP-256", "kid": "kid-1", "pem": "PEM"}
            ],
        }
    ]
    data = resource_server_from_terraform(doc, identifier="https://appointments.example.com")
    assert data["token_encryption"] == {
        "format": "compact-nested-jwe",
        "encryption_key": {"name": "k", "alg": "RSA-OAEP-256", "kid": "kid-1", "pem": "PEM"},
    }
    settings = settings_from_terraform(doc, identifier="https://appointments.example.com")
    assert settings["token_encryption"].kid == "kid-1"


def test_authorization_details_and_consent_policy_kept_for_reference() -> None:
    doc = state_document()
    values = doc["values"]["root_module"]["resources"][0]["values"]
    values["authorization_details"] = [{"type": "payment", "disable": False}]
    values["consent_policy"] = "transactional-authorization-with-mfa"
    data = resource_server_from_terraform(doc, identifier="https://appointments.example.com")
    assert data["authorization_details"] == [{"type": "payment"}]
    assert data["consent_policy"] == "transactional-authorization-with-mfa"


def test_inline_scopes_of_older_providers() -> None:
    doc = state_document()
    billing = doc["values"]["root_module"]["child_modules"][0]["resources"][0]["values"]
    billing["scopes"] = [{"value": "read:invoices", "description": "Read"}]
    data = resource_server_from_terraform(doc, identifier="https://billing.example.com")
    assert [s["value"] for s in data["scopes"]] == ["read:invoices", "pay:invoices"]


def test_several_apis_need_a_choice() -> None:
    with pytest.raises(ConfigError, match="several auth0_resource_server match"):
        resource_server_from_terraform(state_document())


def test_no_match_lists_what_there_is() -> None:
    with pytest.raises(ConfigError, match=r"billing\.example\.com"):
        resource_server_from_terraform(state_document(), identifier="https://other.example.com")


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"format_version": "1.0"}, "root_module"),
        ({"values": {"root_module": {"resources": []}}}, "no auth0_resource_server"),
    ],
)
def test_documents_without_a_resource_server(document: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        resource_server_from_terraform(document)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        resource_server_from_terraform(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        resource_server_from_terraform(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ConfigError, match="not a JSON object"):
        resource_server_from_terraform(tmp_path / "list.json")


def test_invalid_values_are_config_errors() -> None:
    doc = state_document()
    doc["values"]["root_module"]["resources"][0]["values"]["token_dialect"] = "jwt"
    with pytest.raises(ConfigError, match="token_dialect"):
        config_from_terraform(doc, issuer=ISSUER, identifier="https://appointments.example.com")


def test_imported_config_protects_the_api(clock: Any) -> None:
    doc = state_document()
    values = doc["values"]["root_module"]["resources"][0]["values"]
    values["proof_of_possession"] = []
    issuer = TokenIssuer(
        issuer=ISSUER,
        audience="https://appointments.example.com",
        token_dialect="rfc9068_profile_authz",
        clock=clock,
    )
    config = config_from_terraform(doc, issuer=ISSUER, identifier=issuer.audience)
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    token = guard.verify(issuer.mint(scopes=["x"], permissions=["read:appointments"]))
    assert token.granted == {"read:appointments"}
