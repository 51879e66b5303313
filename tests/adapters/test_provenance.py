"""A guard accepts only a token verified under its own settings (review finding 11.1).

Guard A (the API's audience) and guard B (another audience, or the same audience with
DPoP required) in every layout where A may have verified the request before B's route
runs: B verifies the request itself, with its own settings, and refuses A's token.
"""

# No `from __future__ import annotations`: FastAPI must evaluate the local dependencies.

import warnings
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, FastAPI, Security
from flask import Flask
from provenance_support import B_AUDIENCE, WRONG_AUDIENCE, bearer, for_a, for_both
from refusals import expect_refusal

from rs_guard import AccessToken, AsyncGuard, Guard, GuardConfig
from rs_guard.adapters.fastapi import RSGuard as FastAPIGuard
from rs_guard.adapters.flask import RSGuard as FlaskGuard
from rs_guard.adapters.flask import current_token, require
from rs_guard.adapters.wsgi import RSGuardWSGIMiddleware
from rs_guard.config import ProofOfPossession
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import DPoPKey

with warnings.catch_warnings():  # Starlette >= 1.x prefers httpx2 for its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def fastapi_guard(issuer: TokenIssuer, clock: Any, config: GuardConfig) -> FastAPIGuard:
    return FastAPIGuard(guard=AsyncGuard(config, clock=clock, transport=issuer.transport()))


def me(auth: FastAPIGuard) -> Any:
    async def endpoint(token: Annotated[AccessToken, Security(auth)]) -> dict[str, Any]:
        return {"sub": token.subject}

    return endpoint


def check(client: TestClient, path: str, issuer: TokenIssuer) -> None:
    expect_refusal(
        client.get(path, headers=bearer(for_a(issuer))),
        401,
        "invalid_token",
        challenge=WRONG_AUDIENCE,
    )
    ok = client.get(path, headers=bearer(for_both(issuer)))
    assert (ok.status_code, ok.json()) == (200, {"sub": "auth0|b-user"})


@pytest.fixture
def guards(issuer: TokenIssuer, clock: Any) -> tuple[FastAPIGuard, FastAPIGuard]:
    a = fastapi_guard(issuer, clock, issuer.config())
    b = fastapi_guard(issuer, clock, issuer.config(audience=B_AUDIENCE))
    return a, b


def test_middleware_of_a_then_dependency_of_b(
    guards: tuple[FastAPIGuard, FastAPIGuard], issuer: TokenIssuer
) -> None:
    auth_a, auth_b = guards
    app = FastAPI()
    auth_a.install(app)
    app.get("/b")(me(auth_b))
    with TestClient(app) as client:
        check(client, "/b", issuer)


def test_router_dependency_of_a_then_route_of_b(
    guards: tuple[FastAPIGuard, FastAPIGuard], issuer: TokenIssuer
) -> None:
    auth_a, auth_b = guards
    app = FastAPI()
    auth_a.install(app, middleware=False)
    router = APIRouter(dependencies=[Security(auth_a)])
    router.get("/b")(me(auth_b))
    app.include_router(router)
    with TestClient(app) as client:
        check(client, "/b", issuer)


def test_public_path_of_a_then_dependency_of_b(
    guards: tuple[FastAPIGuard, FastAPIGuard], issuer: TokenIssuer
) -> None:
    auth_a, auth_b = guards
    app = FastAPI()
    auth_a.install(app, public_paths=["/b"])
    app.get("/b")(me(auth_b))
    with TestClient(app) as client:
        check(client, "/b", issuer)


def test_sub_app_of_b_mounted_under_the_middleware_of_a(
    guards: tuple[FastAPIGuard, FastAPIGuard], issuer: TokenIssuer
) -> None:
    auth_a, auth_b = guards
    app = FastAPI()
    auth_a.install(app)
    sub = FastAPI()
    auth_b.install(sub, middleware=False)
    sub.get("/me")(me(auth_b))
    app.mount("/b", sub)
    with TestClient(app) as client:
        check(client, "/b/me", issuer)


def test_same_audience_only_the_sensitive_route_requires_dpop(
    issuer: TokenIssuer, clock: Any
) -> None:
    dpop_key = DPoPKey("ES256", clock=clock)
    allowed = issuer.config(proof_of_possession=ProofOfPossession("dpop"))
    auth_a = fastapi_guard(issuer, clock, allowed)
    strict = issuer.config(proof_of_possession=ProofOfPossession("dpop", required=True))
    auth_b = fastapi_guard(issuer, clock, strict)
    app = FastAPI()
    auth_a.install(app)
    app.get("/sensitive")(me(auth_b))
    with TestClient(app) as client:
        plain = client.get("/sensitive", headers=bearer(for_a(issuer)))
        expect_refusal(
            plain,
            401,
            "invalid_token",
            challenge=(
                'DPoP error="invalid_token", error_description="this API accepts only '
                'DPoP-bound tokens: send the token with the DPoP scheme and a DPoP proof", '
                'algs="ES256 PS256 RS256 EdDSA"'
            ),
        )
        token = issuer.mint(subject="auth0|b-user", cnf=dpop_key.cnf)
        proof = dpop_key.proof("GET", "http://testserver/sensitive", access_token=token)
        ok = client.get("/sensitive", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        assert (ok.status_code, ok.json()) == (200, {"sub": "auth0|b-user"})


def test_flask_extension_of_b_behind_the_wsgi_middleware_of_a(
    issuer: TokenIssuer, clock: Any
) -> None:
    guard_a = Guard(issuer.config(), clock=clock, transport=issuer.transport())
    guard_b = Guard(issuer.config(audience=B_AUDIENCE), clock=clock, transport=issuer.transport())
    app = Flask(__name__)
    FlaskGuard(app, guard=guard_b)

    @app.get("/b")
    @require()
    def b_view() -> dict[str, Any]:
        return {"sub": current_token.subject}

    app.wsgi_app = RSGuardWSGIMiddleware(app.wsgi_app, guard=guard_a)  # type: ignore[method-assign]
    client = app.test_client()
    refused = client.get("/b", headers=bearer(for_a(issuer)))
    assert (refused.status_code, refused.json) == (
        401,
        {"error": "invalid_token", "error_description": "the token is meant for another audience"},
    )
    assert refused.headers["WWW-Authenticate"] == WRONG_AUDIENCE
    ok = client.get("/b", headers=bearer(for_both(issuer)))
    assert (ok.status_code, ok.json) == (200, {"sub": "auth0|b-user"})


def test_current_token_of_b_never_falls_back_to_the_wsgi_middleware_of_a(
    issuer: TokenIssuer, clock: Any
) -> None:
    """A view of extension B without ``@require`` reads ``current_token``: A's middleware
    verified the request, B did not, so there is no token for B (a programming error,
    not A's subject served under B)."""
    guard_a = Guard(issuer.config(), clock=clock, transport=issuer.transport())
    guard_b = Guard(issuer.config(audience=B_AUDIENCE), clock=clock, transport=issuer.transport())
    app = Flask(__name__)
    FlaskGuard(app, guard=guard_b)
    seen: list[str] = []

    @app.get("/unprotected")
    def unprotected() -> dict[str, Any]:
        try:
            seen.append(current_token.subject)
        except RuntimeError as exc:
            seen.append(f"refused: {str(exc)[:40]}")
        return {}

    app.wsgi_app = RSGuardWSGIMiddleware(app.wsgi_app, guard=guard_a)  # type: ignore[method-assign]
    answer = app.test_client().get("/unprotected", headers=bearer(for_a(issuer)))
    assert answer.status_code == 200
    assert seen == ["refused: current_token is only available while ha"]


def test_starlette_requires_takes_only_the_innermost_middlewares_token(
    issuer: TokenIssuer, clock: Any
) -> None:
    """A sub-app under A's middleware, with its own middleware B (the path public in B):
    its ``@requires`` and ``token_of`` never take the token A verified."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    from rs_guard.adapters.starlette import RSGuardMiddleware, requires, token_of

    @requires()
    async def guarded(request: Request) -> JSONResponse:
        return JSONResponse({"sub": token_of(request).subject})

    def middleware(config: GuardConfig, **options: Any) -> Middleware:
        guard = AsyncGuard(config, clock=clock, transport=issuer.transport())
        return Middleware(RSGuardMiddleware, guard=guard, **options)

    sub = Starlette(
        routes=[Route("/open", guarded), Route("/closed", guarded)],
        middleware=[middleware(issuer.config(audience=B_AUDIENCE), public_paths=["/open"])],
    )
    app = Starlette(routes=[Mount("/b", sub)], middleware=[middleware(issuer.config())])
    with TestClient(app) as client:
        refused = client.get("/b/open", headers=bearer(for_both(issuer)))
        assert (refused.status_code, refused.headers["www-authenticate"]) == (
            401,
            'Bearer realm="api"',
        )
        ok = client.get("/b/closed", headers=bearer(for_both(issuer)))
        assert (ok.status_code, ok.json()) == (200, {"sub": "auth0|b-user"})
