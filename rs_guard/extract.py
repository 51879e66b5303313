"""Finding the access token in a request (RFC 6750 §2.1, RFC 9449 §7.1, RFC 9700 §4.3.2).

Only the ``Authorization`` header is read. A token in the query string is refused (its
URL ends up in logs and ``Referer``); the body is never read for tokens.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import parse_qsl

from .context import RequestContext
from .errors import InvalidRequest, InvalidToken, MissingCredentials
from .reasons import Reason

__all__ = ["Credentials", "check_syntax", "extract_credentials", "is_b64token"]

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
#: Each byte a b64token may hold (before its trailing ``=``) to itself, any other to ``!``.
_B64TOKEN_TABLE = bytes(b if b in _B64TOKEN_CHARS else 0x21 for b in range(256))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_b64token(token: str) -> bool:
    """Whether ``token`` is a b64token (RFC 6750 §2.1): one table pass over its bytes."""
    body = token.rstrip("=")
    return (
        body != ""
        and body.isascii()
        and b"!" not in body.encode("ascii").translate(_B64TOKEN_TABLE)
    )


class Credentials(NamedTuple):
    """The scheme (``Bearer`` or ``DPoP``, canonical case) and the token it carries."""

    scheme: str
    token: str = ""
    #: The whole header value, for :func:`check_syntax`.
    header: str = ""

    def __repr__(self) -> str:  # never show the token
        return f"Credentials(scheme={self.scheme!r}, token=<{len(self.token)} chars>)"

    def __str__(self) -> str:
        return self.__repr__()


def _query_has_token(query_string: str) -> bool:
    if "access_token" not in query_string and "%" not in query_string:
        return False  # fast path; a percent-encoded name (access%5Ftoken) is decoded below
    return any(key == "access_token" for key, _ in parse_qsl(query_string, keep_blank_values=True))


def check_syntax(credentials: Credentials) -> None:
    """Refuse control characters in the header and a token that is not a b64token.

    Split from :func:`extract_credentials` so that a token found in the verified-token
    cache (which passed this check when it was stored) does not pay for it again.
    """
    token, header = credentials.token, credentials.header
    if is_b64token(token):
        # The usual header is "<scheme> <token>": a b64token is printable, so the part
        # before it is all that is left to look at.
        before = header[: len(header) - len(token)] if header.endswith(token) else header
        if before.isprintable():
            return
    # Only to choose the message: the control-character one takes precedence.
    if _CONTROL.search(header):
        raise InvalidRequest(
            "the Authorization header contains control characters", reason=Reason.MALFORMED_HEADER
        )
    if not is_b64token(token):
        raise InvalidRequest(
            "the access token contains characters a token cannot have",
            reason=Reason.MALFORMED_HEADER,
        )


def extract_credentials(
    ctx: RequestContext,
    *,
    dpop: bool = False,
    max_token_bytes: int = 16 * 1024,
    strict: bool = True,
) -> Credentials:
    """The credentials of ``ctx``, or the RFC 6750 error that refuses the request.

    ``dpop``: the ``DPoP`` scheme is accepted beside ``Bearer``. The scheme name is
    case-insensitive and one or more spaces may follow it. ``strict=False`` leaves the
    character checks to a later :func:`check_syntax` call.
    """
    values = ctx.header_values("authorization")
    in_query = _query_has_token(ctx.query_string) if ctx.query_string else False
    if not values:
        if in_query:
            raise MissingCredentials(
                "access tokens in the query string are not accepted; "
                "send it in the Authorization header",
                reason=Reason.TOKEN_IN_QUERY,
            )
        raise MissingCredentials("no access token was sent", reason=Reason.MISSING_CREDENTIALS)
    if len(values) > 1:
        raise InvalidRequest("more than one Authorization header", reason=Reason.DUPLICATE_HEADER)
    value = values[0]
    scheme, _, rest = value.strip(" ").partition(" ")
    if not scheme.isprintable():
        # A tab or other control character where the scheme ends: malformed, not "another
        # scheme". Only the short scheme part is searched here; the token part is checked
        # by check_syntax (skipped for a token the verified-token cache already holds).
        raise InvalidRequest(
            "the Authorization header contains control characters", reason=Reason.MALFORMED_HEADER
        )
    lowered = scheme.lower()
    if lowered == "bearer":
        scheme = "Bearer"
    elif lowered == "dpop" and dpop:
        scheme = "DPoP"
    else:
        raise MissingCredentials(
            "the Authorization scheme is not supported", reason=Reason.UNSUPPORTED_SCHEME
        )
    token = rest.lstrip(" ")
    if not token:
        raise InvalidRequest(
            f"the {scheme} scheme carries no token", reason=Reason.MALFORMED_HEADER
        )
    if in_query:
        raise InvalidRequest(
            "the access token was sent both in the header and in the query string",
            reason=Reason.TOKEN_IN_HEADER_AND_QUERY,
        )
    if " " in token:
        raise InvalidRequest(
            "the Authorization header carries more than one token", reason=Reason.MALFORMED_HEADER
        )
    if len(token) > max_token_bytes:
        raise InvalidToken(
            f"the access token is larger than {max_token_bytes} bytes",
            reason=Reason.TOKEN_TOO_LARGE,
        )
    credentials = Credentials(scheme, token, value)
    if strict:
        check_syntax(credentials)
    return credentials
