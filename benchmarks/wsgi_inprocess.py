"""The Flask rows without the network: µs (or instructions) per request, in one process.

Calls the WSGI callable of the apps of ``benchmarks/http_flask.py`` directly (no
gunicorn, no sockets) with the environ gunicorn builds for wrk's request, then reads
and closes the answer as gunicorn's worker does; many requests per round, rounds
interleaved, medians, differences to ``Flask unprotected`` of the same round. Time is
this thread's CPU time, so time spent waiting for a busy core is not counted.

    python -m benchmarks.wsgi_inprocess [--requests 3000] [--rounds 7]
    python -m benchmarks.wsgi_inprocess --cprofile protect --cache off
    python -m benchmarks.wsgi_inprocess --instructions [--rows protect ...]

``--instructions`` counts instead of timing: each row runs under valgrind's callgrind
with ``--requests`` requests and with none, and the difference per request is printed
(noise-free; needs ``valgrind``).

Rows: ``unprotected`` (the plain view), ``thin`` (a reference: a decorator that reads
``HTTP_AUTHORIZATION`` and finds the token in a dict, nothing else: the floor of any
decorator that finds a token), ``protect`` (``RSGuard(app)`` + ``@guard.require(scope)``,
cache on and off), ``middleware`` (``RSGuardWSGIMiddleware`` around the plain app).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import os
import pstats
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.runner import PATH, SCOPE, median

VARIANTS = ("unprotected", "thin", "protect", "middleware")
Row = tuple[str, str, bool]  # name, variant, cache on
ROWS: tuple[Row, ...] = (
    ("Flask unprotected", "unprotected", True),
    ("thin decorator, dict lookup (reference)", "thin", True),
    ("RSGuardWSGIMiddleware, cache on", "middleware", True),
    ("RSGuard @guard.require, cache on", "protect", True),
    ("RSGuard @guard.require, cache off", "protect", False),
)


def build(variant: str, cache: bool, token: str) -> Any:
    """The WSGI callable of one row."""
    if cache:
        os.environ.pop("RS_GUARD_TOKEN_CACHE", None)
    else:
        os.environ["RS_GUARD_TOKEN_CACHE"] = "0"
    os.environ["RS_GUARD_BENCH_PROTECT"] = "1" if variant == "protect" else "0"
    from benchmarks.http_flask import make_app

    app = make_app()
    if variant == "thin":
        from flask import abort, request

        known = {f"Bearer {token}": token}

        def thin(view: Callable[[], str]) -> Callable[[], str]:
            @functools.wraps(view)
            def wrapper() -> str:
                if known.get(request.environ.get("HTTP_AUTHORIZATION", "")) is None:
                    abort(401)
                return view()

            return wrapper

        app.view_functions["hello"] = thin(app.view_functions["hello"])
    if variant == "middleware":
        from rs_guard.adapters.wsgi import RSGuardWSGIMiddleware
        from rs_guard.loaders import load_config

        app.wsgi_app = RSGuardWSGIMiddleware(app.wsgi_app, load_config())  # type: ignore[method-assign]
    return app


def driver(app: Any, token: str) -> Callable[[int], None]:
    """``run(n)``: n requests through ``app``, each as gunicorn would present it."""
    import gunicorn
    from gunicorn.http.wsgi import FileWrapper

    base = {
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.input_terminated": True,
        "SERVER_SOFTWARE": f"gunicorn/{gunicorn.__version__}",
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": "",
        "RAW_URI": PATH,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "PATH_INFO": PATH,
        "SCRIPT_NAME": "",
    }
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return None

    def run(n: int) -> None:
        for _ in range(n):
            environ = dict(base)
            environ["wsgi.input"] = io.BytesIO(b"")
            # A new string per request, as a server parses it (its hash is not cached).
            environ["HTTP_AUTHORIZATION"] = "".join(("Bearer ", token))
            result = app(environ, start_response)
            try:
                for _chunk in result:
                    pass
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        if any(not s.startswith("200") for s in statuses):
            raise RuntimeError(f"a request was answered {set(statuses)}")
        statuses.clear()

    return run


def check_refuses(app: Any, variant: str) -> None:
    """A protecting row must refuse a request without a token (else it looks fast)."""
    if variant == "unprotected":
        return
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": PATH, "SCRIPT_NAME": "", "QUERY_STRING": ""}
    environ.update({"SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "wsgi.url_scheme": "http"})
    environ["wsgi.input"] = io.BytesIO(b"")  # type: ignore[assignment]
    got: list[str] = []
    list(app(environ, lambda status, headers, exc_info=None: got.append(status)))
    if not got or not got[0].startswith("401"):
        raise RuntimeError(f"{variant}: a request without a token was answered {got}")


def prepared(variant: str, cache: bool, token: str) -> Callable[[int], None]:
    app = build(variant, cache, token)
    check_refuses(app, variant)
    run = driver(app, token)
    run(200)  # warm: keys, caches, the first-request hook
    return run


def measure(rows: tuple[Row, ...], token: str, requests: int, rounds: int) -> None:
    runs = {name: prepared(variant, cache, token) for name, variant, cache in rows}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.thread_time()  # CPU time: waiting for a busy core is not counted
            run(requests)
            times[name].append((time.thread_time() - start) / requests * 1e6)
    base = times[rows[0][0]]
    print(f"{'row':<44}{'µs/req':>8}{'added':>8}{'x base':>8}   (median of {rounds} rounds)")
    for name, values in times.items():
        added = median([v - b for v, b in zip(values, base, strict=True)])
        ratio = median([b / v for v, b in zip(values, base, strict=True)])
        print(f"{name:<44}{median(values):8.1f}{added:+8.1f}{ratio:8.2f}")


def profile(variant: str, cache: bool, token: str, requests: int, top: int) -> None:
    run = prepared(variant, cache, token)
    profiler = cProfile.Profile(time.thread_time)  # CPU time, as measure() uses
    profiler.enable()
    run(requests)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print(out.getvalue())


def instructions(row: Row, requests: int) -> int:
    _, variant, cache = row
    argv = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "benchmarks.wsgi_inprocess", "--child", variant,
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
    print(f"{'row':<44}{'instr/req':>10}{'added':>10}{'x base':>8}")
    for row in rows:
        loaded, empty = instructions(row, requests), instructions(row, 0)
        per_request[row[0]] = (loaded - empty) / requests
        base = per_request[rows[0][0]]
        value = per_request[row[0]]
        print(f"{row[0]:<44}{value:10.0f}{value - base:+10.0f}{base / value:8.2f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cprofile", choices=VARIANTS, help="profile this variant instead")
    parser.add_argument("--cache", choices=("on", "off"), default="on")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--instructions", action="store_true", help="count under callgrind")
    parser.add_argument("--rows", nargs="*", help="only the rows whose variant is named")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rows = tuple(r for r in ROWS if not args.rows or r[1] in args.rows or r == ROWS[0])

    if args.child:  # under callgrind: the parent's keys, token and JWKS server
        token = os.environ["RS_GUARD_BENCH_TOKEN"]
        run = prepared(args.child, args.cache == "on", token)
        run(args.requests)
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
            profile(args.cprofile, args.cache == "on", token, args.requests, args.top)
        else:
            measure(rows, token, args.requests, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
