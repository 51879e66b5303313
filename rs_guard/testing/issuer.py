"""An in-memory token issuer for tests: keys generated at run time, JWKS, token factory.

Every token minted here is also remembered (see :func:`minted_tokens`) so that a test
suite can check that none of them ever reaches a log line.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from .._jose import b64url_decode, b64url_encode
from ..config import GuardConfig

__all__ = ["IssuerKey", "TokenIssuer", "generate_key", "minted_tokens", "tampered", "unsigned"]

_ALGS = get_default_algorithms()
_MAX_REMEMBERED = 100_000
_minted: list[str] = []


def _remember(token: str) -> str:
    if len(_minted) >= _MAX_REMEMBERED:
        del _minted[: _MAX_REMEMBERED // 2]
    _minted.append(token)
    return token


def minted_tokens(since: int = 0) -> list[str]:
    """Tokens minted by any :class:`TokenIssuer` in this process (from index ``since``)."""
    return _minted[since:]


def minted_count() -> int:
    """How many tokens are remembered; pass it to :func:`minted_tokens` later."""
    return len(_minted)


def _segment(data: Mapping[str, Any]) -> str:
    return b64url_encode(json.dumps(dict(data), separators=(",", ":")).encode())


def tampered(token: str, **claims: Any) -> str:
    """``token`` with claims changed (default: ``scope`` widened) and the old signature kept.

    The result must be refused as ``bad_signature``: use it to test that the signature is
    checked at all.
    """
    header_b64, payload_b64, signature = token.split(".")
    payload = json.loads(b64url_decode(payload_b64))
    payload.update(claims or {"scope": (payload.get("scope", "") + " admin").strip()})
    return _remember(f"{header_b64}.{_segment(payload)}.{signature}")


def unsigned(token: str) -> str:
    """``token`` re-issued with ``alg: none`` and no signature (RFC 7519 §6; never accepted)."""
    header_b64, payload_b64, _ = token.split(".")
    header = json.loads(b64url_decode(header_b64))
    header["alg"] = "none"
    return _remember(f"{_segment(header)}.{payload_b64}.")


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

    @classmethod
    def from_config(
        cls,
        config: GuardConfig,
        *,
        clock: Callable[[], float] = time.time,
        key: IssuerKey | None = None,
    ) -> TokenIssuer:
        """An issuer minting what ``config`` accepts: its issuer, audience, algorithm,
        dialect (and HS256 secret)."""
        return cls(
            issuer=config.issuer,
            audience=config.audience,
            algorithm=config.algorithm,
            secret=config.signing_secret,
            token_dialect=config.token_dialect,
            clock=clock,
            key=key,
        )

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
        subject: str | None = "auth0|user-1",
        client_id: str = "client-1",
        expires_in: float = 3600,
        client: bool = False,
        **extra: Any,
    ) -> dict[str, Any]:
        """The claims of a token: Auth0's shape for the dialect, ``extra`` merged last.

        ``client=True`` gives a machine-to-machine token: ``sub`` is ``CLIENT@clients``
        and ``gty`` is ``client-credentials``.
        """
        now = int(self.clock())
        if client:
            subject = f"{client_id}@clients"
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject or "auth0|user-1",
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
        if client:
            claims["gty"] = "client-credentials"
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
        client: bool = False,
        drop_headers: Iterable[str] = (),
    ) -> str:
        """A signed access token.

        ``claims`` override any claim, ``drop`` removes claims; ``headers`` override
        header parameters and ``drop_headers`` removes them (``kid``, ``typ``);
        ``cnf`` binds the token (RFC 8705 ``x5t#S256``, RFC 9449 ``jkt``);
        ``client=True`` mints a client-credentials (machine-to-machine) token;
        ``key`` signs with another of this issuer's keys (or a stranger's).
        """
        body = self.claims(
            scopes=scopes,
            permissions=permissions,
            subject=subject,
            client_id=client_id,
            expires_in=expires_in,
            client=client,
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
        for name in drop_headers:
            header.pop(name, None)
        return _remember(self.sign(header, body, signing_key))

    def sign(self, header: Mapping[str, Any], claims: Mapping[str, Any], key: Any) -> str:
        """A compact JWS of exactly ``header`` and ``claims`` (RFC 7515 §7.1), signed with
        ``key`` (a private key, or the HS256 secret) under this issuer's algorithm."""
        impl = _ALGS[self.algorithm]
        header = {"alg": self.algorithm, **header}
        signing_input = f"{_segment(header)}.{_segment(claims)}".encode()
        signature = impl.sign(signing_input, impl.prepare_key(key))
        return f"{signing_input.decode()}.{b64url_encode(signature)}"

    def encrypt(
        self,
        token: str,
        public_key_pem: str,
        *,
        kid: str | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """``token`` as Auth0 sends it under ``token_encryption``: a compact nested JWE
        (RFC 7516 §7.1, RFC 7519 §5.2) to ``public_key_pem``, ``RSA-OAEP-256`` and
        ``A256GCM``. Needs the ``jwe`` extra (joserfc)."""
        try:
            from joserfc import jwe
            from joserfc.jwk import RSAKey
        except ImportError as exc:  # pragma: no cover - the jwe extra is a dev dependency
            raise RuntimeError(
                "encrypted tokens need the jwe extra: pip install rs_guard[jwe]"
            ) from exc
        protected: dict[str, Any] = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"}
        if kid is not None:
            protected["kid"] = kid
        protected.update(headers or {})
        registry = jwe.JWERegistry(algorithms=["RSA-OAEP-256", "A256GCM"])
        key = RSAKey.import_key(public_key_pem)
        return _remember(jwe.encrypt_compact(protected, token, key, registry=registry))

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
        """A transport for :class:`~rs_guard.Guard`/:class:`~rs_guard.AsyncGuard`: no network.

        The same object serves both: httpx's MockTransport is sync and async.
        """
        return httpx.MockTransport(self.handle)

    def environ(self, jwks_uri: str | None = None) -> dict[str, str]:
        """``RS_GUARD_*`` variables that make :func:`rs_guard.load_config` trust this issuer.

        ``jwks_uri``: where the app finds the keys, typically a :class:`JWKSServer`'s
        ``jwks_uri`` on a loopback port (HS256 needs none: the secret is included).
        """
        env = {
            "RS_GUARD_ISSUER": self.issuer,
            "RS_GUARD_AUDIENCE": self.audience,
            "RS_GUARD_SIGNING_ALG": self.algorithm,
            "RS_GUARD_TOKEN_DIALECT": self.token_dialect,
        }
        if self.algorithm == "HS256":
            assert self.secret is not None
            env["RS_GUARD_SIGNING_SECRET"] = self.secret
        elif jwks_uri is not None:
            env["RS_GUARD_JWKS_URI"] = jwks_uri
        return env
