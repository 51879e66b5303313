"""RSS growth of a real server holding N distinct cached tokens (the issue's memory row).

The README FastAPI idiom runs in uvicorn (as the HTTP rows do); after a warm-up with one
token, its resident set size is read, N distinct valid tokens are sent once each over
one keep-alive connection, and the RSS is read again. The same is done with the cache
off: that growth is what the request path leaves behind anyway (allocator arenas), so
the difference is what the cache itself holds. The tokens are Auth0-sized access
tokens with a ``permissions`` claim (RBAC on), a namespaced claim and several scopes.
"""

from __future__ import annotations

import http.client
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.runner import PATH, SCOPE, Pinning, Target, rss_bytes, serve, uvicorn_command
from rs_guard.testing import TokenIssuer

PERMISSIONS = (
    SCOPE,
    "write:hello",
    "read:appointments",
    "write:appointments",
    "delete:appointments",
    "read:patients",
    "write:patients",
    "read:reports",
)


def auth0_tokens(issuer: TokenIssuer, count: int) -> list[str]:
    """``count`` distinct tokens shaped like Auth0's (RBAC on: ``permissions``)."""
    scopes = ["openid", "profile", "email", *PERMISSIONS[:4]]
    return [
        issuer.mint(
            scopes=scopes,
            permissions=PERMISSIONS,
            subject=f"auth0|{i:024x}",
            client_id="Xk3bN0v4o7TqL5wY2mZr8sHc1dEaFgJu",
            claims={
                "https://api.example.com/roles": ["reader", "scheduler"],
                "https://api.example.com/email": f"user{i}@example.com",
            },
        )
        for i in range(count)
    ]


def _send(conn: http.client.HTTPConnection, token: str) -> None:
    conn.request("GET", PATH, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"memory row: a valid token was answered {response.status}")


@dataclass
class Growth:
    cache_on: int
    cache_off: int
    tokens: int
    token_bytes: int

    @property
    def cache(self) -> int:
        return self.cache_on - self.cache_off


def rss_growth(target: Target, tokens: Sequence[str], pinning: Pinning) -> int:
    """RSS growth (bytes) of the target's server after each of ``tokens`` once."""
    with serve(target, pinning) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            for _ in range(500):  # warm-up: imports, keys, first allocations
                _send(conn, tokens[0])
            before = rss_bytes(server.pid)
            for token in tokens:
                _send(conn, token)
            return rss_bytes(server.pid) - before
        finally:
            conn.close()


def measure(rs_env: dict[str, str], tokens: Sequence[str], pinning: Pinning) -> Growth:
    env = {**rs_env, "RS_GUARD_BENCH_APP": "idiom"}
    on = Target("memory, cache on", "memory", uvicorn_command, env)
    off = Target(
        "memory, cache off", "memory", uvicorn_command, {**env, "RS_GUARD_TOKEN_CACHE": "0"}
    )
    return Growth(
        cache_on=rss_growth(on, tokens, pinning),
        cache_off=rss_growth(off, tokens, pinning),
        tokens=len(tokens),
        token_bytes=len(tokens[0]),
    )
