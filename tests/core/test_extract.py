"""Finding the token in a request: RFC 6750 §2.1, RFC 9700 §4.3.2."""

from __future__ import annotations

import pytest

from rs_guard.context import RequestContext
from rs_guard.errors import InvalidRequest, InvalidToken, MissingCredentials
from rs_guard.extract import Credentials, check_syntax, extract_credentials

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def ctx(*authorization: str, query: str = "") -> RequestContext:
    return RequestContext(
        "GET", "https://api.test/x", [("authorization", a) for a in authorization], query
    )


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (ctx(), "missing_credentials"),
        (ctx("Basic dXNlcjpwYXNz"), "unsupported_scheme"),
        (ctx("Digest username=x"), "unsupported_scheme"),
        (ctx("Bearerx " + TOKEN), "unsupported_scheme"),
        (ctx(f"DPoP {TOKEN}"), "unsupported_scheme"),  # DPoP is not configured here
        (ctx(query=f"access_token={TOKEN}"), "token_in_query"),
        (ctx(query=f"a=1&access_token={TOKEN}&b=2"), "token_in_query"),
        (ctx(query=f"access%5Ftoken={TOKEN}"), "token_in_query"),
    ],
)
def test_no_usable_credentials_is_401_without_error(request_: RequestContext, reason: str) -> None:
    with pytest.raises(MissingCredentials) as caught:
        extract_credentials(request_)
    assert caught.value.status_code == 401
    assert caught.value.error is None
    assert caught.value.reason == reason
    assert TOKEN not in caught.value.description


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (ctx("Bearer"), "malformed_header"),
        (ctx("Bearer "), "malformed_header"),
        (ctx("Bearer    "), "malformed_header"),
        (ctx(f"Bearer {TOKEN} {TOKEN}"), "malformed_header"),
        (ctx(f"Bearer {TOKEN}  other"), "malformed_header"),
        (ctx(f"Bearer {TOKEN}\x00"), "malformed_header"),
        (ctx(f"Bearer {TOKEN[:10]}\x7f{TOKEN[10:]}"), "malformed_header"),
        (ctx(f"Bearer\t{TOKEN}"), "malformed_header"),
        (ctx(f"Bearer {TOKEN}\r\nX-Evil: 1"), "malformed_header"),
        (ctx(f"Bearer {TOKEN}é"), "malformed_header"),
        (ctx('Bearer "quoted"'), "malformed_header"),
        (ctx("Bearer a,b"), "malformed_header"),
        (ctx(f"Bearer {TOKEN}", f"Bearer {TOKEN}"), "duplicate_header"),
        (ctx(f"Bearer {TOKEN}", "Basic eA=="), "duplicate_header"),
        (ctx(f"Bearer {TOKEN}", query=f"access_token={TOKEN}"), "token_in_header_and_query"),
        (ctx(f"Bearer {TOKEN}", query="access_token="), "token_in_header_and_query"),
    ],
)
def test_malformed_requests_are_400_invalid_request(request_: RequestContext, reason: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        extract_credentials(request_)
    assert caught.value.status_code == 400
    assert caught.value.error == "invalid_request"
    assert caught.value.reason == reason
    assert TOKEN not in caught.value.description


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN}",
        f"bearer {TOKEN}",
        f"BEARER {TOKEN}",
        f"bEaReR {TOKEN}",
        f"Bearer     {TOKEN}",
        f"  Bearer {TOKEN}  ",
    ],
)
def test_scheme_is_case_insensitive_and_spaces_may_repeat(header: str) -> None:
    credentials = extract_credentials(ctx(header))
    assert credentials == Credentials("Bearer", TOKEN, header)
    assert TOKEN not in repr(credentials)


def test_b64token_characters_and_padding_are_accepted() -> None:
    token = "abc-._~+/XYZ09=="
    assert extract_credentials(ctx(f"Bearer {token}")).token == token


def test_other_query_parameters_do_not_matter() -> None:
    assert extract_credentials(ctx(f"Bearer {TOKEN}", query="page=2&q=access")).token == TOKEN
    assert extract_credentials(ctx(f"Bearer {TOKEN}", query="my_access_token=1")).token == TOKEN


def test_dpop_scheme_when_configured() -> None:
    credentials = extract_credentials(ctx(f"dpop {TOKEN}"), dpop=True)
    assert (credentials.scheme, credentials.token) == ("DPoP", TOKEN)
    assert extract_credentials(ctx(f"Bearer {TOKEN}"), dpop=True).scheme == "Bearer"


def test_too_large_token_is_invalid_token() -> None:
    big = "a" * 300
    with pytest.raises(InvalidToken) as caught:
        extract_credentials(ctx(f"Bearer {big}"), max_token_bytes=299)
    assert caught.value.reason == "token_too_large"
    assert caught.value.status_code == 401
    assert extract_credentials(ctx(f"Bearer {big}"), max_token_bytes=300).token == big


def test_non_strict_extraction_leaves_the_character_check_for_later() -> None:
    credentials = extract_credentials(ctx(f"Bearer {TOKEN}\x01"), strict=False)
    with pytest.raises(InvalidRequest):
        check_syntax(credentials)


def test_only_the_authorization_header_is_read() -> None:
    request_ = RequestContext(
        "POST",
        "https://api.test/x",
        [("x-access-token", TOKEN), ("cookie", f"access_token={TOKEN}")],
    )
    with pytest.raises(MissingCredentials):
        extract_credentials(request_)
