"""The package's shape: protocol modules import no framework, no import cycle anywhere in
rs_guard, small adapter modules."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rs_guard"
ADAPTERS = PACKAGE / "adapters"
FRAMEWORKS = ("starlette", "fastapi", "flask", "werkzeug", "django", "rest_framework")


def _frameworks_imported_by(module: str) -> list[str]:
    code = (
        f"import json, sys, rs_guard.adapters.{module}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({FRAMEWORKS!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout)
    return found


@pytest.mark.parametrize(
    "module", ["asgi", "wsgi", "_wsgi_io", "_shell", "_routes", "_decorate", "_app_settings"]
)
def test_protocol_modules_import_no_framework(module: str) -> None:
    assert _frameworks_imported_by(module) == []


def test_the_django_adapter_imports_no_other_framework() -> None:
    assert _frameworks_imported_by("django") == ["django"]


def test_the_django_adapter_reaches_the_shared_cores_through_its_glue_module_only() -> None:
    shared = {
        f"rs_guard.adapters.{name}"
        for name in ("_shell", "_decorate", "_routes", "_app_settings", "_asgi_io", "wsgi", "asgi")
    }
    outside_glue = {
        path.name: sorted(_imports(path) & shared)
        for path in (ADAPTERS / "django").glob("*.py")
        if path.name != "_glue.py"
    }
    assert {name: found for name, found in outside_glue.items() if found} == {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every rs_guard module ``path`` imports, at the top or inside a function."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
            if not node.level:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: (_imports(path) & set(modules)) - {name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every module that reaches itself, with one path that shows it."""
    found = []
    for start in sorted(graph):
        paths, seen = [[start, n] for n in sorted(graph[start])], set()
        while paths:
            path = paths.pop()
            if path[-1] == start:
                found.append(path)
                break
            if path[-1] not in seen:
                seen.add(path[-1])
                paths.extend([*path, n] for n in sorted(graph[path[-1]]))
    return found


def test_no_import_cycle_anywhere_in_rs_guard() -> None:
    """Issue 12: no module of rs_guard reaches itself through imports, counting imports
    inside functions and ``from . import name`` (which imports the package)."""
    assert _cycles(_graph()) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c", "a"], ["b", "c", "a", "b"], ["c", "a", "b", "c"]]


def test_no_adapter_module_is_larger_than_300_lines() -> None:
    """Every module of ``rs_guard/adapters``, its packages (``django/``) included."""
    sizes = {
        str(p.relative_to(ADAPTERS)): len(p.read_text().splitlines())
        for p in ADAPTERS.rglob("*.py")
    }
    assert "django/middleware.py" in sizes
    assert {name: n for name, n in sizes.items() if n > 300} == {}
