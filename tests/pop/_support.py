"""Request builders shared by the proof-of-possession tests."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from rs_guard.context import RequestContext

URL = "https://api.example.test/appointments"


def request(
    token: str | None = None,
    *,
    scheme: str = "Bearer",
    method: str = "GET",
    url: str = URL,
    cert: bytes | None = None,
    peer: str | None = "203.0.113.9",
    headers: Sequence[tuple[str, str]] = (),
) -> RequestContext:
    """A request context carrying ``token`` in the Authorization header."""
    lines = [(name.lower(), value) for name, value in headers]
    if token is not None:
        lines.insert(0, ("authorization", f"{scheme} {token}"))
    return RequestContext(method, url, lines, client_cert=cert, peer=peer)


def free_port() -> int:
    """A loopback port the OS says is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
