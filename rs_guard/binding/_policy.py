"""When a binding is required, and which ``cnf`` members a binding can check.

``required: true`` (or ``required_for: all_clients``): every token must be bound.

``required_for: public_clients``: a resource server sees only the token, and an Auth0
access token does not say how its client authenticated. The one thing a token can show
is that it came from the client-credentials grant (``gty: client-credentials``, a
``sub`` ending in ``@clients``, or an RFC 9068 token whose ``sub`` is its ``client_id``):
RFC 6749 §4.4 allows that grant to confidential clients only. So such a token may be
unbound; every other token might come from a public client and must be bound (fail
closed). An API whose confidential web apps send user tokens should therefore bind
those too, or leave ``required_for`` unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import ProofOfPossession
from ..errors import InvalidToken
from ..reasons import Reason
from ..token import AccessToken

__all__ = ["binding_required", "check_members", "refuse_as_bearer"]


def binding_required(pop: ProofOfPossession | None, token: AccessToken) -> bool:
    """Whether ``token`` must carry a binding under these settings (module docstring)."""
    if pop is None:
        return False
    if pop.required or pop.required_for == "all_clients":
        return True
    if pop.required_for == "public_clients":
        return not token.is_client
    return False


def check_members(cnf: Mapping[str, Any], member: str, mechanism: str) -> Any:
    """The value of ``cnf[member]``; any other confirmation method is refused (fail closed)."""
    others = sorted(name for name in cnf if name != member)
    if "jkt" in others:
        raise InvalidToken(
            "the token is bound to a DPoP key (cnf.jkt), and this API checks "
            f"{mechanism} bindings only",
            reason=Reason.UNCHECKED_BINDING,
        )
    if "x5t#S256" in others:
        raise InvalidToken(
            "the token is bound to a client certificate (cnf x5t#S256), and this API "
            f"checks {mechanism} bindings only",
            reason=Reason.UNCHECKED_BINDING,
        )
    if others or member not in cnf:
        raise InvalidToken(
            "the token's cnf claim holds a confirmation method this API cannot check",
            reason=Reason.UNCHECKED_BINDING,
        )
    value = cnf[member]
    if not isinstance(value, str) or not value or not value.isascii():
        raise InvalidToken(f"the token's cnf {member} is not a string", reason=Reason.INVALID_CLAIM)
    return value


def refuse_as_bearer(pop: ProofOfPossession | None, token: AccessToken) -> None:
    """Refuse ``token`` for a caller that will use it as a bearer token (``Guard.verify``:
    no request, so no proof of possession is checked).

    A sender-constrained token presented without its proof is not to be accepted as a
    bearer token (RFC 9449 §7.2 for ``cnf.jkt``, RFC 8705 §3 for ``cnf x5t#S256``); an
    unbound token is refused where these settings require a binding.
    """
    if token.cnf is not None:
        raise InvalidToken(
            "the token is bound to a key (cnf), and no proof of possession was checked; "
            "verify(token, binding_checked=True) when your code checks the proof",
            reason=Reason.UNCHECKED_BINDING,
        )
    if binding_required(pop, token):
        raise InvalidToken(
            "this API accepts only bound tokens (proof_of_possession), and the token has "
            "no cnf binding",
            reason=Reason.BINDING_REQUIRED,
        )
