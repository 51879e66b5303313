"""The stable reason codes of refusals, one enum for logs, metrics and tests.

A refusal's :attr:`~rs_guard.errors.RSGuardError.reason` is always a member of
:class:`Reason`. The members are ``str`` values (``Reason.EXPIRED == "expired"``), so
log records, metric labels and comparisons with plain strings read the code itself;
``docs/errors.md`` says what each one means.
"""

from __future__ import annotations

import enum

__all__ = ["Reason"]


class Reason(str, enum.Enum):
    """Why a request was refused (``OK``: it was not; an :class:`~rs_guard.observability.Outcome`
    of an accepted request)."""

    BAD_SIGNATURE = "bad_signature"
    BINDING_REQUIRED = "binding_required"
    CLAIM_MISMATCH = "claim_mismatch"
    CLIENT_CERT_MISMATCH = "client_cert_mismatch"
    CLIENT_CERT_MISSING = "client_cert_missing"
    DECRYPTION_FAILED = "decryption_failed"
    DPOP_BAD_SIGNATURE = "dpop_bad_signature"
    DPOP_KEY_MISMATCH = "dpop_key_mismatch"
    DPOP_NONCE_MISSING = "dpop_nonce_missing"
    DPOP_NONCE_REQUIRED = "dpop_nonce_required"
    DPOP_NONCE_STALE = "dpop_nonce_stale"
    DPOP_PROOF_EXPIRED = "dpop_proof_expired"
    DPOP_PROOF_FUTURE = "dpop_proof_future"
    DPOP_PROOF_MISSING = "dpop_proof_missing"
    DPOP_REPLAY = "dpop_replay"
    DPOP_TOKEN_AS_BEARER = "dpop_token_as_bearer"
    DUPLICATE_HEADER = "duplicate_header"
    EXPIRED = "expired"
    INSUFFICIENT_AUTHORIZATION_DETAILS = "insufficient_authorization_details"
    INSUFFICIENT_PERMISSION = "insufficient_permission"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    INSUFFICIENT_USER_AUTHENTICATION = "insufficient_user_authentication"
    INVALID_CLAIM = "invalid_claim"
    INVALID_DPOP_PROOF = "invalid_dpop_proof"
    INVALID_HEADER = "invalid_header"
    INVALID_JWE = "invalid_jwe"
    INVALID_TOKEN = "invalid_token"
    ISSUED_IN_FUTURE = "issued_in_future"
    KEYS_UNAVAILABLE = "keys_unavailable"
    LIFETIME_EXCEEDED = "lifetime_exceeded"
    MALFORMED = "malformed"
    MALFORMED_CLIENT_CERT = "malformed_client_cert"
    MALFORMED_HEADER = "malformed_header"
    MALFORMED_REQUEST = "malformed_request"
    MISSING_CLAIM = "missing_claim"
    MISSING_CREDENTIALS = "missing_credentials"
    MISSING_KID = "missing_kid"
    NOT_ENCRYPTED = "not_encrypted"
    NOT_YET_VALID = "not_yet_valid"
    OK = "ok"
    REFUSED = "refused"
    REPLAY_STORE_DOWN = "replay_store_down"
    REPLAY_STORE_FULL = "replay_store_full"
    REPLAY_STORE_UNAVAILABLE = "replay_store_unavailable"
    SERVICE_UNAVAILABLE = "service_unavailable"
    SUBJECT_TYPE_DENIED = "subject_type_denied"
    TOKEN_IN_HEADER_AND_QUERY = "token_in_header_and_query"
    TOKEN_IN_QUERY = "token_in_query"
    TOKEN_TOO_LARGE = "token_too_large"
    UNBOUND_DPOP_TOKEN = "unbound_dpop_token"
    UNCHECKED_BINDING = "unchecked_binding"
    UNKNOWN_KID = "unknown_kid"
    UNSUPPORTED_HEADER = "unsupported_header"
    UNSUPPORTED_SCHEME = "unsupported_scheme"
    WRONG_ALGORITHM = "wrong_algorithm"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_SUBJECT_TYPE = "wrong_subject_type"
    WRONG_TYPE = "wrong_type"

    def __str__(self) -> str:  # the code itself, on every Python version (not "Reason.X")
        return self.value

    def __format__(self, spec: str) -> str:
        return self.value.__format__(spec)
