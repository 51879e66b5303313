"""The JWKS engine against a real JWKS server on 127.0.0.1.

Rotation, outage with stale serve, garbage answers, oversized and slow answers, the
random-kid flood, single flight in threads and in async code (asyncio and trio),
Cache-Control, redirects, discovery (RFC 8414 §3), and warming. Cache time runs on the
FrozenClock; network timeouts run on the real one.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import anyio
import httpx
import pytest

from rs_guard import AccessToken, AsyncGuard, Guard, InvalidToken, KeysUnavailable, render_error
from rs_guard.config import GuardConfig, JWKSOptions
from rs_guard.jwks import Fetched, KeySetState
from rs_guard.keys import KeyChange
from rs_guard.testing import JWKSServer, TokenIssuer
from rs_guard.testing.server import Reply

T = TypeVar("T")
OPTIONS = JWKSOptions(ttl=60, min_ttl=10, max_ttl=3600, cooldown=5, timeout=1.0, stale_for=300)


@pytest.fixture
def issuer_(clock: Any) -> TokenIssuer:
    """A fresh ES256 issuer per test (its keys get rotated)."""
    return TokenIssuer(algorithm="ES256", clock=clock)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[JWKSServer]:
    # One server for the module: stopping one costs up to half a second (serve_forever's
    # poll interval), so each test resets it instead of starting its own.
    with JWKSServer(dict) as running:
        yield running


def reset(server: JWKSServer, jwks: Callable[[], dict[str, Any]]) -> JWKSServer:
    server.jwks = jwks
    server.reply = None
    server.metadata = None
    server.hits.clear()
    return server


@pytest.fixture
def server(issuer_: TokenIssuer, shared_server: JWKSServer) -> JWKSServer:
    return reset(shared_server, issuer_.jwks)


def make_config(issuer: TokenIssuer, server: JWKSServer, **overrides: Any) -> GuardConfig:
    settings: dict[str, Any] = {"jwks_uri": server.jwks_uri, "jwks": OPTIONS}
    settings.update(overrides)
    return issuer.config(**settings)


@pytest.fixture
def guard(issuer_: TokenIssuer, server: JWKSServer, clock: Any) -> Iterator[Guard]:
    g = Guard(make_config(issuer_, server), clock=clock)
    yield g
    g.close()


def constant(
    status: int, body: bytes, headers: dict[str, str] | None = None
) -> Callable[[str], Reply]:
    return lambda path: (status, headers or {"Content-Type": "application/json"}, body)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/.well-known/jwks.json"


# -- rotation ----------------------------------------------------------------------------


def test_rotation_fetches_a_new_kid_once(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    verified = guard.verify(issuer_.mint())
    assert verified.subject == "auth0|user-1"
    assert server.count() == 1
    new = issuer_.rotate()
    token = issuer_.mint(key=new)
    # Within the cooldown of the last fetch a new kid is not worth a request yet ...
    with pytest.raises(InvalidToken) as caught:
        guard.verify(token)
    assert caught.value.reason == "unknown_kid"
    assert server.count() == 1
    # ... after it, one fetch finds it, and later tokens need none.
    clock.advance(OPTIONS.cooldown)
    verified = guard.verify(token)
    assert verified.kid == new.kid
    verified = guard.verify(issuer_.mint(key=new))
    assert verified.kid == new.kid
    verified = guard.verify(issuer_.mint(key=issuer_.keys[0]))
    assert verified.kid == issuer_.keys[0].kid
    assert server.count() == 2


def test_a_removed_key_clears_the_token_cache(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    old_token = issuer_.mint()
    verified = guard.verify(old_token)
    assert verified.subject == "auth0|user-1"
    assert len(guard.token_cache) == 1
    new = issuer_.rotate(keep_old=False)
    clock.advance(OPTIONS.cooldown)
    verified = guard.verify(issuer_.mint(key=new))
    assert verified.subject == "auth0|user-1"
    assert server.count() == 2
    assert guard.token_cache.get(old_token) is None
    with pytest.raises(InvalidToken) as caught:
        guard.verify(old_token)
    assert caught.value.reason == "unknown_kid"


def test_an_added_key_keeps_the_token_cache(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    token = issuer_.mint()
    verified = guard.verify(token)
    assert verified.subject == "auth0|user-1"
    new = issuer_.rotate(keep_old=True)
    clock.advance(OPTIONS.cooldown)
    verified = guard.verify(issuer_.mint(key=new))
    assert verified.subject == "auth0|user-1"
    assert guard.token_cache.get(token) is not None


# -- outages: stale-if-error, then 503 ----------------------------------------------------


@pytest.mark.parametrize("failure", ["http_500", "connection_refused"])
def test_outage_serves_stale_keys_then_503(
    issuer_: TokenIssuer, clock: Any, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rs_guard")
    server = JWKSServer(issuer_.jwks).start()
    guard = Guard(make_config(issuer_, server, token_cache_size=0), clock=clock)
    try:
        verified = guard.verify(issuer_.mint())
        assert verified.subject == "auth0|user-1"
        if failure == "http_500":
            server.reply = constant(500, b"oops")
        else:
            server.stop()
        clock.advance(OPTIONS.ttl + 1)  # the set is stale now
        verified = guard.verify(issuer_.mint())
        assert verified.subject == "auth0|user-1"
        state = guard.key_sets[issuer_.issuer]
        assert state.requests_sent == 2
        assert state.last_error is not None
        messages = [r.getMessage() for r in caplog.records]
        assert any("serving stale keys" in m for m in messages)
        assert any("key fetch failed" in m for m in messages)
        clock.advance(OPTIONS.cooldown - 1)
        verified = guard.verify(issuer_.mint())
        assert verified.subject == "auth0|user-1"
        assert state.requests_sent == 2
        clock.advance(OPTIONS.stale_for)  # beyond stale_for
        with pytest.raises(KeysUnavailable) as caught:
            guard.verify(issuer_.mint())
        assert state.requests_sent == 3
        assert 1 <= caught.value.retry_after <= OPTIONS.cooldown
        status, headers, body = render_error(caught.value, guard.challenge)
        names = dict(headers)
        assert status == 503
        assert names["retry-after"] == str(caught.value.retry_after)
        assert "www-authenticate" not in names
        assert json.loads(body)["error"] == "temporarily_unavailable"
    finally:
        guard.close()
        if failure == "http_500":
            server.stop()


def test_recovery_after_an_outage(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    server.reply = constant(503, b"")
    with pytest.raises(KeysUnavailable):
        guard.verify(issuer_.mint())
    with pytest.raises(KeysUnavailable):  # within the cooldown: no second request
        guard.verify(issuer_.mint())
    assert server.count() == 1
    server.reply = None
    clock.advance(OPTIONS.cooldown)
    verified = guard.verify(issuer_.mint())
    assert verified.subject == "auth0|user-1"
    assert server.count() == 2


def test_cold_cache_with_issuer_down_is_a_quick_503(
    issuer_: TokenIssuer, clock: Any, bounded: Callable[..., Any]
) -> None:
    guard = Guard(issuer_.config(jwks_uri=closed_port_url(), jwks=OPTIONS), clock=clock)
    token = issuer_.mint()
    with pytest.raises(KeysUnavailable) as caught:
        bounded(lambda: guard.verify(token))
    # Refused at once, not after a wait: the connection was refused, no deadline passed.
    last_error = guard.key_sets[issuer_.issuer].last_error or ""
    assert "ConnectError" in last_error
    assert "longer than" not in last_error
    assert caught.value.status_code == 503
    assert caught.value.reason == "keys_unavailable"
    guard.close()


# -- garbage answers -----------------------------------------------------------------------

RSA_JWK = TokenIssuer(algorithm="RS256").current.public_jwk()
GARBAGE: dict[str, Callable[[str], Reply]] = {
    "html": constant(200, b"<html><body>Login</body></html>", {"Content-Type": "text/html"}),
    "invalid_json": constant(200, b'{"keys": [}'),
    "empty_set": constant(200, b'{"keys": []}'),
    "no_keys_member": constant(200, b'{"jwks": []}'),
    "keys_not_a_list": constant(200, b'{"keys": {"kid": "x"}}'),
    "a_json_list": constant(200, b"[]"),
    "keys_not_fitting_alg": constant(200, json.dumps({"keys": [RSA_JWK]}).encode()),
    "duplicate_members": constant(200, b'{"keys": [], "keys": []}'),
    "unhashable_curve": constant(200, b'{"keys": [{"kty": "EC", "crv": {"a": 1}, "x": 1}]}'),
    "keys_of_the_wrong_shape": constant(200, b'{"keys": [1, "k", null, [], {"kty": ["EC"]}]}'),
    "not_utf8": constant(200, b'{"keys": ["\xff"]}'),
    "empty_body": constant(200, b""),
    "declared_2_gb": constant(
        200, b'{"keys": []}', {"Content-Type": "application/json", "Content-Length": "2147483648"}
    ),
    "not_found": constant(404, b"not found"),
}


@pytest.mark.parametrize("answer", list(GARBAGE))
def test_garbage_on_a_cold_cache_is_503(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, answer: str
) -> None:
    server.reply = GARBAGE[answer]
    with pytest.raises(KeysUnavailable):
        guard.verify(issuer_.mint())
    assert guard.key_sets[issuer_.issuer].keys() == []


@pytest.mark.parametrize("answer", list(GARBAGE))
def test_garbage_keeps_the_last_good_keys(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any, answer: str
) -> None:
    verified = guard.verify(issuer_.mint())
    assert verified.subject == "auth0|user-1"
    server.reply = GARBAGE[answer]
    clock.advance(OPTIONS.ttl)
    verified = guard.verify(issuer_.mint())
    assert verified.kid == issuer_.current.kid
    state = guard.key_sets[issuer_.issuer]
    assert state.requests_sent == 2
    assert state.last_error is not None
    assert len(state.keys()) == 1


class StreamingServer:
    """Streams a body of ``total`` bytes (chunked, no Content-Length) or drips it slowly."""

    def __init__(self, *, total: int, chunk: int = 64 * 1024, pause: float = 0.0) -> None:
        self.sent = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                piece = b" " * chunk
                try:
                    while outer.sent < total:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                        outer.sent += len(piece)
                        if pause:
                            time.sleep(pause)
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/jwks.json"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def test_a_huge_streamed_body_is_refused_without_reading_it_all(
    issuer_: TokenIssuer, clock: Any, bounded: Callable[..., Any]
) -> None:
    big = StreamingServer(total=2 * 1024**3)
    options = JWKSOptions(cooldown=5, timeout=2.0, max_bytes=256 * 1024)
    guard = Guard(issuer_.config(jwks_uri=big.url, jwks=options), clock=clock)
    try:
        token = issuer_.mint()
        with pytest.raises(KeysUnavailable):
            bounded(lambda: guard.verify(token))
        state = guard.key_sets[issuer_.issuer]
        assert state.last_error is not None
        assert "larger than" in state.last_error
        time.sleep(0.05)
        # The server got stuck on a closed connection long before 2 GiB.
        assert big.sent < 64 * 1024 * 1024
    finally:
        guard.close()
        big.close()


def test_a_compressed_bomb_is_refused_and_identity_is_asked_for(
    issuer_: TokenIssuer, server: JWKSServer, clock: Any
) -> None:
    bomb = gzip.compress(b" " * (8 * 1024 * 1024))  # 8 MiB of spaces, about 8 KiB sent
    assert len(bomb) < 64 * 1024
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Accept-Encoding"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")  # whatever the client asked for
            self.send_header("Content-Length", str(len(bomb)))
            self.end_headers()
            self.wfile.write(bomb)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json"
    guard = Guard(issuer_.config(jwks_uri=url, jwks=OPTIONS), clock=clock)
    try:
        with pytest.raises(KeysUnavailable):
            guard.verify(issuer_.mint())
        assert seen == ["identity"]
        assert "larger than" in (guard.key_sets[issuer_.issuer].last_error or "")
    finally:
        guard.close()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_a_dripping_issuer_is_cut_off_at_the_timeout(
    issuer_: TokenIssuer, clock: Any, bounded: Callable[..., Any]
) -> None:
    # 1 MiB, 16 bytes every 50 ms: about 55 minutes without the deadline.
    drip = StreamingServer(total=1024 * 1024, chunk=16, pause=0.05)
    options = JWKSOptions(cooldown=5, timeout=0.5)
    guard = Guard(issuer_.config(jwks_uri=drip.url, jwks=options), clock=clock)
    try:
        token = issuer_.mint()
        with pytest.raises(KeysUnavailable):
            bounded(lambda: guard.verify(token))
        assert "took longer than 0.5 s" in (guard.key_sets[issuer_.issuer].last_error or "")
    finally:
        guard.close()
        drip.close()


def test_a_slow_issuer_fails_in_about_the_timeout(
    issuer_: TokenIssuer, server: JWKSServer, clock: Any, bounded: Callable[..., Any]
) -> None:
    # The key set arrives after 3 s: a refusal (not a verified token) shows the fetch was
    # cut at its 0.3 s deadline; the bounded wait only keeps a hang from hanging the suite.
    good = (200, {"Content-Type": "application/json"}, json.dumps(issuer_.jwks()).encode())
    server.reply = JWKSServer.slow(3.0, good)
    options = JWKSOptions(cooldown=5, timeout=0.3)
    guard = Guard(make_config(issuer_, server, jwks=options), clock=clock)
    token = issuer_.mint()
    with pytest.raises(KeysUnavailable):
        bounded(lambda: guard.verify(token))
    state = guard.key_sets[issuer_.issuer]
    assert "took longer than 0.3 s" in (state.last_error or "")
    assert state.requests_sent == 1
    assert server.count() == 1
    guard.close()


# -- flood and single flight -----------------------------------------------------------------


def test_a_random_kid_flood_costs_one_fetch_per_cooldown(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    assert guard.warm()
    assert server.count() == 1
    for window in range(1, 4):
        clock.advance(OPTIONS.cooldown)
        for _ in range(200):
            with pytest.raises(InvalidToken) as caught:
                guard.verify(issuer_.mint(headers={"kid": uuid.uuid4().hex}))
            assert caught.value.reason == "unknown_kid"
            clock.advance(0.01)
        assert server.count() == 1 + window
    # The flood never stopped the real key from working.
    verified = guard.verify(issuer_.mint())
    assert verified.subject == "auth0|user-1"
    assert server.count() == 4


def test_a_repeated_unknown_kid_costs_no_fetch_within_the_cooldown(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    token = issuer_.mint(headers={"kid": "ghost"})
    clock.advance(OPTIONS.cooldown)
    for _ in range(20):
        with pytest.raises(InvalidToken):
            guard.verify(token)
    assert server.count() == 1


def slow_good(issuer: TokenIssuer, seconds: float) -> Callable[[str], Reply]:
    body = json.dumps(issuer.jwks()).encode()
    return JWKSServer.slow(seconds, (200, {"Content-Type": "application/json"}, body))


def test_fifty_concurrent_cold_requests_fetch_once_in_threads(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard
) -> None:
    server.reply = slow_good(issuer_, 0.2)
    tokens = [issuer_.mint(subject=f"user-{i}") for i in range(50)]
    barrier = threading.Barrier(50)

    def call(token: str) -> str | None:
        barrier.wait()
        return guard.verify(token).subject

    with ThreadPoolExecutor(max_workers=50) as pool:
        subjects = list(pool.map(call, tokens))
    assert subjects == [f"user-{i}" for i in range(50)]
    assert server.count() == 1


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def gather(calls: list[Callable[[], Awaitable[T]]]) -> list[T | Exception]:
    """Run ``calls`` concurrently; each one's result or the exception it raised."""
    results: list[T | Exception] = [RuntimeError("not run")] * len(calls)

    async def run(index: int) -> None:
        try:
            results[index] = await calls[index]()
        except Exception as exc:
            results[index] = exc

    async with anyio.create_task_group() as group:
        for index in range(len(calls)):
            group.start_soon(run, index)
    return results


@pytest.mark.anyio
async def test_fifty_concurrent_cold_requests_fetch_once_in_async(
    issuer_: TokenIssuer, server: JWKSServer, clock: Any
) -> None:
    server.reply = slow_good(issuer_, 0.2)
    tokens = [issuer_.mint(subject=f"user-{i}") for i in range(50)]
    guard = AsyncGuard(make_config(issuer_, server), clock=clock)
    try:
        results = await gather([functools.partial(guard.verify, t) for t in tokens])
    finally:
        await guard.aclose()
    assert [r.subject for r in results if isinstance(r, AccessToken)] == [
        f"user-{i}" for i in range(50)
    ]
    assert server.count() == 1


def test_concurrent_requests_on_an_expired_set_refresh_once(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    assert guard.warm()
    clock.advance(OPTIONS.ttl + 1)
    server.reply = slow_good(issuer_, 0.1)
    tokens = [issuer_.mint(subject=f"user-{i}") for i in range(30)]
    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(guard.verify, tokens))
    assert len(results) == 30
    assert server.count() == 2


def test_concurrent_cold_requests_with_issuer_down_do_not_hang(
    issuer_: TokenIssuer, clock: Any, bounded: Callable[..., Any]
) -> None:
    guard = Guard(issuer_.config(jwks_uri=closed_port_url(), jwks=OPTIONS), clock=clock)

    def call(_: int) -> str:
        try:
            guard.verify(issuer_.mint())
        except KeysUnavailable as exc:
            return exc.reason
        return "verified"

    def all_at_once() -> list[str]:
        with ThreadPoolExecutor(max_workers=20) as pool:
            return list(pool.map(call, range(20)))

    outcomes = bounded(all_at_once)
    assert outcomes == ["keys_unavailable"] * 20
    assert guard.key_sets[issuer_.issuer].requests_sent == 1
    guard.close()


@pytest.mark.anyio
async def test_async_rotation_and_random_kid_flood(
    issuer_: TokenIssuer, server: JWKSServer, clock: Any
) -> None:
    guard = AsyncGuard(make_config(issuer_, server), clock=clock)
    try:
        assert (await guard.verify(issuer_.mint())).kid == issuer_.current.kid
        new = issuer_.rotate()
        clock.advance(OPTIONS.cooldown)
        assert (await guard.verify(issuer_.mint(key=new))).kid == new.kid
        assert server.count() == 2
        clock.advance(OPTIONS.cooldown)
        floods = [issuer_.mint(headers={"kid": uuid.uuid4().hex}) for _ in range(100)]
        results = await gather([functools.partial(guard.verify, t) for t in floods])
        assert {r.reason for r in results if isinstance(r, InvalidToken)} == {"unknown_kid"}
        assert len(results) == 100
        assert server.count() == 3
    finally:
        await guard.aclose()


@pytest.mark.anyio
async def test_async_outage_serves_stale_then_503(
    issuer_: TokenIssuer, server: JWKSServer, clock: Any
) -> None:
    guard = AsyncGuard(make_config(issuer_, server, token_cache_size=0), clock=clock)
    try:
        assert await guard.warm()
        server.reply = constant(500, b"")
        clock.advance(OPTIONS.ttl + 1)
        assert (await guard.verify(issuer_.mint())).kid == issuer_.current.kid
        assert server.count() == 2  # the failed refresh, made by that request
        clock.advance(OPTIONS.stale_for + OPTIONS.cooldown)
        with pytest.raises(KeysUnavailable):
            await guard.verify(issuer_.mint())
        assert server.count() == 3
    finally:
        await guard.aclose()


# -- Cache-Control ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "ttl"),
    [
        ("max-age=120", 120),
        ("public, max-age=300, must-revalidate", 300),
        ('max-age="200"', 200),
        ("max-age=1", OPTIONS.min_ttl),
        ("max-age=0", OPTIONS.min_ttl),
        ("max-age=999999999", OPTIONS.max_ttl),
        ("no-cache", OPTIONS.ttl),
        ("s-maxage=30", OPTIONS.ttl),
        ("max-age=abc", OPTIONS.ttl),
    ],
)
def test_cache_control_max_age_within_bounds(
    issuer_: TokenIssuer,
    server: JWKSServer,
    guard: Guard,
    clock: Any,
    cache_control: str,
    ttl: float,
) -> None:
    body = json.dumps(issuer_.jwks()).encode()
    server.reply = constant(
        200, body, {"Content-Type": "application/json", "Cache-Control": cache_control}
    )
    verified = guard.verify(issuer_.mint())
    assert verified.subject == "auth0|user-1"
    state = guard.key_sets[issuer_.issuer]
    kid = issuer_.current.kid
    clock.advance(ttl - 0.5)
    assert state.cached(kid)[1] is True
    verified = guard.verify(issuer_.mint())
    assert verified.subject == "auth0|user-1"
    assert server.count() == 1
    clock.advance(1)
    assert state.cached(kid)[1] is False
    verified = guard.verify(issuer_.mint())
    assert verified.subject == "auth0|user-1"
    assert server.count() == 2


# -- redirects ---------------------------------------------------------------------------


def test_a_same_host_redirect_is_followed(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard
) -> None:
    body = json.dumps(issuer_.jwks()).encode()

    def reply(path: str) -> Reply:
        if path == "/.well-known/jwks.json":
            return 302, {"Location": "/keys/v2.json"}, b""
        return 200, {"Content-Type": "application/json"}, body

    server.reply = reply
    verified = guard.verify(issuer_.mint())
    assert verified.subject == "auth0|user-1"
    assert server.count("/keys/v2.json") == 1


@pytest.mark.parametrize("target", ["other_host", "other_port", "https", "loop"])
def test_other_redirects_are_refused(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, target: str
) -> None:
    location = {
        "other_host": f"http://localhost:{server.port}/keys.json",
        "other_port": closed_port_url(),
        "https": f"https://127.0.0.1:{server.port}/keys.json",
        "loop": "/.well-known/jwks.json",
    }[target]
    server.reply = constant(307, b"", {"Location": location})
    with pytest.raises(KeysUnavailable) as caught:
        guard.verify(issuer_.mint())
    assert server.count("/keys.json") == 0
    assert server.count() == (4 if target == "loop" else 1)  # at most 3 same-host redirects
    error = guard.key_sets[issuer_.issuer].last_error or ""
    assert ("too many redirects" if target == "loop" else "another host") in error
    assert caught.value.status_code == 503


# -- discovery -------------------------------------------------------------------------------


@pytest.fixture
def discovery_issuer(clock: Any, shared_server: JWKSServer) -> tuple[TokenIssuer, JWKSServer]:
    issuer = TokenIssuer(algorithm="ES256", issuer=shared_server.base_url + "tenant/", clock=clock)
    return issuer, reset(shared_server, issuer.jwks)


def test_discovery_finds_the_jwks_uri(
    discovery_issuer: tuple[TokenIssuer, JWKSServer], clock: Any
) -> None:
    issuer, server = discovery_issuer
    metadata = {"issuer": issuer.issuer, "jwks_uri": server.base_url + "keys"}
    body = json.dumps(issuer.jwks()).encode()

    def reply(path: str) -> Reply:
        if path == "/tenant/.well-known/openid-configuration":
            return 200, {"Content-Type": "application/json"}, json.dumps(metadata).encode()
        if path == "/keys":
            return 200, {"Content-Type": "application/json"}, body
        return 404, {}, b""

    server.reply = reply
    guard = Guard(issuer.config(discovery=True, jwks=OPTIONS), clock=clock)
    verified = guard.verify(issuer.mint())
    assert verified.subject == "auth0|user-1"
    assert guard.key_sets[issuer.issuer].jwks_uri == server.base_url + "keys"
    assert server.count("/keys") == 1
    assert server.count("/tenant/.well-known/openid-configuration") == 1
    guard.close()


def test_discovery_falls_back_to_rfc8414(
    discovery_issuer: tuple[TokenIssuer, JWKSServer], clock: Any
) -> None:
    issuer, server = discovery_issuer
    metadata = {"issuer": issuer.issuer, "jwks_uri": server.jwks_uri}
    body = json.dumps(issuer.jwks()).encode()

    def reply(path: str) -> Reply:
        if path == "/.well-known/oauth-authorization-server/tenant":
            return 200, {"Content-Type": "application/json"}, json.dumps(metadata).encode()
        if path == "/.well-known/jwks.json":
            return 200, {"Content-Type": "application/json"}, body
        return 404, {}, b""

    server.reply = reply
    guard = Guard(issuer.config(discovery=True, jwks=OPTIONS), clock=clock)
    verified = guard.verify(issuer.mint())
    assert verified.subject == "auth0|user-1"
    assert server.count("/tenant/.well-known/openid-configuration") == 1
    assert server.count("/.well-known/oauth-authorization-server/tenant") == 1
    guard.close()


@pytest.mark.parametrize(
    "metadata",
    [
        {"issuer": "https://evil.example/", "jwks_uri": "JWKS"},
        {"issuer": "ISSUER-WITHOUT-SLASH", "jwks_uri": "JWKS"},
        {"jwks_uri": "JWKS"},
        {"issuer": "ISSUER"},
        {"issuer": "ISSUER", "jwks_uri": "http://keys.example.com/jwks.json"},
        {"issuer": "ISSUER", "jwks_uri": 5},
    ],
)
def test_discovery_metadata_must_name_this_issuer_and_a_safe_jwks_uri(
    discovery_issuer: tuple[TokenIssuer, JWKSServer], clock: Any, metadata: dict[str, Any]
) -> None:
    issuer, server = discovery_issuer
    text = json.dumps(metadata)
    text = text.replace("ISSUER-WITHOUT-SLASH", issuer.issuer.rstrip("/"))
    text = text.replace("ISSUER", issuer.issuer).replace("JWKS", server.jwks_uri)
    server.reply = lambda path: (
        (200, {"Content-Type": "application/json"}, text.encode())
        if path.endswith("openid-configuration")
        else (200, {"Content-Type": "application/json"}, json.dumps(issuer.jwks()).encode())
    )
    guard = Guard(issuer.config(discovery=True, jwks=OPTIONS), clock=clock)
    with pytest.raises(KeysUnavailable):
        guard.verify(issuer.mint())
    assert server.count("/.well-known/jwks.json") == 0
    guard.close()


# -- warming ---------------------------------------------------------------------------------


def test_warm_never_raises_when_the_issuer_is_unreachable(issuer_: TokenIssuer, clock: Any) -> None:
    guard = Guard(issuer_.config(jwks_uri=closed_port_url(), jwks=OPTIONS), clock=clock)
    assert guard.warm() is False
    guard.close()

    async def main() -> bool:
        async_guard = AsyncGuard(
            issuer_.config(jwks_uri=closed_port_url(), jwks=OPTIONS), clock=clock
        )
        try:
            return await async_guard.warm()
        finally:
            await async_guard.aclose()

    assert anyio.run(main) is False


def test_warm_fills_the_cache(issuer_: TokenIssuer, server: JWKSServer, guard: Guard) -> None:
    assert guard.warm() is True
    assert server.count() == 1
    verified = guard.verify(issuer_.mint())
    assert verified.subject == "auth0|user-1"
    assert server.count() == 1


def test_warm_with_a_slow_issuer_returns_within_the_timeout(
    issuer_: TokenIssuer, server: JWKSServer, clock: Any, bounded: Callable[..., Any]
) -> None:
    # The keys would arrive after 1.5 s: False (no keys) shows warm() stopped at 0.3 s.
    server.reply = slow_good(issuer_, 1.5)
    guard = Guard(make_config(issuer_, server, jwks=JWKSOptions(timeout=0.3)), clock=clock)
    assert bounded(guard.warm) is False
    assert "took longer than 0.3 s" in (guard.key_sets[issuer_.issuer].last_error or "")
    guard.close()


# -- the I/O-free state, driven by hand -------------------------------------------------------


def test_the_state_machine_needs_no_network(issuer_: TokenIssuer, clock: Any) -> None:
    changes: list[KeyChange] = []
    state = KeySetState(
        issuer=issuer_.issuer,
        jwks_uri=issuer_.jwks_uri,
        algorithm="ES256",
        options=OPTIONS,
        clock=clock,
        on_keys_changed=changes.append,
    )
    with pytest.raises(KeysUnavailable) as caught:
        state.resolve(issuer_.current.kid)
    assert caught.value.retry_after == OPTIONS.cooldown
    assert state.should_fetch(issuer_.current.kid)

    def feed(body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        flow = state.refresh_flow()
        url = next(flow)
        assert url == issuer_.jwks_uri
        with pytest.raises(StopIteration):
            flow.send(Fetched(url, 200, httpx.Headers(headers or {}), json.dumps(body).encode()))

    feed(issuer_.jwks())
    assert state.generation == 1
    assert state.resolve(issuer_.current.kid).kid == issuer_.current.kid
    assert not state.should_fetch(issuer_.current.kid)
    assert not state.should_fetch("other")  # within the cooldown
    old = issuer_.current.kid
    issuer_.rotate(keep_old=False)
    clock.advance(OPTIONS.cooldown)
    feed(issuer_.jwks())
    assert changes == [KeyChange(issuer_.issuer, frozenset({old, None}))]
    with pytest.raises(InvalidToken):
        state.resolve(old)
    assert not state.should_fetch(old)  # within the cooldown of the last fetch
    clock.advance(OPTIONS.cooldown)
    assert state.should_fetch(old)  # a full cooldown later, whatever was asked meanwhile
