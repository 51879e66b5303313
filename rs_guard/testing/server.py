"""A real HTTP server on 127.0.0.1 that serves an issuer's JWKS (and can misbehave)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["JWKSServer", "Reply"]

#: A reply: status, headers, body. A callable may also sleep to play a slow issuer.
Reply = tuple[int, dict[str, str], bytes]


class JWKSServer:
    """Serves ``/.well-known/jwks.json`` from a provider function on a loopback port.

    ``server.reply`` may be replaced at any time (an outage, garbage, a slow answer);
    ``server.hits`` counts requests per path. Use as a context manager.
    """

    def __init__(
        self, jwks: Callable[[], dict[str, Any]], *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.jwks = jwks
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self.reply: Callable[[str], Reply] | None = None
        self.metadata: dict[str, Any] | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path
                with outer._lock:
                    outer.hits[path] = outer.hits.get(path, 0) + 1
                status, headers, body = outer._answer(path)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if "Content-Length" not in headers:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return

        # ``port``: 0 for any free one; a fixed one plays an issuer that comes back
        # where it was (the URL an app was started with).
        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://{host}:{self.port}/"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def jwks_uri(self) -> str:
        return self.base_url + ".well-known/jwks.json"

    def _answer(self, path: str) -> Reply:
        if self.reply is not None:
            return self.reply(path)
        if path == "/.well-known/jwks.json":
            body = json.dumps(self.jwks()).encode()
            return 200, {"Content-Type": "application/json"}, body
        if path == "/.well-known/openid-configuration" and self.metadata is not None:
            return 200, {"Content-Type": "application/json"}, json.dumps(self.metadata).encode()
        return 404, {}, b"not found"

    def count(self, path: str = "/.well-known/jwks.json") -> int:
        with self._lock:
            return self.hits.get(path, 0)

    def start(self) -> JWKSServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> JWKSServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def slow(seconds: float, reply: Reply) -> Callable[[str], Reply]:
        def answer(path: str) -> Reply:
            time.sleep(seconds)
            return reply

        return answer
