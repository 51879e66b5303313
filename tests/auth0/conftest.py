"""Fixtures for the Auth0-settings tests: encryption keys and a fake Management API."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from auth0_helpers import EncryptionKey, make_encryption_key


@pytest.fixture(scope="session")
def enc_key() -> EncryptionKey:
    return make_encryption_key()


@pytest.fixture(scope="session")
def enc_key2() -> EncryptionKey:
    return make_encryption_key()


# -- a fake Management API on 127.0.0.1 ------------------------------------------------


@dataclass
class ManagementServer:
    """Answers ``/api/v2/resource-servers`` the way the Management API does.

    ``servers`` are the resource servers it knows; ``token`` the bearer it accepts;
    ``override`` (when set) answers every request instead: ``(status, headers, body)``.
    """

    servers: list[dict[str, Any]] = field(default_factory=list)
    token: str = "mgmt-token-123"
    per_page_cap: int = 2
    override: Callable[[str], tuple[int, dict[str, str], bytes]] | None = None
    requests: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, path: str, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(path)
        if self.override is not None:
            return self.override(path)
        if authorization != f"Bearer {self.token}":
            return _error(401, "Unauthorized", "Invalid token", "invalid_token")
        parts = urlsplit(path)
        if parts.path == "/api/v2/resource-servers":
            return self._list(parse_qs(parts.query))
        prefix = "/api/v2/resource-servers/"
        if parts.path.startswith(prefix):
            wanted = parts.path[len(prefix) :]
            for server in self.servers:
                if server["id"] == wanted:
                    return 200, {}, json.dumps(server).encode()
            return _error(404, "Not Found", "The resource server does not exist", "inexistent")
        return _error(404, "Not Found", "Not Found", "not_found")

    def _list(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        wanted = query.get("identifiers", [])
        matches = [s for s in self.servers if not wanted or s["identifier"] in wanted]
        page = int(query.get("page", ["0"])[0])
        per_page = min(int(query.get("per_page", ["50"])[0]), self.per_page_cap)
        items = matches[page * per_page : (page + 1) * per_page]
        if query.get("include_totals", ["false"])[0] == "true":
            body: Any = {
                "resource_servers": items,
                "start": page * per_page,
                "limit": per_page,
                "total": len(matches),
            }
        else:
            body = items
        return 200, {}, json.dumps(body).encode()


def _error(status: int, error: str, message: str, code: str) -> tuple[int, dict[str, str], bytes]:
    body = {"statusCode": status, "error": error, "message": message, "errorCode": code}
    return status, {}, json.dumps(body).encode()


@pytest.fixture
def management() -> Iterator[ManagementServer]:
    state = ManagementServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = state.answer(self.path, self.headers.get("Authorization"))
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
