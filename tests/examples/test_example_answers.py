"""The example routes and the refusal answers, the same for every example app (Flask,
Django, FastAPI, Starlette), in process with each framework's own test client.

Each example is imported afresh once for this module with the ``RS_GUARD_*`` environment
pointing at a real :class:`JWKSServer` on 127.0.0.1, as its server would import it; the
tests only read. What differs between the examples (loading with other settings, a JWKS
outage, several header lines, websockets, real servers) is in each example's own module.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from example_cases import (
    INVALID,
    READ,
    ROUTE_TABLE,
    check_invalid_token_answer,
    check_route_answer,
    import_example,
    invalid_tokens,
    text_of,
)
from refusals import expect_refusal

from rs_guard.testing import JWKSServer, TokenIssuer

EXAMPLES = ["flask", "django", "fastapi", "starlette"]
WSGI = ("flask", "django")


@dataclass
class Example:
    """One example app behind its framework's test client."""

    name: str
    client: Any

    def send(self, method: str, path: str, headers: dict[str, str]) -> Any:
        if self.name == "django":
            return self.client.generic(method, path, headers=headers)
        if self.name == "flask":
            return self.client.open(path, method=method, headers=headers)
        return self.client.request(method, path, headers=headers)


def _client(name: str, module: Any) -> Iterator[Any]:
    if name == "flask":
        yield module.app.test_client()
    elif name == "django":
        from django.test import Client
        from django.test.utils import override_settings

        # The suite may have configured Django before the example could.
        with override_settings(
            ROOT_URLCONF=module.__name__, MIDDLEWARE=module.MIDDLEWARE, RS_GUARD=module.RS_GUARD
        ):
            yield Client()
    else:
        with warnings.catch_warnings():  # Starlette >= 1.x prefers httpx2 for its test client
            warnings.simplefilter("ignore")
            from starlette.testclient import TestClient
        with TestClient(module.app) as client:  # started (lifespan) once
            yield client


@pytest.fixture(scope="module", params=EXAMPLES)
def example(request: pytest.FixtureRequest, live_issuer: TokenIssuer) -> Iterator[Example]:
    name = str(request.param)
    with JWKSServer(live_issuer.jwks) as jwks, pytest.MonkeyPatch.context() as mp:
        module = import_example(mp, f"examples.{name}_app", live_issuer, jwks.jwks_uri)
        for client in _client(name, module):
            yield Example(name, client)


@pytest.fixture(scope="module")
def invalid(live_issuer: TokenIssuer) -> dict[str, str]:
    return invalid_tokens(live_issuer)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _json(response: Any) -> Any:
    return response.json() if callable(response.json) else response.json


# -- the routes ---------------------------------------------------------------------------------


def test_health_is_public(example: Example) -> None:
    response = example.client.get("/health")
    assert response.status_code == 200
    assert _json(response) == {"status": "ok"}


def test_me_answers_the_token_shape(example: Example, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ], subject="auth0|alice", client_id="app-9")
    response = example.client.get("/me", headers=bearer(token))
    assert response.status_code == 200
    assert _json(response) == {
        "sub": "auth0|alice",
        "client_id": "app-9",
        "scopes": [READ],
        "permissions": [],
        "cnf": None,
    }


@pytest.mark.parametrize(("method", "path", "scopes", "status"), ROUTE_TABLE)
def test_route_table(
    example: Example,
    live_issuer: TokenIssuer,
    method: str,
    path: str,
    scopes: list[str],
    status: int,
) -> None:
    response = example.send(method, path, bearer(live_issuer.mint(scopes=scopes)))
    check_route_answer(response, method, status, lists_subject=example.name != "starlette")


# -- the failures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query"),
    [({}, ""), ({"Authorization": "Basic dXNlcjpwYXNz"}, ""), ({}, "?access_token=abc.def.ghi")],
    ids=["none", "basic", "query-only"],
)
def test_missing_credentials_is_a_bare_401(
    example: Example, headers: dict[str, str], query: str
) -> None:
    expect_refusal(example.client.get("/me" + query, headers=headers), 401, None)


def test_token_only_in_query_is_refused_even_if_valid(
    example: Example, live_issuer: TokenIssuer
) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = example.client.get(f"/appointments?access_token={token}")
    expect_refusal(response, 401, None)
    assert token not in text_of(response)


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer    ", "Bearer a.b.c d.e.f", "Bearer abc\x01def"],
    ids=["no-token", "only-spaces", "two-tokens", "control-char"],
)
def test_malformed_header_is_400(example: Example, authorization: str) -> None:
    response = example.client.get("/me", headers={"Authorization": authorization})
    expect_refusal(response, 400, "invalid_request")


def test_token_in_header_and_query_is_400(example: Example, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = example.client.get(f"/me?access_token={token}", headers=bearer(token))
    expect_refusal(response, 400, "invalid_request")
    assert token not in text_of(response)
    assert token not in response.headers["www-authenticate"]


def test_scheme_is_case_insensitive_and_spaces_allowed(
    example: Example, live_issuer: TokenIssuer
) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = example.client.get("/appointments", headers={"Authorization": f"bEaReR   {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("case", INVALID)
def test_invalid_token_is_401(example: Example, invalid: dict[str, str], case: str) -> None:
    token = invalid[case]
    check_invalid_token_answer(example.client.get("/appointments", headers=bearer(token)), token)


def test_refusals_are_json_and_not_cached(example: Example) -> None:
    response = example.client.get("/me")
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert int(response.headers["content-length"]) == len(text_of(response).encode())


def test_nothing_a_client_sends_is_a_500(example: Example) -> None:
    for value in ["Bearer \u00e9\u00e9", "Bearer " + "a" * 70000, "DPoP abc", "Bearer ,", ","]:
        sent = value if example.name in WSGI else value.encode()  # httpx sends str as ASCII
        response = example.client.get("/me", headers={"Authorization": sent})
        assert response.status_code in (400, 401)
    assert example.client.get("/me?access_token=%ZZ&access_token=").status_code in (400, 401)
