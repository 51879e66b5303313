"""Nested JWE access tokens (token_encryption, compact-nested-jwe): decrypt, then verify."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from auth0_helpers import EncryptionKey, encrypt
from joserfc import jwe as joserfc_jwe

from rs_guard import AsyncGuard, ConfigError, Guard, InvalidToken, RequestContext, render_error
from rs_guard._jose import b64url_decode, b64url_encode
from rs_guard.config import TokenEncryption
from rs_guard.loaders import load_config
from rs_guard.testing import TokenIssuer


def request(token: str) -> RequestContext:
    return RequestContext("GET", "https://api.test/x", [("authorization", f"Bearer {token}")])


def encrypted_config(issuer: TokenIssuer, *keys: EncryptionKey, **encryption: Any) -> Any:
    return issuer.config(
        token_encryption=TokenEncryption(
            decryption_keys=tuple(k.private_pem for k in keys), **encryption
        )
    )


@pytest.fixture
def guard(issuer: TokenIssuer, clock: Any, enc_key: EncryptionKey) -> Guard:
    return Guard(encrypted_config(issuer, enc_key), transport=issuer.transport(), clock=clock)


@pytest.fixture
def decryptions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts calls into joserfc's decryption (rs_guard imports it at call time)."""
    calls: list[str] = []
    real = joserfc_jwe.decrypt_compact

    def spy(value: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(value)
        return real(value, *args, **kwargs)

    monkeypatch.setattr(joserfc_jwe, "decrypt_compact", spy)
    return calls


def refused(guard: Guard, token: str, reason: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        guard.authenticate(request(token))
    assert caught.value.reason == reason, caught.value.description
    assert token not in caught.value.description
    return caught.value


def replace_segment(token: str, index: int, value: bytes) -> str:
    parts = token.split(".")
    parts[index] = b64url_encode(value)
    return ".".join(parts)


def with_header(token: str, **changes: Any) -> str:
    header = json.loads(b64url_decode(token.split(".")[0]))
    header.update(changes)
    header = {k: v for k, v in header.items() if v is not None}
    return replace_segment(token, 0, json.dumps(header).encode())


# -- the happy path ------------------------------------------------------------------------


@pytest.mark.parametrize("cty", [None, "JWT", "at+jwt"])
def test_nested_jwe_is_decrypted_then_verified(
    guard: Guard, issuer: TokenIssuer, enc_key: EncryptionKey, cty: str | None
) -> None:
    inner = issuer.mint(scopes=["read:a"])
    extra = {"cty": cty} if cty else {}
    outer = encrypt(inner, enc_key.public_pem, kid=enc_key.thumbprint, **extra)
    token = guard.authenticate(request(outer))
    assert token.scopes == {"read:a"}
    assert token.subject == "auth0|user-1"
    # The presented token stays the token (DPoP's ath is computed over it).
    assert token.raw == outer
    assert token.header["alg"] == "RS256"  # the inner JWS header


def test_unknown_non_critical_header_parameters_are_ignored(
    guard: Guard, issuer: TokenIssuer, enc_key: EncryptionKey
) -> None:
    """RFC 7516 §4: parameters not understood (x5t, private ones) are ignored."""
    outer = encrypt(issuer.mint(), enc_key.public_pem, x5t="dGh1bWJwcmludA", **{"x-tenant": "acme"})
    verified = guard.authenticate(request(outer))
    assert verified.raw == outer


def test_async_guard_decrypts_too(issuer: TokenIssuer, clock: Any, enc_key: EncryptionKey) -> None:
    guard = AsyncGuard(encrypted_config(issuer, enc_key), transport=issuer.transport(), clock=clock)
    outer = encrypt(issuer.mint(scopes=["x"]), enc_key.public_pem)
    assert asyncio.run(guard.authenticate(request(outer))).scopes == {"x"}


def test_cache_is_keyed_by_the_outer_token_and_skips_decryption(
    guard: Guard, issuer: TokenIssuer, enc_key: EncryptionKey, decryptions: list[str]
) -> None:
    inner = issuer.mint()
    outer = encrypt(inner, enc_key.public_pem)
    first = guard.authenticate(request(outer))
    second = guard.authenticate(request(outer))
    assert second is first
    assert len(decryptions) == 1
    assert outer in [t.raw for t in [first]]
    # The inner JWS, although its signature is good, is not accepted on its own.
    refused(guard, inner, "not_encrypted")


def test_inner_token_is_verified_as_usual(
    guard: Guard, issuer: TokenIssuer, enc_key: EncryptionKey
) -> None:
    expired = encrypt(issuer.mint(claims={"exp": 1}), enc_key.public_pem)
    refused(guard, expired, "expired")
    other = TokenIssuer(issuer=issuer.issuer, clock=issuer.clock)  # same iss, foreign key
    forged = encrypt(other.mint(headers={"kid": issuer.current.kid}), enc_key.public_pem)
    refused(guard, forged, "bad_signature")
    wrong_iss = encrypt(issuer.mint(claims={"iss": "https://evil.test/"}), enc_key.public_pem)
    refused(guard, wrong_iss, "wrong_issuer")


# -- refused before any decryption work ------------------------------------------------------


def test_plain_signed_token_is_refused_when_encryption_is_configured(
    guard: Guard, issuer: TokenIssuer, decryptions: list[str]
) -> None:
    refused(guard, issuer.mint(), "not_encrypted")
    assert decryptions == []
    assert issuer.jwks_requests == 0


@pytest.mark.parametrize(
    ("alg", "enc"),
    [("RSA-OAEP", "A256GCM"), ("RSA-OAEP-256", "A128GCM")],
)
def test_other_alg_or_enc_is_refused_before_decryption(
    guard: Guard,
    issuer: TokenIssuer,
    enc_key: EncryptionKey,
    decryptions: list[str],
    alg: str,
    enc: str,
) -> None:
    outer = encrypt(issuer.mint(), enc_key.public_pem, alg=alg, enc=enc)
    decryptions.clear()
    refused(guard, outer, "wrong_algorithm")
    assert decryptions == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"zip": "DEF"}, "unsupported_header"),
        ({"crit": ["exp"]}, "unsupported_header"),
        ({"jku": "https://evil.test/keys"}, "unsupported_header"),
        ({"jwk": {"kty": "RSA"}}, "unsupported_header"),
        ({"x5u": "https://evil.test/cert"}, "unsupported_header"),
        ({"epk": {"kty": "EC"}}, "unsupported_header"),
        ({"p2s": "AAAA", "p2c": 1000000}, "unsupported_header"),
        ({"alg": "dir"}, "wrong_algorithm"),
        ({"alg": "none"}, "wrong_algorithm"),
        ({"alg": None}, "wrong_algorithm"),
        ({"cty": "text/plain"}, "invalid_jwe"),
        ({"typ": 5}, "invalid_jwe"),
        ({"kid": 7}, "invalid_jwe"),
    ],
)
def test_bad_jwe_headers_are_refused_before_decryption(
    guard: Guard,
    issuer: TokenIssuer,
    enc_key: EncryptionKey,
    decryptions: list[str],
    changes: dict[str, Any],
    reason: str,
) -> None:
    outer = with_header(encrypt(issuer.mint(), enc_key.public_pem), **changes)
    refused(guard, outer, reason)
    assert decryptions == []


@pytest.mark.parametrize(
    ("index", "value", "reason"),
    [
        (0, b"not json", "invalid_jwe"),
        (0, b'{"alg":"RSA-OAEP-256","alg":"dir","enc":"A256GCM"}', "invalid_jwe"),
        (1, b"\x00" * 128, "invalid_jwe"),  # encrypted key of a 1024-bit key
        (2, b"\x00" * 16, "invalid_jwe"),  # GCM wants a 96-bit IV
        (4, b"\x00" * 8, "invalid_jwe"),  # truncated tag
    ],
)
def test_impossible_segments_are_refused_before_decryption(
    guard: Guard,
    issuer: TokenIssuer,
    enc_key: EncryptionKey,
    decryptions: list[str],
    index: int,
    value: bytes,
    reason: str,
) -> None:
    outer = replace_segment(encrypt(issuer.mint(), enc_key.public_pem), index, value)
    refused(guard, outer, reason)
    assert decryptions == []


def test_oversized_token_is_refused_before_decryption(
    issuer: TokenIssuer, clock: Any, enc_key: EncryptionKey, decryptions: list[str]
) -> None:
    config = issuer.config(
        max_token_bytes=4096,
        token_encryption=TokenEncryption(decryption_keys=(enc_key.private_pem,)),
    )
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    big = encrypt(issuer.mint(claims={"pad": "x" * 5000}), enc_key.public_pem)
    refused(guard, big, "token_too_large")
    assert decryptions == []


def test_malformed_shapes(guard: Guard) -> None:
    refused(guard, "a.b.c.d", "invalid_jwe")
    refused(guard, "a.b.c.d.e.f", "invalid_jwe")
    refused(guard, "a..c.d.e", "invalid_jwe")
    refused(guard, "eyJ9.e30.AAAA.AAAA.AAAA", "invalid_jwe")


# -- decryption failures ---------------------------------------------------------------------


def test_tampered_ciphertext_fails_closed(
    guard: Guard, issuer: TokenIssuer, enc_key: EncryptionKey
) -> None:
    outer = encrypt(issuer.mint(), enc_key.public_pem)
    parts = outer.split(".")
    ciphertext = bytearray(b64url_decode(parts[3]))
    ciphertext[0] ^= 1
    refused(guard, replace_segment(outer, 3, bytes(ciphertext)), "decryption_failed")


def test_tampered_protected_header_breaks_the_tag(
    guard: Guard, issuer: TokenIssuer, enc_key: EncryptionKey
) -> None:
    # The protected header is the GCM additional data: a change that passes the header
    # checks (an added cty) still fails decryption.
    outer = with_header(encrypt(issuer.mint(), enc_key.public_pem), cty="JWT")
    refused(guard, outer, "decryption_failed")


def test_token_for_another_key_is_refused(
    guard: Guard, issuer: TokenIssuer, enc_key2: EncryptionKey
) -> None:
    outer = encrypt(issuer.mint(), enc_key2.public_pem, kid=enc_key2.thumbprint)
    refused(guard, outer, "decryption_failed")


@pytest.mark.parametrize(
    ("plaintext", "reason"),
    [
        (b"hello", "invalid_jwe"),
        (b"\xff\xfe.a.b", "invalid_jwe"),
        (b"a.b.c", "malformed"),
        (b"eyJhbGciOiJub25lIn0.e30.", "wrong_algorithm"),
    ],
)
def test_plaintext_must_be_a_signed_jwt(
    guard: Guard, enc_key: EncryptionKey, plaintext: bytes, reason: str
) -> None:
    refused(guard, encrypt(plaintext, enc_key.public_pem), reason)


def test_doubly_encrypted_token_is_refused(
    guard: Guard, issuer: TokenIssuer, enc_key: EncryptionKey
) -> None:
    once = encrypt(issuer.mint(), enc_key.public_pem)
    refused(guard, encrypt(once, enc_key.public_pem), "invalid_jwe")


# -- several keys, chosen by kid -------------------------------------------------------------


def test_rotation_two_keys_chosen_by_kid(
    issuer: TokenIssuer,
    clock: Any,
    enc_key: EncryptionKey,
    enc_key2: EncryptionKey,
    decryptions: list[str],
) -> None:
    config = encrypted_config(issuer, enc_key, enc_key2, kid="auth0-kid-new")
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    # The key named by its thumbprint is the only one tried.
    second = encrypt(issuer.mint(), enc_key2.public_pem, kid=enc_key2.thumbprint)
    verified = guard.authenticate(request(second))
    assert verified.subject == "auth0|user-1"
    assert len(decryptions) == 1
    # The configured kid names the first key (no public PEM given).
    first = encrypt(issuer.mint(scopes=["a"]), enc_key.public_pem, kid="auth0-kid-new")
    verified = guard.authenticate(request(first))
    assert verified.scopes == {"a"}
    # A kid no key is known by (an older Auth0 key id) is tried with each key.
    decryptions.clear()
    old = encrypt(issuer.mint(scopes=["b"]), enc_key2.public_pem, kid="auth0-kid-old")
    verified = guard.authenticate(request(old))
    assert verified.scopes == {"b"}
    assert len(decryptions) == 1  # not with the key that carries the configured kid
    # A kid naming the wrong key is not retried with the others.
    decryptions.clear()
    mislabelled = encrypt(issuer.mint(scopes=["c"]), enc_key2.public_pem, kid=enc_key.thumbprint)
    refused(guard, mislabelled, "decryption_failed")
    assert len(decryptions) == 1


@pytest.mark.parametrize("kid", ["auth0-kid-other", None])
def test_unknown_or_absent_kid_costs_no_rsa_work_when_every_key_has_a_kid(
    issuer: TokenIssuer,
    clock: Any,
    enc_key: EncryptionKey,
    decryptions: list[str],
    kid: str | None,
) -> None:
    """Junk JWE is refused before any RSA operation once the keys carry kids (issue 11.11)."""
    config = encrypted_config(issuer, enc_key, kid="auth0-kid", public_key_pem=enc_key.public_pem)
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    extra = {"kid": kid} if kid is not None else {}
    junk = encrypt(issuer.mint(), enc_key.public_pem, **extra)
    error = refused(guard, junk, "unknown_kid")
    assert error.description == "the encrypted token is not for a key this API holds (kid)"
    assert decryptions == []
    good = encrypt(issuer.mint(scopes=["a"]), enc_key.public_pem, kid="auth0-kid")
    verified = guard.authenticate(request(good))
    assert verified.scopes == {"a"}
    assert len(decryptions) == 1


def test_eight_keys_with_kids_cost_nothing_for_junk(
    issuer: TokenIssuer,
    clock: Any,
    enc_key: EncryptionKey,
    enc_key2: EncryptionKey,
    decryptions: list[str],
) -> None:
    """Without a configured kid, an unknown kid is tried with each key; with one, not at all."""
    keys = (enc_key,) * 8
    junk = encrypt(issuer.mint(), enc_key2.public_pem, kid="nobody")  # for a stranger's key
    unnamed = Guard(encrypted_config(issuer, *keys), transport=issuer.transport(), clock=clock)
    refused(unnamed, junk, "decryption_failed")
    assert len(decryptions) == 8
    decryptions.clear()
    named = Guard(
        encrypted_config(issuer, enc_key, kid="auth0-kid"),
        transport=issuer.transport(),
        clock=clock,
    )
    refused(named, junk, "unknown_kid")
    assert decryptions == []


def test_configured_kid_follows_the_public_pem(
    issuer: TokenIssuer, clock: Any, enc_key: EncryptionKey, enc_key2: EncryptionKey
) -> None:
    config = encrypted_config(
        issuer, enc_key, enc_key2, kid="current", public_key_pem=enc_key2.public_pem
    )
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    outer = encrypt(issuer.mint(), enc_key2.public_pem, kid="current")
    verified = guard.authenticate(request(outer))
    assert verified.raw == outer


# -- configuration ---------------------------------------------------------------------------


def test_encryption_without_a_private_key_fails_at_start(issuer: TokenIssuer) -> None:
    with pytest.raises(ConfigError, match="decryption_keys"):
        Guard(issuer.config(token_encryption=TokenEncryption()))


def test_key_not_matching_the_auth0_public_key_fails_at_start(
    issuer: TokenIssuer, enc_key: EncryptionKey, enc_key2: EncryptionKey
) -> None:
    config = encrypted_config(issuer, enc_key, public_key_pem=enc_key2.public_pem)
    with pytest.raises(ConfigError, match="private half"):
        Guard(config)


def test_certificate_as_public_key_is_accepted(
    issuer: TokenIssuer, clock: Any, enc_key: EncryptionKey
) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    private = serialization.load_pem_private_key(enc_key.private_pem.encode(), None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api")])
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(private, hashes.SHA256())  # type: ignore[arg-type]
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    config = encrypted_config(issuer, enc_key, public_key_pem=pem, kid="k")
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    outer = encrypt(issuer.mint(), enc_key.public_pem, kid="k")
    verified = guard.authenticate(request(outer))
    assert verified.raw == outer


@pytest.mark.parametrize("which", ["public", "garbage", "short"])
def test_unusable_decryption_keys_fail_at_start(
    issuer: TokenIssuer, enc_key: EncryptionKey, which: str
) -> None:
    if which == "short":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        short = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
        pem = short.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    elif which == "public":
        pem = enc_key.public_pem
    else:
        pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ConfigError, match=r"decryption_keys\[0\]"):
        Guard(issuer.config(token_encryption=TokenEncryption(decryption_keys=(pem,))))


def test_loaded_from_the_management_json_and_rs_guard_decryption_key(
    tmp_path: Path, issuer: TokenIssuer, clock: Any, enc_key: EncryptionKey
) -> None:
    resource_server = {
        "id": "rs-1",
        "identifier": issuer.audience,
        "signing_alg": "RS256",
        "token_encryption": {
            "format": "compact-nested-jwe",
            "encryption_key": {
                "name": "my key",
                "alg": "RSA-OAEP-256",
                "kid": "kid-from-auth0",
                "pem": enc_key.public_pem,
            },
        },
    }
    (tmp_path / "api.json").write_text(json.dumps(resource_server))
    (tmp_path / "key.pem").write_text(enc_key.private_pem)
    config = load_config(
        {
            "RS_GUARD_CONFIG": str(tmp_path / "api.json"),
            "RS_GUARD_ISSUER": issuer.issuer,
            "RS_GUARD_DECRYPTION_KEY": str(tmp_path / "key.pem"),
        }
    )
    assert config.token_encryption is not None
    assert config.token_encryption.kid == "kid-from-auth0"
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    outer = encrypt(issuer.mint(scopes=["r"]), enc_key.public_pem, kid="kid-from-auth0")
    verified = guard.authenticate(request(outer))
    assert verified.scopes == {"r"}
    assert enc_key.private_pem not in repr(config)


def test_dpop_ath_is_computed_over_the_presented_jwe(
    issuer: TokenIssuer, clock: Any, enc_key: EncryptionKey
) -> None:
    from rs_guard.config import ProofOfPossession
    from rs_guard.errors import InvalidDPoPProof
    from rs_guard.testing.pop import DPoPKey

    config = issuer.config(
        proof_of_possession=ProofOfPossession("dpop", required=True),
        token_encryption=TokenEncryption(decryption_keys=(enc_key.private_pem,)),
    )
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    key = DPoPKey(clock=clock)
    inner = issuer.mint(cnf=key.cnf)
    outer = encrypt(inner, enc_key.public_pem)
    url = "https://api.test/x"

    def dpop_request(proof: str) -> RequestContext:
        headers = [("authorization", f"DPoP {outer}"), ("dpop", proof)]
        return RequestContext("GET", url, headers)

    token = guard.authenticate(dpop_request(key.proof("GET", url, access_token=outer)))
    assert token.raw == outer
    with pytest.raises(InvalidDPoPProof):
        guard.authenticate(dpop_request(key.proof("GET", url, access_token=inner)))


def test_not_text_is_refused(guard: Guard) -> None:
    with pytest.raises(InvalidToken) as caught:
        guard.verify(b"a.b.c.d.e")  # type: ignore[arg-type]
    assert caught.value.reason == "malformed"


def test_two_decryption_key_files_for_rotation(
    tmp_path: Path,
    issuer: TokenIssuer,
    clock: Any,
    enc_key: EncryptionKey,
    enc_key2: EncryptionKey,
) -> None:
    (tmp_path / "old.pem").write_text(enc_key.private_pem)
    (tmp_path / "new.pem").write_text(enc_key2.private_pem)
    config = load_config(
        {
            "RS_GUARD_ISSUER": issuer.issuer,
            "RS_GUARD_AUDIENCE": issuer.audience,
            "RS_GUARD_DECRYPTION_KEY": f"{tmp_path / 'new.pem'},{tmp_path / 'old.pem'}",
        }
    )
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    for key in (enc_key, enc_key2):
        outer = encrypt(issuer.mint(), key.public_pem)
        verified = guard.authenticate(request(outer))
        assert verified.raw == outer


# -- nothing of the JWE header is echoed -------------------------------------------------------

ODD = 'q9Z"\\<evil>\u2028\u00a0\x7f' + "A" * 11_000


@pytest.mark.parametrize(
    "changes",
    [
        {"alg": ODD},
        {"enc": ODD},
        {"alg": ODD, "enc": ODD},
        {"alg": "dir", "enc": ODD},
        {"cty": ODD},
        {"cty": "q9Z-odd"},
        {"typ": {"q9Z": ODD}},
        {"kid": ODD},
        {"kid": "q9Z-odd"},
        {"zip": ODD},
        {"crit": [ODD]},
    ],
    ids=lambda c: "+".join(f"{k}={str(v)[:8]!r}" for k, v in c.items()),
)
def test_jwe_header_text_is_never_echoed(
    issuer: TokenIssuer, clock: Any, enc_key: EncryptionKey, changes: dict[str, Any]
) -> None:
    config = issuer.config(
        max_token_bytes=64 * 1024,
        token_encryption=TokenEncryption(decryption_keys=(enc_key.private_pem,), kid="k"),
    )
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    outer = with_header(encrypt(issuer.mint(), enc_key.public_pem, kid="k"), **changes)
    with pytest.raises(InvalidToken) as caught:
        guard.authenticate(request(outer))
    description = caught.value.description
    _, headers, body = render_error(caught.value, guard.challenge)
    challenge = dict(headers)["www-authenticate"]
    for text in (description, challenge, body.decode()):
        assert "q9Z" not in text
        assert "AAAAAAAA" not in text
    assert len(description) < 120
    assert len(challenge) < 200
    assert challenge == f'Bearer error="invalid_token", error_description="{description}"'


def test_a_registered_jwe_algorithm_is_named(
    guard: Guard, issuer: TokenIssuer, enc_key: EncryptionKey
) -> None:
    outer = with_header(encrypt(issuer.mint(), enc_key.public_pem), alg="dir", enc="A128GCM")
    error = refused(guard, outer, "wrong_algorithm")
    assert error.description == (
        "the token is encrypted with dir/A128GCM; this API accepts RSA-OAEP-256/A256GCM only"
    )
