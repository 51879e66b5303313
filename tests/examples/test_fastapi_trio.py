"""The FastAPI example under trio: lifespan (key warm-up), an admitted request, refusals.

The app is imported as ``uvicorn examples.fastapi_app:app`` would, with the environment
pointing at a real JWKS server on 127.0.0.1, and driven in process by
:class:`httpx.ASGITransport` inside ``anyio.run(..., backend="trio")``: the middleware,
the guard's key fetch (httpx on trio) and the FastAPI dependency run on trio.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import sniffio
from example_cases import READ, WRITE
from refusals import expect_refusal

from rs_guard.testing import JWKSServer, TokenIssuer

ROOT = Path(__file__).resolve().parents[2]
NAME = "examples.fastapi_app"


async def _lifespan(app: Any, events: list[str], served: anyio.Event) -> None:
    """Run the app's lifespan: startup, wait until ``served`` is set, shutdown."""
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](2)
    app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](2)
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as tasks:
        tasks.start_soon(app, scope, app_inbox.receive, app_outbox.send)
        await to_app.send({"type": "lifespan.startup"})
        events.append((await from_app.receive())["type"])
        await served.wait()
        await to_app.send({"type": "lifespan.shutdown"})
        events.append((await from_app.receive())["type"])


def test_the_fastapi_example_runs_on_trio(
    monkeypatch: pytest.MonkeyPatch, rs256_issuer: TokenIssuer
) -> None:
    issuer = TokenIssuer(key=rs256_issuer.current, clock=time.time)
    with JWKSServer(issuer.jwks) as server:
        monkeypatch.syspath_prepend(str(ROOT))
        monkeypatch.setenv("RS_GUARD_ISSUER", issuer.issuer)
        monkeypatch.setenv("RS_GUARD_AUDIENCE", issuer.audience)
        monkeypatch.setenv("RS_GUARD_JWKS_URI", server.jwks_uri)
        sys.modules.pop(NAME, None)
        app = importlib.import_module(NAME).app
        monkeypatch.delitem(sys.modules, NAME)
        events: list[str] = []
        answers: dict[str, httpx.Response] = {}

        async def main() -> str:
            served = anyio.Event()
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(_lifespan, app, events, served)
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://testserver"
                ) as client:
                    while not events:  # the startup (and its key warm-up) is done
                        await anyio.sleep(0.01)
                    fetched_at_start = server.count()
                    answers["health"] = await client.get("/health")
                    token = issuer.mint(scopes=[READ], subject="auth0|trio")
                    bearer = {"Authorization": f"Bearer {token}"}
                    answers["list"] = await client.get("/appointments", headers=bearer)
                    answers["write"] = await client.post("/appointments", headers=bearer)
                    answers["none"] = await client.get("/me")
                    answers["bad"] = await client.get(
                        "/me", headers={"Authorization": f"Bearer {token[:-4]}AAAA"}
                    )
                served.set()
            return f"{sniffio.current_async_library()} {fetched_at_start} {server.count()}"

        assert anyio.run(main, backend="trio") == "trio 1 1"
    assert events == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert (answers["health"].status_code, answers["health"].json()) == (200, {"status": "ok"})
    listed = answers["list"]
    assert (listed.status_code, listed.json()["sub"]) == (200, "auth0|trio")
    expect_refusal(
        answers["write"],
        403,
        "insufficient_scope",
        challenge=f'Bearer error="insufficient_scope", scope="{WRITE}"',
    )
    expect_refusal(answers["none"], 401, None, challenge='Bearer realm="api"')
    expect_refusal(
        answers["bad"],
        401,
        "invalid_token",
        challenge=(
            'Bearer error="invalid_token", error_description="the token\'s signature is not valid"'
        ),
    )
