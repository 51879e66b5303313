"""Nothing a client sends escapes as anything but an RSGuardError (property tests)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms

from rs_guard import Guard, InvalidToken, RequestContext, RSGuardError, render_error
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


#: RFC 6750 §2.1 b64token: what a token in the Authorization header may look like.
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
INVALID_REQUEST = (400, "invalid_request")
INVALID_TOKEN = (401, "invalid_token")
NO_CREDENTIALS = (401, None)


def refusal(guard: Guard, ctx: RequestContext) -> tuple[int, str | None]:
    """``(status, error)`` of the refusal of ``ctx``, checking the answer's shape."""
    with pytest.raises(RSGuardError) as caught:
        guard.authenticate(ctx)
    status, headers, body = render_error(caught.value, guard.challenge)
    for _, value in headers:
        assert all(0x20 <= ord(ch) < 0x7F for ch in value)
    answer = json.loads(body)
    assert answer.get("error") == caught.value.error
    challenge = dict(headers)["www-authenticate"]
    if caught.value.error is None:
        assert challenge == 'Bearer realm="api"'
    else:
        assert challenge.startswith(f'Bearer error="{caught.value.error}", error_description="')
    return status, caught.value.error


def expected_for_token(text: str) -> tuple[int, str | None]:
    """What ``Authorization: Bearer <text>`` must get (no valid token is ever random)."""
    token = text.strip(" ")
    if not token or " " in token or not B64TOKEN.fullmatch(token):
        return INVALID_REQUEST  # empty, two tokens, control or non-token characters
    return INVALID_TOKEN


@FUZZ
@given(st.text(max_size=300))
def test_random_text_as_a_token(rs_guard: Guard, text: str) -> None:
    ctx = RequestContext("GET", "https://api.test/", [("authorization", "Bearer " + text)])
    assert refusal(rs_guard, ctx) == expected_for_token(text)
    with pytest.raises(InvalidToken) as caught:
        rs_guard.verify(text)
    assert render_error(caught.value)[0] == 401
    assert all(not client.state.keys() for client in rs_guard.jwks.values())  # no key fetched


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
    assert refusal(rs_guard, ctx) == expected_for_lines(lines, query)


def expected_for_lines(lines: list[str], query: str) -> tuple[int, str | None]:
    """RFC 6750 §2.1, §3.1 and RFC 9700 §4.3.2 for any Authorization lines and query."""
    in_query = any(name == "access_token" for name, _ in parse_qsl(query, keep_blank_values=True))
    if not lines:
        return NO_CREDENTIALS  # nothing, or a token only in the query string
    if len(lines) > 1:
        return INVALID_REQUEST
    scheme, _, rest = lines[0].strip(" ").partition(" ")
    if not scheme.isprintable():
        return INVALID_REQUEST
    if scheme.lower() != "bearer":
        return NO_CREDENTIALS  # another scheme
    if in_query:
        return INVALID_REQUEST  # no token after the scheme, or one in both places
    return expected_for_token(rest)


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
