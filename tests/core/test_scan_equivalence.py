"""The one-pass character checks answer exactly as the regular expressions they replaced.

``check_syntax`` (RFC 6750 §2.1 b64token, control characters) and the compact-JWS parse
(RFC 7515 §7.1) used to scan a token with regular expressions; they now scan it once with
a byte table. The expressions are kept here as the reference, and a seeded corpus of
every input class (alphabets, separators, padding, control and non-ASCII characters,
lengths, JSON with white space, duplicates and constants) must get the same answer:
accepted with the same result, or refused with the same exception and message.
"""

from __future__ import annotations

import binascii
import json
import random
import re
from collections.abc import Callable
from typing import Any

import pytest

from rs_guard._jose import JOSEError, b64url_decode, b64url_encode, json_object, parse_compact_jws
from rs_guard.errors import RSGuardError
from rs_guard.extract import Credentials, check_syntax, is_b64token

# -- the reference: the regular expressions of the earlier implementation ----------------

B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SEGMENTS = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)")
SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


def reference_check_syntax(credentials: Credentials) -> None:
    if B64TOKEN.fullmatch(credentials.token) and credentials.header.isprintable():
        return
    if CONTROL.search(credentials.header):
        raise RSGuardError("the Authorization header contains control characters")
    if not B64TOKEN.fullmatch(credentials.token):
        raise RSGuardError("the access token contains characters a token cannot have")


def reference_b64url_decode(segment: str) -> bytes:
    if not isinstance(segment, str) or not SEGMENT.fullmatch(segment):
        raise JOSEError("a segment is not unpadded base64url")
    return reference_decode_checked(segment)


def reference_decode_checked(segment: str) -> bytes:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    remainder = len(segment) % 4
    if remainder == 1:
        raise JOSEError("a segment has an impossible base64url length")
    if remainder and alphabet.index(segment[-1]) & {2: 0x0F, 3: 0x03}[remainder]:
        raise JOSEError("a segment is not canonical base64url")
    raw = segment.encode("ascii").translate(bytes.maketrans(b"-_", b"+/"))
    return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise JOSEError("a JSON object has a duplicate member name")
    return obj


def _constant(name: str) -> Any:
    raise JOSEError(f"JSON {name} is not allowed")


REFERENCE_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant)


def reference_json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = REFERENCE_DECODER.decode(raw.decode("utf-8"))
    except JOSEError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise JOSEError(f"the {what} is not valid UTF-8 JSON") from exc
    if not isinstance(value, dict):
        raise JOSEError(f"the {what} is not a JSON object")
    return value


def reference_parse(token: str) -> tuple[Any, ...]:
    match = SEGMENTS.fullmatch(token)
    if match is None:
        if token.count(".") + 1 == 5:
            raise JOSEError("the token is encrypted (JWE), and no decryption is configured")
        raise JOSEError("the token is not a compact JWS of three base64url segments")
    head, body, signature = match.groups()
    header = reference_json_object(reference_decode_checked(head), "header")
    payload = reference_json_object(reference_decode_checked(body), "payload")
    sig = reference_decode_checked(signature)
    return header, payload, token[: match.end(2)].encode("ascii"), sig


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except (RSGuardError, JOSEError) as exc:
        return ("refused", str(exc.args[0]) if exc.args else "")


# -- the corpus ---------------------------------------------------------------------------

URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ODD = '.~+/= \t\r\n\x00\x1f\x7f\x80\x9f\xa0é€\u2028!"%*:;@\\{}'


def random_text(rng: random.Random, size: int) -> str:
    pool = URL * 3 + ODD if rng.random() < 0.7 else URL
    return "".join(rng.choice(pool) for _ in range(size))


def json_texts(rng: random.Random) -> bytes:
    choices = [
        b'{"alg":"RS256","typ":"JWT"}',
        b' {"alg":"RS256"}',
        b'{"alg":"RS256"} ',
        b'\n{"a":1}\t',
        b'{"a":1,"a":2}',
        b'{"a":{"b":1,"b":2}}',
        b'{"a":NaN}',
        b'{"a":-Infinity}',
        b'{"a":1}x',
        b'{"a":1}{}',
        b"[1,2]",
        b'"text"',
        b"null",
        b"",
        b"   ",
        b'{"a":"\xc3"}',
        b'{"a":"\xed\xa0\x80"}',
        b"\xef\xbb\xbf{}",
        b"[" * 5000 + b"]" * 5000,
        b'{"a":[1,{"c":null}],"b":"\\u0000"}',
        b'{"exp":1e400,"iat":12345678901234567890123}',
    ]
    return rng.choice(choices)


def corpus(count: int) -> list[str]:
    rng = random.Random(13)
    tokens: list[str] = []
    for _ in range(count):
        kind = rng.randrange(5)
        if kind == 0:
            tokens.append(random_text(rng, rng.randrange(0, 40)))
        elif kind == 1:  # three (or a few) segments of random text
            parts = [
                random_text(rng, rng.randrange(0, 12)) for _ in range(rng.choice((2, 3, 3, 4, 5)))
            ]
            tokens.append(".".join(parts))
        else:  # well-formed segments of JSON, with a twist now and then
            head = b64url_encode(json_texts(rng))
            body = b64url_encode(json_texts(rng))
            sig = b64url_encode(rng.randbytes(rng.randrange(0, 9)))
            token = f"{head}.{body}.{sig}"
            twist = rng.randrange(6)
            if twist == 0 and token:
                at = rng.randrange(len(token))
                token = token[:at] + rng.choice(URL + ODD) + token[at + 1 :]
            elif twist == 1:
                token += rng.choice(("=", "==", "A", "AB", "ABC", "."))
            tokens.append(token)
    return tokens


CORPUS = corpus(20_000)


def test_the_corpus_covers_every_answer() -> None:
    answers = [outcome(lambda: reference_parse(t)) for t in CORPUS]  # noqa: B023
    messages = {answer for kind, answer in answers if kind == "refused"}
    assert {
        "the token is not a compact JWS of three base64url segments",
        "the token is encrypted (JWE), and no decryption is configured",
        "a segment has an impossible base64url length",
        "a segment is not canonical base64url",
        "the header is not valid UTF-8 JSON",
        "the payload is not a JSON object",
        "a JSON object has a duplicate member name",
        "JSON NaN is not allowed",
    } <= messages
    assert sum(kind == "ok" for kind, _ in answers) > 500  # and many are accepted


def test_the_parse_answers_as_the_regular_expression_did() -> None:
    for token in CORPUS:
        expected = outcome(lambda: reference_parse(token))  # noqa: B023
        got = outcome(lambda: tuple(parse_compact_jws(token))[:4])  # noqa: B023
        assert got == expected, token


def test_a_known_header_changes_nothing_but_the_decoding() -> None:
    known: dict[bytes, dict[str, Any]] = {}
    for token in CORPUS:
        plain = outcome(lambda: parse_compact_jws(token))  # noqa: B023
        if plain[0] == "ok":
            known[plain[1].header_segment] = plain[1].header
    for token in CORPUS:
        expected = outcome(lambda: tuple(parse_compact_jws(token))[:5])  # noqa: B023
        got = outcome(lambda: tuple(parse_compact_jws(token, known))[:5])  # noqa: B023
        assert got == expected, token


def test_segment_decoding_answers_as_before() -> None:
    rng = random.Random(7)
    segments = [random_text(rng, rng.randrange(0, 12)) for _ in range(20_000)]
    segments += [b64url_encode(bytes([n]) * k) for n in range(256) for k in (1, 2, 3)]
    for text in segments:
        expected = outcome(lambda: reference_b64url_decode(text))  # noqa: B023
        assert outcome(lambda: b64url_decode(text)) == expected, text  # noqa: B023


def test_json_objects_answer_as_before() -> None:
    rng = random.Random(3)
    for _ in range(2_000):
        raw = json_texts(rng)
        expected = outcome(lambda: reference_json_object(raw, "payload"))  # noqa: B023
        assert outcome(lambda: json_object(raw, "payload")) == expected, raw  # noqa: B023


@pytest.mark.parametrize("seed", range(3))
def test_check_syntax_answers_as_the_regular_expressions_did(seed: int) -> None:
    rng = random.Random(seed)
    for number in range(20_000):
        token = CORPUS[number] if number % 2 else random_text(rng, rng.randrange(0, 30))
        if rng.random() < 0.2:
            token += "=" * rng.randrange(1, 3)
        scheme = rng.choice(("Bearer", "bearer", "DPoP", "Bearer\t", "Bear\x00er"))
        gap = rng.choice((" ", "  ", "\t", " \x7f"))
        tail = rng.choice(("", "", " ", "\r\n", "\x00"))
        header = rng.choice((f"{scheme}{gap}{token}{tail}", f"{scheme}{gap}{token}", token))
        credentials = Credentials("Bearer", token, header)
        expected = outcome(lambda: reference_check_syntax(credentials))  # noqa: B023
        assert outcome(lambda: check_syntax(credentials)) == expected, (token, header)  # noqa: B023
        assert is_b64token(token) == bool(B64TOKEN.fullmatch(token)), token


def test_every_character_is_classified_as_the_expression_does() -> None:
    for code in [*range(0x250), 0x2028, 0xFEFF, 0x1F600]:
        char = chr(code)
        for token in (char, "a" + char, char + "=", "a" + char + "="):
            assert is_b64token(token) == bool(B64TOKEN.fullmatch(token)), repr(token)
        jws = f"e30.e30.{char}"
        assert outcome(lambda: tuple(parse_compact_jws(jws))[:4]) == outcome(  # noqa: B023
            lambda: reference_parse(jws)  # noqa: B023
        ), repr(jws)


def test_scope_splitting_answers_as_before() -> None:
    from rs_guard.token import split_delimited

    rng = random.Random(5)
    for _ in range(5_000):
        value = "".join(rng.choice(("a", "b:c", " ", "  ", "\t", "é")) for _ in range(6))
        assert split_delimited(value) == frozenset(p for p in value.split(" ") if p), value
