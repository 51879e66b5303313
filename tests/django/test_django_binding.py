"""Proof of possession through the Django adapter under ASGI: the client certificate from
the ASGI TLS extension (RFC 8705) and the DPoP ``htu`` from the scope's scheme and server,
never from ``Host`` (RFC 9449 §4.3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from django.test import AsyncClient
from django.test.utils import override_settings
from django_views import READ

from rs_guard.adapters.django import reset_default_guard
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import CertificateAuthority, DPoPKey

MIDDLEWARE = ["rs_guard.adapters.django.RSGuardMiddleware"]


def _configure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, issuer: TokenIssuer, mechanism: str
) -> None:
    path = tmp_path / "api.json"
    pop = {"mechanism": mechanism, "required": True}
    path.write_text(json.dumps({"identifier": issuer.audience, "proof_of_possession": pop}))
    monkeypatch.setenv("RS_GUARD_CONFIG", str(path))
    reset_default_guard()


def _get(path: str, headers: dict[str, str], **scope: Any) -> tuple[int, Any, Any]:
    """One ASGI request built by hand: the test client's helpers cannot set the scope."""
    raw = [(name.lower().encode(), value.encode("latin-1")) for name, value in headers.items()]
    if "host" not in {name.lower() for name in headers}:
        raw.append((b"host", b"testserver"))

    async def call() -> Any:
        return await AsyncClient().request(
            method="GET", path=path, query_string="", headers=raw, **scope
        )

    with override_settings(ROOT_URLCONF="django_views", MIDDLEWARE=MIDDLEWARE, RS_GUARD={}):
        response = anyio.run(call)
    return response.status_code, response.headers.get("www-authenticate"), response.json()


def test_certificate_from_the_asgi_tls_extension(
    rs_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    live_issuer: TokenIssuer,
) -> None:
    _configure(monkeypatch, tmp_path, live_issuer, "mtls")
    ca = CertificateAuthority()
    mine, other = ca.client_cert("a"), ca.client_cert("b")
    token = live_issuer.mint(scopes=[READ], subject="auth0|m", cnf=mine.cnf)
    auth = {"Authorization": f"Bearer {token}"}

    def tls(cert: Any) -> dict[str, Any]:
        return {"tls": {"client_cert_chain": [cert.cert_pem.decode()]}}

    status, _, body = _get("/async-read", auth, extensions=tls(mine))
    assert (status, body["sub"]) == (200, "auth0|m")
    for extensions in (tls(other), {}):
        status, challenge, body = _get("/async-read", auth, extensions=extensions)
        assert (status, body["error"]) == (401, "invalid_token")
        assert challenge.startswith('Bearer error="invalid_token", error_description="')


def test_dpop_htu_from_the_asgi_scope_not_the_host_header(
    rs_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    live_issuer: TokenIssuer,
) -> None:
    _configure(monkeypatch, tmp_path, live_issuer, "dpop")
    key = DPoPKey()
    token = live_issuer.mint(scopes=[READ], subject="auth0|d", cnf=key.cnf)
    where = {"scheme": "https", "server": ("api.internal", 8443)}

    def call(url: str, **extra: str) -> tuple[int, Any, Any]:
        proof = key.proof("GET", url, access_token=token)
        headers = {"Authorization": f"DPoP {token}", "DPoP": proof, **extra}
        return _get("/async-read", headers, **where)

    status, _, body = call("https://api.internal:8443/async-read")
    assert (status, body["sub"]) == (200, "auth0|d")
    # a proof for the URL a forged Host names is refused
    status, challenge, body = call("https://evil.example/async-read", Host="evil.example")
    assert (status, body["error"]) == (401, "invalid_dpop_proof")
    assert "htu" in body["error_description"]
    assert 'DPoP error="invalid_dpop_proof"' in challenge
