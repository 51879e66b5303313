"""The docs stay true: examples run, code blocks compile, links and reason codes resolve."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from rs_guard.testing import TokenIssuer

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.py"))
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
BLOCK = re.compile(r"```python\n(.*?)\n```", re.S)


def _blocks() -> list[tuple[str, str]]:
    return [(page.name, block) for page in PAGES for block in BLOCK.findall(page.read_text())]


def test_every_example_file_is_shown_in_a_page() -> None:
    assert len(EXAMPLES) >= 5
    texts = [page.read_text() for page in PAGES]
    for example in EXAMPLES:
        code = example.read_text().rstrip("\n")
        assert any(code in text for text in texts), f"{example.name} is in no page"


@pytest.mark.slow
def test_the_testing_examples_pass_as_a_user_would_run_them() -> None:
    # A separate pytest run: only the installed plugin provides the fixtures.
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", str(DOCS / "examples")),
            f"--ignore={DOCS / 'examples' / 'idioms'}",  # its own project: test_user_idioms.py
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\b7 passed\b", done.stdout), done.stdout[-500:]


@pytest.mark.parametrize(("page", "block"), _blocks())
def test_every_python_block_compiles(page: str, block: str) -> None:
    ast.parse(block, filename=page)


def test_imports_in_python_blocks_exist() -> None:
    for page, block in _blocks():
        for node in ast.walk(ast.parse(block)):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("rs_guard")
            ):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{page}: {node.module}.{alias.name}"


def test_relative_links_resolve() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_every_reason_code_is_in_the_errors_reference() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "rs_guard").rglob("*.py"))
    reasons = set(re.findall(r'reason\s*=\s*"([a-z_0-9]+)"', source))
    reasons |= set(re.findall(r'_proof_error\([^)]*?,\s*"([a-z_0-9]+)"', source, re.S))
    reasons |= set(re.findall(r'"(dpop_[a-z_]+)"', source))
    reasons.discard("ok")
    reference = (DOCS / "errors.md").read_text()
    missing = sorted(r for r in reasons if f"`{r}`" not in reference)
    assert len(reasons) >= 30
    assert missing == [], f"reason codes missing from docs/errors.md: {missing}"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"rs_guard_readme_{name}", DOCS / "examples" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_flask_example_protects_its_route(
    rs_guard_env: dict[str, str], rs_guard_issuer: TokenIssuer
) -> None:
    client = _load("readme_flask").app.test_client()
    assert client.get("/appointments").status_code == 401
    token = rs_guard_issuer.mint(scopes=["read:appointments"], subject="auth0|carol")
    answer = client.get("/appointments", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.json == {"for": "auth0|carol"}


def test_readme_fastapi_example_protects_its_route(
    rs_guard_env: dict[str, str], rs_guard_issuer: TokenIssuer
) -> None:
    import asyncio

    app = _load("readme_fastapi").app
    token = rs_guard_issuer.mint(scopes=["read:appointments"], subject="auth0|dan")

    async def go() -> tuple[int, int, object]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            bare = await client.get("/appointments")
            good = await client.get("/appointments", headers={"Authorization": f"Bearer {token}"})
            return bare.status_code, good.status_code, good.json()

    assert asyncio.run(go()) == (401, 200, {"for": "auth0|dan"})


def test_readme_fastapi_example_keeps_the_api_docs_open(rs_guard_env: dict[str, str]) -> None:
    import asyncio

    app = _load("readme_fastapi").app

    async def go() -> dict[str, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            paths = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/appointments")
            return {path: (await client.get(path)).status_code for path in paths}

    assert asyncio.run(go()) == {
        "/docs": 200,
        "/docs/oauth2-redirect": 200,
        "/redoc": 200,
        "/openapi.json": 200,
        "/appointments": 401,
    }
