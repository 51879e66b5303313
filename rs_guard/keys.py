"""Verification keys: which JWKs fit the configured algorithm, and the signature check.

A key is usable only when its ``kty`` (and curve) fits the algorithm, its ``use`` is
absent or ``sig``, its ``alg`` absent or equal, its ``key_ops`` absent or with
``verify``, and an RSA modulus has at least 2048 bits (RFC 7518 §3.3). The signature
itself is checked by PyJWT's algorithm objects over ``cryptography``.

Each key carries its RFC 7638 thumbprint, so that a refresh can tell the same material
under a kid from new material under the same kid (:class:`KeyChange`).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from jwt.algorithms import Algorithm, get_default_algorithms
from jwt.exceptions import InvalidKeyError, PyJWTError

from .binding.thumbprint import jwk_thumbprint

__all__ = ["KeyChange", "VerificationKey", "hmac_key", "key_from_jwk", "same_material"]

log = logging.getLogger("rs_guard.keys")

_ALGORITHMS: dict[str, Algorithm] = get_default_algorithms()
_KTY = {"RS256": "RSA", "RS512": "RSA", "PS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}
_CURVES = {"ES256": {"P-256"}, "EdDSA": {"Ed25519", "Ed448"}}
MIN_RSA_BITS = 2048
# RSA padding and digest objects for the RSA algorithms (RFC 7518 §3.3, §3.5: PSS salt
# length equals the digest length), made once rather than per signature.
_RSA_SCHEMES: dict[str, tuple[Any, Any]] = {
    "RS256": (padding.PKCS1v15(), hashes.SHA256()),
    "RS512": (padding.PKCS1v15(), hashes.SHA512()),
    "PS256": (padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()),
}


@dataclass(frozen=True, slots=True, eq=False)
class VerificationKey:
    """One prepared key for one algorithm."""

    kid: str | None
    algorithm: str
    key: Any
    _impl: Algorithm
    #: RFC 7638 SHA-256 thumbprint of the public key (``None`` for the HS256 secret).
    thumbprint: str | None = None

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        scheme = _RSA_SCHEMES.get(self.algorithm)
        try:
            if scheme is not None:
                self.key.verify(signature, signing_input, scheme[0], scheme[1])
                return True
            return bool(self._impl.verify(signing_input, self.key, signature))
        except (InvalidSignature, ValueError, TypeError, PyJWTError):
            return False

    def __repr__(self) -> str:
        return f"VerificationKey(kid={self.kid!r}, algorithm={self.algorithm!r})"


def hmac_key(secret: str) -> VerificationKey:
    """The HS256 key: the API's signing secret, never a JWKS."""
    impl = _ALGORITHMS["HS256"]
    return VerificationKey(None, "HS256", impl.prepare_key(secret), impl)


def key_from_jwk(jwk: Mapping[str, Any], algorithm: str) -> VerificationKey | None:
    """A verification key from one JWK, or ``None`` when it does not fit ``algorithm``."""
    kty = _KTY.get(algorithm)
    if kty is None or jwk.get("kty") != kty:
        return None
    if jwk.get("use", "sig") != "sig":
        return None
    if jwk.get("alg", algorithm) != algorithm:
        return None
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None
    crv = jwk.get("crv")
    if algorithm in _CURVES and (not isinstance(crv, str) or crv not in _CURVES[algorithm]):
        return None
    if any(name in jwk for name in ("d", "p", "q", "k")):
        # A private or symmetric key published in a JWKS is a mistake; never use it.
        return None
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        return None
    impl = _ALGORITHMS[algorithm]
    try:
        key = impl.from_jwk(dict(jwk))
    except (InvalidKeyError, PyJWTError, ValueError, TypeError, KeyError) as exc:
        log.warning("skipping a JWK that cannot be loaded (kid=%r): %s", kid, exc)
        return None
    if kty == "RSA" and key.key_size < MIN_RSA_BITS:
        log.warning("skipping an RSA key of %d bits (kid=%r)", key.key_size, kid)
        return None
    return VerificationKey(kid, algorithm, key, impl, _thumbprint(impl, key))


def _thumbprint(impl: Algorithm, key: Any) -> str | None:
    # From the loaded key's own JWK, so two encodings of one key give one thumbprint.
    try:
        return jwk_thumbprint(impl.to_jwk(key, as_dict=True))
    except (ValueError, TypeError, PyJWTError):
        return None


def same_material(a: VerificationKey, b: VerificationKey | None) -> bool:
    """Whether ``b`` is the same public key as ``a`` (RFC 7638 thumbprints, constant time)."""
    if b is None or a.thumbprint is None or b.thumbprint is None:
        return False
    return hmac.compare_digest(a.thumbprint, b.thumbprint)


@dataclass(frozen=True, slots=True)
class KeyChange:
    """What a key refresh took away: the lookups whose key material is gone or replaced.

    ``kids`` holds the ``kid`` of every key removed or re-keyed under the same kid, and
    ``None`` when the key a token without ``kid`` resolves to was removed or swapped.
    A token verified through one of these lookups must be verified again.
    """

    issuer: str
    kids: frozenset[str | None]
