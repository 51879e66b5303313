"""The key set of one issuer: fetched, cached, refreshed, and kept through outages.

:class:`KeySetState` holds everything and does no I/O. Its :meth:`~KeySetState.refresh_flow`
is a generator that yields the URLs it wants and receives what came back, so the same
logic (discovery, same-host redirects, parsing, stale-if-error) runs under
:class:`JWKSClient` (threads, ``httpx.Client``) and :class:`AsyncJWKSClient` (asyncio,
``httpx.AsyncClient``), in the manner of httpx's ``Auth.auth_flow``.

The rules:

* a fetched set is used for ``ttl`` seconds, or ``Cache-Control: max-age`` kept within
  ``min_ttl..max_ttl``;
* an unknown ``kid`` triggers at most one refetch per ``cooldown``; a kid just looked
  for in vain is answered from a negative cache;
* one fetch at a time (single flight) in threads and in asyncio;
* a failed refresh keeps the last good keys for ``stale_for`` seconds, and is retried
  only after ``cooldown``;
* every fetch has a timeout and a body limit; redirects are followed only on the same
  host; keys are filtered to fit the configured algorithm; nothing in a token (``jku``,
  ``x5u``, ``x5c``, ``jwk``) is ever used to find a key.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx
from cachetools import TTLCache

from ._jose import JOSEError, json_object
from .config import JWKSOptions, check_url
from .errors import ConfigError, InvalidToken, KeysUnavailable
from .keys import VerificationKey, key_from_jwk

__all__ = ["AsyncJWKSClient", "Fetched", "JWKSClient", "KeySetState"]

log = logging.getLogger("rs_guard.jwks")

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_MAX_REDIRECTS = 3
_MAX_KIDS_REMEMBERED = 1024
#: ``identity``: a compressed answer could expand far beyond ``max_bytes`` within one
#: chunk before the size check sees it (a "zip bomb"); key sets are small anyway.
_REQUEST_HEADERS = {"accept": "application/json", "accept-encoding": "identity"}


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one GET returned, or why it failed (``error`` set, nothing else)."""

    url: str
    status: int = 0
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _KeySet:
    by_kid: dict[str, VerificationKey]
    without_kid: tuple[VerificationKey, ...]
    fetched_at: float
    fresh_until: float

    def find(self, kid: str | None) -> VerificationKey | None:
        if kid is not None:
            return self.by_kid.get(kid)
        everything = [*self.by_kid.values(), *self.without_kid]
        # A token without kid is matched only when the set leaves no choice.
        return everything[0] if len(everything) == 1 else None


class _FetchFailed(Exception):
    pass


class KeySetState:
    """The cache state of one issuer's keys. No I/O happens here."""

    def __init__(
        self,
        *,
        issuer: str,
        jwks_uri: str,
        algorithm: str,
        discovery: bool = False,
        options: JWKSOptions | None = None,
        clock: Callable[[], float] = time.time,
        on_keys_removed: Callable[[], None] | None = None,
    ) -> None:
        self.issuer = issuer
        self.algorithm = algorithm
        self.discovery = discovery
        self.options = options or JWKSOptions()
        self.clock = clock
        self.on_keys_removed = on_keys_removed
        self._configured_uri = jwks_uri
        self._jwks_uri: str | None = None if discovery else jwks_uri
        self._keys: _KeySet | None = None
        self._last_attempt = float("-inf")
        self._last_error: str | None = None
        self._missing: TTLCache[str, bool] = TTLCache(
            maxsize=_MAX_KIDS_REMEMBERED, ttl=max(self.options.cooldown, 0.001), timer=clock
        )
        self._missing_lock = threading.Lock()
        #: Number of completed fetch attempts, successful or not (for single flight).
        self.generation = 0
        self._stale_logged = -1
        #: Number of HTTP requests sent (for tests and metrics).
        self.requests_sent = 0

    # -- reading ------------------------------------------------------------------

    @property
    def jwks_uri(self) -> str | None:
        """The key URL in use (after discovery, when on)."""
        return self._jwks_uri

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def kept_for(self) -> float | None:
        """Seconds the current keys are used before a refresh (``Cache-Control`` within
        ``min_ttl..max_ttl``); ``None`` before the first successful fetch."""
        snapshot = self._keys
        return None if snapshot is None else snapshot.fresh_until - snapshot.fetched_at

    def keys(self) -> list[VerificationKey]:
        snapshot = self._keys
        if snapshot is None:
            return []
        return [*snapshot.by_kid.values(), *snapshot.without_kid]

    def cached(self, kid: str | None) -> tuple[VerificationKey | None, bool]:
        """``(key, fresh)`` from the cache; ``(None, False)`` if the set has no such key."""
        snapshot = self._keys
        if snapshot is None:
            return None, False
        key = snapshot.find(kid)
        return key, key is not None and self.clock() < snapshot.fresh_until

    def should_fetch(self, kid: str | None) -> bool:
        """Whether a lookup of ``kid`` that missed (or found a stale key) may fetch now."""
        now = self.clock()
        snapshot = self._keys
        if snapshot is not None and snapshot.find(kid) is not None:
            return now >= snapshot.fresh_until and now - self._last_attempt >= self._retry_gap()
        if kid is not None:
            with self._missing_lock:  # cachetools caches are not thread-safe
                if kid in self._missing:
                    return False
        return now - self._last_attempt >= self._retry_gap()

    def _retry_gap(self) -> float:
        return self.options.cooldown

    def resolve(self, kid: str | None) -> VerificationKey:
        """The key for ``kid`` after any fetch, or the error that refuses the token."""
        now = self.clock()
        snapshot = self._keys
        if snapshot is not None:
            key = snapshot.find(kid)
            if key is not None:
                if now < snapshot.fresh_until + self.options.stale_for:
                    if now >= snapshot.fresh_until and self._stale_logged != self.generation:
                        # Once per failed attempt, not once per request.
                        self._stale_logged = self.generation
                        log.warning(
                            "serving stale keys for %s (fetched %.0f s ago): %s",
                            self.issuer,
                            now - snapshot.fetched_at,
                            self._last_error,
                        )
                    return key
                raise self._unavailable("the cached keys are too old and cannot be refreshed")
            if kid is not None:
                with self._missing_lock:
                    self._missing[kid] = True
            if kid is None:
                raise InvalidToken(
                    "the token names no key (kid) and the key set has several",
                    reason="missing_kid",
                )
            raise InvalidToken("the token was signed with an unknown key", reason="unknown_kid")
        raise self._unavailable("the issuer's keys could not be fetched")

    def _unavailable(self, why: str) -> KeysUnavailable:
        retry = self._last_attempt + self.options.cooldown - self.clock()
        if not math.isfinite(retry):  # no attempt yet (a lock wait that timed out)
            retry = self.options.cooldown
        return KeysUnavailable(
            f"{why}; try again later", retry_after=max(1, round(retry)), reason="keys_unavailable"
        )

    # -- refreshing -----------------------------------------------------------------

    def refresh_flow(self) -> Generator[str, Fetched, None]:
        """Yield URLs to GET, receive :class:`Fetched`; update the state when done."""
        started = self.clock()
        self._last_attempt = started
        try:
            if self._jwks_uri is None:
                self._jwks_uri = yield from self._discover()
            answer = yield from self._get(self._jwks_uri)
            self._install(answer, started)
        except _FetchFailed as exc:
            self._last_error = str(exc)
            stale = self._keys is not None
            log.warning(
                "key fetch failed for %s after %.3f s: %s%s",
                self.issuer,
                self.clock() - started,
                exc,
                "; serving the last good keys" if stale else "",
            )
        finally:
            self.generation += 1

    def _get(self, url: str) -> Generator[str, Fetched, Fetched]:
        origin = urlsplit(url)
        for _ in range(_MAX_REDIRECTS + 1):
            self.requests_sent += 1
            answer = yield url
            if answer.error is not None:
                raise _FetchFailed(f"GET {url}: {answer.error}")
            if answer.status in (301, 302, 303, 307, 308):
                location = answer.headers.get("location")
                if not location:
                    raise _FetchFailed(f"GET {url}: redirect without Location")
                target = urljoin(url, location)
                parts = urlsplit(target)
                if (parts.scheme, parts.hostname, parts.port) != (
                    origin.scheme,
                    origin.hostname,
                    origin.port,
                ):
                    raise _FetchFailed(f"GET {url}: redirect to another host refused")
                url = target
                continue
            if answer.status != 200:
                raise _FetchFailed(f"GET {url}: HTTP {answer.status}")
            return answer
        raise _FetchFailed(f"GET {url}: too many redirects")

    def _discover(self) -> Generator[str, Fetched, str]:
        errors = []
        for url in metadata_urls(self.issuer):
            try:
                answer = yield from self._get(url)
                metadata = json_object(answer.body, "metadata document")
            except (_FetchFailed, JOSEError) as exc:
                errors.append(str(exc))
                continue
            if metadata.get("issuer") != self.issuer:
                raise _FetchFailed(
                    f"metadata at {url} names issuer {metadata.get('issuer')!r}, "
                    f"not {self.issuer!r}"
                )
            uri = metadata.get("jwks_uri")
            if not isinstance(uri, str):
                raise _FetchFailed(f"metadata at {url} has no jwks_uri")
            try:
                return check_url("jwks_uri", uri)
            except ConfigError as exc:
                raise _FetchFailed(str(exc)) from exc
        raise _FetchFailed("discovery failed: " + "; ".join(errors))

    def _install(self, answer: Fetched, started: float) -> None:
        try:
            document = json_object(answer.body, "key set")
        except JOSEError as exc:
            raise _FetchFailed(f"{answer.url}: {exc}") from exc
        jwks = document.get("keys")
        if not isinstance(jwks, list):
            raise _FetchFailed(f"{answer.url}: no 'keys' array")
        by_kid: dict[str, VerificationKey] = {}
        without_kid: list[VerificationKey] = []
        for jwk in jwks:
            if not isinstance(jwk, dict):
                continue
            try:
                key = key_from_jwk(jwk, self.algorithm)
            except Exception as exc:  # whatever an issuer publishes, never a 500 here
                log.warning("skipping a JWK that cannot be read: %s: %s", type(exc).__name__, exc)
                continue
            if key is None:
                continue
            if key.kid is None:
                without_kid.append(key)
            elif key.kid not in by_kid:
                by_kid[key.kid] = key
        if not by_kid and not without_kid:
            raise _FetchFailed(f"{answer.url}: no key fits {self.algorithm}")
        now = self.clock()
        previous = self._keys
        self._keys = _KeySet(by_kid, tuple(without_kid), now, now + self._ttl(answer.headers))
        self._last_error = None
        with self._missing_lock:
            self._missing.clear()
        log.info(
            "fetched %d key(s) for %s from %s in %.3f s",
            len(by_kid) + len(without_kid),
            self.issuer,
            answer.url,
            now - started,
        )
        if previous is not None and self.on_keys_removed is not None:
            removed = set(previous.by_kid) - set(by_kid)
            if removed or (previous.without_kid and not without_kid):
                self.on_keys_removed()

    def _ttl(self, headers: httpx.Headers) -> float:
        ttl = self.options.ttl
        match = _MAX_AGE.search(headers.get("cache-control", ""))
        if match:
            ttl = float(match.group(1))
        return min(max(ttl, self.options.min_ttl), self.options.max_ttl)


def metadata_urls(issuer: str) -> list[str]:
    """OIDC discovery, then RFC 8414 §3.1 (the well-known part inserted before the path)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    base = f"{parts.scheme}://{parts.netloc}"
    return [
        f"{base}{path}/.well-known/openid-configuration",
        f"{base}/.well-known/oauth-authorization-server{path}",
    ]


def _too_large(limit: int) -> str:
    return f"body larger than {limit} bytes"


def _too_slow(timeout: httpx.Timeout) -> str:
    return f"the answer took longer than {timeout.read} s"


class JWKSClient:
    """Fetches for one :class:`KeySetState` from threads, one fetch at a time."""

    def __init__(self, state: KeySetState, *, client: httpx.Client | None = None) -> None:
        self.state = state
        timeout = httpx.Timeout(state.options.timeout)
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._timeout = timeout
        self._lock = threading.Lock()

    def get_key(self, kid: str | None) -> VerificationKey:
        # Read the generation before looking: a fetch that completes between the look
        # and the lock then counts as "the fetch this request wanted" (single flight).
        generation = self.state.generation
        key, fresh = self.state.cached(kid)
        if fresh and key is not None:
            return key
        # A thread that arrives while another fetches sees the fetch's cooldown; with no
        # key to serve it waits for that fetch instead of refusing (single flight).
        if self.state.should_fetch(kid) or (key is None and self._lock.locked()):
            self._refresh(wait=key is None, generation=generation)
        return self.state.resolve(kid)

    def refresh(self) -> None:
        """Fetch now (waiting for a fetch already under way instead of starting another)."""
        self._refresh(wait=True)

    def _refresh(self, *, wait: bool, generation: int | None = None) -> None:
        if generation is None:
            generation = self.state.generation
        if not self._lock.acquire(blocking=False):
            if not wait:
                return  # another thread refreshes; the stale key serves meanwhile
            limit = self.state.options.timeout * (2 * _MAX_REDIRECTS + 4) + 1
            if not self._lock.acquire(timeout=limit):
                return
            self._lock.release()
            return
        try:
            if self.state.generation != generation:
                return
            self._drive()
        finally:
            self._lock.release()

    def _drive(self) -> None:
        flow = self.state.refresh_flow()
        try:
            url = next(flow)
            while True:
                url = flow.send(self._fetch(url))
        except StopIteration:
            pass

    def _fetch(self, url: str) -> Fetched:
        limit = self.state.options.max_bytes
        # httpx timeouts bound each network operation; this bounds the whole answer,
        # so a server that drips bytes cannot hold a fetch open.
        deadline = time.monotonic() + self.state.options.timeout
        try:
            with self._client.stream(
                "GET", url, headers=_REQUEST_HEADERS, timeout=self._timeout
            ) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    return Fetched(url, error=_too_large(limit))
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        return Fetched(url, error=_too_large(limit))
                    if time.monotonic() > deadline:
                        return Fetched(url, error=_too_slow(self._timeout))
                return Fetched(url, response.status_code, response.headers, bytes(body))
        except Exception as exc:  # httpx.InvalidURL, StreamError, ...: a failed fetch, never a 500
            return Fetched(url, error=f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        self._client.close()


class AsyncJWKSClient:
    """Fetches for one :class:`KeySetState` from asyncio, one fetch at a time."""

    def __init__(self, state: KeySetState, *, client: httpx.AsyncClient | None = None) -> None:
        self.state = state
        timeout = httpx.Timeout(state.options.timeout)
        self._client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._timeout = timeout
        self._inflight: asyncio.Future[None] | None = None

    async def get_key(self, kid: str | None) -> VerificationKey:
        key, fresh = self.state.cached(kid)
        if fresh and key is not None:
            return key
        inflight = self._inflight
        fetching = inflight is not None and not inflight.done()
        if self.state.should_fetch(kid) or (key is None and fetching):
            await self._refresh(wait=key is None)
        return self.state.resolve(kid)

    async def refresh(self) -> None:
        await self._refresh(wait=True)

    async def _refresh(self, *, wait: bool) -> None:
        inflight = self._inflight
        loop = asyncio.get_running_loop()
        if inflight is None or inflight.done() or inflight.get_loop() is not loop:
            inflight = loop.create_task(self._drive())
            self._inflight = inflight
        if wait:
            await asyncio.shield(inflight)

    async def _drive(self) -> None:
        flow = self.state.refresh_flow()
        try:
            url = next(flow)
            while True:
                url = flow.send(await self._fetch(url))
        except StopIteration:
            pass

    async def _fetch(self, url: str) -> Fetched:
        # A hard cap on the whole exchange, headers included: a server that dribbles its
        # status line or headers cannot hold a fetch open past the timeout.
        try:
            return await asyncio.wait_for(self._fetch_once(url), self.state.options.timeout)
        except asyncio.TimeoutError:
            return Fetched(url, error=_too_slow(self._timeout))

    async def _fetch_once(self, url: str) -> Fetched:
        limit = self.state.options.max_bytes
        deadline = time.monotonic() + self.state.options.timeout
        try:
            async with self._client.stream(
                "GET", url, headers=_REQUEST_HEADERS, timeout=self._timeout
            ) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    return Fetched(url, error=_too_large(limit))
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        return Fetched(url, error=_too_large(limit))
                    if time.monotonic() > deadline:
                        return Fetched(url, error=_too_slow(self._timeout))
                return Fetched(url, response.status_code, response.headers, bytes(body))
        except Exception as exc:  # httpx.InvalidURL, StreamError, ...: a failed fetch, never a 500
            return Fetched(url, error=f"{type(exc).__name__}: {exc}")

    async def aclose(self) -> None:
        await self._client.aclose()
