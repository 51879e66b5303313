"""The errors rs_guard raises, and how each one is answered over HTTP.

Every refusal is an :class:`RSGuardError`. Its class fixes the HTTP status and the
RFC 6750 section 3.1 error code; its ``reason`` is a stable machine-readable word for
logs and metrics (``expired``, ``bad_signature``, ...); its ``description`` is plain
words for the client and never contains the token::

    RSGuardError
    ├── MissingCredentials        401, bare challenge, no error code (RFC 6750 §3.1)
    ├── InvalidRequest            400 invalid_request
    ├── InvalidToken              401 invalid_token
    │   └── InvalidDPoPProof      401 invalid_dpop_proof (RFC 9449 §7.1)
    │       └── UseDPoPNonce      401 use_dpop_nonce (RFC 9449 §9)
    ├── InsufficientScope         403 insufficient_scope, scope="..."
    ├── InsufficientUserAuthentication
    │                             401 insufficient_user_authentication, acr_values="...",
    │                                 max_age="..." (RFC 9470 §3: step-up)
    └── ServiceUnavailable        503, Retry-After, no challenge: a server fault
        ├── KeysUnavailable           the keys cannot be had (issuer down, nothing cached)
        └── ReplayStoreUnavailable    DPoP proof ids cannot be remembered (store full or down)

    ConfigError (ValueError)      bad settings, raised when the settings are built

:func:`render_error` turns any of them into ``(status, headers, body)``; adapters use
it and never format a challenge themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "Challenge",
    "ConfigError",
    "InsufficientScope",
    "InsufficientUserAuthentication",
    "InvalidDPoPProof",
    "InvalidRequest",
    "InvalidToken",
    "KeysUnavailable",
    "MissingCredentials",
    "RSGuardError",
    "ReplayStoreUnavailable",
    "ServiceUnavailable",
    "UseDPoPNonce",
    "render_error",
]


class ConfigError(ValueError):
    """A setting is missing or invalid. Raised once, when the settings are built."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class RSGuardError(Exception):
    """A request that rs_guard refuses."""

    status_code: int = 401
    error: str | None = None
    reason: str = "refused"
    #: The scheme the client used (``Bearer`` or ``DPoP``), set by the guard when known,
    #: so that the challenge carrying the error is the one the client tried.
    scheme: str | None = None
    #: More auth-params for the challenge that carries the error (RFC 9470 §3: step-up).
    challenge_params: tuple[tuple[str, str], ...] = ()

    def __init__(self, description: str, *, reason: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        if reason is not None:
            self.reason = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r}, description={self.description!r})"


class MissingCredentials(RSGuardError):
    """No credentials rs_guard accepts: no header, another scheme, or a query-string token."""

    status_code = 401
    error = None
    reason = "missing_credentials"


class InvalidRequest(RSGuardError):
    """A malformed request: a broken ``Authorization`` header, two of them, two tokens."""

    status_code = 400
    error = "invalid_request"
    reason = "malformed_request"


class InvalidToken(RSGuardError):
    """The access token is expired, revoked, malformed or otherwise not valid here."""

    status_code = 401
    error = "invalid_token"
    reason = "invalid_token"


class InvalidDPoPProof(InvalidToken):
    """The DPoP proof is missing, malformed or does not match (RFC 9449 section 7.1)."""

    error = "invalid_dpop_proof"
    reason = "invalid_dpop_proof"


class UseDPoPNonce(InvalidDPoPProof):
    """The proof must carry the server's nonce, sent back in ``DPoP-Nonce`` (RFC 9449 §9)."""

    error = "use_dpop_nonce"
    reason = "dpop_nonce_required"

    def __init__(self, description: str, *, nonce: str, reason: str | None = None) -> None:
        super().__init__(description, reason=reason)
        self.nonce = nonce


class InsufficientScope(RSGuardError):
    """A valid token that lacks what the route requires (RFC 6750 section 3.1)."""

    status_code = 403
    error = "insufficient_scope"
    reason = "insufficient_scope"

    def __init__(
        self,
        description: str,
        *,
        required: Iterable[str] = (),
        reason: str | None = None,
    ) -> None:
        super().__init__(description, reason=reason)
        self.required = tuple(required)


class InsufficientUserAuthentication(RSGuardError):
    """The user's authentication behind the token does not meet the route's step-up
    requirements (:mod:`rs_guard.stepup`).

    401 ``insufficient_user_authentication`` (RFC 9470 §3), with the route's
    ``acr_values`` and ``max_age`` as auth-params of the challenge, so the client can ask
    the authorization server for a new token that meets them.
    """

    status_code = 401
    error = "insufficient_user_authentication"
    reason = "insufficient_user_authentication"

    def __init__(
        self,
        description: str,
        *,
        acr_values: Iterable[str] = (),
        max_age: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(description, reason=reason)
        self.acr_values = tuple(acr_values)
        self.max_age = max_age
        params: list[tuple[str, str]] = []
        if self.acr_values:
            params.append(("acr_values", " ".join(self.acr_values)))
        if max_age is not None:
            params.append(("max_age", str(max_age)))
        self.challenge_params = tuple(params)


class ServiceUnavailable(RSGuardError):
    """rs_guard cannot decide about the request now (a server fault, not the client's).

    Answered 503 with ``Retry-After`` (seconds) and no challenge: the client's
    credentials were not judged, so there is nothing to tell it about them.
    """

    status_code = 503
    error = "temporarily_unavailable"
    reason = "service_unavailable"

    def __init__(
        self, description: str, *, retry_after: int = 30, reason: str | None = None
    ) -> None:
        super().__init__(description, reason=reason)
        self.retry_after = max(1, int(retry_after))


class KeysUnavailable(ServiceUnavailable):
    """No usable verification key could be had: the issuer is down and nothing is cached."""

    reason = "keys_unavailable"


class ReplayStoreUnavailable(ServiceUnavailable):
    """DPoP proof ids cannot be remembered: the memory store is full of unexpired ids, or
    Redis cannot be reached. The proof is refused rather than accepted unchecked (fail
    closed, RFC 9449 §11.1)."""

    reason = "replay_store_unavailable"


@dataclass(frozen=True, slots=True)
class Challenge:
    """What the API accepts, for the ``WWW-Authenticate`` header.

    ``bearer`` and ``dpop`` say which schemes are offered (RFC 6750 §3, RFC 9449 §7.1);
    ``dpop_algs`` is the ``algs`` parameter of the DPoP challenge.
    """

    realm: str = "api"
    bearer: bool = True
    dpop: bool = False
    dpop_algs: tuple[str, ...] = ()
    #: Absolute URL of the RFC 9728 metadata, sent as ``resource_metadata`` (§5.1).
    resource_metadata: str | None = None


def _quote(value: str) -> str:
    """An RFC 9110 quoted-string, keeping only printable ASCII and swapping ``"`` and ``\\``."""
    cleaned = "".join(ch if 0x20 <= ord(ch) < 0x7F else " " for ch in value)
    return '"' + cleaned.replace("\\", "/").replace('"', "'") + '"'


def _params(pairs: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{name}={_quote(value)}" for name, value in pairs)


def _challenges(exc: RSGuardError, challenge: Challenge) -> list[str]:
    """One challenge per offered scheme; the error goes on the scheme the client used."""
    schemes = [name for name, on in (("Bearer", challenge.bearer), ("DPoP", challenge.dpop)) if on]
    schemes = schemes or ["Bearer"]
    target: str | None = None
    if not isinstance(exc, MissingCredentials):
        if isinstance(exc, InvalidDPoPProof):
            target = "DPoP"
        elif exc.scheme in schemes:
            target = exc.scheme
        else:
            target = schemes[0]
    out: list[str] = []
    for scheme in schemes:
        extra = (
            [("algs", " ".join(challenge.dpop_algs))]
            if scheme == "DPoP" and challenge.dpop_algs
            else []
        )
        if scheme == target:
            pairs = [("error", exc.error or "invalid_request")]
            if isinstance(exc, InsufficientScope) and exc.required:
                pairs.append(("scope", " ".join(exc.required)))
            else:
                pairs.append(("error_description", exc.description))
            pairs += exc.challenge_params
            pairs += extra
        elif scheme == "Bearer":
            pairs = [("realm", challenge.realm)]
        else:
            pairs = extra
        if challenge.resource_metadata:  # RFC 9728 §5.1, on every scheme's challenge
            pairs = [*pairs, ("resource_metadata", challenge.resource_metadata)]
        out.append(f"{scheme} {_params(pairs)}" if pairs else scheme)
    return out


def render_error(
    exc: RSGuardError, challenge: Challenge | None = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The HTTP answer to a refusal: ``(status, headers, JSON body)``.

    The body is ``{"error", "error_description"}``, without ``error`` for a request that
    carried no credentials (RFC 6750 §3.1). A 503 carries ``Retry-After`` and no challenge.
    """
    challenge = challenge or Challenge()
    headers: list[tuple[str, str]] = [
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
    ]
    body: dict[str, str] = {}
    if exc.error is not None:
        body["error"] = exc.error
    body["error_description"] = exc.description
    if isinstance(exc, ServiceUnavailable):
        headers.append(("retry-after", str(exc.retry_after)))
    else:
        values = _challenges(exc, challenge)
        if values:
            headers.append(("www-authenticate", ", ".join(values)))
        if isinstance(exc, UseDPoPNonce):
            headers.append(("dpop-nonce", exc.nonce))
    return exc.status_code, headers, json.dumps(body).encode()
