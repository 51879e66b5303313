"""examples/mcp_server.py end to end: uvicorn on 127.0.0.1 (ephemeral port), the ``mcp``
package's own client over real HTTP, tokens from ``rs_guard.testing``."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

import httpx2  # the mcp client's HTTP library
import uvicorn
from mcp.client import Client
from mcp.client.auth.utils import (
    build_protected_resource_metadata_discovery_urls,
    extract_resource_metadata_from_www_auth,
    handle_protected_resource_response,
)
from mcp.client.streamable_http import streamable_http_client

from rs_guard.testing import JWKSServer, TokenIssuer

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
READ, WRITE = "read:appointments", "write:appointments"


@dataclass
class Running:
    url: str
    issuer: TokenIssuer
    jwks: JWKSServer


@pytest.fixture(scope="module")
def running(
    rs256_issuer: TokenIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mcp"
    issuer = TokenIssuer(key=rs256_issuer.current, audience=url, clock=time.time)
    with JWKSServer(issuer.jwks) as jwks, pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT))
        for key in [k for k in os.environ if k.startswith("RS_GUARD_")]:
            mp.delenv(key)
        mp.setenv("RS_GUARD_ISSUER", issuer.issuer)
        mp.setenv("RS_GUARD_AUDIENCE", url)
        mp.setenv("RS_GUARD_JWKS_URI", jwks.jwks_uri)
        resource_server = tmp_path_factory.mktemp("mcp") / "api.json"
        resource_server.write_text(
            json.dumps({"identifier": url, "scopes": [{"value": READ}, {"value": WRITE}]})
        )
        mp.setenv("RS_GUARD_CONFIG", str(resource_server))
        sys.modules.pop("examples.mcp_server", None)
        module = importlib.import_module("examples.mcp_server")
        sys.modules.pop("examples.mcp_server", None)
        config = uvicorn.Config(module.app, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started
        try:
            yield Running(url, issuer, jwks)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            sock.close()


async def _session(url: str, token: str | None, seen: list[httpx2.Response], work: Any) -> Any:
    async def record(response: httpx2.Response) -> None:
        seen.append(response)

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = httpx2.Timeout(20.0)
    async with (
        httpx2.AsyncClient(
            headers=headers, timeout=timeout, event_hooks={"response": [record]}
        ) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        return await work(client)


def run(url: str, token: str | None, work: Any) -> tuple[Any, list[httpx2.Response]]:
    seen: list[httpx2.Response] = []
    return asyncio.run(asyncio.wait_for(_session(url, token, seen, work), 60)), seen


def refused(url: str, token: str | None) -> httpx2.Response:
    """Connect, expect the connection to fail, and return the HTTP answer that refused it."""
    seen: list[httpx2.Response] = []

    async def nothing(client: Any) -> None:
        return None

    with pytest.raises(BaseException):  # noqa: B017, PT011  # the SDK's own connection error
        asyncio.run(asyncio.wait_for(_session(url, token, seen, nothing), 60))
    assert seen, "the client sent no request"
    return seen[0]


def test_without_a_token_401_names_the_metadata_the_client_can_fetch(running: Running) -> None:
    answer = refused(running.url, None)
    assert answer.status_code == 401
    expected = running.url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    assert answer.headers["www-authenticate"] == (
        f'Bearer realm="api", resource_metadata="{expected}"'
    )
    found = extract_resource_metadata_from_www_auth(answer)
    assert found == expected
    urls = build_protected_resource_metadata_discovery_urls(found, running.url)
    assert urls[0] == expected

    async def fetch() -> Any:
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as http:
            return await handle_protected_resource_response(await http.get(urls[0]))

    metadata = asyncio.run(fetch())
    assert metadata is not None
    assert str(metadata.resource) == running.url
    assert [str(a) for a in metadata.authorization_servers] == [running.issuer.issuer]
    assert metadata.scopes_supported == [READ, WRITE]
    assert metadata.bearer_methods_supported == ["header"]


def test_read_token_lists_tools_and_calls_the_read_tool(running: Running) -> None:
    token = running.issuer.mint(scopes=[READ], subject="auth0|reader")

    async def work(client: Any) -> Any:
        tools = await client.list_tools()
        result = await client.call_tool("list_appointments", {})
        return tools, result

    (tools, result), seen = run(running.url, token, work)
    assert {tool.name for tool in tools.tools} == {"list_appointments", "create_appointment"}
    assert result.is_error is False
    assert result.structured_content == {
        "appointments": [{"id": "1", "title": "dentist"}],
        "sub": "auth0|reader",
    }
    assert all(r.status_code < 400 for r in seen)


def test_write_tool_refused_without_the_scope(running: Running) -> None:
    token = running.issuer.mint(scopes=[READ])

    async def work(client: Any) -> Any:
        return await client.call_tool("create_appointment", {"title": "x"})

    result, _ = run(running.url, token, work)
    assert result.is_error is True
    text = " ".join(getattr(part, "text", "") for part in result.content)
    assert text == (
        "Error executing tool create_appointment: "
        "insufficient_scope: this tool requires the scope write:appointments"
    )


def test_write_tool_with_the_scope(running: Running) -> None:
    token = running.issuer.mint(scopes=[READ, WRITE], subject="auth0|writer")

    async def work(client: Any) -> Any:
        return await client.call_tool("create_appointment", {"title": "x"})

    result, _ = run(running.url, token, work)
    assert result.is_error is False
    assert result.structured_content == {"id": "2", "title": "x", "created_by": "auth0|writer"}


def test_token_for_another_audience_is_refused(running: Running) -> None:
    token = running.issuer.mint(scopes=[READ, WRITE], claims={"aud": "https://api.example.com/"})
    answer = refused(running.url, token)
    assert answer.status_code == 401
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert challenge.endswith(
        'resource_metadata="'
        + running.url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
        + '"'
    )
