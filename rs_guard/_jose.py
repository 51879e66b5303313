"""Strict parsing of compact JWS (RFC 7515 §7.1) before any key is touched.

Three base64url segments without padding, each decoded strictly; header and payload
must be UTF-8 JSON objects with no duplicate member names (RFC 7515 §5.2 lets a
parser refuse them, RFC 8725 §3.11 asks it to) and no ``NaN``/``Infinity``.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any, NamedTuple

__all__ = ["CompactJWS", "JOSEError", "b64url_decode", "b64url_encode", "parse_compact_jws"]

_SEGMENTS = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_TO_STD = bytes.maketrans(b"-_", b"+/")
_TO_URL = bytes.maketrans(b"+/", b"-_")


class JOSEError(ValueError):
    """The token is not a well-formed compact JWS; the message says what is wrong."""


#: The low bits a last character must leave zero (RFC 4648 §3.5), for length % 4 of 2 and 3.
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SPARE_BITS = {2: 0x0F, 3: 0x03}


def _decode_checked(segment: str) -> bytes:
    """Decode a segment already known to hold only base64url characters.

    Non-canonical encodings (unused bits of the last character set) are refused, so that
    one signed token has exactly one spelling (the verified-token cache is keyed by it).
    """
    remainder = len(segment) % 4
    if remainder == 1:
        raise JOSEError("a segment has an impossible base64url length")
    if remainder and _ALPHABET.index(segment[-1]) & _SPARE_BITS[remainder]:
        raise JOSEError("a segment is not canonical base64url")
    raw = segment.encode("ascii").translate(_TO_STD)
    try:
        return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))
    except binascii.Error as exc:  # pragma: no cover - the alphabet was checked
        raise JOSEError("a segment is not valid base64url") from exc


def b64url_decode(segment: str) -> bytes:
    """Decode unpadded base64url strictly (no stray characters, no padding, no bad length)."""
    if not isinstance(segment, str) or not _SEGMENT.fullmatch(segment):
        raise JOSEError("a segment is not unpadded base64url")
    return _decode_checked(segment)


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URL).decode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise JOSEError("a JSON object has a duplicate member name")
    return obj


def _no_constants(name: str) -> Any:
    raise JOSEError(f"JSON {name} is not allowed")


_decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    """A JSON object from UTF-8 bytes, strictly."""
    try:
        text = raw.decode("utf-8")
        value = _decoder.decode(text)
    except JOSEError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise JOSEError(f"the {what} is not valid UTF-8 JSON") from exc
    if not isinstance(value, dict):
        raise JOSEError(f"the {what} is not a JSON object")
    return value


class CompactJWS(NamedTuple):
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse_compact_jws(token: str) -> CompactJWS:
    """Split and decode a compact JWS; raise :class:`JOSEError` on any irregularity."""
    match = _SEGMENTS.fullmatch(token)
    if match is None:
        parts = token.count(".") + 1
        if parts == 5:
            raise JOSEError("the token is encrypted (JWE), and no decryption is configured")
        raise JOSEError("the token is not a compact JWS of three base64url segments")
    header_b64, payload_b64, signature_b64 = match.groups()
    header = json_object(_decode_checked(header_b64), "header")
    payload = json_object(_decode_checked(payload_b64), "payload")
    signature = _decode_checked(signature_b64)
    signing_input = token[: match.end(2)].encode("ascii")
    return CompactJWS(header, payload, signing_input, signature)
