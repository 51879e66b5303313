"""A WSGI example under a real gunicorn on a loopback port the OS chose."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
#: A generous cap on start-up (a bounded wait, not a timing).
START_BOUND = 30.0


@contextmanager
def gunicorn(target: str, env: dict[str, str], log_path: Path, *args: str) -> Iterator[str]:
    """``gunicorn target`` (``module:callable``) with ``env`` as its only ``RS_GUARD_*``
    variables, bound to a socket passed by descriptor; its base URL once ``/health``
    answers 200. Stopped (terminate, then kill) on the way out."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RS_GUARD_")}
    command = [sys.executable, "-m", "gunicorn", target]
    command += ["--bind", f"fd://{sock.fileno()}", "--log-level", "warning"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*command, "--graceful-timeout", "3", *args],
            env={**clean, **env, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            pass_fds=(sock.fileno(),),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        sock.close()
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_BOUND
            while True:
                try:
                    if httpx.get(base + "/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.05)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait()
