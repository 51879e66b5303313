"""Testing a FastAPI API protected by rs_guard: no Auth0 account, no network."""

from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Security

from rs_guard import AccessToken, load_config
from rs_guard.adapters.fastapi import RSGuard

pytestmark = pytest.mark.anyio  # async tests, run by the anyio pytest plugin

def create_app() -> FastAPI:
    auth = RSGuard(load_config())  # RS_GUARD_* from the environment, as in production
    app = FastAPI()
    auth.install(app)

    @app.get("/appointments")
    async def appointments(
        token: Annotated[AccessToken, Security(auth, scopes=["read:appointments"])],
    ) -> dict[str, Any]:
        return {"sub": token.subject}

    return app


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def client(rs_guard_env):  # the environment now trusts the in-memory issuer
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


async def test_a_token_with_the_scope_gets_in(client, rs_guard_issuer):
    token = rs_guard_issuer.mint(scopes=["read:appointments"], subject="auth0|alice")
    answer = await client.get("/appointments", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.json() == {"sub": "auth0|alice"}


async def test_a_token_without_the_scope_gets_403(client, rs_guard_issuer):
    token = rs_guard_issuer.mint(scopes=["profile"])
    answer = await client.get("/appointments", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403
    assert answer.json()["error"] == "insufficient_scope"


async def test_an_expired_token_gets_401(client, rs_guard_issuer):
    token = rs_guard_issuer.mint(scopes=["read:appointments"], expires_in=-60)
    answer = await client.get("/appointments", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
