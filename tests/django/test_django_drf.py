"""Django REST framework: RSGuardAuthentication and the permission classes answer as
RFC 6750 says (401 with the challenge, 403 insufficient_scope with scope=)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings
from django_settings import REST_FRAMEWORK
from django_views import READ, WRITE

from rs_guard import Guard
from rs_guard.testing import JWKSServer, TokenIssuer

MIDDLEWARE = ["rs_guard.adapters.django.RSGuardMiddleware"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def drf(rs_env: dict[str, str]) -> Iterator[Client]:
    with override_settings(
        ROOT_URLCONF="django_views", MIDDLEWARE=[], RS_GUARD={}, REST_FRAMEWORK=REST_FRAMEWORK
    ):
        yield Client()


def refusal(response: Any) -> tuple[int, str, dict[str, Any]]:
    return response.status_code, response.headers.get("www-authenticate"), response.json()


@pytest.mark.parametrize("path", ["/drf/scopes", "/drf/authenticated", "/drf/permissions"])
def test_missing_credentials_is_401_with_the_challenge(drf: Client, path: str) -> None:
    status, challenge, body = refusal(drf.get(path))
    assert (status, challenge) == (401, 'Bearer realm="api"')
    assert "error" not in body


def test_the_token_is_request_auth(drf: Client, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ, WRITE], subject="auth0|drf")
    for path in ("/drf/scopes", "/drf/authenticated"):
        response = drf.get(path, headers=bearer(token))
        assert response.status_code == 200
        assert response.json() == {
            "sub": "auth0|drf",
            "scopes": [READ, WRITE],
            "user": "auth0|drf",
            "authenticated": True,
        }


def test_missing_scope_is_403_insufficient_scope(drf: Client, live_issuer: TokenIssuer) -> None:
    status, challenge, body = refusal(
        drf.get("/drf/scopes", headers=bearer(live_issuer.mint(scopes=[WRITE])))
    )
    assert status == 403
    assert challenge == f'Bearer error="insufficient_scope", scope="{READ}"'
    assert body["error"] == "insufficient_scope"
    status, challenge, _ = refusal(
        drf.get("/drf/permissions", headers=bearer(live_issuer.mint(scopes=[READ])))
    )
    assert (status, challenge) == (
        403,
        'Bearer error="insufficient_scope", scope="delete:appointments"',
    )
    granted = live_issuer.mint(scopes=[], permissions=["delete:appointments"])
    assert drf.get("/drf/permissions", headers=bearer(granted)).status_code == 200
    status, challenge, _ = refusal(
        drf.get("/drf/any-of", headers=bearer(live_issuer.mint(scopes=[WRITE])))
    )
    assert (status, challenge) == (
        403,
        f'Bearer error="insufficient_scope", scope="{READ} read:all"',
    )
    assert (
        drf.get("/drf/any-of", headers=bearer(live_issuer.mint(scopes=["read:all"]))).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("authorization", "status", "error"),
    [("Bearer not-a.jwt", 401, "invalid_token"), ("Bearer a.b.c d.e.f", 400, "invalid_request")],
)
def test_bad_credentials_are_refused_by_the_authentication(
    drf: Client, authorization: str, status: int, error: str
) -> None:
    for path in ("/drf/scopes", "/drf/authenticated"):
        got, challenge, body = refusal(drf.get(path, headers={"Authorization": authorization}))
        assert (got, body["error"]) == (status, error)
        assert challenge.startswith(f'Bearer error="{error}", error_description="')
        assert set(body) == {"error", "error_description"}


def test_keys_unavailable_is_503_with_retry_after(
    drf: Client, live_issuer: TokenIssuer, jwks: JWKSServer
) -> None:
    jwks.reply = lambda path: (500, {}, b"down")
    response = drf.get("/drf/scopes", headers=bearer(live_issuer.mint(scopes=[READ])))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert "www-authenticate" not in response.headers
    assert response.json()["error"] == "temporarily_unavailable"


def test_behind_the_middleware_the_token_is_verified_once(
    rs_env: dict[str, str], live_issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The middleware and the DRF class share the process's guard: DRF takes the token the
    middleware verified under that settings object (see tests/django/test_django_provenance.py
    for another guard's token, which is not taken)."""
    verified: list[str] = []
    authenticate = Guard.authenticate

    def counted(self: Guard, ctx: Any) -> Any:
        verified.append(ctx.url)
        return authenticate(self, ctx)

    monkeypatch.setattr(Guard, "authenticate", counted)
    token = live_issuer.mint(scopes=[READ], subject="auth0|once")
    with override_settings(
        ROOT_URLCONF="django_views",
        MIDDLEWARE=MIDDLEWARE,
        RS_GUARD={"ALLOW_ANONYMOUS": True},
        REST_FRAMEWORK=REST_FRAMEWORK,
    ):
        client = Client()
        assert client.get("/drf/scopes", headers=bearer(token)).json()["sub"] == "auth0|once"
        weak = client.get("/drf/scopes", headers=bearer(live_issuer.mint(scopes=[])))
        assert weak.headers["www-authenticate"] == (
            f'Bearer error="insufficient_scope", scope="{READ}"'
        )
        assert verified == ["http://testserver/drf/scopes"] * 2  # once per request
        anonymous = client.get("/drf/authenticated")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == 'Bearer realm="api"'


def test_openapi_schema_shows_the_bearer_scheme(rs_env: dict[str, str]) -> None:
    pytest.importorskip("drf_spectacular")
    import django_views
    from drf_spectacular.generators import SchemaGenerator

    import rs_guard.adapters.django as adapter
    from rs_guard.adapters.django.apps import RSGuardAppConfig

    RSGuardAppConfig("rs_guard.adapters.django", adapter).ready()  # registers the scheme
    assert "rs_guard.adapters.django.spectacular" in sys.modules
    drf_routes = [p for p in django_views.urlpatterns if str(p.pattern).startswith("drf/")]
    schema_class = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
    with override_settings(REST_FRAMEWORK={**REST_FRAMEWORK, **schema_class}):
        schema = SchemaGenerator(patterns=drf_routes).get_schema(request=None, public=True)
    assert schema["components"]["securitySchemes"] == {
        "rsGuardBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    assert schema["paths"]["/drf/scopes"]["get"]["security"] == [{"rsGuardBearer": []}]


def test_a_query_string_token_stays_out_of_djangos_log(
    rs_env: dict[str, str], live_issuer: TokenIssuer
) -> None:
    # Django logs every 4xx with the request (query string included); rs_guard's refusals
    # are logged by rs_guard, without the token (the autouse fixture fails on a leak).
    token = live_issuer.mint(scopes=[READ])
    with override_settings(
        ROOT_URLCONF="django_views",
        MIDDLEWARE=MIDDLEWARE,
        RS_GUARD={"ALLOW_ANONYMOUS": True},
        REST_FRAMEWORK=REST_FRAMEWORK,
    ):
        response = Client().get(f"/drf/scopes?access_token={token}")
    assert (response.status_code, response.headers["www-authenticate"]) == (
        401,
        'Bearer realm="api"',
    )


def test_step_up_is_401_insufficient_user_authentication(
    drf: Client, live_issuer: TokenIssuer
) -> None:
    """``requires(acr_values=...)``: RFC 9470 §3, after the scope check (RFC 6750 order)."""
    weak = drf.get("/drf/step-up", headers=bearer(live_issuer.mint(scopes=[READ])))
    description = "the authentication context (acr) is not one this route accepts"
    assert refusal(weak) == (
        401,
        f'Bearer error="insufficient_user_authentication", error_description="{description}"'
        ', acr_values="mfa"',
        {"error": "insufficient_user_authentication", "error_description": description},
    )
    no_scope = drf.get("/drf/step-up", headers=bearer(live_issuer.mint(claims={"acr": "mfa"})))
    assert refusal(no_scope)[:2] == (403, f'Bearer error="insufficient_scope", scope="{READ}"')
    mfa = live_issuer.mint(scopes=[READ], claims={"acr": "mfa"}, subject="auth0|mfa")
    assert drf.get("/drf/step-up", headers=bearer(mfa)).json()["sub"] == "auth0|mfa"
