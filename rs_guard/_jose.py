"""Strict parsing of compact JWS (RFC 7515 §7.1) before any key is touched.

Three base64url segments without padding, each decoded strictly; header and payload
must be UTF-8 JSON objects with no duplicate member names (RFC 7515 §5.2 lets a
parser refuse them, RFC 8725 §3.11 asks it to) and no ``NaN``/``Infinity``.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

__all__ = ["CompactJWS", "JOSEError", "b64url_decode", "b64url_encode", "parse_compact_jws"]

_URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_STD_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#: Whatever no segment may hold becomes this byte (it is in neither alphabet).
_BAD = 0x21  # "!"


def _strict_table() -> bytes:
    """One pass over a compact JWS, as bytes: each base64url character (RFC 4648 §5) to
    its standard-alphabet twin (§4, what the decoder reads), ``.`` kept, and every other
    byte (``+``, ``/`` and ``=`` among them) to ``!``."""
    table = bytearray([_BAD]) * 256
    for url, std in zip(_URL_ALPHABET, _STD_ALPHABET, strict=True):
        table[url] = std
    table[ord(".")] = ord(".")
    return bytes(table)


_TO_STD_STRICT = _strict_table()
_TO_URL = bytes.maketrans(b"+/", b"-_")
#: The 6-bit value of each standard-alphabet byte (for the canonical-encoding check).
_VALUE = bytes(_STD_ALPHABET.find(bytes([b])) % 64 for b in range(256))
#: The low bits a last character must leave zero (RFC 4648 §3.5), by length % 4 (2 and 3).
_SPARE_BITS = (0, 0, 0x0F, 0x03)
_PADDING = (b"", b"", b"==", b"=")


class JOSEError(ValueError):
    """The token is not a well-formed compact JWS; the message says what is wrong."""


def _decode_std(segment: bytes) -> bytes:
    """Decode a segment already translated to the standard alphabet and known to hold
    only its characters.

    Non-canonical encodings (unused bits of the last character set) are refused, so that
    one signed token has exactly one spelling (the verified-token cache is keyed by it).
    """
    remainder = len(segment) % 4
    if remainder == 1:
        raise JOSEError("a segment has an impossible base64url length")
    if remainder and _VALUE[segment[-1]] & _SPARE_BITS[remainder]:
        raise JOSEError("a segment is not canonical base64url")
    try:
        return binascii.a2b_base64(segment + _PADDING[remainder])
    except binascii.Error as exc:  # pragma: no cover - the alphabet was checked
        raise JOSEError("a segment is not valid base64url") from exc


def b64url_decode(segment: str) -> bytes:
    """Decode unpadded base64url strictly (no stray characters, no padding, no bad length)."""
    if isinstance(segment, str) and segment.isascii():
        std = segment.encode("ascii").translate(_TO_STD_STRICT)
        if b"!" not in std and b"." not in std:
            return _decode_std(std)
    raise JOSEError("a segment is not unpadded base64url")


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
#: The decoder's own scanner: one JSON value from an index, what ``decode`` runs after
#: skipping white space (``decode`` itself still answers every text with any).
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    """A JSON object from UTF-8 bytes, strictly."""
    try:
        text = raw.decode("utf-8")
        try:
            value, end = _scan(text, 0)
        except StopIteration:
            end = -1  # no value at index 0 (white space first, or none): decode() answers
        if end != len(text):
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
    #: The header segment as sent (ASCII bytes): what a header memo is keyed on.
    header_segment: bytes = b""
    #: The header came from ``known_headers`` (it was not decoded here).
    header_known: bool = False


def parse_compact_jws(
    token: str, known_headers: Mapping[bytes, dict[str, Any]] | None = None
) -> CompactJWS:
    """Split and decode a compact JWS; raise :class:`JOSEError` on any irregularity.

    ``known_headers``: headers already decoded, by their exact segment; a header found
    there is taken as it is instead of being decoded again.
    """
    if token.isascii():
        raw = token.encode("ascii")
        std = raw.translate(_TO_STD_STRICT)
        parts = std.split(b".")
        if len(parts) == 3 and parts[0] and parts[1] and b"!" not in std:
            header_std, payload_std, signature_std = parts
            end = len(header_std)
            segment = raw[:end]
            header = known_headers.get(segment) if known_headers is not None else None
            known = header is not None
            if header is None:
                header = json_object(_decode_std(header_std), "header")
            payload = json_object(_decode_std(payload_std), "payload")
            signature = _decode_std(signature_std)
            signing_input = raw[: end + 1 + len(payload_std)]
            return CompactJWS(header, payload, signing_input, signature, segment, known)
    if token.count(".") == 4:
        raise JOSEError("the token is encrypted (JWE), and no decryption is configured")
    raise JOSEError("the token is not a compact JWS of three base64url segments")
