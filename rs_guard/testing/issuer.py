"""An in-memory token issuer for tests: keys generated at run time, JWKS, token factory."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from ..config import GuardConfig

__all__ = ["IssuerKey", "TokenIssuer", "generate_key"]

_ALGS = get_default_algorithms()


@dataclass(frozen=True)
class IssuerKey:
    kid: str
    algorithm: str
    private_key: Any

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(
            _ALGS[self.algorithm].to_jwk(self.private_key.public_key())
        )
        jwk.update({"kid": self.kid, "use": "sig", "alg": self.algorithm})
        return jwk


def generate_key(algorithm: str, kid: str | None = None, *, rsa_bits: int = 2048) -> IssuerKey:
    """A fresh private key for ``algorithm`` (never shipped: made when called)."""
    kid = kid or uuid.uuid4().hex[:16]
    if algorithm in ("RS256", "RS512", "PS256"):
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    elif algorithm == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"no key pair for {algorithm}")
    return IssuerKey(kid, algorithm, key)


class TokenIssuer:
    """Mints access tokens the way an Auth0 tenant would, for the settings you test.

    ``issuer.mint(scopes=["read:x"])`` gives a valid token; every claim and header can
    be overridden or removed (``claims={"exp": 0}``, ``drop=["sub"]``) to build the
    invalid ones. ``issuer.config()`` is a :class:`GuardConfig` that trusts this issuer;
    ``issuer.transport()`` serves its JWKS to rs_guard without a network.
    """

    def __init__(
        self,
        *,
        issuer: str = "https://tenant.rs-guard.test/",
        audience: str = "https://api.rs-guard.test",
        algorithm: str = "RS256",
        secret: str | None = None,
        token_dialect: str = "access_token",
        clock: Callable[[], float] = time.time,
        key: IssuerKey | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.algorithm = algorithm
        self.token_dialect = token_dialect
        self.clock = clock
        self.secret = secret
        if algorithm == "HS256":
            self.secret = secret or uuid.uuid4().hex + uuid.uuid4().hex
            self.keys: list[IssuerKey] = []
        else:
            self.keys = [key or generate_key(algorithm)]
        self.jwks_requests = 0

    # -- keys --------------------------------------------------------------------

    @property
    def current(self) -> IssuerKey:
        return self.keys[-1]

    @property
    def jwks_uri(self) -> str:
        return self.issuer + ".well-known/jwks.json"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.keys]}

    def rotate(self, *, keep_old: bool = True) -> IssuerKey:
        """Add a new signing key (the old one stays published unless ``keep_old=False``)."""
        new = generate_key(self.algorithm)
        self.keys = [*self.keys, new] if keep_old else [new]
        return new

    # -- tokens ------------------------------------------------------------------

    def claims(
        self,
        *,
        scopes: Iterable[str] = (),
        permissions: Iterable[str] | None = None,
        subject: str = "auth0|user-1",
        client_id: str = "client-1",
        expires_in: float = 3600,
        **extra: Any,
    ) -> dict[str, Any]:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": [self.audience, self.issuer + "userinfo"],
            "iat": now,
            "exp": int(now + expires_in),
            "scope": " ".join(scopes),
            "jti": uuid.uuid4().hex,
        }
        if self.token_dialect.startswith("rfc9068"):
            claims["client_id"] = client_id
        else:
            claims["azp"] = client_id
        if permissions is not None or self.token_dialect.endswith("_authz"):
            claims["permissions"] = list(permissions or ())
        claims.update(extra)
        return claims

    def mint(
        self,
        *,
        scopes: Iterable[str] = (),
        permissions: Iterable[str] | None = None,
        subject: str = "auth0|user-1",
        client_id: str = "client-1",
        expires_in: float = 3600,
        claims: Mapping[str, Any] | None = None,
        drop: Iterable[str] = (),
        headers: Mapping[str, Any] | None = None,
        key: IssuerKey | None = None,
        cnf: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed access token. ``claims`` override, ``drop`` removes, ``headers`` add."""
        body = self.claims(
            scopes=scopes,
            permissions=permissions,
            subject=subject,
            client_id=client_id,
            expires_in=expires_in,
        )
        if cnf is not None:
            body["cnf"] = dict(cnf)
        body.update(claims or {})
        for name in drop:
            body.pop(name, None)
        typ = "at+jwt" if self.token_dialect.startswith("rfc9068") else "JWT"
        header: dict[str, Any] = {"typ": typ}
        if self.algorithm == "HS256":
            assert self.secret is not None
            signing_key: Any = self.secret
        else:
            signer = key or self.current
            header["kid"] = signer.kid
            signing_key = signer.private_key
        header.update(headers or {})
        return jwt.encode(body, signing_key, algorithm=self.algorithm, headers=header)

    # -- wiring ------------------------------------------------------------------

    def config(self, **overrides: Any) -> GuardConfig:
        """Settings that trust this issuer."""
        settings: dict[str, Any] = {
            "issuer": self.issuer,
            "audience": self.audience,
            "algorithm": self.algorithm,
            "token_dialect": self.token_dialect,
        }
        if self.algorithm == "HS256":
            settings["signing_secret"] = self.secret
        settings.update(overrides)
        return GuardConfig(**settings)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """An httpx handler serving this issuer's JWKS and metadata."""
        url = str(request.url)
        if url == self.jwks_uri:
            self.jwks_requests += 1
            return httpx.Response(200, json=self.jwks())
        if url == self.issuer + ".well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": self.issuer, "jwks_uri": self.jwks_uri})
        return httpx.Response(404)

    def transport(self) -> httpx.MockTransport:
        """A transport for :class:`~rs_guard.Guard`/:class:`~rs_guard.AsyncGuard`: no network."""
        return httpx.MockTransport(self.handle)
