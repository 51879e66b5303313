"""The known-token path (``GuardCore.known_token``): it answers only when the flow would
give the very same token, and each of its preconditions sends the request down the
whole flow, with the flow's exact refusal.

The flow runs are counted by wrapping ``authentication_flow``: the first request verifies
the token, the second takes it from the token cache (and makes its header value known),
the third and later ones skip the flow (with rs_guard's DEBUG logging off).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from known_token_support import count_flows, hello, no_debug_logging  # noqa: F401  (autouse fixture)
from refusals import expect_refusal
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from werkzeug.test import Client

from rs_guard import AsyncGuard, Guard
from rs_guard.adapters.asgi import RSGuardMiddleware
from rs_guard.adapters.wsgi import RSGuardWSGIMiddleware
from rs_guard.config import ProofOfPossession
from rs_guard.observability import Outcome
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import DPoPKey


@pytest.fixture
def guard(issuer: TokenIssuer, clock: Any) -> Iterator[Guard]:
    g = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    yield g
    g.close()


@pytest.fixture
def client(guard: Guard) -> Client:
    return Client(RSGuardWSGIMiddleware(hello, guard=guard))


def known(client: Client, token: str) -> None:
    """Two requests: after them the header value ``Bearer <token>`` is known."""
    for _ in range(2):
        assert client.get("/x", headers={"Authorization": f"Bearer {token}"}).json == {
            "sub": "auth0|user-1"
        }


def test_a_known_header_skips_the_flow_only_after_a_cache_hit(
    client: Client, guard: Guard, issuer: TokenIssuer
) -> None:
    runs = count_flows(guard)
    token = issuer.mint()
    known(client, token)
    assert runs == [2]
    for _ in range(3):
        answer = client.get("/x", headers={"Authorization": f"Bearer {token}"})
        assert answer.json == {"sub": "auth0|user-1"}
    assert runs == [2]
    # another spelling of the same token is another header value: the flow decides
    assert client.get("/x", headers={"Authorization": f"bearer  {token}"}).status_code == 200
    assert runs == [3]


def test_a_second_authorization_line_goes_through_the_flow(
    client: Client, guard: Guard, issuer: TokenIssuer
) -> None:
    token = issuer.mint()
    known(client, token)
    runs = count_flows(guard)
    # a WSGI server joins two lines with a comma
    answer = client.get(
        "/x", environ_overrides={"HTTP_AUTHORIZATION": f"Bearer {token}, Bearer {token}"}
    )
    expect_refusal(answer, 400, "invalid_request", description="more than one Authorization")
    assert runs == [1]


def test_a_token_in_the_query_goes_through_the_flow(
    client: Client, guard: Guard, issuer: TokenIssuer
) -> None:
    token = issuer.mint()
    known(client, token)
    runs = count_flows(guard)
    answer = client.get("/x?access_token=abc", headers={"Authorization": f"Bearer {token}"})
    expect_refusal(
        answer, 400, "invalid_request", description="both in the header and in the query"
    )
    # any query at all: the flow runs (and accepts)
    answer = client.get("/x?page=2", headers={"Authorization": f"Bearer {token}"})
    assert answer.json == {"sub": "auth0|user-1"}
    assert runs == [2]


def test_an_expired_cached_token_goes_through_the_flow(
    client: Client, guard: Guard, issuer: TokenIssuer, clock: Any
) -> None:
    token = issuer.mint(expires_in=60)
    known(client, token)
    runs = count_flows(guard)
    clock.advance(61 + guard.config.leeway)
    answer = client.get("/x", headers={"Authorization": f"Bearer {token}"})
    expect_refusal(answer, 401, "invalid_token", description="expired")
    assert runs == [1]


def test_a_key_change_goes_through_the_flow(
    client: Client, guard: Guard, issuer: TokenIssuer
) -> None:
    token = issuer.mint()
    known(client, token)
    issuer.rotate(keep_old=False)
    [keys] = guard.jwks.values()
    keys.refresh()  # the old key is gone: the tokens it verified leave the cache
    runs = count_flows(guard)
    answer = client.get("/x", headers={"Authorization": f"Bearer {token}"})
    expect_refusal(answer, 401, "invalid_token")
    assert runs == [1]


def test_an_observer_or_debug_logging_sees_every_accepted_request(
    client: Client, guard: Guard, issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    token = issuer.mint()
    known(client, token)
    runs = count_flows(guard)
    seen: list[Outcome] = []
    guard.observers.append(seen.append)
    assert client.get("/x", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert [(o.accepted, o.status) for o in seen] == [(True, 200)]
    guard.observers.clear()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="rs_guard.guard"):
        assert client.get("/x", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["accepted GET /x"]
    assert runs == [2]


def test_proof_of_possession_is_checked_on_every_request(issuer: TokenIssuer, clock: Any) -> None:
    dpop_key = DPoPKey("ES256", clock=clock)
    config = issuer.config(proof_of_possession=ProofOfPossession("dpop"))
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    client = Client(RSGuardWSGIMiddleware(hello, guard=guard))
    token = issuer.mint(cnf=dpop_key.cnf)
    header = {"Authorization": f"DPoP {token}"}
    for _ in range(3):
        proof = dpop_key.proof("GET", "http://localhost/x", access_token=token)
        answer = client.get("/x", headers={**header, "DPoP": proof})
        assert answer.json == {"sub": "auth0|user-1"}
    answer = client.get("/x", headers={**header, "DPoP": proof})  # the same proof again
    expect_refusal(answer, 401, "invalid_dpop_proof", description="already used", scheme="DPoP")
    guard.close()


@pytest.mark.anyio
async def test_the_asgi_middleware_takes_the_same_path(issuer: TokenIssuer, clock: Any) -> None:
    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.scope["rs_guard.token"].subject})

    guard = AsyncGuard(issuer.config(), transport=issuer.transport(), clock=clock)
    app = RSGuardMiddleware(Starlette(routes=[Route("/x", whoami)]), guard=guard)
    runs = count_flows(guard)
    token = issuer.mint(expires_in=60)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        for _ in range(4):
            assert (await http.get("/x", headers=headers)).json() == {"sub": "auth0|user-1"}
        assert runs == [2]
        answer = await http.get("/x", headers=[("Authorization", f"Bearer {token}")] * 2)
        expect_refusal(answer, 400, "invalid_request", description="more than one Authorization")
        answer = await http.get("/x?access_token=abc", headers=headers)
        expect_refusal(
            answer, 400, "invalid_request", description="both in the header and in the query"
        )
        clock.advance(61 + guard.config.leeway)
        answer = await http.get("/x", headers=headers)
        expect_refusal(answer, 401, "invalid_token", description="expired")
        assert runs == [5]
    await guard.aclose()


def test_a_padded_header_value_is_never_remembered(
    client: Client, guard: Guard, issuer: TokenIssuer
) -> None:
    """Spaces padding a known token to the header limit would grow the map's bytes: such a
    value is answered by the flow (from the token cache) every time, never remembered."""
    runs = count_flows(guard)
    token = issuer.mint()
    padded = "Bearer" + " " * 4000 + token
    for _ in range(4):
        assert client.get("/x", headers={"Authorization": padded}).json == {"sub": "auth0|user-1"}
    assert runs == [4]
