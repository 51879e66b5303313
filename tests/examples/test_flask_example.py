"""examples/flask_app.py in process: what is Flask's alone (a settings file, several header
lines, a JWKS outage). The routes and refusals common to every example are in
test_example_answers.py, gunicorn in test_wsgi_gunicorn.py.

The example is imported afresh per test with the ``RS_GUARD_*`` environment pointing at
a :class:`JWKSServer`, exactly as ``flask --app examples.flask_app run`` would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from example_cases import (
    READ,
    authz_settings_file,
    import_example,
)
from flask.testing import FlaskClient
from refusals import expect_refusal

from rs_guard.testing import JWKSServer, TokenIssuer

ROOT = Path(__file__).resolve().parents[2]
NAME = "examples.flask_app"


@pytest.fixture
def load_example(
    monkeypatch: pytest.MonkeyPatch, live_issuer: TokenIssuer, jwks: JWKSServer
) -> Callable[..., ModuleType]:
    """Import the example afresh with the environment set (extra variables as keywords)."""

    def load(**env: str) -> ModuleType:
        return import_example(monkeypatch, NAME, live_issuer, jwks.jwks_uri, **env)

    return load


@pytest.fixture
def client(load_example: Callable[..., ModuleType]) -> FlaskClient:
    return load_example().app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- §2: the routes -----------------------------------------------------------------------------


def test_authz_dialect_checks_permissions(
    load_example: Callable[..., ModuleType], live_issuer: TokenIssuer, tmp_path: Path
) -> None:
    client = load_example(
        RS_GUARD_CONFIG=authz_settings_file(live_issuer, tmp_path)
    ).app.test_client()
    granted = live_issuer.mint(scopes=[], permissions=[READ])
    scoped_only = live_issuer.mint(scopes=[READ], permissions=[])
    assert client.get("/appointments", headers=bearer(granted)).status_code == 200
    expect_refusal(
        client.get("/appointments", headers=bearer(scoped_only)), 403, "insufficient_scope"
    )
    assert client.get("/me", headers=bearer(granted)).json["permissions"] == [READ]


# -- §3: the failures ---------------------------------------------------------------------------


def test_two_authorization_headers_is_400(client: FlaskClient, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = client.get(
        "/me", headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    )
    expect_refusal(response, 400, "invalid_request")


def test_keys_unavailable_is_503_with_retry_after(
    load_example: Callable[..., ModuleType], jwks: JWKSServer, live_issuer: TokenIssuer
) -> None:
    jwks.reply = lambda path: (500, {}, b"down")
    client = load_example().app.test_client()
    response = client.get("/appointments", headers=bearer(live_issuer.mint(scopes=[READ])))
    expect_refusal(response, 503, "temporarily_unavailable")
    assert client.get("/health").status_code == 200
