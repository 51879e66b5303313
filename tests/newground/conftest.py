"""The example apps, imported afresh with an ``RS_GUARD_*`` environment, behind one small
client interface (status, headers, JSON) so each test runs against all of them."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rs_guard.errors import ConfigError
from rs_guard.testing import JWKSServer, TokenIssuer

with warnings.catch_warnings():  # Starlette >= 1.x prefers httpx2 for its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [
    "examples.fastapi_app",
    "examples.starlette_app",
    "examples.flask_app",
    "examples.django_app",
]


def _unwrapped(exc: Exception) -> Exception:
    """Django reports a bad setting as ``ImproperlyConfigured`` from the ``ConfigError``:
    the ``ConfigError``, as the other examples raise it."""
    cause = exc.__cause__
    if type(exc).__name__ == "ImproperlyConfigured" and isinstance(cause, ConfigError):
        return cause
    return exc


def _django_client(module: Any) -> tuple[Any, Any]:
    """The Django example's test client, with the example's settings applied and checked
    as the adapter's app checks them when Django starts."""
    from django.test import Client
    from django.test.utils import override_settings

    from rs_guard.adapters.django import load_settings

    override = override_settings(
        ROOT_URLCONF=module, MIDDLEWARE=module.MIDDLEWARE, RS_GUARD=module.RS_GUARD
    )
    override.enable()
    try:
        load_settings()
    except Exception as exc:
        override.disable()
        raise _unwrapped(exc) from None
    return Client(), override


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def challenge(self) -> str | None:
        return self.headers.get("www-authenticate")


class ExampleClient:
    """One example app: ``get``/``post`` return an :class:`Answer`, whichever framework."""

    def __init__(self, module: Any, name: str) -> None:
        self.name = name
        self.module = module
        self._asgi: TestClient | None = None
        self._django: Any = None
        if name.endswith("django_app"):
            self._django, self._django_settings = _django_client(module)
        elif name.endswith("flask_app"):
            self._flask = module.app.test_client()
        else:
            self._asgi = TestClient(module.app)
            self._asgi.__enter__()

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Answer:
        if self._asgi is not None:
            r = self._asgi.request(method, path, headers=headers or {})
            return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)
        if self._django is not None:
            d = self._django.generic(method, path, headers=headers or {})
            return Answer(d.status_code, {k.lower(): v for k, v in d.headers.items()}, d.content)
        fr = self._flask.open(path, method=method, headers=headers or {})
        return Answer(fr.status_code, {k.lower(): v for k, v in fr.headers.items()}, fr.data)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return self.request("GET", path, headers)

    def close(self) -> None:
        if self._asgi is not None:
            self._asgi.__exit__(None, None, None)
        if self._django is not None:
            self._django_settings.disable()


@pytest.fixture(scope="module")
def live_issuer(rs256_issuer: TokenIssuer) -> TokenIssuer:
    """The session's key, minting on the real clock (the examples' guards use it)."""
    return TokenIssuer(key=rs256_issuer.current, clock=time.time)


@pytest.fixture(scope="module")
def jwks_server(live_issuer: TokenIssuer) -> Iterator[JWKSServer]:
    with JWKSServer(live_issuer.jwks) as server:
        yield server


@pytest.fixture
def load_example(
    monkeypatch: pytest.MonkeyPatch, live_issuer: TokenIssuer, jwks_server: JWKSServer
) -> Iterator[Callable[..., ExampleClient]]:
    """``load_example(name, RS_GUARD_X="...")``: the example imported with that environment."""
    opened: list[ExampleClient] = []

    def load(name: str, **env: str) -> ExampleClient:
        monkeypatch.syspath_prepend(str(ROOT))
        for key in [k for k in os.environ if k.startswith("RS_GUARD_")]:
            monkeypatch.delenv(key)
        base = {
            "RS_GUARD_ISSUER": live_issuer.issuer,
            "RS_GUARD_AUDIENCE": live_issuer.audience,
            "RS_GUARD_JWKS_URI": jwks_server.jwks_uri,
        }
        for key, value in {**base, **env}.items():
            monkeypatch.setenv(key, value)
        sys.modules.pop(name, None)
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # the Django example checks its settings at import
            raise _unwrapped(exc) from None
        finally:
            sys.modules.pop(name, None)
        client = ExampleClient(module, name)
        opened.append(client)
        return client

    yield load
    for client in opened:
        client.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
