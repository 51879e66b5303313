"""Both ASGI examples, in process: what is theirs alone (settings, a JWKS outage, several
header lines, websockets) and the FastAPI example under a real uvicorn. The routes and
refusals common to every example are in test_example_answers.py.

The examples are imported afresh per test with the ``RS_GUARD_*`` environment pointing
at a real :class:`JWKSServer` on 127.0.0.1, exactly as ``uvicorn examples.X:app`` would.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from example_cases import READ, WRITE, authz_settings_file, import_example
from launch import uvicorn
from refusals import expect_refusal

from rs_guard.testing import JWKSServer, TokenIssuer

with warnings.catch_warnings():  # Starlette >= 1.x prefers httpx2 for its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["examples.fastapi_app", "examples.starlette_app"]


@pytest.fixture(scope="module")
def jwks_server(live_issuer: TokenIssuer) -> Iterator[JWKSServer]:
    with JWKSServer(live_issuer.jwks) as server:
        yield server


@pytest.fixture
def jwks(jwks_server: JWKSServer) -> Iterator[JWKSServer]:
    """The module's JWKS server, healthy again after each test."""
    yield jwks_server
    jwks_server.reply = None


@pytest.fixture
def load_example(
    monkeypatch: pytest.MonkeyPatch, live_issuer: TokenIssuer, jwks: JWKSServer
) -> Callable[..., ModuleType]:
    """Import an example afresh with the environment set (extra variables as keywords)."""

    def load(name: str, **env: str) -> ModuleType:
        return import_example(monkeypatch, name, live_issuer, jwks.jwks_uri, **env)

    return load


@pytest.fixture(scope="module", params=EXAMPLES, ids=["fastapi", "starlette"])
def app_client(
    request: pytest.FixtureRequest, live_issuer: TokenIssuer, jwks_server: JWKSServer
) -> Iterator[TestClient]:
    """One example app per module, started (lifespan) once; its tests only read."""
    with pytest.MonkeyPatch.context() as mp:
        module = import_example(mp, request.param, live_issuer, jwks_server.jwks_uri)
        with TestClient(module.app) as test_client:
            yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- §2: the routes ---------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES, ids=["fastapi", "starlette"])
def test_authz_dialect_checks_permissions(
    name: str,
    load_example: Any,
    live_issuer: TokenIssuer,
    tmp_path: Path,
) -> None:
    app = load_example(name, RS_GUARD_CONFIG=authz_settings_file(live_issuer, tmp_path)).app
    with TestClient(app) as client:
        granted = live_issuer.mint(scopes=[], permissions=[READ])
        scoped_only = live_issuer.mint(scopes=[READ], permissions=[])
        assert client.get("/appointments", headers=bearer(granted)).status_code == 200
        refused = client.get("/appointments", headers=bearer(scoped_only))
        expect_refusal(refused, 403, "insufficient_scope")
        me = client.get("/me", headers=bearer(granted)).json()
        assert me["permissions"] == [READ]


# -- §3: the failures -------------------------------------------------------------


def test_two_authorization_headers_is_400(app_client: TestClient, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = app_client.get(
        "/me", headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    )
    expect_refusal(response, 400, "invalid_request")


@pytest.mark.parametrize("name", EXAMPLES, ids=["fastapi", "starlette"])
def test_keys_unavailable_is_503_with_retry_after(
    name: str, load_example: Any, jwks: JWKSServer, live_issuer: TokenIssuer
) -> None:
    jwks.reply = lambda path: (500, {}, b"down")
    app = load_example(name).app
    client = TestClient(app)  # no lifespan: nothing was fetched before the outage
    response = client.get("/appointments", headers=bearer(live_issuer.mint(scopes=[READ])))
    expect_refusal(response, 503, "temporarily_unavailable")
    assert client.get("/health").status_code == 200


# -- websockets -------------------------------------------------------------------


def test_websocket_without_token_is_denied_before_accept(app_client: TestClient) -> None:
    with pytest.raises(WebSocketDenialResponse) as denied, app_client.websocket_connect("/me"):
        pass  # pragma: no cover - never accepted
    response = denied.value
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert response.json() == {"error_description": "no access token was sent"}


def test_websocket_with_bad_token_is_denied_with_invalid_token(app_client: TestClient) -> None:
    connect = app_client.websocket_connect("/me", headers=bearer("not-a.jwt"))
    with pytest.raises(WebSocketDenialResponse) as denied, connect:
        pass  # pragma: no cover
    assert denied.value.status_code == 401
    assert denied.value.json()["error"] == "invalid_token"


# -- uvicorn over real HTTP --------------------------------------------------------


@pytest.mark.slow
def test_fastapi_example_under_real_uvicorn(
    live_issuer: TokenIssuer, jwks: JWKSServer, tmp_path: Path
) -> None:
    env = {
        "RS_GUARD_ISSUER": live_issuer.issuer,
        "RS_GUARD_AUDIENCE": live_issuer.audience,
        "RS_GUARD_JWKS_URI": jwks.jwks_uri,
    }
    fetched_before = jwks.count()
    with (
        uvicorn("examples.fastapi_app:app", env, tmp_path / "uvicorn.log") as base,
        httpx.Client(base_url=base, timeout=5) as http,
    ):
        ok = http.get("/appointments", headers=bearer(live_issuer.mint(scopes=[READ])))
        assert ok.status_code == 200
        assert jwks.count() > fetched_before  # keys came over real HTTP from the server
        missing = http.get("/appointments")
        expect_refusal(missing, 401, None)
        weak = http.get("/appointments", headers=bearer(live_issuer.mint(scopes=[WRITE])))
        expect_refusal(weak, 403, "insufficient_scope")
        created = http.post("/appointments", headers=bearer(live_issuer.mint(scopes=[WRITE])))
        assert created.status_code == 201
