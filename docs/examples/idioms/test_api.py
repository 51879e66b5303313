import pytest

from api import app as api_app  # configured at import: needs rs_guard_env = true


@pytest.fixture
def app():
    return api_app


def test_a_reader_gets_in(rs_guard_client, rs_guard_bearer):
    headers = rs_guard_bearer("read:appointments", subject="auth0|alice")
    answer = rs_guard_client.get("/appointments", headers=headers)
    assert (answer.status_code, answer.json()) == (200, {"for": "auth0|alice"})


def test_no_token_gets_a_bare_challenge(rs_guard_client):
    answer = rs_guard_client.get("/appointments")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="api"'
