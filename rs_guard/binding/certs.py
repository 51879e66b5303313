"""Where the client certificate of a request comes from (RFC 8705 §3).

* the TLS layer of the server itself: the ASGI ``tls`` extension (``client_cert_chain``)
  or the WSGI environ (``SSL_CLIENT_CERT``, as mod_wsgi and others set it);
* a header set by a TLS-terminating proxy (``client_cert_header`` in the settings),
  believed only when the direct peer is one of ``trusted_proxies``.

Every function returns the DER bytes of the client certificate, or ``None``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..config import GuardConfig

__all__ = ["client_cert_from_asgi", "client_cert_from_wsgi", "peer_is_trusted", "pem_to_der"]


def pem_to_der(pem: str | bytes) -> bytes | None:
    """The DER form of one PEM certificate, or ``None`` if it is not one."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    except ValueError:
        return None


def peer_is_trusted(peer: str | None, config: GuardConfig) -> bool:
    """Whether the direct peer may forward a client certificate in a header."""
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(net, strict=False) for net in config.trusted_proxies
    )


def client_cert_from_asgi(scope: Mapping[str, Any], config: GuardConfig) -> bytes | None:
    """The client certificate of an ASGI connection (TLS extension only, for now)."""
    tls = (scope.get("extensions") or {}).get("tls")
    if isinstance(tls, Mapping):
        chain = tls.get("client_cert_chain")
        if chain:
            return pem_to_der(chain[0])
    return None


def client_cert_from_wsgi(environ: Mapping[str, Any], config: GuardConfig) -> bytes | None:
    """The client certificate of a WSGI request (``SSL_CLIENT_CERT`` only, for now)."""
    pem = environ.get("SSL_CLIENT_CERT")
    if isinstance(pem, str) and pem.strip():
        return pem_to_der(pem)
    return None
