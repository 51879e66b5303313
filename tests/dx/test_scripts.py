"""scripts/setup as root on a Debian machine: what it installs, and that it leaves services alone.

The script runs for real with ``apt-get``, ``systemctl``, ``service`` and ``id`` replaced by
recorders on a private PATH (and a stand-in virtual environment), so nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORDER = '#!/bin/sh\necho "$(basename "$0") $*" >> "$RS_GUARD_TEST_CALLS"\n'


def _run(tmp_path: Path, *args: str) -> list[str]:
    shims = tmp_path / "bin"
    shims.mkdir()
    for tool in ("dirname", "mktemp", "cat", "rm", "touch", "sleep", "basename"):
        found = shutil.which(tool)
        assert found is not None, tool
        (shims / tool).symlink_to(found)
    for tool in ("apt-get", "systemctl", "service", "invoke-rc.d"):
        (shims / tool).write_text(RECORDER)
        (shims / tool).chmod(0o755)
    (shims / "id").write_text("#!/bin/sh\necho 0\n")  # as root
    (shims / "id").chmod(0o755)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text(RECORDER)  # pip install: recorded, not run
    (venv / "bin" / "python").chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    env = {
        "PATH": str(shims),
        "RS_GUARD_VENV": str(venv),
        "RS_GUARD_TEST_CALLS": str(calls),
        "HOME": str(tmp_path),
    }
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run(
        [bash, str(ROOT / "scripts" / "setup"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return calls.read_text().splitlines()


def _installed(calls: list[str]) -> set[str]:
    packages: set[str] = set()
    for call in calls:
        words = call.split()
        if words[:2] == ["apt-get", "install"]:
            packages |= {w for w in words[2:] if not w.startswith("-")}
    return packages


@pytest.mark.skipif(os.name != "posix", reason="a POSIX shell script")
def test_the_test_setup_installs_no_benchmark_tool_and_leaves_services_alone(
    tmp_path: Path,
) -> None:
    calls = _run(tmp_path, "--system")
    installed = _installed(calls)
    assert "wrk" not in installed
    assert "redis-server" in installed  # not on the private PATH, so missing
    assert [c for c in calls if c.split()[0] in {"systemctl", "service", "invoke-rc.d"}] == []
    pip = [c for c in calls if c.startswith("python -m pip install")]
    assert pip[-1].endswith("-e .[dev]")


@pytest.mark.skipif(os.name != "posix", reason="a POSIX shell script")
def test_wrk_comes_with_the_benchmarks_option_only(tmp_path: Path) -> None:
    assert _installed(_run(tmp_path, "--bench")) == {"wrk"}


@pytest.mark.skipif(os.name != "posix", reason="a POSIX shell script")
def test_the_demo_setup_installs_the_demo_extra_and_no_system_package(tmp_path: Path) -> None:
    calls = _run(tmp_path, "--demo")
    assert _installed(calls) == set()
    assert [c for c in calls if c.startswith("apt-get")] == []
    assert calls[-1] == "python -m pip install --quiet --disable-pip-version-check -e .[demo]"
