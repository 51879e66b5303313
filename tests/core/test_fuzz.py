"""Nothing a client sends escapes as anything but an RSGuardError (property tests)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms

from rs_guard import Guard, RequestContext, RSGuardError, render_error
from rs_guard._jose import b64url_encode
from rs_guard.testing import TokenIssuer

ALGS = get_default_algorithms()
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
CLAIM_NAMES = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "scope",
    "permissions",
    "azp",
    "client_id",
    "gty",
    "cnf",
    "act",
    "may_act",
]
HEADER_NAMES = ["alg", "typ", "kid", "crit", "jku", "jwk", "x5c", "cty", "b64", "zip"]


@pytest.fixture
def rs_guard(issuer: TokenIssuer, clock: Any) -> Iterator[Guard]:
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    yield guard
    guard.close()


@pytest.fixture
def hs_guard(hs256_issuer: TokenIssuer, clock: Any) -> Iterator[Guard]:
    guard = Guard(hs256_issuer.config(token_cache_size=0), clock=clock)
    yield guard
    guard.close()


def only_rsguard_errors(guard: Guard, header: str) -> None:
    ctx = RequestContext("GET", "https://api.test/", [("authorization", header)])
    try:
        guard.authenticate(ctx)
    except RSGuardError as exc:
        status, headers, body = render_error(exc, guard.challenge)
        assert status in (400, 401, 503)
        for _, value in headers:
            assert all(0x20 <= ord(ch) < 0x7F for ch in value)
        json.loads(body)


@FUZZ
@given(st.text(max_size=300))
def test_random_text_as_a_token(rs_guard: Guard, text: str) -> None:
    only_rsguard_errors(rs_guard, "Bearer " + text)
    with contextlib.suppress(RSGuardError):
        rs_guard.verify(text)


@FUZZ
@given(st.binary(max_size=200), st.binary(max_size=200), st.binary(max_size=300))
def test_random_bytes_in_three_segments(
    rs_guard: Guard, issuer: TokenIssuer, head: bytes, body: bytes, signature: bytes
) -> None:
    token = ".".join(b64url_encode(part) for part in (head, body, signature))
    only_rsguard_errors(rs_guard, "Bearer " + token)
    assert issuer.jwks_requests == 0  # nothing got as far as needing a key


@FUZZ
@given(
    st.dictionaries(st.sampled_from(HEADER_NAMES), json_values, max_size=4),
    st.dictionaries(st.sampled_from(CLAIM_NAMES), json_values, max_size=5),
)
def test_random_claim_and_header_values_in_signed_tokens(
    hs_guard: Guard, hs256_issuer: TokenIssuer, header: dict[str, Any], claims: dict[str, Any]
) -> None:
    full_header = {"alg": "HS256", "typ": "JWT", **header}
    payload = {**hs256_issuer.claims(), **claims}
    signing_input = (
        b64url_encode(json.dumps(full_header).encode())
        + "."
        + b64url_encode(json.dumps(payload).encode())
    )
    key = ALGS["HS256"].prepare_key(hs256_issuer.secret or "")
    token = signing_input + "." + b64url_encode(ALGS["HS256"].sign(signing_input.encode(), key))
    try:
        verified = hs_guard.verify(token)
    except RSGuardError:
        return
    # Whatever got through is well-typed.
    assert isinstance(verified.subject, str)
    assert isinstance(verified.expires_at, float)
    assert all(isinstance(s, str) for s in verified.granted)
    assert verified.to_dict()["sub"] == verified.subject


@FUZZ
@given(st.lists(st.text(max_size=40), min_size=0, max_size=3), st.text(max_size=60))
def test_random_header_lines_and_query_strings(
    rs_guard: Guard, lines: list[str], query: str
) -> None:
    ctx = RequestContext(
        "GET", "https://api.test/", [("authorization", v) for v in lines], query_string=query
    )
    try:
        rs_guard.authenticate(ctx)
    except RSGuardError as exc:
        render_error(exc, rs_guard.challenge)


# -- nothing of the token is echoed -----------------------------------------------------------

#: A value no answer may contain: a marker, quotes, a line separator and 11,000 characters.
ODD = 'q9Z"\\<evil>\u2028\u00a0\x7f' + "A" * 11_000
ODD_VALUES = [ODD, "q9Z-short", [ODD], {"q9Z": ODD}, 10**40]


def signed(issuer: TokenIssuer, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = (
        b64url_encode(json.dumps(header).encode())
        + "."
        + b64url_encode(json.dumps(claims).encode())
    )
    key = ALGS["HS256"].prepare_key(issuer.secret or "")
    return signing_input + "." + b64url_encode(ALGS["HS256"].sign(signing_input.encode(), key))


def assert_nothing_echoed(guard: Guard, token: str) -> None:
    """If ``token`` is refused, the answer holds none of its text and stays short.

    A value rs_guard accepts where it stands (any ``sub``, an ignored ``cty``) is allowed
    through: there is no answer to check then.
    """
    ctx = RequestContext("GET", "https://api.test/", [("authorization", "Bearer " + token)])
    try:
        guard.authenticate(ctx)
    except RSGuardError as exc:
        error = exc
    else:
        return
    status, headers, body = render_error(error, guard.challenge)
    assert status == 401
    challenge = dict(headers)["www-authenticate"]
    for text in (error.description, challenge, body.decode()):
        assert "q9Z" not in text
        assert "AAAAAAAA" not in text
        assert "evil" not in text
    assert len(error.description) < 120
    assert len(challenge) < 200


@pytest.fixture
def roomy_guard(hs256_issuer: TokenIssuer, clock: Any) -> Iterator[Guard]:
    config = hs256_issuer.config(token_cache_size=0, max_token_bytes=256 * 1024)
    guard = Guard(config, clock=clock)
    yield guard
    guard.close()


@pytest.mark.parametrize("value", ODD_VALUES, ids=["long", "short", "list", "object", "bignum"])
@pytest.mark.parametrize("name", [*HEADER_NAMES, "enc", "x5u", "epk", "q9Z"])
def test_no_header_text_in_the_answer(
    roomy_guard: Guard, hs256_issuer: TokenIssuer, name: str, value: Any
) -> None:
    header = {"alg": "HS256", "typ": "JWT", name: value}
    if name in ("jku", "jwk", "x5c", "x5u", "epk", "q9Z"):
        header["typ"] = value  # parameters rs_guard ignores: refuse on typ, with the value
    assert_nothing_echoed(roomy_guard, signed(hs256_issuer, header, hs256_issuer.claims()))


@pytest.mark.parametrize("value", ODD_VALUES, ids=["long", "short", "list", "object", "bignum"])
@pytest.mark.parametrize("name", [*CLAIM_NAMES, "scope_and_iss"])
def test_no_claim_text_in_the_answer(
    roomy_guard: Guard, hs256_issuer: TokenIssuer, name: str, value: Any
) -> None:
    claims = {**hs256_issuer.claims(), name: value}
    if name in ("scope", "scope_and_iss", "jti", "act", "may_act", "permissions", "azp"):
        claims["iss"] = value  # a claim that may hold any value: refuse on iss, with it
    assert_nothing_echoed(roomy_guard, signed(hs256_issuer, {"alg": "HS256", "typ": "JWT"}, claims))


@pytest.mark.parametrize("kid", [ODD[:200], "q9Z-short", "q9Z\u2028"])
def test_no_kid_text_in_the_answer(rs_guard: Guard, issuer: TokenIssuer, kid: str) -> None:
    assert_nothing_echoed(rs_guard, issuer.mint(headers={"kid": kid}))
    assert_nothing_echoed(rs_guard, issuer.mint(headers={"kid": kid}, claims={"iss": kid}))
