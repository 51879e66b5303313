"""Proof of possession: checking that the presenter of a token holds the key it is bound to.

A :class:`Binding` runs on every request, after the token itself is verified (and also
on a token-cache hit: a binding is never cached). It may return a :class:`ProofReplay`,
a proof id the guard must remember so that the same proof is not accepted twice.
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import GuardConfig
from .base import Binding, ProofReplay, UnboundOnly

__all__ = ["Binding", "ProofReplay", "UnboundOnly", "make_binding"]


def make_binding(config: GuardConfig, clock: Callable[[], float]) -> Binding:
    """The binding check the settings call for: mTLS (RFC 8705), DPoP (RFC 9449) or none."""
    if config.mtls_enabled:
        from .mtls import MTLSBinding

        return MTLSBinding(config)
    if config.dpop_enabled:
        from .dpop import DPoPBinding

        return DPoPBinding(config, clock)
    return UnboundOnly()
