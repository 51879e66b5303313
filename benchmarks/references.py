"""The reference verifiers of the benchmarks: what a minimal hand-written middleware does.

* :class:`StrictVerifier`: a hand-rolled strict RS256 access-token check directly on
  ``cryptography`` (split, strict base64url, ``json.loads``, ``alg``/``typ``/``crit``,
  the key by ``kid``, the RSA PKCS#1 v1.5 signature, ``exp``/``nbf``/``iat`` as
  numbers, ``iss``, ``aud`` as string or list, ``sub``): the least a strict verifier
  does, written here so that rs_guard is compared with a floor it can actually reach;
* :class:`PyJWTVerifier`: a plain ``jwt.decode`` with audience and issuer.

Both return the claims or raise :class:`Refused`. They are benchmark references, not
security code: no RFC 6750 answers, no key rotation, no proof of possession.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import urllib.request
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})
_TO_STD = bytes.maketrans(b"-_", b"+/")
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


class Refused(Exception):
    """The token is not accepted (the reason is in the message)."""


def fetch_jwks(uri: str) -> dict[str, Any]:
    """The JWKS document at ``uri`` (a loopback test server), once, at start-up."""
    with urllib.request.urlopen(uri, timeout=5) as response:  # noqa: S310 - loopback
        document: dict[str, Any] = json.load(response)
    return document


def _b64(segment: str) -> bytes:
    """Strict unpadded base64url: the standard alphabet's ``+``, ``/`` and ``=`` refused."""
    if "+" in segment or "/" in segment or "=" in segment:
        raise Refused("bad base64url")
    try:
        raw = segment.encode("ascii").translate(_TO_STD)
        return base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Refused("bad base64url") from exc


def _int(value: str) -> int:
    return int.from_bytes(_b64(value), "big")


def rsa_keys(jwks: dict[str, Any]) -> dict[str | None, rsa.RSAPublicKey]:
    """The RS256 keys of a JWKS by ``kid``."""
    keys: dict[str | None, rsa.RSAPublicKey] = {}
    for jwk in jwks.get("keys", []):
        if jwk.get("kty") == "RSA" and jwk.get("use", "sig") == "sig":
            keys[jwk.get("kid")] = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
    return keys


def _object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise Refused("bad JSON") from exc
    if not isinstance(value, dict):
        raise Refused("not a JSON object")
    return value


def _time(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Refused(f"{name} is not a number")
    return float(value)


class StrictVerifier:
    """A strict RS256 access-token check, by hand, on ``cryptography``."""

    def __init__(
        self,
        keys: dict[str | None, rsa.RSAPublicKey],
        issuer: str,
        audience: str,
        leeway: float = 0.0,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway

    def verify(self, token: str, now: float | None = None) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise Refused("not three segments")
        head, body, sig = parts
        header = _object(_b64(head))
        if header.get("alg") != "RS256":
            raise Refused("wrong alg")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in _TYPES):
            raise Refused("wrong typ")
        if "crit" in header:
            raise Refused("crit")
        key = self.keys.get(header.get("kid"))
        if key is None:
            raise Refused("unknown kid")
        try:
            key.verify(_b64(sig), f"{head}.{body}".encode("ascii"), _PKCS1, _SHA256)
        except InvalidSignature as exc:
            raise Refused("bad signature") from exc
        claims = _object(_b64(body))
        now = time.time() if now is None else now
        exp = _time(claims, "exp")
        if exp is None or now >= exp + self.leeway:
            raise Refused("expired")
        nbf = _time(claims, "nbf")
        if nbf is not None and now + self.leeway < nbf:
            raise Refused("not yet valid")
        iat = _time(claims, "iat")
        if iat is not None and iat > now + self.leeway:
            raise Refused("issued in the future")
        if claims.get("iss") != self.issuer:
            raise Refused("wrong issuer")
        aud = claims.get("aud")
        if not (aud == self.audience or (isinstance(aud, list) and self.audience in aud)):
            raise Refused("wrong audience")
        if not isinstance(claims.get("sub"), str):
            raise Refused("no sub")
        return claims


class PyJWTVerifier:
    """``jwt.decode`` with the one key of the JWKS, audience and issuer."""

    def __init__(self, key: rsa.RSAPublicKey, issuer: str, audience: str) -> None:
        import jwt

        self.jwt = jwt
        self.key = key
        self.issuer = issuer
        self.audience = audience

    def verify(self, token: str, now: float | None = None) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = self.jwt.decode(
                token, self.key, algorithms=["RS256"], audience=self.audience, issuer=self.issuer
            )
        except self.jwt.PyJWTError as exc:
            raise Refused(type(exc).__name__) from exc
        return claims
