"""Every Python block of docs/django.md runs here, as written, and does what the page says."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from django.test import AsyncClient, Client
from django.test.utils import override_settings

from rs_guard.adapters.django import load_settings
from rs_guard.testing import TokenIssuer

PAGE = Path(__file__).resolve().parents[2] / "docs" / "django.md"
BLOCKS = re.findall(r"```python\n(.*?)\n```", PAGE.read_text(), re.S)
MIDDLEWARE = ["rs_guard.adapters.django.RSGuardMiddleware"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def as_module(name: str, code: str) -> Iterator[types.ModuleType]:
    module = types.ModuleType(name)
    exec(compile(code, f"docs/django.md:{name}", "exec"), module.__dict__)  # noqa: S102
    sys.modules[name] = module
    try:
        yield module
    finally:
        del sys.modules[name]


@pytest.fixture
def views(rs_env: dict[str, str]) -> Iterator[types.ModuleType]:
    yield from as_module("docs_django_views", BLOCKS[1])


@pytest.fixture
def drf_views(rs_env: dict[str, str]) -> Iterator[types.ModuleType]:
    yield from as_module("docs_django_drf", BLOCKS[3])


def test_the_page_has_the_blocks_tested_here() -> None:
    assert len(BLOCKS) == 4


def test_settings_block() -> None:
    namespace: dict[str, Any] = {}
    exec(BLOCKS[0], namespace)  # noqa: S102
    assert namespace["INSTALLED_APPS"] == ["rs_guard.adapters.django"]
    assert namespace["MIDDLEWARE"] == MIDDLEWARE
    with override_settings(RS_GUARD=namespace["RS_GUARD"]):
        loaded = load_settings(environ={})
    assert loaded.config.issuer == "https://your-tenant.eu.auth0.com/"
    assert loaded.config.audience == "https://api.example.com"
    assert loaded.public_paths == ("/health", "/static/*")


@pytest.mark.parametrize("middleware", [MIDDLEWARE, []], ids=["middleware", "decorator-only"])
def test_views_block(
    views: types.ModuleType, live_issuer: TokenIssuer, middleware: list[str]
) -> None:
    with override_settings(ROOT_URLCONF=views.__name__, MIDDLEWARE=middleware, RS_GUARD={}):
        client = Client()
        ann = live_issuer.mint(scopes=["read:appointments"], subject="auth0|ann")
        assert client.get("/appointments", headers=bearer(ann)).json() == {"for": "auth0|ann"}
        weak = client.get("/appointments", headers=bearer(live_issuer.mint(scopes=[])))
        assert weak.status_code == 403
        assert weak.headers["www-authenticate"] == (
            'Bearer error="insufficient_scope", scope="read:appointments"'
        )
        support = bearer(live_issuer.mint(scopes=["support"]))
        assert client.get("/tickets", headers=support).json() == {"tickets": []}
        refused = client.get("/tickets", headers=bearer(live_issuer.mint(scopes=["read:x"])))
        assert refused.headers["www-authenticate"] == (
            'Bearer error="insufficient_scope", scope="admin support"'
        )
        member = live_issuer.mint(permissions=["delete:appointments"], claims={"org_id": "org_1"})
        outsider = live_issuer.mint(permissions=["delete:appointments"], claims={"org_id": "org_2"})
        assert client.get("/purge", headers=bearer(member)).json() == {"purged": True}
        assert client.get("/purge", headers=bearer(outsider)).json()["error"] == (
            "insufficient_scope"
        )
        reader = live_issuer.mint(scopes=["read:reports"], client_id="app-7")
        assert client.get("/reports", headers=bearer(reader)).json() == {"client": "app-7"}
        missing = client.get("/reports")
        assert (missing.status_code, missing.headers["www-authenticate"]) == (
            401,
            'Bearer realm="api"',
        )

        async def asgi() -> int:
            return (await AsyncClient().get("/tickets", headers=support)).status_code

        assert anyio.run(asgi) == 200


def test_drf_blocks(drf_views: types.ModuleType, live_issuer: TokenIssuer) -> None:
    drf_settings: dict[str, Any] = {}
    exec(BLOCKS[2], drf_settings)  # noqa: S102
    drf_views.urlpatterns = [  # type: ignore[attr-defined]
        _path("appointments", drf_views.Appointments),
        _path("profile", drf_views.Profile),
        _path("purge", drf_views.Purge),
    ]
    with override_settings(
        ROOT_URLCONF=drf_views.__name__,
        MIDDLEWARE=[],
        RS_GUARD={},
        REST_FRAMEWORK=drf_settings["REST_FRAMEWORK"],
    ):
        client = Client()
        token = live_issuer.mint(scopes=["read:appointments"], subject="auth0|drf")
        assert client.get("/appointments", headers=bearer(token)).json() == {
            "sub": "auth0|drf",
            "user": "auth0|drf",
        }
        assert client.get("/profile", headers=bearer(token)).json() == {
            "scopes": ["read:appointments"]
        }
        for path in ("/appointments", "/profile"):
            missing = client.get(path)
            assert (missing.status_code, missing.headers["www-authenticate"]) == (
                401,
                'Bearer realm="api"',
            )
        weak = client.post("/purge", headers=bearer(token))
        assert (weak.status_code, weak.headers["www-authenticate"]) == (
            403,
            'Bearer error="insufficient_scope", scope="delete:appointments"',
        )
        allowed = live_issuer.mint(permissions=["delete:appointments"])
        assert client.post("/purge", headers=bearer(allowed)).json() == {"purged": True}


def _path(route: str, view: Any) -> Any:
    from django.urls import path

    return path(route, view.as_view())


# -- the README's Django section (docs/examples/readme_django_*.py, shown verbatim) ----------

README_EXAMPLES = PAGE.parents[0] / "examples"


def _example(name: str) -> str:
    code = (README_EXAMPLES / f"{name}.py").read_text()
    readme = (PAGE.parents[1] / "README.md").read_text()
    assert code.rstrip("\n") in readme, f"{name}.py is not the README's block"
    return code


def test_readme_django_section(rs_env: dict[str, str], live_issuer: TokenIssuer) -> None:
    settings: dict[str, Any] = {}
    exec(_example("readme_django_settings"), settings)  # noqa: S102
    assert settings["INSTALLED_APPS"] == ["rs_guard.adapters.django"]
    for urls in as_module("rs_guard_readme_django_urls", _example("readme_django_urls")):
        with override_settings(
            ROOT_URLCONF=urls.__name__,
            MIDDLEWARE=settings["MIDDLEWARE"],
            RS_GUARD=settings["RS_GUARD"],
        ):
            client = Client()
            bare = client.get("/appointments")
            assert (bare.status_code, bare.headers["www-authenticate"]) == (
                401,
                'Bearer realm="api"',
            )
            token = live_issuer.mint(scopes=["read:appointments"], subject="auth0|erin")
            good = client.get("/appointments", headers=bearer(token))
            assert (good.status_code, good.json()) == (200, {"for": "auth0|erin"})
            weak = client.get("/appointments", headers=bearer(live_issuer.mint(scopes=[])))
            assert (weak.status_code, weak.headers["www-authenticate"]) == (
                403,
                'Bearer error="insufficient_scope", scope="read:appointments"',
            )
            assert client.get("/health").status_code == 404  # public: no route, no refusal
