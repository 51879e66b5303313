"""Attacks on the request-path shortcuts of issue 13, second round: the ASGI reading of
raw header lines against the flow's, and the bounded map of known header values.

Differential tests send every request to a guard that takes known tokens (nobody
listening) and to a guard of the same settings with an observer (the flow every time);
the answers must be the same, status, ``WWW-Authenticate`` and body.
"""

from __future__ import annotations

import gc
import itertools
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from known_token_support import (
    count_flows,
    hello,
    no_debug_logging,  # noqa: F401  (autouse fixture)
)
from werkzeug.test import Client

from rs_guard import AsyncGuard, Guard
from rs_guard.adapters._shell import TOKEN_KEY, verified_under
from rs_guard.adapters.asgi import RSGuardMiddleware
from rs_guard.adapters.wsgi import RSGuardWSGIMiddleware
from rs_guard.observability import Outcome, add_observer, remove_observer
from rs_guard.testing import TokenIssuer, generate_key


async def _subject(scope: Any, receive: Any, send: Any) -> None:
    token = scope.get("rs_guard.token")
    body = json.dumps({"sub": token.subject if token else None}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


Answer = tuple[int, "str | None", bytes]


async def _call(app: Any, headers: list[tuple[bytes, bytes]], query: bytes | None) -> Answer:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/x",
        "raw_path": b"/x",
        "root_path": "",
        "headers": headers,
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 5000),
    }
    if query is not None:
        scope["query_string"] = query
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    challenge = dict(start["headers"]).get(b"www-authenticate")
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], challenge.decode() if challenge else None, body


def test_raw_asgi_header_lines_answer_as_the_flow(issuer: TokenIssuer, clock: Any) -> None:
    """Header names in another case beside the lower-case one (a server that does not
    lower them), repeated and empty lines, a query that is empty, absent or a token."""
    fast = AsyncGuard(issuer.config(), transport=issuer.transport(), clock=clock)
    flow = AsyncGuard(issuer.config(), transport=issuer.transport(), clock=clock)
    flow.observers.append(lambda outcome: None)
    fast_app, flow_app = (RSGuardMiddleware(_subject, guard=g) for g in (fast, flow))
    runs = count_flows(fast)
    token = issuer.mint(expires_in=60)
    value = f"Bearer {token}".encode()
    line_sets: list[list[tuple[bytes, bytes]]] = [
        [(b"authorization", value)],
        [(b"Authorization", value)],
        [(b"AUTHORIZATION", value)],
        [(b"authorization", value), (b"Authorization", value)],
        [(b"authorization", value), (b"authorization", b"")],
        [(b"authorization", b""), (b"authorization", value)],
        [(b"authorization", value), (b"authorization", b"Basic abc")],
        [(b"authorization", value + b", " + value)],
        [(b"authorization", value + b"\xa0")],
        [(b"authorization", value), (b"dpop", b"x.y.z")],
        [(b"authorization", value), (b"x-authorization", b"Bearer x")],
        [(b"authorization", b"bearer " + token.encode())],
        [(b"authorization", b"Bearer  " + token.encode())],
    ]
    queries: list[bytes | None] = [None, b"", b"page=2", b"access_token=a", b"access%5Ftoken=a"]

    async def rounds() -> list[Answer]:
        seen = []
        for round_ in range(3):
            if round_ == 2:
                clock.advance(61 + fast.config.leeway)
            for lines, query in itertools.product(line_sets, queries):
                answer = await _call(fast_app, lines, query)
                assert answer == await _call(flow_app, lines, query), (round_, lines, query)
                seen.append(answer)
        return seen

    seen = anyio.run(rounds)
    assert seen[0] == (200, None, b'{"sub": "auth0|user-1"}')
    assert all(answer[0] in (400, 401) for answer in seen[2 * len(seen) // 3 :])  # expired
    assert runs[0] < len(seen)  # the known path did answer


def _spellings(token: str) -> Iterator[str]:
    """Values the flow accepts for one token: the scheme in any case, spaces around."""
    for case in itertools.product(*((c, c.upper()) for c in "bearer")):
        for before, between in itertools.product(range(2), range(1, 3)):
            yield f"{' ' * before}{''.join(case)}{' ' * between}{token}"


def test_one_tokens_spellings_never_push_other_clients_out_of_the_known_map(
    issuer: TokenIssuer, clock: Any
) -> None:
    """The map of known header values is bounded (here by the 8-entry token cache). A
    client holding one valid token sends it under many spellings, each accepted from the
    cache and so remembered: it must not evict the values of other clients' tokens (their
    requests would run the flow again), the map holding at most one value per cached token.
    """
    guard = Guard(issuer.config(token_cache_size=8), transport=issuer.transport(), clock=clock)
    client = Client(RSGuardWSGIMiddleware(hello, guard=guard))
    legit = [f"Bearer {issuer.mint(subject=f'auth0|{n}')}" for n in range(3)]
    for value in legit * 2:  # each value known
        assert client.get("/x", headers={"Authorization": value}).json is not None
    runs = count_flows(guard)
    for value in legit:
        assert client.get("/x", headers={"Authorization": value}).json is not None
    assert runs == [0]
    flood = issuer.mint(subject="auth0|flood")
    for n, value in enumerate(_spellings(flood)):
        answer = client.get("/x", headers={"Authorization": value})
        assert answer.json == {"sub": "auth0|flood"}, n
    runs[0] = 0
    for n, value in enumerate(legit):
        assert client.get("/x", headers={"Authorization": value}).json == {"sub": f"auth0|{n}"}
    assert runs == [0]  # still known: no flow for the other clients
    assert len(guard._known) <= len(guard.token_cache)
    guard.close()


def test_a_key_re_issued_under_the_same_kid_ends_the_known_header(
    issuer: TokenIssuer, clock: Any
) -> None:
    """The JWKS now serves another key under the token's kid (no kid removed): the
    header value known before is answered as the flow answers it, 401, every time."""
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    client = Client(RSGuardWSGIMiddleware(hello, guard=guard))
    header = {"Authorization": f"Bearer {issuer.mint()}"}
    for _ in range(3):
        assert client.get("/x", headers=header).json == {"sub": "auth0|user-1"}
    issuer.keys = [generate_key("RS256", kid=issuer.current.kid)]
    [keys] = guard.jwks.values()
    keys.refresh()
    runs = count_flows(guard)
    for _ in range(3):
        answer = client.get("/x", headers=header)
        assert (answer.status_code, answer.json) == (
            401,
            {"error": "invalid_token", "error_description": "the token's signature is not valid"},
        )
        assert answer.headers["WWW-Authenticate"] == (
            'Bearer error="invalid_token", error_description="the token\'s signature is not valid"'
        )
    assert runs == [3]
    guard.close()


def test_an_observer_registered_for_every_guard_mid_run_sees_known_requests(
    issuer: TokenIssuer, clock: Any
) -> None:
    """``add_observer`` (all guards) after the header is known, under WSGI and ASGI: each
    accepted request is observed, so the flow runs; removed, the known path answers again."""
    sync_guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    async_guard = AsyncGuard(issuer.config(), transport=issuer.transport(), clock=clock)
    wsgi = Client(RSGuardWSGIMiddleware(hello, guard=sync_guard))
    asgi = RSGuardMiddleware(_subject, guard=async_guard)
    value = f"Bearer {issuer.mint()}"

    def both() -> list[int]:
        status = wsgi.get("/x", headers={"Authorization": value}).status_code
        answer = anyio.run(_call, asgi, [(b"authorization", value.encode())], b"")
        return [status, answer[0]]

    for _ in range(3):
        assert both() == [200, 200]
    runs = [count_flows(sync_guard), count_flows(async_guard)]
    seen: list[Outcome] = []
    add_observer(seen.append)
    try:
        for _ in range(2):
            assert both() == [200, 200]
    finally:
        remove_observer(seen.append)
    assert [(o.accepted, o.status) for o in seen] == [(True, 200)] * 4
    assert runs == [[2], [2]]
    assert both() == [200, 200]
    assert runs == [[2], [2]]  # known again
    sync_guard.close()


def test_one_large_tokens_spellings_keep_the_known_map_small(
    issuer: TokenIssuer, clock: Any
) -> None:
    """One valid token near the size limit, sent under 1,000+ spellings the flow accepts:
    the map of known values holds at most one value per cached token, so its memory
    stays that of the token cache (before: a copy of the token per spelling, 15 MiB)."""
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    client = Client(RSGuardWSGIMiddleware(hello, guard=guard))
    token = issuer.mint(claims={"pad": "x" * 11_000})
    assert client.get("/x", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    sent = 0
    for value in _spellings(token):  # each value a new string, as a server makes them
        for after in range(5):
            answer = client.get("/x", headers={"Authorization": value + " " * after})
            assert answer.status_code == 200
            sent += 1
    del value
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert sent > 1_000
    assert grown < 1024 * 1024, grown
    guard.close()


def test_the_records_of_one_request_never_reach_another(issuer: TokenIssuer, clock: Any) -> None:
    """One ASGI middleware (guard B) reached directly and behind another one (guard A),
    the same token each time: a request records exactly the guards that verified it,
    whatever earlier requests with that token recorded (nothing of A's leaks into a
    request A never saw, and B's record is always there)."""
    a = AsyncGuard(issuer.config(realm="a"), transport=issuer.transport(), clock=clock)
    b = AsyncGuard(issuer.config(realm="b"), transport=issuer.transport(), clock=clock)

    async def records(scope: Any, receive: Any, send: Any) -> None:
        found = [verified_under(scope, g.config) is not None for g in (a, b)]
        token = scope.get(TOKEN_KEY)
        body = json.dumps({"verified": found, "sub": token.subject if token else None})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body.encode()})

    inner = RSGuardMiddleware(records, guard=b)
    outer = RSGuardMiddleware(inner, guard=a)
    lines = [(b"authorization", f"Bearer {issuer.mint()}".encode())]
    alone = (200, None, b'{"verified": [false, true], "sub": "auth0|user-1"}')
    both = (200, None, b'{"verified": [true, true], "sub": "auth0|user-1"}')

    async def calls() -> list[Answer]:
        return [await _call(app, lines, b"") for app in (inner, inner, outer, inner, outer)]

    for _ in range(2):
        assert anyio.run(calls) == [alone, alone, both, alone, both]


@pytest.mark.parametrize("with_token", [False, True], ids=["anonymous", "token"])
def test_request_auth_shared_between_requests_cannot_be_changed_by_one(
    issuer: TokenIssuer, clock: Any, with_token: bool
) -> None:
    """Starlette's ``request.auth``/``request.user`` objects are made once per token (and
    once for every anonymous request) and shared. An endpoint that rewrites
    ``request.auth.scopes`` (an app "adding roles") gave the next request of the same
    token, or every anonymous one, what Starlette's ``requires`` then accepted."""
    from starlette.applications import Starlette
    from starlette.authentication import requires as starlette_requires
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from rs_guard.adapters.starlette import RSGuardMiddleware as StarletteMiddleware

    def grant(request: Request) -> PlainTextResponse:
        request.auth.scopes = ("admin",)
        return PlainTextResponse("granted")

    def tag(request: Request) -> PlainTextResponse:
        request.user.tagged = True
        return PlainTextResponse("tagged")

    @starlette_requires("admin")
    def admin(request: Request) -> PlainTextResponse:
        return PlainTextResponse("admin")

    def tagged(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(getattr(request.user, "tagged", False)))

    guard = AsyncGuard(issuer.config(), transport=issuer.transport(), clock=clock)
    app = Starlette(
        routes=[Route(f"/{f.__name__}", f) for f in (grant, tag, admin, tagged)],
        middleware=[Middleware(StarletteMiddleware, guard=guard, allow_anonymous=True)],
    )
    headers = {"Authorization": f"Bearer {issuer.mint()}"} if with_token else {}
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/admin", headers=headers)  # the shared objects made
        assert client.get("/grant", headers=headers).status_code == 500  # read-only
        assert client.get("/tag", headers=headers).status_code == 500
        assert client.get("/admin", headers=headers).status_code == 403
        assert client.get("/tagged", headers=headers).text == "False"
