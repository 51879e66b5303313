"""Where the client certificate of a request comes from (RFC 8705 §3, RFC 9440).

* the TLS layer of the server itself: the ASGI ``tls`` extension (``client_cert_chain``)
  or the WSGI environ (``SSL_CLIENT_CERT``, as mod_wsgi and others set it);
* a header set by a TLS-terminating proxy (``client_cert_header`` in the settings),
  believed only when the direct peer is one of ``trusted_proxies`` (addresses or
  networks). From any other peer the header is ignored: it is never trusted.

Header formats, told apart by the header's name and value (:func:`parse_cert_header`).
One header value holds one certificate: a value with a comma (a repeated header that a
WSGI server joined, RFC 9110 §5.3) or two PEM blocks is refused, the same for both
protocols; an ASGI request with the header repeated is refused by the mTLS check.

* RFC 9440 ``Client-Cert``: a structured-field byte sequence, ``:base64(DER):``;
* nginx ``$ssl_client_escaped_cert`` (and AWS ALB, HAProxy): URL-encoded PEM;
* Traefik: (URL-encoded) base64 DER without PEM armour;
* Envoy ``X-Forwarded-Client-Cert``: one element whose ``Cert="urlencoded PEM"`` or
  ``Hash=hex(SHA-256(DER))`` member is used. Several elements (several proxy hops) are
  refused as ambiguous: the edge proxy should run with ``SANITIZE_SET``.

:func:`client_cert_from_asgi` and :func:`client_cert_from_wsgi` never raise: a header
they cannot read gives ``None``. The mTLS check (:mod:`rs_guard.binding.mtls`) reads
the header again through the same (cached) parser and refuses a malformed one with a
clear ``invalid_token``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..config import GuardConfig

__all__ = [
    "CertHeaderError",
    "ForwardedCert",
    "client_cert_from_asgi",
    "client_cert_from_wsgi",
    "parse_cert_header",
    "peer_is_trusted",
    "pem_to_der",
]

#: Longest certificate header read; a proxy forwarding more is refused.
MAX_HEADER_BYTES = 32 * 1024
_SF_BINARY = re.compile(r":([A-Za-z0-9+/]*={0,2}):")
_BARE_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_XFCC_PAIR = re.compile(r'\s*([A-Za-z]+)=("(?:[^"\\]|\\.)*"|[^;,"]*)\s*([;,]|$)')
_XFCC_UNESCAPE = re.compile(r"\\(.)")
_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


class CertHeaderError(ValueError):
    """A certificate header from a trusted proxy that cannot be read; says why."""


class ForwardedCert(NamedTuple):
    """A client certificate as a proxy forwarded it: the DER (unless only a hash came)."""

    der: bytes | None
    sha256: bytes


def pem_to_der(pem: str | bytes) -> bytes | None:
    """The DER form of one PEM certificate, or ``None`` if it is not one."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    except (ValueError, TypeError):
        return None


@functools.lru_cache(maxsize=64)
def _networks(
    proxies: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(net, strict=False) for net in proxies)


@functools.lru_cache(maxsize=1024)
def _trusted(peer: str, proxies: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in _networks(proxies))


def peer_is_trusted(peer: str | None, config: GuardConfig) -> bool:
    """Whether the direct peer may forward a client certificate in a header."""
    if not peer or not isinstance(peer, str):
        return False
    return _trusted(peer, tuple(config.trusted_proxies))


def _certificate_der(der: bytes) -> bytes:
    try:
        x509.load_der_x509_certificate(der)
    except (ValueError, TypeError) as exc:
        raise CertHeaderError("it does not hold an X.509 certificate") from exc
    return der


def _pem_der(text: str) -> bytes:
    if _PEM_BEGIN not in text:
        raise CertHeaderError("it is not a PEM certificate")
    der = pem_to_der(text)
    if der is None:
        raise CertHeaderError("the PEM certificate cannot be read")
    return der


def _from_sf_binary(value: str) -> bytes:
    """RFC 9440 §2.1-2.2: ``:`` base64 of the DER ``:``."""
    match = _SF_BINARY.fullmatch(value)
    if match is None:
        raise CertHeaderError("it is not an RFC 9440 byte sequence (:base64:)")
    try:
        der = base64.b64decode(match.group(1), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CertHeaderError("its base64 is invalid") from exc
    return _certificate_der(der)


def _from_text(value: str) -> bytes:
    """URL-encoded (or plain) PEM, or base64 DER without armour."""
    text = unquote(value) if "%" in value else value
    if _PEM_BEGIN in text:
        return _pem_der(text)
    compact = text.strip()
    if _BARE_BASE64.fullmatch(compact):
        try:
            der = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CertHeaderError("its base64 is invalid") from exc
        return _certificate_der(der)
    raise CertHeaderError("it is neither a PEM certificate nor base64 DER")


def _xfcc_elements(value: str) -> list[dict[str, str]]:
    elements: list[dict[str, str]] = [{}]
    pos = 0
    while pos < len(value):
        match = _XFCC_PAIR.match(value, pos)
        if match is None or match.end() == pos:
            raise CertHeaderError("it is not a valid X-Forwarded-Client-Cert value")
        key, raw, separator = match.group(1).lower(), match.group(2), match.group(3)
        if raw.startswith('"'):
            raw = _XFCC_UNESCAPE.sub(r"\1", raw[1:-1])
        if key in ("cert", "hash") and key in elements[-1]:
            raise CertHeaderError(f"an element repeats its {key.title()} member")
        elements[-1][key] = raw
        pos = match.end()
        if separator == ",":
            elements.append({})
    if any(not element for element in elements):
        raise CertHeaderError("it has an empty element")
    return elements


def _from_xfcc(value: str) -> ForwardedCert:
    """Envoy ``X-Forwarded-Client-Cert``: the ``Cert`` or ``Hash`` of its one element."""
    elements = _xfcc_elements(value)
    if len(elements) != 1:
        raise CertHeaderError("it describes several proxy hops; exactly one is accepted")
    element = elements[0]
    der = _pem_der(unquote(element["cert"])) if "cert" in element else None
    digest: bytes | None = None
    if "hash" in element:
        try:
            digest = bytes.fromhex(element["hash"])
        except ValueError as exc:
            raise CertHeaderError("its Hash is not hexadecimal") from exc
        if len(digest) != 32:
            raise CertHeaderError("its Hash is not a SHA-256 digest")
    if der is not None:
        actual = hashlib.sha256(der).digest()
        if digest is not None and not hmac.compare_digest(digest, actual):
            raise CertHeaderError("its Hash does not match its Cert")
        return ForwardedCert(der, actual)
    if digest is None:
        raise CertHeaderError("it carries neither a Cert nor a Hash")
    return ForwardedCert(None, digest)


@functools.lru_cache(maxsize=256)
def parse_cert_header(name: str, value: str) -> ForwardedCert:
    """The certificate in one proxy header value; :class:`CertHeaderError` if unreadable.

    Cached: the adapter's certificate source and the mTLS check read the same value.
    """
    if len(value) > MAX_HEADER_BYTES:
        raise CertHeaderError("it is too large")
    value = value.strip()
    if not value:
        raise CertHeaderError("it is empty")
    if name.lower() == "x-forwarded-client-cert" or (
        not value.startswith((":", "-", "%")) and re.match(r"\s*(By|Hash|Cert)=", value, re.I)
    ):
        return _from_xfcc(value)
    if "," in value or value.count(_PEM_BEGIN) > 1 or unquote(value).count(_PEM_BEGIN) > 1:
        # A repeated header joined by the server (RFC 9110 §5.3; gunicorn does), or a
        # proxy forwarding a chain: which one is the client's is not for us to guess.
        raise CertHeaderError("it holds more than one certificate")
    der = _from_sf_binary(value) if value.startswith(":") else _from_text(value)
    return ForwardedCert(der, hashlib.sha256(der).digest())


def _header_cert(values: Iterable[str], name: str) -> bytes | None:
    found = list(values)
    if len(found) != 1:
        return None
    try:
        return parse_cert_header(name, found[0]).der
    except CertHeaderError:
        return None


def client_cert_from_asgi(scope: Mapping[str, Any], config: GuardConfig) -> bytes | None:
    """The DER client certificate of an ASGI request, or ``None``.

    When the settings name a header and the peer is a trusted proxy, the certificate
    comes from that header only: the TLS layer's peer is then the proxy itself, whose
    certificate must never stand in for the client's (RFC 8705 §3).
    """
    name = config.client_cert_header
    if name:
        client = scope.get("client")
        peer = client[0] if isinstance(client, (list, tuple)) and client else None
        if peer_is_trusted(peer if isinstance(peer, str) else None, config):
            wanted = name.lower().encode("latin-1")
            values = [
                bytes(v).decode("latin-1")
                for k, v in scope.get("headers") or ()
                if bytes(k).lower() == wanted
            ]
            # The TLS layer's certificate is the proxy's own: the header or nothing.
            return _header_cert(values, name) if values else None
    tls = (scope.get("extensions") or {}).get("tls")
    if isinstance(tls, Mapping):
        chain = tls.get("client_cert_chain")
        if chain and isinstance(chain[0], (str, bytes)):
            return pem_to_der(chain[0])
    return None


def client_cert_from_wsgi(environ: Mapping[str, Any], config: GuardConfig) -> bytes | None:
    """The DER client certificate of a WSGI request, or ``None`` (see the ASGI variant)."""
    name = config.client_cert_header
    if name:
        peer = environ.get("REMOTE_ADDR")
        if peer_is_trusted(peer if isinstance(peer, str) else None, config):
            key = "HTTP_" + name.upper().replace("-", "_")
            value = environ.get(key)
            # The TLS layer's certificate is the proxy's own: the header or nothing.
            return _header_cert([value], name) if isinstance(value, str) else None
    pem = environ.get("SSL_CLIENT_CERT")
    if isinstance(pem, str) and pem.strip():
        return pem_to_der(pem)
    return None
