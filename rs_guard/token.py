"""The verified access token handed to the application."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["AccessToken", "split_delimited"]


def split_delimited(value: str) -> frozenset[str]:
    """The tokens of a space-delimited claim (``scope``): split on SP (0x20) only.

    RFC 6749 §3.3 and RFC 9068 §2.2.3: scope tokens are separated by SP; empty pieces
    (two spaces in a row, leading or trailing ones) are dropped. No other character
    separates: a tab, a line feed or a Unicode space stays inside its piece, so
    ``"write:x<TAB>read:x"`` is one (odd) token and never grants ``read:x``.
    """
    pieces = value.split(" ")
    if "" in pieces:  # two spaces in a row, or a leading or trailing one
        return frozenset(piece for piece in pieces if piece)
    return frozenset(pieces)


class _Fields(NamedTuple):
    # A NamedTuple keeps the token immutable (a cached token is shared by requests)
    # at a fraction of a frozen dataclass's construction cost on the hot path.
    raw: str
    claims: Mapping[str, Any]
    header: Mapping[str, Any]
    issuer: str
    scopes: frozenset[str]
    permissions: frozenset[str]
    granted: frozenset[str]
    expires_at: float
    cnf: Mapping[str, Any] | None
    is_client: bool
    #: The claim ``granted`` comes from: ``"scope"``, or ``"permissions"`` under an
    #: ``*_authz`` dialect with ``enforce_policies``.
    granted_claim: str = "scope"
    #: Why ``granted`` comes from ``granted_claim`` under this API's settings, in words
    #: (``"enforce_policies is off"``): the 403 names it when a route's scope is only in
    #: the other claim (:func:`rs_guard.requirements.claim_mixup`).
    granted_reason: str = ""


class AccessToken(_Fields):
    """A verified access token: its claims and what they grant. Immutable.

    ``granted`` is what route requirements are checked against: ``permissions`` for an
    ``*_authz`` dialect with ``enforce_policies``, otherwise the ``scope`` claim.
    ``is_client`` tells a machine-to-machine (client-credentials) token from a user's.
    The raw token is kept (for the DPoP ``ath`` check) but never shown by ``repr``.
    """

    __slots__ = ()

    @property
    def subject(self) -> str | None:
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) else None

    @property
    def client_id(self) -> str | None:
        value = self.claims.get("client_id") or self.claims.get("azp")
        return value if isinstance(value, str) else None

    @property
    def audiences(self) -> tuple[str, ...]:
        aud = self.claims.get("aud")
        return (aud,) if isinstance(aud, str) else tuple(aud or ())

    @property
    def issued_at(self) -> float | None:
        iat = self.claims.get("iat")
        return float(iat) if iat is not None else None

    @property
    def not_before(self) -> float | None:
        nbf = self.claims.get("nbf")
        return float(nbf) if nbf is not None else None

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None

    def get(self, claim: str, default: Any = None) -> Any:
        """A claim by name; namespaced Auth0 claims (``https://example.com/roles``) too."""
        return self.claims.get(claim, default)

    def to_dict(self) -> dict[str, Any]:
        """The shape of the example apps' ``GET /me``."""
        return {
            "sub": self.subject,
            "client_id": self.client_id,
            "scopes": sorted(self.scopes),
            "permissions": sorted(self.permissions),
            "cnf": dict(self.cnf) if self.cnf is not None else None,
        }

    def __repr__(self) -> str:
        return (
            f"AccessToken(sub={self.subject!r}, client_id={self.client_id!r}, "
            f"issuer={self.issuer!r}, granted={sorted(self.granted)!r})"
        )

    __str__ = __repr__
