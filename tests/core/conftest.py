"""Fixtures of the core tests: one issuer per algorithm (keys made once per session)."""

from __future__ import annotations

from typing import Any

import pytest

from rs_guard.testing import TokenIssuer

FrozenClock = Any  # tests/conftest.py's FrozenClock (conftest modules are not importable)

ALGORITHMS = ("RS256", "RS512", "PS256", "ES256", "EdDSA", "HS256")


@pytest.fixture(scope="session")
def issuers_by_alg() -> dict[str, TokenIssuer]:
    return {alg: TokenIssuer(algorithm=alg) for alg in ALGORITHMS}


@pytest.fixture(params=ALGORITHMS)
def any_issuer(
    request: pytest.FixtureRequest, issuers_by_alg: dict[str, TokenIssuer], clock: FrozenClock
) -> TokenIssuer:
    """Each algorithm's issuer in turn, minting on the test's frozen clock."""
    issuer = issuers_by_alg[request.param]
    issuer.clock = clock
    issuer.token_dialect = "access_token"
    issuer.jwks_requests = 0
    return issuer


@pytest.fixture
def hs256_issuer(issuers_by_alg: dict[str, TokenIssuer], clock: FrozenClock) -> TokenIssuer:
    issuer = issuers_by_alg["HS256"]
    issuer.clock = clock
    issuer.token_dialect = "access_token"
    return issuer
