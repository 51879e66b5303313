"""GuardConfig: validated once, at construction, as the Management API validates."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from rs_guard.config import (
    DPoPOptions,
    GuardConfig,
    JWKSOptions,
    ProofOfPossession,
    Scope,
    SubjectTypeAuthorization,
    TokenEncryption,
    is_loopback_host,
)
from rs_guard.errors import ConfigError

BASE: dict[str, Any] = {"issuer": "https://tenant.example.com/", "audience": "https://api"}


def build(**overrides: Any) -> GuardConfig:
    return GuardConfig(**{**BASE, **overrides})


def refused(field: str, **overrides: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        build(**overrides)
    assert caught.value.field == field
    assert field in str(caught.value)
    return caught.value


def test_defaults_are_the_documented_ones() -> None:
    config = build()
    assert config.algorithm == "RS256"
    assert config.token_dialect == "access_token"
    assert config.leeway == 10
    assert config.max_token_bytes == 16 * 1024
    assert config.token_cache_size == 4096
    assert config.jwks.ttl == 600
    assert config.jwks.cooldown == 30
    assert config.realm == "api"
    assert config.jwks_uri_for(config.issuer) == "https://tenant.example.com/.well-known/jwks.json"


def test_config_is_immutable() -> None:
    config = build()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.issuer = "https://evil/"  # type: ignore[misc]


@pytest.mark.parametrize("alg", ["RS256", "RS512", "PS256", "ES256", "EdDSA"])
def test_every_asymmetric_algorithm_is_accepted(alg: str) -> None:
    assert build(algorithm=alg).algorithm == alg


@pytest.mark.parametrize(
    "alg", ["none", "None", "HS384", "HS512", "RS384", "ES512", "rs256", "", None]
)
def test_other_algorithms_are_refused(alg: Any) -> None:
    refused("signing_alg", algorithm=alg)


def test_an_unhashable_algorithm_is_a_config_error_not_a_type_error() -> None:
    refused("signing_alg", algorithm=["RS256"])


def test_hs256_needs_a_secret_of_sixteen_characters() -> None:
    refused("signing_secret", algorithm="HS256")
    refused("signing_secret", algorithm="HS256", signing_secret="x" * 15)
    assert build(algorithm="HS256", signing_secret="x" * 16).signing_secret == "x" * 16


def test_hs256_never_uses_a_jwks() -> None:
    secret = "s" * 32
    refused("jwks_uri", algorithm="HS256", signing_secret=secret, jwks_uri="https://a/jwks")
    refused("jwks_uri", algorithm="HS256", signing_secret=secret, discovery=True)


def test_the_secret_is_not_shown_by_repr() -> None:
    config = build(algorithm="HS256", signing_secret="very-secret-value-123")
    assert "very-secret-value-123" not in repr(config)


@pytest.mark.parametrize("name", ["a<b", "x>y", "<script>"])
def test_name_without_angle_brackets(name: str) -> None:
    refused("name", name=name)


def test_a_plain_name_is_kept() -> None:
    assert build(name="Appointments API").name == "Appointments API"


@pytest.mark.parametrize("field", ["token_lifetime", "token_lifetime_for_web"])
@pytest.mark.parametrize("value", [-1, 2_592_001, 1.5, True, "3600"])
def test_token_lifetimes_are_integers_from_0_to_30_days(field: str, value: Any) -> None:
    refused(field, **{field: value})


@pytest.mark.parametrize("value", [0, 1, 86_400, 2_592_000])
def test_token_lifetime_bounds_are_inclusive(value: int) -> None:
    assert build(token_lifetime=value).token_lifetime == value


def test_token_lifetime_for_web_not_above_token_lifetime() -> None:
    refused("token_lifetime_for_web", token_lifetime=3600, token_lifetime_for_web=3601)
    config = build(token_lifetime=3600, token_lifetime_for_web=3600)
    assert config.token_lifetime_for_web == 3600


@pytest.mark.parametrize(
    "dialect", ["access_token", "access_token_authz", "rfc9068_profile", "rfc9068_profile_authz"]
)
def test_the_four_dialects(dialect: str) -> None:
    config = build(token_dialect=dialect)
    assert config.rfc9068 is dialect.startswith("rfc9068")


@pytest.mark.parametrize("dialect", ["jwt", "ACCESS_TOKEN", "", ["access_token"]])
def test_other_dialects_are_refused(dialect: Any) -> None:
    refused("token_dialect", token_dialect=dialect)


def test_uses_permissions_only_for_authz_with_enforce_policies() -> None:
    assert build(token_dialect="access_token_authz", enforce_policies=True).uses_permissions
    assert not build(token_dialect="access_token_authz").uses_permissions
    assert not build(token_dialect="access_token", enforce_policies=True).uses_permissions
    assert build(token_dialect="rfc9068_profile_authz", enforce_policies=True).uses_permissions


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://127.5.6.7/",
        "http://[::1]:9000/",
        "http://localhost/",
        "http://LOCALHOST:3000/",
        "https://tenant.example.com/",
    ],
)
def test_https_or_loopback_http(url: str) -> None:
    assert build(issuer=url, jwks_uri=url + "jwks.json").jwks_uri == url + "jwks.json"


@pytest.mark.parametrize(
    "url",
    [
        "http://tenant.example.com/",
        "http://localhost.evil.com/",
        "http://128.0.0.1/",
        "http://10.0.0.1/",
        "ftp://127.0.0.1/",
        "tenant.example.com",
        "https://",
        "https://user:pw@tenant.example.com/",
        "https://[::1/",
        "https://host:99999/",
    ],
)
def test_non_https_urls_are_refused_for_issuer_and_jwks(url: str) -> None:
    refused("issuer", issuer=url)
    refused("jwks_uri", jwks_uri=url)


def test_additional_issuers_are_checked_too() -> None:
    refused("issuer", additional_issuers=("http://other.example.com/",))
    config = build(additional_issuers=("https://custom.example.com/",))
    assert config.issuers == ("https://tenant.example.com/", "https://custom.example.com/")


def test_issuer_jwks_uris_must_name_a_configured_issuer() -> None:
    refused("issuer_jwks_uris", issuer_jwks_uris={"https://x/": "https://x/jwks"})
    config = build(
        additional_issuers=("https://b.example/",),
        issuer_jwks_uris={"https://b.example/": "https://keys.example/b.json"},
    )
    assert config.jwks_uri_for("https://b.example/") == "https://keys.example/b.json"


def test_jwks_uri_for_adds_the_slash_the_issuer_lacks() -> None:
    config = build(issuer="https://tenant.example.com")
    assert config.jwks_uri_for(config.issuer) == "https://tenant.example.com/.well-known/jwks.json"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("Localhost", True),
        ("128.0.0.1", False),
        ("0.0.0.0", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback_host(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_identity_is_required() -> None:
    refused("issuer", issuer="")
    refused("audience", audience="")
    refused("additional_audiences", additional_audiences=("",))
    assert build(additional_audiences=("b",)).audiences == ("https://api", "b")


@pytest.mark.parametrize("leeway", [-1, 301, float("nan")])
def test_leeway_bounds(leeway: float) -> None:
    refused("leeway", leeway=leeway)


def test_token_size_and_cache_bounds() -> None:
    refused("max_token_bytes", max_token_bytes=100)
    refused("max_token_bytes", max_token_bytes=2 * 1024 * 1024)
    refused("token_cache_size", token_cache_size=-1)
    assert build(token_cache_size=0).token_cache_size == 0


def test_scopes_defined_twice_are_refused() -> None:
    refused("scopes", scopes=(Scope("a"), Scope("a", "again")))


def test_transport_settings() -> None:
    refused("trusted_proxies", trusted_proxies=("not-an-ip",))
    assert build(trusted_proxies=("10.0.0.0/8", "::1")).trusted_proxies == ("10.0.0.0/8", "::1")
    refused("client_cert_header", client_cert_header="  ")
    refused("public_url", public_url="api.example.com")
    refused("replay_store", replay_store="memcached://x")
    assert build(replay_store="redis://127.0.0.1:6379/0").replay_store.startswith("redis://")


def test_nested_option_objects_validate_themselves() -> None:
    with pytest.raises(ConfigError) as caught:
        ProofOfPossession("tls")  # type: ignore[arg-type]
    assert caught.value.field == "proof_of_possession.mechanism"
    with pytest.raises(ConfigError) as caught:
        ProofOfPossession("dpop", required_for="some")  # type: ignore[arg-type]
    assert caught.value.field == "proof_of_possession.required_for"
    with pytest.raises(ConfigError) as caught:
        TokenEncryption(alg="RSA1_5")
    assert caught.value.field == "token_encryption.encryption_key.alg"
    with pytest.raises(ConfigError) as caught:
        SubjectTypeAuthorization(user="maybe")
    assert caught.value.field == "subject_type_authorization.user.policy"
    with pytest.raises(ConfigError) as caught:
        SubjectTypeAuthorization(client=["deny_all"])  # type: ignore[arg-type]
    assert caught.value.field == "subject_type_authorization.client.policy"
    with pytest.raises(ConfigError) as caught:
        DPoPOptions(algorithms=("HS256",))
    assert caught.value.field == "dpop.algorithms"
    for name, value in (("ttl", -1), ("cooldown", -1), ("timeout", 0), ("max_bytes", 10)):
        with pytest.raises(ConfigError) as caught:
            JWKSOptions(**{name: value})
        assert caught.value.field == f"jwks.{name}"


def test_token_encryption_is_not_for_hs256() -> None:
    refused(
        "token_encryption",
        algorithm="HS256",
        signing_secret="s" * 20,
        token_encryption=TokenEncryption(),
    )


def test_proof_of_possession_properties() -> None:
    assert build(proof_of_possession=ProofOfPossession("dpop")).dpop_enabled
    assert build(proof_of_possession=ProofOfPossession("mtls")).mtls_enabled
    assert not build().dpop_enabled
    assert not build().mtls_enabled


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("leeway", "10"),
        ("leeway", True),
        ("token_cache_size", "5"),
        ("token_cache_size", 1.5),
        ("max_token_bytes", 2048.0),
        ("max_token_bytes", None),
    ],
)
def test_numbers_of_the_wrong_type_are_config_errors(field: str, value: Any) -> None:
    refused(field, **{field: value})


# -- secrets stay out of repr, likely mistakes are logged (issues 11.10, 14.2) -------------


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2-password@redis.internal:6379/0",
        "rediss://app:hunter2-password@redis.internal/1",
        "redis://hunter2-password@redis.internal",
    ],
)
def test_the_replay_store_password_is_not_shown(url: str) -> None:
    config = GuardConfig(issuer="https://i.example/", audience="a", replay_store=url)
    assert config.replay_store == url
    for text in (repr(config), str(config)):
        assert "hunter2" not in text
        assert "redis.internal" in text
        assert "replay_store='redis" in text
        assert "://***@redis.internal" in text


def test_repr_still_shows_the_ordinary_settings() -> None:
    config = GuardConfig(issuer="https://i.example/", audience="a")
    assert repr(config).startswith("GuardConfig(issuer='https://i.example/', audience='a', ")
    assert "replay_store='memory'" in repr(config)


@pytest.mark.parametrize(
    "issuer", ["https://tenant.eu.auth0.com", "https://tenant.auth0.com/api/v2"]
)
def test_an_auth0_issuer_without_the_trailing_slash_is_logged(
    issuer: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rs_guard.config"):
        GuardConfig(issuer=issuer, audience="a")
    host = issuer.split("/")[2]
    assert f"looks like an Auth0 tenant, whose tokens carry iss 'https://{host}/'" in caplog.text


def test_an_auth0_issuer_with_the_slash_and_other_issuers_are_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="rs_guard.config"):
        GuardConfig(issuer="https://tenant.eu.auth0.com/", audience="a")
        GuardConfig(issuer="https://login.example.com", audience="a")
    assert caplog.text == ""


def test_a_short_hs256_secret_is_logged_but_accepted(caplog: pytest.LogCaptureFixture) -> None:
    secret = "sixteen-chars-ok"
    with caplog.at_level(logging.WARNING, logger="rs_guard.config"):
        config = GuardConfig(
            issuer="https://i.example/", audience="a", algorithm="HS256", signing_secret=secret
        )
    assert config.signing_secret == secret
    assert "HS256 signing secret is 16 bytes; RFC 7518 §3.2 wants at least 32 bytes" in (
        caplog.text
    )
    assert secret not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rs_guard.config"):
        GuardConfig(
            issuer="https://i.example/", audience="a", algorithm="HS256", signing_secret="s" * 32
        )
    assert caplog.text == ""


@pytest.mark.parametrize(
    "url",
    [
        "https://user:s3cret-pw@[bad/.well-known/jwks.json",
        "ftp://user:s3cret-pw@host/jwks.json",
        "http://user:s3cret-pw@example.com/jwks.json",
    ],
)
def test_a_refused_url_never_shows_its_password(url: str) -> None:
    from rs_guard.config import check_url

    with pytest.raises(ConfigError) as caught:
        check_url("jwks_uri", url)
    assert "s3cret-pw" not in str(caught.value)
    assert "***@" in str(caught.value)
