"""Attacks on a cheaper cache-miss verification (issue 13): whatever the verifier
remembers of tokens it has seen (header segments that passed the header rules, parsed
parts), every token still gets the answer it got before any memo existed.

Each test first makes the guard see a good token (so a memo holds its header), then
sends tokens that share what a memo could be keyed on: the same header segment with
another key's signature, a payload that breaks the strict JSON rules, another spelling of
the same bytes, another guard with other settings in the same process, a flood of
distinct passing headers. The answers are pinned exactly (status, ``error``,
description, ``WWW-Authenticate``): they are those of the verifier before the speed work.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from known_token_support import (
    hello,
    no_debug_logging,  # noqa: F401  (autouse fixture)
)
from werkzeug.test import Client

from rs_guard import Guard
from rs_guard._jose import b64url_encode
from rs_guard.adapters.wsgi import RSGuardWSGIMiddleware
from rs_guard.errors import InvalidToken
from rs_guard.testing import TokenIssuer, generate_key

Answer = tuple[int, Any, "str | None"]


def seg(raw: str | bytes) -> str:
    return b64url_encode(raw.encode() if isinstance(raw, str) else raw)


def rs256(private_key: Any, header: str | bytes, payload: str | bytes) -> str:
    """A compact JWS of exactly these header and payload bytes, signed RS256."""
    signing_input = f"{seg(header)}.{seg(payload)}"
    return f"{signing_input}.{sign(private_key, signing_input)}"


def sign(private_key: Any, signing_input: str) -> str:
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return b64url_encode(signature)


def ask(client: Client, token: str) -> Answer:
    response = client.get("/x", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json, response.headers.get("WWW-Authenticate")


def invalid(description: str) -> Answer:
    return (
        401,
        {"error": "invalid_token", "error_description": description},
        f'Bearer error="invalid_token", error_description="{description}"',
    )


OK = (200, {"sub": "auth0|user-1"}, None)
MALFORMED = "the access token is malformed: "
DUPLICATE = invalid(MALFORMED + "a JSON object has a duplicate member name")
NOT_UTF8_PAYLOAD = invalid(MALFORMED + "the payload is not valid UTF-8 JSON")
NOT_UTF8_HEADER = invalid(MALFORMED + "the header is not valid UTF-8 JSON")
BAD_SIGNATURE = invalid("the token's signature is not valid")


class Api:
    """A guard behind the WSGI middleware, the issuer's key and a good token's parts."""

    def __init__(self, issuer: TokenIssuer, clock: Any, **settings: Any) -> None:
        self.issuer = issuer
        self.guard = Guard(issuer.config(**settings), transport=issuer.transport(), clock=clock)
        self.client = Client(RSGuardWSGIMiddleware(hello, guard=self.guard))
        self.kid = issuer.current.kid
        self.key = issuer.current.private_key
        self.header = json.dumps({"alg": "RS256", "typ": "JWT", "kid": self.kid})
        self.payload = json.dumps(issuer.claims())

    def token(self, header: str | bytes | None = None, payload: str | bytes | None = None) -> str:
        return rs256(self.key, self.header if header is None else header, payload or self.payload)

    def with_claim(self, member: str) -> str:
        """The good payload with ``member`` (raw JSON text) added."""
        return self.payload[:-1] + ", " + member + "}"

    def ask(self, token: str) -> Answer:
        return ask(self.client, token)


@pytest.fixture
def api(issuer: TokenIssuer, clock: Any) -> Iterator[Api]:
    made = Api(issuer, clock)
    yield made
    made.guard.close()


def test_strict_json_still_refused_after_the_header_passed(api: Api) -> None:
    """The good token's header segment passed; the same header with payloads that break
    the strict JSON rules (signed by the right key), and headers that break them."""
    kid = api.kid
    assert api.ask(api.token()) == OK
    cases: list[tuple[str | bytes | None, str | bytes | None, Answer]] = [
        # duplicate names, also spelled with escapes, at any depth (RFC 8725 §3.11)
        (None, api.with_claim('"s\\u0075b": "auth0|other"'), DUPLICATE),
        (None, api.with_claim('"sub": "auth0|user-1"'), DUPLICATE),
        (None, api.with_claim('"cnf": {"jkt": "a", "j\\u006bt": "b"}'), DUPLICATE),
        (None, api.with_claim('"x": {"y": [{"z": 1, "z": 2}]}'), DUPLICATE),
        (f'{{"alg":"RS256","typ":"JWT","kid":"{kid}","k\\u0069d":"{kid}"}}', None, DUPLICATE),
        (f'{{"alg":"RS256","typ":"JWT","kid":"{kid}","a\\u006cg":"none"}}', None, DUPLICATE),
        (f'{{"alg":"RS256","typ":"JWT","kid":"{kid}","x":{{"a":1,"a":1}}}}', None, DUPLICATE),
        # the JSON constants, in the payload, the header, nested
        (None, api.with_claim('"x": NaN'), invalid(MALFORMED + "JSON NaN is not allowed")),
        (
            None,
            api.with_claim('"x": [-Infinity]'),
            invalid(MALFORMED + "JSON -Infinity is not allowed"),
        ),
        (
            f'{{"alg":"RS256","typ":"JWT","kid":"{kid}","x":{{"y":Infinity}}}}',
            None,
            invalid(MALFORMED + "JSON Infinity is not allowed"),
        ),
        # UTF-8: overlong "/", an encoded surrogate, a lone continuation byte, a BOM
        (None, api.with_claim('"x": "\xc0\xaf"').encode("latin-1"), NOT_UTF8_PAYLOAD),
        (None, api.with_claim('"x": "\xed\xa0\x80"').encode("latin-1"), NOT_UTF8_PAYLOAD),
        (api.header[:-1].encode() + b', "x": "\x80"}', None, NOT_UTF8_HEADER),
        (b"\xef\xbb\xbf" + api.header.encode(), None, NOT_UTF8_HEADER),
        # a lone surrogate escape: the kid is no key's; elsewhere, as before, a string
        (
            '{"alg":"RS256","typ":"JWT","kid":"\\ud800"}',
            None,
            invalid("the token was signed with an unknown key"),
        ),
        (None, api.with_claim('"x": "\\ud800"'), OK),
        # deep nesting
        (None, api.with_claim('"x": ' + "[" * 3000 + "]" * 3000), NOT_UTF8_PAYLOAD),
    ]
    for _ in range(2):  # the same answer again (nothing remembered of a refusal)
        for n, (header, payload, expected) in enumerate(cases):
            assert api.ask(api.token(header, payload)) == expected, n
        assert api.ask(api.token()) == OK


def test_the_same_header_segment_with_another_keys_signature(api: Api) -> None:
    """One header segment (one kid): the right key's token passes, an impostor key of the
    same kid and a signature moved from another token are refused, in any order."""
    impostor = generate_key("RS256", kid=api.kid)
    good = api.token()
    other_payload = api.with_claim('"n": 1')
    forged = rs256(impostor.private_key, api.header, api.payload)
    moved = good.rsplit(".", 1)[0] + "." + api.token(payload=other_payload).rsplit(".", 1)[1]
    assert forged.split(".")[0] == good.split(".")[0]
    for _ in range(3):
        assert api.ask(forged) == BAD_SIGNATURE
        assert api.ask(good) == OK
        assert api.ask(moved) == BAD_SIGNATURE
        assert api.ask(api.token(payload=other_payload)) == OK


def _non_canonical(segment: str) -> str:
    """Another spelling of the same bytes: the last character's unused bits set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare = {2: 0x0F, 3: 0x03}[len(segment) % 4]
    index = alphabet.index(segment[-1])
    assert index & spare == 0
    return segment[:-1] + alphabet[index | 1]


def test_another_spelling_of_a_passing_header_is_refused(api: Api) -> None:
    """RFC 4648 §3.5: the header segment of a good token with its last character's
    unused bits set decodes to the same bytes; signed as spelled, it is still refused
    (one token, one spelling: the token cache is keyed by it)."""
    header = api.header
    while len(seg(header)) % 4 not in (2, 3):
        header = header[:-1] + " }" if header.endswith("}") else header
    good = api.token(header)
    assert api.ask(good) == OK
    odd = _non_canonical(good.split(".")[0])
    signing_input = f"{odd}.{seg(api.payload)}"
    respelt = f"{signing_input}.{sign(api.key, signing_input)}"
    expected = invalid(MALFORMED + "a segment is not canonical base64url")
    for _ in range(2):
        assert api.ask(respelt) == expected
        assert api.ask(good) == OK


def test_two_guards_with_other_settings_in_one_process(issuer: TokenIssuer, clock: Any) -> None:
    """A header that passes one guard's rules (RS256, typ JWT) and not another's (ES256
    only; RFC 9068's at+jwt): each guard answers its own way, whatever the other saw."""
    plain = Api(issuer, clock)
    es256 = Api(issuer, clock, algorithm="ES256")
    rfc9068 = Api(issuer, clock, token_dialect="rfc9068_profile")
    token = plain.token()
    for _ in range(3):
        for api, expected in (
            (plain, OK),
            (es256, invalid("the token is signed with 'RS256'; this API accepts ES256 only")),
            (rfc9068, invalid("the token's typ is not an access token type (at+jwt)")),
        ):
            assert api.ask(token) == expected
    for api in (plain, es256, rfc9068):
        api.guard.close()


def test_a_flood_of_distinct_passing_headers_keeps_memory_bounded(api: Api) -> None:
    """7,000 header segments that pass the header rules (an ignored member differs),
    each with a bad signature: each refused, the memory they leave behind small, and a
    good token's answer unchanged before, during and after."""
    good = api.token()
    assert api.ask(good) == OK
    signature = good.rsplit(".", 1)[1]
    payload = seg(api.payload)

    def flood(start: int, count: int) -> None:
        for n in range(start, start + count):
            header = api.header[:-1] + f', "n": {n}}}'
            token = f"{seg(header)}.{payload}.{signature}"
            with pytest.raises(InvalidToken) as refused:
                api.guard.verify(token)
            assert refused.value.description == "the token's signature is not valid"

    flood(0, 1_000)  # every cache and memo warm and full
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    flood(1_000, 6_000)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 256 * 1024, grown  # unbounded, 6,000 header segments alone: 840 kB
    assert api.ask(good) == OK
    assert api.ask(api.token(payload=api.with_claim('"n": 2'))) == OK


def test_a_remembered_header_whose_key_is_gone(issuer: TokenIssuer, clock: Any) -> None:
    """The header segment passed with its key; the key leaves the set: a new token with
    that very segment (signed by the old key) is refused, the key lookup runs each time."""
    api = Api(issuer, clock, token_cache_size=0)
    old_key = api.key
    assert api.ask(api.token()) == OK
    issuer.rotate(keep_old=False)
    [keys] = api.guard.jwks.values()
    keys.refresh()
    later = rs256(old_key, api.header, api.with_claim('"n": 1'))
    for _ in range(2):
        assert api.ask(later) == invalid("the token was signed with an unknown key")
    api.guard.close()
