import pytest

from flask_app import create_app


@pytest.fixture
def app(rs_guard_app_config):  # RS_GUARD_* keys trusting rs_guard_issuer
    return create_app(rs_guard_app_config)


def test_a_reader_gets_in(rs_guard_client, rs_guard_bearer):
    headers = rs_guard_bearer("read:appointments", subject="auth0|bob")
    answer = rs_guard_client.get("/appointments", headers=headers)
    assert (answer.status_code, answer.json()) == (200, {"for": "auth0|bob"})


def test_a_token_without_the_scope_gets_403(rs_guard_client, rs_guard_bearer):
    answer = rs_guard_client.get("/appointments", headers=rs_guard_bearer("profile"))
    assert answer.status_code == 403
    assert answer.json()["error"] == "insufficient_scope"
