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
(noise-free; needs ``valgrind``). Both tables end with ``x base``, the ``Flask
unprotected`` row's cost over the row's (a throughput ratio, as in the HTTP table).

Rows: ``unprotected`` (the plain view), ``thin`` (a reference: a decorator that reads
``HTTP_AUTHORIZATION`` and finds the token in a dict, nothing else: the floor of any
decorator that finds a token), ``protect`` (``RSGuard(app)`` + ``@guard.require(scope)``,
cache on and off), ``middleware`` (``RSGuardWSGIMiddleware`` around the plain app).
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from typing import Any

from benchmarks import inprocess
from benchmarks.runner import PATH

MODULE = "benchmarks.wsgi_inprocess"
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
    base = inprocess.gunicorn_environ()
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


def main(argv: list[str] | None = None) -> int:
    parser = inprocess.parser(__doc__, VARIANTS, top=40)
    parser.add_argument("--cache", choices=("on", "off"), default="on")
    parser.add_argument("--rows", nargs="*", help="only the rows whose variant is named")
    args = parser.parse_args(argv)
    rows = tuple(r for r in ROWS if not args.rows or r[1] in args.rows or r == ROWS[0])

    if args.child:  # under callgrind: the parent's keys, token and JWKS server
        prepared(args.child, args.cache == "on", inprocess.child_token())(args.requests)
        return 0

    with inprocess.bench_env() as token:
        if args.instructions:
            inprocess.count_rows(MODULE, inprocess.variant_children(rows), args.requests, 44)
        elif args.cprofile:
            run = prepared(args.cprofile, args.cache == "on", token)
            inprocess.profile(run, args.requests, args.top, "tottime")
        else:
            runs = {name: prepared(variant, cache, token) for name, variant, cache in rows}
            inprocess.measure(runs, args.requests, args.rounds, 44)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
