"""examples/django_app.py over the shared route and invalid-token tables (Django test
client), and under a real gunicorn (threads) against a real JWKS server on 127.0.0.1.

The example is imported afresh per test with the ``RS_GUARD_*`` environment pointing at
a :class:`JWKSServer`; the test client builds the middleware chain, so each test's
guard reads that environment, as ``gunicorn examples.django_app:application`` would.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from django.test import Client
from django.test.utils import override_settings
from example_cases import READ, ROUTE_TABLE, WRITE, invalid_tokens
from refusals import expect_refusal
from test_flask_example import INVALID

from rs_guard.testing import JWKSServer, TokenIssuer

ROOT = Path(__file__).resolve().parents[2]
NAME = "examples.django_app"


@pytest.fixture(scope="module")
def live_issuer(rs256_issuer: TokenIssuer) -> TokenIssuer:
    return TokenIssuer(key=rs256_issuer.current, clock=time.time)


@pytest.fixture
def jwks(live_issuer: TokenIssuer) -> Iterator[JWKSServer]:
    with JWKSServer(live_issuer.jwks) as server:
        yield server


@pytest.fixture
def load_example(
    monkeypatch: pytest.MonkeyPatch, live_issuer: TokenIssuer, jwks: JWKSServer
) -> Iterator[Callable[..., Client]]:
    """Import the example afresh with the environment set; a test client over it."""
    monkeypatch.syspath_prepend(str(ROOT))
    overrides: list[Any] = []

    def load(**env: str) -> Client:
        for key in [k for k in os.environ if k.startswith("RS_GUARD_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("RS_GUARD_ISSUER", live_issuer.issuer)
        monkeypatch.setenv("RS_GUARD_AUDIENCE", live_issuer.audience)
        monkeypatch.setenv("RS_GUARD_JWKS_URI", jwks.jwks_uri)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        sys.modules.pop(NAME, None)
        module: ModuleType = importlib.import_module(NAME)
        override = override_settings(
            ROOT_URLCONF=NAME, MIDDLEWARE=module.MIDDLEWARE, RS_GUARD=module.RS_GUARD
        )
        override.enable()
        overrides.append(override)
        return Client()

    yield load
    for override in reversed(overrides):
        override.disable()
    sys.modules.pop(NAME, None)


@pytest.fixture
def client(load_example: Callable[..., Client]) -> Client:
    return load_example()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_is_public(client: Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_me_answers_the_token_shape(client: Client, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ], subject="auth0|alice", client_id="app-9")
    response = client.get("/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {
        "sub": "auth0|alice",
        "client_id": "app-9",
        "scopes": [READ],
        "permissions": [],
        "cnf": None,
    }


@pytest.mark.parametrize(("method", "path", "scopes", "status"), ROUTE_TABLE)
def test_route_table(
    client: Client,
    live_issuer: TokenIssuer,
    method: str,
    path: str,
    scopes: list[str],
    status: int,
) -> None:
    token = live_issuer.mint(scopes=scopes)
    response = client.generic(method, path, headers=bearer(token))
    if status == 403:
        expect_refusal(response, 403, "insufficient_scope")
        needed = {"GET": READ, "POST": WRITE, "DELETE": f"{READ} {WRITE}"}[method]
        assert response.headers["www-authenticate"] == (
            f'Bearer error="insufficient_scope", scope="{needed}"'
        )
    else:
        assert response.status_code == status, response.content
    if method == "DELETE" and status == 200:
        assert response.json() == {"deleted": "7"}
    if method == "POST" and status == 201:
        assert response.json()["created_by"] == "auth0|user-1"
    if method == "GET" and status == 200:
        assert response.json()["sub"] == "auth0|user-1"


@pytest.mark.parametrize("source", ["resource-server-json", "environment"])
def test_authz_dialect_checks_permissions(
    load_example: Callable[..., Client], live_issuer: TokenIssuer, tmp_path: Path, source: str
) -> None:
    if source == "environment":  # RBAC from RS_GUARD_* variables alone, as the other examples
        client = load_example(
            RS_GUARD_TOKEN_DIALECT="access_token_authz",
            RS_GUARD_ENFORCE_POLICIES="true",
            RS_GUARD_SCOPES=f"{READ} {WRITE}",
        )
    else:
        settings = {
            "identifier": live_issuer.audience,
            "token_dialect": "access_token_authz",
            "enforce_policies": True,
            "scopes": [{"value": READ}, {"value": WRITE}],
        }
        path = tmp_path / "api.json"
        path.write_text(json.dumps(settings))
        client = load_example(RS_GUARD_CONFIG=str(path))
    granted = live_issuer.mint(scopes=[], permissions=[READ])
    scoped_only = live_issuer.mint(scopes=[READ], permissions=[])
    assert client.get("/appointments", headers=bearer(granted)).status_code == 200
    expect_refusal(
        client.get("/appointments", headers=bearer(scoped_only)), 403, "insufficient_scope"
    )
    assert client.get("/me", headers=bearer(granted)).json()["permissions"] == [READ]


@pytest.mark.parametrize(
    ("headers", "query"),
    [({}, ""), ({"Authorization": "Basic dXNlcjpwYXNz"}, ""), ({}, "?access_token=abc.def.ghi")],
    ids=["none", "basic", "query-only"],
)
def test_missing_credentials_is_a_bare_401(
    client: Client, headers: dict[str, str], query: str
) -> None:
    expect_refusal(client.get("/me" + query, headers=headers), 401, None)


def test_unknown_route_is_protected_too(client: Client) -> None:
    expect_refusal(client.get("/admin"), 401, None)


def test_token_only_in_query_is_refused_even_if_valid(
    client: Client, live_issuer: TokenIssuer
) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = client.get(f"/appointments?access_token={token}")
    expect_refusal(response, 401, None)
    assert token not in response.content.decode()


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer    ", "Bearer a.b.c d.e.f", "Bearer abc\x01def"],
    ids=["no-token", "only-spaces", "two-tokens", "control-char"],
)
def test_malformed_header_is_400(client: Client, authorization: str) -> None:
    expect_refusal(
        client.get("/me", headers={"Authorization": authorization}), 400, "invalid_request"
    )


def test_two_authorization_headers_is_400(client: Client, live_issuer: TokenIssuer) -> None:
    # A server joins two header lines with "," (RFC 9110 §5.3), as Django's ASGI handler does.
    token = live_issuer.mint(scopes=[READ])
    response = client.get("/me", HTTP_AUTHORIZATION=f"Bearer {token}, Bearer {token}")
    expect_refusal(response, 400, "invalid_request")


def test_token_in_header_and_query_is_400(client: Client, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = client.get(f"/me?access_token={token}", headers=bearer(token))
    expect_refusal(response, 400, "invalid_request")
    assert token not in response.content.decode()
    assert token not in response.headers["www-authenticate"]


def test_scheme_is_case_insensitive_and_spaces_allowed(
    client: Client, live_issuer: TokenIssuer
) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = client.get("/appointments", headers={"Authorization": f"bEaReR   {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("case", INVALID)
def test_invalid_token_is_401(client: Client, live_issuer: TokenIssuer, case: str) -> None:
    token = invalid_tokens(live_issuer)[case]
    response = client.get("/appointments", headers=bearer(token))
    expect_refusal(response, 401, "invalid_token")
    if len(token) > 20:
        assert token not in response.content.decode()
        assert token.split(".")[1] not in response.headers["www-authenticate"]


def test_keys_unavailable_is_503_with_retry_after(
    load_example: Callable[..., Client], jwks: JWKSServer, live_issuer: TokenIssuer
) -> None:
    jwks.reply = lambda path: (500, {}, b"down")
    client = load_example()
    response = client.get("/appointments", headers=bearer(live_issuer.mint(scopes=[READ])))
    expect_refusal(response, 503, "temporarily_unavailable")
    assert client.get("/health").status_code == 200


def test_refusals_are_json_and_not_cached(client: Client) -> None:
    response = client.get("/me")
    assert response.headers["cache-control"] == "no-store"
    assert int(response.headers["content-length"]) == len(response.content)


def test_nothing_a_client_sends_is_a_500(client: Client) -> None:
    for value in ["Bearer \u00e9\u00e9", "Bearer " + "a" * 70000, "DPoP abc", "Bearer ,", ","]:
        assert client.get("/me", headers={"Authorization": value}).status_code in (400, 401)
    assert client.get("/me?access_token=%ZZ&access_token=").status_code in (400, 401)
    assert client.get("/health/../me").status_code == 401


# -- gunicorn (threads) over real HTTP ----------------------------------------------------------


@contextmanager
def gunicorn(env: dict[str, str], log_path: Path, *args: str) -> Iterator[str]:
    """The example under gunicorn on a loopback port the OS chose (passed as a socket)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RS_GUARD_")}
    command = [sys.executable, "-m", "gunicorn", f"{NAME}:application"]
    command += ["--bind", f"fd://{sock.fileno()}", "--log-level", "warning"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*command, "--graceful-timeout", "3", *args],
            env={**clean, **env, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            pass_fds=(sock.fileno(),),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        sock.close()
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(base + "/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.05)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait()


@pytest.mark.slow
def test_example_under_gunicorn_threads_fetches_the_keys_once(
    live_issuer: TokenIssuer, jwks: JWKSServer, tmp_path: Path
) -> None:
    body = json.dumps(live_issuer.jwks()).encode()

    def slow_keys(path: str) -> tuple[int, dict[str, str], bytes]:
        time.sleep(0.5)  # the requests pile up behind the one fetch in flight
        return 200, {"Content-Type": "application/json"}, body

    jwks.reply = slow_keys
    env = {
        "RS_GUARD_ISSUER": live_issuer.issuer,
        "RS_GUARD_AUDIENCE": live_issuer.audience,
        "RS_GUARD_JWKS_URI": jwks.jwks_uri,
    }
    threads_args = ("--workers", "1", "--worker-class", "gthread", "--threads", "8")
    with gunicorn(env, tmp_path / "gunicorn.log", *threads_args) as base:
        assert jwks.count() == 0  # cold: nothing fetched at start-up
        tokens = [live_issuer.mint(scopes=[READ], subject=f"user-{i}") for i in range(30)]
        barrier = threading.Barrier(len(tokens))
        results: dict[str, tuple[int, Any]] = {}
        lock = threading.Lock()
        limits = httpx.Limits(max_connections=40)
        with httpx.Client(base_url=base, timeout=15, limits=limits) as http:

            def call(token: str, subject: str) -> None:
                barrier.wait()
                response = http.get("/appointments", headers=bearer(token))
                with lock:
                    results[subject] = (response.status_code, response.json().get("sub"))

            workers = [
                threading.Thread(target=call, args=(token, f"user-{i}"))
                for i, token in enumerate(tokens)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(20)

            assert results == {f"user-{i}": (200, f"user-{i}") for i in range(30)}
            assert jwks.count() == 1

            missing = http.get("/appointments")
            expect_refusal(missing, 401, None)
            weak = http.get("/appointments", headers=bearer(live_issuer.mint(scopes=[WRITE])))
            expect_refusal(weak, 403, "insufficient_scope")
            token = live_issuer.mint(scopes=[READ])
            twice = http.get(
                "/appointments",
                headers=[
                    ("Authorization", f"Bearer {token}"),
                    ("Authorization", f"Bearer {token}"),
                ],
            )  # gunicorn joins the two lines with ","
            expect_refusal(twice, 400, "invalid_request")
            created = http.post("/appointments", headers=bearer(live_issuer.mint(scopes=[WRITE])))
            assert created.status_code == 201
            assert created.json()["created_by"] == "auth0|user-1"
    assert jwks.count() == 1


def test_a_bad_setting_stops_the_example_at_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RS_GUARD_")}
    env.update(
        RS_GUARD_ISSUER="https://tenant.example/",
        RS_GUARD_AUDIENCE="https://api.example",
        RS_GUARD_SIGNING_ALG="none",
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-c", f"import {NAME}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: rs_guard: " in done.stderr
    assert "rs_guard: signing_alg: must be one of" in done.stderr
