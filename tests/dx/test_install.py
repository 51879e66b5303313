"""The install a user does: build the wheel and sdist, install the wheel in a fresh venv, run it.

Nothing from the repository is on the new environment's path: the demo runs the copy of the
example app shipped inside the wheel. Packages come from pip's cache or the index.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_GUARD_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_the_built_wheel_installs_in_a_fresh_venv_and_runs_the_demo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # sdist first, then the wheel built from the unpacked sdist (so the sdist is complete).
    build = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)]
    _run(build, cwd=tmp_path, timeout=300)
    wheels = sorted(dist.glob("rs_guard-*.whl"))
    sdists = sorted(dist.glob("rs_guard-*.tar.gz"))
    assert len(wheels) == 1, list(dist.iterdir())
    assert len(sdists) == 1, list(dist.iterdir())
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "rs_guard/py.typed" in names
    assert "rs_guard/_demo/app.py" in names
    assert "rs_guard/testing/plugin.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "rs-guard = rs_guard.cli:main" in zipfile.ZipFile(wheels[0]).read(entry_points).decode()
    with tarfile.open(sdists[0]) as sdist:
        assert any(n.endswith("/pyproject.toml") for n in sdist.getnames())

    venv = tmp_path / "venv"
    # No pip inside (faster): this environment's pip installs into it (pip --python).
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, timeout=120)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    _run([*pip, "--disable-pip-version-check", f"{wheels[0]}[demo]"], cwd=tmp_path, timeout=300)

    done = _run([str(venv / "bin" / "rs-guard"), "demo"], cwd=tmp_path, timeout=120)
    out = done.stdout
    assert "examples/fastapi_app.py" not in out  # the wheel's own copy, not the repository's
    assert re.search(r"^7 of 7 steps behaved as expected$", out, re.M), out
    rows = [line for line in out.splitlines() if re.match(r"^\d\s+(GET|POST) ", line)]
    assert len(rows) == 7
    assert all(row.rstrip().endswith("PASS") for row in rows), out
    where = _run(
        [str(python), "-c", "import rs_guard, sys; print(rs_guard.__file__)"],
        cwd=tmp_path,
        timeout=60,
    ).stdout
    assert where.startswith(str(venv)), where
