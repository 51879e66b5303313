"""Proof of possession: checking that the presenter of a token holds the key it is bound to.

A :class:`Binding` runs on every request, after the token itself is verified (and also
on a token-cache hit: a binding is never cached). It may return a :class:`ProofReplay`,
a proof id the guard must remember so that the same proof is not accepted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..config import GuardConfig
from ..context import RequestContext
from ..errors import InvalidToken
from ..extract import Credentials
from ..token import AccessToken

__all__ = ["Binding", "ProofReplay", "UnboundOnly", "make_binding"]


@dataclass(frozen=True, slots=True)
class ProofReplay:
    """A proof id to remember until ``expires_at`` (epoch seconds)."""

    key: str
    expires_at: float


class Binding(Protocol):
    def check(
        self, ctx: RequestContext, credentials: Credentials, token: AccessToken, now: float
    ) -> ProofReplay | None:
        """Raise an :class:`~rs_guard.errors.RSGuardError` when the binding does not hold."""


class UnboundOnly:
    """No proof-of-possession mechanism configured: a bound token cannot be checked.

    A token with a ``cnf`` confirmation is refused (fail closed): accepting
    it would treat a sender-constrained token as a bearer token.
    """

    def check(
        self, ctx: RequestContext, credentials: Credentials, token: AccessToken, now: float
    ) -> ProofReplay | None:
        if token.cnf is not None:
            raise InvalidToken(
                "the token is bound to a key (cnf), and this API is not configured to "
                "check such a binding",
                reason="unchecked_binding",
            )
        return None


def make_binding(config: GuardConfig, clock: Callable[[], float]) -> Binding:
    """The binding check the settings call for: mTLS (RFC 8705), DPoP (RFC 9449) or none."""
    if config.mtls_enabled:
        from .mtls import MTLSBinding

        return MTLSBinding(config)
    if config.dpop_enabled:
        from .dpop import DPoPBinding

        return DPoPBinding(config, clock)
    return UnboundOnly()
