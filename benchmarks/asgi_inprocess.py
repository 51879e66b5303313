"""The ASGI rows without the network: µs per request of each app, in one process.

Drives the apps of ``benchmarks/http_load.py`` directly (no uvicorn, no sockets) with
the scope uvicorn would build for wrk's request, on a uvloop event loop, many requests
per round, rounds interleaved, medians, differences to ``unprotected`` of the same
round. Time is this thread's CPU time, so time spent waiting for a busy core is not
counted. What the HTTP table cannot show on a shared machine: the per-request cost of
the app's own stack to a microsecond or so, and, with ``--cprofile ROW``, a
deterministic profile of one row (cProfile; times are inflated by the profiler, the
ranking is what counts).

    python -m benchmarks.asgi_inprocess [--requests 3000] [--rounds 7]
    python -m benchmarks.asgi_inprocess --cprofile idiom --cache off
    python -m benchmarks.asgi_inprocess --instructions [--rows idiom ...]

``--instructions`` counts instead of timing: each row runs under valgrind's callgrind
with ``--requests`` requests and with none, and the difference per request is printed
(noise-free, like ``benchmarks/verify_instructions.py``; needs ``valgrind``). Count
ratios track time ratios of the interpreted Python closely; C work (the RSA check)
counts in its own instructions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import re
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from benchmarks.http_load import VARIANTS, make_app
from benchmarks.runner import PATH, SCOPE, median

Row = tuple[str, str, bool]  # name, variant, cache on
ROWS: tuple[Row, ...] = (
    ("unprotected", "unprotected", True),
    ("no-op dependency", "noop_dep", True),
    ("no-op dependency (HTTPConnection, SecurityScopes)", "noop_dep_params", True),
    ("thin dict cache", "thin_cache", True),
    ("thin strict", "thin_strict", True),
    ("thin PyJWT", "thin_pyjwt", True),
    ("rs_guard mw + requires", "mw_requires", True),
    ("fixed principal + requires (requires' floor)", "requires_floor", True),
    ("rs_guard mw, plain route", "mw_bare", True),
    ("README idiom, cache on", "idiom", True),
    ("README idiom, cache off", "idiom", False),
)


def build(variant: str, cache: bool) -> Any:
    os.environ["RS_GUARD_BENCH_APP"] = variant
    if cache:
        os.environ.pop("RS_GUARD_TOKEN_CACHE", None)
    else:
        os.environ["RS_GUARD_TOKEN_CACHE"] = "0"
    return make_app()


def driver(app: Any, token: str) -> Callable[[int], Coroutine[Any, Any, None]]:
    """``await run(n)``: n requests through ``app``, each as uvicorn would present it."""
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    body_message = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return body_message

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def run(n: int) -> None:
        for _ in range(n):
            scope = {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": "2.4"},
                "http_version": "1.1",
                "server": ("127.0.0.1", 8000),
                "client": ("127.0.0.1", 50000),
                "scheme": "http",
                "method": "GET",
                "root_path": "",
                "path": PATH,
                "raw_path": PATH.encode(),
                "query_string": b"",
                "headers": list(headers),
                "state": {},
            }
            await app(scope, receive, send)
        if statuses and any(s != 200 for s in statuses):
            raise RuntimeError(f"a request was answered {set(statuses)}")
        statuses.clear()

    return run


async def lifespan(app: Any) -> None:
    """Run the app's startup (the middleware warms the keys there)."""
    messages = [{"type": "lifespan.startup"}]
    started = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # never: the app keeps waiting for shutdown
        return {}

    async def send(message: dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            started.set()

    asyncio.get_running_loop().create_task(app({"type": "lifespan", "state": {}}, receive, send))
    await asyncio.wait_for(started.wait(), 10)


async def measure(rows: tuple[Row, ...], token: str, requests: int, rounds: int) -> None:
    runs = {}
    for name, variant, cache in rows:
        app = build(variant, cache)
        await lifespan(app)
        runs[name] = driver(app, token)
        await runs[name](200)  # warm: keys, caches
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.thread_time()  # CPU time: waiting for a busy core is not counted
            await run(requests)
            times[name].append((time.thread_time() - start) / requests * 1e6)
    base = times[rows[0][0]]
    print(f"{'row':<52}{'µs/req':>8}{'added':>8}   (median of {rounds} rounds)")
    for name, values in times.items():
        added = median([v - b for v, b in zip(values, base, strict=True)])
        print(f"{name:<52}{median(values):8.1f}{added:+8.1f}")


async def profile(variant: str, cache: bool, token: str, requests: int, top: int) -> None:
    app = build(variant, cache)
    await lifespan(app)
    run = driver(app, token)
    await run(200)
    profiler = cProfile.Profile(time.thread_time)  # CPU time, as measure() uses
    profiler.enable()
    await run(requests)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    print(out.getvalue())


async def child(variant: str, cache: bool, token: str, requests: int) -> None:
    """One callgrind run: build, warm, then ``requests`` requests (0: the fixed cost)."""
    app = build(variant, cache)
    await lifespan(app)
    run = driver(app, token)
    await run(50)
    await run(requests)


def instructions(row: Row, requests: int) -> int:
    _, variant, cache = row
    argv = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "benchmarks.asgi_inprocess", "--child", variant,
        "--cache", "on" if cache else "off", "--requests", str(requests),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise SystemExit(f"callgrind printed no count:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def count_rows(rows: tuple[Row, ...], requests: int) -> None:
    per_request: dict[str, float] = {}
    print(f"{'row':<52}{'instr/req':>10}{'added':>10}{'x base':>8}")
    for row in rows:
        loaded, empty = instructions(row, requests), instructions(row, 0)
        per_request[row[0]] = (loaded - empty) / requests
        base = per_request[rows[0][0]]
        value = per_request[row[0]]
        print(f"{row[0]:<52}{value:10.0f}{value - base:+10.0f}{value / base:8.2f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cprofile", choices=VARIANTS, help="profile this variant instead")
    parser.add_argument("--cache", choices=("on", "off"), default="on")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--instructions", action="store_true", help="count under callgrind")
    parser.add_argument("--rows", nargs="*", help="only the rows whose variant is named")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rows = tuple(r for r in ROWS if not args.rows or r[1] in args.rows or r[0] == ROWS[0][0])

    import uvloop

    if args.child:  # under callgrind: the parent's keys, token and JWKS server
        token = os.environ["RS_GUARD_BENCH_TOKEN"]
        uvloop.run(child(args.child, args.cache == "on", token, args.requests))
        return 0

    from rs_guard.testing import JWKSServer, TokenIssuer

    issuer = TokenIssuer()
    token = issuer.mint(scopes=[SCOPE], subject="auth0|bench-user")
    with JWKSServer(issuer.jwks) as jwks:
        os.environ.update(
            RS_GUARD_ISSUER=issuer.issuer,
            RS_GUARD_AUDIENCE=issuer.audience,
            RS_GUARD_JWKS_URI=jwks.jwks_uri,
            RS_GUARD_BENCH_TOKEN=token,
        )
        if args.instructions:
            count_rows(rows, args.requests)
        elif args.cprofile:
            uvloop.run(profile(args.cprofile, args.cache == "on", token, args.requests, args.top))
        else:
            uvloop.run(measure(rows, token, args.requests, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
