"""RSGuardMiddleware as a pure ASGI middleware: scopes, lifespan, public paths, anonymous mode."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.authentication import requires as starlette_requires
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from rs_guard import AsyncGuard, GuardConfig, Scope
from rs_guard.adapters.asgi import request_context
from rs_guard.adapters.starlette import RSGuardMiddleware, TokenUser, requires, token_of
from rs_guard.errors import ConfigError, InsufficientScope
from rs_guard.testing import JWKSServer, TokenIssuer

with warnings.catch_warnings():  # Starlette >= 1.x prefers httpx2 for its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse

READ = "read:appointments"


@pytest.fixture(scope="module")
def live_issuer(rs256_issuer: TokenIssuer) -> TokenIssuer:
    return TokenIssuer(key=rs256_issuer.current, clock=time.time)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def whoami(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse(
        {
            "authenticated": user.is_authenticated,
            "name": user.display_name,
            "scopes": sorted(request.auth.scopes),
            "has_token": "rs_guard.token" in request.scope,
        }
    )


@starlette_requires(READ)
async def starlette_protected(request: Request) -> PlainTextResponse:
    return PlainTextResponse("starlette requires ok")


@requires(READ)
async def rs_protected(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@requires(READ)
async def ws_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(token_of(websocket).to_dict())
    await websocket.close()


async def ws_late_refusal(websocket: WebSocket) -> None:
    await websocket.accept()
    raise InsufficientScope("decided after accept", required=["admin"])


def make_app(
    issuer: TokenIssuer, guard: AsyncGuard | None = None, **options: Any
) -> tuple[Starlette, AsyncGuard]:
    guard = guard or AsyncGuard(issuer.config(), transport=issuer.transport())
    app = Starlette(
        routes=[
            Route("/whoami", whoami),
            Route("/health", whoami),
            Route("/static/{name}", whoami),
            Route("/staticx", whoami),
            Route("/starlette", starlette_protected),
            Route("/protected", rs_protected),
            WebSocketRoute("/ws", ws_endpoint),
            WebSocketRoute("/ws-late", ws_late_refusal),
        ],
        middleware=[Middleware(RSGuardMiddleware, guard=guard, **options)],
    )
    return app, guard


@pytest.fixture
def client(live_issuer: TokenIssuer) -> Iterator[TestClient]:
    app, _ = make_app(live_issuer, public_paths=["/health", "/static/*"])
    with TestClient(app) as test_client:
        yield test_client


def test_success_fills_auth_user_and_token(client: TestClient, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ, "x"], subject="auth0|bob")
    body = client.get("/whoami", headers=bearer(token)).json()
    assert body == {
        "authenticated": True,
        "name": "auth0|bob",
        "scopes": [READ, "x"],
        "has_token": True,
    }


def test_starlettes_own_requires_works(client: TestClient, live_issuer: TokenIssuer) -> None:
    ok = client.get("/starlette", headers=bearer(live_issuer.mint(scopes=[READ])))
    assert ok.text == "starlette requires ok"
    weak = client.get("/starlette", headers=bearer(live_issuer.mint(scopes=["other"])))
    assert weak.status_code == 403  # Starlette's own refusal, untouched


def test_public_paths_exact_and_prefix(client: TestClient) -> None:
    assert client.get("/health").json()["authenticated"] is False
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/staticx").status_code == 401  # a prefix is not a substring match
    assert client.get("/health/more").status_code in (401, 404)
    assert client.get("/health/more").status_code == 401


def test_public_path_with_bad_token_still_passes(client: TestClient) -> None:
    response = client.get("/health", headers=bearer("garbage"))
    assert response.status_code == 200
    assert response.json()["has_token"] is False


def test_decorated_route_on_public_path_is_refused_without_token(
    live_issuer: TokenIssuer,
) -> None:
    app, _ = make_app(live_issuer, public_paths=["/protected"])
    with TestClient(app) as client:
        response = client.get("/protected")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


def test_anonymous_mode(live_issuer: TokenIssuer) -> None:
    app, _ = make_app(live_issuer, allow_anonymous=True)
    with TestClient(app) as client:
        anonymous = client.get("/whoami")
        assert anonymous.status_code == 200
        assert anonymous.json() == {
            "authenticated": False,
            "name": "",
            "scopes": [],
            "has_token": False,
        }
        refused = client.get("/protected")
        assert refused.status_code == 401
        assert refused.json() == {"error_description": "this route requires an access token"}
        assert refused.headers["www-authenticate"] == 'Bearer realm="api"'
        bad = client.get("/whoami", headers=bearer("not-a.jwt"))
        assert bad.status_code == 401
        assert bad.json()["error"] == "invalid_token"
        ok = client.get("/protected", headers=bearer(live_issuer.mint(scopes=[READ])))
        assert ok.text == "ok"


def test_refusal_raised_inside_the_app_is_answered(
    client: TestClient, live_issuer: TokenIssuer
) -> None:
    response = client.get("/protected", headers=bearer(live_issuer.mint(scopes=["other"])))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert response.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{READ}"'
    )


# -- websockets -------------------------------------------------------------------


def test_websocket_accepted_with_a_valid_token(
    client: TestClient, live_issuer: TokenIssuer
) -> None:
    token = live_issuer.mint(scopes=[READ], subject="auth0|ws")
    with client.websocket_connect("/ws", headers=bearer(token)) as ws:
        assert ws.receive_json()["sub"] == "auth0|ws"


def test_websocket_refused_by_the_route_before_accept(
    client: TestClient, live_issuer: TokenIssuer
) -> None:
    token = live_issuer.mint(scopes=["other"])
    connect = client.websocket_connect("/ws", headers=bearer(token))
    with pytest.raises(WebSocketDenialResponse) as denied, connect:
        pass  # pragma: no cover
    assert denied.value.status_code == 403
    assert denied.value.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{READ}"'
    )


def test_websocket_refused_after_accept_is_closed_1008(
    client: TestClient, live_issuer: TokenIssuer
) -> None:
    token = live_issuer.mint(scopes=[READ])
    connect = client.websocket_connect("/ws-late", headers=bearer(token))
    with connect as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    assert closed.value.code == 1008


async def _run_asgi(app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[Any]:
    sent: list[dict[str, Any]] = []
    queue = list(incoming)

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await asyncio.sleep(3600)  # pragma: no cover - the middleware must not wait here
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=5)
    return sent


def _ws_scope(headers: list[tuple[bytes, bytes]], extensions: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "extensions": extensions,
    }


def test_websocket_refused_with_policy_close_without_denial_extension(
    live_issuer: TokenIssuer,
) -> None:
    inner_called = False

    async def inner(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
        nonlocal inner_called
        inner_called = True

    mw = RSGuardMiddleware(
        inner, guard=AsyncGuard(live_issuer.config(), transport=live_issuer.transport())
    )
    sent = asyncio.run(_run_asgi(mw, _ws_scope([], {}), [{"type": "websocket.connect"}]))
    assert not inner_called
    assert len(sent) == 1
    assert sent[0]["type"] == "websocket.close"
    assert sent[0]["code"] == 1008
    assert sent[0]["reason"] == "no access token was sent"


def test_websocket_denial_response_carries_the_challenge(live_issuer: TokenIssuer) -> None:
    async def inner(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
        raise AssertionError("must not be reached")

    mw = RSGuardMiddleware(
        inner, guard=AsyncGuard(live_issuer.config(), transport=live_issuer.transport())
    )
    scope = _ws_scope([(b"authorization", b"Bearer a b")], {"websocket.http.response": {}})
    sent = asyncio.run(_run_asgi(mw, scope, [{"type": "websocket.connect"}]))
    assert [m["type"] for m in sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert sent[0]["status"] == 400
    headers = dict(sent[0]["headers"])
    assert headers[b"www-authenticate"].startswith(b'Bearer error="invalid_request"')


def test_other_scope_types_pass_through_untouched(live_issuer: TokenIssuer) -> None:
    seen: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope))

    mw = RSGuardMiddleware(
        inner, guard=AsyncGuard(live_issuer.config(), transport=live_issuer.transport())
    )
    scope = {"type": "custom.protocol", "path": "/x"}
    asyncio.run(_run_asgi(mw, scope, []))
    assert seen == [{"type": "custom.protocol", "path": "/x"}]


# -- lifespan ---------------------------------------------------------------------


def test_lifespan_warms_keys_and_runs_the_apps_own_lifespan(live_issuer: TokenIssuer) -> None:
    live_issuer.jwks_requests = 0
    events: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            events.append(message["type"])
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    guard = AsyncGuard(live_issuer.config(), transport=live_issuer.transport())
    mw = RSGuardMiddleware(inner, guard=guard)
    with TestClient(mw):
        assert live_issuer.jwks_requests == 1  # warmed before the first request
    assert events == ["lifespan.startup", "lifespan.shutdown"]


def test_unreachable_issuer_does_not_block_start(
    live_issuer: TokenIssuer, bounded: Callable[..., Any]
) -> None:
    # The issuer hangs for 60 s; a start-up that waited for it would outlast the bound.
    cancelled: list[bool] = []

    async def hang(request: httpx.Request) -> httpx.Response:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        raise AssertionError  # pragma: no cover

    guard = AsyncGuard(live_issuer.config(), transport=httpx.MockTransport(hang))
    app, _ = make_app(live_issuer, guard=guard, warm_timeout=0.2)

    def serve() -> int:
        with TestClient(app) as client:
            return client.get("/whoami").status_code

    assert bounded(serve) == 401  # serving, refusing as usual
    assert cancelled == [True]  # shutdown cancelled the pending warm-up


def test_shutdown_closes_the_client_it_made(live_issuer: TokenIssuer) -> None:
    with JWKSServer(live_issuer.jwks) as server:
        config = live_issuer.config(jwks_uri=server.jwks_uri)
        inner = Starlette(routes=[Route("/whoami", whoami)])
        mw = RSGuardMiddleware(inner, config=config)
        first = mw.guard
        with TestClient(mw) as client:
            token = live_issuer.mint(scopes=[READ])
            assert client.get("/whoami", headers=bearer(token)).status_code == 200
        assert first._http.is_closed
        assert mw.guard is not first  # a fresh client for the next lifespan
        with TestClient(mw) as client:  # a second lifespan (a new event loop) works
            assert client.get("/whoami", headers=bearer(token)).status_code == 200
        assert server.count() >= 1


def test_scope_check_refuses_to_start_on_an_undefined_scope(live_issuer: TokenIssuer) -> None:
    config = live_issuer.config(scopes=(Scope("read:appointmnets", "typo'd"),))
    app, _ = make_app(
        live_issuer, AsyncGuard(config, transport=live_issuer.transport()), check_scopes=True
    )
    with pytest.raises(ConfigError, match="read:appointments"), TestClient(app):
        pass  # pragma: no cover


def test_scope_check_passes_when_every_scope_is_defined(live_issuer: TokenIssuer) -> None:
    config = live_issuer.config(scopes=(Scope(READ, "read"),))
    app, _ = make_app(
        live_issuer, AsyncGuard(config, transport=live_issuer.transport()), check_scopes=True
    )
    with TestClient(app) as client:
        assert (
            client.get("/protected", headers=bearer(live_issuer.mint(scopes=[READ]))).text == "ok"
        )


def test_config_and_guard_are_exclusive(live_issuer: TokenIssuer) -> None:
    guard = AsyncGuard(live_issuer.config(), transport=live_issuer.transport())
    with pytest.raises(TypeError, match="either config or guard"):
        RSGuardMiddleware(Starlette(), config=live_issuer.config(), guard=guard)


def test_public_paths_must_be_paths(live_issuer: TokenIssuer) -> None:
    with pytest.raises(ConfigError, match="public_paths"):
        RSGuardMiddleware(Starlette(), config=live_issuer.config(), public_paths=["health"])
    with pytest.raises(TypeError):
        RSGuardMiddleware(Starlette(), config=live_issuer.config(), public_paths="/health")


# -- the request context ----------------------------------------------------------


def _http_scope(**overrides: Any) -> dict[str, Any]:
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/api/a b",
        "query_string": b"x=1",
        "root_path": "",
        "client": ("10.0.0.9", 5555),
        "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"evil.example"),
            (b"x-forwarded-host", b"evil.example"),
            (b"Authorization", b"Bearer t"),
        ],
    }
    scope.update(overrides)
    return scope


def test_request_context_never_trusts_host_headers() -> None:
    config = GuardConfig(issuer="https://i.example/", audience="a", jwks_uri="https://i.example/k")
    ctx = request_context(_http_scope(), config)
    assert ctx.url == "http://127.0.0.1:8000/api/a%20b?x=1"
    assert ctx.method == "POST"
    assert ctx.peer == "10.0.0.9"
    assert ctx.query_string == "x=1"
    assert ctx.header_values("authorization") == ["Bearer t"]
    assert ctx.client_cert is None


def test_request_context_uses_public_url_and_drops_root_path() -> None:
    config = GuardConfig(
        issuer="https://i.example/", audience="a", public_url="https://api.example.com/v1"
    )
    ctx = request_context(_http_scope(path="/mnt/items", root_path="/mnt", scheme="http"), config)
    assert ctx.url == "https://api.example.com/v1/items?x=1"


def test_request_context_default_ports_and_ipv6() -> None:
    config = GuardConfig(issuer="https://i.example/", audience="a")
    ctx = request_context(
        _http_scope(scheme="https", server=("::1", 443), query_string=b""), config
    )
    assert ctx.url == "https://[::1]/api/a%20b"


def test_token_user_repr_hides_the_token(live_issuer: TokenIssuer) -> None:
    guard = AsyncGuard(live_issuer.config(), transport=live_issuer.transport())
    raw = live_issuer.mint(scopes=[READ], subject="auth0|r")
    token = asyncio.run(guard.verify(raw))
    user = TokenUser(token)
    assert user.identity == "auth0|r"
    assert raw not in repr(user)


@pytest.mark.parametrize("raw_path", [b"/static/../admin", b"/static/%2e%2e/admin"])
def test_public_prefix_never_covers_dot_segments(live_issuer: TokenIssuer, raw_path: bytes) -> None:
    """``/static/*`` is public; ``/static/../admin`` (the server decodes ``%2e%2e``) is not."""
    app, _ = make_app(live_issuer, public_paths=["/static/*"])
    scope = {
        **_http_scope(path="/static/../admin", method="GET", headers=[], query_string=b""),
        "raw_path": raw_path,
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    assert (start["type"], start["status"]) == ("http.response.start", 401)
    assert (b"www-authenticate", b'Bearer realm="api"') in start["headers"]


def test_public_paths_are_matched_inside_a_mounted_app(live_issuer: TokenIssuer) -> None:
    """As WSGI matches ``PATH_INFO``: a sub-app's ``/health`` is public under its mount."""
    from starlette.routing import Mount

    sub, _ = make_app(live_issuer, public_paths=["/health"])
    outer = Starlette(routes=[Mount("/sub", sub)])
    with TestClient(outer) as client:
        public = client.get("/sub/health")
        assert (public.status_code, public.json()["authenticated"]) == (200, False)
        refused = client.get("/sub/whoami")
        assert (refused.status_code, refused.headers["www-authenticate"]) == (
            401,
            'Bearer realm="api"',
        )
        assert client.get("/subx/health").status_code == 404


def test_refusals_go_to_the_apps_rsguarderror_handler_only(live_issuer: TokenIssuer) -> None:
    """A handler for RSGuardError answers the middleware's refusals; one for Exception
    (Starlette's 500 page) does not."""
    from rs_guard.errors import MissingCredentials, RSGuardError

    seen: list[str] = []

    def by_class(request: Request, exc: Exception) -> JSONResponse:  # sync: run in a thread
        assert isinstance(exc, RSGuardError)
        seen.append(exc.reason)
        return JSONResponse({"mine": exc.reason}, status_code=exc.status_code)

    def everything(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover
        raise AssertionError("the 500 handler must not see a refusal")

    for handlers, body in (
        ({MissingCredentials: by_class}, {"mine": "missing_credentials"}),
        ({Exception: everything}, {"error_description": "no access token was sent"}),
    ):
        app, _ = make_app(live_issuer)
        app.exception_handlers.update(handlers)
        with TestClient(app) as client:
            answer = client.get("/whoami")
        assert (answer.status_code, answer.json()) == (401, body)
    assert seen == ["missing_credentials"]
