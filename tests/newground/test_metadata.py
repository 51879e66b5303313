"""RFC 9728 protected-resource metadata through the four example apps: the document, its
location, the challenges that name it, and the start-up check of the identifier."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import EXAMPLES, ExampleClient, bearer

from rs_guard.errors import ConfigError
from rs_guard.metadata import metadata_path, metadata_url
from rs_guard.testing import DPoPKey, TokenIssuer

Load = Callable[..., ExampleClient]
ON = {"RS_GUARD_RESOURCE_METADATA": "true"}
WELL_KNOWN = "/.well-known/oauth-protected-resource"
READ, WRITE = "read:appointments", "write:appointments"
DPOP_ALGS = "ES256 PS256 RS256 EdDSA"


@pytest.fixture(params=EXAMPLES, ids=["fastapi", "starlette", "flask", "django"])
def example(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _resource_server(tmp_path: Path, **fields: object) -> str:
    data = {
        "identifier": "https://api.rs-guard.test/v1",
        "name": "Appointments API",
        "scopes": [{"value": READ, "description": "read"}, {"value": WRITE}],
        **fields,
    }
    path = tmp_path / "rs.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize(
    ("identifier", "path", "url"),
    [
        ("https://api.example.com/", WELL_KNOWN, "https://api.example.com" + WELL_KNOWN),
        ("https://api.example.com", WELL_KNOWN, "https://api.example.com" + WELL_KNOWN),
        (
            "https://mcp.example.com/mcp",
            WELL_KNOWN + "/mcp",
            "https://mcp.example.com" + WELL_KNOWN + "/mcp",
        ),
        (
            "https://a.example:8443/x/y/",
            WELL_KNOWN + "/x/y",
            "https://a.example:8443" + WELL_KNOWN + "/x/y",
        ),
        (
            "http://127.0.0.1:8000/mcp",
            WELL_KNOWN + "/mcp",
            "http://127.0.0.1:8000" + WELL_KNOWN + "/mcp",
        ),
    ],
)
def test_well_known_location_rfc9728_3_1(identifier: str, path: str, url: str) -> None:
    assert metadata_path(identifier) == path
    assert metadata_url(identifier) == url


def test_document_without_a_path(
    example: str, load_example: Load, live_issuer: TokenIssuer
) -> None:
    client = load_example(example, **ON)
    answer = client.get(WELL_KNOWN)
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "public, max-age=3600"
    assert "www-authenticate" not in answer.headers
    assert answer.json() == {
        "resource": "https://api.rs-guard.test",
        "authorization_servers": [live_issuer.issuer],
        "bearer_methods_supported": ["header"],
    }


def test_document_with_a_path_scopes_name_and_dpop(
    example: str, load_example: Load, live_issuer: TokenIssuer, tmp_path: Path
) -> None:
    config = _resource_server(
        tmp_path,
        proof_of_possession={"mechanism": "dpop", "required": True},
        authorization_details=[{"type": "appointment"}],
    )
    client = load_example(
        example, RS_GUARD_CONFIG=config, RS_GUARD_AUDIENCE="https://api.rs-guard.test/v1", **ON
    )
    assert client.get(WELL_KNOWN).status != 200  # the root document is not this API's
    answer = client.get(WELL_KNOWN + "/v1")
    assert answer.status == 200
    assert answer.json() == {
        "resource": "https://api.rs-guard.test/v1",
        "authorization_servers": [live_issuer.issuer],
        "bearer_methods_supported": ["header"],
        "scopes_supported": [READ, WRITE],
        "resource_name": "Appointments API",
        "authorization_details_types_supported": ["appointment"],
        "dpop_signing_alg_values_supported": ["ES256", "PS256", "RS256", "EdDSA"],
        "dpop_bound_access_tokens_required": True,
    }


def test_document_with_mtls(example: str, load_example: Load, tmp_path: Path) -> None:
    config = _resource_server(tmp_path, proof_of_possession={"mechanism": "mtls"})
    client = load_example(
        example, RS_GUARD_CONFIG=config, RS_GUARD_AUDIENCE="https://api.rs-guard.test/v1", **ON
    )
    document = client.get(WELL_KNOWN + "/v1").json()
    assert document["tls_client_certificate_bound_access_tokens"] is True
    assert "dpop_signing_alg_values_supported" not in document


def test_every_bearer_challenge_names_the_document(
    example: str, load_example: Load, live_issuer: TokenIssuer
) -> None:
    client = load_example(example, **ON)
    url = f'resource_metadata="https://api.rs-guard.test{WELL_KNOWN}"'
    bare = client.get("/me")
    assert bare.status == 401
    assert bare.challenge == f'Bearer realm="api", {url}'
    expired = live_issuer.mint(scopes=[READ], expires_in=-3600)
    invalid = client.get("/me", bearer(expired))
    assert invalid.status == 401
    assert invalid.challenge is not None
    assert invalid.challenge.startswith('Bearer error="invalid_token", error_description="')
    assert invalid.challenge.endswith(f'", {url}')
    malformed = client.get("/me", {"Authorization": "Bearer"})
    assert malformed.status == 400
    assert malformed.challenge is not None
    assert malformed.challenge.endswith(url)
    forbidden = client.get("/appointments", bearer(live_issuer.mint(scopes=[WRITE])))
    assert forbidden.status == 403
    assert forbidden.challenge == f'Bearer error="insufficient_scope", scope="{READ}", {url}'
    ok = client.get("/appointments", bearer(live_issuer.mint(scopes=[READ])))
    assert ok.status == 200


def test_dpop_challenges_name_the_document(
    example: str, load_example: Load, live_issuer: TokenIssuer, tmp_path: Path
) -> None:
    config = _resource_server(
        tmp_path, identifier=live_issuer.audience, proof_of_possession={"mechanism": "dpop"}
    )
    client = load_example(example, RS_GUARD_CONFIG=config, **ON)
    url = f'resource_metadata="https://api.rs-guard.test{WELL_KNOWN}"'
    bare = client.get("/me")
    assert bare.status == 401
    assert bare.challenge == f'Bearer realm="api", {url}, DPoP algs="{DPOP_ALGS}", {url}'
    key = DPoPKey()
    token = live_issuer.mint(scopes=[READ], cnf=key.cnf)
    bad_proof = client.get("/me", {"Authorization": f"DPoP {token}", "DPoP": "not-a-proof"})
    assert bad_proof.status == 401
    assert bad_proof.challenge is not None
    assert bad_proof.challenge.startswith(
        f'Bearer realm="api", {url}, DPoP error="invalid_dpop_proof"'
    )
    assert bad_proof.challenge.endswith(f'algs="{DPOP_ALGS}", {url}')


def test_non_https_identifier_is_a_config_error(example: str, load_example: Load) -> None:
    with pytest.raises(ConfigError) as caught:
        load_example(example, RS_GUARD_AUDIENCE="http://api.example.com/", **ON)
    assert caught.value.field == "audience"
    assert "https" in str(caught.value)
    with pytest.raises(ConfigError) as urn:
        load_example(example, RS_GUARD_AUDIENCE="urn:appointments", **ON)
    assert urn.value.field == "audience"


def test_loopback_http_identifier_is_accepted(example: str, load_example: Load) -> None:
    client = load_example(example, RS_GUARD_AUDIENCE="http://127.0.0.1:8000/mcp", **ON)
    answer = client.get(WELL_KNOWN + "/mcp")
    assert answer.status == 200
    assert answer.json()["resource"] == "http://127.0.0.1:8000/mcp"


def test_nothing_changes_without_the_setting(
    example: str, load_example: Load, live_issuer: TokenIssuer
) -> None:
    client = load_example(example, RS_GUARD_AUDIENCE="http://api.example.com/")  # no check
    assert client.get(WELL_KNOWN).status in (401, 404)
    client = load_example(example)
    assert client.get(WELL_KNOWN).status in (401, 404)
    assert client.get("/me").challenge == 'Bearer realm="api"'
    forbidden = client.get("/appointments", bearer(live_issuer.mint(scopes=[WRITE])))
    assert forbidden.challenge == f'Bearer error="insufficient_scope", scope="{READ}"'


def test_only_get_and_head(example: str, load_example: Load) -> None:
    client = load_example(example, **ON)
    head = client.request("HEAD", WELL_KNOWN)
    assert head.status == 200
    assert head.body == b""
    post = client.request("POST", WELL_KNOWN)
    assert post.status == 405
