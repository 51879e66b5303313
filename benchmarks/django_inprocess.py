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
printed (noise-free; needs ``valgrind``). Both tables end with ``x base``, the
``Django unprotected`` row's cost over the row's (a throughput ratio, as in the HTTP
table).

All rows live in one process (Django is configured once): the row in use is chosen by
:func:`use`, which points ``ROOT_URLCONF`` at the row's URLs and the process's guard at
the row's guard.
"""

from __future__ import annotations

import functools
import io
import os
import sys
import types
from collections.abc import Callable
from typing import Any

from benchmarks import inprocess
from benchmarks.runner import PATH, SCOPE

MODULE = "benchmarks.django_inprocess"
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

    base = inprocess.gunicorn_environ()
    authorization = f"Bearer {token}"

    def run(n: int) -> None:
        use(row)
        for _ in range(n):
            environ = dict(base)
            environ["wsgi.input"] = io.BytesIO(b"")
            environ["HTTP_AUTHORIZATION"] = authorization
            response = handler(environ, start_response)
            b"".join(response)
            response.close()
        if any(not s.startswith("200") for s in statuses):
            raise RuntimeError(f"a request was answered {set(statuses)}")
        statuses.clear()

    return run


def warmed(row: Row, token: str, warm: int) -> Callable[[int], None]:
    run = driver(row, token)
    run(warm)  # warm: keys, caches
    return run


def main(argv: list[str] | None = None) -> int:
    parser = inprocess.parser(__doc__, ROWS, top=40)
    parser.add_argument("--rows", nargs="*", choices=ROWS, help="only these rows (and the base)")
    args = parser.parse_args(argv)
    rows = tuple(r for r in ROWS if not args.rows or r in args.rows or r == ROWS[0])

    if args.child:  # under callgrind: the parent's keys, token and JWKS server
        [row] = build((args.child,))
        warmed(row, inprocess.child_token(), 50)(args.requests)
        return 0

    with inprocess.bench_env() as token:
        if args.instructions:
            counted = [(NAMES[row], [row]) for row in rows]
            inprocess.count_rows(MODULE, counted, args.requests, 40)
        elif args.cprofile:
            [row] = build((args.cprofile,))
            inprocess.profile(warmed(row, token, 200), args.requests, args.top, "tottime")
        else:
            runs = {NAMES[row.name]: warmed(row, token, 200) for row in build(rows)}
            inprocess.measure(runs, args.requests, args.rounds, 40)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
