"""The adapters' shape: protocol modules import no framework, no import cycle, small modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rs_guard"
ADAPTERS = PACKAGE / "adapters"
FRAMEWORKS = ("starlette", "fastapi", "flask", "werkzeug")


@pytest.mark.parametrize("module", ["asgi", "wsgi", "_shell", "_routes", "_decorate"])
def test_protocol_modules_import_no_framework(module: str) -> None:
    code = (
        f"import sys, rs_guard.adapters.{module}\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({FRAMEWORKS!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


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


def test_no_import_cycle_through_the_adapters() -> None:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: (_imports(path) & set(modules)) - {name} for name, path in modules.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), list(graph[start])
        while stack:
            node = stack.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(graph[node])
        return False

    adapters = [name for name in modules if name.startswith("rs_guard.adapters.")]
    assert [name for name in adapters if reaches(name, name)] == []


def test_no_adapter_module_is_larger_than_300_lines() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in ADAPTERS.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 300} == {}
