"""Attacks through the four example apps with no token, or with a low-privilege one:
path tricks around the public ``/health``, methods a route does not declare, and the
RFC 9728 document's path. No variant may reach a protected view without a valid token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import EXAMPLES, ExampleClient, bearer

from rs_guard.testing import TokenIssuer

Load = Callable[..., ExampleClient]
READ, WRITE = "read:appointments", "write:appointments"

# Spellings of a protected route an attacker hopes the shell reads as the public /health
# while the router serves the protected view (or the reverse).
TRICKS = [
    "/health/../me",
    "/health/%2e%2e/me",
    "/health/..%2fme",
    "/health/%2E%2E%2Fme",
    "/health;/../me",
    "/health/..;/me",
    "/health\\..\\me",
    "//me",
    "/me/",
    "/me;health",
    "/me/.",
    "/./me",
    "/ME",
    "/me%00/health",
    "/me?/health",
    "/me#/health",
    "/health%2f..%2fme",
    "/ｍe",
    "/appointments/..%2f..%2fhealth",
    "/.well-known/oauth-protected-resource/../../me",
]


@pytest.fixture(params=EXAMPLES, ids=["fastapi", "starlette", "flask", "django"])
def example(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _served_me(answer_body: bytes) -> bool:
    return b"auth0|" in answer_body or b'"sub"' in answer_body


@pytest.mark.parametrize("path", TRICKS)
def test_no_path_spelling_reaches_a_protected_view_without_a_token(
    load_example: Load, example: str, path: str
) -> None:
    client = load_example(example, RS_GUARD_RESOURCE_METADATA="false")
    answer = client.get(path)
    assert answer.status in (301, 302, 307, 308, 400, 401, 404), (path, answer.status)
    assert not _served_me(answer.body), (path, answer.body[:200])
    if answer.status == 401:
        # no token at all: a bare challenge, no error code (RFC 6750 §3.1)
        assert (answer.challenge or "").startswith("Bearer")
        assert "error=" not in (answer.challenge or "")


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PUT", "PATCH", "TRACE", "FOO"])
def test_other_methods_on_a_protected_route_without_a_token(
    load_example: Load, example: str, method: str
) -> None:
    """A method the route does not declare is refused without revealing anything, and
    HEAD (served by GET's view in every framework) needs the token GET needs."""
    client = load_example(example)
    answer = client.request(method, "/appointments")
    if method == "OPTIONS" and answer.status == 200:  # Flask's own answer: the Allow list
        allowed = sorted(answer.headers["allow"].split(", "))
        assert (answer.body, allowed) == (b"", ["GET", "HEAD", "OPTIONS", "POST"])
        return
    assert answer.status in (401, 405, 400, 501), (method, answer.status)
    assert b"appointment" not in answer.body.lower() or answer.status == 401
    if method == "HEAD":
        assert answer.status == 401


def test_head_with_a_low_privilege_token_is_refused_as_get_is(
    load_example: Load, example: str, live_issuer: TokenIssuer
) -> None:
    client = load_example(example)
    token = live_issuer.mint(scopes=[WRITE])  # no read
    get = client.get("/appointments", bearer(token))
    head = client.request("HEAD", "/appointments", bearer(token))
    assert get.status == 403
    if head.status != 405:  # FastAPI's @app.get declares no HEAD
        assert (head.status, head.challenge) == (403, get.challenge)


def test_metadata_path_tricks_are_not_the_document_and_not_a_way_in(
    load_example: Load, example: str, live_issuer: TokenIssuer
) -> None:
    client = load_example(example, RS_GUARD_RESOURCE_METADATA="true")
    # A token for another API of the same tenant is refused on a protected route...
    other = live_issuer.mint(scopes=[READ], claims={"aud": "https://other.api.test/"})
    refused = client.get("/appointments", bearer(other))
    assert refused.status == 401
    assert 'error="invalid_token"' in (refused.challenge or "")
    # ...and the metadata path under another spelling serves neither the document nor a view.
    for path in (
        "/.well-known/oauth-protected-resource/../../appointments",
        "/.well-known/oauth-protected-resource%2f..%2f..%2fappointments",
    ):
        answer = client.get(path)
        assert answer.status in (400, 401, 404), (path, answer.status)
        assert b"appointments" not in answer.body or answer.status == 401


def _raw_asgi_get(app: Any, path: str) -> tuple[int, bytes]:
    """One GET sent to the ASGI app with ``path`` exactly as given (an HTTP client would
    remove dot segments first; a raw request on the wire need not)."""
    import anyio

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("latin-1", "replace"),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }
    anyio.run(app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), body


@pytest.mark.parametrize("example", ["examples.fastapi_app", "examples.starlette_app"])
@pytest.mark.parametrize(
    "path", ["/health/../me", "/health/./../me", "/health/..", "/health//../me", "/health/../../me"]
)
def test_raw_dot_segments_reach_no_view_through_the_asgi_examples(
    load_example: Load, example: str, path: str
) -> None:
    client = load_example(example, RS_GUARD_RESOURCE_METADATA="false")
    status, body = _raw_asgi_get(client.module.app, path)
    assert status in (401, 404), (path, status)
    assert not _served_me(body)
