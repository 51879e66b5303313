"""A framework-neutral view of one HTTP request: what the core reads, nothing more."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["RequestContext", "raw_header_values"]


def raw_header_values(raw: Sequence[tuple[bytes, bytes]], name: str) -> list[str]:
    """Every value of one header (``name`` in lower case) in an ASGI server's byte pairs.

    ASGI servers send lower-case names; ``.lower()`` still guards one that does not, so
    that "Authorization" beside "authorization" counts as two headers.
    """
    key = name.encode("latin-1")
    size = len(key)
    values = []
    for got, value in raw:  # a loop: on every request, cheaper than a comprehension
        # the usual lower-case name matches at once; another name of the same length is
        # lowered (bytes.lower keeps the length, so no other name can match)
        if got == key or (len(got) == size and got.lower() == key):
            values.append(value.decode("latin-1"))
    return values


@dataclass(slots=True)
class RequestContext:
    """The parts of a request that authentication needs.

    Adapters build one per request. ``headers`` keeps every header line, names in lower
    case, so that a repeated ``Authorization`` header can be seen and refused. An ASGI
    adapter may pass the server's own byte pairs as ``raw_headers`` instead: only the
    headers the guard reads are decoded.
    ``client_cert`` is the DER certificate of the TLS client, already taken from the
    connection (see :mod:`rs_guard.binding.certs`).
    """

    method: str
    #: The request URL as the API's public address sees it (scheme, host, path, query).
    url: str = field(repr=False)
    # Not in repr: the headers carry the token (and the query string may); a traceback
    # that shows locals must not write them out.
    headers: Sequence[tuple[str, str]] = field(default=(), repr=False)
    query_string: str = field(default="", repr=False)
    client_cert: bytes | None = field(default=None, repr=False)
    #: Address of the direct peer (for trusting a proxy's certificate header).
    peer: str | None = None
    raw_headers: Sequence[tuple[bytes, bytes]] | None = field(default=None, repr=False)

    def header_values(self, name: str) -> list[str]:
        """Every value of one header (``name`` in lower case), in order."""
        raw = self.raw_headers
        if raw is not None:
            return raw_header_values(raw, name)
        return [value for key, value in self.headers if key == name]
