"""Proof of possession through the ASGI middleware: the URL and certificate it hands the guard.

DPoP's ``htu`` (RFC 9449 §4.3) is checked against the URL the middleware builds from the
server's own address or ``public_url``, never from ``Host``; the mTLS certificate
(RFC 8705 §3) comes from the ASGI ``tls`` extension or a trusted proxy's header.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rs_guard import AsyncGuard, ProofOfPossession
from rs_guard.adapters.asgi import RSGuardMiddleware
from rs_guard.adapters.starlette import token_of
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import DPoPKey, make_client_cert

with warnings.catch_warnings():  # Starlette >= 1.x prefers httpx2 for its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def live_issuer(rs256_issuer: TokenIssuer) -> TokenIssuer:
    return TokenIssuer(key=rs256_issuer.current, clock=time.time)


async def me(request: Request) -> JSONResponse:
    return JSONResponse(token_of(request).to_dict())


def dpop_app(issuer: TokenIssuer, **config: Any) -> Starlette:
    settings = issuer.config(proof_of_possession=ProofOfPossession("dpop", required=True), **config)
    guard = AsyncGuard(settings, transport=issuer.transport())
    return Starlette(
        routes=[Route("/me", me)], middleware=[Middleware(RSGuardMiddleware, guard=guard)]
    )


@pytest.fixture(scope="module")
def dpop_key() -> DPoPKey:
    return DPoPKey()


def dpop_headers(issuer: TokenIssuer, key: DPoPKey, htu: str, **extra: str) -> dict[str, str]:
    token = issuer.mint(scopes=["x"], cnf=key.cnf)
    proof = key.proof("GET", htu, access_token=token)
    return {"Authorization": f"DPoP {token}", "DPoP": proof, **extra}


def test_dpop_htu_is_the_servers_own_url(live_issuer: TokenIssuer, dpop_key: DPoPKey) -> None:
    with TestClient(dpop_app(live_issuer)) as client:
        ok = client.get("/me", headers=dpop_headers(live_issuer, dpop_key, "http://testserver/me"))
        assert ok.status_code == 200, ok.text
        assert ok.json()["cnf"] == dpop_key.cnf


def test_dpop_htu_ignores_a_forged_host(live_issuer: TokenIssuer, dpop_key: DPoPKey) -> None:
    forged = "http://evil.example/me"
    headers = dpop_headers(
        live_issuer, dpop_key, forged, Host="evil.example", **{"X-Forwarded-Host": "evil.example"}
    )
    with TestClient(dpop_app(live_issuer)) as client:
        refused = client.get("/me", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_dpop_proof"
    assert refused.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')


def test_dpop_htu_uses_public_url(live_issuer: TokenIssuer, dpop_key: DPoPKey) -> None:
    app = dpop_app(live_issuer, public_url="https://api.example.com/v1")
    with TestClient(app) as client:
        ok = client.get(
            "/me", headers=dpop_headers(live_issuer, dpop_key, "https://api.example.com/v1/me")
        )
        assert ok.status_code == 200, ok.text
        local = client.get(
            "/me", headers=dpop_headers(live_issuer, dpop_key, "http://testserver/me")
        )
        assert local.status_code == 401


def test_dpop_required_challenge_without_credentials(live_issuer: TokenIssuer) -> None:
    with TestClient(dpop_app(live_issuer)) as client:
        response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("DPoP")
    assert "error=" not in response.headers["www-authenticate"]


# -- mTLS -------------------------------------------------------------------------


def _scope(client_host: str, headers: list[tuple[bytes, bytes]], tls: Any = None) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "https", "path": "/me", "raw_path": b"/me", "query_string": b"",
        "root_path": "", "headers": headers, "client": (client_host, 40000),
        "server": ("127.0.0.1", 8443), "extensions": {},
    }  # fmt: skip
    if tls is not None:
        scope["extensions"]["tls"] = tls
    return scope


def _call(app: Any, scope: dict[str, Any]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def mtls_app(issuer: TokenIssuer, **config: Any) -> Any:
    settings = issuer.config(proof_of_possession=ProofOfPossession("mtls", required=True), **config)
    return RSGuardMiddleware(
        Starlette(routes=[Route("/me", me)]),
        guard=AsyncGuard(settings, transport=issuer.transport()),
    )


def test_mtls_certificate_from_the_tls_extension(live_issuer: TokenIssuer) -> None:
    cert, other = make_client_cert("a"), make_client_cert("b")
    token = live_issuer.mint(scopes=["x"], cnf=cert.cnf)
    auth = [(b"authorization", f"Bearer {token}".encode())]
    app = mtls_app(live_issuer)
    status, body = _call(
        app, _scope("10.1.1.1", auth, {"client_cert_chain": [cert.cert_pem.decode()]})
    )
    assert status == 200, body
    status, body = _call(
        app, _scope("10.1.1.1", auth, {"client_cert_chain": [other.cert_pem.decode()]})
    )
    assert status == 401
    assert b"invalid_token" in body
    status, _ = _call(app, _scope("10.1.1.1", auth))
    assert status == 401


def test_mtls_proxy_header_only_from_a_trusted_peer(live_issuer: TokenIssuer) -> None:
    cert = make_client_cert("proxied")
    token = live_issuer.mint(scopes=["x"], cnf=cert.cnf)
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"x-client-cert", cert.escaped.encode()),
    ]
    app = mtls_app(live_issuer, client_cert_header="X-Client-Cert")
    assert _call(app, _scope("127.0.0.1", headers))[0] == 200
    assert _call(app, _scope("203.0.113.7", headers))[0] == 401  # anyone else: header ignored
