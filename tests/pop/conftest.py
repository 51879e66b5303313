"""Fixtures for proof-of-possession tests: certificates, DPoP keys, guards on a frozen clock."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rs_guard import Guard
from rs_guard.config import DPoPOptions, ProofOfPossession
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import CertificateAuthority, DPoPKey, IssuedCert

from ._support import free_port


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture(scope="session")
def cert_a(ca: CertificateAuthority) -> IssuedCert:
    return ca.client_cert("client-a")


@pytest.fixture(scope="session")
def cert_b(ca: CertificateAuthority) -> IssuedCert:
    return ca.client_cert("client-b")


@pytest.fixture(scope="session")
def _dpop_keys() -> dict[str, DPoPKey]:
    return {alg: DPoPKey(alg) for alg in ("ES256", "PS256", "RS256", "EdDSA")}


@pytest.fixture
def dpop_key(_dpop_keys: dict[str, DPoPKey], clock: Any) -> DPoPKey:
    key = _dpop_keys["ES256"]
    key.clock = clock
    return key


@pytest.fixture
def dpop_keys(_dpop_keys: dict[str, DPoPKey], clock: Any) -> dict[str, DPoPKey]:
    for key in _dpop_keys.values():
        key.clock = clock
    return _dpop_keys


GuardFactory = Callable[..., Guard]


@pytest.fixture
def make_guard(issuer: TokenIssuer, clock: Any) -> Iterator[Any]:
    """``make_guard(mechanism, required=..., required_for=..., **config)`` on the test clock."""
    made: list[Guard] = []

    def build(
        mechanism: str | None = None,
        *,
        required: bool = False,
        required_for: str | None = None,
        dpop: DPoPOptions | None = None,
        replay_store: Any = None,
        **overrides: Any,
    ) -> Guard:
        if mechanism is not None:
            overrides["proof_of_possession"] = ProofOfPossession(
                mechanism,  # type: ignore[arg-type]
                required=required,
                required_for=required_for,  # type: ignore[arg-type]
            )
        if dpop is not None:
            overrides["dpop"] = dpop
        guard = Guard(
            issuer.config(**overrides),
            clock=clock,
            transport=issuer.transport(),
            replay_store=replay_store,
        )
        made.append(guard)
        return guard

    yield build
    for guard in made:
        guard.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, in a temp dir, for this module."""
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/setup --system installs it)")
    import redis

    workdir = tmp_path_factory.mktemp("redis")
    for _attempt in range(5):
        port = free_port()
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(workdir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                client.ping()
                break
            except redis.RedisError:
                time.sleep(0.05)
        client.close()
        if proc.poll() is None:
            break
    else:
        pytest.fail("redis-server did not start")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
