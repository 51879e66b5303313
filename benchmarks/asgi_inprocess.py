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
counts in its own instructions. Both tables end with ``x base``, the ``unprotected``
row's cost over the row's (a throughput ratio, as in the HTTP table).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks import inprocess
from benchmarks.http_load import VARIANTS, make_app
from benchmarks.inprocess import Run
from benchmarks.runner import PATH

MODULE = "benchmarks.asgi_inprocess"
#: The apps' lifespan tasks, waiting for a shutdown that comes when the loop closes.
LIFESPANS: set[asyncio.Task[None]] = set()
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


async def lifespan(app: Any, timeout: float) -> None:
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

    task = asyncio.get_running_loop().create_task(
        app({"type": "lifespan", "state": {}}, receive, send)
    )
    LIFESPANS.add(task)  # the loop holds tasks weakly: a waiting one would be collected
    await asyncio.wait_for(started.wait(), timeout)


@contextmanager
def event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A uvloop loop for the whole run; on leaving, the apps' lifespan tasks are cancelled."""
    import uvloop

    loop = uvloop.new_event_loop()
    try:
        yield loop
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending))
        loop.close()


def prepared(
    loop: asyncio.AbstractEventLoop, row: Row, token: str, warm: int, startup: float = 10.0
) -> Run:
    """``run(n)`` of one row, started (lifespan) and warmed with ``warm`` requests."""
    _, variant, cache = row
    app = build(variant, cache)
    loop.run_until_complete(lifespan(app, startup))
    requests = driver(app, token)

    def run(n: int) -> None:
        loop.run_until_complete(requests(n))

    run(warm)  # warm: keys, caches
    return run


def main(argv: list[str] | None = None) -> int:
    parser = inprocess.parser(__doc__, VARIANTS, top=45)
    parser.add_argument("--cache", choices=("on", "off"), default="on")
    parser.add_argument("--rows", nargs="*", help="only the rows whose variant is named")
    args = parser.parse_args(argv)
    rows = tuple(r for r in ROWS if not args.rows or r[1] in args.rows or r[0] == ROWS[0][0])
    one: Row = ("", args.child or args.cprofile or "", args.cache == "on")  # --child, --cprofile

    with event_loop() as loop:
        if args.child:  # under callgrind, many times slower: a generous start-up wait
            prepared(loop, one, inprocess.child_token(), 50, startup=600.0)(args.requests)
            return 0
        with inprocess.bench_env() as token:
            if args.instructions:
                inprocess.count_rows(MODULE, inprocess.variant_children(rows), args.requests, 52)
            elif args.cprofile:
                run = prepared(loop, one, token, 200)
                inprocess.profile(run, args.requests, args.top, "cumulative")
            else:
                runs = {row[0]: prepared(loop, row, token, 200) for row in rows}
                inprocess.measure(runs, args.requests, args.rounds, 52)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
