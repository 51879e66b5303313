"""Settings from the Management API's JSON and from RS_GUARD_* variables."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from rs_guard.config import GuardConfig, ProofOfPossession, Scope
from rs_guard.errors import ConfigError
from rs_guard.loaders import load_config, settings_from_env, settings_from_resource_server

#: A resource server as ``GET /api/v2/resource-servers/{id}`` returns it.
RESOURCE_SERVER: dict[str, Any] = {
    "id": "6543a1b2c3d4e5f6a7b8c9d0",
    "name": "Appointments API",
    "is_system": False,
    "identifier": "https://appointments.example.com",
    "scopes": [
        {"value": "read:appointments", "description": "Read appointments"},
        {"value": "write:appointments", "description": "Book appointments"},
    ],
    "signing_alg": "RS256",
    "signing_secret": "a-secret-auth0-returns-for-every-api",
    "allow_offline_access": True,
    "allow_online_access": False,
    "skip_consent_for_verifiable_first_party_clients": True,
    "token_lifetime": 86400,
    "token_lifetime_for_web": 7200,
    "enforce_policies": True,
    "token_dialect": "access_token_authz",
    "client": {"something": "else"},
    "consent_policy": "transactional-authorization-with-mfa",
    "authorization_details": [{"type": "payment"}],
    "token_encryption": {
        "format": "compact-nested-jwe",
        "encryption_key": {
            "name": "enc-2026",
            "alg": "RSA-OAEP-256",
            "kid": "enc-kid-1",
            "pem": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
        },
    },
    "proof_of_possession": {"mechanism": "dpop", "required": True},
    "subject_type_authorization": {
        "user": {"policy": "allow_all"},
        "client": {"policy": "deny_all"},
    },
    "client_id": "the-api-own-client",
    "a_field_from_the_future": {"nested": [1, 2, 3]},
}

ENV = {"RS_GUARD_ISSUER": "https://tenant.example.com/"}


def test_every_field_of_the_resource_server_is_understood() -> None:
    settings = settings_from_resource_server(RESOURCE_SERVER)
    assert settings["audience"] == "https://appointments.example.com"
    assert settings["algorithm"] == "RS256"
    assert settings["token_dialect"] == "access_token_authz"
    assert settings["token_lifetime"] == 86400
    assert settings["token_lifetime_for_web"] == 7200
    assert settings["enforce_policies"] is True
    assert settings["name"] == "Appointments API"
    assert settings["resource_server_id"] == "6543a1b2c3d4e5f6a7b8c9d0"
    assert settings["scopes"] == (
        Scope("read:appointments", "Read appointments"),
        Scope("write:appointments", "Book appointments"),
    )
    assert settings["proof_of_possession"] == ProofOfPossession("dpop", required=True)
    encryption = settings["token_encryption"]
    assert (encryption.format, encryption.alg, encryption.kid, encryption.name) == (
        "compact-nested-jwe",
        "RSA-OAEP-256",
        "enc-kid-1",
        "enc-2026",
    )
    assert encryption.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")
    sta = settings["subject_type_authorization"]
    assert (sta.user, sta.client) == ("allow_all", "deny_all")
    # Unknown and authorization-server-only fields are ignored, not errors.
    assert "a_field_from_the_future" not in settings
    assert "client_id" not in settings


def test_the_resource_server_file_builds_a_config(tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    path.write_text(json.dumps(RESOURCE_SERVER))
    config = load_config({**ENV, "RS_GUARD_CONFIG": str(path)})
    assert isinstance(config, GuardConfig)
    assert config.audience == "https://appointments.example.com"
    assert config.uses_permissions
    assert config.dpop_enabled
    # Auth0 returns a signing_secret for RS256 APIs too; it means nothing there.
    assert config.signing_secret is None


def test_hs256_from_the_file_keeps_its_secret(tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    data = {
        "identifier": "https://api",
        "signing_alg": "HS256",
        "signing_secret": "0123456789abcdef0123",
    }
    path.write_text(json.dumps(data))
    config = load_config({**ENV, "RS_GUARD_CONFIG": str(path)})
    assert config.algorithm == "HS256"
    assert config.signing_secret == "0123456789abcdef0123"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("identifier", 42),
        ("signing_alg", ["RS256"]),
        ("signing_secret", 1234567890123456),
        ("token_dialect", 7),
        ("token_lifetime", "86400"),
        ("token_lifetime", 86400.5),
        ("token_lifetime", True),
        ("token_lifetime_for_web", "7200"),
        ("enforce_policies", "true"),
        ("name", ["x"]),
        ("id", 5),
        ("scopes", "read:a"),
        ("scopes", [{"description": "no value"}]),
        ("scopes", ["read:a"]),
        ("proof_of_possession", "dpop"),
        ("proof_of_possession", {"mechanism": "dpop", "required": "yes"}),
        ("token_encryption", "jwe"),
        ("token_encryption", {"encryption_key": "pem"}),
        ("subject_type_authorization", "deny"),
        ("subject_type_authorization", {"user": "deny_all"}),
    ],
)
def test_wrong_types_are_config_errors_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_resource_server({**RESOURCE_SERVER, field: value})
    assert caught.value.field.split(".")[0] == field


@pytest.mark.parametrize(
    ("field", "value", "reported"),
    [
        ("signing_alg", "HS384", "signing_alg"),
        ("token_dialect", "jwt", "token_dialect"),
        ("token_lifetime", 2_592_001, "token_lifetime"),
        ("token_lifetime_for_web", 90_000, "token_lifetime_for_web"),
        ("name", "<b>API</b>", "name"),
        ("proof_of_possession", {"mechanism": "tls"}, "proof_of_possession.mechanism"),
        (
            "subject_type_authorization",
            {"user": {"policy": ["deny_all"]}},
            "subject_type_authorization.user.policy",
        ),
    ],
)
def test_invalid_values_in_the_file_are_config_errors(
    tmp_path: Path, field: str, value: Any, reported: str
) -> None:
    path = tmp_path / "api.json"
    path.write_text(json.dumps({**RESOURCE_SERVER, field: value}))
    with pytest.raises(ConfigError) as caught:
        load_config({**ENV, "RS_GUARD_CONFIG": str(path)})
    assert caught.value.field == reported


def test_the_resource_server_must_be_an_object() -> None:
    with pytest.raises(ConfigError):
        settings_from_resource_server([RESOURCE_SERVER])  # type: ignore[arg-type]


def test_an_unreadable_or_invalid_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({**ENV, "RS_GUARD_CONFIG": str(tmp_path / "absent.json")})
    assert caught.value.field == "RS_GUARD_CONFIG"
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError) as caught:
        load_config({**ENV, "RS_GUARD_CONFIG": str(broken)})
    assert caught.value.field == "RS_GUARD_CONFIG"


def test_every_environment_variable_of_interface_section_1(tmp_path: Path) -> None:
    key = tmp_path / "dec.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n")
    env = {
        "RS_GUARD_ISSUER": "https://tenant.example.com/",
        "RS_GUARD_AUDIENCE": "https://api",
        "RS_GUARD_JWKS_URI": "https://keys.example.com/jwks.json",
        "RS_GUARD_DISCOVERY": "false",
        "RS_GUARD_SIGNING_ALG": "PS256",
        "RS_GUARD_TOKEN_DIALECT": "rfc9068_profile",
        "RS_GUARD_LEEWAY": "30",
        "RS_GUARD_CLIENT_CERT_HEADER": "Client-Cert",
        "RS_GUARD_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
        "RS_GUARD_PUBLIC_URL": "https://api.example.com/v1",
        "RS_GUARD_DPOP_NONCE": "true",
        "RS_GUARD_TOKEN_CACHE": "0",
        "RS_GUARD_REPLAY_STORE": "redis://127.0.0.1:6379/0",
        "RS_GUARD_DECRYPTION_KEY": str(key),
    }
    settings = settings_from_env(env)
    assert settings["issuer"] == "https://tenant.example.com/"
    assert settings["audience"] == "https://api"
    assert settings["jwks_uri"] == "https://keys.example.com/jwks.json"
    assert settings["discovery"] is False
    assert settings["algorithm"] == "PS256"
    assert settings["token_dialect"] == "rfc9068_profile"
    assert settings["leeway"] == 30.0
    assert settings["client_cert_header"] == "Client-Cert"
    assert settings["trusted_proxies"] == ("10.0.0.0/8", "::1")
    assert settings["public_url"] == "https://api.example.com/v1"
    assert settings["dpop"].nonce is True
    assert settings["token_cache_size"] == 0
    assert settings["replay_store"] == "redis://127.0.0.1:6379/0"
    assert settings["decryption_keys"][0].startswith("-----BEGIN PRIVATE KEY-----")


def test_signing_secret_from_the_environment() -> None:
    config = load_config(
        {
            **ENV,
            "RS_GUARD_AUDIENCE": "https://api",
            "RS_GUARD_SIGNING_ALG": "HS256",
            "RS_GUARD_SIGNING_SECRET": "0123456789abcdef",
        }
    )
    assert (config.algorithm, config.signing_secret) == ("HS256", "0123456789abcdef")


def test_domain_shortcut_gives_the_auth0_issuer() -> None:
    for domain in ("tenant.eu.auth0.com", "https://tenant.eu.auth0.com/", " tenant.eu.auth0.com/"):
        settings = settings_from_env({"RS_GUARD_DOMAIN": domain})
        assert settings["issuer"] == "https://tenant.eu.auth0.com/"


def test_lists_in_issuer_and_audience() -> None:
    config = load_config(
        {
            "RS_GUARD_ISSUER": "https://a.example/,https://b.example/",
            "RS_GUARD_AUDIENCE": "https://api, https://api-v2",
        }
    )
    assert config.issuers == ("https://a.example/", "https://b.example/")
    assert config.audiences == ("https://api", "https://api-v2")


def test_environment_over_file_and_overrides_over_both(tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    path.write_text(json.dumps(RESOURCE_SERVER))
    env = {
        **ENV,
        "RS_GUARD_CONFIG": str(path),
        "RS_GUARD_AUDIENCE": "https://from-env",
        "RS_GUARD_TOKEN_DIALECT": "rfc9068_profile",
    }
    config = load_config(env)
    assert config.audience == "https://from-env"
    assert config.token_dialect == "rfc9068_profile"
    assert config.token_lifetime == 86400  # from the file, untouched by the environment
    config = load_config(env, audience="https://from-code")
    assert config.audience == "https://from-code"


def test_empty_variables_count_as_unset() -> None:
    config = load_config({**ENV, "RS_GUARD_AUDIENCE": "https://api", "RS_GUARD_SIGNING_ALG": ""})
    assert config.algorithm == "RS256"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RS_GUARD_DISCOVERY", "maybe"),
        ("RS_GUARD_DPOP_NONCE", "2"),
        ("RS_GUARD_LEEWAY", "ten"),
        ("RS_GUARD_TOKEN_CACHE", "1.5"),
    ],
)
def test_bad_environment_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_env({name: value})
    assert caught.value.field == name


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("RS_GUARD_SIGNING_ALG", "none", "signing_alg"),
        ("RS_GUARD_JWKS_URI", "http://keys.example.com/jwks.json", "jwks_uri"),
        ("RS_GUARD_ISSUER", "http://tenant.example.com/", "issuer"),
        ("RS_GUARD_TOKEN_DIALECT", "id_token", "token_dialect"),
        ("RS_GUARD_LEEWAY", "-5", "leeway"),
        ("RS_GUARD_TOKEN_CACHE", "-1", "token_cache_size"),
        ("RS_GUARD_TRUSTED_PROXIES", "proxy.internal", "trusted_proxies"),
        ("RS_GUARD_REPLAY_STORE", "disk", "replay_store"),
    ],
)
def test_invalid_environment_values_fail_at_start_up(name: str, value: str, field: str) -> None:
    env = {**ENV, "RS_GUARD_AUDIENCE": "https://api", name: value}
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert caught.value.field == field


def test_missing_issuer_or_audience_is_a_clear_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"RS_GUARD_AUDIENCE": "https://api"})
    assert caught.value.field == "issuer"
    assert "RS_GUARD_DOMAIN" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_config(ENV)
    assert caught.value.field == "audience"


def test_hs256_with_a_jwks_uri_from_the_environment_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            {
                **ENV,
                "RS_GUARD_AUDIENCE": "https://api",
                "RS_GUARD_SIGNING_ALG": "HS256",
                "RS_GUARD_SIGNING_SECRET": "0123456789abcdef",
                "RS_GUARD_JWKS_URI": "https://tenant.example.com/.well-known/jwks.json",
            }
        )
    assert caught.value.field == "jwks_uri"


def test_unknown_override_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        load_config({**ENV, "RS_GUARD_AUDIENCE": "https://api"}, colour="blue")


def test_an_unreadable_decryption_key_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_env({"RS_GUARD_DECRYPTION_KEY": str(tmp_path / "absent.pem")})
    assert caught.value.field == "RS_GUARD_DECRYPTION_KEY"


# -- the settings table (issue 12), RBAC from the environment, mistakes named (issue 14) ----

BASE_ENV = {"RS_GUARD_DOMAIN": "tenant.example.com", "RS_GUARD_AUDIENCE": "https://api"}


def test_enforce_policies_and_scopes_from_the_environment() -> None:
    config = load_config(
        {
            **BASE_ENV,
            "RS_GUARD_TOKEN_DIALECT": "access_token_authz",
            "RS_GUARD_ENFORCE_POLICIES": "true",
            "RS_GUARD_SCOPES": " read:orders write:orders ",
        }
    )
    assert config.enforce_policies is True
    assert config.uses_permissions is True
    assert config.scopes == (Scope("read:orders"), Scope("write:orders"))


def test_scopes_are_separated_by_spaces_only() -> None:
    # RFC 6749 §3.3: SP separates scope tokens; a tab is part of a (strange) scope.
    config = load_config({**BASE_ENV, "RS_GUARD_SCOPES": "a\tb c"})
    assert [s.value for s in config.scopes] == ["a\tb", "c"]


def test_the_environment_overrides_the_files_rbac_settings(tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    path.write_text(json.dumps(RESOURCE_SERVER))  # enforce_policies true, two scopes
    env = {**ENV, "RS_GUARD_CONFIG": str(path)}
    from_file = load_config(env)
    assert from_file.enforce_policies is True
    assert [s.value for s in from_file.scopes] == ["read:appointments", "write:appointments"]
    config = load_config(
        {
            **env,
            "RS_GUARD_ENFORCE_POLICIES": "false",
            "RS_GUARD_SCOPES": "read:appointments admin",
        }
    )
    assert config.enforce_policies is False
    assert config.uses_permissions is False
    # the file still describes the scopes it defines
    assert config.scopes == (Scope("read:appointments", "Read appointments"), Scope("admin"))


def test_enforce_policies_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({**BASE_ENV, "RS_GUARD_ENFORCE_POLICIES": "sometimes"})
    assert caught.value.field == "RS_GUARD_ENFORCE_POLICIES"


def test_resource_metadata_is_a_boolean() -> None:
    assert load_config(BASE_ENV).resource_metadata is False
    assert load_config({**BASE_ENV, "RS_GUARD_RESOURCE_METADATA": "true"}).resource_metadata
    with pytest.raises(ConfigError) as caught:
        load_config({**BASE_ENV, "RS_GUARD_RESOURCE_METADATA": "maybe"})
    assert caught.value.field == "RS_GUARD_RESOURCE_METADATA"


def test_dpop_nonce_secret_is_read_without_the_nonce_flag() -> None:
    secret = "shared-by-every-worker-0123456789"
    config = load_config({**BASE_ENV, "RS_GUARD_DPOP_NONCE_SECRET": secret})
    assert (config.dpop.nonce, config.dpop.nonce_secret) == (False, secret)


def test_domain_and_issuer_that_disagree_are_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            {
                "RS_GUARD_DOMAIN": "tenant.eu.auth0.com",
                "RS_GUARD_ISSUER": "https://other.eu.auth0.com/",
                "RS_GUARD_AUDIENCE": "https://api",
            }
        )
    message = str(caught.value)
    assert caught.value.field == "RS_GUARD_DOMAIN"
    assert "RS_GUARD_DOMAIN='tenant.eu.auth0.com'" in message
    assert "RS_GUARD_ISSUER='https://other.eu.auth0.com/'" in message


def test_domain_and_issuer_that_agree_keep_every_issuer() -> None:
    config = load_config(
        {
            "RS_GUARD_DOMAIN": "tenant.eu.auth0.com",
            "RS_GUARD_ISSUER": "https://tenant.eu.auth0.com/,https://login.example.com/",
            "RS_GUARD_AUDIENCE": "https://api",
        }
    )
    assert config.issuers == ("https://tenant.eu.auth0.com/", "https://login.example.com/")


def test_an_unknown_variable_is_logged_with_the_likely_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="rs_guard.config"):
        config = load_config({**BASE_ENV, "RS_GUARD_LEWAY": "30", "RS_GUARD_AUDIANCE": "x"})
    assert config.leeway == 10.0  # ignored, as before; but no longer silently
    assert "RS_GUARD_LEWAY is not an rs_guard setting; did you mean RS_GUARD_LEEWAY?" in (
        caplog.text
    )
    assert "RS_GUARD_AUDIANCE is not an rs_guard setting; did you mean RS_GUARD_AUDIENCE?" in (
        caplog.text
    )


def test_the_table_knows_every_variable_the_loader_reads() -> None:
    from rs_guard.settings import BY_NAME

    loader = Path(settings_from_env.__code__.co_filename).read_text()
    named = set(re.findall(r"RS_GUARD_[A-Z_]+", loader))
    assert named <= set(BY_NAME), named - set(BY_NAME)
