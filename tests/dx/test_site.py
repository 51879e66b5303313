"""The documentation site builds strictly: a broken link or a file outside docs/ fails CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_site_builds_strictly_with_the_api_reference(tmp_path: Path) -> None:
    done = _build(ROOT, tmp_path / "site")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    reference = (tmp_path / "site" / "reference" / "index.html").read_text()
    for name in ("rs_guard.guard", "load_config", "RSGuardError", "configure_swagger_oauth"):
        assert name in reference, name
    assert (tmp_path / "site" / "testing" / "index.html").exists()


@pytest.mark.parametrize(
    ("link", "complaint"),
    [("missing.md", "missing.md"), ("../INTERFACE.md", "INTERFACE.md")],
)
def test_a_bad_link_fails_the_build(tmp_path: Path, link: str, complaint: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    docs = project / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(f"# Home\n\nSee [the contract]({link}).\n")
    done = _build(project, tmp_path / "site")
    assert done.returncode == 1, done.stdout + done.stderr
    assert complaint in done.stderr


def test_no_page_or_docstring_names_a_file_outside_the_repository() -> None:
    sources = [
        *ROOT.glob("docs/**/*.md"),
        ROOT / "README.md",
        *ROOT.glob("rs_guard/**/*.py"),
        *ROOT.glob("examples/**/*.py"),
    ]
    named = sorted(str(p.relative_to(ROOT)) for p in sources if "INTERFACE" in p.read_text())
    assert named == []
