"""RSGuardWSGIMiddleware around a bare WSGI function: answers, headers, URL, threads."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from werkzeug.test import Client, EnvironBuilder

from rs_guard import Guard, GuardConfig
from rs_guard.adapters.wsgi import (
    TOKEN_KEY,
    RSGuardWSGIMiddleware,
    context_from_environ,
    token_from_environ,
)
from rs_guard.testing import JWKSServer, TokenIssuer

Environ = dict[str, Any]


def hello(environ: Environ, start_response: Any) -> Iterable[bytes]:
    """A bare WSGI app: says who called, and whether rs_guard put a token in the environ."""
    token = token_from_environ(environ)
    body = json.dumps(
        {
            "has_key": TOKEN_KEY in environ,
            "sub": token.subject if token else None,
            "scopes": sorted(token.scopes) if token else None,
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


@pytest.fixture
def guard(issuer: TokenIssuer, clock: Any) -> Guard:
    return Guard(issuer.config(), transport=issuer.transport(), clock=clock)


@pytest.fixture
def client(guard: Guard) -> Client:
    return Client(RSGuardWSGIMiddleware(hello, guard=guard, public_paths=["/health", "/static/*"]))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_valid_token_reaches_the_app_in_the_environ(client: Client, issuer: TokenIssuer) -> None:
    response = client.get("/x", headers=bearer(issuer.mint(scopes=["read:a", "write:a"])))
    assert response.status_code == 200
    assert response.json == {
        "has_key": True,
        "sub": "auth0|user-1",
        "scopes": ["read:a", "write:a"],
    }


def test_no_credentials_is_a_bare_401_and_the_app_is_not_called(client: Client) -> None:
    response = client.get("/x")
    assert response.status == "401 Unauthorized"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.data)
    body = response.json
    assert "error" not in body
    assert body["error_description"]
    assert "has_key" not in body


@pytest.mark.parametrize(
    ("headers", "query", "status", "error"),
    [
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "", 401, None),
        ({}, "access_token=abc.def.ghi", 401, None),
        ({"Authorization": "Bearer"}, "", 400, "invalid_request"),
        ({"Authorization": "Bearer a b"}, "", 400, "invalid_request"),
        (
            {"Authorization": "Bearer abc.def.ghi"},
            "access_token=abc.def.ghi",
            400,
            "invalid_request",
        ),
        ({"Authorization": "Bearer not-a-jwt"}, "", 401, "invalid_token"),
    ],
)
def test_failures_are_answered_as_rfc_6750_says(
    client: Client, headers: dict[str, str], query: str, status: int, error: str | None
) -> None:
    response = client.get("/x", headers=headers, query_string=query)
    assert response.status_code == status
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert response.json.get("error") == error
    if error is None:
        assert challenge == 'Bearer realm="api"'
    else:
        assert f'error="{error}"' in challenge
        assert "abc.def.ghi" not in response.get_data(as_text=True)


def test_two_authorization_headers_joined_by_the_server_are_refused(
    client: Client, issuer: TokenIssuer
) -> None:
    token = issuer.mint()
    # Werkzeug joins repeated lines with ", "; the answer must be 400, not the first token.
    response = client.get(
        "/x", headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    )
    assert response.status_code == 400
    assert response.json == {
        "error": "invalid_request",
        "error_description": "more than one Authorization header",
    }


@pytest.mark.parametrize(
    ("joined", "status"),
    [
        ("Bearer {t},Bearer {t}", 400),  # gunicorn joins with "," and no space
        ("Basic dXNlcjpwYXNz,Bearer {t}", 400),
        ("Bearer {t},", 400),  # a stray comma is never silently dropped
        ('Digest username="u", realm="api", nonce="n"', 401),  # one header, its own commas
        ("Basic dXNlcjpwYXNz,Basic dXNlcjpwYXNz", 401),  # no token scheme involved
    ],
)
def test_joined_authorization_values(
    guard: Guard, issuer: TokenIssuer, joined: str, status: int
) -> None:
    middleware = RSGuardWSGIMiddleware(hello, guard=guard)
    environ = EnvironBuilder(path="/x").get_environ()
    environ["HTTP_AUTHORIZATION"] = joined.format(t=issuer.mint())
    seen: list[str] = []
    middleware(environ, lambda s, h, exc_info=None: seen.append(s))  # type: ignore[arg-type,misc,return-value]
    assert int(seen[0].split()[0]) == status


def test_repeated_dpop_headers_stay_two_values(guard: Guard) -> None:
    environ = EnvironBuilder(path="/x").get_environ()
    environ["HTTP_DPOP"] = "a.b.c,d.e.f"
    ctx = context_from_environ(environ, guard.config)
    assert ctx.header_values("dpop") == ["a.b.c", "d.e.f"]


def test_public_paths_and_their_prefixes_skip_authentication(client: Client) -> None:
    assert client.get("/health").json == {"has_key": False, "sub": None, "scopes": None}
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/healthz").status_code == 401
    assert client.get("/health/x").status_code == 401


def test_anonymous_mode_lets_requests_without_credentials_through(
    guard: Guard, issuer: TokenIssuer
) -> None:
    client = Client(RSGuardWSGIMiddleware(hello, guard=guard, allow_anonymous=True))
    assert client.get("/x").json == {"has_key": True, "sub": None, "scopes": None}
    assert client.get("/x", headers=bearer(issuer.mint())).json["sub"] == "auth0|user-1"
    refused = client.get("/x", headers=bearer(issuer.mint(claims={"exp": 1})))
    assert refused.status_code == 401
    assert refused.json["error"] == "invalid_token"


def test_keys_unavailable_is_503_with_retry_after_and_no_challenge(
    issuer: TokenIssuer, clock: Any
) -> None:
    down = httpx.MockTransport(lambda request: httpx.Response(500))
    guard = Guard(issuer.config(), transport=down, clock=clock)
    response = Client(RSGuardWSGIMiddleware(hello, guard=guard)).get(
        "/x", headers=bearer(issuer.mint())
    )
    assert response.status == "503 Service Unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    assert "WWW-Authenticate" not in response.headers
    assert response.json["error"] == "temporarily_unavailable"


def test_the_middleware_needs_settings(issuer: TokenIssuer, guard: Guard) -> None:
    with pytest.raises(TypeError):
        RSGuardWSGIMiddleware(hello)
    with pytest.raises(TypeError):
        RSGuardWSGIMiddleware(hello, issuer.config(), guard=guard)
    middleware = RSGuardWSGIMiddleware(hello, issuer.config())
    assert middleware.guard.config.issuer == issuer.issuer
    middleware.close()


# -- the request the core sees -------------------------------------------------------------


def environ_for(path: str = "/x", **overrides: Any) -> Environ:
    environ: Environ = EnvironBuilder(path=path).get_environ()
    environ.update(overrides)
    return environ


def test_url_comes_from_the_server_never_from_host_or_forwarded_headers(
    issuer: TokenIssuer,
) -> None:
    environ = environ_for(
        "/v1/items",
        QUERY_STRING="a=1",
        SERVER_NAME="10.0.0.5",
        SERVER_PORT="8000",
        HTTP_HOST="evil.example",
        HTTP_X_FORWARDED_HOST="evil.example",
        HTTP_X_FORWARDED_PROTO="https",
        REMOTE_ADDR="192.0.2.7",
        REQUEST_METHOD="post",
    )
    ctx = context_from_environ(environ, issuer.config())
    assert ctx.url == "http://10.0.0.5:8000/v1/items?a=1"
    assert ctx.method == "POST"
    assert ctx.peer == "192.0.2.7"
    assert ctx.query_string == "a=1"
    assert ("host", "evil.example") in ctx.headers


def test_url_with_default_port_script_name_and_utf8_path(issuer: TokenIssuer) -> None:
    environ = environ_for(
        SERVER_NAME="api.test",
        SERVER_PORT="443",
        SCRIPT_NAME="/mount",
        PATH_INFO="/caf\u00e9".encode().decode("latin-1"),  # PEP 3333: bytes as latin-1
    )
    environ["wsgi.url_scheme"] = "https"
    ctx = context_from_environ(environ, issuer.config())
    assert ctx.url == "https://api.test/mount/caf%C3%A9"


def test_public_url_replaces_scheme_host_and_mount_point(issuer: TokenIssuer) -> None:
    config = issuer.config(public_url="https://api.example.com/v2")
    environ = environ_for(SCRIPT_NAME="/internal", PATH_INFO="/items", SERVER_NAME="127.0.0.1")
    assert context_from_environ(environ, config).url == "https://api.example.com/v2/items"


def test_content_headers_are_kept_under_their_http_names(issuer: TokenIssuer) -> None:
    environ = environ_for(CONTENT_TYPE="application/json", CONTENT_LENGTH="2", HTTP_X_A_B="1")
    headers = dict(context_from_environ(environ, issuer.config()).headers)
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == "2"
    assert headers["x-a-b"] == "1"


def test_garbage_server_port_does_not_break_the_request(
    client: Client, issuer: TokenIssuer
) -> None:
    environ = environ_for(SERVER_PORT="http", SERVER_NAME="")
    ctx = context_from_environ(environ, issuer.config())
    environ["HTTP_AUTHORIZATION"] = f"Bearer {issuer.mint()}"
    status: list[str] = []
    client.application(environ, lambda s, h, exc_info=None: status.append(s))  # type: ignore[arg-type,misc,return-value]
    assert status == ["200 OK"]
    assert ctx.url == "http://localhost/x"


# -- threads --------------------------------------------------------------------------------


def test_many_threads_on_a_cold_cache_fetch_the_keys_once() -> None:
    issuer = TokenIssuer()
    with JWKSServer(issuer.jwks) as server:

        def slow(path: str) -> tuple[int, dict[str, str], bytes]:
            time.sleep(0.3)  # every thread arrives while the one fetch is in flight
            return 200, {"Content-Type": "application/json"}, json.dumps(issuer.jwks()).encode()

        server.reply = slow
        config: GuardConfig = issuer.config(jwks_uri=server.jwks_uri)
        middleware = RSGuardWSGIMiddleware(hello, config)
        client = Client(middleware)
        tokens = [issuer.mint(subject=f"user-{i}") for i in range(40)]
        barrier = threading.Barrier(len(tokens))
        results: list[tuple[int, str | None]] = []
        lock = threading.Lock()

        def call(token: str) -> None:
            barrier.wait()
            response = client.get("/x", headers=bearer(token))
            with lock:
                results.append((response.status_code, response.json.get("sub")))

        threads = [threading.Thread(target=call, args=(t,)) for t in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        middleware.close()
        assert server.count() == 1
    assert sorted(results) == sorted((200, f"user-{i}") for i in range(40))


@pytest.mark.parametrize("path", ["/static/../admin", "/static/./x/../../admin", "/static/.."])
def test_dot_segments_never_make_a_path_public(client: Client, path: str) -> None:
    environ = environ_for(path)
    environ["PATH_INFO"] = path  # as a server passes it, not normalised
    seen: list[str] = []
    client.application(environ, lambda s, h, exc_info=None: seen.append(s))  # type: ignore[arg-type,misc,return-value]
    assert seen == ["401 Unauthorized"]


def test_non_ascii_public_path_matches(guard: Guard) -> None:
    client = Client(RSGuardWSGIMiddleware(hello, guard=guard, public_paths=["/caf\u00e9"]))
    assert client.get("/caf%C3%A9").status_code == 200


def test_dpop_without_public_url_warns_at_start_up(
    issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """Under gunicorn on a unix socket SERVER_NAME is the client's Host: say so at start."""
    from rs_guard.config import ProofOfPossession

    dpop = ProofOfPossession("dpop")
    with caplog.at_level("WARNING", logger="rs_guard"):
        RSGuardWSGIMiddleware(hello, issuer.config(proof_of_possession=dpop))
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [(r.name, r.getMessage()) for r in warnings] == [
        (
            "rs_guard.wsgi",
            "DPoP is on and public_url (RS_GUARD_PUBLIC_URL) is not set: a WSGI server builds "
            "the request URL that the proof's htu must match from SERVER_NAME, which gunicorn "
            "on a unix socket takes from the client's Host header; set public_url to the API's "
            "public address",
        )
    ]
    caplog.clear()
    public = issuer.config(proof_of_possession=dpop, public_url="https://api.example.com")
    with caplog.at_level("WARNING", logger="rs_guard"):
        RSGuardWSGIMiddleware(hello, public)
        RSGuardWSGIMiddleware(hello, issuer.config())
    assert [r for r in caplog.records if r.levelname == "WARNING"] == []
