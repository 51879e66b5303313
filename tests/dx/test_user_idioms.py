"""The testing idioms of docs/testing.md, run as a user's own project would run them.

``docs/examples/idioms`` is a small project (a FastAPI module configured at import time, a
Flask app factory reading ``app.config``, their tests and a ``pyproject.toml``); it is copied
to a temporary directory and run by a separate pytest, where only the installed plugin
provides the fixtures.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IDIOMS = ROOT / "docs" / "examples" / "idioms"
pytestmark = pytest.mark.slow


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(IDIOMS, project)
    return project


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_GUARD_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_every_idiom_file_is_shown_in_the_testing_guide() -> None:
    guide = (ROOT / "docs" / "testing.md").read_text()
    files = [*sorted(IDIOMS.glob("*.py")), IDIOMS / "pyproject.toml"]
    assert len(files) == 5
    for path in files:
        assert path.read_text().rstrip("\n") in guide, f"{path.name} is not in docs/testing.md"


def test_the_documented_idioms_pass_in_a_users_project(tmp_path: Path) -> None:
    done = _pytest(_project(tmp_path), "-W", "error")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\b4 passed\b", done.stdout), done.stdout[-500:]


def test_without_the_session_option_the_module_level_app_fails_at_collection(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path)
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    done = _pytest(project, "test_api.py")
    assert done.returncode == 2, done.stdout[-3000:]
    assert "ConfigError: issuer: is required" in done.stdout


def test_the_command_line_flag_does_what_the_ini_option_does(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    done = _pytest(project, "--rs-guard-env", "test_api.py")
    assert done.returncode == 0, done.stdout[-3000:]
    assert re.search(r"\b2 passed\b", done.stdout), done.stdout[-500:]
