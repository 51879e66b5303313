"""Requests per second through a real HTTP server, rs_guard against the same app unprotected.

Starts uvicorn (httptools, one worker) on 127.0.0.1 with a small Starlette app and loads it
with ``wrk`` (Debian package ``wrk``; ``scripts/setup --system`` installs it). Rows:

* ``unprotected``: ``GET /hello`` with no middleware (the baseline, ratio 1.00), sent the
  same ``Authorization`` header as the next row so that only rs_guard differs;
* ``pass-through mw``: the same route behind a middleware that does nothing (what any
  middleware layer costs in Starlette's stack);
* ``1 token``: the same route behind :class:`RSGuardMiddleware`, one valid token repeated;
* ``1000 tokens``: 1,000 distinct valid tokens in rotation;
* the last two again with the verified-token cache off (``RS_GUARD_TOKEN_CACHE=0``);
* ``thin jwt.decode``: the issue's reference point, a thin pure-ASGI middleware calling
  PyJWT's ``jwt.decode`` on every request (no cache): compare the uncached rows with it.

The keys come from a real :class:`~rs_guard.testing.JWKSServer` on loopback. The machine is
shared and noisy, so every round runs every row back to back and the table shows the
median over rounds; the ratio is to the unprotected row of the same round. Beside req/s
and wrk's latency percentiles, each row shows the server's CPU time per request (all its
processes, from ``/proc``) and the ratio of those to the baseline's: what one quiet core
would give, and steadier than req/s when other work shares the machine. Run::

    python benchmarks/http_load.py [--duration 5] [--rounds 3] [--connections 32] [--only asgi]

Other servers are more :class:`Target` entries in :func:`targets`, each with its own
``group`` for ``--only`` (the ratio is to that group's unprotected row): the Flask rows of
``benchmarks/http_flask.py`` (gunicorn, group ``wsgi``) join the table when Flask is installed.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's folder heads sys.path: keep only the project root (added
# below) so that no sibling module can shadow a standard-library one.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import ExitStack, contextmanager, suppress  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PATH = "/hello"
SCOPE = "read:hello"


# -- the app under test (imported by uvicorn: ``benchmarks.http_load:make_app``) ---------


def make_app() -> Any:
    """The benchmark app; ``RS_GUARD_BENCH_PROTECT=1`` puts rs_guard in front of it."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    middleware = []
    if os.environ.get("RS_GUARD_BENCH_PROTECT") == "noop":
        middleware.append(Middleware(PassThroughMiddleware))
    elif os.environ.get("RS_GUARD_BENCH_PROTECT") == "pyjwt":
        middleware.append(Middleware(ThinPyJWTMiddleware))
    elif os.environ.get("RS_GUARD_BENCH_PROTECT") == "1":
        from rs_guard.adapters.asgi import RSGuardMiddleware
        from rs_guard.loaders import load_config

        middleware.append(Middleware(RSGuardMiddleware, config=load_config()))
    return Starlette(routes=[Route(PATH, hello)], middleware=middleware)


class PassThroughMiddleware:
    """A pure ASGI middleware that does nothing: what any middleware layer costs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class ThinPyJWTMiddleware:
    """The issue's reference point: a thin pure-ASGI middleware calling ``jwt.decode``.

    Key fetched once at start (PyJWKClient), no cache, no RFC 6750 detail: the least a
    middleware can do. rs_guard's uncached rows are compared with this row.
    """

    def __init__(self, app: Any) -> None:
        import jwt

        self.app = app
        self.jwt = jwt
        self.issuer = os.environ["RS_GUARD_ISSUER"]
        self.audience = os.environ["RS_GUARD_AUDIENCE"]
        self.client = jwt.PyJWKClient(os.environ["RS_GUARD_JWKS_URI"])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            header = dict(scope["headers"]).get(b"authorization", b"").decode()
            token = header.removeprefix("Bearer ")
            try:
                key = self.client.get_signing_key_from_jwt(token).key
                self.jwt.decode(
                    token, key, algorithms=["RS256"], audience=self.audience, issuer=self.issuer
                )
            except self.jwt.PyJWTError:
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


# -- servers ------------------------------------------------------------------------


@dataclass
class Target:
    """One row of the table: a server command, its environment, and the tokens to send."""

    name: str
    group: str
    command: Callable[[int], list[str]]  # port -> argv
    env: dict[str, str] = field(default_factory=dict)
    #: Distinct valid tokens the row rotates through. 0 marks the group's unprotected
    #: baseline, which is sent one token as well (it ignores it): every row sends the
    #: same requests, so the ratio measures rs_guard and not the bytes of the header.
    tokens: int = 0


def uvicorn_command(port: int) -> list[str]:
    # --host/--port, not --fd: uvicorn treats an inherited fd as a Unix socket and then
    # leaves Nagle on, which costs every response the 40 ms delayed-ACK wait.
    return [
        sys.executable, "-m", "uvicorn", "benchmarks.http_load:make_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--http", "httptools", "--workers", "1",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def targets(rs_env: dict[str, str]) -> list[Target]:
    protect = {**rs_env, "RS_GUARD_BENCH_PROTECT": "1"}
    no_cache = {**protect, "RS_GUARD_TOKEN_CACHE": "0"}
    rows = [
        Target("asgi unprotected", "asgi", uvicorn_command),
        Target(
            "asgi pass-through mw",
            "asgi",
            uvicorn_command,
            {**rs_env, "RS_GUARD_BENCH_PROTECT": "noop"},
            tokens=1,
        ),
        Target("asgi 1 token", "asgi", uvicorn_command, protect, tokens=1),
        Target("asgi 1000 tokens", "asgi", uvicorn_command, protect, tokens=1000),
        Target("asgi no cache, 1 token", "asgi", uvicorn_command, no_cache, tokens=1),
        Target("asgi no cache, 1000 tokens", "asgi", uvicorn_command, no_cache, tokens=1000),
        Target(
            "asgi thin jwt.decode, 1 token",
            "asgi",
            uvicorn_command,
            {**rs_env, "RS_GUARD_BENCH_PROTECT": "pyjwt"},
            tokens=1,
        ),
    ]
    try:  # the Flask/gunicorn rows (group "wsgi"), when Flask is installed
        from benchmarks.http_flask import targets as wsgi_targets
    except ImportError:
        return rows
    return rows + list(wsgi_targets(rs_env))


#: The process of the server listening on each port (for its CPU time).
SERVER_PIDS: dict[int, int] = {}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants (Linux ``/proc``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # fields[0] is the state (field 3)
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        for task in tasks:
            with suppress(OSError):
                stack.extend(int(c) for c in (task / "children").read_text().split())
    return total / ticks


@contextmanager
def serve(target: Target) -> Iterator[int]:
    """Start the target's server on a loopback port chosen by the OS; yield the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **target.env, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(target.command(port), env=env, cwd=ROOT)
    try:
        wait_ready(port, proc)
        SERVER_PIDS[port] = proc.pid
        yield port
    finally:
        SERVER_PIDS.pop(port, None)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(
                    f"GET {PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
                )
                if conn.recv(64).startswith(b"HTTP/1.1"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not start")


# -- load -----------------------------------------------------------------------------

LUA = """
local reqs = {}
local i = 0
for line in io.lines("%(tokens)s") do
  local headers = {}
  if line ~= "" then headers["Authorization"] = "Bearer " .. line end
  reqs[#reqs + 1] = wrk.format("GET", "%(path)s", headers)
end
request = function()
  i = i %% #reqs + 1
  return reqs[i]
end
"""


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    #: Server CPU time per request (all its processes), NaN when unknown. On a shared,
    #: noisy machine this is steadier than req/s: a dedicated core serves 1e6/cpu_us.
    cpu_us: float = float("nan")


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(port: int, script: Path, duration: int, connections: int) -> Result:
    pid = SERVER_PIDS.get(port)
    cpu_before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}{PATH}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    cpu = (cpu_seconds(pid) - cpu_before) * 1e6 / count if pid and count else float("nan")
    return Result(rps, p50, p99, int(bad.group(1)) if bad else 0, cpu)


def write_script(directory: Path, name: str, tokens: list[str]) -> Path:
    token_file = directory / f"{name}.tokens"
    token_file.write_text("\n".join(tokens) + "\n" if tokens else "\n")
    script = directory / f"{name}.lua"
    script.write_text(LUA % {"tokens": token_file, "path": PATH})
    return script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=5, help="seconds per row and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", help="run only the rows of this group (asgi, wsgi, ...)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk, or scripts/setup --system)")
        return 2

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
        rows = [t for t in targets(rs_env) if args.only in (None, t.group)]
        scripts = {
            t.name: write_script(Path(tmp), f"row{i}", tokens[: max(t.tokens, 1)])
            for i, t in enumerate(rows)
        }
        ports = {t.name: stack.enter_context(serve(t)) for t in rows}
        for t in rows:  # warm-up: first key fetch, imports, caches
            run_wrk(ports[t.name], scripts[t.name], 1, args.connections)
        results: dict[str, list[Result]] = {t.name: [] for t in rows}
        ratios: dict[str, list[float]] = {t.name: [] for t in rows}
        cpu_ratios: dict[str, list[float]] = {t.name: [] for t in rows}
        for _ in range(args.rounds):
            baseline: dict[str, Result] = {}
            for t in rows:
                result = run_wrk(ports[t.name], scripts[t.name], args.duration, args.connections)
                results[t.name].append(result)
                if t.tokens == 0:
                    baseline[t.group] = result
                if t.group in baseline:
                    ratios[t.name].append(result.rps / baseline[t.group].rps)
                    cpu_ratios[t.name].append(baseline[t.group].cpu_us / result.cpu_us)
    print(
        f"uvicorn --http httptools --workers 1; wrk -t1 -c{args.connections}, "
        f"{args.duration:g} s x {args.rounds} rounds, medians"
    )
    print(
        f"{'row':<28} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} "
        f"{'cpu us/req':>10} {'cpu ratio':>9} {'non-2xx':>7}"
    )
    for t in rows:
        rs = results[t.name]

        def med(values: list[float]) -> float:
            return statistics.median(values) if values else float("nan")

        print(
            f"{t.name:<28} {med([r.rps for r in rs]):>7.0f} {med([r.p50_ms for r in rs]):>7.2f} "
            f"{med([r.p99_ms for r in rs]):>7.2f} {med(ratios[t.name]):>6.2f} "
            f"{med([r.cpu_us for r in rs]):>10.1f} {med(cpu_ratios[t.name]):>9.2f} "
            f"{sum(r.non_2xx for r in rs):>7}"
        )
    print(
        "ratio: req/s against the group's unprotected row, same round; cpu ratio: server CPU "
        "per request of the unprotected row over this row's (what a quiet core would give)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
