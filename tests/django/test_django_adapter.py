"""The Django adapter: settings at start-up, the middleware (WSGI and ASGI), @require on
function views, View.dispatch and methods, sync and async views (Django test client)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from asgiref.sync import iscoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient, Client
from django.test.utils import override_settings
from django.views import View
from django_views import READ, WRITE, async_read_view, read_view

import rs_guard.adapters.django as adapter
from rs_guard.adapters.django import load_settings, require
from rs_guard.adapters.django.apps import RSGuardAppConfig
from rs_guard.adapters.django.decorators import REQUIREMENTS_ATTR
from rs_guard.settings import SETTINGS
from rs_guard.testing import JWKSServer, TokenIssuer

MIDDLEWARE = ["rs_guard.adapters.django.RSGuardMiddleware"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def challenge(response: Any) -> str:
    return str(response.headers["www-authenticate"])


@pytest.fixture
def plain(rs_env: dict[str, str]) -> Iterator[Client]:
    """Views protected by @require alone (no middleware): the default guard verifies."""
    with override_settings(ROOT_URLCONF="django_views", MIDDLEWARE=[], RS_GUARD={}):
        yield Client()


@pytest.fixture
def guarded(rs_env: dict[str, str]) -> Iterator[Client]:
    """The middleware in front of every view but /public/*."""
    rs_guard = {"PUBLIC_PATHS": ["/public/*"]}
    with override_settings(ROOT_URLCONF="django_views", MIDDLEWARE=MIDDLEWARE, RS_GUARD=rs_guard):
        yield Client()


# -- settings -------------------------------------------------------------------------------


def test_settings_dict_with_and_without_prefix() -> None:
    rs_guard = {
        "DOMAIN": "tenant.example",
        "RS_GUARD_AUDIENCE": "https://api.example",
        "LEEWAY": 5,
        "TRUSTED_PROXIES": ["10.0.0.1", "10.0.0.2"],
        "PUBLIC_PATHS": ["/health"],
        "ALLOW_ANONYMOUS": True,
    }
    with override_settings(RS_GUARD=rs_guard):
        loaded = load_settings(environ={})
    assert loaded.config.issuer == "https://tenant.example/"
    assert loaded.config.audience == "https://api.example"
    assert loaded.config.leeway == 5.0
    assert tuple(loaded.config.trusted_proxies) == ("10.0.0.1", "10.0.0.2")
    assert loaded.public_paths == ("/health",)
    assert loaded.allow_anonymous is True


def test_environment_over_settings_over_the_resource_server_json(tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    path.write_text(
        json.dumps({"identifier": "https://from-json", "token_dialect": "rfc9068_profile"})
    )
    rs_guard = {
        "CONFIG": str(path),
        "ISSUER": "https://a.example/",
        "TOKEN_DIALECT": "access_token",
    }
    with override_settings(RS_GUARD=rs_guard):
        loaded = load_settings(environ={"RS_GUARD_ISSUER": "https://b.example/"})
    assert loaded.config.audience == "https://from-json"
    assert loaded.config.token_dialect == "access_token"
    assert loaded.config.issuer == "https://b.example/"


@pytest.mark.parametrize(
    ("rs_guard", "named"),
    [
        ({"ISSUER": "https://a.example/", "AUDIENCE": "x", "SIGNING_AGL": "RS256"}, "SIGNING_AGL"),
        ({"ISSUER": "https://a.example/", "AUDIENCE": "x", "SIGNING_ALG": "none"}, "signing_alg"),
        ({"ISSUER": "https://a.example/"}, "audience"),
        ({"ISSUER": "https://a.example/", "AUDIENCE": "x", "PUBLIC_PATHS": "/health"}, "PUBLIC"),
        ({"ISSUER": "https://a.example/", "AUDIENCE": "x", "PUBLIC_PATHS": ["health"]}, "health"),
        ({"ISSUER": "https://a.example/", "AUDIENCE": "x", "LEEWAY": {"s": 1}}, "LEEWAY"),
    ],
    ids=["typo", "bad-alg", "no-audience", "paths-string", "path-no-slash", "bad-type"],
)
def test_a_bad_setting_fails_at_start_up(rs_guard: dict[str, Any], named: str) -> None:
    app = RSGuardAppConfig("rs_guard.adapters.django", adapter)
    with override_settings(RS_GUARD=rs_guard), pytest.raises(ImproperlyConfigured) as failed:
        app.ready()
    assert str(failed.value).startswith("rs_guard: ")
    assert named in str(failed.value)


BASE = {"ISSUER": "https://a.example/", "AUDIENCE": "https://api.example"}


def test_every_setting_of_the_table_is_known_without_its_prefix() -> None:
    """``settings.RS_GUARD`` goes through the one settings reader (``config_from_app``)."""
    refused = []
    for setting in SETTINGS:
        short = setting.name.removeprefix("RS_GUARD_")
        with override_settings(RS_GUARD={**BASE, short: "x"}):
            try:
                load_settings(environ={})
            except ImproperlyConfigured as exc:  # for its value, never for its name
                refused.append((short, str(exc)))
    assert [name for name, text in refused if "not an rs_guard setting" in text] == []


def test_a_misspelt_key_names_the_setting_it_resembles() -> None:
    with (
        override_settings(RS_GUARD={**BASE, "LEWAY": 5}),
        pytest.raises(ImproperlyConfigured) as failed,
    ):
        load_settings(environ={})
    assert str(failed.value) == (
        "rs_guard: RS_GUARD_LEWAY: is not an rs_guard setting; did you mean RS_GUARD_LEEWAY?"
    )


def test_rbac_scopes_cooldown_and_metadata_settings_reach_the_guard() -> None:
    rs_guard = {
        **BASE,
        "TOKEN_DIALECT": "access_token_authz",
        "ENFORCE_POLICIES": True,
        "SCOPES": ["read:x", "write:x"],
        "JWKS_COOLDOWN": 12,
        "RESOURCE_METADATA": True,
    }
    with override_settings(RS_GUARD=rs_guard):
        config = load_settings(environ={}).config
    assert (config.enforce_policies, config.uses_permissions) == (True, True)
    assert [scope.value for scope in config.scopes] == ["read:x", "write:x"]
    assert (config.jwks.cooldown, config.resource_metadata) == (12.0, True)


def test_the_middleware_checks_the_settings_when_built() -> None:
    with (
        override_settings(RS_GUARD={"ISSUER": "https://a.example/"}),
        pytest.raises(ImproperlyConfigured, match="audience"),
    ):
        adapter.RSGuardMiddleware(lambda request: None)


# -- @require without the middleware ----------------------------------------------------------


def test_require_admits_the_scope_and_sets_request_auth(
    plain: Client, live_issuer: TokenIssuer
) -> None:
    token = live_issuer.mint(scopes=[READ, WRITE], subject="auth0|ann")
    response = plain.get("/read", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"sub": "auth0|ann", "scopes": [READ, WRITE]}


def test_require_refusals(plain: Client, live_issuer: TokenIssuer) -> None:
    missing = plain.get("/read")
    assert (missing.status_code, challenge(missing)) == (401, 'Bearer realm="api"')
    assert set(missing.json()) == {"error_description"}
    weak = plain.get("/read", headers=bearer(live_issuer.mint(scopes=[WRITE])))
    assert weak.status_code == 403
    assert challenge(weak) == f'Bearer error="insufficient_scope", scope="{READ}"'
    assert weak.json()["error"] == "insufficient_scope"
    expired = live_issuer.mint(scopes=[READ], claims={"exp": 1_000_000_000, "iat": 999_999_000})
    bad = plain.get("/read", headers=bearer(expired))
    assert bad.status_code == 401
    assert challenge(bad).startswith('Bearer error="invalid_token", error_description="')
    assert bad.json()["error"] == "invalid_token"


def test_require_any_of_and_permissions(plain: Client, live_issuer: TokenIssuer) -> None:
    assert plain.get("/any-of", headers=bearer(live_issuer.mint(scopes=["read:all"]))).json()[
        "scopes"
    ] == ["read:all"]
    none = plain.get("/any-of", headers=bearer(live_issuer.mint(scopes=[WRITE])))
    assert challenge(none) == f'Bearer error="insufficient_scope", scope="{READ} read:all"'
    granted = live_issuer.mint(scopes=[], permissions=["delete:appointments"])
    assert plain.get("/permission", headers=bearer(granted)).status_code == 200
    scoped = live_issuer.mint(scopes=["delete:appointments"], permissions=[])
    refused = plain.get("/permission", headers=bearer(scoped))
    assert challenge(refused) == 'Bearer error="insufficient_scope", scope="delete:appointments"'


def test_require_checks_scopes_before_claims(plain: Client, live_issuer: TokenIssuer) -> None:
    both_wrong = live_issuer.mint(scopes=[], claims={"org_id": "org_2"})
    first = plain.get("/org", headers=bearer(both_wrong))
    assert challenge(first) == f'Bearer error="insufficient_scope", scope="{READ}"'
    wrong_org = plain.get(
        "/org", headers=bearer(live_issuer.mint(scopes=[READ], claims={"org_id": "org_2"}))
    )
    assert wrong_org.status_code == 403
    assert wrong_org.json() == {
        "error": "insufficient_scope",
        "error_description": "the org_id claim does not have the required value",
    }
    good = live_issuer.mint(scopes=[READ], claims={"org_id": "org_1"})
    assert plain.get("/org", headers=bearer(good)).status_code == 200


def test_require_on_dispatch_and_on_a_method(plain: Client, live_issuer: TokenIssuer) -> None:
    assert (
        plain.get("/dispatch", headers=bearer(live_issuer.mint(scopes=[READ]))).status_code == 200
    )
    assert plain.get("/dispatch", headers=bearer(live_issuer.mint(scopes=[]))).status_code == 403
    assert plain.get("/dispatch").status_code == 401
    writer = live_issuer.mint(scopes=[WRITE], subject="auth0|w")
    assert plain.post("/method", headers=bearer(writer)).json()["sub"] == "auth0|w"
    refused = plain.post("/method", headers=bearer(live_issuer.mint(scopes=[READ])))
    assert challenge(refused) == f'Bearer error="insufficient_scope", scope="{WRITE}"'


def test_async_view_stays_async_and_is_protected(plain: Client, live_issuer: TokenIssuer) -> None:
    assert iscoroutinefunction(async_read_view)
    assert not iscoroutinefunction(read_view)
    assert getattr(async_read_view, REQUIREMENTS_ATTR).scopes == (READ,)
    token = live_issuer.mint(scopes=[READ], subject="auth0|async")
    assert plain.get("/async-read", headers=bearer(token)).json()["sub"] == "auth0|async"

    async def under_asgi() -> tuple[int, int, str]:
        client = AsyncClient()
        ok = await client.get("/async-read", headers=bearer(token))
        weak = await client.get("/async-read", headers=bearer(live_issuer.mint(scopes=[])))
        return ok.status_code, weak.status_code, challenge(weak)

    assert anyio.run(under_asgi) == (200, 403, f'Bearer error="insufficient_scope", scope="{READ}"')


def test_require_misuse_fails_when_declared() -> None:
    with pytest.raises(TypeError, match=r"use @require\(\.\.\.\) with parentheses"):
        require(lambda request: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="decorates endpoint functions and methods"):
        require("read:x")(View)  # a class view: decorate its methods (the decorator core)
    with pytest.raises(TypeError):
        require(any_scopes="read:x")
    with pytest.raises(ValueError, match="not a scope name"):
        require("read:x write:x")
    with pytest.raises(TypeError, match="HttpRequest"):
        require("read:x")(lambda value: value)("not a request")


# -- the middleware ---------------------------------------------------------------------------


def test_middleware_protects_every_path_but_public_ones(
    guarded: Client, live_issuer: TokenIssuer, jwks: JWKSServer
) -> None:
    assert guarded.get("/public/health").json() == {"sub": None}
    open_refused = guarded.get("/open")
    assert (open_refused.status_code, challenge(open_refused)) == (401, 'Bearer realm="api"')
    # a dot segment never makes a protected path public (RFC 3986 §5.2.4)
    assert guarded.get("/public/../open").status_code == 401
    token = live_issuer.mint(scopes=[READ], subject="auth0|mw")
    assert guarded.get("/open", headers=bearer(token)).json() == {"sub": "auth0|mw"}
    assert guarded.get("/read", headers=bearer(token)).json()["sub"] == "auth0|mw"
    weak = guarded.post("/method", headers=bearer(token))
    assert challenge(weak) == f'Bearer error="insufficient_scope", scope="{WRITE}"'
    assert jwks.count() == 1


def test_middleware_under_asgi(rs_env: dict[str, str], live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ], subject="auth0|asgi")

    async def calls() -> list[tuple[int, Any]]:
        client = AsyncClient()
        answers = [
            await client.get("/async-read", headers=bearer(token)),
            await client.get("/read", headers=bearer(token)),
            await client.get("/async-read"),
            await client.get("/async-read", headers={"Authorization": "Bearer a.b.c d.e.f"}),
            await client.get("/public/health"),
        ]
        return [(r.status_code, r.headers.get("www-authenticate")) for r in answers]

    with override_settings(
        ROOT_URLCONF="django_views", MIDDLEWARE=MIDDLEWARE, RS_GUARD={"PUBLIC_PATHS": ["/public/*"]}
    ):
        answers = anyio.run(calls)
    assert answers[:3] == [(200, None), (200, None), (401, 'Bearer realm="api"')]
    assert answers[3][0] == 400
    assert answers[3][1].startswith('Bearer error="invalid_request", error_description="')
    assert answers[4] == (200, None)


def test_middleware_allow_anonymous(rs_env: dict[str, str], live_issuer: TokenIssuer) -> None:
    rs_guard = {"ALLOW_ANONYMOUS": True}
    with override_settings(ROOT_URLCONF="django_views", MIDDLEWARE=MIDDLEWARE, RS_GUARD=rs_guard):
        client = Client()
        assert client.get("/open").json() == {"sub": None}
        assert challenge(client.get("/read")) == 'Bearer realm="api"'
        bad = client.get("/open", headers=bearer("not-a.jwt"))
        assert bad.status_code == 401  # a token that is sent must still be valid
        assert bad.json()["error"] == "invalid_token"


def test_settings_read_only_beside_another_are_known() -> None:
    rs_guard = {
        "ISSUER": "https://a.example/",
        "AUDIENCE": "https://api.example",
        "DPOP_NONCE": True,
        "DPOP_NONCE_SECRET": "shared by every worker of the API",
    }
    with override_settings(RS_GUARD=rs_guard):
        loaded = load_settings(environ={})
    assert loaded.config.dpop.nonce is True
    assert loaded.config.dpop.nonce_secret == "shared by every worker of the API"
