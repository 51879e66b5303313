"""Django configured once for the session (unless an example did it first), a real JWKS
server on 127.0.0.1, and the ``RS_GUARD_*`` environment pointing at it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import django
import pytest
from django.conf import settings
from django_settings import REST_FRAMEWORK

from rs_guard.adapters.django import reset_default_guard
from rs_guard.testing import JWKSServer, TokenIssuer

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests only, not a secret",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF="django_views",
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        USE_TZ=True,
        REST_FRAMEWORK=REST_FRAMEWORK,
    )
    django.setup()


@pytest.fixture
def rs_env(
    monkeypatch: pytest.MonkeyPatch, live_issuer: TokenIssuer, jwks: JWKSServer
) -> Iterator[dict[str, str]]:
    """The ``RS_GUARD_*`` environment of the tests; the default guard rebuilt around it."""
    for key in [k for k in os.environ if k.startswith("RS_GUARD_")]:
        monkeypatch.delenv(key)
    env = {
        "RS_GUARD_ISSUER": live_issuer.issuer,
        "RS_GUARD_AUDIENCE": live_issuer.audience,
        "RS_GUARD_JWKS_URI": jwks.jwks_uri,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_default_guard()
    yield env
    reset_default_guard()
