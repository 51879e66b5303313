"""Django: a guard accepts only a token verified under its own settings (review finding 11.1).

The middleware verifies with guard A (the API's audience); a view's ``@require`` or a
DRF authentication class is bound to guard B (another audience). B never takes the
token A verified: it verifies the request itself and refuses a token meant for A only,
behind A's middleware, on one of A's public paths, for sync and async views alike. The
same layouts as tests/adapters/test_provenance.py, for the Django adapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from django.test import AsyncClient, Client
from django.test.utils import override_settings
from django.urls import path
from django_support import answer_of, drf_view, middleware_of, subject, views
from provenance_support import B_AUDIENCE, WRONG_AUDIENCE, bearer, for_a, for_both

from rs_guard import Guard
from rs_guard.adapters.django import require
from rs_guard.testing import TokenIssuer

#: The two guards of the running test (the middleware and the views find them here).
GUARDS: dict[str, Guard] = {}
urlpatterns: list[Any] = []


#: The middleware built from settings A (public: ``/public/*``).
MiddlewareOfA = middleware_of(GUARDS, "a", public_paths=("/public/*",))


def _routes(b: Guard) -> list[Any]:
    """Views bound to guard B (decorated when the test's guards exist)."""
    sync_view, async_view = views(subject)
    of_b = require(guard=b)(sync_view)
    return [
        path("b", of_b),
        path("public/b", of_b),
        path("async-b", require(guard=b)(async_view)),
        path("drf-b", drf_view(b, [], subject)),
    ]


@pytest.fixture
def guards(issuer: TokenIssuer, clock: Any) -> Iterator[tuple[Guard, Guard]]:
    a = Guard(issuer.config(), clock=clock, transport=issuer.transport())
    b = Guard(issuer.config(audience=B_AUDIENCE), clock=clock, transport=issuer.transport())
    GUARDS.update(a=a, b=b)
    urlpatterns[:] = _routes(b)
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=[f"{__name__}.MiddlewareOfA"]):
        yield a, b
    GUARDS.clear()
    urlpatterns.clear()
    a.close()
    b.close()


REFUSED = (
    401,
    {"error": "invalid_token", "error_description": "the token is meant for another audience"},
    WRONG_AUDIENCE,
)
ACCEPTED = (200, {"sub": "auth0|b-user"}, None)


@pytest.mark.parametrize("route", ["/b", "/public/b", "/drf-b"])
def test_view_of_b_behind_the_middleware_of_a(
    guards: tuple[Guard, Guard], issuer: TokenIssuer, route: str
) -> None:
    """``/b``: A verified the token first; ``/public/b``: a public path of A."""
    client = Client()
    assert answer_of(client.get(route, headers=bearer(for_a(issuer)))) == REFUSED
    assert answer_of(client.get(route, headers=bearer(for_both(issuer)))) == ACCEPTED


def test_async_view_of_b_behind_the_middleware_of_a_under_asgi(
    guards: tuple[Guard, Guard], issuer: TokenIssuer
) -> None:
    async def calls() -> list[tuple[int, Any, str | None]]:
        client = AsyncClient()
        return [
            answer_of(await client.get("/async-b", headers=bearer(for_a(issuer)))),
            answer_of(await client.get("/async-b", headers=bearer(for_both(issuer)))),
        ]

    assert anyio.run(calls) == [REFUSED, ACCEPTED]


def test_the_middleware_of_a_still_refuses_what_a_refuses(
    guards: tuple[Guard, Guard], issuer: TokenIssuer
) -> None:
    """A token for B only never gets past A's middleware (outside A's public paths)."""
    only_b = issuer.mint(subject="auth0|b-user", claims={"aud": B_AUDIENCE})
    assert answer_of(Client().get("/b", headers=bearer(only_b))) == REFUSED
    assert answer_of(Client().get("/public/b", headers=bearer(only_b))) == ACCEPTED
