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
