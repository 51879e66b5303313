"""RFC 7638 JWK thumbprints, RFC 8705 certificate thumbprints, RFC 9449 ``ath``."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from rs_guard.binding.thumbprint import access_token_hash, jwk_thumbprint, x5t_s256
from rs_guard.testing.pop import DPoPKey

# RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
RFC7638_KEY = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F"
        "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_rfc7638_example() -> None:
    assert jwk_thumbprint(RFC7638_KEY) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS256"])
def test_thumbprint_matches_canonical_json(alg: str) -> None:
    jwk = DPoPKey(alg).jwk
    required = {
        "EC": ("crv", "kty", "x", "y"),
        "OKP": ("crv", "kty", "x"),
        "RSA": ("e", "kty", "n"),
    }
    subset = {name: jwk[name] for name in required[jwk["kty"]]}
    canonical = json.dumps(subset, separators=(",", ":"), sort_keys=True).encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    assert jwk_thumbprint({**jwk, "kid": "ignored", "use": "sig"}) == digest


def test_member_needing_escapes_is_hashed_as_json() -> None:
    odd = {"kty": "OKP", "crv": 'a"b', "x": "é"}
    canonical = '{"crv":"a\\"b","kty":"OKP","x":"é"}'.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    assert jwk_thumbprint(odd) == digest


@pytest.mark.parametrize(
    "jwk", [{"kty": "oct", "k": "AAAA"}, {"kty": "EC", "crv": "P-256", "x": "AA"}, {}, {"kty": 1}]
)
def test_thumbprint_refuses_incomplete_keys(jwk: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="key"):
        jwk_thumbprint(jwk)


def test_x5t_and_ath() -> None:
    assert x5t_s256(b"abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    assert access_token_hash("abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
