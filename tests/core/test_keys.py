"""Which JWKs are used (RFC 7517 §4, RFC 7518 §3/§6, RFC 8725 §3.1) and the signature check."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms

from rs_guard.binding.thumbprint import jwk_thumbprint
from rs_guard.keys import hmac_key, key_from_jwk, same_material
from rs_guard.testing import TokenIssuer, generate_key

ALGS = get_default_algorithms()


def public_jwk(private_key: Any, algorithm: str, **extra: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(ALGS[algorithm].to_jwk(private_key.public_key()))
    jwk.update(extra)
    return jwk


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_each_algorithm_loads_its_own_key_type(issuers_by_alg: dict[str, TokenIssuer]) -> None:
    for alg, issuer in issuers_by_alg.items():
        if alg == "HS256":
            continue
        jwk = issuer.current.public_jwk()
        key = key_from_jwk(jwk, alg)
        assert key is not None
        assert (key.kid, key.algorithm) == (issuer.current.kid, alg)
        assert alg in repr(key)


@pytest.mark.parametrize(
    ("jwk_alg", "configured"),
    [("RS256", "ES256"), ("ES256", "RS256"), ("EdDSA", "ES256"), ("RS256", "EdDSA")],
)
def test_a_key_of_another_type_is_skipped(
    issuers_by_alg: dict[str, TokenIssuer], jwk_alg: str, configured: str
) -> None:
    jwk = issuers_by_alg[jwk_alg].current.public_jwk()
    jwk.pop("alg")
    assert key_from_jwk(jwk, configured) is None


@pytest.mark.parametrize(
    "change",
    [
        {"use": "enc"},
        {"alg": "RS512"},
        {"alg": "PS256"},
        {"key_ops": ["encrypt"]},
        {"key_ops": "verify"},
        {"kty": "oct"},
        {"kid": 7},
        {"n": "not-base64!"},
        {"e": ""},
    ],
)
def test_keys_filtered_by_kty_use_alg_key_ops(rsa_key: Any, change: dict[str, Any]) -> None:
    jwk = public_jwk(rsa_key, "RS256", kid="k1")
    assert key_from_jwk(jwk, "RS256") is not None
    jwk.update(change)
    assert key_from_jwk(jwk, "RS256") is None


def test_absent_use_alg_key_ops_are_fine_and_verify_op_is_accepted(rsa_key: Any) -> None:
    assert key_from_jwk(public_jwk(rsa_key, "RS256"), "RS256") is not None
    jwk = public_jwk(rsa_key, "RS256", use="sig", alg="RS256", key_ops=["verify"])
    assert key_from_jwk(jwk, "RS256") is not None
    # The same RSA key may serve RS512 and PS256 when the JWK does not pin its alg.
    assert key_from_jwk(public_jwk(rsa_key, "RS256"), "PS256") is not None


def test_rsa_keys_below_2048_bits_are_skipped() -> None:
    small = generate_key("RS256", rsa_bits=1024)
    assert key_from_jwk(small.public_jwk(), "RS256") is None


def test_private_keys_in_a_jwks_are_never_used(rsa_key: Any) -> None:
    private = json.loads(ALGS["RS256"].to_jwk(rsa_key))
    assert "d" in private
    assert key_from_jwk(private, "RS256") is None
    ec_private = json.loads(ALGS["ES256"].to_jwk(ec.generate_private_key(ec.SECP256R1())))
    assert key_from_jwk(ec_private, "ES256") is None


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP256K1()])
def test_es256_needs_p256(curve: ec.EllipticCurve) -> None:
    jwk = public_jwk(ec.generate_private_key(curve), "ES256")
    assert key_from_jwk(jwk, "ES256") is None


def test_eddsa_takes_ed25519_and_ed448() -> None:
    jwk = public_jwk(ed448.Ed448PrivateKey.generate(), "EdDSA", kid="ed448")
    assert key_from_jwk(jwk, "EdDSA") is not None
    jwk["crv"] = "X25519"
    assert key_from_jwk(jwk, "EdDSA") is None


@pytest.mark.parametrize("alg", ["RS256", "RS512", "PS256", "ES256", "EdDSA"])
def test_signature_check(alg: str, issuers_by_alg: dict[str, TokenIssuer]) -> None:
    signer = issuers_by_alg["RS256" if alg in ("RS512", "PS256") else alg].current
    jwk = signer.public_jwk()
    jwk.pop("alg")
    key = key_from_jwk(jwk, alg)
    assert key is not None
    signature = ALGS[alg].sign(b"header.payload", signer.private_key)
    valid = key.verify(b"header.payload", signature)
    assert valid is True
    assert not key.verify(b"header.payloaD", signature)
    assert not key.verify(b"header.payload", signature[:-1])
    assert not key.verify(b"header.payload", b"")
    assert not key.verify(b"header.payload", b"\x00" * len(signature))


def test_rs256_and_ps256_signatures_do_not_cross(rsa_key: Any) -> None:
    jwk = public_jwk(rsa_key, "RS256")
    rs = key_from_jwk(jwk, "RS256")
    ps = key_from_jwk(jwk, "PS256")
    assert rs is not None
    assert ps is not None
    rs_sig = ALGS["RS256"].sign(b"data", rsa_key)
    ps_sig = ALGS["PS256"].sign(b"data", rsa_key)
    valid = rs.verify(b"data", rs_sig)
    assert valid is True
    valid = ps.verify(b"data", ps_sig)
    assert valid is True
    assert not rs.verify(b"data", ps_sig)
    assert not ps.verify(b"data", rs_sig)


def test_hmac_key() -> None:
    key = hmac_key("0123456789abcdef")
    signature = ALGS["HS256"].sign(b"data", ALGS["HS256"].prepare_key("0123456789abcdef"))
    valid = key.verify(b"data", signature)
    assert valid is True
    assert not key.verify(b"data", signature[:-1] + bytes([signature[-1] ^ 1]))
    assert not hmac_key("0123456789abcdeF").verify(b"data", signature)


@pytest.mark.parametrize("crv", [["P-256"], {"P-256": 1}, None, 256])
def test_a_curve_of_the_wrong_type_is_skipped(crv: Any) -> None:
    jwk = public_jwk(ec.generate_private_key(ec.SECP256R1()), "ES256")
    jwk["crv"] = crv
    assert key_from_jwk(jwk, "ES256") is None


_VALUES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=40)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)
    | st.sampled_from(["AQAB", "AAAA", "", "A" * 400, "P-256", "Ed25519", "sig", "verify"])
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.sampled_from(
        [
            ("RSA", None, "RS256"),
            ("RSA", None, "PS256"),
            ("EC", "P-256", "ES256"),
            ("OKP", "Ed25519", "EdDSA"),
        ]
    ),
    st.dictionaries(
        st.sampled_from(["n", "e", "x", "y", "crv", "use", "alg", "key_ops", "kid"]),
        _VALUES,
        max_size=5,
    ),
)
def test_any_published_jwk_is_a_key_or_skipped(
    base: tuple[str, str | None, str], fields: dict[str, Any]
) -> None:
    kty, crv, alg = base
    jwk: dict[str, Any] = {"kty": kty, **({"crv": crv} if crv else {}), **fields}
    key = key_from_jwk(jwk, alg)
    assert key is None or key.algorithm == alg


def test_a_key_carries_its_rfc7638_thumbprint(rsa_key: Any) -> None:
    jwk = public_jwk(rsa_key, "RS256", kid="a", use="sig")
    key = key_from_jwk(jwk, "RS256")
    assert key is not None
    assert key.thumbprint == jwk_thumbprint(jwk)
    # The same material published under another kid, with other optional members.
    again = key_from_jwk(public_jwk(rsa_key, "RS256", kid="b", alg="RS256"), "RS256")
    assert same_material(key, again)
    other = key_from_jwk(public_jwk(generate_key("RS256").private_key, "RS256"), "RS256")
    assert not same_material(key, other)
    assert not same_material(key, None)
    assert hmac_key("s" * 32).thumbprint is None
    assert not same_material(hmac_key("s" * 32), hmac_key("s" * 32))  # never by default
