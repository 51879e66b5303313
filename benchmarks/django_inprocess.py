"""The Django rows without the network: thread CPU µs (or instructions) per request.

Calls Django's WSGI handler directly with the environ gunicorn builds for wrk's request
(``GET /hello`` with ``Host`` and ``Authorization: Bearer``), reads the body and closes
the response as gunicorn does, many requests per round, rounds interleaved, medians of
thread CPU time (waiting for a busy core is not counted). The rows are those of
``benchmarks/http_django.py``: the plain view, and the README's setup
(:class:`~rs_guard.adapters.django.RSGuardMiddleware` + ``@require(scope)``, both on the
process's guard) with the token cache on and off, and their floor: a middleware and a
decorator that check nothing (what Django charges for the two layers themselves).

    python -m benchmarks.django_inprocess [--requests 3000] [--rounds 7]
    python -m benchmarks.django_inprocess --cprofile on|off
    python -m benchmarks.django_inprocess --instructions [--requests 500]

``--instructions`` counts under valgrind's callgrind instead: each row runs in a child
process with ``--requests`` requests and with none, and the difference per request is
printed (noise-free; needs ``valgrind``).

All rows live in one process (Django is configured once): the row in use is chosen by
:func:`use`, which points ``ROOT_URLCONF`` at the row's URLs and the process's guard at
the row's guard.
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
import types
from collections.abc import Callable
from typing import Any

from benchmarks.runner import PATH, SCOPE, median

ROWS = ("unprotected", "floor", "on", "off")
NAMES = {
    "unprotected": "Django unprotected",
    "floor": "no-op middleware + no-op decorator",
    "on": "middleware + @require, cache on",
    "off": "middleware + @require, cache off",
}


MIDDLEWARE = "rs_guard.adapters.django.RSGuardMiddleware"


class NoOpMiddleware:
    """The floor of the protected rows: a middleware and a decorator that check nothing."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        request.auth = None
        return self.get_response(request)


def noop_decorator(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
        return view(request, *args, **kwargs)

    return wrapper


class Row:
    """One row: its WSGI handler, its URL conf and (protected rows) its guard."""

    def __init__(self, name: str, handler: Any, urlconf: str, default: Any) -> None:
        self.name = name
        self.handler = handler
        self.urlconf = urlconf
        self.default = default  # (DjangoGuardSettings, Guard) or None


def _urlconf(name: str, view: Callable[..., Any]) -> str:
    from django.urls import path

    module = types.ModuleType(name)
    module.urlpatterns = [path(PATH.lstrip("/"), view)]  # type: ignore[attr-defined]
    sys.modules[name] = module
    return name


def use(row: Row) -> None:
    """Make ``row`` the one Django serves: its URLs, and its guard as the process's."""
    from django.conf import settings

    from rs_guard.adapters.django import conf

    settings.ROOT_URLCONF = row.urlconf
    conf._default[:] = [row.default] if row.default is not None else []


def build(rows: tuple[str, ...]) -> list[Row]:
    """Configure Django once and build the handler of each row."""
    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpRequest, HttpResponse

    from rs_guard.adapters.django import load_settings, require
    from rs_guard.guard import Guard

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF="bench_django_plain",
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        RS_GUARD={},
    )
    django.setup()

    def hello(request: HttpRequest) -> HttpResponse:
        return HttpResponse("hello")

    plain = _urlconf("bench_django_plain", hello)
    protected = _urlconf("bench_django_protected", require(SCOPE)(hello))
    floor = _urlconf("bench_django_floor", noop_decorator(hello))
    built = []
    for name in rows:
        default = None
        if name == "floor":
            row = Row(name, None, floor, None)
            settings.MIDDLEWARE = [f"{__name__}.NoOpMiddleware"]
            use(row)
            row.handler = WSGIHandler()
            built.append(row)
            continue
        if name != "unprotected":
            env = dict(os.environ)
            if name == "off":
                env["RS_GUARD_TOKEN_CACHE"] = "0"
            loaded = load_settings(env)
            default = (loaded, Guard(loaded.config))
        row = Row(name, None, plain if default is None else protected, default)
        settings.MIDDLEWARE = [] if default is None else [MIDDLEWARE]
        use(row)
        row.handler = WSGIHandler()
        built.append(row)
    return built


def driver(row: Row, token: str) -> Callable[[int], None]:
    """``run(n)``: n requests through the row's handler, each as gunicorn presents it."""
    handler = row.handler
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)
        return None

    authorization = f"Bearer {token}"

    def run(n: int) -> None:
        use(row)
        for _ in range(n):
            environ = {
                "wsgi.version": (1, 0),
                "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(b""),
                "wsgi.errors": sys.stderr,
                "wsgi.multithread": True,
                "wsgi.multiprocess": False,
                "wsgi.run_once": False,
                "SERVER_SOFTWARE": "gunicorn/23.0.0",
                "REQUEST_METHOD": "GET",
                "QUERY_STRING": "",
                "RAW_URI": PATH,
                "SERVER_PROTOCOL": "HTTP/1.1",
                "HTTP_HOST": "127.0.0.1:8000",
                "HTTP_AUTHORIZATION": authorization,
                "REMOTE_ADDR": "127.0.0.1",
                "REMOTE_PORT": "50000",
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "8000",
                "PATH_INFO": PATH,
                "SCRIPT_NAME": "",
            }
            response = handler(environ, start_response)
            b"".join(response)
            response.close()
        if any(not s.startswith("200") for s in statuses):
            raise RuntimeError(f"a request was answered {set(statuses)}")
        statuses.clear()

    return run


def measure(rows: list[Row], token: str, requests: int, rounds: int) -> None:
    runs = {row.name: driver(row, token) for row in rows}
    for run in runs.values():
        run(200)  # warm: keys, caches
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.thread_time()
            run(requests)
            times[name].append((time.thread_time() - start) / requests * 1e6)
    base = times[rows[0].name]
    print(f"{'row':<40}{'µs/req':>8}{'added':>8}{'x base':>8}   (median of {rounds} rounds)")
    for name, values in times.items():
        added = median([v - b for v, b in zip(values, base, strict=True)])
        ratio = median([b / v for v, b in zip(values, base, strict=True)])
        print(f"{NAMES[name]:<40}{median(values):8.1f}{added:+8.1f}{ratio:8.2f}")


def profile(row: Row, token: str, requests: int, top: int) -> None:
    run = driver(row, token)
    run(200)
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    run(requests)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print(out.getvalue())


def instructions(row: str, requests: int) -> int:
    argv = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, "-m", "benchmarks.django_inprocess", "--child", row,
        "--requests", str(requests),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise SystemExit(f"callgrind printed no count:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def count_rows(rows: tuple[str, ...], requests: int) -> None:
    per_request: dict[str, float] = {}
    print(f"{'row':<40}{'instr/req':>10}{'added':>10}{'x base':>8}")
    for row in rows:
        loaded, empty = instructions(row, requests), instructions(row, 0)
        per_request[row] = value = (loaded - empty) / requests
        base = per_request[rows[0]]
        print(f"{NAMES[row]:<40}{value:10.0f}{value - base:+10.0f}{base / value:8.2f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cprofile", choices=ROWS, help="profile this row instead")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--instructions", action="store_true", help="count under callgrind")
    parser.add_argument("--rows", nargs="*", choices=ROWS, help="only these rows (and the base)")
    parser.add_argument("--child", choices=ROWS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rows = tuple(r for r in ROWS if not args.rows or r in args.rows or r == ROWS[0])

    if args.child:  # under callgrind: the parent's keys, token and JWKS server
        [row] = build((args.child,))
        run = driver(row, os.environ["RS_GUARD_BENCH_TOKEN"])
        run(50)
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
        os.environ.pop("RS_GUARD_TOKEN_CACHE", None)
        if args.instructions:
            count_rows(rows, args.requests)
        elif args.cprofile:
            [row] = build((args.cprofile,))
            profile(row, token, args.requests, args.top)
        else:
            measure(build(rows), token, args.requests, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
