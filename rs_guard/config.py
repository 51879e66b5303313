"""The settings of one protected API, validated once, when they are built.

:class:`GuardConfig` mirrors the resource-server object of the Auth0 Management API
(``identifier``, ``signing_alg``, ``token_dialect``, ``proof_of_possession``, ...) plus
what a resource server needs beyond it (the issuer, where the keys are, leeway, caches).
Build it from keyword arguments, or with :mod:`rs_guard.loaders` from the Management
API's JSON and from ``RS_GUARD_*`` environment variables. A bad value raises
:class:`~rs_guard.errors.ConfigError` naming the field; nothing is checked again later.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal
from urllib.parse import urlsplit

from .errors import ConfigError

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DIALECTS",
    "SIGNING_ALGORITHMS",
    "DPoPOptions",
    "GuardConfig",
    "JWKSOptions",
    "ProofOfPossession",
    "Scope",
    "SubjectTypeAuthorization",
    "TokenEncryption",
    "is_loopback_host",
    "redact_url",
]

logger = logging.getLogger("rs_guard.config")

#: Algorithms an API may be configured with. Auth0 offers HS256, RS256, RS512 and PS256;
#: ES256 and EdDSA serve other issuers. ``none`` is never among them (RFC 8725 §3.1).
SIGNING_ALGORITHMS = frozenset({"HS256", "RS256", "RS512", "PS256", "ES256", "EdDSA"})
ASYMMETRIC_ALGORITHMS = SIGNING_ALGORITHMS - {"HS256"}
DIALECTS = frozenset(
    {"access_token", "access_token_authz", "rfc9068_profile", "rfc9068_profile_authz"}
)
#: Algorithms accepted for DPoP proofs by default (asymmetric only, RFC 9449 §4.3).
DEFAULT_DPOP_ALGORITHMS = ("ES256", "PS256", "RS256", "EdDSA")
SUBJECT_POLICIES = frozenset({"allow_all", "deny_all", "require_client_grant"})
MAX_TOKEN_LIFETIME = 2_592_000  # 30 days: the Management API's own ceiling
#: RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (32 bytes).
HS256_MIN_KEY_BYTES = 32
#: Hosts of Auth0 tenants (``TENANT.auth0.com``, ``TENANT.eu.auth0.com``, ...).
_AUTH0_SUFFIX = ".auth0.com"

Mechanism = Literal["mtls", "dpop"]
RequiredFor = Literal["public_clients", "all_clients"]


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """``url`` with its userinfo (a password) replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}://***@{authority.rpartition('@')[2]}{slash}{path}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_url(field_name: str, url: str) -> str:
    """An absolute ``https`` URL, or ``http`` on a loopback host; otherwise ConfigError."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  # raises ValueError for a port out of range
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(field_name, f"not a valid URL: {redact_url(url)!r}") from exc
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigError(field_name, f"must be an absolute https URL, got {redact_url(url)!r}")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            field_name,
            f"must use https (http is accepted only on loopback hosts): {redact_url(url)!r}",
        )
    if parts.username or parts.password:
        raise ConfigError(field_name, "must not carry credentials")
    return url


@dataclass(frozen=True, slots=True)
class Scope:
    """One scope the API defines (``scopes`` in the Management API)."""

    value: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class ProofOfPossession:
    """``proof_of_possession``: sender-constrained tokens (RFC 8705 mTLS, RFC 9449 DPoP).

    ``required``: a token without a ``cnf`` binding is refused. ``required_for``:
    ``all_clients`` means the same as ``required``; ``public_clients`` requires a binding
    only where the token shows a public client (see the docs on what a token can show).
    """

    mechanism: Mechanism
    required: bool = False
    required_for: RequiredFor | None = None

    def __post_init__(self) -> None:
        if self.mechanism not in ("mtls", "dpop"):
            raise ConfigError(
                "proof_of_possession.mechanism", f"must be mtls or dpop, got {self.mechanism!r}"
            )
        if self.required_for not in (None, "public_clients", "all_clients"):
            raise ConfigError(
                "proof_of_possession.required_for",
                f"must be public_clients or all_clients, got {self.required_for!r}",
            )


@dataclass(frozen=True, slots=True)
class TokenEncryption:
    """``token_encryption``: access tokens are compact nested JWE (RSA-OAEP-256, A256GCM).

    ``public_key_pem`` and ``kid`` are what Auth0 keeps (the public half). The private
    keys that decrypt are ``decryption_keys`` (PEM text), several for rotation.
    """

    format: str = "compact-nested-jwe"
    alg: str = "RSA-OAEP-256"
    kid: str | None = None
    name: str | None = None
    public_key_pem: str | None = field(default=None, repr=False)
    decryption_keys: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.format != "compact-nested-jwe":
            raise ConfigError("token_encryption.format", "only compact-nested-jwe is supported")
        if self.alg != "RSA-OAEP-256":
            raise ConfigError("token_encryption.encryption_key.alg", "must be RSA-OAEP-256")


@dataclass(frozen=True, slots=True)
class SubjectTypeAuthorization:
    """``subject_type_authorization``: which kinds of subject may call the API.

    ``user`` and ``client`` are ``allow_all``, ``deny_all`` or ``require_client_grant``
    (``None`` when the API says nothing). A resource server can enforce ``deny_all``;
    ``require_client_grant`` is the issuer's to enforce before it issues the token.
    """

    user: str | None = None
    client: str | None = None

    def __post_init__(self) -> None:
        for name in ("user", "client"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or value not in SUBJECT_POLICIES):
                raise ConfigError(
                    f"subject_type_authorization.{name}.policy",
                    f"must be one of {sorted(SUBJECT_POLICIES)}, got {value!r}",
                )


@dataclass(frozen=True, slots=True)
class JWKSOptions:
    """How the key set is fetched and cached."""

    #: Seconds a fetched key set is used before it is refreshed, unless the answer's
    #: ``Cache-Control: max-age`` says otherwise (kept within ``min_ttl..max_ttl``).
    ttl: float = 600.0
    min_ttl: float = 60.0
    max_ttl: float = 86_400.0
    #: At most one refetch per this many seconds for an unknown ``kid`` or after a failure.
    cooldown: float = 30.0
    #: Connect, read, write and pool timeout of one fetch.
    timeout: float = 5.0
    #: Largest body read from the JWKS or metadata URL.
    max_bytes: int = 256 * 1024
    #: How long the last good key set is still served while the issuer fails.
    stale_for: float = 6 * 3600.0

    def __post_init__(self) -> None:
        for name in ("ttl", "min_ttl", "max_ttl", "cooldown", "timeout", "stale_for"):
            if getattr(self, name) < 0:
                raise ConfigError(f"jwks.{name}", "must not be negative")
        if self.timeout == 0:
            raise ConfigError("jwks.timeout", "must be positive")
        if self.max_bytes < 1024:
            raise ConfigError("jwks.max_bytes", "must be at least 1024")


@dataclass(frozen=True, slots=True)
class DPoPOptions:
    """DPoP proof checks (RFC 9449)."""

    #: Asymmetric algorithms accepted for the proof's signature.
    algorithms: tuple[str, ...] = DEFAULT_DPOP_ALGORITHMS
    #: A proof's ``iat`` may be this many seconds old ...
    max_age: float = 60.0
    #: ... and this many seconds in the future (clock skew).
    max_future: float = 5.0
    #: Require a server-provided nonce (RFC 9449 §9).
    nonce: bool = False
    #: Seconds a server nonce stays valid.
    nonce_lifetime: float = 300.0
    #: Secret the nonces are made with; share it between workers (random per guard if unset).
    nonce_secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        bad = [a for a in self.algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if bad or not self.algorithms:
            raise ConfigError("dpop.algorithms", f"asymmetric algorithms only, got {bad}")
        if not 0 < self.max_age <= 3600 or not 0 <= self.max_future <= 300:
            raise ConfigError("dpop.max_age", "max_age must be 0-3600 s and max_future 0-300 s")
        if self.nonce_lifetime < 1:
            raise ConfigError("dpop.nonce_lifetime", "must be at least 1 second")
        if self.nonce_secret is not None and len(self.nonce_secret) < 16:
            raise ConfigError("dpop.nonce_secret", "must be at least 16 characters")


@dataclass(frozen=True, slots=True)
class GuardConfig:
    """Everything rs_guard needs to know about one protected API."""

    #: The issuer, compared exactly with ``iss`` (Auth0: ``https://TENANT/``).
    issuer: str
    #: The API identifier, which must be in ``aud``.
    audience: str
    #: The one algorithm tokens are signed with (``signing_alg``).
    algorithm: str = "RS256"
    #: The HS256 secret (``signing_secret``); ignored for asymmetric algorithms.
    signing_secret: str | None = field(default=None, repr=False)
    #: Where the keys are; default ``{issuer}.well-known/jwks.json``.
    jwks_uri: str | None = None
    #: Find ``jwks_uri`` in the issuer's metadata (OIDC discovery, then RFC 8414).
    discovery: bool = False
    token_dialect: str = "access_token"
    enforce_policies: bool = False
    #: Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``.
    leeway: float = 10.0
    #: Ceiling on ``exp - iat`` (plus leeway), from ``token_lifetime``.
    token_lifetime: int | None = None
    token_lifetime_for_web: int | None = None
    scopes: tuple[Scope, ...] = ()
    proof_of_possession: ProofOfPossession | None = None
    token_encryption: TokenEncryption | None = None
    subject_type_authorization: SubjectTypeAuthorization | None = None
    #: More issuers whose tokens are accepted (custom domains, other tenants).
    additional_issuers: tuple[str, ...] = ()
    #: Key URLs of additional issuers, when not ``{issuer}.well-known/jwks.json``.
    issuer_jwks_uris: Mapping[str, str] = field(default_factory=dict)
    #: More API identifiers accepted in ``aud``.
    additional_audiences: tuple[str, ...] = ()
    #: Claims required beyond those of the dialect.
    required_claims: tuple[str, ...] = ()
    #: Tokens longer than this are refused before any parsing.
    max_token_bytes: int = 16 * 1024
    #: Verified tokens remembered (exp-aware); 0 turns the cache off.
    token_cache_size: int = 4096
    #: Header in which a trusted TLS-terminating proxy forwards the client certificate.
    client_cert_header: str | None = None
    #: Peers whose connections may carry ``client_cert_header``.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    #: The API's public base URL, for the DPoP ``htu`` check behind proxies.
    public_url: str | None = None
    #: ``memory`` or a ``redis://`` URL: where DPoP proof ids are remembered.
    replay_store: str = "memory"
    dpop: DPoPOptions = field(default_factory=DPoPOptions)
    jwks: JWKSOptions = field(default_factory=JWKSOptions)
    #: ``realm`` of the bare challenge.
    realm: str = "api"
    #: Management API metadata, kept for diagnostics.
    name: str | None = None
    resource_server_id: str | None = None
    #: Serve RFC 9728 protected-resource metadata and name it in every challenge
    #: (:mod:`rs_guard.metadata`); the identifier must then be an ``https`` URL.
    resource_metadata: bool = False
    #: ``authorization_details`` types the API accepts (RFC 9396), from the Management
    #: API; ``None`` when unknown (then routes' types are not checked at start-up).
    authorization_details: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self._check_identity()
        self._check_algorithm()
        self._check_tokens()
        self._check_transport()
        self._check_resource()
        for warning in self.warnings():
            logger.warning("rs_guard settings: %s", warning)

    def __repr__(self) -> str:
        # Secrets have repr=False; the replay store URL is shown without its password.
        shown = []
        for item in fields(self):
            if item.repr:
                value = getattr(self, item.name)
                if item.name == "replay_store":
                    value = redact_url(value)
                shown.append(f"{item.name}={value!r}")
        return f"GuardConfig({', '.join(shown)})"

    __str__ = __repr__

    # -- validation ---------------------------------------------------------------

    def _check_identity(self) -> None:
        if not isinstance(self.issuer, str) or not self.issuer:
            raise ConfigError("issuer", "is required (RS_GUARD_ISSUER or RS_GUARD_DOMAIN)")
        for issuer in self.issuers:
            check_url("issuer", issuer)
        if not isinstance(self.audience, str) or not self.audience:
            raise ConfigError("audience", "is required (identifier, RS_GUARD_AUDIENCE)")
        if any(not isinstance(a, str) or not a for a in self.additional_audiences):
            raise ConfigError("additional_audiences", "must be non-empty strings")
        if self.name is not None and ("<" in self.name or ">" in self.name):
            raise ConfigError("name", "must not contain '<' or '>'")
        for issuer, uri in self.issuer_jwks_uris.items():
            if issuer not in self.issuers:
                raise ConfigError("issuer_jwks_uris", f"{issuer!r} is not a configured issuer")
            check_url("issuer_jwks_uris", uri)

    def _check_algorithm(self) -> None:
        if not isinstance(self.algorithm, str) or self.algorithm not in SIGNING_ALGORITHMS:
            raise ConfigError(
                "signing_alg",
                f"must be one of {sorted(SIGNING_ALGORITHMS)}, got {self.algorithm!r}",
            )
        if self.algorithm == "HS256":
            if not self.signing_secret or len(self.signing_secret) < 16:
                raise ConfigError(
                    "signing_secret", "HS256 needs a secret of at least 16 characters"
                )
            if self.jwks_uri or self.discovery:
                raise ConfigError(
                    "jwks_uri", "HS256 tokens are verified with the secret, never a JWKS"
                )
        if self.jwks_uri is not None:
            check_url("jwks_uri", self.jwks_uri)
        if self.token_encryption is not None and self.algorithm == "HS256":
            raise ConfigError("token_encryption", "is not available with HS256")

    def _check_tokens(self) -> None:
        if not isinstance(self.token_dialect, str) or self.token_dialect not in DIALECTS:
            raise ConfigError(
                "token_dialect", f"must be one of {sorted(DIALECTS)}, got {self.token_dialect!r}"
            )
        if not _is_number(self.leeway) or not 0 <= self.leeway <= 300:
            raise ConfigError("leeway", "must be a number of seconds from 0 to 300")
        for name in ("token_lifetime", "token_lifetime_for_web"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 <= value <= MAX_TOKEN_LIFETIME
            ):
                raise ConfigError(name, f"must be an integer from 0 to {MAX_TOKEN_LIFETIME}")
        if (
            self.token_lifetime is not None
            and self.token_lifetime_for_web is not None
            and self.token_lifetime_for_web > self.token_lifetime
        ):
            raise ConfigError("token_lifetime_for_web", "must not be above token_lifetime")
        if not _is_int(self.max_token_bytes) or not 256 <= self.max_token_bytes <= 1024 * 1024:
            raise ConfigError("max_token_bytes", "must be an integer from 256 to 1048576")
        if not _is_int(self.token_cache_size) or self.token_cache_size < 0:
            raise ConfigError("token_cache_size", "must be an integer, 0 or more")
        values = [s.value for s in self.scopes]
        if len(set(values)) != len(values):
            raise ConfigError("scopes", "a scope is defined twice")

    def _check_transport(self) -> None:
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as exc:
                raise ConfigError(
                    "trusted_proxies", f"not an address or network: {proxy!r}"
                ) from exc
        if self.client_cert_header is not None and not self.client_cert_header.strip():
            raise ConfigError("client_cert_header", "must be a header name")
        if self.public_url is not None:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError("public_url", f"must be an absolute URL, got {self.public_url!r}")
        if self.replay_store != "memory" and not self.replay_store.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ConfigError("replay_store", "must be 'memory' or a redis:// URL")

    def _check_resource(self) -> None:
        """With ``resource_metadata``, the identifier is the resource identifier of RFC 9728
        §1.2: an ``https`` URL (``http`` only on a loopback host), no query, no fragment;
        the document's URL (§3.1) and the challenges' ``resource_metadata`` (§5.1) are
        built from it."""
        if not self.resource_metadata:
            return
        url = self.audience
        why = "with resource_metadata on, the identifier is the resource's URL (RFC 9728 §1.2)"
        try:
            check_url("audience", url)
        except ConfigError as exc:
            detail = str(exc).removeprefix("audience: ")
            raise ConfigError("audience", f"{detail}; {why}") from None
        if "?" in url or "#" in url:
            raise ConfigError("audience", f"must have no query or fragment: {url!r}; {why}")

    def warnings(self) -> list[str]:
        """Settings that are valid but probably not what was meant (logged when built)."""
        found = []
        for issuer in self.issuers:
            host = (urlsplit(issuer).hostname or "").lower()
            if host.endswith(_AUTH0_SUFFIX) and issuer != f"https://{host}/":
                found.append(
                    f"the issuer {issuer!r} looks like an Auth0 tenant, whose tokens carry "
                    f"iss 'https://{host}/' (with the trailing slash); iss is compared "
                    "exactly, so every token would be refused as wrong_issuer"
                )
        secret = self.signing_secret
        if self.algorithm == "HS256" and secret is not None:
            size = len(secret.encode())
            if size < HS256_MIN_KEY_BYTES:
                found.append(
                    f"the HS256 signing secret is {size} bytes; RFC 7518 §3.2 wants at least "
                    f"{HS256_MIN_KEY_BYTES} bytes"
                )
        return found

    # -- derived values -----------------------------------------------------------

    @property
    def issuers(self) -> tuple[str, ...]:
        """Every accepted issuer, the main one first."""
        return (self.issuer, *self.additional_issuers)

    @property
    def audiences(self) -> tuple[str, ...]:
        """Every accepted audience, the main identifier first."""
        return (self.audience, *self.additional_audiences)

    @property
    def rfc9068(self) -> bool:
        """True for the RFC 9068 dialects, which demand ``typ: at+jwt``."""
        return self.token_dialect.startswith("rfc9068")

    @property
    def uses_permissions(self) -> bool:
        """Route requirements are checked against ``permissions`` rather than ``scope``.

        Only an ``*_authz`` dialect with ``enforce_policies`` puts RBAC permissions in
        the token; otherwise Auth0 sends none and ``scope`` is authoritative.
        """
        return self.token_dialect.endswith("_authz") and self.enforce_policies

    @property
    def dpop_enabled(self) -> bool:
        pop = self.proof_of_possession
        return pop is not None and pop.mechanism == "dpop"

    @property
    def mtls_enabled(self) -> bool:
        pop = self.proof_of_possession
        return pop is not None and pop.mechanism == "mtls"

    def jwks_uri_for(self, issuer: str) -> str:
        """The key URL of one configured issuer (before discovery)."""
        if issuer == self.issuer and self.jwks_uri:
            return self.jwks_uri
        if issuer in self.issuer_jwks_uris:
            return self.issuer_jwks_uris[issuer]
        base = issuer if issuer.endswith("/") else issuer + "/"
        return base + ".well-known/jwks.json"
