"""Test your own API without an Auth0 account: an in-memory issuer and a loopback JWKS server.

Keys are generated when the tests run; no private key ships in this package. The pytest
fixtures (``rs_guard_issuer``, ``rs_guard_env``, ...) are in :mod:`rs_guard.testing.plugin`,
registered automatically when rs_guard is installed.
"""

from __future__ import annotations

from .clock import FrozenClock
from .issuer import (
    IssuerKey,
    TokenIssuer,
    generate_key,
    minted_count,
    minted_tokens,
    tampered,
    unsigned,
)
from .logs import TokenLeakCheck, no_token_in_logs
from .pop import CertificateAuthority, DPoPKey, IssuedCert, make_client_cert
from .server import JWKSServer

__all__ = [
    "CertificateAuthority",
    "DPoPKey",
    "FrozenClock",
    "IssuedCert",
    "IssuerKey",
    "JWKSServer",
    "TokenIssuer",
    "TokenLeakCheck",
    "generate_key",
    "make_client_cert",
    "minted_count",
    "minted_tokens",
    "no_token_in_logs",
    "tampered",
    "unsigned",
]
