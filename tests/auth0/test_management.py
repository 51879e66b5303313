"""Importing an API's settings from the Management API (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from rs_guard import ConfigError
from rs_guard.auth0 import (
    ManagementAPIError,
    config_from_management_api,
    fetch_resource_server,
    find_resource_server_id,
    settings_from_management_api,
)
from rs_guard.config import ProofOfPossession, Scope, SubjectTypeAuthorization

TOKEN = "mgmt-token-123"


def resource_server(n: int, **fields: Any) -> dict[str, Any]:
    """A resource server as GET /api/v2/resource-servers/{id} answers it."""
    data: dict[str, Any] = {
        "id": f"rs{n:04d}aaaaaaaaaaaaaaaa",
        "name": f"API {n}",
        "is_system": False,
        "identifier": f"https://api{n}.example.com",
        "scopes": [{"value": "read:appointments", "description": "Read them"}],
        "signing_alg": "RS256",
        "signing_secret": "s" * 32,
        "allow_offline_access": False,
        "skip_consent_for_verifiable_first_party_clients": True,
        "token_lifetime": 86400,
        "token_lifetime_for_web": 7200,
        "enforce_policies": True,
        "token_dialect": "access_token_authz",
    }
    data.update(fields)
    return data


@pytest.fixture
def tenant(management: Any) -> Any:
    management.servers = [resource_server(n) for n in range(5)]
    management.servers[3].update(
        proof_of_possession={"mechanism": "dpop", "required": True},
        subject_type_authorization={
            "user": {"policy": "allow_all"},
            "client": {"policy": "deny_all"},
        },
    )
    return management


def test_fetch_by_id(tenant: Any) -> None:
    data = fetch_resource_server(tenant.base_url, TOKEN, resource_server_id=tenant.servers[1]["id"])
    assert data == tenant.servers[1]
    assert tenant.requests == [f"/api/v2/resource-servers/{tenant.servers[1]['id']}"]


def test_find_by_identifier_uses_the_filter(tenant: Any) -> None:
    rs_id = find_resource_server_id(tenant.base_url, TOKEN, "https://api3.example.com")
    assert rs_id == tenant.servers[3]["id"]
    assert len(tenant.requests) == 1
    assert "identifiers=https%3A%2F%2Fapi3.example.com" in tenant.requests[0]


def test_find_by_identifier_reads_every_page(tenant: Any, monkeypatch: Any) -> None:
    from rs_guard.auth0 import management

    monkeypatch.setattr(management, "PER_PAGE", 2)
    original = tenant._list

    def unfiltered(query: dict[str, list[str]]) -> Any:
        query = {k: v for k, v in query.items() if k != "identifiers"}
        return original(query)

    tenant._list = unfiltered
    rs_id = find_resource_server_id(tenant.base_url, TOKEN, tenant.servers[4]["identifier"])
    assert rs_id == tenant.servers[4]["id"]
    pages = [r for r in tenant.requests if r.startswith("/api/v2/resource-servers?")]
    assert len(pages) == 3
    assert "include_totals=true" in pages[0]
    assert "page=2" in pages[2]
    assert "identifiers=https%3A%2F%2Fapi4.example.com" in pages[0]


def test_list_without_totals_is_understood(tenant: Any) -> None:
    def plain_list(path: str) -> tuple[int, dict[str, str], bytes]:
        import json

        if "?" in path:
            return 200, {}, json.dumps([tenant.servers[2]]).encode()
        return 200, {}, json.dumps(tenant.servers[2]).encode()

    tenant.override = plain_list
    data = fetch_resource_server(tenant.base_url, TOKEN, identifier=tenant.servers[2]["identifier"])
    assert data["id"] == tenant.servers[2]["id"]


def test_config_from_management_api_by_identifier(tenant: Any) -> None:
    config = config_from_management_api(
        tenant.base_url, TOKEN, identifier=tenant.servers[3]["identifier"]
    )
    assert config.issuer == tenant.base_url + "/"
    assert config.audience == "https://api3.example.com"
    assert config.token_dialect == "access_token_authz"
    assert config.uses_permissions is True
    assert config.token_lifetime == 86400
    assert config.token_lifetime_for_web == 7200
    assert config.scopes == (Scope("read:appointments", "Read them"),)
    assert config.proof_of_possession == ProofOfPossession("dpop", required=True)
    assert config.subject_type_authorization == SubjectTypeAuthorization("allow_all", "deny_all")
    assert config.resource_server_id == tenant.servers[3]["id"]
    assert config.signing_secret is None  # RS256: Auth0's secret means nothing here


def test_issuer_override_for_a_custom_domain(tenant: Any) -> None:
    settings = settings_from_management_api(
        tenant.base_url,
        TOKEN,
        resource_server_id=tenant.servers[0]["id"],
        issuer="https://login.example.com/",
    )
    assert settings["issuer"] == "https://login.example.com/"


@pytest.mark.parametrize(
    ("status", "words"),
    [(401, "refused (401)"), (403, "read:resource_servers"), (500, "failed (500)")],
)
def test_http_errors_become_clear_messages(tenant: Any, status: int, words: str) -> None:
    tenant.override = lambda path: (
        status,
        {},
        b'{"statusCode":%d,"message":"Bad token mgmt-token-123"}' % status,
    )
    with pytest.raises(ManagementAPIError) as caught:
        fetch_resource_server(tenant.base_url, TOKEN, resource_server_id="rs1")
    assert words in str(caught.value)
    assert caught.value.status_code == status
    assert TOKEN not in str(caught.value)  # never echoed, even when Auth0 echoes it
    assert "Auth0 says" in str(caught.value)


def test_wrong_token_is_401(tenant: Any) -> None:
    with pytest.raises(ManagementAPIError, match=r"refused \(401\)") as caught:
        fetch_resource_server(tenant.base_url, "other-token", resource_server_id="x")
    assert "other-token" not in str(caught.value)


def test_unknown_id_is_404(tenant: Any) -> None:
    with pytest.raises(ManagementAPIError, match="no such resource server") as caught:
        fetch_resource_server(tenant.base_url, TOKEN, resource_server_id="nope")
    assert caught.value.status_code == 404


def test_unknown_identifier_is_a_clear_error(tenant: Any) -> None:
    with pytest.raises(ManagementAPIError, match="no API with the identifier"):
        fetch_resource_server(tenant.base_url, TOKEN, identifier="https://missing.example.com")


def test_429_with_retry_after_seconds(tenant: Any) -> None:
    tenant.override = lambda path: (429, {"Retry-After": "17"}, b'{"message":"Too Many"}')
    with pytest.raises(ManagementAPIError, match="retry after 17 s") as caught:
        fetch_resource_server(tenant.base_url, TOKEN, resource_server_id="x")
    assert caught.value.retry_after == 17.0
    assert caught.value.status_code == 429


def test_429_with_retry_after_date(tenant: Any) -> None:
    when = email.utils.formatdate(1_800_000_030, usegmt=True)
    tenant.override = lambda path: (429, {"Retry-After": when}, b"{}")
    with pytest.raises(ManagementAPIError) as caught:
        fetch_resource_server(
            tenant.base_url, TOKEN, resource_server_id="x", clock=lambda: 1_800_000_000.0
        )
    assert caught.value.retry_after == 30.0


def test_429_with_x_ratelimit_reset(tenant: Any) -> None:
    reset = int(time.time()) + 42
    tenant.override = lambda path: (
        429,
        {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        b"{}",
    )
    with pytest.raises(ManagementAPIError) as caught:
        fetch_resource_server(tenant.base_url, TOKEN, resource_server_id="x")
    assert caught.value.retry_after is not None
    assert 40 <= caught.value.retry_after <= 42


def test_429_without_headers(tenant: Any) -> None:
    tenant.override = lambda path: (429, {}, b"")
    with pytest.raises(ManagementAPIError, match=r"rate limit was reached \(429\)$") as caught:
        fetch_resource_server(tenant.base_url, TOKEN, resource_server_id="x")
    assert caught.value.retry_after is None


def test_bad_json(tenant: Any) -> None:
    tenant.override = lambda path: (200, {"Content-Type": "text/html"}, b"<html>login</html>")
    with pytest.raises(ManagementAPIError, match="not JSON"):
        fetch_resource_server(tenant.base_url, TOKEN, resource_server_id="x")


def test_json_of_the_wrong_shape(tenant: Any) -> None:
    tenant.override = lambda path: (200, {}, b"[1, 2]")
    with pytest.raises(ManagementAPIError, match="not a JSON object"):
        fetch_resource_server(tenant.base_url, TOKEN, resource_server_id="x")
    with pytest.raises(ManagementAPIError, match="unexpected shape"):
        fetch_resource_server(tenant.base_url, TOKEN, identifier="https://a")


def test_redirect_is_not_followed(tenant: Any) -> None:
    tenant.override = lambda path: (302, {"Location": "https://evil.test/"}, b"")
    with pytest.raises(ManagementAPIError, match="redirect"):
        fetch_resource_server(tenant.base_url, TOKEN, resource_server_id="x")
    assert len(tenant.requests) == 1


def test_timeout_is_a_clear_error() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ManagementAPIError, match="did not answer in time") as caught:
        fetch_resource_server(
            "tenant.example.com", TOKEN, resource_server_id="x", transport=httpx.MockTransport(slow)
        )
    assert TOKEN not in str(caught.value)


def test_real_timeout_against_a_silent_server(bounded: Callable[..., Any]) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        port = listener.getsockname()[1]
        with pytest.raises(ManagementAPIError, match="did not answer in time"):
            bounded(
                lambda: fetch_resource_server(
                    f"http://127.0.0.1:{port}", TOKEN, resource_server_id="x", timeout=0.3
                )
            )
    finally:
        listener.close()


def test_unreachable_tenant() -> None:
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(ManagementAPIError, match="could not be reached"):
        fetch_resource_server(f"http://127.0.0.1:{port}", TOKEN, resource_server_id="x")


def test_the_token_goes_in_the_header_only() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=resource_server(1))

    data = fetch_resource_server(
        "tenant.eu.auth0.com",
        TOKEN,
        resource_server_id="rs/1",
        transport=httpx.MockTransport(handler),
    )
    assert data["name"] == "API 1"
    assert str(seen[0].url) == "https://tenant.eu.auth0.com/api/v2/resource-servers/rs%2F1"
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(seen[0].url)


@pytest.mark.parametrize(
    "domain",
    [
        "http://tenant.example.com",  # http only on loopback
        "https://tenant.example.com/api",
        "https://user:pw@tenant.example.com",
        "",
        "ftp://tenant.example.com",
    ],
)
def test_bad_domains_are_config_errors(domain: str) -> None:
    with pytest.raises(ConfigError):
        fetch_resource_server(domain, TOKEN, resource_server_id="x")


def test_id_or_identifier_not_both() -> None:
    with pytest.raises(ConfigError):
        fetch_resource_server("t.example.com", TOKEN, resource_server_id="x", identifier="y")
    with pytest.raises(ConfigError):
        fetch_resource_server("t.example.com", TOKEN)
    with pytest.raises(ConfigError, match="management_token"):
        fetch_resource_server("t.example.com", " ", resource_server_id="x")
