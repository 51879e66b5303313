"""The Django rows of ``benchmarks/http_all.py``: gunicorn, unprotected against rs_guard.

gunicorn imports :func:`make_app` (``benchmarks.http_django:make_app()``), one worker
(``gthread`` with 4 threads by default, keep-alive like wrk's connections; ``sync`` with
``RS_GUARD_BENCH_WORKER=sync``), as for the Flask rows. The view answers ``GET /hello``;
with ``RS_GUARD_BENCH_PROTECT=1`` the README's setup runs: the
:class:`rs_guard.adapters.django.RSGuardMiddleware` in ``MIDDLEWARE`` and the view
wrapped in ``@require(scope)``, the decorator taking the token the middleware verified
(``RS_GUARD_TOKEN_CACHE=0`` turns the verified-token cache off). Run alone::

    python -m benchmarks.http_django        # = python -m benchmarks.http_all --only django

The same rows without the network, in thread CPU time or callgrind instructions per
request (and their floor, a middleware and a decorator that check nothing):
``python -m benchmarks.django_inprocess [--instructions]``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from benchmarks.runner import PATH, SCOPE, Target

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
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
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
    worker = os.environ.get("RS_GUARD_BENCH_WORKER", "gthread")
    threads = ["--threads", "4"] if worker == "gthread" else []
    return [
        sys.executable, "-m", "gunicorn", "benchmarks.http_django:make_app()",
        "--bind", f"127.0.0.1:{port}", "--worker-class", worker, "--workers", "1",
        *threads, "--log-level", "warning",
    ]  # fmt: skip


def targets(rs_env: dict[str, str]) -> list[Target]:
    """The Django rows (group ``django``), in table order."""
    protect = {**rs_env, "RS_GUARD_BENCH_PROTECT": "1"}
    unprotected = "Django unprotected"
    return [
        Target(
            unprotected,
            "django",
            gunicorn_command,
            dict(rs_env),
            baseline=True,
            about="the plain view (the Django baseline)",
        ),
        Target(
            "Django middleware + @require, cache on",
            "django",
            gunicorn_command,
            protect,
            protects=True,
            about="RSGuardMiddleware + @require(scope)",
        ),
        Target(
            "Django middleware + @require, cache off",
            "django",
            gunicorn_command,
            {**protect, "RS_GUARD_TOKEN_CACHE": "0"},
            protects=True,
            about="the same, RS_GUARD_TOKEN_CACHE=0",
        ),
    ]


if __name__ == "__main__":
    from benchmarks.http_all import main

    raise SystemExit(main(["--only", "django"]))
