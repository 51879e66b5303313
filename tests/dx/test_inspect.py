"""``rs-guard inspect``: each kind of bad token is explained with the right failed check."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from rs_guard.cli import main
from rs_guard.testing import JWKSServer, TokenIssuer, generate_key, tampered, unsigned

ISSUER = "https://tenant.inspect.test/"


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    return TokenIssuer(issuer=ISSUER)


@pytest.fixture(scope="module")
def server(issuer: TokenIssuer) -> Iterator[JWKSServer]:
    with JWKSServer(issuer.jwks) as running:
        yield running


@pytest.fixture
def env(issuer: TokenIssuer, server: JWKSServer) -> dict[str, str]:
    return issuer.environ(jwks_uri=server.jwks_uri)


def run(argv: list[str], env: dict[str, str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, environ=env, stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def explain(token: str, env: dict[str, str], *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(["inspect", token, "--json", *extra], env)
    return code, json.loads(out)


def failed(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["reason"] for c in report["checks"] if c["status"] == "fail"}


def test_a_valid_token_passes_every_check(issuer: TokenIssuer, env: dict[str, str]) -> None:
    code, report = explain(issuer.mint(scopes=["read:x"]), env)
    assert code == 0
    assert report["verdict"] == {"accepted": True}
    assert failed(report) == {}
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["signature"] == statuses["exp"] == statuses["aud"] == "pass"
    assert report["claims"]["scope"] == "read:x"
    assert "in 60 min" in report["times"]["exp"]


def _bad_tokens(issuer: TokenIssuer) -> list[tuple[str, str, str, str]]:
    """(kind, token, failed check, reason): at least ten kinds of bad token."""
    stranger = generate_key("RS256", kid=issuer.current.kid)  # same kid, other key
    return [
        ("expired", issuer.mint(expires_in=-600), "exp", "expired"),
        (
            "not yet valid",
            issuer.mint(claims={"nbf": int(issuer.clock()) + 900}),
            "nbf",
            "not_yet_valid",
        ),
        (
            "issued in the future",
            issuer.mint(claims={"iat": int(issuer.clock()) + 900}),
            "iat",
            "issued_in_future",
        ),
        (
            "wrong audience",
            issuer.mint(claims={"aud": "https://other.test"}),
            "aud",
            "wrong_audience",
        ),
        ("wrong issuer", issuer.mint(claims={"iss": "https://evil.test/"}), "iss", "wrong_issuer"),
        ("wrong algorithm", issuer.mint(headers={"alg": "HS256"}), "alg", "wrong_algorithm"),
        ("alg none", unsigned(issuer.mint()), "alg", "wrong_algorithm"),
        ("bad signature", tampered(issuer.mint(scopes=["read:x"])), "signature", "bad_signature"),
        ("signed by another key", issuer.mint(key=stranger), "signature", "bad_signature"),
        ("malformed", "not-a-token", "format", "malformed"),
        ("bad base64", "eyJhbGciOiJSUzI1NiJ9.!!!.abc", "format", "malformed"),
        ("missing claim", issuer.mint(drop=["sub"]), "required", "missing_claim"),
        ("wrong typ", issuer.mint(headers={"typ": "dpop+jwt"}), "typ", "wrong_type"),
        ("crit header", issuer.mint(headers={"crit": ["exp"]}), "header", "unsupported_header"),
        ("unknown kid", issuer.mint(headers={"kid": "no-such-key"}), "key", "unknown_kid"),
        ("too large", issuer.mint(claims={"pad": "x" * 20_000}), "size", "token_too_large"),
        ("bad claim type", issuer.mint(claims={"sub": 42}), "claims", "invalid_claim"),
        ("bound, unchecked", issuer.mint(cnf={"jkt": "abc"}), "binding", "unchecked_binding"),
    ]


def test_each_kind_of_bad_token_is_explained(issuer: TokenIssuer, env: dict[str, str]) -> None:
    cases = _bad_tokens(issuer)
    assert len({reason for *_, reason in cases}) >= 10
    for kind, token, check, reason in cases:
        code, report = explain(token, env)
        assert code == 1, kind
        assert failed(report).get(check) == reason, (kind, failed(report))
        verdict = report["verdict"]
        assert verdict["accepted"] is False, kind
        assert verdict["status"] == 401, kind
        assert verdict["error"] == "invalid_token", kind
        # The guard's own reason is always among the failed checks.
        assert verdict["reason"] in failed(report).values(), kind


def test_every_failure_is_listed_not_only_the_first(
    issuer: TokenIssuer, env: dict[str, str]
) -> None:
    token = issuer.mint(
        expires_in=-600, claims={"aud": "https://other.test", "iss": "https://evil.test/"}
    )
    code, report = explain(token, env)
    assert code == 1
    assert failed(report) == {
        "iss": "wrong_issuer",
        "aud": "wrong_audience",
        "exp": "expired",
    }
    # Checks that still hold are reported as passing: the signature was checked.
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["signature"] == "pass"
    assert report["verdict"]["reason"] == "wrong_issuer"


def test_wrong_alg_skips_the_signature(issuer: TokenIssuer, env: dict[str, str]) -> None:
    _, report = explain(unsigned(issuer.mint()), env)
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["signature"] == "skip"
    assert statuses["key"] == "skip"


def test_human_output_names_checks_and_times(issuer: TokenIssuer, env: dict[str, str]) -> None:
    token = issuer.mint(expires_in=-7200)
    code, out, _ = run(["inspect", token], env)
    assert code == 1
    assert "FAIL exp" in out
    assert "ago)" in out
    assert "verdict: REFUSED 401 invalid_token (expired)" in out
    assert token not in out


def test_token_from_stdin_with_a_bearer_prefix(issuer: TokenIssuer, env: dict[str, str]) -> None:
    token = issuer.mint()
    code, out, _ = run(["inspect", "-"], env, stdin=f"Bearer {token}\n")
    assert code == 0
    assert "verdict: ACCEPTED" in out


def test_options_override_the_environment(issuer: TokenIssuer, env: dict[str, str]) -> None:
    token = issuer.mint()
    code, report = explain(token, env, "--audience", "https://someone-else.test")
    assert code == 1
    assert failed(report) == {"aud": "wrong_audience"}


def test_without_settings_the_token_is_only_decoded(issuer: TokenIssuer) -> None:
    code, out, _ = run(["inspect", issuer.mint(scopes=["a"])], {})
    assert code == 0
    assert "decoded only" in out
    assert '"a"' in out
    code, out, _ = run(["inspect", "garbage"], {})
    assert code == 1


def test_config_file(issuer: TokenIssuer, server: JWKSServer, tmp_path: Any) -> None:
    path = tmp_path / "api.json"
    path.write_text(json.dumps({"identifier": issuer.audience, "signing_alg": "RS256"}))
    env = {"RS_GUARD_ISSUER": ISSUER, "RS_GUARD_JWKS_URI": server.jwks_uri}
    code, out, _ = run(["inspect", issuer.mint(), "--config", str(path)], env)
    assert code == 0, out


def test_usage_errors_exit_2(issuer: TokenIssuer, env: dict[str, str]) -> None:
    assert run(["inspect", "-"], env, stdin="   ")[0] == 2
    assert run(["frobnicate"], env)[0] == 2
    code, _, err = run(["inspect", issuer.mint()], {"RS_GUARD_ISSUER": "ftp://x/"})
    assert code == 2
    assert "invalid settings" in err
    assert run(["--help"], env)[0] == 0


def test_an_encrypted_token_is_decrypted_then_explained(
    issuer: TokenIssuer, env: dict[str, str], tmp_path: Any
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "decrypt.pem"
    key_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    outer = issuer.encrypt(issuer.mint(expires_in=-600), public_pem)
    code, report = explain(outer, {**env, "RS_GUARD_DECRYPTION_KEY": str(key_file)})
    assert code == 1
    assert failed(report) == {"exp": "expired"}
    assert report["claims"]["iss"] == ISSUER  # the inner token's claims
    code, report = explain(outer, env)  # no decryption key configured
    assert code == 1
    assert "format" in failed(report)


# -- values named, mix-ups recognised (issue 14.3, the inspect half of 14.1) ---------------


def _b64(data: dict[str, Any]) -> str:
    import base64

    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_failed_checks_name_expected_and_actual(issuer: TokenIssuer, env: dict[str, str]) -> None:
    token = issuer.mint(
        claims={"iss": "https://evil.test/", "aud": ["https://other.test", "x"]},
        headers={"typ": "dpop+jwt"},
    )
    code, out, _ = run(["inspect", token], env)
    assert code == 1
    lines = out.splitlines()
    iss = lines.index(next(line for line in lines if "FAIL iss" in line))
    assert lines[iss + 1].split() == ["expected:", f'"{ISSUER}"']
    assert lines[iss + 2].split() == ["actual:", '"https://evil.test/"']
    aud = lines.index(next(line for line in lines if "FAIL aud" in line))
    assert lines[aud + 1].strip() == f'expected: one of "{issuer.audience}"'
    assert lines[aud + 2].strip() == 'actual:   ["https://other.test", "x"]'
    typ = lines.index(next(line for line in lines if "FAIL typ" in line))
    assert lines[typ + 1].strip() == (
        "expected: application/at+jwt or application/jwt or at+jwt or jwt, or absent"
    )
    assert lines[typ + 2].strip() == 'actual:   "dpop+jwt"'


def test_expected_and_actual_in_json_also_for_passing_checks(
    issuer: TokenIssuer, env: dict[str, str]
) -> None:
    _, report = explain(issuer.mint(headers={"alg": "HS256"}), env)
    values = {
        c["name"]: (c["status"], c.get("expected"), c.get("actual")) for c in report["checks"]
    }
    assert values["alg"] == ("fail", '"RS256"', '"HS256"')
    assert values["iss"] == ("pass", f'"{ISSUER}"', f'"{ISSUER}"')


def test_a_missing_trailing_slash_is_pointed_out(issuer: TokenIssuer, env: dict[str, str]) -> None:
    token = issuer.mint(claims={"iss": ISSUER.rstrip("/")})
    code, out, _ = run(["inspect", token], env)
    assert code == 1
    assert (
        f'hint: the token\'s iss "{ISSUER.rstrip("/")}" and the configured issuer "{ISSUER}" '
        "differ only by the trailing slash; iss is compared exactly: "
        f"set RS_GUARD_ISSUER={ISSUER.rstrip('/')}\n"
    ) in out


def test_an_auth0_opaque_token_asks_for_the_audience(
    issuer: TokenIssuer, env: dict[str, str]
) -> None:
    opaque = ".".join(
        [_b64({"alg": "dir", "enc": "A256GCM", "iss": ISSUER}), "", "aXY", "Y3Q", "dGFn"]
    )
    code, out, _ = run(["inspect", opaque], env)
    assert code == 1
    assert "  FAIL format" in out
    assert (
        "hint: this is an opaque token (a JWE with alg dir and enc A256GCM) that only the "
        "authorization server can read; Auth0 issues one when the token is requested without "
        f"an audience: request the token with audience={issuer.audience}\n"
    ) in out
    # without settings, the same recognition
    code, out, _ = run(["inspect", opaque], {})
    assert code == 1
    assert "request the token with audience=<your API identifier>" in out


def test_an_id_token_is_recognised(issuer: TokenIssuer, env: dict[str, str]) -> None:
    id_token = issuer.mint(claims={"aud": "spa-client-id", "nonce": "n-0S6", "at_hash": "77Qm"})
    code, out, _ = run(["inspect", id_token], env)
    assert code == 1
    assert "  FAIL aud" in out
    assert (
        "hint: this looks like an ID token, not an access token: it carries nonce and at_hash, "
        f'and its aud "spa-client-id" is a client id, not this API\'s identifier '
        f'"{issuer.audience}"; send the access token, requested with '
        f"audience={issuer.audience}\n"
    ) in out


def test_a_scope_in_permissions_while_the_api_checks_scope(
    issuer: TokenIssuer, env: dict[str, str]
) -> None:
    token = issuer.mint(scopes=["openid"], permissions=["read:orders"])
    code, out, _ = run(["inspect", token, "--scope", "read:orders"], env)
    assert code == 1
    assert (
        "hint: the token carries read:orders in permissions, but this API checks scope "
        "(enforce_policies is off)\n"
    ) in out
    assert "  FAIL scopes" in out
    assert "verdict: REFUSED 403 insufficient_scope (insufficient_scope)" in out


def test_a_scope_in_scope_while_the_api_checks_permissions(
    issuer: TokenIssuer, env: dict[str, str]
) -> None:
    rbac = {**env, "RS_GUARD_TOKEN_DIALECT": "access_token_authz", "RS_GUARD_ENFORCE_POLICIES": "1"}
    token = issuer.mint(scopes=["read:orders"], permissions=[])
    code, out, _ = run(["inspect", token, "--scope", "read:orders"], rbac)
    assert code == 1
    assert (
        "hint: the token carries read:orders in scope, but this API checks permissions "
        "(enforce_policies is on)\n"
    ) in out
    # granted where the API looks: accepted, route check included
    token = issuer.mint(scopes=[], permissions=["read:orders", "write:orders"])
    code, out, _ = run(["inspect", token, "--scope", "read:orders write:orders"], rbac)
    assert code == 0
    assert "  ok   scopes" in out
    assert "verdict: ACCEPTED (signature and claims; and the route's scopes)" in out
    assert "hint:" not in out
