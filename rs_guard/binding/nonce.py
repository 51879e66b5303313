"""Stateless server nonces for DPoP proofs (RFC 9449 §8-9).

A nonce is an HMAC of the current time window under a server secret, so that every
worker holding the same secret accepts every other worker's nonces without shared
state. The nonce of the current window and of the one before are accepted: a nonce
lives between one and two ``lifetime`` periods. Set ``dpop.nonce_secret`` when several
processes serve the API; without it each guard draws a random secret of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from .._jose import b64url_encode

__all__ = ["NonceIssuer"]


class NonceIssuer:
    """Makes and checks nonces for one secret and one window length (seconds)."""

    def __init__(self, secret: bytes | None, lifetime: float) -> None:
        self._secret = secret if secret else os.urandom(32)
        self.lifetime = max(1.0, float(lifetime))

    def _for_window(self, window: int) -> str:
        message = b"rs_guard dpop nonce " + window.to_bytes(8, "big", signed=True)
        return b64url_encode(hmac.new(self._secret, message, hashlib.sha256).digest()[:18])

    def current(self, now: float) -> str:
        """The nonce to send in ``DPoP-Nonce`` now."""
        return self._for_window(int(now // self.lifetime))

    def is_valid(self, nonce: object, now: float) -> bool:
        """Whether ``nonce`` is the current window's or the previous window's nonce."""
        if not isinstance(nonce, str) or len(nonce) != 24 or not nonce.isascii():
            return False
        window = int(now // self.lifetime)
        given = nonce.encode()
        current = hmac.compare_digest(given, self._for_window(window).encode())
        previous = hmac.compare_digest(given, self._for_window(window - 1).encode())
        return current or previous
