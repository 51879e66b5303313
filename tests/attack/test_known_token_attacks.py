"""Attacks on the issue 13 speed work: the known-token path, shared token parts, the
reordered syntax check. Each test compares against the whole flow's own answer.

The differential tests send every request twice: to a guard with the known-token path
(nobody listening) and to the same settings with an observer (the flow on every request).
The answers (status, challenge, body) must be the same on every repetition.
"""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Security
from flask import Flask, jsonify
from known_token_support import (
    count_flows,
    hello,
    no_debug_logging,  # noqa: F401  (autouse fixture)
)
from werkzeug.test import Client

from rs_guard import AsyncGuard, Guard
from rs_guard.adapters.asgi import RSGuardMiddleware
from rs_guard.adapters.fastapi import RSGuard as FastAPIGuard
from rs_guard.adapters.flask import RSGuard, current_token, require
from rs_guard.adapters.wsgi import RSGuardWSGIMiddleware
from rs_guard.errors import RSGuardError
from rs_guard.extract import Credentials, check_syntax
from rs_guard.testing import TokenIssuer
from rs_guard.token import AccessToken


def _answer(client: Client, environ: dict[str, Any]) -> tuple[int, str | None, bytes]:
    response = client.get("/x", environ_overrides=environ)
    return response.status_code, response.headers.get("WWW-Authenticate"), response.data


def test_header_spellings_answer_as_the_flow_every_time(issuer: TokenIssuer, clock: Any) -> None:
    fast = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    slow = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    slow.observers.append(lambda outcome: None)  # the flow on every request
    fast_client = Client(RSGuardWSGIMiddleware(hello, guard=fast))
    slow_client = Client(RSGuardWSGIMiddleware(hello, guard=slow))
    runs = count_flows(fast)
    token = issuer.mint()
    spellings = [
        f"Bearer {token}",
        f"bearer {token}",
        f"BEARER   {token}",
        f"  Bearer {token}  ",
        f"Bearer {token}\t",
        f"Bearer\t{token}",
        f"Bearer {token} ",
        f"Bearer {token},",
        f"Bearer {token}, Bearer {token}",
        f"Bearer {token}, Basic abc",
        f"DPoP {token}",
        f"Bearer {token}=",
        f"Bearer {token}\x00",
        f"Bearer {token}\x85",
        f"Bearer {token}\xa0",
        f"Bearer\xa0{token}",
    ]
    environs: list[dict[str, Any]] = []
    for value in spellings:
        environs.append({"HTTP_AUTHORIZATION": value})
        environs.append({"HTTP_AUTHORIZATION": value, "QUERY_STRING": ""})
        environs.append({"HTTP_AUTHORIZATION": value, "HTTP_DPOP": "x.y.z"})
        environs.append({"HTTP_AUTHORIZATION": value, "QUERY_STRING": "page=2"})
        environs.append({"HTTP_AUTHORIZATION": value, "QUERY_STRING": "access%5Ftoken=a"})
    for _ in range(3):
        for environ in environs:
            assert _answer(fast_client, environ) == _answer(slow_client, environ), environ
    assert _answer(fast_client, {"HTTP_AUTHORIZATION": f"Bearer {token}"})[0] == 200
    # the known path did answer (fewer flow runs than requests)
    assert runs[0] < 3 * len(environs)
    fast.close()
    slow.close()


def test_a_known_header_of_an_evicted_token_goes_through_the_flow(
    issuer: TokenIssuer, clock: Any
) -> None:
    guard = Guard(issuer.config(token_cache_size=1), transport=issuer.transport(), clock=clock)
    client = Client(RSGuardWSGIMiddleware(hello, guard=guard))
    first, second = issuer.mint(subject="auth0|a"), issuer.mint(subject="auth0|b")
    for _ in range(2):
        assert client.get("/x", headers={"Authorization": f"Bearer {first}"}).json == {
            "sub": "auth0|a"
        }
    runs = count_flows(guard)
    # the second token evicts the first one from the one-entry cache
    assert client.get("/x", headers={"Authorization": f"Bearer {second}"}).json == {
        "sub": "auth0|b"
    }
    assert client.get("/x", headers={"Authorization": f"Bearer {first}"}).json == {"sub": "auth0|a"}
    assert runs == [2]
    # expired after eviction and re-verification: refused, never the stale map entry
    clock.advance(3600 + guard.config.leeway)
    answer = client.get("/x", headers={"Authorization": f"Bearer {first}"})
    assert answer.status_code == 401
    assert answer.json is not None
    assert answer.json["error"] == "invalid_token"
    assert "expired" in answer.json["error_description"]
    guard.close()


def test_a_known_header_still_meets_the_route_scope_and_another_guards_settings(
    issuer: TokenIssuer, clock: Any
) -> None:
    """Flask extension B (other settings) behind WSGI middleware A: a header value known
    to A runs B's own flow, and B's scope check answers 403 on every request."""
    outer = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    inner = Guard(
        issuer.config(realm="inner"),
        transport=issuer.transport(),
        clock=clock,
    )
    app = Flask(__name__)
    RSGuard(app, guard=inner, check_scopes=False)

    @app.get("/x")
    @require("write:things")
    def write() -> Any:
        return jsonify(sub=current_token.subject)

    app.wsgi_app = RSGuardWSGIMiddleware(app.wsgi_app, guard=outer)  # type: ignore[method-assign]
    client = app.test_client()
    token = issuer.mint(scopes=["read:things"])
    for _ in range(4):
        answer = client.get("/x", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 403
        assert answer.json is not None
        assert answer.json["error"] == "insufficient_scope"
        assert answer.headers["WWW-Authenticate"] == (
            'Bearer error="insufficient_scope", scope="write:things"'
        )
    good = issuer.mint(scopes=["write:things"])
    for _ in range(4):
        answer = client.get("/x", headers={"Authorization": f"Bearer {good}"})
        assert answer.json == {"sub": "auth0|user-1"}
    outer.close()
    inner.close()


def test_shared_parts_never_change_another_tokens_claims(issuer: TokenIssuer, clock: Any) -> None:
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    one = guard.verify(issuer.mint(claims={"x": 1, "y": [1], "roles": ["a", "b"]}))
    true = guard.verify(issuer.mint(claims={"x": True, "y": [True], "roles": ["a", "b"]}))
    real = guard.verify(issuer.mint(claims={"x": 1.0, "y": [1.0], "roles": ["a", "b"]}))
    assert [type(t.claims["x"]) for t in (one, true, real)] == [int, bool, float]
    assert [type(t.claims["y"][0]) for t in (one, true, real)] == [int, bool, float]
    # a list claim is each token's own: user code changing it changes no other token
    one.claims["roles"].append("admin")
    assert true.claims["roles"] == ["a", "b"]
    assert real.claims["roles"] == ["a", "b"]
    with pytest.raises(TypeError):
        true.header["kid"] = "other"  # type: ignore[index]
    guard.close()


def _old_check_syntax(credentials: Credentials) -> str | None:
    import re

    control = re.compile(r"[\x00-\x1f\x7f]")
    b64 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
    if control.search(credentials.header):
        return "control"
    if not b64.fullmatch(credentials.token):
        return "b64"
    return None


def _new_check_syntax(credentials: Credentials) -> str | None:
    try:
        check_syntax(credentials)
    except RSGuardError as exc:
        return "control" if "control" in exc.description else "b64"
    return None


def test_check_syntax_answers_as_before_on_a_fuzz_corpus() -> None:
    rng = random.Random(13)
    alphabet = 'Aa0-._~+/= \t\x00\x1f\x7f\x80\x85\xa0\xff,;"\u2028é'
    for _ in range(20000):
        token = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        padding = "".join(rng.choice(" \t\x85\xa0") for _ in range(rng.randint(0, 2)))
        for header in (f"Bearer {token}", f"Bearer {token}{padding}", f"{padding}Bearer {token}"):
            credentials = Credentials("Bearer", token, header)
            assert _new_check_syntax(credentials) == _old_check_syntax(credentials), header


def test_the_flow_and_the_known_path_read_the_same_authorization_key(
    issuer: TokenIssuer, clock: Any
) -> None:
    """A key that is not PEP 3333's spelling (``HTTP_authorization``, put there by a
    middleware; no server makes one) beside ``HTTP_AUTHORIZATION``: the known path read
    only the canonical key and answered 200 where the flow had counted two lines (400).
    Both now read the canonical key alone, on every request."""
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    client = Client(RSGuardWSGIMiddleware(hello, guard=guard))
    token = issuer.mint()
    odd = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_authorization": "Bearer x"}
    before = _answer(client, odd)
    for _ in range(2):  # the header value becomes known
        client.get("/x", headers={"Authorization": f"Bearer {token}"})
    assert _answer(client, odd) == before
    assert before[0] == 200
    # the odd key alone is no Authorization header
    answer = client.get("/x", environ_overrides={"HTTP_authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    guard.close()


@pytest.mark.anyio
async def test_a_fastapi_dependency_of_b_behind_the_middleware_of_a(
    issuer: TokenIssuer, clock: Any
) -> None:
    """A header value known to A (the ASGI middleware) runs B's own flow and B's scope
    check in B's dependency on every request: 403, then 200 with the right scope; C's
    dependency (another audience) refuses it every time."""
    outer = AsyncGuard(issuer.config(), transport=issuer.transport(), clock=clock)
    inner = AsyncGuard(issuer.config(realm="inner"), transport=issuer.transport(), clock=clock)
    auth = FastAPIGuard(guard=inner)
    app = FastAPI()
    stranger = AsyncGuard(
        issuer.config(audience="https://other.rs-guard.test"),
        transport=issuer.transport(),
        clock=clock,
    )
    other = FastAPIGuard(guard=stranger)
    auth.install(app, middleware=False)  # the RFC 6750 error handler

    @app.get("/x")
    async def write(
        token: AccessToken = Security(auth, scopes=["write:things"]),  # noqa: B008 (local)
    ) -> Any:
        return {"sub": token.subject}

    @app.get("/y")
    async def other_api(token: AccessToken = Security(other)) -> Any:  # noqa: B008
        return {"sub": token.subject}

    asgi = RSGuardMiddleware(app, guard=outer)
    weak, good = issuer.mint(scopes=["read:things"]), issuer.mint(scopes=["write:things"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=asgi), base_url="http://testserver"
    ) as http:
        for _ in range(4):
            answer = await http.get("/x", headers={"Authorization": f"Bearer {weak}"})
            assert answer.status_code == 403
            assert answer.json()["error"] == "insufficient_scope"
        for _ in range(4):
            answer = await http.get("/x", headers={"Authorization": f"Bearer {good}"})
            assert answer.json() == {"sub": "auth0|user-1"}
        # C (another audience) refuses, on every request, a value A and B know
        for _ in range(3):
            answer = await http.get("/y", headers={"Authorization": f"Bearer {good}"})
            assert answer.status_code == 401
            assert answer.json()["error"] == "invalid_token"
            assert "audience" in answer.json()["error_description"]
    await stranger.aclose()
    await outer.aclose()
    await inner.aclose()


def test_threads_racing_a_key_change_never_accept_the_old_token_after_it(
    issuer: TokenIssuer, clock: Any
) -> None:
    """WSGI threads send a known header while the key is removed: every request that
    starts after the refresh has returned is refused (no stale known-token answer)."""
    import threading

    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    app = RSGuardWSGIMiddleware(hello, guard=guard)
    token = issuer.mint()
    header = {"Authorization": f"Bearer {token}"}
    for _ in range(2):
        assert Client(app).get("/x", headers=header).status_code == 200
    rotated = threading.Event()
    stop = threading.Event()
    late: list[int] = []

    def hammer() -> None:
        client = Client(app)
        while not stop.is_set():
            after = rotated.is_set()
            status = client.get("/x", headers=header).status_code
            if after:
                late.append(status)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    issuer.rotate(keep_old=False)
    [keys] = guard.jwks.values()
    keys.refresh()
    rotated.set()
    for _ in range(2000):  # a bounded wait (20 s at most) for 200 late answers
        if len(late) >= 200:
            break
        stop.wait(0.01)
    stop.set()
    for thread in threads:
        thread.join(timeout=20)
    assert set(late) == {401}
    guard.close()


def test_a_step_up_route_reads_the_clock_on_every_known_request(
    issuer: TokenIssuer, clock: Any
) -> None:
    """Flask ``require(max_age=...)``: the known-token path hands back the token, the
    route still judges ``auth_time`` against the clock each time (RFC 9470 §3)."""
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    app = Flask(__name__)
    RSGuard(app, guard=guard, check_scopes=False)

    @app.get("/x")
    @require(max_age=60)
    def fresh() -> Any:
        return jsonify(sub=current_token.subject)

    client = app.test_client()
    token = issuer.mint(claims={"auth_time": int(clock())})
    header = {"Authorization": f"Bearer {token}"}
    runs = count_flows(guard)
    for _ in range(3):
        assert client.get("/x", headers=header).json == {"sub": "auth0|user-1"}
    assert runs == [2]  # the third request took the known-token path
    clock.advance(61 + guard.config.leeway)
    for _ in range(2):
        answer = client.get("/x", headers=header)
        assert answer.status_code == 401
        assert answer.json is not None
        assert answer.json["error"] == "insufficient_user_authentication"
        assert answer.headers["WWW-Authenticate"] == (
            'Bearer error="insufficient_user_authentication", '
            'error_description="the user authenticated more than 60 seconds ago", max_age="60"'
        )
    guard.close()
