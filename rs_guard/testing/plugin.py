"""pytest fixtures for testing an API protected by rs_guard.

Registered through the ``pytest11`` entry point: installing rs_guard makes them
available in any test suite, with no import and no ``conftest.py``.

==========================  ==============================================================
``rs_guard_clock``          a :class:`FrozenClock` set to the current second
``rs_guard_issuer``         an RS256 :class:`TokenIssuer` on that clock (key made once per
                            session, so each test costs no key generation)
``rs_guard_config``         a :class:`~rs_guard.GuardConfig` trusting that issuer
``rs_guard_transport``      an httpx transport serving its JWKS with no network
``rs_guard_jwks_server``    its JWKS served on a loopback port (a real HTTP server)
``rs_guard_env``            ``RS_GUARD_*`` set (monkeypatch) so ``load_config()`` trusts it
``rs_guard_no_token_in_logs``  fails the test if any log record shows a minted token
==========================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ..config import GuardConfig
from .clock import FrozenClock
from .issuer import IssuerKey, TokenIssuer, generate_key
from .logs import TokenLeakCheck, no_token_in_logs
from .server import JWKSServer


@pytest.fixture(scope="session")
def rs_guard_signing_key() -> IssuerKey:
    """One RS256 key for the whole session (generated at run time, never shipped)."""
    return generate_key("RS256")


@pytest.fixture
def rs_guard_clock() -> FrozenClock:
    """A clock frozen at the current second; ``.advance(seconds)`` moves it."""
    return FrozenClock()


@pytest.fixture
def rs_guard_issuer(rs_guard_signing_key: IssuerKey, rs_guard_clock: FrozenClock) -> TokenIssuer:
    """An in-memory RS256 issuer (``access_token`` dialect) minting on ``rs_guard_clock``."""
    return TokenIssuer(key=rs_guard_signing_key, clock=rs_guard_clock)


@pytest.fixture
def rs_guard_config(rs_guard_issuer: TokenIssuer) -> GuardConfig:
    """Settings that trust ``rs_guard_issuer``."""
    return rs_guard_issuer.config()


@pytest.fixture
def rs_guard_transport(rs_guard_issuer: TokenIssuer) -> httpx.MockTransport:
    """Serves ``rs_guard_issuer``'s JWKS to a guard (``transport=``), sync or async."""
    return rs_guard_issuer.transport()


@pytest.fixture
def rs_guard_jwks_server(rs_guard_issuer: TokenIssuer) -> Iterator[JWKSServer]:
    """The issuer's JWKS served on 127.0.0.1 (a free port), stopped after the test."""
    with JWKSServer(rs_guard_issuer.jwks) as server:
        yield server


@pytest.fixture
def rs_guard_env(
    monkeypatch: pytest.MonkeyPatch,
    rs_guard_issuer: TokenIssuer,
    rs_guard_jwks_server: JWKSServer,
) -> dict[str, str]:
    """Point :func:`rs_guard.load_config` (and so the example apps) at the issuer.

    Sets ``RS_GUARD_ISSUER``, ``RS_GUARD_AUDIENCE``, ``RS_GUARD_SIGNING_ALG``,
    ``RS_GUARD_TOKEN_DIALECT`` and ``RS_GUARD_JWKS_URI`` (the loopback server), and
    clears ``RS_GUARD_CONFIG``; monkeypatch restores everything after the test.
    """
    monkeypatch.delenv("RS_GUARD_CONFIG", raising=False)
    env = rs_guard_issuer.environ(jwks_uri=rs_guard_jwks_server.jwks_uri)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def rs_guard_no_token_in_logs() -> Iterator[TokenLeakCheck]:
    """Capture every log record of the test; fail it if one shows a minted token."""
    with no_token_in_logs() as check:
        yield check
