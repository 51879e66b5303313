"""Helpers shared by the Auth0-settings tests: encryption keys and JWE tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc import jwe
from joserfc.jwk import RSAKey

_REGISTRY = jwe.JWERegistry(
    algorithms=["RSA-OAEP-256", "RSA-OAEP", "A256GCM", "A128GCM"], strict_check_header=False
)


@dataclass(frozen=True)
class EncryptionKey:
    """An RSA key pair the way a user keeps it: private PEM for rs_guard, public for Auth0."""

    private_pem: str
    public_pem: str
    thumbprint: str


def make_encryption_key(bits: int = 2048) -> EncryptionKey:
    key = RSAKey.generate_key(bits)
    return EncryptionKey(
        key.as_pem(private=True).decode(),
        key.as_pem(private=False).decode(),
        key.thumbprint(),
    )


def encrypt(
    inner: str | bytes,
    public_pem: str,
    *,
    alg: str = "RSA-OAEP-256",
    enc: str = "A256GCM",
    **header: Any,
) -> str:
    """A compact JWE of ``inner`` to ``public_pem``, as Auth0 builds a nested token."""
    protected = {"alg": alg, "enc": enc, **header}
    public = RSAKey.import_key(public_pem)
    return jwe.encrypt_compact(protected, inner, public, registry=_REGISTRY)
