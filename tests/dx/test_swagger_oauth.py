"""configure_swagger_oauth: what FastAPI hands Swagger UI, without a browser."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Security

from rs_guard import AccessToken
from rs_guard.adapters.fastapi import RSGuard
from rs_guard.adapters.swagger import configure_swagger_oauth
from rs_guard.config import Scope
from rs_guard.testing import TokenIssuer

SCOPES = (Scope("read:appointments", "Read your appointments"), Scope("write:appointments"))


def _app(**options: str) -> tuple[FastAPI, TokenIssuer]:
    issuer = TokenIssuer()
    config = issuer.config(scopes=SCOPES)
    auth = RSGuard(config)
    app = FastAPI()
    auth.install(app, middleware=False)
    configure_swagger_oauth(app, config, client_id="spa", **options)

    @app.get("/appointments")
    async def appointments(
        token: AccessToken = Security(auth, scopes=["read:appointments"]),  # noqa: B008
    ) -> dict[str, str]:
        return {"for": token.subject}

    return app, issuer


def test_swagger_gets_pkce_the_client_and_the_audience() -> None:
    app, issuer = _app()
    assert app.swagger_ui_init_oauth == {
        "clientId": "spa",
        "usePkceWithAuthorizationCodeGrant": True,
        "additionalQueryStringParams": {"audience": issuer.audience},
    }


def test_the_openapi_scheme_is_an_authorization_code_flow_at_the_issuer() -> None:
    app, issuer = _app()
    schema = app.openapi()
    assert schema["components"]["securitySchemes"]["rs_guard"]["flows"] == {
        "authorizationCode": {
            "authorizationUrl": f"{issuer.issuer}authorize",
            "tokenUrl": f"{issuer.issuer}oauth/token",
            "scopes": {"read:appointments": "Read your appointments", "write:appointments": ""},
        }
    }
    operation = schema["paths"]["/appointments"]["get"]
    assert operation["security"] == [{"rs_guard": ["read:appointments"]}]
    assert app.openapi() is schema  # built once


def test_custom_endpoints() -> None:
    app, _ = _app(
        authorization_url="https://login.example/authorize", token_url="https://login.example/t"
    )
    flow = app.openapi()["components"]["securitySchemes"]["rs_guard"]["flows"]
    assert flow["authorizationCode"]["authorizationUrl"] == "https://login.example/authorize"
    assert flow["authorizationCode"]["tokenUrl"] == "https://login.example/t"


def test_the_docs_page_carries_the_oauth_options() -> None:
    app, issuer = _app()
    import asyncio

    async def get() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return (await client.get("/docs")).text

    html = asyncio.run(get())
    assert '"usePkceWithAuthorizationCodeGrant": true' in html
    assert f'"audience": "{issuer.audience}"' in html


def test_a_client_id_is_required() -> None:
    issuer = TokenIssuer()
    with pytest.raises(ValueError, match="client_id"):
        configure_swagger_oauth(FastAPI(), issuer.config(), client_id="")


def test_install_signs_swagger_in_with_the_given_client() -> None:
    issuer = TokenIssuer()
    config = issuer.config(scopes=SCOPES)
    auth = RSGuard(config)
    app = FastAPI()
    auth.install(app, swagger_client_id="spa-from-install")

    @app.get("/appointments")
    async def appointments(
        token: AccessToken = Security(auth, scopes=["read:appointments"]),  # noqa: B008
    ) -> dict[str, str]:
        return {"for": token.subject}

    assert app.swagger_ui_init_oauth == {
        "clientId": "spa-from-install",
        "usePkceWithAuthorizationCodeGrant": True,
        "additionalQueryStringParams": {"audience": issuer.audience},
    }
    flows = app.openapi()["components"]["securitySchemes"]["rs_guard"]["flows"]
    assert flows["authorizationCode"]["authorizationUrl"] == f"{issuer.issuer}authorize"
    assert flows["authorizationCode"]["scopes"] == {
        "read:appointments": "Read your appointments",
        "write:appointments": "",
    }
