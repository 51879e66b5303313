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
``rs_guard_app_config``     the same settings as Flask ``app.config`` keys
``rs_guard_bearer``         ``rs_guard_bearer("read:x")``: an ``Authorization`` header
``rs_guard_client``         an ``httpx.Client`` on the test's ``app`` fixture (ASGI or WSGI)
``rs_guard_no_token_in_logs``  fails the test if any log record shows a minted token
==========================  ==============================================================

Apps configured at import time (a module-level ``auth = RSGuard(load_config())``) read
their settings when the test module is collected, before any fixture runs. The ini option
``rs_guard_env = true`` (or ``--rs-guard-env``) sets the ``RS_GUARD_*`` variables for the
whole session at start-up, before collection, pointing at a JWKS server on 127.0.0.1 that
serves the keys of ``rs_guard_issuer``; the previous environment comes back at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ..config import GuardConfig
from .asgi import asgi_client
from .clock import FrozenClock
from .issuer import IssuerKey, TokenIssuer, generate_key
from .logs import TokenLeakCheck, no_token_in_logs
from .server import JWKSServer

_INI = "rs_guard_env"


@dataclass
class _SessionEnv:
    """The session-wide ``RS_GUARD_*`` environment of ``rs_guard_env = true``."""

    key: IssuerKey
    server: JWKSServer
    environ: dict[str, str]
    saved: dict[str, str | None]
    current: list[TokenIssuer] = field(default_factory=list)

    def jwks(self) -> dict[str, Any]:
        # The keys of the test's issuer (it may rotate), else of the session key.
        issuer = self.current[-1] if self.current else TokenIssuer(key=self.key)
        return issuer.jwks()


_SESSION_KEY = pytest.StashKey[_SessionEnv]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _INI,
        "set RS_GUARD_* for the whole session, before collection, so apps configured at "
        "import time trust rs_guard_issuer",
        type="bool",
        default=False,
    )
    parser.addoption(
        "--rs-guard-env",
        action="store_true",
        default=False,
        help="same as the ini option rs_guard_env = true",
    )


def pytest_configure(config: pytest.Config) -> None:
    if not (config.getoption("--rs-guard-env", False) or config.getini(_INI)):
        return
    key = generate_key("RS256")
    holder: list[_SessionEnv] = []
    server = JWKSServer(lambda: holder[0].jwks()).start()
    environ = TokenIssuer(key=key).environ(jwks_uri=server.jwks_uri)
    names = [*environ, "RS_GUARD_CONFIG", "RS_GUARD_DOMAIN"]
    session = _SessionEnv(key, server, environ, {name: os.environ.get(name) for name in names})
    holder.append(session)
    os.environ.pop("RS_GUARD_CONFIG", None)
    os.environ.pop("RS_GUARD_DOMAIN", None)
    os.environ.update(environ)
    config.stash[_SESSION_KEY] = session


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION_KEY, None)
    if session is None:
        return
    del config.stash[_SESSION_KEY]
    session.server.stop()
    for name, value in session.saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def rs_guard_signing_key(pytestconfig: pytest.Config) -> IssuerKey:
    """One RS256 key for the whole session (generated at run time, never shipped)."""
    session = pytestconfig.stash.get(_SESSION_KEY, None)
    return session.key if session is not None else generate_key("RS256")


@pytest.fixture
def rs_guard_clock() -> FrozenClock:
    """A clock frozen at the current second; ``.advance(seconds)`` moves it."""
    return FrozenClock()


@pytest.fixture
def rs_guard_issuer(
    pytestconfig: pytest.Config, rs_guard_signing_key: IssuerKey, rs_guard_clock: FrozenClock
) -> Iterator[TokenIssuer]:
    """An in-memory RS256 issuer (``access_token`` dialect) minting on ``rs_guard_clock``."""
    issuer = TokenIssuer(key=rs_guard_signing_key, clock=rs_guard_clock)
    session = pytestconfig.stash.get(_SESSION_KEY, None)
    if session is None:
        yield issuer
        return
    session.current.append(issuer)  # the session's JWKS server now serves its keys
    try:
        yield issuer
    finally:
        session.current.remove(issuer)


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
    request: pytest.FixtureRequest,
    pytestconfig: pytest.Config,
    monkeypatch: pytest.MonkeyPatch,
    rs_guard_issuer: TokenIssuer,
) -> dict[str, str]:
    """Point :func:`rs_guard.load_config` (and so the example apps) at the issuer.

    Sets ``RS_GUARD_ISSUER``, ``RS_GUARD_AUDIENCE``, ``RS_GUARD_SIGNING_ALG``,
    ``RS_GUARD_TOKEN_DIALECT`` and ``RS_GUARD_JWKS_URI`` (a loopback server), and
    clears ``RS_GUARD_CONFIG`` and ``RS_GUARD_DOMAIN``; monkeypatch restores everything
    after the test. With ``rs_guard_env = true`` these are the session's values (its JWKS
    server serves this test's issuer).
    """
    session = pytestconfig.stash.get(_SESSION_KEY, None)
    if session is not None:
        env = dict(session.environ)
    else:
        server: JWKSServer = request.getfixturevalue("rs_guard_jwks_server")
        env = rs_guard_issuer.environ(jwks_uri=server.jwks_uri)
    monkeypatch.delenv("RS_GUARD_CONFIG", raising=False)
    monkeypatch.delenv("RS_GUARD_DOMAIN", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def rs_guard_app_config(rs_guard_env: dict[str, str]) -> dict[str, str | None]:
    """The ``rs_guard_env`` settings as Flask ``app.config`` keys: ``create_app(this)``.

    ``RS_GUARD_DOMAIN`` and ``RS_GUARD_CONFIG`` are ``None`` (not set), so they override
    production values written in the app's own configuration.
    """
    return {"RS_GUARD_DOMAIN": None, "RS_GUARD_CONFIG": None, **rs_guard_env}


@pytest.fixture
def rs_guard_bearer(rs_guard_issuer: TokenIssuer) -> Callable[..., dict[str, str]]:
    """``rs_guard_bearer("read:x", subject="auth0|alice")``: headers with a fresh token.

    Positional arguments are the scopes; keywords go to :meth:`TokenIssuer.mint`.
    """

    def bearer(*scopes: str, **claims: Any) -> dict[str, str]:
        token = rs_guard_issuer.mint(scopes=list(scopes), **claims)
        return {"Authorization": f"Bearer {token}"}

    return bearer


@pytest.fixture
def rs_guard_client(app: Any) -> Iterator[httpx.Client]:
    """An ``httpx.Client`` on your ``app`` fixture, in process (no socket).

    Define a fixture named ``app`` returning your Flask, FastAPI or Starlette app. A Flask
    (WSGI) app gets a client over ``httpx.WSGITransport``; an ASGI app one over
    ``httpx.ASGITransport`` that also runs the app's lifespan
    (:func:`rs_guard.testing.asgi.asgi_client`), so rs_guard's middleware starts and closes
    as in production. Base URL ``http://testserver``.
    """
    if hasattr(app, "wsgi_app"):  # Flask
        transport = httpx.WSGITransport(app=app)
        with httpx.Client(transport=transport, base_url="http://testserver") as client:
            yield client
        return
    with asgi_client(app) as client:
        yield client


@pytest.fixture
def rs_guard_no_token_in_logs() -> Iterator[TokenLeakCheck]:
    """Capture every log record of the test; fail it if one shows a minted token."""
    with no_token_in_logs() as check:
        yield check
