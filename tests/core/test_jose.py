"""Strict compact-JWS parsing (RFC 7515 §5.2, §7.1; RFC 7519 §7.2; RFC 8725 §3.11)."""

from __future__ import annotations

import json

import pytest

from rs_guard._jose import (
    JOSEError,
    b64url_decode,
    b64url_encode,
    json_object,
    parse_compact_jws,
)


def seg(raw: bytes | str) -> str:
    return b64url_encode(raw.encode() if isinstance(raw, str) else raw)


HEADER = seg('{"alg":"RS256","typ":"JWT"}')
PAYLOAD = seg('{"sub":"x","exp":1}')


def test_round_trip_of_a_compact_jws() -> None:
    token = f"{HEADER}.{PAYLOAD}.{seg(b'sig')}"
    jws = parse_compact_jws(token)
    assert jws.header == {"alg": "RS256", "typ": "JWT"}
    assert jws.payload == {"sub": "x", "exp": 1}
    assert jws.signature == b"sig"
    assert jws.signing_input == f"{HEADER}.{PAYLOAD}".encode()


@pytest.mark.parametrize("data", [b"", b"f", b"fo", b"foo", b"\xff\xfe\x00", bytes(range(256))])
def test_b64url_round_trip(data: bytes) -> None:
    encoded = b64url_encode(data)
    assert "=" not in encoded
    assert "+" not in encoded
    assert "/" not in encoded
    assert b64url_decode(encoded) == data


@pytest.mark.parametrize("bad", ["abc=", "ab+c", "ab/c", "a", "abcde", "ab c", "ab\nc", "é"])
def test_b64url_decoding_is_strict(bad: str) -> None:
    with pytest.raises(JOSEError):
        b64url_decode(bad)


def jws(header: bytes | str = b"", payload: bytes | str = b"", signature: str = "sig") -> str:
    """A compact JWS from raw header and payload text (empty: the well-formed defaults)."""
    return ".".join(
        (seg(header) if header else HEADER, seg(payload) if payload else PAYLOAD, signature)
    )


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "three base64url segments"),
        ("abc", "three base64url segments"),
        (f"{HEADER}.{PAYLOAD}", "three base64url segments"),
        (f"{HEADER}.{PAYLOAD}.sig.x", "three base64url segments"),
        (f"{HEADER}..sig", "three base64url segments"),
        (f".{PAYLOAD}.sig", "three base64url segments"),
        (f"{HEADER}.{PAYLOAD}.si=g", "three base64url segments"),
        (f"{HEADER}=.{PAYLOAD}.sig", "three base64url segments"),
        (f" {HEADER}.{PAYLOAD}.sig", "three base64url segments"),
        (f"{HEADER}.{PAYLOAD}.sig\n", "three base64url segments"),
        ("a.b.c.d.e", "encrypted (JWE)"),
        (f"{HEADER}.{PAYLOAD}.sigXa", "impossible base64url length"),
        (jws(header="[1,2]"), "header is not a JSON object"),
        (jws(payload='"text"'), "payload is not a JSON object"),
        (jws(payload="null"), "payload is not a JSON object"),
        (jws(header=b'{"alg":"RS256"'), "not valid UTF-8 JSON"),
        (jws(header=b"\xff\xfe{}"), "not valid UTF-8 JSON"),
        (jws(payload=b'{"sub":"\xc3"}'), "not valid UTF-8 JSON"),
        (jws(payload=b'{"sub":"\xed\xa0\x80"}'), "not valid UTF-8 JSON"),  # a lone surrogate
        (jws(header='{"alg":"RS256","alg":"none"}'), "duplicate member"),
        (jws(payload='{"sub":"a","sub":"b"}'), "duplicate member"),
        (jws(payload='{"x":{"y":1,"y":2}}'), "duplicate member"),
        (jws(payload='{"exp":NaN}'), "NaN is not allowed"),
        (jws(payload='{"exp":Infinity}'), "Infinity is not allowed"),
        (jws(payload='{"exp":-Infinity}'), "-Infinity is not allowed"),
        (jws(payload='{"a":1} trailing'), "not valid UTF-8 JSON"),
        (jws(payload="[" * 100_000 + "]" * 100_000), "JSON"),
        (jws(payload='{"n":' + "9" * 5000 + "}"), "not valid UTF-8 JSON"),
    ],
)
def test_malformed_tokens_raise_jose_error(token: str, message: str) -> None:
    with pytest.raises(JOSEError) as caught:
        parse_compact_jws(token)
    assert message in str(caught.value)


def test_an_empty_signature_segment_parses_to_empty_bytes() -> None:
    # alg "none" tokens end with a dot; the parser lets verify() refuse them by alg.
    assert parse_compact_jws(f"{HEADER}.{PAYLOAD}.").signature == b""


def test_json_object_keeps_big_numbers_exact_and_refuses_constants() -> None:
    assert json_object(b'{"n": 12345678901234567890}', "x") == {"n": 12345678901234567890}
    with pytest.raises(JOSEError):
        json_object(b'{"n": NaN}', "x")


def test_the_utf8_bom_is_refused() -> None:
    with pytest.raises(JOSEError):
        json_object("\ufeff{}".encode(), "payload")


def test_non_ascii_in_values_survives() -> None:
    payload = json.dumps({"name": "Zoë ✓"}, ensure_ascii=False).encode()
    assert parse_compact_jws(f"{HEADER}.{seg(payload)}.sig").payload == {"name": "Zoë ✓"}


@pytest.mark.parametrize("spelling", ["QR", "QZ", "QUF", "QUG"])
def test_non_canonical_base64url_is_refused(spelling: str) -> None:
    # "QQ" and "QR" both decode to b"A"; only the canonical spelling is a token.
    with pytest.raises(JOSEError, match="canonical"):
        b64url_decode(spelling)
    with pytest.raises(JOSEError, match="canonical"):
        parse_compact_jws(f"{HEADER}.{PAYLOAD}.{spelling}")
    assert b64url_decode(spelling[:-1] + ("Q" if len(spelling) == 2 else "E")) in (b"A", b"AA")
