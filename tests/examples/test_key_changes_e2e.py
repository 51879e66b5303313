"""Key rotation and a cold outage through the example apps under real servers (issue 10).

``examples/fastapi_app.py`` under uvicorn and ``examples/flask_app.py`` under gunicorn,
against a real JWKS server on 127.0.0.1 whose key set the test changes:

* rotation under steady traffic: the app knows k1, the issuer adds k2, and a client
  presents a k2 token every 0.5 s; the token is refused (``invalid_token``) until one
  cooldown after the app's last fetch, then accepted, with exactly one more fetch;
* cold start with the issuer refusing connections: 503 with a ``Retry-After`` shorter
  than the cooldown, then 200 soon after the issuer comes back on its port.

Waits are bounded with generous caps; the measured times are printed (``-s``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from example_cases import READ

from rs_guard.testing import JWKSServer, TokenIssuer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
APPS = ("fastapi-uvicorn", "flask-gunicorn")
ROTATION_COOLDOWN = 2.0
#: The default: an app that waited a full cooldown to retry would take half a minute.
OUTAGE_COOLDOWN = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _command(app: str, port: int) -> list[str]:
    if app == "fastapi-uvicorn":
        return [
            sys.executable, "-m", "uvicorn", "examples.fastapi_app:app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            "--no-access-log",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "gunicorn", "examples.flask_app:app",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
        "--log-level", "warning", "--graceful-timeout", "2",
    ]  # fmt: skip


class App:
    """One example app in its own server process, on a free loopback port."""

    def __init__(self, app: str, issuer: TokenIssuer, jwks_uri: str, tmp: Path, **env: str):
        self.port = free_port()
        self.log = tmp / f"{app}.log"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("RS_GUARD_")}
        environ.update(
            RS_GUARD_ISSUER=issuer.issuer,
            RS_GUARD_AUDIENCE=issuer.audience,
            RS_GUARD_JWKS_URI=jwks_uri,
            PYTHONPATH=str(ROOT),
            **env,
        )
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                _command(app, self.port), cwd=ROOT, env=environ, stdout=out, stderr=out
            )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if self.http.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"the app did not start:\n{self.log.read_text()[-3000:]}")

    def get(self, token: str) -> httpx.Response:
        return self.http.get("/appointments", headers={"Authorization": f"Bearer {token}"})

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def issuer(rs256_issuer: TokenIssuer) -> TokenIssuer:
    return TokenIssuer(key=rs256_issuer.current, clock=time.time)


class FetchLog:
    """Serves the issuer's key set and notes when each fetch came."""

    def __init__(self, issuer: TokenIssuer) -> None:
        self.issuer = issuer
        self.times: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, Any]:
        with self._lock:
            self.times.append(time.monotonic())
        return self.issuer.jwks()


def expect_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    challenge = response.headers["www-authenticate"]
    assert challenge == (
        'Bearer error="invalid_token", error_description="the token was signed with an unknown key"'
    )


def expect_unavailable(response: httpx.Response) -> int:
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable"
    assert "www-authenticate" not in response.headers
    return int(response.headers["retry-after"])


@pytest.mark.parametrize("app_name", APPS)
def test_a_rotated_key_is_picked_up_under_steady_traffic(
    app_name: str, issuer: TokenIssuer, tmp_path: Path
) -> None:
    fetches = FetchLog(issuer)
    with JWKSServer(fetches) as server:
        app = App(
            app_name,
            issuer,
            server.jwks_uri,
            tmp_path,
            RS_GUARD_JWKS_COOLDOWN=str(ROTATION_COOLDOWN),
        )
        try:
            app.wait_ready()
            assert app.get(issuer.mint(scopes=[READ])).status_code == 200
            known = len(fetches.times)
            assert known >= 1
            new = issuer.rotate()
            token = issuer.mint(key=new, scopes=[READ])
            deadline = time.monotonic() + 10 * ROTATION_COOLDOWN
            while True:
                answer = app.get(token)
                if answer.status_code == 200:
                    picked_up = time.monotonic()
                    break
                expect_invalid_token(answer)
                assert time.monotonic() < deadline, "the rotated key was never picked up"
                time.sleep(0.5)
        finally:
            app.stop()
    assert answer.json()["sub"] == "auth0|user-1"
    # Exactly one more fetch, no sooner than a cooldown after the one before it.
    assert len(fetches.times) == known + 1
    last_before, found = fetches.times[-2], fetches.times[-1]
    assert found - last_before >= ROTATION_COOLDOWN - 0.25
    print(
        f"\n{app_name}: rotated key picked up {picked_up - last_before:.2f} s after the "
        f"last fetch (cooldown {ROTATION_COOLDOWN} s, a request every 0.5 s)"
    )


@pytest.mark.parametrize("app_name", APPS)
def test_a_cold_start_with_the_issuer_down_recovers_soon_after_it_returns(
    app_name: str, issuer: TokenIssuer, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there yet: connections are refused
    jwks_uri = f"http://127.0.0.1:{port}/.well-known/jwks.json"
    app = App(app_name, issuer, jwks_uri, tmp_path, RS_GUARD_JWKS_COOLDOWN=str(OUTAGE_COOLDOWN))
    server: JWKSServer | None = None
    token = issuer.mint(scopes=[READ])
    try:
        app.wait_ready()
        waits = []
        for _ in range(8):
            waits.append(expect_unavailable(app.get(token)))
            time.sleep(0.5)
        # Retry-After names the next attempt, which comes far sooner than a cooldown.
        assert all(1 <= wait < OUTAGE_COOLDOWN for wait in waits), waits
        server = JWKSServer(issuer.jwks, port=port).start()
        back = time.monotonic()
        deadline = back + 20
        while True:
            answer = app.get(token)
            if answer.status_code == 200:
                recovered = time.monotonic()
                break
            expect_unavailable(answer)
            assert time.monotonic() < deadline, "no recovery after the issuer came back"
            time.sleep(0.2)
    finally:
        app.stop()
        if server is not None:
            server.stop()
    assert answer.json()["sub"] == "auth0|user-1"
    print(
        f"\n{app_name}: Retry-After during the outage {waits}; recovered "
        f"{recovered - back:.2f} s after the issuer came back"
    )
