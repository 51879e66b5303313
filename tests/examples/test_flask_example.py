"""examples/flask_app.py over the example routes and the refusal answers, in process and
under a real gunicorn (threads) against a real JWKS server on 127.0.0.1.

The example is imported afresh per test with the ``RS_GUARD_*`` environment pointing at
a :class:`JWKSServer`, exactly as ``flask --app examples.flask_app run`` would.
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
from example_cases import READ, ROUTE_TABLE, WRITE, invalid_tokens
from flask.testing import FlaskClient

from rs_guard.testing import JWKSServer, TokenIssuer

ROOT = Path(__file__).resolve().parents[2]
NAME = "examples.flask_app"


@pytest.fixture(scope="module")
def live_issuer(rs256_issuer: TokenIssuer) -> TokenIssuer:
    """The session's key, minting on the real clock (the example's guard uses it)."""
    return TokenIssuer(key=rs256_issuer.current, clock=time.time)


@pytest.fixture
def jwks(live_issuer: TokenIssuer) -> Iterator[JWKSServer]:
    with JWKSServer(live_issuer.jwks) as server:
        yield server


@pytest.fixture
def load_example(
    monkeypatch: pytest.MonkeyPatch, live_issuer: TokenIssuer, jwks: JWKSServer
) -> Callable[..., ModuleType]:
    """Import the example afresh with the environment set (extra variables as keywords)."""
    monkeypatch.syspath_prepend(str(ROOT))

    def load(**env: str) -> ModuleType:
        for key in [k for k in os.environ if k.startswith("RS_GUARD_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("RS_GUARD_ISSUER", live_issuer.issuer)
        monkeypatch.setenv("RS_GUARD_AUDIENCE", live_issuer.audience)
        monkeypatch.setenv("RS_GUARD_JWKS_URI", jwks.jwks_uri)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        sys.modules.pop(NAME, None)
        module = importlib.import_module(NAME)
        monkeypatch.delitem(sys.modules, NAME)
        return module

    return load


@pytest.fixture
def client(load_example: Callable[..., ModuleType]) -> FlaskClient:
    return load_example().app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expect_refusal(
    status: int, headers: Any, body: dict[str, Any], expected: int, error: str | None
) -> None:
    """RFC 6750 §3 as we answer it: status, JSON body keys, and the challenge (or Retry-After)."""
    assert status == expected, body
    assert set(body) == ({"error", "error_description"} if error else {"error_description"})
    assert body.get("error") == error
    assert headers["content-type"] == "application/json"
    challenge = headers.get("www-authenticate")
    if expected == 503:
        assert challenge is None
        assert int(headers["retry-after"]) >= 1
        return
    assert challenge is not None
    if error is None:
        assert challenge == 'Bearer realm="api"'
    elif error == "insufficient_scope":
        assert challenge.startswith('Bearer error="insufficient_scope", scope="')
    else:
        assert challenge.startswith(f'Bearer error="{error}", error_description="')


def refused(response: Any, expected: int, error: str | None) -> None:
    expect_refusal(response.status_code, response.headers, response.json, expected, error)


# -- §2: the routes -----------------------------------------------------------------------------


def test_health_is_public(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_me_answers_the_token_shape(client: FlaskClient, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ], subject="auth0|alice", client_id="app-9")
    response = client.get("/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json == {
        "sub": "auth0|alice",
        "client_id": "app-9",
        "scopes": [READ],
        "permissions": [],
        "cnf": None,
    }


@pytest.mark.parametrize(
    ("method", "path", "scopes", "status"),
    ROUTE_TABLE,
)
def test_route_table(
    client: FlaskClient,
    live_issuer: TokenIssuer,
    method: str,
    path: str,
    scopes: list[str],
    status: int,
) -> None:
    response = client.open(path, method=method, headers=bearer(live_issuer.mint(scopes=scopes)))
    if status == 403:
        refused(response, 403, "insufficient_scope")
        needed = {"GET": READ, "POST": WRITE, "DELETE": f"{READ} {WRITE}"}[method]
        assert response.headers["www-authenticate"] == (
            f'Bearer error="insufficient_scope", scope="{needed}"'
        )
    else:
        assert response.status_code == status, response.json
    if method == "DELETE" and status == 200:
        assert response.json == {"deleted": "7"}
    if method == "POST" and status == 201:
        assert response.json["created_by"] == "auth0|user-1"


def test_authz_dialect_checks_permissions(
    load_example: Callable[..., ModuleType], live_issuer: TokenIssuer, tmp_path: Path
) -> None:
    settings = {
        "identifier": live_issuer.audience,
        "token_dialect": "access_token_authz",
        "enforce_policies": True,
        "scopes": [{"value": READ}, {"value": WRITE}],
    }
    path = tmp_path / "api.json"
    path.write_text(json.dumps(settings))
    client = load_example(RS_GUARD_CONFIG=str(path)).app.test_client()
    granted = live_issuer.mint(scopes=[], permissions=[READ])
    scoped_only = live_issuer.mint(scopes=[READ], permissions=[])
    assert client.get("/appointments", headers=bearer(granted)).status_code == 200
    refused(client.get("/appointments", headers=bearer(scoped_only)), 403, "insufficient_scope")
    assert client.get("/me", headers=bearer(granted)).json["permissions"] == [READ]


# -- §3: the failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query"),
    [({}, ""), ({"Authorization": "Basic dXNlcjpwYXNz"}, ""), ({}, "?access_token=abc.def.ghi")],
    ids=["none", "basic", "query-only"],
)
def test_missing_credentials_is_a_bare_401(
    client: FlaskClient, headers: dict[str, str], query: str
) -> None:
    refused(client.get("/me" + query, headers=headers), 401, None)


def test_token_only_in_query_is_refused_even_if_valid(
    client: FlaskClient, live_issuer: TokenIssuer
) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = client.get(f"/appointments?access_token={token}")
    refused(response, 401, None)
    assert token not in response.text


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer    ", "Bearer a.b.c d.e.f", "Bearer abc\x01def"],
    ids=["no-token", "only-spaces", "two-tokens", "control-char"],
)
def test_malformed_header_is_400(client: FlaskClient, authorization: str) -> None:
    refused(client.get("/me", headers={"Authorization": authorization}), 400, "invalid_request")


def test_two_authorization_headers_is_400(client: FlaskClient, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = client.get(
        "/me", headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    )
    refused(response, 400, "invalid_request")


def test_token_in_header_and_query_is_400(client: FlaskClient, live_issuer: TokenIssuer) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = client.get(f"/me?access_token={token}", headers=bearer(token))
    refused(response, 400, "invalid_request")
    assert token not in response.text
    assert token not in response.headers["www-authenticate"]


def test_scheme_is_case_insensitive_and_spaces_allowed(
    client: FlaskClient, live_issuer: TokenIssuer
) -> None:
    token = live_issuer.mint(scopes=[READ])
    response = client.get("/appointments", headers={"Authorization": f"bEaReR   {token}"})
    assert response.status_code == 200


INVALID = [
    "bad-signature",
    "wrong-alg",
    "expired",
    "not-yet-valid",
    "wrong-issuer",
    "wrong-audience",
    "wrong-typ",
    "missing-exp",
    "malformed",
    "too-large",
    "alg-none",
    "unchecked-cnf",
]


@pytest.mark.parametrize("case", INVALID)
def test_invalid_token_is_401(client: FlaskClient, live_issuer: TokenIssuer, case: str) -> None:
    token = invalid_tokens(live_issuer)[case]
    response = client.get("/appointments", headers=bearer(token))
    refused(response, 401, "invalid_token")
    if len(token) > 20:
        assert token not in response.text
        assert token.split(".")[1] not in response.headers["www-authenticate"]


def test_keys_unavailable_is_503_with_retry_after(
    load_example: Callable[..., ModuleType], jwks: JWKSServer, live_issuer: TokenIssuer
) -> None:
    jwks.reply = lambda path: (500, {}, b"down")
    client = load_example().app.test_client()
    response = client.get("/appointments", headers=bearer(live_issuer.mint(scopes=[READ])))
    refused(response, 503, "temporarily_unavailable")
    assert client.get("/health").status_code == 200


def test_refusals_are_json_and_not_cached(client: FlaskClient) -> None:
    response = client.get("/me")
    assert response.headers["cache-control"] == "no-store"
    assert int(response.headers["content-length"]) == len(response.data)


def test_nothing_a_client_sends_is_a_500(client: FlaskClient) -> None:
    for value in ["Bearer \u00e9\u00e9", "Bearer " + "a" * 70000, "DPoP abc", "Bearer ,", ","]:
        assert client.get("/me", headers={"Authorization": value}).status_code in (400, 401)
    assert client.get("/me?access_token=%ZZ&access_token=").status_code in (400, 401)


# -- gunicorn (threads) over real HTTP ----------------------------------------------------------


@contextmanager
def gunicorn(env: dict[str, str], log_path: Path, *args: str) -> Iterator[str]:
    """The example under gunicorn on a loopback port the OS chose (passed as a socket)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RS_GUARD_")}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                f"{NAME}:app",
                "--bind",
                f"fd://{sock.fileno()}",
                "--log-level",
                "warning",
                "--graceful-timeout",
                "3",
                *args,
            ],
            env={**clean, **env, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            pass_fds=(sock.fileno(),),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        sock.close()
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
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

        with httpx.Client(
            base_url=base, timeout=15, limits=httpx.Limits(max_connections=40)
        ) as http:

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
            expect_refusal(missing.status_code, missing.headers, missing.json(), 401, None)
            weak = http.get("/appointments", headers=bearer(live_issuer.mint(scopes=[WRITE])))
            expect_refusal(weak.status_code, weak.headers, weak.json(), 403, "insufficient_scope")
            token = live_issuer.mint(scopes=[READ])
            twice = http.get(
                "/appointments",
                headers=[
                    ("Authorization", f"Bearer {token}"),
                    ("Authorization", f"Bearer {token}"),
                ],
            )  # gunicorn joins the two lines with ","
            expect_refusal(twice.status_code, twice.headers, twice.json(), 400, "invalid_request")
            created = http.post("/appointments", headers=bearer(live_issuer.mint(scopes=[WRITE])))
            assert created.status_code == 201
    assert jwks.count() == 1
