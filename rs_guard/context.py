"""A framework-neutral view of one HTTP request: what the core reads, nothing more."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RequestContext"]


@dataclass(slots=True)
class RequestContext:
    """The parts of a request that authentication needs.

    Adapters build one per request. ``headers`` keeps every header line, names in lower
    case, so that a repeated ``Authorization`` header can be seen and refused.
    ``client_cert`` is the DER certificate of the TLS client, already taken from the
    connection or from a trusted proxy's header (see :mod:`rs_guard.binding.certs`).
    """

    method: str
    #: The request URL as the API's public address sees it (scheme, host, path, query).
    url: str
    headers: Sequence[tuple[str, str]]
    query_string: str = ""
    client_cert: bytes | None = None
    #: Address of the direct peer (for trusting a proxy's certificate header).
    peer: str | None = None

    def header_values(self, name: str) -> list[str]:
        """Every value of one header (``name`` in lower case), in order."""
        return [value for key, value in self.headers if key == name]
