"""Attacks on Django's known-token path (issue 13): the answer must be the whole flow's.

A differential over a corpus of raw requests: every request goes to a guard that takes
known tokens (nobody listening) and to a guard of the same settings with an observer (the
flow on every request), in every layout of the adapter (the middleware, ``@require``
alone, DRF alone, under WSGI and ASGI with Django's own reading of the request), three
rounds, the last one after the token expired. The answers (status, JSON body,
``WWW-Authenticate``) must be the same every time.

Then two guards in one project: the process's guard from the Django settings in the
middleware, a second guard (other settings) in a decorator or a DRF class. A header
value the first one knows is never an answer for the second one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import pytest
from django.test import AsyncClient, Client
from django.test.client import FakePayload
from django.test.utils import override_settings
from django.urls import path
from django_support import (
    LAYOUTS,
    READ,
    Answer,
    Layout,
    answer_of,
    drf_view,
    middleware_of,
    subject,
    view_of,
    views,
)
from known_token_support import (
    count_flows,
    no_debug_logging,  # noqa: F401  (autouse fixture)
)

from rs_guard import Guard
from rs_guard.adapters.django import default_guard, require
from rs_guard.config import ProofOfPossession
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import CertificateAuthority

#: The guards of the running test, by route prefix ("f": fast, "s": the flow every time).
GUARDS: dict[str, Guard] = {}
urlpatterns: list[Any] = []

# The middleware of one prefix's guard (the other prefix is public to it).
FastMiddleware = middleware_of(GUARDS, "f", public_paths=("/s/*",))
FlowMiddleware = middleware_of(GUARDS, "s", public_paths=("/f/*",))


class Raw(NamedTuple):
    """One request as the server hands it over: header lines (name, value), the query,
    the method and a form body."""

    headers: tuple[tuple[str, str], ...]
    query: str = ""
    method: str = "GET"
    body: str = ""


def _wsgi(prefix: str, raw: Raw) -> Answer:
    """As a WSGI server presents it: repeated lines joined with commas (RFC 9110 §5.3)."""
    environ: dict[str, Any] = {"QUERY_STRING": raw.query}
    for name, value in raw.headers:
        # "HTTP_...": an odd environ key as given (a middleware might put one there)
        key = name if name.startswith("HTTP_") else "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    client = Client()
    url = f"/{prefix}/x"
    if raw.method == "POST":
        return answer_of(
            client.post(url, raw.body, content_type="application/x-www-form-urlencoded", **environ)
        )
    return answer_of(client.generic(raw.method, url, **environ))


def _asgi(prefix: str, raw: Raw) -> Answer:
    """As an ASGI server presents it: the raw header lines, Django's ASGIRequest reads them."""
    headers = [(b"host", b"testserver")]
    headers += [(n.encode("latin-1"), v.encode("latin-1")) for n, v in raw.headers]
    scope: dict[str, Any] = {
        "method": raw.method,
        "path": f"/{prefix}/x",
        "query_string": raw.query.encode("latin-1"),
        "headers": headers,
        "server": ("127.0.0.1", "80"),
    }
    if raw.body:
        body = raw.body.encode()
        headers += [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ]
        scope["_body_file"] = FakePayload(body)

    async def call() -> Answer:
        return answer_of(await AsyncClient().request(**scope))

    return anyio.run(call)


class Pair(NamedTuple):
    fast: Guard
    flow: Guard
    layout: Layout

    def send(self, prefix: str, raw: Raw) -> Answer:
        return (_asgi if self.layout.asgi else _wsgi)(prefix, raw)


def _serve(fast: Guard, flow: Guard, layout: Layout) -> Iterator[Pair]:
    GUARDS.update(f=fast, s=flow)
    flow.observers.append(lambda outcome: None)  # the flow on every request

    urlpatterns[:] = [path("f/x", view_of(layout, fast)), path("s/x", view_of(layout, flow))]
    middleware = (
        [f"{__name__}.FastMiddleware", f"{__name__}.FlowMiddleware"] if layout.middleware else []
    )
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=middleware):
        yield Pair(fast, flow, layout)
    GUARDS.clear()
    urlpatterns.clear()
    fast.close()
    flow.close()


@pytest.fixture(params=list(LAYOUTS))
def pair(request: pytest.FixtureRequest, issuer: TokenIssuer, clock: Any) -> Iterator[Pair]:
    fast = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    flow = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    yield from _serve(fast, flow, LAYOUTS[request.param])


def _corpus(token: str) -> list[Raw]:
    bearer = f"Bearer {token}"
    spellings = [
        bearer,
        f"bearer {token}",
        f"BEARER   {token}",
        f"  Bearer {token}  ",
        f"Bearer {token}\t",
        f"Bearer\t{token}",
        f"Bearer {token},",
        f"Bearer {token}, Basic abc",
        f"Basic abc, Bearer {token}",
        f"DPoP {token}",
        f"Bearer {token}\xa0",
        f"Bearer {token}\x85",
        f"Bearer {token}=",
        f"Bearer {token}" + " " * 40,
    ]
    corpus: list[Raw] = []
    for value in spellings:
        one = (("authorization", value),)
        corpus += [
            Raw(one),
            Raw(one, query="page=2"),
            Raw(one, query="access_token=abc"),
            Raw(one, query="access%5Ftoken=abc"),
            Raw(one, query="access_token"),
            Raw((*one, ("dpop", "x.y.z"))),
        ]
    corpus += [
        # repeated lines: two equal ones, an empty second one, another scheme; the
        # header name in another case (one header for HTTP; Django joins them)
        Raw((("authorization", bearer), ("authorization", bearer))),
        Raw((("authorization", bearer), ("authorization", ""))),
        Raw((("authorization", bearer), ("authorization", "Basic abc"))),
        Raw((("authorization", bearer), ("Authorization", bearer))),
        # names Django drops (underscores) or that are no server's spelling
        Raw((("authorization", bearer), ("x_authorization", "Bearer x"))),
        Raw((("authorization", bearer), ("HTTP_authorization", "Bearer x"))),
        Raw((("HTTP_authorization", bearer),)),
        # a form body with a token (never read) beside the known header, and alone
        Raw((("authorization", bearer),), method="POST", body="access_token=abc"),
        Raw((), method="POST", body=f"access_token={token}"),
        # (not the token: without the middleware, DRF's refusal is logged by Django with
        # the request, query string included)
        Raw((), query="access_token=abc"),
        Raw(()),
    ]
    return corpus


def test_every_request_answers_as_the_flow_in_every_layout(
    pair: Pair, issuer: TokenIssuer, clock: Any
) -> None:
    token = issuer.mint(scopes=[READ], expires_in=120)
    runs = count_flows(pair.fast)
    corpus = _corpus(token)
    accepted = (200, {"sub": "auth0|user-1", "scopes": [READ]}, None)
    seen: list[Answer] = []
    for round_ in range(3):
        if round_ == 2:
            clock.advance(121 + pair.fast.config.leeway)  # expired since the last request
        for raw in corpus:
            answer = pair.send("f", raw)
            assert answer == pair.send("s", raw), (round_, raw)
            seen.append(answer)
    assert seen[0] == accepted  # the plain header, first round
    assert accepted not in seen[2 * len(corpus) :]  # the last round: expired
    # the known path did answer (fewer flow runs than requests)
    assert runs[0] < 3 * len(corpus)


# -- two guards in one project -----------------------------------------------------------

B_AUDIENCE = "https://b.rs-guard.test"
WRONG_AUDIENCE = (
    401,
    {"error": "invalid_token", "error_description": "the token is meant for another audience"},
    'Bearer error="invalid_token", error_description="the token is meant for another audience"',
)


class TwoGuards(NamedTuple):
    a: Guard  # the process's guard, from the Django settings
    b: Guard


def _b_routes(b: Guard) -> list[Any]:
    sync_view, async_view = views(subject)
    return [
        path("a", require()(sync_view)),
        path("async-a", require()(async_view)),
        path("b", require(guard=b)(sync_view)),
        path("async-b", require(guard=b)(async_view)),
        path("drf-b", drf_view(b, [], subject)),
    ]


MIDDLEWARE = ["rs_guard.adapters.django.RSGuardMiddleware"]
_DPOP_ONLY = (
    "this API accepts only DPoP-bound tokens: send the token with the DPoP scheme and a DPoP proof"
)
DPOP_ONLY = (
    401,
    {"error": "invalid_token", "error_description": _DPOP_ONLY},
    f'DPoP error="invalid_token", error_description="{_DPOP_ONLY}", algs="ES256 PS256 RS256 EdDSA"',
)


def _two_guards(issuer: TokenIssuer, **b_settings: Any) -> Iterator[TwoGuards]:
    a = default_guard()[1]
    b = Guard(issuer.config(**b_settings), transport=issuer.transport())
    urlpatterns[:] = _b_routes(b)
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=MIDDLEWARE):
        yield TwoGuards(a, b)
    urlpatterns.clear()
    b.close()


def _get(route: str, authorization: str, *, asgi: bool) -> Answer:
    if not asgi:
        return answer_of(Client().get(route, headers={"Authorization": authorization}))

    async def call() -> Answer:
        return answer_of(await AsyncClient().get(route, headers={"Authorization": authorization}))

    return anyio.run(call)


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_a_header_known_to_the_settings_guard_is_never_the_answer_of_another(
    rs_env: dict[str, str], live_issuer: TokenIssuer, asgi: bool
) -> None:
    """The process's guard (A, from the settings) knows the header; B (another audience)
    refuses it in ``@require(guard=B)``, sync and async, and in DRF, on every request."""
    for guards in _two_guards(live_issuer, audience=B_AUDIENCE):
        only_a = f"Bearer {live_issuer.mint(subject='auth0|a-user')}"
        a_route = "/async-a" if asgi else "/a"
        runs = count_flows(guards.a)
        for _ in range(4):
            assert _get(a_route, only_a, asgi=asgi) == (200, {"sub": "auth0|a-user"}, None)
        assert runs == [2]  # A took the known path for the last two
        b_runs = count_flows(guards.b)
        for route in ("/b", "/async-b", "/drf-b"):
            for _ in range(3):
                assert _get(route, only_a, asgi=asgi) == WRONG_AUDIENCE, route
        assert b_runs == [9]  # B ran its own flow every time (it refuses)


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_a_bearer_header_known_to_the_settings_guard_never_passes_a_dpop_guard(
    rs_env: dict[str, str], live_issuer: TokenIssuer, asgi: bool
) -> None:
    """Same audience; only B's routes require DPoP. A knows the Bearer header: B answers
    401 with its own DPoP challenge on every request, A keeps accepting."""
    dpop = ProofOfPossession("dpop", required=True)
    for _guards in _two_guards(live_issuer, proof_of_possession=dpop):
        bearer = f"Bearer {live_issuer.mint(subject='auth0|a-user')}"
        a_route = "/async-a" if asgi else "/a"
        for _ in range(3):
            assert _get(a_route, bearer, asgi=asgi) == (200, {"sub": "auth0|a-user"}, None)
        for route in ("/b", "/async-b", "/drf-b"):
            for _ in range(3):
                assert _get(route, bearer, asgi=asgi) == DPOP_ONLY, route
        assert _get(a_route, bearer, asgi=asgi) == (200, {"sub": "auth0|a-user"}, None)


def test_an_mtls_guard_checks_the_certificate_on_every_request(
    rs_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    live_issuer: TokenIssuer,
) -> None:
    """mTLS under ASGI: the same header three times with the bound certificate, then
    another certificate and none: refused each time (no known token under a binding)."""
    settings_file = tmp_path / "api.json"
    pop = {"mechanism": "mtls", "required": True}
    settings_file.write_text(
        json.dumps({"identifier": live_issuer.audience, "proof_of_possession": pop})
    )
    monkeypatch.setenv("RS_GUARD_CONFIG", str(settings_file))
    from rs_guard.adapters.django import reset_default_guard

    reset_default_guard()
    ca = CertificateAuthority()
    mine, other = ca.client_cert("a"), ca.client_cert("b")
    token = live_issuer.mint(scopes=[READ], subject="auth0|m", cnf=mine.cnf)
    urlpatterns[:] = _b_routes(default_guard()[1])

    async def call(extensions: dict[str, Any]) -> Answer:
        scope = {
            "method": "GET",
            "path": "/async-a",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())],
            "extensions": extensions,
        }
        return answer_of(await AsyncClient().request(**scope))

    def tls(cert: Any) -> dict[str, Any]:
        return {"tls": {"client_cert_chain": [cert.cert_pem.decode()]}}

    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=MIDDLEWARE):
        for _ in range(3):
            assert anyio.run(call, tls(mine)) == (200, {"sub": "auth0|m"}, None)
        for extensions in (tls(other), {}, tls(other)):
            status, body, challenge = anyio.run(call, extensions)
            assert (status, body["error"]) == (401, "invalid_token")
            assert challenge is not None
            assert challenge.startswith('Bearer error="invalid_token", error_description="')
    urlpatterns.clear()


@pytest.mark.parametrize("with_settings", [False, True], ids=["no-settings", "settings"])
def test_drf_bound_to_another_guard_answers_an_anonymous_request_with_its_challenge(
    request: pytest.FixtureRequest, issuer: TokenIssuer, clock: Any, with_settings: bool
) -> None:
    """A DRF view whose authentication class is bound to guard B, and a request without
    credentials: the permission class answered with the process's guard (another realm's
    challenge; a 500 with no ``RS_GUARD_*`` settings at all). B's own challenge, as
    ``@require(guard=B)`` answers it."""
    if with_settings:
        request.getfixturevalue("rs_env")
    b = Guard(issuer.config(realm="b-api"), transport=issuer.transport(), clock=clock)
    urlpatterns[:] = _b_routes(b)
    challenge = 'Bearer realm="b-api"'
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=[]):
        client = Client(raise_request_exception=False)
        # the decorator, the reference; DRF's permission class says its own words
        assert answer_of(client.get("/b")) == (
            401,
            {"error_description": "no access token was sent"},
            challenge,
        )
        assert answer_of(client.get("/drf-b")) == (
            401,
            {"error_description": "this route requires an access token"},
            challenge,
        )
    urlpatterns.clear()
    b.close()
