"""The Django rows of the HTTP benchmark: gunicorn (gthread), unprotected against rs_guard.

Same method as ``benchmarks/http_load.py`` and ``benchmarks/http_flask.py`` (whose
:class:`Target`, ``serve`` and ``wrk`` driver it reuses): a real
:class:`~rs_guard.testing.JWKSServer` on loopback, one server per row on a port the OS
chose, ``wrk`` with keep-alive connections, every row run back to back in each round,
medians over rounds, ratio to the unprotected row of the same round. The app
(:func:`make_app`) answers ``GET /hello``; with ``RS_GUARD_BENCH_PROTECT=1`` the
:class:`rs_guard.adapters.django.RSGuardMiddleware` runs and the view is wrapped in
``@require("read:hello")``. Rows:

* ``django unprotected``: no middleware, no decorator (ratio 1.00);
* ``django 1 token`` / ``django 1000 tokens``: one valid token repeated / 1,000 in rotation;
* the same two with the verified-token cache off (``RS_GUARD_TOKEN_CACHE=0``).

``benchmarks/http_load.py`` can show these rows in its own table by adding :func:`targets`
to its ``targets()`` (group ``wsgi``). Run alone::

    python benchmarks/http_django.py [--duration 5] [--rounds 3] [--connections 32] [--threads 4]
"""

from __future__ import annotations

import os
import sys

# Run as a script, this folder heads sys.path: keep only the project root (added below) so
# that no sibling module can shadow a standard-library one.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.http_load import (  # noqa: E402
    PATH,
    SCOPE,
    Result,
    Target,
    run_wrk,
    serve,
    write_script,
)

#: Filled by :func:`make_app` (this module is the app's ``ROOT_URLCONF``).
urlpatterns: list[Any] = []


def make_app() -> Any:
    """The benchmark app (``gunicorn 'benchmarks.http_django:make_app()'``)."""
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    protect = os.environ.get("RS_GUARD_BENCH_PROTECT") == "1"
    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark only",
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        MIDDLEWARE=["rs_guard.adapters.django.RSGuardMiddleware"] if protect else [],
        RS_GUARD={},
    )
    django.setup()

    def hello(request: HttpRequest) -> HttpResponse:
        return HttpResponse("hello")

    if protect:
        from rs_guard.adapters.django import require

        hello = require(SCOPE)(hello)
    urlpatterns[:] = [path(PATH.lstrip("/"), hello)]
    return get_wsgi_application()


def gunicorn_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "benchmarks.http_django:make_app()",
        "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers", "1",
        "--threads", os.environ.get("RS_GUARD_BENCH_THREADS", "4"), "--log-level", "warning",
    ]  # fmt: skip


def targets(rs_env: dict[str, str]) -> list[Target]:
    """The Django rows, for ``benchmarks/http_load.py``'s table or this script's."""
    protect = {**rs_env, "RS_GUARD_BENCH_PROTECT": "1"}
    no_cache = {**protect, "RS_GUARD_TOKEN_CACHE": "0"}
    return [
        Target("django unprotected", "wsgi", gunicorn_command),
        Target("django 1 token", "wsgi", gunicorn_command, protect, tokens=1),
        Target("django 1000 tokens", "wsgi", gunicorn_command, protect, tokens=1000),
        Target("django no cache, 1 token", "wsgi", gunicorn_command, no_cache, tokens=1),
        Target("django no cache, 1000 tokens", "wsgi", gunicorn_command, no_cache, tokens=1000),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=5, help="seconds per row and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", default="4", help="gunicorn --threads")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk, or scripts/setup --system)")
        return 2
    os.environ["RS_GUARD_BENCH_THREADS"] = args.threads

    from rs_guard.testing import JWKSServer, TokenIssuer

    issuer = TokenIssuer()
    tokens = [issuer.mint(scopes=[SCOPE], subject=f"auth0|user-{i}") for i in range(1000)]
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        jwks = stack.enter_context(JWKSServer(issuer.jwks))
        rs_env = {
            "RS_GUARD_ISSUER": issuer.issuer,
            "RS_GUARD_AUDIENCE": issuer.audience,
            "RS_GUARD_JWKS_URI": jwks.jwks_uri,
        }
        rows = targets(rs_env)
        scripts = {
            t.name: write_script(Path(tmp), f"row{i}", tokens[: t.tokens])
            for i, t in enumerate(rows)
        }
        ports = {t.name: stack.enter_context(serve(t)) for t in rows}
        for t in rows:  # warm-up: first key fetch, imports, caches
            run_wrk(ports[t.name], scripts[t.name], 1, args.connections)
        results: dict[str, list[Result]] = {t.name: [] for t in rows}
        ratios: dict[str, list[float]] = {t.name: [] for t in rows}
        for _ in range(args.rounds):
            baseline = 0.0
            for t in rows:
                result = run_wrk(ports[t.name], scripts[t.name], args.duration, args.connections)
                results[t.name].append(result)
                baseline = result.rps if t.tokens == 0 else baseline
                ratios[t.name].append(result.rps / baseline)
    print(
        f"gunicorn -k gthread --workers 1 --threads {args.threads}; wrk -t1 "
        f"-c{args.connections}, {args.duration:g} s x {args.rounds} rounds, medians"
    )
    print(f"{'row':<30} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6} {'non-2xx':>8}")
    for t in rows:
        rs = results[t.name]
        print(
            f"{t.name:<30} {statistics.median(r.rps for r in rs):>9.0f} "
            f"{statistics.median(r.p50_ms for r in rs):>8.2f} "
            f"{statistics.median(r.p99_ms for r in rs):>8.2f} "
            f"{statistics.median(ratios[t.name]):>6.2f} {sum(r.non_2xx for r in rs):>8}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
