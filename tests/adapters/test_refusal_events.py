"""A 403 decided by a route's requirements is one log event, as every guard refusal is."""

from __future__ import annotations

import logging

import anyio
import httpx
import pytest
from fastapi import FastAPI, Security
from flask import Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from rs_guard import AsyncGuard, Guard
from rs_guard.adapters.asgi import RSGuardMiddleware
from rs_guard.adapters.fastapi import RSGuard as FastAPIGuard
from rs_guard.adapters.flask import RSGuard as FlaskGuard
from rs_guard.adapters.flask import require
from rs_guard.adapters.starlette import requires
from rs_guard.testing import TokenIssuer


def _refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("rs_guard") and "refused" in r.message]


def _assert_one_403_event(caplog: pytest.LogCaptureFixture, token: str) -> None:
    events = _refusals(caplog)
    assert len(events) == 1, [e.message for e in events]
    assert "insufficient_scope" in events[0].message
    assert "403" in events[0].message
    assert token not in events[0].getMessage()


def _get(app: object, token: str, path: str = "/orders") -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            return await client.get(path, headers={"authorization": f"Bearer {token}"})

    return anyio.run(call)


def test_starlette_route_403_is_logged_once(
    issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    @requires("write:orders")
    async def orders(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    guard = AsyncGuard(issuer.config(), transport=issuer.transport(), clock=issuer.clock)
    app = Starlette(
        routes=[Route("/orders", orders)], middleware=[Middleware(RSGuardMiddleware, guard=guard)]
    )
    token = issuer.mint(scopes=["read:orders"])
    caplog.set_level(logging.INFO, logger="rs_guard")
    assert _get(app, token).status_code == 403
    _assert_one_403_event(caplog, token)


def test_fastapi_security_403_is_logged_once(
    issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    auth = FastAPIGuard(
        guard=AsyncGuard(issuer.config(), transport=issuer.transport(), clock=issuer.clock)
    )
    app = FastAPI()
    auth.install(app)

    @app.get("/orders")
    async def orders(token: object = Security(auth, scopes=["write:orders"])) -> str:
        return "ok"

    token = issuer.mint(scopes=["read:orders"])
    caplog.set_level(logging.INFO, logger="rs_guard")
    assert _get(app, token).status_code == 403
    _assert_one_403_event(caplog, token)


def test_flask_view_403_is_logged_once(
    issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    app = Flask(__name__)
    FlaskGuard(app, guard=Guard(issuer.config(), transport=issuer.transport(), clock=issuer.clock))

    @app.get("/orders")
    @require("write:orders")
    def orders() -> str:
        return "ok"

    token = issuer.mint(scopes=["read:orders"])
    caplog.set_level(logging.INFO, logger="rs_guard")
    answer = app.test_client().get("/orders", headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 403
    _assert_one_403_event(caplog, token)
