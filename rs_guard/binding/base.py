"""What every proof-of-possession check is: a :class:`Binding`, which may ask the guard
to remember a :class:`ProofReplay`; :class:`UnboundOnly` when no mechanism is configured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..context import RequestContext
from ..errors import InvalidToken
from ..extract import Credentials
from ..reasons import Reason
from ..token import AccessToken

__all__ = ["Binding", "ProofReplay", "UnboundOnly"]


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
                reason=Reason.UNCHECKED_BINDING,
            )
        return None
