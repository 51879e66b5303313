"""The digests that bind a token to a key: RFC 8705 §3.1, RFC 7638 and RFC 9449 §4.2.

* :func:`x5t_s256`: the ``cnf["x5t#S256"]`` value of a DER certificate (RFC 8705 §3.1);
* :func:`jwk_thumbprint`: the RFC 7638 SHA-256 thumbprint of a public JWK, the
  ``cnf.jkt`` value of a DPoP-bound token (RFC 9449 §6.1);
* :func:`access_token_hash`: the ``ath`` claim of a DPoP proof (RFC 9449 §4.2).

All return unpadded base64url text; compare them with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from .._jose import b64url_encode

__all__ = ["REQUIRED_JWK_MEMBERS", "access_token_hash", "jwk_thumbprint", "x5t_s256"]

#: RFC 7638 §3.2: the members of each key type that enter the thumbprint.
REQUIRED_JWK_MEMBERS: Mapping[str, tuple[str, ...]] = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


_PLAIN = re.compile(r"[A-Za-z0-9_\-]+")


def x5t_s256(der: bytes) -> str:
    """base64url(SHA-256(DER certificate)), RFC 8705 §3.1."""
    return b64url_encode(hashlib.sha256(der).digest())


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public key; ValueError if it cannot have one.

    Only the required members, in lexicographic order, without whitespace (§3.1-3.3).
    """
    kty = jwk.get("kty")
    members = REQUIRED_JWK_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise ValueError("the key type is not RSA, EC or OKP")
    parts: list[str] = []
    for name in members:  # already in lexicographic order
        value = jwk.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"the key lacks the {name!r} member")
        # base64url values and curve names need no JSON escaping; anything else is
        # escaped exactly as RFC 7638 §3.3 / RFC 7159 asks.
        text = value if _PLAIN.fullmatch(value) else json.dumps(value, ensure_ascii=False)[1:-1]
        parts.append(f'"{name}":"{text}"')
    canonical = "{" + ",".join(parts) + "}"
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).digest())


def access_token_hash(token: str) -> str:
    """base64url(SHA-256(ASCII access token)), the ``ath`` claim (RFC 9449 §4.2)."""
    return b64url_encode(hashlib.sha256(token.encode("ascii", "replace")).digest())
