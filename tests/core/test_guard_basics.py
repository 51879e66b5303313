"""End to end through Guard and AsyncGuard with an in-memory issuer."""

from __future__ import annotations

import pytest

from rs_guard import (
    AsyncGuard,
    Guard,
    InvalidRequest,
    InvalidToken,
    MissingCredentials,
    RequestContext,
    render_error,
)
from rs_guard.testing import TokenIssuer


def request(authorization: str | None = None, query: str = "") -> RequestContext:
    headers = [("authorization", authorization)] if authorization is not None else []
    return RequestContext("GET", "https://api.test/x", headers, query_string=query)


def test_valid_token_gives_claims_and_scopes(issuer: TokenIssuer, clock) -> None:
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    token = issuer.mint(scopes=["read:a", "write:a"])
    result = guard.authenticate(request(f"Bearer {token}"))
    assert result.subject == "auth0|user-1"
    assert result.scopes == {"read:a", "write:a"}
    assert result.granted == result.scopes
    assert token not in repr(result)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The async guard is backend-neutral: its tests run on asyncio and on trio."""
    return str(request.param)


@pytest.mark.anyio
async def test_async_guard_verifies_the_same(issuer: TokenIssuer, clock) -> None:
    guard = AsyncGuard(issuer.config(), transport=issuer.transport(), clock=clock)
    token = issuer.mint(scopes=["read:a"])
    try:
        result = await guard.authenticate(request(f"bearer   {token}"))
        assert (result.subject, result.scopes) == ("auth0|user-1", {"read:a"})
        with pytest.raises(InvalidToken) as info:
            await guard.authenticate(request(f"Bearer {token[:-4]}AAAA"))
        assert info.value.reason == "bad_signature"
        assert (await guard.verify(token)).subject == "auth0|user-1"
    finally:
        await guard.aclose()


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        ({"claims": {"exp": 1}}, "expired"),
        ({"claims": {"aud": "https://other.api"}}, "wrong_audience"),
        ({"claims": {"iss": "https://evil.test/"}}, "wrong_issuer"),
        ({"drop": ["sub"]}, "missing_claim"),
        ({"claims": {"exp": "tomorrow"}}, "invalid_claim"),
        ({"claims": {"sub": 42}}, "invalid_claim"),
        ({"headers": {"typ": "dpop+jwt"}}, "wrong_type"),
        ({"headers": {"crit": ["exp"]}}, "unsupported_header"),
    ],
)
def test_invalid_tokens_are_refused_with_a_reason(
    issuer: TokenIssuer, clock, mutation: dict, reason: str
) -> None:
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    token = issuer.mint(**mutation)
    with pytest.raises(InvalidToken) as caught:
        guard.authenticate(request(f"Bearer {token}"))
    assert caught.value.reason == reason
    assert token not in caught.value.description


def test_refused_before_the_key_is_needed_fetches_nothing(issuer: TokenIssuer, clock) -> None:
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    for token in ("not-a-jwt", issuer.mint(claims={"iss": "https://evil.test/"})):
        with pytest.raises(InvalidToken):
            guard.authenticate(request(f"Bearer {token}"))
    assert issuer.jwks_requests == 0


def test_missing_and_malformed_credentials(issuer: TokenIssuer, clock) -> None:
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    with pytest.raises(MissingCredentials):
        guard.authenticate(request())
    with pytest.raises(MissingCredentials):
        guard.authenticate(request("Basic dXNlcjpwYXNz"))
    with pytest.raises(MissingCredentials):
        guard.authenticate(request(query="access_token=abc"))
    with pytest.raises(InvalidRequest):
        guard.authenticate(request("Bearer"))
    with pytest.raises(InvalidRequest):
        guard.authenticate(request("Bearer a b"))
    with pytest.raises(InvalidRequest):
        guard.authenticate(request("Bearer abc", query="access_token=abc"))


def test_render_error_shapes_the_rfc6750_answer(issuer: TokenIssuer, clock) -> None:
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    with pytest.raises(MissingCredentials) as missing:
        guard.authenticate(request())
    status, headers, body = render_error(missing.value, guard.challenge)
    assert status == 401
    assert dict(headers)["www-authenticate"] == 'Bearer realm="api"'
    assert b'"error"' not in body
