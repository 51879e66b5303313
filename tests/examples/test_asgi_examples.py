"""Both ASGI examples, in process: what is theirs alone (settings, a JWKS outage, several
header lines, websockets) and the FastAPI example under a real uvicorn. The routes and
refusals common to every example are in test_example_answers.py.

The examples are imported afresh per test with the ``RS_GUARD_*`` environment pointing
at a real :class:`JWKSServer` on 127.0.0.1, exactly as ``uvicorn examples.X:app`` would.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from example_cases import (
    READ,
    WRITE,
)
from refusals import expect_refusal

from rs_guard.testing import JWKSServer, TokenIssuer

with warnings.catch_warnings():  # Starlette >= 1.x prefers httpx2 for its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["examples.fastapi_app", "examples.starlette_app"]


@pytest.fixture(scope="module")
def live_issuer(rs256_issuer: TokenIssuer) -> TokenIssuer:
    """The session's key, minting on the real clock (the examples' guards use it)."""
    return TokenIssuer(key=rs256_issuer.current, clock=time.time)


@pytest.fixture(scope="module")
def jwks_server(live_issuer: TokenIssuer) -> Iterator[JWKSServer]:
    with JWKSServer(live_issuer.jwks) as server:
        yield server


@pytest.fixture
def jwks(jwks_server: JWKSServer) -> Iterator[JWKSServer]:
    """The module's JWKS server, healthy again after each test."""
    yield jwks_server
    jwks_server.reply = None


def _import_example(mp: pytest.MonkeyPatch, name: str, env: dict[str, str]) -> ModuleType:
    mp.syspath_prepend(str(ROOT))
    for key, value in env.items():
        mp.setenv(key, value)
    sys.modules.pop(name, None)
    module = importlib.import_module(name)
    mp.delitem(sys.modules, name)
    return module


def _env(issuer: TokenIssuer, server: JWKSServer) -> dict[str, str]:
    return {
        "RS_GUARD_ISSUER": issuer.issuer,
        "RS_GUARD_AUDIENCE": issuer.audience,
        "RS_GUARD_JWKS_URI": server.jwks_uri,
    }


@pytest.fixture
def load_example(
    monkeypatch: pytest.MonkeyPatch, live_issuer: TokenIssuer, jwks: JWKSServer
) -> Callable[..., ModuleType]:
    """Import an example afresh with the environment set (extra variables as keywords)."""

    def load(name: str, **env: str) -> ModuleType:
        return _import_example(monkeypatch, name, {**_env(live_issuer, jwks), **env})

    return load


@pytest.fixture(scope="module", params=EXAMPLES, ids=["fastapi", "starlette"])
def app_client(
    request: pytest.FixtureRequest, live_issuer: TokenIssuer, jwks_server: JWKSServer
) -> Iterator[TestClient]:
    """One example app per module, started (lifespan) once; its tests only read."""
    with pytest.MonkeyPatch.context() as mp:
        module = _import_example(mp, request.param, _env(live_issuer, jwks_server))
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
    settings = {
        "identifier": live_issuer.audience,
        "token_dialect": "access_token_authz",
        "enforce_policies": True,
        "scopes": [{"value": READ}, {"value": WRITE}],
    }
    path = tmp_path / "api.json"
    path.write_text(json.dumps(settings))
    app = load_example(name, RS_GUARD_CONFIG=str(path)).app
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
    import os
    import socket
    import subprocess

    import httpx

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    env = {
        **os.environ,
        "RS_GUARD_ISSUER": live_issuer.issuer,
        "RS_GUARD_AUDIENCE": live_issuer.audience,
        "RS_GUARD_JWKS_URI": jwks.jwks_uri,
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "uvicorn.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "examples.fastapi_app:app",
            "--fd",
            str(sock.fileno()),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
        pass_fds=(sock.fileno(),),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    sock.close()
    fetched_before = jwks.count()
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, (tmp_path / "uvicorn.log").read_text()
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.05)
            ok = http.get("/appointments", headers=bearer(live_issuer.mint(scopes=[READ])))
            assert ok.status_code == 200
            assert jwks.count() > fetched_before  # keys came over real HTTP from the server
            missing = http.get("/appointments")
            expect_refusal(missing, 401, None)
            weak = http.get("/appointments", headers=bearer(live_issuer.mint(scopes=[WRITE])))
            expect_refusal(weak, 403, "insufficient_scope")
            created = http.post("/appointments", headers=bearer(live_issuer.mint(scopes=[WRITE])))
            assert created.status_code == 201
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
        log.close()
