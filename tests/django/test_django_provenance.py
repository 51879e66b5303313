"""Django: a guard accepts only a token verified under its own settings (review finding 11.1).

The middleware verifies with guard A (the API's audience); a view's ``@require`` or a
DRF authentication class is bound to guard B (another audience). B never takes the
token A verified: it verifies the request itself and refuses a token meant for A only,
behind A's middleware, on one of A's public paths, for sync and async views alike. The
same layouts as tests/adapters/test_provenance.py, for the Django adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient, Client
from django.test.utils import override_settings
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rs_guard import Guard
from rs_guard.adapters.django import DjangoGuardSettings, RSGuardMiddleware, get_token, require
from rs_guard.adapters.django.drf import RSGuardAuthentication, requires
from rs_guard.testing import TokenIssuer

B_AUDIENCE = "https://b.rs-guard.test"
WRONG_AUDIENCE = (
    'Bearer error="invalid_token", error_description="the token is meant for another audience"'
)

#: The two guards of the running test (the middleware and the views find them here).
GUARDS: dict[str, Guard] = {}
urlpatterns: list[Any] = []


class MiddlewareOfA(RSGuardMiddleware):
    """The middleware built from settings A (public: ``/public/*``)."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        a = GUARDS["a"]
        settings = DjangoGuardSettings(a.config, public_paths=("/public/*",))
        super().__init__(get_response, settings=settings, guard=a)


def _me(request: HttpRequest) -> JsonResponse:
    token = get_token(request)
    assert token is not None
    return JsonResponse({"sub": token.subject})


def _routes(b: Guard) -> list[Any]:
    """Views bound to guard B (decorated when the test's guards exist)."""

    class AuthenticationOfB(RSGuardAuthentication):
        guard = b

    class DRFView(APIView):
        authentication_classes = [AuthenticationOfB]
        permission_classes = [requires()]

        def get(self, request: Request) -> Response:
            return Response({"sub": request.auth.subject})

    async def async_me(request: HttpRequest) -> JsonResponse:
        return _me(request)

    sync_view = require(guard=b)(_me)
    return [
        path("b", sync_view),
        path("public/b", sync_view),
        path("async-b", require(guard=b)(async_me)),
        path("drf-b", DRFView.as_view()),
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


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def for_a(issuer: TokenIssuer) -> str:
    """A token for API A only (the issuer's default audience)."""
    return issuer.mint(subject="auth0|a-user")


def for_both(issuer: TokenIssuer) -> str:
    """A token whose audience holds both APIs: it passes A and B."""
    return issuer.mint(subject="auth0|b-user", claims={"aud": [issuer.audience, B_AUDIENCE]})


def answers(response: Any) -> tuple[int, Any, str | None]:
    return response.status_code, response.json(), response.headers.get("www-authenticate")


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
    assert answers(client.get(route, headers=bearer(for_a(issuer)))) == REFUSED
    assert answers(client.get(route, headers=bearer(for_both(issuer)))) == ACCEPTED


def test_async_view_of_b_behind_the_middleware_of_a_under_asgi(
    guards: tuple[Guard, Guard], issuer: TokenIssuer
) -> None:
    async def calls() -> list[tuple[int, Any, str | None]]:
        client = AsyncClient()
        return [
            answers(await client.get("/async-b", headers=bearer(for_a(issuer)))),
            answers(await client.get("/async-b", headers=bearer(for_both(issuer)))),
        ]

    assert anyio.run(calls) == [REFUSED, ACCEPTED]


def test_the_middleware_of_a_still_refuses_what_a_refuses(
    guards: tuple[Guard, Guard], issuer: TokenIssuer
) -> None:
    """A token for B only never gets past A's middleware (outside A's public paths)."""
    only_b = issuer.mint(subject="auth0|b-user", claims={"aud": B_AUDIENCE})
    assert answers(Client().get("/b", headers=bearer(only_b))) == REFUSED
    assert answers(Client().get("/public/b", headers=bearer(only_b))) == ACCEPTED
