"""One decorator core: the same requirement order in Starlette, FastAPI and Flask.

Authentication, then scopes and permissions, then claim checks, whatever order the
arguments (or stacked decorators) give; stacked decorators authenticate once.
"""

# No `from __future__ import annotations`: FastAPI must evaluate the local dependencies.

import warnings
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rs_guard import AsyncGuard, Guard, claim_equals
from rs_guard.adapters import flask as flask_adapter
from rs_guard.adapters.fastapi import RSGuard
from rs_guard.adapters.starlette import RSGuardMiddleware, requires
from rs_guard.testing import TokenIssuer

with warnings.catch_warnings():  # Starlette >= 1.x prefers httpx2 for its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ORG = claim_equals("org_id", "org_1")
SCOPE_FIRST = 'Bearer error="insufficient_scope", scope="read:a"'
Call = Callable[[str, str], tuple[int, str, Any]]


def starlette_app(issuer: TokenIssuer, clock: Any) -> Call:
    @requires(ORG, "read:a")
    async def mixed(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    @requires(ORG)
    @requires("read:a")
    async def stacked(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    guard = AsyncGuard(issuer.config(), clock=clock, transport=issuer.transport())
    app = Starlette(
        routes=[Route("/mixed", mixed), Route("/stacked", stacked)],
        middleware=[(RSGuardMiddleware, (), {"guard": guard})],  # type: ignore[list-item]
    )
    return _asgi_caller(app)


def fastapi_app(issuer: TokenIssuer, clock: Any) -> Call:
    auth = RSGuard(guard=AsyncGuard(issuer.config(), clock=clock, transport=issuer.transport()))
    app = FastAPI()
    auth.install(app)

    @app.get("/mixed")
    @auth.requires(ORG, "read:a")
    async def mixed() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/stacked")
    @auth.requires(ORG)
    @auth.requires("read:a")
    def stacked() -> dict[str, bool]:
        return {"ok": True}

    return _asgi_caller(app)


def _asgi_caller(app: Any) -> Call:
    def call(path: str, token: str) -> tuple[int, str, Any]:
        with TestClient(app) as client:
            answer = client.get(path, headers={"Authorization": f"Bearer {token}"})
        return answer.status_code, answer.headers.get("www-authenticate", ""), answer.json()

    return call


def flask_app(issuer: TokenIssuer, clock: Any) -> Call:
    app = Flask(__name__)
    flask_adapter.RSGuard(
        app, guard=Guard(issuer.config(), clock=clock, transport=issuer.transport())
    )

    @app.get("/mixed")
    @flask_adapter.require(ORG, "read:a")
    def mixed() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/stacked")
    @flask_adapter.require(ORG)
    @flask_adapter.require("read:a")
    async def stacked() -> dict[str, bool]:
        return {"ok": True}

    def call(path: str, token: str) -> tuple[int, str, Any]:
        answer = app.test_client().get(path, headers={"Authorization": f"Bearer {token}"})
        return answer.status_code, answer.headers.get("WWW-Authenticate", ""), answer.json

    return call


@pytest.mark.parametrize("build", [starlette_app, fastapi_app, flask_app])
@pytest.mark.parametrize("path", ["/mixed", "/stacked"])
def test_scopes_are_checked_before_claims(
    build: Callable[[TokenIssuer, Any], Call], path: str, issuer: TokenIssuer, clock: Any
) -> None:
    call = build(issuer, clock)
    neither = issuer.mint(claims={"org_id": "org_2"})
    status, challenge, body = call(path, neither)
    assert (status, challenge, body["error"]) == (403, SCOPE_FIRST, "insufficient_scope")
    only_scope = issuer.mint(scopes=["read:a"], claims={"org_id": "org_2"})
    status, challenge, body = call(path, only_scope)
    assert (status, body["error"]) == (403, "insufficient_scope")
    assert challenge.startswith('Bearer error="insufficient_scope", error_description="')
    both = issuer.mint(scopes=["read:a"], claims={"org_id": "org_1"})
    assert call(path, both) == (200, "", {"ok": True})
