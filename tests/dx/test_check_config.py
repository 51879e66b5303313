"""``rs-guard check-config``: settings validated, key set reached and described."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from rs_guard.cli import main
from rs_guard.testing import JWKSServer, TokenIssuer


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    return TokenIssuer(issuer="https://tenant.check.test/")


@pytest.fixture
def server(issuer: TokenIssuer) -> Iterator[JWKSServer]:
    with JWKSServer(issuer.jwks) as running:
        yield running


def run(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(argv, environ=env, stdout=out, stderr=err), out.getvalue(), err.getvalue()


def report(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(["check-config", "--json"], env)
    return code, json.loads(out)


def test_reachable_keys_are_listed_with_cache_headers(
    issuer: TokenIssuer, server: JWKSServer
) -> None:
    body = json.dumps(
        {
            "keys": [
                *issuer.jwks()["keys"],
                {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": "AA", "y": "AA"},
            ]
        }
    ).encode()
    server.reply = lambda path: (
        200,
        {"Content-Type": "application/json", "Cache-Control": "public, max-age=120"},
        body,
    )
    code, data = report(issuer.environ(jwks_uri=server.jwks_uri))
    assert code == 0
    assert data["ok"] is True
    [entry] = data["issuers"]
    assert entry["jwks_uri"] == server.jwks_uri
    assert entry["status"] == 200
    assert entry["cache_headers"]["cache-control"] == "public, max-age=120"
    assert entry["ttl"] == 120
    usable = {k["kid"]: k["usable"] for k in entry["keys"]}
    assert usable == {issuer.current.kid: True, "ec-1": False}
    assert data["settings"]["algorithm"] == "RS256"
    assert data["settings"]["checked_against"] == "scope"


def test_human_output(issuer: TokenIssuer, server: JWKSServer) -> None:
    code, out, _ = run(["check-config"], issuer.environ(jwks_uri=server.jwks_uri))
    assert code == 0
    assert f"key kid={issuer.current.kid!r} kty=RSA alg=RS256 use=sig: usable" in out
    assert out.rstrip().endswith("OK")


def test_unreachable_issuer_fails(issuer: TokenIssuer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = issuer.environ(jwks_uri=f"http://127.0.0.1:{port}/.well-known/jwks.json")
    code, data = report(env)
    assert code == 1
    assert data["ok"] is False
    assert "ConnectError" in data["issuers"][0]["error"]


def test_no_usable_key_fails(issuer: TokenIssuer, server: JWKSServer) -> None:
    env = issuer.environ(jwks_uri=server.jwks_uri)
    env["RS_GUARD_SIGNING_ALG"] = "ES256"
    code, data = report(env)
    assert code == 1
    assert "no key fits ES256" in data["issuers"][0]["error"]
    assert [k["usable"] for k in data["issuers"][0]["keys"]] == [False]


def test_server_error_fails(issuer: TokenIssuer, server: JWKSServer) -> None:
    server.reply = lambda path: (500, {}, b"oops")
    code, data = report(issuer.environ(jwks_uri=server.jwks_uri))
    assert code == 1
    assert "HTTP 500" in data["issuers"][0]["error"]


def test_invalid_settings_fail_with_the_field() -> None:
    code, data = report({"RS_GUARD_ISSUER": "http://example.com/", "RS_GUARD_AUDIENCE": "a"})
    assert code == 1
    assert data["field"] == "issuer"
    code, _, err = run(["check-config"], {})
    assert code == 1
    assert "issuer" in err


def test_hs256_needs_no_key_set() -> None:
    hs = TokenIssuer(algorithm="HS256")
    code, out, _ = run(["check-config"], hs.environ())
    assert code == 0
    assert "signing secret" in out
    assert hs.secret is not None
    assert hs.secret not in out


def test_the_replay_store_password_is_not_printed(issuer: TokenIssuer, server: JWKSServer) -> None:
    env = {
        **issuer.environ(jwks_uri=server.jwks_uri),
        "RS_GUARD_REPLAY_STORE": "redis://:hunter2-password@redis.internal:6379/0",
    }
    code, out, _ = run(["check-config"], env)
    assert code == 0
    assert "  replay_store: redis://***@redis.internal:6379/0\n" in out
    assert "hunter2" not in out


def test_check_config_reads_no_private_key_set_state() -> None:
    import ast
    import inspect

    from rs_guard import checkconfig

    tree = ast.parse(inspect.getsource(checkconfig))
    private = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.endswith("__")
    ]
    assert private == []
