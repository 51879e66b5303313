"""Django on the known-token path (``GuardCore.known_token``): the same token or the same
exact refusal (status, body, ``WWW-Authenticate``) as the whole flow, for every layout of
the adapter: the middleware before ``@require`` (WSGI and ASGI), ``@require`` alone (sync
and async views) and DRF's authentication class alone.

Flow runs are counted (``known_token_support.count_flows``): the first request verifies
the token, the second takes it from the token cache and makes its header value known,
later ones skip the flow. The flow's own answer to the same input is taken with an
observer on the guard (the flow runs for every request anybody observes). Each
precondition of the known path, when it does not hold, sends the request through the flow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, NamedTuple

import anyio
import pytest
from django.test import AsyncClient, Client
from django.test.utils import override_settings
from django.urls import path
from django_support import LAYOUTS as ALL_LAYOUTS
from django_support import (
    READ,
    Answer,
    Layout,
    answer_of,
    middleware_of,
    subject_and_scopes,
    view_of,
)
from known_token_support import (
    count_flows,
    no_debug_logging,  # noqa: F401  (autouse fixture)
)

from rs_guard import Guard
from rs_guard.config import ProofOfPossession
from rs_guard.observability import Outcome
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import DPoPKey
from rs_guard.token import AccessToken

#: The guard of the running test (the middleware finds it here).
GUARDS: dict[str, Guard] = {}
#: Every token a view was given, in order.
SEEN: list[AccessToken] = []
urlpatterns: list[Any] = []

Middleware = middleware_of(GUARDS, "g")
#: The layouts of ``django_support`` but DRF under ASGI.
LAYOUTS = {name: layout for name, layout in ALL_LAYOUTS.items() if name != "asgi-drf"}


def _seen(token: AccessToken) -> dict[str, Any]:
    """The views' answer; the token is recorded in :data:`SEEN`."""
    SEEN.append(token)
    return subject_and_scopes(token)


class Api(NamedTuple):
    guard: Guard
    layout: Layout

    def get(
        self,
        url: str = "/x",
        authorization: str | None = None,
        *,
        lines: int = 1,
        dpop: str | None = None,
    ) -> Answer:
        """``GET url`` with ``lines`` ``Authorization`` header lines of ``authorization``
        (and a ``DPoP`` header)."""
        headers = {} if authorization is None else {"Authorization": authorization}
        if dpop is not None:
            headers["DPoP"] = dpop
        if not self.layout.asgi:
            if lines == 2:  # as a WSGI server presents two lines: joined with a comma
                joined = f"{authorization}, {authorization}"
                return answer_of(Client().get(url, HTTP_AUTHORIZATION=joined))
            return answer_of(Client().get(url, headers=headers))

        extra: dict[str, Any] = {"authorization": authorization} if lines == 2 else {}

        async def call() -> Answer:  # a second line: another spelling of the header name
            return answer_of(await AsyncClient().get(url, headers=headers, **extra))

        return anyio.run(call)


def _serve(guard: Guard, layout: Layout) -> Iterator[Api]:
    GUARDS["g"] = guard
    urlpatterns[:] = [path("x", view_of(layout, guard, _seen))]
    middleware = [f"{__name__}.Middleware"] if layout.middleware else []
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=middleware):
        yield Api(guard, layout)
    GUARDS.clear()
    SEEN.clear()
    urlpatterns.clear()
    guard.close()


@pytest.fixture(params=list(LAYOUTS))
def api(request: pytest.FixtureRequest, issuer: TokenIssuer, clock: Any) -> Iterator[Api]:
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    yield from _serve(guard, LAYOUTS[request.param])


ACCEPTED = (200, {"sub": "auth0|user-1", "scopes": [READ]}, None)


def known(api: Api, issuer: TokenIssuer, **claims: Any) -> str:
    """A new token's ``Authorization`` value, known after two requests."""
    bearer = f"Bearer {issuer.mint(scopes=[READ], **claims)}"
    for _ in range(2):
        assert api.get(authorization=bearer) == ACCEPTED
    return bearer


def flow_answer(api: Api, **request: Any) -> Answer:
    """The whole flow's answer to ``request`` (an observer is on the guard meanwhile)."""
    api.guard.observers.append(lambda outcome: None)
    try:
        return api.get(**request)
    finally:
        api.guard.observers.clear()


def refused(answer: Answer, status: int, error: str, description: str) -> None:
    """``answer`` is this refusal, challenge included (RFC 6750 §3)."""
    got_status, body, challenge = answer
    assert got_status == status, body
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert description in body["error_description"]
    assert challenge is not None
    assert challenge.startswith(f'Bearer error="{error}", error_description="'), challenge


def test_a_known_header_gives_the_flows_token_without_the_flow(
    api: Api, issuer: TokenIssuer
) -> None:
    runs = count_flows(api.guard)
    bearer = known(api, issuer)
    assert runs == [2]
    for _ in range(3):
        assert api.get(authorization=bearer) == ACCEPTED
    assert runs == [2]
    assert flow_answer(api, authorization=bearer) == ACCEPTED
    assert runs == [3]
    # the flow's token (from the cache) and the known path's are the very same object
    assert len(SEEN) == 6
    assert all(token is SEEN[0] for token in SEEN)
    # another spelling of the same token is another header value: the flow decides
    assert api.get(authorization=bearer.replace("Bearer ", "bearer  ")) == ACCEPTED
    assert runs == [4]


def test_two_authorization_lines_go_through_the_flow(api: Api, issuer: TokenIssuer) -> None:
    bearer = known(api, issuer)
    runs = count_flows(api.guard)
    answer = api.get(authorization=bearer, lines=2)
    assert runs == [1]
    refused(answer, 400, "invalid_request", "more than one Authorization")
    assert answer == flow_answer(api, authorization=bearer, lines=2)


def test_a_query_goes_through_the_flow(api: Api, issuer: TokenIssuer) -> None:
    bearer = known(api, issuer)
    runs = count_flows(api.guard)
    answer = api.get("/x?access_token=abc", authorization=bearer)
    assert runs == [1]
    refused(answer, 400, "invalid_request", "both in the header and in the query")
    assert answer == flow_answer(api, url="/x?access_token=abc", authorization=bearer)
    # any query at all: the flow runs (and accepts)
    assert api.get("/x?page=2", authorization=bearer) == ACCEPTED
    assert runs == [3]


def test_an_expired_cached_token_goes_through_the_flow(
    api: Api, issuer: TokenIssuer, clock: Any
) -> None:
    bearer = known(api, issuer, expires_in=60)
    runs = count_flows(api.guard)
    clock.advance(61 + api.guard.config.leeway)
    answer = api.get(authorization=bearer)
    assert runs == [1]
    refused(answer, 401, "invalid_token", "expired")
    assert answer == flow_answer(api, authorization=bearer)


def test_a_key_change_goes_through_the_flow(api: Api, issuer: TokenIssuer) -> None:
    bearer = known(api, issuer)
    issuer.rotate(keep_old=False)
    [keys] = api.guard.jwks.values()
    keys.refresh()  # the old key is gone: the tokens it verified leave the cache
    runs = count_flows(api.guard)
    answer = api.get(authorization=bearer)
    assert runs == [1]
    refused(answer, 401, "invalid_token", "")
    assert answer == flow_answer(api, authorization=bearer)


def test_an_observer_or_debug_logging_sees_every_accepted_request(
    api: Api, issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    bearer = known(api, issuer)
    runs = count_flows(api.guard)
    seen: list[Outcome] = []
    api.guard.observers.append(seen.append)
    assert api.get(authorization=bearer) == ACCEPTED
    assert [(o.accepted, o.status) for o in seen] == [(True, 200)]
    api.guard.observers.clear()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="rs_guard.guard"):
        assert api.get(authorization=bearer) == ACCEPTED
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["accepted GET /x"]
    assert runs == [2]


@pytest.mark.parametrize("layout", ["middleware", "asgi-decorator", "drf"])
def test_proof_of_possession_is_checked_on_every_request(
    issuer: TokenIssuer, clock: Any, layout: str
) -> None:
    dpop_key = DPoPKey("ES256", clock=clock)
    config = issuer.config(proof_of_possession=ProofOfPossession("dpop"))
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    for api in _serve(guard, LAYOUTS[layout]):
        runs = count_flows(guard)
        token = issuer.mint(scopes=[READ], cnf=dpop_key.cnf)
        # the test clients' servers: WSGI's SERVER_NAME, ASGI's scope["server"]
        url = "http://127.0.0.1/x" if api.layout.asgi else "http://testserver/x"
        for _ in range(3):
            proof = dpop_key.proof("GET", url, access_token=token)
            assert api.get(authorization=f"DPoP {token}", dpop=proof) == ACCEPTED
        answer = api.get(authorization=f"DPoP {token}", dpop=proof)  # the same proof again
        assert runs == [4]
        assert answer[:2] == (
            401,
            {"error": "invalid_dpop_proof", "error_description": "the DPoP proof was already used"},
        )
        assert answer[2] is not None
        assert 'DPoP error="invalid_dpop_proof"' in answer[2]
