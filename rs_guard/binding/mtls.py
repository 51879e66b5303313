"""Certificate-bound access tokens (RFC 8705 §3).

A token whose ``cnf`` holds ``x5t#S256`` may only be used on a mutual-TLS connection
whose client certificate hashes to that value: base64url(SHA-256(DER)), compared in
constant time. The certificate comes from the request's TLS layer
(``RequestContext.client_cert``) or, when the settings name ``client_cert_header`` and
the direct peer is a trusted proxy, from that header (:mod:`rs_guard.binding.certs`),
and then from that header only: the TLS layer's certificate is the proxy's own, so a
trusted proxy's request without the header has no client certificate. A malformed header
from a trusted proxy is refused, never skipped.

Which tokens must be bound: ``required: true`` or ``required_for: all_clients``, every
token; ``required: false``, none (a bound one is still checked, an unbound one passes);
``required_for: public_clients``, every token except those that show the
client-credentials grant, which RFC 6749 §4.4 allows to confidential clients only: an
Auth0 access token says nothing else about how its client authenticated, so any other
token might come from a public client and must be bound (fail closed). See
:mod:`rs_guard.binding._policy`. A token bound any other way (``cnf.jkt``, unknown
``cnf`` members) is refused.
"""

from __future__ import annotations

import hashlib
import hmac

from .._jose import b64url_encode
from ..config import GuardConfig
from ..context import RequestContext
from ..errors import InvalidToken
from ..extract import Credentials
from ..token import AccessToken
from . import ProofReplay
from ._policy import binding_required, check_members
from .certs import CertHeaderError, parse_cert_header, peer_is_trusted

__all__ = ["MTLSBinding", "presented_cert_digest"]


def presented_cert_digest(ctx: RequestContext, config: GuardConfig) -> bytes | None:
    """SHA-256 of the client certificate of ``ctx`` (or ``None``); refuses bad proxy headers."""
    name = config.client_cert_header
    if name and peer_is_trusted(ctx.peer, config):
        values = ctx.header_values(name.lower())
        if len(values) > 1:
            raise InvalidToken(
                f"the proxy forwarded more than one {name} header", reason="malformed_client_cert"
            )
        if not values:
            # RFC 8705 §3: the certificate of the client that presents the token. Behind
            # a trusted proxy the TLS layer's certificate, if any, is the proxy's own:
            # without the header the client presented none (fail closed).
            return None
        try:
            return parse_cert_header(name, values[0]).sha256
        except CertHeaderError as exc:
            raise InvalidToken(
                f"the client certificate forwarded in {name} cannot be read: {exc}",
                reason="malformed_client_cert",
            ) from None
    if ctx.client_cert:
        return hashlib.sha256(ctx.client_cert).digest()
    return None


class MTLSBinding:
    """Checks ``cnf["x5t#S256"]`` against the presented client certificate (RFC 8705 §3)."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self.pop = config.proof_of_possession

    def check(
        self, ctx: RequestContext, credentials: Credentials, token: AccessToken, now: float
    ) -> ProofReplay | None:
        cnf = token.cnf
        if cnf is None:
            if binding_required(self.pop, token):
                raise InvalidToken(
                    "this API accepts only certificate-bound tokens (RFC 8705), and the "
                    "token has no cnf binding",
                    reason="binding_required",
                )
            return None
        expected = check_members(cnf, "x5t#S256", "mTLS certificate")
        digest = presented_cert_digest(ctx, self.config)
        if digest is None:
            raise InvalidToken(
                "the token is bound to a client certificate, and the request presented none",
                reason="client_cert_missing",
            )
        if not hmac.compare_digest(b64url_encode(digest).encode(), expected.encode()):
            raise InvalidToken(
                "the client certificate is not the one the token is bound to",
                reason="client_cert_mismatch",
            )
        return None
