"""An example under a real server (gunicorn, uvicorn) on a loopback port the OS chose."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
#: A generous cap on start-up (a bounded wait, not a timing).
START_BOUND = 30.0


@contextmanager
def serving(
    command: Callable[[int], list[str]], env: dict[str, str], log_path: Path
) -> Iterator[str]:
    """The server ``command(fd)`` (given the descriptor of a bound loopback socket) with
    ``env`` as its only ``RS_GUARD_*`` variables, output in ``log_path``; its base URL once
    ``/health`` answers 200. Stopped (terminate, then kill) on the way out."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RS_GUARD_")}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command(sock.fileno()),
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
                assert time.monotonic() < deadline, f"{command(0)[2]} did not start"
                time.sleep(0.05)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait()


def gunicorn(
    target: str, env: dict[str, str], log_path: Path, *args: str
) -> AbstractContextManager[str]:
    """``gunicorn target`` (``module:callable``) with extra ``args``, as :func:`serving`."""

    def command(fd: int) -> list[str]:
        options = ["--log-level", "warning", "--graceful-timeout", "3", *args]
        return [sys.executable, "-m", "gunicorn", target, "--bind", f"fd://{fd}", *options]

    return serving(command, env, log_path)


def uvicorn(target: str, env: dict[str, str], log_path: Path) -> AbstractContextManager[str]:
    """``uvicorn target`` (``module:app``), as :func:`serving`."""

    def command(fd: int) -> list[str]:
        options = ["--log-level", "warning", "--no-access-log"]
        return [sys.executable, "-m", "uvicorn", target, "--fd", str(fd), *options]

    return serving(command, env, log_path)
