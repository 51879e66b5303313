"""``rs-guard demo``: watch rs_guard protect an API, with no account and no network.

1. an in-memory issuer (:class:`~rs_guard.testing.TokenIssuer`, keys generated now) whose
   JWKS a :class:`~rs_guard.testing.JWKSServer` serves on 127.0.0.1;
2. the example FastAPI app (``examples/fastapi_app.py`` when the repository is next to
   the package, else the copy in :mod:`rs_guard._demo`), configured through the
   ``RS_GUARD_*`` environment like any deployment, under uvicorn on a free loopback port;
3. real HTTP requests with httpx, one per case, printed as a table.

The exit code is 0 only when every step answered as expected. ``--serve`` keeps both
servers running and prints ``curl`` commands with fresh tokens.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, TextIO

import httpx

from .observability import Outcome, add_observer, remove_observer
from .testing import JWKSServer, TokenIssuer, tampered

__all__ = ["DEMO_AUDIENCE", "DEMO_ISSUER", "Step", "load_demo_app", "run_demo"]

DEMO_ISSUER = "https://demo-tenant.rs-guard.test/"
DEMO_AUDIENCE = "https://appointments.rs-guard.test"
READ = "read:appointments"
WRITE = "write:appointments"
_STARTUP_TIMEOUT = 15.0


@dataclass
class Step:
    """One request of the walk-through and what it should get."""

    title: str
    method: str
    token: str | None
    expected: int
    expected_error: str | None = None
    status: int | None = None
    error: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == self.expected and self.error == self.expected_error


def _example_path() -> Path | None:
    """``examples/fastapi_app.py`` of the repository this package was installed from."""
    candidate = Path(__file__).resolve().parent.parent / "examples" / "fastapi_app.py"
    return candidate if candidate.is_file() else None


def load_demo_app(environ: dict[str, str]) -> tuple[Any, str]:
    """Set ``environ`` in ``os.environ``, then import the example app afresh.

    Returns ``(app, where it came from)``. The app reads its settings at import, exactly
    as a deployed one reads ``RS_GUARD_*``.
    """
    os.environ.update(environ)
    os.environ.pop("RS_GUARD_CONFIG", None)
    path = _example_path()
    if path is not None:
        module = _import_file("rs_guard_demo_example_app", path)
        return module.app, str(path)
    from ._demo import app as bundled

    importlib.reload(bundled)
    return bundled.app, "rs_guard/_demo/app.py"


def _import_file(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always loads
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _free_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@contextmanager
def _uvicorn(app: Any, port: int) -> Iterator[str]:
    """Serve ``app`` under uvicorn in a thread on 127.0.0.1; yields the base URL."""
    import uvicorn

    sock = _free_socket(port)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="rs-guard-demo", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the demo API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _steps(issuer: TokenIssuer) -> list[Step]:
    reader = issuer.mint(scopes=[READ], subject="auth0|alice")
    writer = issuer.mint(scopes=[READ, WRITE], subject="auth0|bob")
    return [
        Step("no token", "GET", None, 401),
        Step("read:appointments", "GET", reader, 200),
        Step("read token, POST", "POST", reader, 403, "insufficient_scope"),
        Step("write:appointments", "POST", writer, 201),
        Step("expired", "GET", issuer.mint(scopes=[READ], expires_in=-300), 401, "invalid_token"),
        Step("tampered", "GET", tampered(reader, scope=f"{READ} {WRITE}"), 401, "invalid_token"),
        Step(
            "other audience",
            "GET",
            issuer.mint(scopes=[READ], claims={"aud": "https://another-api.rs-guard.test"}),
            401,
            "invalid_token",
        ),
    ]


def _run_step(client: httpx.Client, base: str, step: Step, outcomes: list[Outcome]) -> None:
    headers = {"authorization": f"Bearer {step.token}"} if step.token else {}
    outcomes.clear()
    response = client.request(step.method, base + "/appointments", headers=headers)
    step.status = response.status_code
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {}
        step.error = body.get("error") if isinstance(body, dict) else None
    refused = [o for o in outcomes if not o.accepted]
    if refused:
        step.reason = refused[-1].reason
    elif step.error:
        step.reason = step.error
    else:
        step.reason = "ok" if response.status_code < 400 else None


def _table(steps: list[Step], out: TextIO) -> None:
    rows = [("#", "request", "token", "expected", "got", "reason", "")]
    for n, step in enumerate(steps, 1):
        expected = f"{step.expected}" + (f" {step.expected_error}" if step.expected_error else "")
        got = f"{step.status}" + (f" {step.error}" if step.error else "")
        rows.append(
            (
                str(n),
                f"{step.method} /appointments",
                step.title,
                expected,
                got,
                step.reason or "",
                "PASS" if step.ok else "FAIL",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        out.write("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip() + "\n")
        if i == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def _curl(base: str, issuer: TokenIssuer, out: TextIO) -> None:
    reader = issuer.mint(scopes=[READ], subject="auth0|alice", expires_in=3600)
    writer = issuer.mint(scopes=[READ, WRITE], subject="auth0|bob", expires_in=3600)
    out.write(
        "\nready-to-paste requests (tokens valid for one hour):\n\n"
        f"  curl -i {base}/health\n"
        f"  curl -i {base}/appointments\n"
        f"  curl -i -H 'Authorization: Bearer {reader}' {base}/appointments\n"
        f"  curl -i -X POST -H 'Authorization: Bearer {reader}' {base}/appointments\n"
        f"  curl -i -X POST -H 'Authorization: Bearer {writer}' {base}/appointments\n"
        f"  curl -i -H 'Authorization: Bearer {writer}' {base}/me\n"
        "\nexplain a token with the same settings (in another shell):\n\n"
    )


def run_demo(
    *,
    serve: bool = False,
    port: int = 0,
    out: TextIO | None = None,
    wait: Callable[[], None] | None = None,
) -> int:
    """Run the walk-through (and with ``serve``, keep serving until Ctrl-C or SIGTERM)."""
    out = out or sys.stdout
    issuer = TokenIssuer(issuer=DEMO_ISSUER, audience=DEMO_AUDIENCE)
    outcomes: list[Outcome] = []
    observer = add_observer(outcomes.append)
    try:
        with JWKSServer(issuer.jwks) as jwks:
            environ = issuer.environ(jwks_uri=jwks.jwks_uri)
            app, origin = load_demo_app(environ)
            with _uvicorn(app, port if serve else 0) as base:
                out.write(
                    "rs_guard demo: an in-memory issuer (RS256 keys made just now, JWKS at "
                    f"{jwks.jwks_uri})\nprotects the example API {origin} at {base}\n"
                    f"issuer {DEMO_ISSUER}  audience {DEMO_AUDIENCE}\n\n"
                )
                steps = _steps(issuer)
                with httpx.Client(timeout=10.0, trust_env=False) as client:
                    for step in steps:
                        _run_step(client, base, step, outcomes)
                _table(steps, out)
                passed = all(step.ok for step in steps)
                out.write(
                    f"\n{sum(s.ok for s in steps)} of {len(steps)} steps behaved as expected\n"
                )
                if serve:
                    _curl(base, issuer, out)
                    out.write("".join(f"  export {k}={v}\n" for k, v in environ.items()))
                    out.write("  rs-guard inspect TOKEN\n")
                    out.write("\nserving; press Ctrl-C to stop\n")
                    out.flush()
                    (wait or _wait_for_interrupt)()
                    out.write("stopped\n")
    finally:
        remove_observer(observer)
    out.flush()
    return 0 if passed else 1


def _wait_for_interrupt() -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
