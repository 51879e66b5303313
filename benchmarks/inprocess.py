"""What the in-process benchmarks share: their environment, rounds, tables and counts.

``benchmarks.asgi_inprocess``, ``benchmarks.wsgi_inprocess`` and
``benchmarks.django_inprocess`` each drive their apps without sockets and hand this
module a ``run(n)`` per row (n requests through the row's app, answers checked). Here:

* :func:`bench_env`: a token issuer, its JWKS server on 127.0.0.1 and the
  ``RS_GUARD_*`` variables that name them (the callgrind children inherit them);
* :func:`gunicorn_environ`: what a WSGI row's request looks like (the WSGI rows);
* :func:`measure`: rounds interleaved over the rows, thread CPU time (waiting for a
  busy core is not counted), medians, differences and ratios to the first row;
* :func:`profile`: a deterministic cProfile of one row;
* :func:`count_rows`: instructions per request under valgrind's callgrind, each row run
  in a child process (``python -m MODULE --child ...``) with ``--requests`` requests and
  with none, the difference divided by the requests (noise-free).

In every table ``x base`` is the first row's cost over this row's (base / value): the
throughput of this row relative to the base, as the HTTP table's ``× baseline CPU``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from benchmarks.runner import PATH, SCOPE, median

#: What a row's ``run(n)`` is: n requests through its app.
Run = Callable[[int], object]
#: The column that every table ends with, and what it means (said in each header).
RATIO_NOTE = "x base = base / row, as throughput"


def parser(doc: str | None, choices: Sequence[str], top: int) -> argparse.ArgumentParser:
    """The options every in-process benchmark takes (``choices``: its rows or variants)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cprofile", choices=choices, help="profile this one instead")
    parser.add_argument("--top", type=int, default=top)
    parser.add_argument("--instructions", action="store_true", help="count under callgrind")
    parser.add_argument("--child", choices=choices, help=argparse.SUPPRESS)
    return parser


@contextmanager
def bench_env() -> Iterator[str]:
    """Issue a token with the benchmark scope, serve its keys; yield the token.

    The ``RS_GUARD_*`` variables point the apps (and the callgrind children, which read
    the token from ``RS_GUARD_BENCH_TOKEN``) at them; the token cache is left at its
    default (the rows that turn it off set ``RS_GUARD_TOKEN_CACHE`` themselves).
    """
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
        os.environ.pop("RS_GUARD_TOKEN_CACHE", None)
        yield token


def child_token() -> str:
    """In a callgrind child: the token :func:`bench_env` issued in the parent."""
    return os.environ["RS_GUARD_BENCH_TOKEN"]


def gunicorn_environ() -> dict[str, Any]:
    """The environ gunicorn builds for wrk's ``GET /hello``, but ``wsgi.input`` and
    ``HTTP_AUTHORIZATION`` (each request's own)."""
    import gunicorn
    from gunicorn.http.wsgi import FileWrapper

    return {
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


def variant_children(rows: Sequence[tuple[str, str, bool]]) -> list[tuple[str, list[str]]]:
    """:func:`count_rows`' rows of (name, variant, cache on): the child's arguments."""
    return [(name, [variant, "--cache", "on" if cache else "off"]) for name, variant, cache in rows]


def measure(runs: Mapping[str, Run], requests: int, rounds: int, width: int) -> None:
    """Print µs of thread CPU time per request of each row (warmed by the caller)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.thread_time()  # CPU time: waiting for a busy core is not counted
            run(requests)
            times[name].append((time.thread_time() - start) / requests * 1e6)
    base = next(iter(times.values()))
    header = f"{'row':<{width}}{'µs/req':>8}{'added':>8}{'x base':>8}"
    print(f"{header}   (median of {rounds} rounds; {RATIO_NOTE})")
    for name, values in times.items():
        added = median([v - b for v, b in zip(values, base, strict=True)])
        ratio = median([b / v for v, b in zip(values, base, strict=True)])
        print(f"{name:<{width}}{median(values):8.1f}{added:+8.1f}{ratio:8.2f}")


def profile(run: Run, requests: int, top: int, sort: str) -> None:
    """Print a cProfile of ``requests`` requests (warmed by the caller), by ``sort``."""
    profiler = cProfile.Profile(time.thread_time)  # CPU time, as measure() uses
    profiler.enable()
    run(requests)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(top)
    print(out.getvalue())


def instructions(module: str, child: Sequence[str], requests: int) -> int:
    """Instructions of one ``python -m module --child ... --requests N`` under callgrind."""
    argv = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", module, "--child", *child, "--requests", str(requests),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise SystemExit(f"callgrind printed no count:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def count_rows(
    module: str, rows: Sequence[tuple[str, Sequence[str]]], requests: int, width: int
) -> None:
    """Print instructions per request of each row (name, the child's arguments)."""
    print(f"{'row':<{width}}{'instr/req':>10}{'added':>10}{'x base':>8}   ({RATIO_NOTE})")
    base = 0.0
    for index, (name, child) in enumerate(rows):
        loaded, empty = instructions(module, child, requests), instructions(module, child, 0)
        value = (loaded - empty) / requests
        base = value if index == 0 else base
        print(f"{name:<{width}}{value:10.0f}{value - base:+10.0f}{base / value:8.2f}", flush=True)
