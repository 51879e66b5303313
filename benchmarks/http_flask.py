"""Requests per second of a Flask app under gunicorn, unprotected against protected by rs_guard.

Starts a :class:`~rs_guard.testing.JWKSServer` and gunicorn (``-k gthread -w 1 --threads 4``)
on 127.0.0.1 with a small Flask app (this module's :func:`create_app`) that has

* ``GET /open``: no protection;
* ``GET /protected``: ``@require("read:x")`` through :class:`rs_guard.adapters.flask.RSGuard`,

then loads it from threads holding keep-alive connections (``http.client``). Rows:

* ``unprotected``: ``/open``;
* ``protected``: ``/protected`` with one token reused (the verified-token cache hits,
  as for a client that keeps its token);
* ``protected, cache off``: the same with ``RS_GUARD_TOKEN_CACHE=0`` (a second gunicorn),
  so every request verifies the RS256 signature and claims.

The machine is shared and noisy: every round runs every row back to back, and the table
reports the median over rounds; the ratio is to ``unprotected`` in the same round.
Run: ``python benchmarks/http_flask.py [--seconds 3] [--rounds 3] [--connections 4]``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rs_guard.testing import JWKSServer, TokenIssuer  # noqa: E402


def create_app() -> Any:
    """The app gunicorn serves (``benchmarks.http_flask:create_app()``), from RS_GUARD_*."""
    from flask import Flask

    from rs_guard.adapters.flask import RSGuard, current_token
    from rs_guard.loaders import load_config

    app = Flask("bench")
    guard = RSGuard(app, config=load_config())

    @app.get("/open")
    def open_route() -> dict[str, str]:
        return {"sub": "anonymous"}

    @app.get("/protected")
    @guard.require("read:x")
    def protected_route() -> dict[str, Any]:
        return {"sub": current_token.subject}

    return app


@contextmanager
def gunicorn(env: dict[str, str], workers: str, threads: str) -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RS_GUARD_")}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "benchmarks.http_flask:create_app()",
            "--bind", f"fd://{sock.fileno()}", "-k", "gthread", "-w", workers,
            "--threads", threads, "--log-level", "warning",
        ],
        env={**clean, **env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        pass_fds=(sock.fileno(),),
    )  # fmt: skip
    sock.close()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/open")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def load(
    port: int, path: str, headers: dict[str, str], seconds: float, connections: int
) -> dict[str, float]:
    """Requests per second and latency percentiles (ms) over ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors: list[int] = [0] * connections
    start = threading.Barrier(connections + 1)
    stop_at: list[float] = [0.0]

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = latencies[index]
        start.wait()
        while True:
            begin = time.perf_counter()
            if begin >= stop_at[0]:
                break
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors[index] += 1
            mine.append(time.perf_counter() - begin)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    started = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    every = sorted(x for chunk in latencies for x in chunk)
    if sum(errors):
        raise RuntimeError(f"{sum(errors)} requests to {path} failed")
    return {
        "rps": len(every) / elapsed,
        "p50": every[len(every) // 2] * 1000,
        "p99": every[min(len(every) - 1, int(len(every) * 0.99))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", default="1")
    parser.add_argument("--threads", default="4")
    args = parser.parse_args()

    issuer = TokenIssuer()
    token = issuer.mint(scopes=["read:x"])
    auth = {"Authorization": f"Bearer {token}"}
    with JWKSServer(issuer.jwks) as jwks:
        env = {
            "RS_GUARD_ISSUER": issuer.issuer,
            "RS_GUARD_AUDIENCE": issuer.audience,
            "RS_GUARD_JWKS_URI": jwks.jwks_uri,
        }
        with (
            gunicorn(env, args.workers, args.threads) as cached_port,
            gunicorn({**env, "RS_GUARD_TOKEN_CACHE": "0"}, args.workers, args.threads) as cold_port,
        ):
            rows = {
                "unprotected": (cached_port, "/open", {}),
                "protected": (cached_port, "/protected", auth),
                "protected, cache off": (cold_port, "/protected", auth),
            }
            for port, path, headers in rows.values():  # warm up: keys fetched, code paths hot
                load(port, path, headers, 0.5, args.connections)
            results: dict[str, list[dict[str, float]]] = {name: [] for name in rows}
            for _ in range(args.rounds):
                for name, (port, path, headers) in rows.items():
                    results[name].append(load(port, path, headers, args.seconds, args.connections))

    base = statistics.median(r["rps"] for r in results["unprotected"])
    print(
        f"Flask {_version('flask')} / gunicorn {_version('gunicorn')} gthread "
        f"-w {args.workers} --threads {args.threads}; {args.connections} keep-alive "
        f"connections; {args.rounds} rounds of {args.seconds:g} s; median per row"
    )
    print(f"{'row':24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs unprotected':>15}")
    for name, runs in results.items():
        rps = statistics.median(r["rps"] for r in runs)
        p50 = statistics.median(r["p50"] for r in runs)
        p99 = statistics.median(r["p99"] for r in runs)
        print(f"{name:24} {rps:8.0f} {p50:8.2f} {p99:8.2f} {rps / base:14.2f}x")


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
