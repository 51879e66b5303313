"""The demo end to end: real processes, real uvicorn, real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RS_GUARD_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _command() -> list[str]:
    script = Path(sys.executable).parent / "rs-guard"
    return [str(script)] if script.exists() else [sys.executable, "-m", "rs_guard"]


def test_rs_guard_demo_walks_through_every_case() -> None:
    done = subprocess.run(
        [*_command(), "demo"], capture_output=True, text=True, timeout=90, env=_env(), cwd="/"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "examples/fastapi_app.py" in out  # the repository's example app
    rows = [line for line in out.splitlines() if re.match(r"^\d\s+(GET|POST) ", line)]
    assert len(rows) == 7
    assert all(row.rstrip().endswith("PASS") for row in rows), out
    expected = [
        ("no token", "401", "missing_credentials"),
        ("read:appointments", "200", "ok"),
        ("read token, POST", "403 insufficient_scope", "insufficient_scope"),
        ("write:appointments", "201", "ok"),
        ("expired", "401 invalid_token", "expired"),
        ("tampered", "401 invalid_token", "bad_signature"),
        ("other audience", "401 invalid_token", "wrong_audience"),
    ]
    for row, (title, got, reason) in zip(rows, expected, strict=True):
        assert title in row
        assert f" {got} " in row
        assert reason in row
    assert "7 of 7 steps behaved as expected" in out
    assert "eyJ" not in out  # the walk-through prints no token
    assert done.stderr == ""


def test_python_m_rs_guard_serve_prints_working_curl_commands() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rs_guard", "demo", "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "press Ctrl-C" in line:
                break
        text = "".join(lines)
        assert "press Ctrl-C" in text, text
        curls = re.findall(r"curl -i (-X POST )?-H 'Authorization: Bearer ([\w.-]+)' (\S+)", text)
        assert len(curls) == 4
        post, token, url = curls[2]  # the write token on POST
        answer = httpx.post(url, headers={"authorization": f"Bearer {token}"}, timeout=10)
        assert post
        assert answer.status_code == 201
        _, reader, url = curls[1]  # the read token on POST
        assert httpx.post(url, headers={"authorization": f"Bearer {reader}"}).status_code == 403
        assert "export RS_GUARD_JWKS_URI=http://127.0.0.1:" in text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_bundled_app_serves_when_examples_are_absent() -> None:
    code = (
        "import sys, rs_guard.demo as d\nd._example_path = lambda: None\nsys.exit(d.run_demo())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=90, env=_env()
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rs_guard/_demo/app.py" in done.stdout
    assert "7 of 7 steps" in done.stdout


def test_scripts_demo_is_the_readme_command() -> None:
    script = (ROOT / "scripts" / "demo").read_text()
    assert "scripts/setup" in script
    assert "rs-guard demo" in script
    assert "./scripts/demo" in (ROOT / "README.md").read_text()
