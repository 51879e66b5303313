"""Proof-of-possession helpers for tests: DPoP keys and proofs, client certificates.

* :class:`DPoPKey`: a client's DPoP key pair, made when the test runs. ``key.cnf`` is the
  ``cnf`` to mint a bound token with (``issuer.mint(cnf=key.cnf)``), and
  ``key.proof("GET", url, access_token=token)`` a fresh proof for one request; every
  claim and header can be overridden or dropped to build the invalid ones.
* :class:`CertificateAuthority`: a throw-away CA that issues client (and server)
  certificates; ``cert.cnf`` binds a token to one (RFC 8705), and ``cert.escaped``,
  ``cert.rfc9440`` and ``cert.xfcc()`` are what nginx, an RFC 9440 proxy and Envoy forward.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from jwt.algorithms import get_default_algorithms

from ..binding.thumbprint import access_token_hash, jwk_thumbprint, x5t_s256
from .issuer import generate_key

__all__ = ["CertificateAuthority", "DPoPKey", "IssuedCert", "make_client_cert"]

_ALGS = get_default_algorithms()


class DPoPKey:
    """A DPoP key pair (ES256 by default) and a factory of proofs signed with it."""

    def __init__(self, algorithm: str = "ES256", *, clock: Callable[[], float] = time.time) -> None:
        self.algorithm = algorithm
        self.clock = clock
        self.private_key: Any = generate_key(algorithm).private_key
        self.jwk: dict[str, Any] = json.loads(
            _ALGS[algorithm].to_jwk(self.private_key.public_key())
        )
        self.thumbprint = jwk_thumbprint(self.jwk)

    @property
    def cnf(self) -> dict[str, str]:
        """The ``cnf`` claim of a token bound to this key (RFC 9449 §6.1)."""
        return {"jkt": self.thumbprint}

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        drop: Iterable[str] = (),
        algorithm: str | None = None,
    ) -> str:
        """A DPoP proof for one request. ``claims``/``headers`` override, ``drop`` removes
        (claims or header parameters)."""
        body: dict[str, Any] = {
            "htm": method,
            "htu": url,
            "iat": int(self.clock() if iat is None else iat),
            "jti": jti or uuid.uuid4().hex,
        }
        if access_token is not None:
            body["ath"] = access_token_hash(access_token)
        if nonce is not None:
            body["nonce"] = nonce
        body.update(claims or {})
        header: dict[str, Any] = {"typ": "dpop+jwt", "jwk": dict(self.jwk)}
        header.update(headers or {})
        dropped = set(drop)
        for name in dropped:
            body.pop(name, None)
        signing_input_header = {k: v for k, v in header.items() if k not in dropped}
        token = jwt.encode(
            body,
            self.private_key,
            algorithm=algorithm or self.algorithm,
            headers=signing_input_header,
        )
        if "typ" in dropped:
            token = _without_header_member(
                token, "typ", self.private_key, algorithm or self.algorithm
            )
        return token


def _without_header_member(token: str, name: str, key: Any, algorithm: str) -> str:
    """Re-sign ``token`` with a header lacking ``name`` (PyJWT always writes ``typ``)."""
    header_b64, payload_b64, _ = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    header.pop(name, None)
    new_header = (
        base64.urlsafe_b64encode(json.dumps(header, separators=(",", ":")).encode())
        .rstrip(b"=")
        .decode()
    )
    signing_input = f"{new_header}.{payload_b64}".encode()
    signature = _ALGS[algorithm].sign(signing_input, key)
    return (
        f"{new_header}.{payload_b64}." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    )


@dataclass(frozen=True)
class IssuedCert:
    """A certificate and its key, in every form the tests forward it."""

    der: bytes
    cert_pem: bytes
    key_pem: bytes

    @property
    def thumbprint(self) -> str:
        """``x5t#S256`` (RFC 8705 §3.1)."""
        return x5t_s256(self.der)

    @property
    def cnf(self) -> dict[str, str]:
        """The ``cnf`` claim of a token bound to this certificate."""
        return {"x5t#S256": self.thumbprint}

    @property
    def escaped(self) -> str:
        """URL-encoded PEM, as nginx's ``$ssl_client_escaped_cert``."""
        return quote(self.cert_pem.decode(), safe="")

    @property
    def rfc9440(self) -> str:
        """The RFC 9440 ``Client-Cert`` value: ``:base64(DER):``."""
        return ":" + base64.b64encode(self.der).decode() + ":"

    def xfcc(self, *, cert: bool = True, hash: bool = False, by: str | None = None) -> str:
        """An Envoy ``X-Forwarded-Client-Cert`` element with ``Cert=`` and/or ``Hash=``."""
        parts = [f"By={by}"] if by else []
        if hash:
            parts.append("Hash=" + hashlib.sha256(self.der).hexdigest())
        if cert:
            parts.append(f'Cert="{quote(self.cert_pem.decode(), safe="")}"')
        return ";".join(parts)

    def write(self, directory: str | Path, name: str) -> tuple[Path, Path]:
        """Write ``name.pem`` and ``name.key`` into ``directory``; return both paths."""
        folder = Path(directory)
        cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
        cert_path.write_bytes(self.cert_pem)
        key_path.write_bytes(self.key_pem)
        key_path.chmod(0o600)
        return cert_path, key_path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class CertificateAuthority:
    """A CA made when the test runs; issues client and server certificates (EC P-256)."""

    def __init__(self, common_name: str = "rs_guard test CA") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = self.certificate.public_bytes(serialization.Encoding.PEM)

    def _issue(
        self, common_name: str, usage: x509.ObjectIdentifier, names: list[x509.GeneralName]
    ) -> IssuedCert:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return IssuedCert(
            der=cert.public_bytes(serialization.Encoding.DER),
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )

    def client_cert(self, common_name: str = "client") -> IssuedCert:
        """A client certificate (extended key usage ``clientAuth``)."""
        return self._issue(common_name, ExtendedKeyUsageOID.CLIENT_AUTH, [])

    def server_cert(self, *hosts: str) -> IssuedCert:
        """A server certificate for DNS names and IP addresses."""
        names: list[x509.GeneralName] = []
        for host in hosts or ("localhost", "127.0.0.1"):
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        return self._issue(
            hosts[0] if hosts else "localhost", ExtendedKeyUsageOID.SERVER_AUTH, names
        )


def make_client_cert(common_name: str = "client") -> IssuedCert:
    """A client certificate from a fresh CA (when the CA itself does not matter)."""
    return CertificateAuthority().client_cert(common_name)
