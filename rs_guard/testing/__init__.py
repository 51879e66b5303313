"""Test your own API without an Auth0 account: an in-memory issuer and a loopback JWKS server.

Keys are generated when the tests run; no private key ships in this package.
"""

from __future__ import annotations

from .issuer import IssuerKey, TokenIssuer, generate_key
from .server import JWKSServer

__all__ = ["IssuerKey", "JWKSServer", "TokenIssuer", "generate_key"]
