"""The token-cache miss path, made cheaper, answers as before.

* The tuples it builds with ``tuple.__new__`` (no class call) are complete instances of
  their type, equal to the class call's.
* ``_number`` (exp, nbf, iat) with its fast path for integers answers as the general
  reading of RFC 7519 §2 NumericDate did.
* With the token cache off, the known-token map is off too (``known_token`` answers
  ``None`` without reading the header), the flow runs for every request and answers as
  with the cache on: the same token, the same refusals.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

import pytest
from known_token_support import no_debug_logging  # noqa: F401  (autouse fixture)

from rs_guard import AsyncGuard, Guard, RequestContext
from rs_guard._jose import CompactJWS, parse_compact_jws
from rs_guard.errors import InvalidToken, RSGuardError
from rs_guard.extract import Credentials, extract_credentials
from rs_guard.guard import KeyWanted
from rs_guard.testing import TokenIssuer
from rs_guard.testing.issuer import tampered
from rs_guard.token import AccessToken
from rs_guard.verify import UnverifiedToken, _number


def request(value: str) -> RequestContext:
    return RequestContext("GET", "https://api.example/x", [("authorization", value)])


def test_tuples_built_without_the_class_call_are_complete(issuer: TokenIssuer, clock: Any) -> None:
    guard = Guard(issuer.config(token_cache_size=0), transport=issuer.transport(), clock=clock)
    raw = issuer.mint(scopes=["read:a"])
    ctx = request(f"Bearer {raw}")

    credentials = extract_credentials(ctx)
    assert type(credentials) is Credentials
    assert credentials == Credentials("Bearer", raw, f"Bearer {raw}")

    jws = parse_compact_jws(raw)
    assert type(jws) is CompactJWS
    assert len(jws) == len(CompactJWS._fields)
    assert CompactJWS(*jws) == jws

    unverified = guard.policy.precheck(raw, clock())
    assert type(unverified) is UnverifiedToken
    assert len(unverified) == len(UnverifiedToken._fields)
    assert unverified.raw == raw
    assert unverified.issuer == issuer.issuer
    assert unverified.kid == issuer.current.kid
    assert unverified.header_segment == raw.split(".")[0].encode()

    flow = guard.authentication_flow(ctx)
    want = next(flow)
    assert type(want) is KeyWanted
    assert want == KeyWanted(issuer.issuer, issuer.current.kid)
    flow.close()

    token = guard.authenticate(ctx)
    assert type(token) is AccessToken
    assert len(token) == len(AccessToken._fields)
    assert AccessToken(*token) == token
    assert token.subject == "auth0|user-1"
    assert token.granted == frozenset({"read:a"})
    assert token.granted_claim == "scope"
    assert token.granted_reason == guard.policy.granted_reason


def reference_number(claims: Mapping[str, Any], name: str) -> float | None:
    """``_number`` as it was before its fast path for integers."""
    absent = object()
    value = claims.get(name, absent)
    if value is absent:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidToken(f"the {name} claim is not a NumericDate")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidToken(f"the {name} claim is not a NumericDate")
    return number


class Big(int):
    """An int subclass (no JSON value is one): it takes the general path."""


@pytest.mark.parametrize(
    "value",
    [
        0, 1, -1, 1_800_000_000, 2**53 + 1, 10**308, 10**309, -(10**400), 10**400,
        True, False, None, 1.5, -0.0, math.inf, -math.inf, math.nan, 1e308,
        "1800000000", [1], {"a": 1}, Big(5), Big(10**400),
    ],
    ids=lambda value: repr(value)[:24],
)  # fmt: skip
def test_number_answers_as_the_general_reading(value: Any) -> None:
    claims = {"exp": value}

    def answer(read: Any) -> tuple[str, Any]:
        try:
            number = read(claims, "exp")
        except InvalidToken as exc:
            return ("refused", exc.args[0])
        return ("ok", repr(number), type(number))

    assert answer(_number) == answer(reference_number)
    assert _number({}, "exp") is None


def refusal(call: Any) -> tuple[Any, ...]:
    try:
        call()
    except RSGuardError as exc:
        return (type(exc), exc.status_code, exc.error, exc.reason, exc.args[0], exc.scheme)
    raise AssertionError("accepted")


def comparable(token: AccessToken) -> tuple[Any, ...]:
    return (token.raw, dict(token.claims), dict(token.header), *token[3:])


@pytest.mark.parametrize("cache_size", [0, 4096])
def test_known_tokens_only_with_the_cache_on(
    issuer: TokenIssuer, clock: Any, cache_size: int
) -> None:
    guard = Guard(
        issuer.config(token_cache_size=cache_size), transport=issuer.transport(), clock=clock
    )
    value = f"Bearer {issuer.mint(scopes=['read:a'])}"
    answers = [guard.authenticate(request(value)) for _ in range(3)]
    known = guard.known_token([value], "")
    if cache_size:
        assert known is answers[0]
        assert len(guard.token_cache) == 1
    else:
        assert known is None
        assert len(guard.token_cache) == 0
        assert guard._known == {}
        # the flow ran every time: three separate verifications, equal tokens
        assert answers[0] is not answers[1] is not answers[2]
    assert [comparable(t) for t in answers] == [comparable(answers[0])] * 3


def test_the_cache_off_answers_as_the_cache_on(issuer: TokenIssuer, clock: Any) -> None:
    on = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    off = Guard(issuer.config(token_cache_size=0), transport=issuer.transport(), clock=clock)
    aoff = AsyncGuard(issuer.config(token_cache_size=0), transport=issuer.transport(), clock=clock)
    good = issuer.mint(scopes=["read:a", "write:a"])
    for _ in range(2):
        expected = comparable(on.authenticate(request(f"Bearer {good}")))
        assert comparable(off.authenticate(request(f"Bearer {good}"))) == expected
        assert comparable(asyncio.run(aoff.authenticate(request(f"Bearer {good}")))) == expected
        assert comparable(off.verify(good)) == expected
    expired = issuer.mint(expires_in=-120)
    values = [
        f"Bearer {tampered(good)}",
        f"Bearer {expired}",
        f"Bearer {good}=",
        f"Bearer {good[:-1]}\x01",
        f"Bearer {good}.x",
        "Bearer a.b",
        f"bearer  {good}~",
    ]
    for value in values:
        expected_refusal = refusal(lambda: on.authenticate(request(value)))  # noqa: B023
        assert refusal(lambda: off.authenticate(request(value))) == expected_refusal  # noqa: B023
        assert (
            refusal(lambda: asyncio.run(aoff.authenticate(request(value))))  # noqa: B023
            == expected_refusal
        )
        assert off.known_token([value], "") is None
    assert refusal(lambda: off.authenticate(request(f"Bearer {expired}")))[3] == "expired"
    assert refusal(lambda: off.authenticate(request(f"Bearer {good}\x01")))[2] == (
        "invalid_request"
    )
