"""FastAPI: the ``Security(RSGuard)`` dependency, the decorator on path operations, OpenAPI."""

# No `from __future__ import annotations`: FastAPI must evaluate the local `auth`.

import time
import warnings
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Security, WebSocket

from rs_guard import AccessToken, AsyncGuard, Scope, claim_equals
from rs_guard.adapters.asgi import check_route_scopes
from rs_guard.adapters.fastapi import RSGuard, requires
from rs_guard.errors import ConfigError
from rs_guard.testing import TokenIssuer

with warnings.catch_warnings():  # Starlette >= 1.x prefers httpx2 for its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse

READ, WRITE = "read:appointments", "write:appointments"
SCOPES = (Scope(READ, "Read appointments"), Scope(WRITE, "Write appointments"))


@pytest.fixture(scope="module")
def live_issuer(rs256_issuer: TokenIssuer) -> TokenIssuer:
    return TokenIssuer(key=rs256_issuer.current, clock=time.time)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def build(issuer: TokenIssuer, *, middleware: bool, **install: Any) -> FastAPI:
    config = issuer.config(scopes=SCOPES)
    auth = RSGuard(guard=AsyncGuard(config, transport=issuer.transport()))
    app = FastAPI()
    auth.install(app, middleware=middleware, **install)

    @app.get("/me")
    async def me(token: Annotated[AccessToken, Security(auth)]) -> dict[str, Any]:
        return token.to_dict()

    @app.get("/items/{item_id}")
    async def read_item(
        item_id: int, token: Annotated[AccessToken, Security(auth, scopes=[READ])]
    ) -> dict[str, Any]:
        return {"id": item_id, "sub": token.subject}

    @app.delete("/items/{item_id}")
    def delete_item(
        item_id: int, token: Annotated[AccessToken, Security(auth, scopes=[READ, WRITE])]
    ) -> dict[str, Any]:
        return {"deleted": item_id}

    @app.get("/decorated/{item_id}")
    @auth.requires(WRITE, checks=[claim_equals("org_id", "org_1")])
    async def decorated(item_id: int, q: str = "") -> dict[str, Any]:
        return {"id": item_id, "q": q}

    @app.get("/decorated-sync")
    @requires(any_of=[READ, WRITE])
    def decorated_sync(token: Annotated[AccessToken, Security(auth)]) -> dict[str, Any]:
        return {"sub": token.subject}

    @app.websocket("/ws")
    async def ws(
        websocket: WebSocket, token: Annotated[AccessToken, Security(auth, scopes=[READ])]
    ) -> None:
        await websocket.accept()
        await websocket.send_json({"sub": token.subject})
        await websocket.close()

    return app


@pytest.fixture(params=[True, False], ids=["middleware", "dependency-only"])
def client(request: pytest.FixtureRequest, live_issuer: TokenIssuer) -> Iterator[TestClient]:
    with TestClient(build(live_issuer, middleware=request.param)) as test_client:
        yield test_client


def test_dependency_returns_the_token(client: TestClient, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ], subject="auth0|dep")
    assert client.get("/me", headers=bearer(token)).json()["sub"] == "auth0|dep"
    assert client.get("/items/5", headers=bearer(token)).json() == {"id": 5, "sub": "auth0|dep"}


@pytest.mark.parametrize(
    ("path", "method", "scopes", "status", "needed"),
    [
        ("/items/5", "GET", [READ], 200, None),
        ("/items/5", "GET", [WRITE], 403, READ),
        ("/items/5", "DELETE", [READ, WRITE], 200, None),
        ("/items/5", "DELETE", [READ], 403, f"{READ} {WRITE}"),
        ("/decorated-sync", "GET", [WRITE], 200, None),
        ("/decorated-sync", "GET", ["other"], 403, f"{READ} {WRITE}"),
    ],
)
def test_scopes(
    client: TestClient,
    live_issuer: TokenIssuer,
    path: str,
    method: str,
    scopes: list[str],
    status: int,
    needed: str | None,
) -> None:
    response = client.request(method, path, headers=bearer(live_issuer.mint(scopes=scopes)))
    assert response.status_code == status, response.text
    if needed:
        assert set(response.json()) == {"error", "error_description"}
        assert response.headers["www-authenticate"] == (
            f'Bearer error="insufficient_scope", scope="{needed}"'
        )


def test_failures_have_the_rfc6750_shape(client: TestClient) -> None:
    missing = client.get("/me")
    assert missing.status_code == 401
    assert missing.json() == {"error_description": "no access token was sent"}
    assert missing.headers["www-authenticate"] == 'Bearer realm="api"'
    bad = client.get("/me", headers=bearer("not-a.jwt"))
    assert bad.status_code == 401
    assert set(bad.json()) == {"error", "error_description"}
    assert bad.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    malformed = client.get("/me", headers={"Authorization": "Bearer"})
    assert malformed.status_code == 400
    assert malformed.json()["error"] == "invalid_request"


def test_decorator_on_a_path_operation_without_request(
    client: TestClient, live_issuer: TokenIssuer
) -> None:
    good = live_issuer.mint(scopes=[WRITE], claims={"org_id": "org_1"})
    ok = client.get("/decorated/3?q=x", headers=bearer(good))
    assert ok.json() == {"id": 3, "q": "x"}  # path and query parameters still reach it
    wrong_org = live_issuer.mint(scopes=[WRITE], claims={"org_id": "org_2"})
    assert client.get("/decorated/3", headers=bearer(wrong_org)).status_code == 403
    no_scope = live_issuer.mint(scopes=[READ], claims={"org_id": "org_1"})
    assert client.get("/decorated/3", headers=bearer(no_scope)).status_code == 403


def test_websocket_dependency(client: TestClient, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ], subject="auth0|ws")
    with client.websocket_connect("/ws", headers=bearer(token)) as ws:
        assert ws.receive_json() == {"sub": "auth0|ws"}
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws"):
        pass  # pragma: no cover
    assert denied.value.status_code == 401


def test_openapi_shows_the_scheme_and_each_operations_scopes(live_issuer: TokenIssuer) -> None:
    with TestClient(build(live_issuer, middleware=False)) as client:
        spec = client.get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["rs_guard"]
    assert scheme["type"] == "oauth2"
    flow = scheme["flows"]["authorizationCode"]
    assert flow["scopes"] == {READ: "Read appointments", WRITE: "Write appointments"}
    assert flow["tokenUrl"] == live_issuer.issuer + "oauth/token"
    paths = spec["paths"]
    assert paths["/items/{item_id}"]["get"]["security"] == [{"rs_guard": [READ]}]
    assert paths["/items/{item_id}"]["delete"]["security"] == [{"rs_guard": [READ, WRITE]}]
    assert paths["/me"]["get"]["security"] == [{"rs_guard": []}]
    decorated = paths["/decorated/{item_id}"]["get"]
    names = [p["name"] for p in decorated.get("parameters", [])]
    assert names == ["item_id", "q"]  # the hidden token parameter stays hidden
    assert decorated["security"] == [{"rs_guard": [WRITE]}]


def test_plain_requires_without_middleware_or_dependency_names_the_route(
    live_issuer: TokenIssuer,
) -> None:
    app = FastAPI()

    @app.get("/lonely")
    @requires(READ)
    async def lonely() -> None:  # pragma: no cover - refused before it runs
        pass

    with TestClient(app) as client, pytest.raises(RuntimeError, match=r"lonely.*RSGuardMiddleware"):
        client.get("/lonely", headers=bearer(live_issuer.mint(scopes=[READ])))


def test_auth_requires_misuse_is_an_error_at_import(live_issuer: TokenIssuer) -> None:
    auth = RSGuard(live_issuer.config())
    with pytest.raises(TypeError, match="parentheses"):

        @auth.requires  # type: ignore[arg-type]
        async def forgot() -> None:  # pragma: no cover
            pass

    with pytest.raises(TypeError, match="endpoint functions"):
        auth.requires(READ)(FastAPI)


def test_scope_check_at_startup_catches_a_typo(live_issuer: TokenIssuer) -> None:
    app = build(live_issuer, middleware=True, check_scopes=True)
    auth = RSGuard(live_issuer.config(scopes=SCOPES))

    @app.get("/typo")
    async def typo(
        token: Annotated[AccessToken, Security(auth, scopes=["read:apointments"])],
    ) -> None:
        pass  # pragma: no cover

    with pytest.raises(ConfigError, match="read:apointments"), TestClient(app):
        pass  # pragma: no cover


def test_scope_check_at_startup_passes(live_issuer: TokenIssuer) -> None:
    app = build(live_issuer, middleware=True, check_scopes=True)
    with TestClient(app) as client:
        assert (
            client.get("/items/1", headers=bearer(live_issuer.mint(scopes=[READ]))).status_code
            == 200
        )


def test_scope_check_without_middleware(live_issuer: TokenIssuer) -> None:
    with pytest.raises(TypeError, match="check_route_scopes"):
        build(live_issuer, middleware=False, check_scopes=True)
    app = build(live_issuer, middleware=False)
    check_route_scopes(app, live_issuer.config(scopes=SCOPES))  # every scope is defined
    with pytest.raises(ConfigError, match="read:appointments"):
        check_route_scopes(app, live_issuer.config(scopes=(Scope("other", ""),)))


def docs_app(live_issuer: TokenIssuer, **install: Any) -> FastAPI:
    auth = RSGuard(guard=AsyncGuard(live_issuer.config(), transport=live_issuer.transport()))
    app = FastAPI(docs_url="/api-docs")
    auth.install(app, **install)

    @app.get("/me")
    async def me(token: Annotated[AccessToken, Security(auth)]) -> dict[str, Any]:
        return {"sub": token.subject}

    return app


DOC_PATHS = ("/api-docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")


def test_install_keeps_the_documentation_public(live_issuer: TokenIssuer) -> None:
    with TestClient(docs_app(live_issuer)) as client:
        assert [client.get(path).status_code for path in DOC_PATHS] == [200, 200, 200, 200]
        assert "swagger-ui" in client.get("/api-docs").text
        refused = client.get("/me")
        assert (refused.status_code, refused.headers["www-authenticate"]) == (
            401,
            'Bearer realm="api"',
        )
    with TestClient(docs_app(live_issuer, public_docs=False)) as client:
        assert [client.get(path).status_code for path in DOC_PATHS] == [401, 401, 401, 401]


@pytest.mark.parametrize("handler_first", [True, False], ids=["handler-first", "install-first"])
def test_the_apps_refusal_handler_sees_the_middlewares_401_and_the_dependencys_403(
    live_issuer: TokenIssuer, handler_first: bool
) -> None:
    from fastapi.responses import JSONResponse
    from starlette.requests import Request

    from rs_guard.errors import RSGuardError

    app = FastAPI()
    auth = RSGuard(guard=AsyncGuard(live_issuer.config(), transport=live_issuer.transport()))

    async def mine(request: Request, exc: Exception) -> JSONResponse:
        # As docs/errors.md shows: the standard answer's headers, one's own body.
        assert isinstance(exc, RSGuardError)
        standard = await auth.exception_handler(request, exc)
        headers = {k: v for k, v in standard.headers.items() if k != "content-length"}
        return JSONResponse(
            {"problem": exc.reason, "status": exc.status_code, "error": exc.error},
            status_code=exc.status_code,
            headers={**headers, "x-handled": "app"},
        )

    if handler_first:
        app.add_exception_handler(RSGuardError, mine)
    auth.install(app)
    if not handler_first:
        app.add_exception_handler(RSGuardError, mine)

    @app.get("/items")
    async def items(
        token: Annotated[AccessToken, Security(auth, scopes=[WRITE])],
    ) -> dict[str, Any]:
        return {"sub": token.subject}

    with TestClient(app) as client:
        missing = client.get("/items")
        assert (missing.status_code, missing.headers["x-handled"]) == (401, "app")
        assert missing.json() == {
            "problem": "missing_credentials",
            "status": 401,
            "error": None,
        }
        assert missing.headers["www-authenticate"] == 'Bearer realm="api"'
        weak = client.get("/items", headers=bearer(live_issuer.mint(scopes=[READ])))
        assert (weak.status_code, weak.headers["x-handled"]) == (403, "app")
        assert weak.json() == {
            "problem": "insufficient_scope",
            "status": 403,
            "error": "insufficient_scope",
        }
        assert weak.headers["www-authenticate"] == (
            f'Bearer error="insufficient_scope", scope="{WRITE}"'
        )
