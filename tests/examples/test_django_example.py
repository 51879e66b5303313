"""examples/django_app.py with the Django test client: what is Django's alone (settings
files, a JWKS outage, joined header lines, dot segments, a bad setting at start). The
routes and refusals common to every example are in test_example_answers.py, gunicorn in
test_wsgi_gunicorn.py.

The example is imported afresh per test with the ``RS_GUARD_*`` environment pointing at
a :class:`JWKSServer`; the test client builds the middleware chain, so each test's
guard reads that environment, as ``gunicorn examples.django_app:application`` would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings
from example_cases import (
    READ,
    WRITE,
    authz_settings_file,
    import_example,
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
    overrides: list[Any] = []

    def load(**env: str) -> Client:
        module = import_example(monkeypatch, NAME, live_issuer, jwks.jwks_uri, **env)
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
        client = load_example(RS_GUARD_CONFIG=authz_settings_file(live_issuer, tmp_path))
    granted = live_issuer.mint(scopes=[], permissions=[READ])
    scoped_only = live_issuer.mint(scopes=[READ], permissions=[])
    assert client.get("/appointments", headers=bearer(granted)).status_code == 200
    expect_refusal(
        client.get("/appointments", headers=bearer(scoped_only)), 403, "insufficient_scope"
    )
    assert client.get("/me", headers=bearer(granted)).json()["permissions"] == [READ]


def test_unknown_route_is_protected_too(client: Client) -> None:
    expect_refusal(client.get("/admin"), 401, None)


def test_dot_segments_after_a_public_path_are_protected(client: Client) -> None:
    assert client.get("/health/../me").status_code == 401


def test_two_authorization_headers_is_400(client: Client, live_issuer: TokenIssuer) -> None:
    # A server joins two header lines with "," (RFC 9110 §5.3), as Django's ASGI handler does.
    token = live_issuer.mint(scopes=[READ])
    response = client.get("/me", HTTP_AUTHORIZATION=f"Bearer {token}, Bearer {token}")
    expect_refusal(response, 400, "invalid_request")


def test_keys_unavailable_is_503_with_retry_after(
    load_example: Callable[..., Client], jwks: JWKSServer, live_issuer: TokenIssuer
) -> None:
    jwks.reply = lambda path: (500, {}, b"down")
    client = load_example()
    response = client.get("/appointments", headers=bearer(live_issuer.mint(scopes=[READ])))
    expect_refusal(response, 503, "temporarily_unavailable")
    assert client.get("/health").status_code == 200


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
