"""``rs_guard.adapters.starlette.requires``: every kind of requirement, sync and async, misuse."""

from __future__ import annotations

import inspect
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from rs_guard import AsyncGuard, claim_equals, claim_includes, claim_matches, clients_only
from rs_guard.adapters._routes import REQUIREMENTS_ATTR, RouteRequirements
from rs_guard.adapters.asgi import RSGuardMiddleware
from rs_guard.adapters.starlette import require_scopes, requires
from rs_guard.testing import TokenIssuer

with warnings.catch_warnings():  # Starlette >= 1.x prefers httpx2 for its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def live_issuer(rs256_issuer: TokenIssuer) -> TokenIssuer:
    return TokenIssuer(key=rs256_issuer.current, clock=time.time)


@requires("a", "b")
async def all_of_route(request: Request) -> PlainTextResponse:
    return PlainTextResponse("all")


@requires(any_of=["a", "b"])
def any_of_sync(request: Request) -> PlainTextResponse:
    return PlainTextResponse("any")


@requires(permissions=["delete:x"])
async def permission_route(request: Request) -> PlainTextResponse:
    return PlainTextResponse("perm")


@requires(claim_equals("org_id", "org_1"), claim_includes("roles", "admin"))
async def claims_route(request: Request) -> PlainTextResponse:
    return PlainTextResponse("claims")


@requires(checks=[claim_matches(lambda t: (t.subject or "").startswith("auth0|"), "auth0 only")])
def predicate_sync(request: Request) -> PlainTextResponse:
    return PlainTextResponse("pred")


@requires(clients_only)
async def clients_route(request: Request) -> PlainTextResponse:
    return PlainTextResponse("m2m")


@require_scopes("a")
@requires("b")
async def stacked(request: Request) -> PlainTextResponse:
    return PlainTextResponse("stacked")


class Items(HTTPEndpoint):
    @requires("a")
    async def get(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("endpoint get")

    @requires("b")
    def post(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("endpoint post")


ROUTES = [
    Route("/all", all_of_route),
    Route("/any", any_of_sync),
    Route("/perm", permission_route),
    Route("/claims", claims_route),
    Route("/pred", predicate_sync),
    Route("/m2m", clients_route),
    Route("/stacked", stacked),
    Route("/items", Items),
]


@pytest.fixture(scope="module")
def client(live_issuer: TokenIssuer) -> Iterator[TestClient]:
    guard = AsyncGuard(live_issuer.config(), transport=live_issuer.transport())
    app = Starlette(routes=ROUTES, middleware=[Middleware(RSGuardMiddleware, guard=guard)])
    with TestClient(app) as test_client:
        yield test_client


def call(
    client: TestClient, issuer: TokenIssuer, path: str, method: str = "GET", **mint: Any
) -> Any:
    token = issuer.mint(**mint)
    return client.request(method, path, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(
    ("path", "method", "mint", "status", "scope_param"),
    [
        ("/all", "GET", {"scopes": ["a", "b"]}, 200, None),
        ("/all", "GET", {"scopes": ["a"]}, 403, "a b"),
        ("/any", "GET", {"scopes": ["b"]}, 200, None),
        ("/any", "GET", {"scopes": ["c"]}, 403, "a b"),
        ("/perm", "GET", {"permissions": ["delete:x"]}, 200, None),
        ("/perm", "GET", {"scopes": ["delete:x"]}, 403, "delete:x"),
        ("/claims", "GET", {"claims": {"org_id": "org_1", "roles": ["admin", "x"]}}, 200, None),
        ("/claims", "GET", {"claims": {"org_id": "org_2", "roles": ["admin"]}}, 403, ""),
        ("/claims", "GET", {"claims": {"org_id": "org_1", "roles": ["x"]}}, 403, ""),
        ("/pred", "GET", {"subject": "auth0|u"}, 200, None),
        ("/pred", "GET", {"subject": "google|u"}, 403, ""),
        (
            "/m2m",
            "GET",
            {"subject": "client-1@clients", "claims": {"gty": "client-credentials"}},
            200,
            None,
        ),
        ("/m2m", "GET", {"subject": "auth0|u"}, 403, ""),
        ("/stacked", "GET", {"scopes": ["a", "b"]}, 200, None),
        ("/stacked", "GET", {"scopes": ["a"]}, 403, "b"),
        ("/stacked", "GET", {"scopes": ["b"]}, 403, "a"),
        ("/items", "GET", {"scopes": ["a"]}, 200, None),
        ("/items", "GET", {"scopes": ["b"]}, 403, "a"),
        ("/items", "POST", {"scopes": ["b"]}, 200, None),
        ("/items", "POST", {"scopes": ["a"]}, 403, "b"),
    ],
)
def test_requirements(
    client: TestClient,
    live_issuer: TokenIssuer,
    path: str,
    method: str,
    mint: dict[str, Any],
    status: int,
    scope_param: str | None,
) -> None:
    response = call(client, live_issuer, path, method, **mint)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["error"] == "insufficient_scope"
        assert set(response.json()) == {"error", "error_description"}
        challenge = response.headers["www-authenticate"]
        if scope_param:
            assert challenge == f'Bearer error="insufficient_scope", scope="{scope_param}"'
        else:  # a claim check names no scope: the challenge says why instead
            assert challenge.startswith('Bearer error="insufficient_scope", error_description="')


def test_claim_description_goes_back_to_the_client(
    client: TestClient, live_issuer: TokenIssuer
) -> None:
    response = call(client, live_issuer, "/pred", subject="google|u")
    assert response.json()["error_description"] == "auth0 only"


def test_signature_name_and_kind_are_preserved() -> None:
    assert inspect.iscoroutinefunction(all_of_route)
    assert not inspect.iscoroutinefunction(any_of_sync)
    assert all_of_route.__name__ == "all_of_route"
    assert list(inspect.signature(all_of_route).parameters) == ["request"]
    assert list(inspect.signature(Items.get).parameters) == ["self", "request"]
    found = getattr(stacked, REQUIREMENTS_ATTR)
    assert isinstance(found, RouteRequirements)
    assert set(found.scopes) == {"a", "b"}


def test_request_found_by_annotation_under_postponed_annotations() -> None:
    # This module uses ``from __future__ import annotations``: the annotation is a string.
    @requires("a")
    async def named_otherwise(req: Request) -> PlainTextResponse:  # pragma: no cover
        return PlainTextResponse("x")

    assert list(inspect.signature(named_otherwise).parameters) == ["req"]


def test_hidden_parameter_for_endpoints_without_request() -> None:
    @requires("a")
    async def bare(item_id: int, *, flag: bool = False) -> dict[str, int]:
        return {"id": item_id}

    params = inspect.signature(bare).parameters
    assert list(params)[:2] == ["item_id", "flag"]
    assert params["item_id"].annotation in (int, "int")
    assert len(params) == 3  # a hidden HTTPConnection parameter the framework fills


def test_misuse_is_an_error_at_import() -> None:
    with pytest.raises(TypeError, match="parentheses"):

        @requires  # type: ignore[arg-type]
        async def forgot(request: Request) -> None:  # pragma: no cover
            pass

    with pytest.raises(TypeError, match="endpoint functions"):

        @requires("a")
        class NotAnEndpoint:
            pass

    with pytest.raises(TypeError, match="endpoint functions"):
        requires("a")(Route("/x", all_of_route))  # type: ignore[type-var]
    with pytest.raises(TypeError, match="not one string"):
        requires(any_of="a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not one string"):
        requires(permissions="a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Requirement"):
        requires(checks=[lambda token: None])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="not a scope name"):
        requires("read x")


def test_without_the_middleware_the_error_names_the_route() -> None:
    app = Starlette(routes=[Route("/all", all_of_route)])
    with (
        TestClient(app) as client,
        pytest.raises(RuntimeError, match=r"all_of_route.*RSGuardMiddleware"),
    ):
        client.get("/all")
