"""The WSGI examples (Flask, Django) under a real gunicorn (threads) against a real JWKS
server on 127.0.0.1: a burst of cold requests makes one key fetch."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from example_cases import READ, WRITE
from launch import gunicorn
from refusals import expect_refusal

from rs_guard.testing import JWKSServer, TokenIssuer

TARGETS = ["examples.flask_app:app", "examples.django_app:application"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS, ids=["flask", "django"])
def test_example_under_gunicorn_threads_fetches_the_keys_once(
    target: str, live_issuer: TokenIssuer, jwks: JWKSServer, tmp_path: Path
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
    with gunicorn(target, env, tmp_path / "gunicorn.log", *threads_args) as base:
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
