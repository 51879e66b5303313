"""The decoded headers of tokens whose signature was checked, by their exact segment.

Every token one key signs carries the same header segment (``alg``, ``typ``, ``kid``),
so a verifier sees only a handful of distinct ones. A header is remembered only once a
token carrying it passed every rule and its signature was checked with a key of the
key set: nobody without the issuer's key can add an entry, so a flood of made-up
headers neither grows the memo nor pushes a real header out. The memo is bounded all
the same (a long-lived process sees keys rotate), the oldest entry going first.

A remembered header saves decoding the segment and the rules that read the header
alone; the key lookup by its ``kid`` and everything about the claims and the signature
still run for every token.
"""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["HeaderMemo"]

#: Room for several issuers, each with a current and a next key, and header variants.
MAX_HEADERS = 32
#: A longer segment is not remembered (an Auth0 header segment is under 100 characters).
MAX_SEGMENT = 512


class HeaderMemo(dict[bytes, dict[str, Any]]):
    """A bounded map from a header segment (ASCII bytes) to its decoded header."""

    __slots__ = ()

    def remember(self, segment: bytes, header: dict[str, Any]) -> None:
        """Keep ``header`` under ``segment``: call only after the token's signature check."""
        if not segment or segment in self or len(segment) > MAX_SEGMENT:
            return
        if len(self) >= MAX_HEADERS:
            # StopIteration, RuntimeError, KeyError: another thread changed it meanwhile
            with contextlib.suppress(StopIteration, RuntimeError, KeyError):
                del self[next(iter(self))]
        self[segment] = header
