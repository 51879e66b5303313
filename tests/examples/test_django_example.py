"""examples/django_app.py over the shared route and invalid-token tables (Django test
client), and under a real gunicorn (threads) against a real JWKS server on 127.0.0.1.

The example is imported afresh per test with the ``RS_GUARD_*`` environment pointing at
a :class:`JWKSServer`; the test client builds the middleware chain, so each test's
guard reads that environment, as ``gunicorn examples.django_app:application`` would.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings
from example_cases import (
    INVALID,
    READ,
    ROUTE_TABLE,
    WRITE,
    check_invalid_token_answer,
    check_route_answer,
    invalid_tokens,
)
from refusals import expect_refusal

from rs_guard.testing import JWKSServer, TokenIssuer

ROOT = Path(__file__).resolve().parents[2]
NAME = "examples.django_app"


@pytest.fixture
def load_example(
    monkeypatch: pytest.MonkeyPatch, live_issuer: TokenIssuer, jwks: JWKSServer
) -> Iterator[Callable[..., Client]]:
    """Import the example afresh with the environment set; a test client over it."""
    monkeypatch.syspath_prepend(str(ROOT))
    overrides: list[Any] = []

    def load(**env: str) -> Client:
        for key in [k for k in os.environ if k.startswith("RS_GUARD_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("RS_GUARD_ISSUER", live_issuer.issuer)
        monkeypatch.setenv("RS_GUARD_AUDIENCE", live_issuer.audience)
        monkeypatch.setenv("RS_GUARD_JWKS_URI", jwks.jwks_uri)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        sys.modules.pop(NAME, None)
        module: ModuleType = importlib.import_module(NAME)
        override = override_settings(
            ROOT_URLCONF=NAME, MIDDLEWARE=module.MIDDLEWARE, RS_GUARD=module.RS_GUARD
        )
        override.enable()
        overrides.append(override)
        return Client()

    yield load
    for override in reversed(overrides):
        override.disable()
    sys.modules.pop(NAME, None)


@pytest.fixture
def client(load_example: Callable[..., Client]) -> Client:
    return load_example()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_is_public(client: Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_me_answers_the_token_shape(client: Client, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ], subject="auth0|alice", client_id="app-9")
    response = client.get("/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {
        "sub": "auth0|alice",
        "client_id": "app-9",
        "scopes": [READ],
        "permissions": [],
        "cnf": None,
    }


@pytest.mark.parametrize(("method", "path", "scopes", "status"), ROUTE_TABLE)
def test_route_table(
    client: Client,
    live_issuer: TokenIssuer,
    method: str,
    path: str,
    scopes: list[str],
    status: int,
) -> None:
    token = live_issuer.mint(scopes=scopes)
    check_route_answer(client.generic(method, path, headers=bearer(token)), method, status)


@pytest.mark.parametrize("source", ["resource-server-json", "environment"])
def test_authz_dialect_checks_permissions(
    load_example: Callable[..., Client], live_issuer: TokenIssuer, tmp_path: Path, source: str
) -> None:
    if source == "environment":  # RBAC from RS_GUARD_* variables alone, as the other examples
        client = load_example(
            RS_GUARD_TOKEN_DIALECT="access_token_authz",
            RS_GUARD_ENFORCE_POLICIES="true",
            RS_GUARD_SCOPES=f"{READ} {WRITE}",
        )
    else:
        settings = {
            "identifier": live_issuer.audience,
            "token_dialect": "access_token_authz",
            "enforce_policies": True,
            "scopes": [{"value": READ}, {"value": WRITE}],
        }
        path = tmp_path / "api.json"
        path.write_text(json.dumps(settings))
        client = load_example(RS_GUARD_CONFIG=str(path))
    granted = live_issuer.mint(scopes=[], permissions=[READ])
    scoped_only = live_issuer.mint(scopes=[READ], permissions=[])
    assert client.get("/appointments", headers=bearer(granted)).status_code == 200
    expect_refusal(
        client.get("/appointments", headers=bearer(scoped_only)), 403, "insufficient_scope"
    )
    assert client.get("/me", headers=bearer(granted)).json()["permissions"] == [READ]


@pytest.mark.parametrize(
    ("headers", "query"),
    [({}, ""), ({"Authorization": "Basic dXNlcjpwYXNz"}, ""), ({}, "?access_token=abc.def.ghi")],
    ids=["none", "basic", "query-only"],
)
def test_missing_credentials_is_a_bare_401(
    client: Client, headers: dict[str, str], query: str
) -> None:
    expect_refusal(client.get("/me" + query, headers=headers), 401, None)


def test_unknown_route_is_protected_too(client: Client) -> None:
    expect_refusal(client.get("/admin"), 401, None)


def test_token_only_in_query_is_refused_even_if_valid(
    client: Client, live_issuer: TokenIssuer
) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = client.get(f"/appointments?access_token={token}")
    expect_refusal(response, 401, None)
    assert token not in response.content.decode()


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer    ", "Bearer a.b.c d.e.f", "Bearer abc\x01def"],
    ids=["no-token", "only-spaces", "two-tokens", "control-char"],
)
def test_malformed_header_is_400(client: Client, authorization: str) -> None:
    expect_refusal(
        client.get("/me", headers={"Authorization": authorization}), 400, "invalid_request"
    )


def test_two_authorization_headers_is_400(client: Client, live_issuer: TokenIssuer) -> None:
    # A server joins two header lines with "," (RFC 9110 §5.3), as Django's ASGI handler does.
    token = live_issuer.mint(scopes=[READ])
    response = client.get("/me", HTTP_AUTHORIZATION=f"Bearer {token}, Bearer {token}")
    expect_refusal(response, 400, "invalid_request")


def test_token_in_header_and_query_is_400(client: Client, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = client.get(f"/me?access_token={token}", headers=bearer(token))
    expect_refusal(response, 400, "invalid_request")
    assert token not in response.content.decode()
    assert token not in response.headers["www-authenticate"]


def test_scheme_is_case_insensitive_and_spaces_allowed(
    client: Client, live_issuer: TokenIssuer
) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = client.get("/appointments", headers={"Authorization": f"bEaReR   {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("case", INVALID)
def test_invalid_token_is_401(client: Client, live_issuer: TokenIssuer, case: str) -> None:
    token = invalid_tokens(live_issuer)[case]
    check_invalid_token_answer(client.get("/appointments", headers=bearer(token)), token)


def test_keys_unavailable_is_503_with_retry_after(
    load_example: Callable[..., Client], jwks: JWKSServer, live_issuer: TokenIssuer
) -> None:
    jwks.reply = lambda path: (500, {}, b"down")
    client = load_example()
    response = client.get("/appointments", headers=bearer(live_issuer.mint(scopes=[READ])))
    expect_refusal(response, 503, "temporarily_unavailable")
    assert client.get("/health").status_code == 200


def test_refusals_are_json_and_not_cached(client: Client) -> None:
    response = client.get("/me")
    assert response.headers["cache-control"] == "no-store"
    assert int(response.headers["content-length"]) == len(response.content)


def test_nothing_a_client_sends_is_a_500(client: Client) -> None:
    for value in ["Bearer \u00e9\u00e9", "Bearer " + "a" * 70000, "DPoP abc", "Bearer ,", ","]:
        assert client.get("/me", headers={"Authorization": value}).status_code in (400, 401)
    assert client.get("/me?access_token=%ZZ&access_token=").status_code in (400, 401)
    assert client.get("/health/../me").status_code == 401


def test_a_bad_setting_stops_the_example_at_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RS_GUARD_")}
    env.update(
        RS_GUARD_ISSUER="https://tenant.example/",
        RS_GUARD_AUDIENCE="https://api.example",
        RS_GUARD_SIGNING_ALG="none",
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-c", f"import {NAME}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: rs_guard: " in done.stderr
    assert "rs_guard: signing_alg: must be one of" in done.stderr
