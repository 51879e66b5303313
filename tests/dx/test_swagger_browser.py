"""Swagger sign-in in a real browser: Debian's chromium, driven by Playwright, on real uvicorn.

The app serves ``/docs`` under uvicorn on 127.0.0.1. The browser loads it; Swagger UI's own
files (which FastAPI's page takes from a CDN) are answered from the ``swagger-ui-bundle-v2``
package by request interception, and the issuer is a name that never resolves: the test
captures the authorize request Swagger UI opens and answers it itself. Nothing leaves the
machine.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from base64 import urlsafe_b64decode
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from rs_guard import AccessToken, AsyncGuard
from rs_guard.config import Scope
from rs_guard.testing import TokenIssuer

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLIENT_ID = "swagger-spa-client"
SCOPES = (
    Scope("read:appointments", "Read your appointments"),
    Scope("write:appointments", "Book and cancel appointments"),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def docs_url() -> Iterator[tuple[str, TokenIssuer]]:
    uvicorn = pytest.importorskip("uvicorn")
    from fastapi import FastAPI, Security

    from rs_guard.adapters.fastapi import RSGuard
    from rs_guard.adapters.swagger import configure_swagger_oauth

    issuer = TokenIssuer()
    config = issuer.config(scopes=SCOPES)
    auth = RSGuard(config, guard=AsyncGuard(config, transport=issuer.transport()))
    app = FastAPI(title="Appointments")
    auth.install(app, public_paths=["/docs*", "/openapi.json"])
    configure_swagger_oauth(app, config, client_id=CLIENT_ID)

    @app.get("/appointments")
    async def appointments(
        token: AccessToken = Security(auth, scopes=["read:appointments"]),  # noqa: B008
    ) -> dict[str, str]:
        return {"for": token.subject}

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/docs", issuer
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _browser_route(assets: Path, issuer: str, seen: list[str]) -> Any:
    def handle(route: Any) -> None:
        url = route.request.url
        if url.startswith("http://127.0.0.1:"):
            route.continue_()
        elif url.startswith("https://cdn.jsdelivr.net/npm/swagger-ui-dist"):
            name = urlsplit(url).path.rsplit("/", 1)[-1]
            kind = "text/css" if name.endswith(".css") else "application/javascript"
            route.fulfill(status=200, body=(assets / name).read_bytes(), content_type=kind)
        elif url.startswith(issuer):
            seen.append(url)
            page = "<p>the issuer's sign-in page</p>"
            route.fulfill(status=200, body=page, content_type="text/html")
        else:
            route.abort()  # nothing leaves the machine

    return handle


def test_swagger_ui_signs_in_with_pkce_and_the_audience(
    docs_url: tuple[str, TokenIssuer],
) -> None:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/setup --system installs Debian's)")
    sync_api = pytest.importorskip("playwright.sync_api")
    bundle = pytest.importorskip("swagger_ui_bundle")
    assets = Path(bundle.swagger_ui_path)
    url, issuer = docs_url
    seen: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.route("**/*", _browser_route(assets, issuer.issuer, seen))
            page = context.new_page()
            page.goto(url)
            page.locator(".swagger-ui .auth-wrapper .authorize").click(timeout=30_000)
            dialog = page.locator(".modal-ux")
            dialog.wait_for(timeout=10_000)
            text = dialog.inner_text()
            for scope in SCOPES:
                assert scope.value in text
                assert scope.description in text
            assert "authorizationCode with PKCE" in text
            client_id = dialog.locator("input#client_id_authorizationCode")
            assert client_id.input_value(timeout=5_000) == CLIENT_ID
            checkbox = "read:appointments-authorizationCode-checkbox-rs_guard"
            dialog.locator(f"label[for='{checkbox}']").click()
            with page.expect_popup(timeout=10_000) as popup:
                dialog.locator("button.modal-btn.authorize").click()
            popup.value.wait_for_load_state()
        finally:
            browser.close()

    assert len(seen) == 1, seen
    parts = urlsplit(seen[0])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{issuer.issuer}authorize"
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["audience"] == issuer.audience
    assert query["code_challenge_method"] == "S256"
    challenge = query["code_challenge"]
    assert len(urlsafe_b64decode(challenge + "=")) == 32  # a SHA-256 digest (RFC 7636 §4.2)
    assert query["scope"].split() == ["read:appointments"]
    assert query["redirect_uri"] == url + "/oauth2-redirect"
    assert query["state"]
