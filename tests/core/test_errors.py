"""RFC 6750 §3 answers: status, WWW-Authenticate (and RFC 9449 §7.1 DPoP), JSON body."""

from __future__ import annotations

import json
import re

import pytest

from rs_guard.errors import (
    Challenge,
    ConfigError,
    InsufficientScope,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    KeysUnavailable,
    MissingCredentials,
    ReplayStoreUnavailable,
    RSGuardError,
    ServiceUnavailable,
    UseDPoPNonce,
    render_error,
)

# RFC 9110 §11: challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]; quoted values
# here hold RFC 6750 §3's characters (%x20-21 / %x23-5B / %x5D-7E) only.
_PARAM = r'[a-z_]+="[\x20\x21\x23-\x5b\x5d-\x7e]*"'
_CHALLENGE = rf"(Bearer|DPoP)( {_PARAM}(, {_PARAM})*)?"
CHALLENGES = re.compile(rf"{_CHALLENGE}(, {_CHALLENGE})*")


def answer(
    exc: RSGuardError, challenge: Challenge | None = None
) -> tuple[int, dict[str, str], dict[str, str]]:
    status, headers, body = render_error(exc, challenge)
    names = [name for name, _ in headers]
    assert len(names) == len(set(names))
    mapping = dict(headers)
    assert mapping["content-type"] == "application/json"
    assert mapping["cache-control"] == "no-store"
    if "www-authenticate" in mapping:
        assert CHALLENGES.fullmatch(mapping["www-authenticate"]), mapping["www-authenticate"]
    return status, mapping, json.loads(body)


def test_missing_credentials_is_a_bare_challenge() -> None:
    status, headers, body = answer(MissingCredentials("no access token was sent"))
    assert status == 401
    assert headers["www-authenticate"] == 'Bearer realm="api"'
    assert body == {"error_description": "no access token was sent"}


def test_the_realm_comes_from_the_challenge() -> None:
    _, headers, _ = answer(MissingCredentials("x"), Challenge(realm="appointments"))
    assert headers["www-authenticate"] == 'Bearer realm="appointments"'


def test_invalid_request() -> None:
    status, headers, body = answer(InvalidRequest("more than one Authorization header"))
    assert status == 400
    assert headers["www-authenticate"] == (
        'Bearer error="invalid_request", error_description="more than one Authorization header"'
    )
    assert body == {
        "error": "invalid_request",
        "error_description": "more than one Authorization header",
    }


def test_invalid_token() -> None:
    status, headers, body = answer(InvalidToken("the token has expired", reason="expired"))
    assert status == 401
    assert headers["www-authenticate"] == (
        'Bearer error="invalid_token", error_description="the token has expired"'
    )
    assert body == {"error": "invalid_token", "error_description": "the token has expired"}


def test_insufficient_scope_names_the_required_scopes() -> None:
    exc = InsufficientScope("the token lacks b", required=("a", "b"))
    status, headers, body = answer(exc)
    assert status == 403
    assert headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="a b"'
    assert body == {"error": "insufficient_scope", "error_description": "the token lacks b"}


def test_insufficient_scope_without_scopes_describes_instead() -> None:
    exc = InsufficientScope("this route is for users only")
    _, headers, _ = answer(exc)
    assert headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", error_description="this route is for users only"'
    )


def test_keys_unavailable_is_503_with_retry_after_and_no_challenge() -> None:
    status, headers, body = answer(
        KeysUnavailable("the issuer's keys could not be fetched", retry_after=17)
    )
    assert status == 503
    assert headers["retry-after"] == "17"
    assert "www-authenticate" not in headers
    assert body["error"] == "temporarily_unavailable"


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (KeysUnavailable("no keys", retry_after=17), "keys_unavailable"),
        (ReplayStoreUnavailable("store full", retry_after=17), "replay_store_unavailable"),
        (ServiceUnavailable("down", retry_after=17), "service_unavailable"),
    ],
)
def test_one_service_unavailable_family(exc: ServiceUnavailable, reason: str) -> None:
    """Keys and the replay store fail the same way: 503, Retry-After, no challenge."""
    assert isinstance(exc, ServiceUnavailable)
    assert exc.reason == reason
    for challenge in (None, Challenge(dpop=True, dpop_algs=("ES256",))):
        status, headers, body = answer(exc, challenge)
        assert status == 503
        assert headers["retry-after"] == "17"
        assert "www-authenticate" not in headers
        assert body == {"error": "temporarily_unavailable", "error_description": exc.description}


@pytest.mark.parametrize("retry_after", [0, -5, 0.2])
def test_retry_after_is_at_least_one_second(retry_after: float) -> None:
    assert KeysUnavailable("x", retry_after=retry_after).retry_after == 1  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "description",
    [
        'he said "no"',
        "back\\slash",
        "line\r\nX-Injected: 1",
        "tab\there\x00nul\x7fdel",
        "non-ASCII: Zoë ✓ 🔑",
        '\\"',
        "",
    ],
)
def test_descriptions_never_break_the_header(description: str) -> None:
    for exc in (InvalidToken(description), InvalidRequest(description)):
        _, headers, body = answer(exc)
        value = headers["www-authenticate"]
        assert "\r" not in value
        assert "\n" not in value
        assert value.count('"') == 4
        assert body["error_description"] == description  # the JSON body keeps it exactly


def test_a_hostile_realm_is_quoted_too() -> None:
    _, headers, _ = answer(MissingCredentials("x"), Challenge(realm='a", error="forged'))
    assert headers["www-authenticate"].count('"') == 2


@pytest.mark.parametrize(
    ("exc", "status", "error"),
    [
        (MissingCredentials("x"), 401, None),
        (InvalidRequest("x"), 400, "invalid_request"),
        (InvalidToken("x"), 401, "invalid_token"),
        (InvalidDPoPProof("x"), 401, "invalid_dpop_proof"),
        (UseDPoPNonce("x", nonce="n"), 401, "use_dpop_nonce"),
        (InsufficientScope("x", required=["a"]), 403, "insufficient_scope"),
        (KeysUnavailable("x"), 503, "temporarily_unavailable"),
    ],
)
def test_each_class_fixes_status_and_code(
    exc: RSGuardError, status: int, error: str | None
) -> None:
    assert (exc.status_code, exc.error) == (status, error)
    assert isinstance(exc.reason, str)
    assert exc.reason
    assert render_error(exc)[0] == status
    assert "x" in repr(exc)


def test_reasons_are_stable_words() -> None:
    assert InvalidToken("x").reason == "invalid_token"
    assert InvalidToken("x", reason="expired").reason == "expired"
    assert MissingCredentials("x").reason == "missing_credentials"
    assert KeysUnavailable("x").reason == "keys_unavailable"
    assert InvalidDPoPProof("x").reason == "invalid_dpop_proof"


def test_the_hierarchy() -> None:
    assert issubclass(UseDPoPNonce, InvalidDPoPProof)
    assert issubclass(InvalidDPoPProof, InvalidToken)
    for cls in (
        MissingCredentials,
        InvalidRequest,
        InvalidToken,
        InsufficientScope,
        KeysUnavailable,
        ReplayStoreUnavailable,
    ):
        assert issubclass(cls, RSGuardError)
    assert issubclass(KeysUnavailable, ServiceUnavailable)
    assert issubclass(ReplayStoreUnavailable, ServiceUnavailable)
    assert issubclass(ConfigError, ValueError)
    assert not issubclass(ConfigError, RSGuardError)
    error = ConfigError("jwks_uri", "must use https")
    assert error.field == "jwks_uri"
    assert str(error) == "jwks_uri: must use https"


# -- DPoP challenges (RFC 9449 §7.1) -------------------------------------------------------

BOTH = Challenge(dpop=True, dpop_algs=("ES256", "PS256"))
DPOP_ONLY = Challenge(bearer=False, dpop=True, dpop_algs=("ES256",))


def test_dpop_beside_bearer_without_credentials() -> None:
    _, headers, _ = answer(MissingCredentials("x"), BOTH)
    assert headers["www-authenticate"] == 'Bearer realm="api", DPoP algs="ES256 PS256"'


def test_dpop_only_without_credentials() -> None:
    _, headers, _ = answer(MissingCredentials("x"), DPOP_ONLY)
    assert headers["www-authenticate"] == 'DPoP algs="ES256"'


def test_the_error_goes_on_the_scheme_the_client_used() -> None:
    exc = InvalidToken("the token has expired")
    exc.scheme = "DPoP"
    _, headers, _ = answer(exc, BOTH)
    assert headers["www-authenticate"] == (
        'Bearer realm="api", DPoP error="invalid_token", '
        'error_description="the token has expired", algs="ES256 PS256"'
    )
    exc = InvalidToken("the token has expired")
    exc.scheme = "Bearer"
    _, headers, _ = answer(exc, BOTH)
    assert headers["www-authenticate"] == (
        'Bearer error="invalid_token", error_description="the token has expired", '
        'DPoP algs="ES256 PS256"'
    )


def test_an_invalid_proof_is_a_dpop_error() -> None:
    status, headers, body = answer(InvalidDPoPProof("the proof's htm does not match"), BOTH)
    assert status == 401
    assert headers["www-authenticate"] == (
        'Bearer realm="api", DPoP error="invalid_dpop_proof", '
        'error_description="the proof\'s htm does not match", algs="ES256 PS256"'
    )
    assert body["error"] == "invalid_dpop_proof"


def test_use_dpop_nonce_sends_the_nonce() -> None:
    _, headers, body = answer(UseDPoPNonce("a nonce is required", nonce="n-123"), DPOP_ONLY)
    assert headers["dpop-nonce"] == "n-123"
    assert headers["www-authenticate"] == (
        'DPoP error="use_dpop_nonce", error_description="a nonce is required", algs="ES256"'
    )
    assert body["error"] == "use_dpop_nonce"


def test_a_bearer_error_with_only_dpop_offered_goes_on_dpop() -> None:
    exc = InvalidRequest("more than one Authorization header")
    exc.scheme = "Bearer"
    _, headers, _ = answer(exc, DPOP_ONLY)
    assert headers["www-authenticate"].startswith('DPoP error="invalid_request"')


def test_no_scheme_offered_falls_back_to_bearer() -> None:
    _, headers, _ = answer(MissingCredentials("x"), Challenge(bearer=False, dpop=False))
    assert headers["www-authenticate"] == 'Bearer realm="api"'
