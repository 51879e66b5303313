"""Access-token verification: the rules of RFC 7519, RFC 8725 and RFC 9068, no I/O.

Verification is split in two so that a token refused for what it says about itself
costs no key lookup (and never a key fetch):

1. :meth:`TokenPolicy.precheck` parses the compact JWS strictly and applies the named
   rules of :attr:`TokenPolicy.checks` in order: the header (``alg`` pinned, ``typ``,
   ``crit``) and every claim (``iss``, ``aud``, times, types, the dialect's required
   claims, lifetime ceiling, subject type);
2. :meth:`TokenPolicy.finish` checks the signature with the key the header names and
   builds the :class:`~rs_guard.token.AccessToken`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from ._header_memo import HeaderMemo
from ._jose import CompactJWS, JOSEError, parse_compact_jws
from ._sharing import Sharing
from .config import GuardConfig
from .errors import InvalidToken
from .keys import VerificationKey
from .reasons import Reason
from .requirements import rbac_reason
from .token import AccessToken, split_delimited

__all__ = ["NamedCheck", "TokenPolicy", "UnverifiedToken", "parse_token"]

#: ``typ`` values accepted for the Auth0 dialects (RFC 9068 tokens are accepted too).
_AUTH0_TYPES = frozenset({"jwt", "application/jwt", "at+jwt", "application/at+jwt"})
#: RFC 9068 §2.1 and §4: ``typ`` must be ``at+jwt`` (``application/`` prefix allowed).
_RFC9068_TYPES = frozenset({"at+jwt", "application/at+jwt"})
#: Claims every dialect requires.
_BASE_REQUIRED = ("iss", "aud", "exp", "iat", "sub")
#: RFC 9068 §2.2 adds these.
_RFC9068_REQUIRED = ("client_id", "jti")
_STRING_CLAIMS = ("sub", "client_id", "jti", "azp", "gty", "scope")
_TIME_CLAIMS = ("exp", "nbf", "iat")
#: Header parameters that change how the signature is to be read; none is supported.
_UNSUPPORTED_HEADERS = ("crit", "b64", "enc", "zip")
_UNSUPPORTED_SET = frozenset(_UNSUPPORTED_HEADERS)
_EMPTY: frozenset[str] = frozenset()
#: JWS algorithm names (RFC 7518 §3.1, RFC 8037) that may be named in a refusal.
_REGISTERED_ALGS = frozenset(
    {"none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}
    | {"PS256", "PS384", "PS512", "EdDSA", "ES256K"}
)
#: Tells an absent claim from one present with the value ``null`` (a wrong JSON type).
_ABSENT: Any = object()


class UnverifiedToken(NamedTuple):
    """A token whose header and claims passed every check; its signature is next."""

    raw: str
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes
    kid: str | None
    issuer: str
    #: The header segment as sent: remembered once the signature is checked.
    header_segment: bytes = b""


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name, _ABSENT)
    if value is _ABSENT:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidToken(f"the {name} claim is not a NumericDate", reason=Reason.INVALID_CLAIM)
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits (RFC 7519 §2 NumericDate)
        number = math.inf
    if not math.isfinite(number):
        raise InvalidToken(f"the {name} claim is not a NumericDate", reason=Reason.INVALID_CLAIM)
    return number


def is_client_token(claims: Mapping[str, Any], rfc9068: bool) -> bool:
    """A machine-to-machine (client-credentials) token rather than a user's."""
    sub = claims.get("sub")
    if claims.get("gty") == "client-credentials":
        return True
    if isinstance(sub, str) and sub.endswith("@clients"):
        return True
    return rfc9068 and sub is not None and sub == claims.get("client_id")


def parse_token(token: str, known_headers: HeaderMemo | None = None) -> CompactJWS:
    """The strict compact-JWS parse (RFC 7515 §7.1): three base64url segments of JSON.

    ``known_headers``: headers of tokens whose signature was checked, by segment (a
    header found there is not decoded again)."""
    try:
        return parse_compact_jws(token, known_headers)
    except JOSEError as exc:
        raise InvalidToken(
            f"the access token is malformed: {exc}", reason=Reason.MALFORMED
        ) from exc


class NamedCheck(NamedTuple):
    """One rule of the verifier: ``run(header, claims, now)`` raises
    :class:`~rs_guard.errors.InvalidToken` when the token breaks it.

    ``needs`` names the claims (and the checks of the same name) the rule reads: when one
    of them is absent or failed, a diagnostic reports this check as not applicable.
    """

    name: str
    about: str
    run: Callable[[Mapping[str, Any], Mapping[str, Any], float], None]
    needs: tuple[str, ...] = ()


class TokenPolicy:
    """The verification rules of one :class:`~rs_guard.config.GuardConfig`, precomputed.

    :attr:`checks` is the ordered list of named rules a token's header and claims must
    pass. :meth:`precheck` runs them in order and stops at the first failure; a
    diagnostic (``rs-guard inspect``) runs the same list and collects every result.
    Rules that cannot apply under these settings (no ``token_lifetime``, no
    ``subject_type_authorization``) are not in the list.
    """

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self.algorithm = config.algorithm
        self.issuers = frozenset(config.issuers)
        self.audiences = frozenset(config.audiences)
        self.leeway = float(config.leeway)
        self.max_token_bytes = config.max_token_bytes
        self.rfc9068 = config.rfc9068
        self.allowed_types = _RFC9068_TYPES if self.rfc9068 else _AUTH0_TYPES
        required = list(_BASE_REQUIRED)
        if self.rfc9068:
            required += _RFC9068_REQUIRED
        required += [c for c in config.required_claims if c not in required]
        self.required = tuple(required)
        self.lifetime = config.token_lifetime
        self.uses_permissions = config.uses_permissions
        #: With the token cache on, verified tokens share what they repeat (memory).
        self._sharing = Sharing() if config.token_cache_size > 0 else None
        self.granted_reason = rbac_reason(config.token_dialect, config.enforce_policies)
        sta = config.subject_type_authorization
        self.deny_users = sta is not None and sta.user == "deny_all"
        self.deny_clients = sta is not None and sta.client == "deny_all"
        #: The rules that read the header alone: a token whose header segment is in
        #: :attr:`_headers` passed them already (see :meth:`precheck`).
        header_checks = [
            NamedCheck("alg", "alg is the configured algorithm (RFC 8725 §3.1)", self.check_alg),
            NamedCheck("typ", "typ is an access-token type (RFC 9068 §2.1)", self.check_typ),
            NamedCheck(
                "header",
                "no crit/b64/enc/zip header parameter (RFC 7515 §4.1.11)",
                self.check_header_parameters,
            ),
            NamedCheck("kid", "kid is a short string", self.check_kid),
        ]
        checks = [
            *header_checks,
            NamedCheck("required", "every required claim is present", self.check_required),
            NamedCheck("iss", "iss is a configured issuer", self.check_issuer, ("iss",)),
            NamedCheck("aud", "aud includes the API identifier", self.check_audience, ("aud",)),
            NamedCheck("exp", "not expired (exp + leeway)", self.check_exp, ("exp",)),
            NamedCheck("nbf", "already valid (nbf - leeway)", self.check_nbf),
            NamedCheck("iat", "not issued in the future (iat - leeway)", self.check_iat, ("iat",)),
            NamedCheck(
                "claims",
                "claim types (strings, permissions list, cnf object)",
                self.check_claim_types,
            ),
        ]
        if self.lifetime is not None:
            checks.append(
                NamedCheck(
                    "lifetime",
                    "exp - iat within token_lifetime",
                    self.check_lifetime,
                    ("exp", "iat"),
                )
            )
        if self.deny_users or self.deny_clients:
            checks.append(
                NamedCheck(
                    "subject",
                    "subject type allowed (subject_type_authorization)",
                    self.check_subject,
                )
            )
        #: The named rules, in the order :meth:`precheck` applies them.
        self.checks: tuple[NamedCheck, ...] = tuple(checks)
        self._runs = tuple(check.run for check in checks)
        self._claim_runs = self._runs[len(header_checks) :]
        #: Header segments of tokens whose signature was checked, with their decoded
        #: header (which passed the header rules): a later token signed by the same key
        #: repeats the segment, and neither decodes it nor applies those rules again.
        self._headers = HeaderMemo()

    # -- step 1: everything but the signature ------------------------------------------

    def precheck(self, token: str, now: float, *, raw: str | None = None) -> UnverifiedToken:
        """Check ``token`` (a compact JWS); ``raw`` is what was presented, when that differs.

        For a nested JWE, ``token`` is the decrypted inner JWS and ``raw`` the presented
        JWE: the result keeps ``raw`` (the cache key, the DPoP ``ath`` input).
        """
        self.check_size(token)
        jws = parse_token(token, self._headers)
        header, claims = jws.header, jws.payload
        # A remembered header passed the header rules (the first ones) under this policy;
        # they read nothing but the header, so the claim rules are all that is left.
        for run in self._claim_runs if jws.header_known else self._runs:
            run(header, claims, now)
        presented = token if raw is None else raw
        return UnverifiedToken(
            presented,
            header,
            claims,
            jws.signing_input,
            jws.signature,
            header.get("kid"),
            claims["iss"],
            jws.header_segment,
        )

    def parse(self, token: str) -> CompactJWS:
        """The size limit, then the strict compact-JWS parse."""
        self.check_size(token)
        return parse_token(token)

    def check_size(self, token: str) -> None:
        """Text, and no longer than ``max_token_bytes`` (checked before any parsing)."""
        if not isinstance(token, str):
            raise InvalidToken("the access token is not text", reason=Reason.MALFORMED)
        if len(token) > self.max_token_bytes:
            raise InvalidToken(
                f"the access token is larger than {self.max_token_bytes} bytes",
                reason=Reason.TOKEN_TOO_LARGE,
            )

    # -- the named rules (each reads the header and claims, raises InvalidToken) -------

    def check_alg(self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float) -> None:
        alg = header.get("alg")
        if alg != self.algorithm:
            # RFC 8725 §3.1: the algorithm comes from the settings, never the token.
            # Only a registered name is repeated: nothing else of the token is echoed.
            known = isinstance(alg, str) and alg in _REGISTERED_ALGS
            named = repr(alg) if known else "another algorithm"
            raise InvalidToken(
                f"the token is signed with {named}; this API accepts {self.algorithm} only",
                reason=Reason.WRONG_ALGORITHM,
            )

    def check_typ(self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float) -> None:
        typ = header.get("typ")
        if typ is None:
            if self.rfc9068:
                raise InvalidToken(
                    "the token has no typ header; RFC 9068 access tokens are at+jwt",
                    reason=Reason.WRONG_TYPE,
                )
        elif not isinstance(typ, str) or typ.lower() not in self.allowed_types:
            raise InvalidToken(
                "the token's typ is not an access token type"
                + (" (at+jwt)" if self.rfc9068 else ""),
                reason=Reason.WRONG_TYPE,
            )

    def check_header_parameters(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float
    ) -> None:
        if _UNSUPPORTED_SET.isdisjoint(header):
            return
        for name in _UNSUPPORTED_HEADERS:
            if name in header:
                # RFC 7515 §4.1.11: an extension we do not understand must be refused.
                raise InvalidToken(
                    f"the token header uses {name!r}, which is not supported",
                    reason=Reason.UNSUPPORTED_HEADER,
                )

    def check_kid(self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float) -> None:
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or len(kid) > 256):
            raise InvalidToken(
                "the token's kid is not a short string", reason=Reason.INVALID_HEADER
            )

    def check_required(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float
    ) -> None:
        for name in self.required:
            if claims.get(name) is None:  # absent, or null (RFC 7519 §4.1: never a value)
                raise InvalidToken(f"the token has no {name} claim", reason=Reason.MISSING_CLAIM)

    def check_issuer(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float
    ) -> None:
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or issuer not in self.issuers:
            raise InvalidToken("the token was issued by another issuer", reason=Reason.WRONG_ISSUER)

    def check_audience(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float
    ) -> None:
        aud = claims.get("aud")
        if isinstance(aud, str):
            if aud in self.audiences:
                return
        elif isinstance(aud, list) and aud:
            for value in aud:  # a loop, not all(): no generator on every token
                if not isinstance(value, str):
                    raise InvalidToken("the aud claim is malformed", reason=Reason.INVALID_CLAIM)
            if not self.audiences.isdisjoint(aud):
                return
        else:
            raise InvalidToken("the aud claim is malformed", reason=Reason.INVALID_CLAIM)
        raise InvalidToken("the token is meant for another audience", reason=Reason.WRONG_AUDIENCE)

    def check_exp(self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float) -> None:
        exp = _number(claims, "exp")
        if exp is not None and now >= exp + self.leeway:
            raise InvalidToken("the token has expired", reason=Reason.EXPIRED)

    def check_nbf(self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float) -> None:
        if "nbf" not in claims:  # optional, and usually absent
            return
        nbf = _number(claims, "nbf")
        if nbf is not None and now + self.leeway < nbf:
            raise InvalidToken("the token is not valid yet", reason=Reason.NOT_YET_VALID)

    def check_iat(self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float) -> None:
        iat = _number(claims, "iat")
        if iat is not None and iat > now + self.leeway:
            raise InvalidToken("the token was issued in the future", reason=Reason.ISSUED_IN_FUTURE)

    def check_claim_types(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float
    ) -> None:
        for name in _STRING_CLAIMS:
            value = claims.get(name, _ABSENT)
            if value is not _ABSENT and not isinstance(value, str):
                raise InvalidToken(f"the {name} claim is not a string", reason=Reason.INVALID_CLAIM)
        permissions = claims.get("permissions", _ABSENT)
        if permissions is not _ABSENT and (
            not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions)
        ):
            raise InvalidToken(
                "the permissions claim is not a list of strings", reason=Reason.INVALID_CLAIM
            )
        cnf = claims.get("cnf", _ABSENT)
        if cnf is not _ABSENT and not isinstance(cnf, dict):
            raise InvalidToken("the cnf claim is not an object", reason=Reason.INVALID_CLAIM)

    def check_lifetime(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float
    ) -> None:
        # Runs after the exp and iat rules: both are present, finite NumericDates here.
        lifetime = self.lifetime
        if lifetime is not None and claims["exp"] - claims["iat"] > lifetime + self.leeway:
            raise InvalidToken(
                "the token lives longer than this API's token_lifetime",
                reason=Reason.LIFETIME_EXCEEDED,
            )

    def check_subject(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float
    ) -> None:
        client = is_client_token(claims, self.rfc9068)
        if (client and self.deny_clients) or (not client and self.deny_users):
            kind = "client (machine-to-machine)" if client else "user"
            raise InvalidToken(
                f"this API does not accept {kind} tokens", reason=Reason.SUBJECT_TYPE_DENIED
            )

    # -- step 2: the signature ----------------------------------------------------------

    def finish(self, unverified: UnverifiedToken, key: VerificationKey) -> AccessToken:
        """The signature check with ``key``, then the :class:`AccessToken`."""
        self.check_signature(unverified, key)
        self._headers.remember(unverified.header_segment, unverified.header)
        return self.build(unverified)

    def check_signature(self, unverified: UnverifiedToken, key: VerificationKey) -> None:
        """The signature over the signing input, by ``key`` of the configured algorithm."""
        if key.algorithm != self.algorithm or not key.verify(
            unverified.signing_input, unverified.signature
        ):
            raise InvalidToken("the token's signature is not valid", reason=Reason.BAD_SIGNATURE)

    def build(self, unverified: UnverifiedToken) -> AccessToken:
        """The :class:`AccessToken` of a token whose signature was checked."""
        claims, header, issuer = unverified.claims, unverified.header, unverified.issuer
        scope = claims.get("scope")
        sharing = self._sharing
        if sharing is None:
            scopes = split_delimited(scope) if scope else _EMPTY
            permissions = frozenset(claims["permissions"]) if claims.get("permissions") else _EMPTY
        else:  # the token is going to be cached: one copy of what tokens repeat
            claims, header = sharing.claims(claims), sharing.header(header)
            issuer = sharing.string(issuer)
            scopes = sharing.scope_set(scope, split_delimited) if scope else _EMPTY
            names = claims.get("permissions")
            permissions = sharing.name_set(names) if names else _EMPTY
        cnf = claims.get("cnf")
        return AccessToken(
            unverified.raw,
            MappingProxyType(claims),
            MappingProxyType(header),
            issuer,
            scopes,
            permissions,
            permissions if self.uses_permissions else scopes,
            float(claims["exp"]),
            MappingProxyType(cnf) if cnf is not None else None,
            is_client_token(claims, self.rfc9068),
            "permissions" if self.uses_permissions else "scope",
            self.granted_reason,
        )
