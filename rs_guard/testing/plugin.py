"""pytest fixtures for testing an API protected by rs_guard (registered as a pytest plugin)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .issuer import TokenIssuer
from .server import JWKSServer


@pytest.fixture
def rs_guard_issuer() -> TokenIssuer:
    """A fresh in-memory issuer (RS256, ``access_token`` dialect)."""
    return TokenIssuer()


@pytest.fixture
def rs_guard_jwks_server(rs_guard_issuer: TokenIssuer) -> Iterator[JWKSServer]:
    """The issuer's JWKS served on a loopback port."""
    with JWKSServer(rs_guard_issuer.jwks) as server:
        yield server
