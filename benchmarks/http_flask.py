"""The Flask rows of ``benchmarks/http_all.py``: gunicorn, unprotected against the extension.

gunicorn imports :func:`make_app` (``benchmarks.http_flask:make_app()``), one worker
(``gthread`` with 4 threads by default, keep-alive like wrk's connections; ``sync`` with
``RS_GUARD_BENCH_WORKER=sync``). The view answers ``GET /hello``; with
``RS_GUARD_BENCH_PROTECT=1`` it is wrapped in the README's ``@guard.require(scope)`` of
:class:`rs_guard.adapters.flask.RSGuard` (``RS_GUARD_TOKEN_CACHE=0`` turns the cache off).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from benchmarks.runner import PATH, SCOPE, Target


def make_app() -> Any:
    """The benchmark app (``gunicorn 'benchmarks.http_flask:make_app()'``)."""
    from flask import Flask

    app = Flask("bench")

    def hello() -> str:
        return "hello"

    if os.environ.get("RS_GUARD_BENCH_PROTECT") == "1":
        from rs_guard.adapters.flask import RSGuard
        from rs_guard.loaders import load_config

        guard = RSGuard(app, config=load_config())
        hello = guard.require(SCOPE)(hello)
    app.add_url_rule(PATH, view_func=hello)
    return app


def gunicorn_command(port: int) -> list[str]:
    worker = os.environ.get("RS_GUARD_BENCH_WORKER", "gthread")
    threads = ["--threads", "4"] if worker == "gthread" else []
    return [
        sys.executable, "-m", "gunicorn", "benchmarks.http_flask:make_app()",
        "--bind", f"127.0.0.1:{port}", "--worker-class", worker, "--workers", "1",
        *threads, "--log-level", "warning",
    ]  # fmt: skip


def targets(rs_env: dict[str, str]) -> list[Target]:
    """The Flask rows (group ``wsgi``), in table order."""
    protect = {**rs_env, "RS_GUARD_BENCH_PROTECT": "1"}
    unprotected = "Flask unprotected"
    return [
        Target(
            unprotected,
            "wsgi",
            gunicorn_command,
            dict(rs_env),
            baseline=True,
            about="the plain view (the Flask baseline)",
        ),
        Target(
            "Flask @guard.require, cache on",
            "wsgi",
            gunicorn_command,
            protect,
            aim=(unprotected, 0.95),
            protects=True,
            about="RSGuard(app) + @guard.require(scope)",
        ),
        Target(
            "Flask @guard.require, cache off",
            "wsgi",
            gunicorn_command,
            {**protect, "RS_GUARD_TOKEN_CACHE": "0"},
            aim=(unprotected, 0.75),
            protects=True,
            about="the same, RS_GUARD_TOKEN_CACHE=0",
        ),
    ]


if __name__ == "__main__":
    from benchmarks.http_all import main

    raise SystemExit(main(["--only", "wsgi"]))
