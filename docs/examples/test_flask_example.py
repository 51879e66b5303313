"""Testing a Flask API protected by rs_guard: keys served in memory, time under control."""

import pytest
from flask import Flask

from rs_guard import Guard
from rs_guard.adapters.flask import RSGuard, current_token


def create_app(guard: Guard) -> Flask:
    app = Flask(__name__)
    rs_guard = RSGuard(app, guard=guard)

    @app.get("/appointments")
    @rs_guard.require("read:appointments")
    def appointments():
        return {"sub": current_token.subject}

    return app


@pytest.fixture
def client(rs_guard_config, rs_guard_transport, rs_guard_clock):
    # The guard fetches the issuer's keys through an in-memory transport, on a frozen clock.
    guard = Guard(rs_guard_config, transport=rs_guard_transport, clock=rs_guard_clock)
    return create_app(guard).test_client()


def test_a_token_with_the_scope_gets_in(client, rs_guard_issuer):
    token = rs_guard_issuer.mint(scopes=["read:appointments"], subject="auth0|bob")
    answer = client.get("/appointments", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.json == {"sub": "auth0|bob"}


def test_no_token_gets_a_bare_challenge(client):
    answer = client.get("/appointments")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer realm=")


def test_the_token_expires_when_the_clock_moves(client, rs_guard_issuer, rs_guard_clock):
    token = rs_guard_issuer.mint(scopes=["read:appointments"], expires_in=300)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/appointments", headers=headers).status_code == 200
    rs_guard_clock.advance(300 + 60)  # past exp and the leeway
    assert client.get("/appointments", headers=headers).status_code == 401
