"""The key set of one issuer: fetched, cached, refreshed, and kept through outages.

:class:`KeySetState` holds everything and does no I/O. Its :meth:`~KeySetState.refresh_flow`
is a generator that yields the URLs it wants and receives what came back, so the same
logic (discovery, same-host redirects, parsing, stale-if-error) runs under
:class:`JWKSClient` (threads, ``httpx.Client``) and :class:`AsyncJWKSClient` (asyncio or trio,
``httpx.AsyncClient``), in the manner of httpx's ``Auth.auth_flow``.

The rules:

* a fetched set is used for ``ttl`` seconds, or ``Cache-Control: max-age`` kept within
  ``min_ttl..max_ttl``;
* a lookup that misses (an unknown ``kid``) or finds a stale key may fetch when
  ``cooldown`` seconds have passed since the last fetch, so any number of kids cost at
  most one fetch per window and a kid asked for again and again is found at the latest
  one ``cooldown`` after the last fetch (nothing is remembered per kid);
* with no key to serve (nothing fetched yet, or the last good keys older than
  ``stale_for``), failed fetches are retried sooner: 1 s, 2 s, 4 s ... up to ``cooldown``;
  ``Retry-After`` of the 503 names the time until the next attempt;
* one fetch at a time (single flight) in threads and in async code;
* a failed refresh (including a well-formed set with no usable key) keeps the last good
  keys for ``stale_for`` seconds;
* a refresh that removes a key or replaces its material (RFC 7638 thumbprints compared)
  reports a :class:`~rs_guard.keys.KeyChange`, so the token cache drops what it verified;
* every GET spends one :class:`~rs_guard.fetch.ExchangeBudget` (a deadline on the whole
  exchange and a body limit); redirects are followed only on the same host; keys are
  filtered to fit the configured algorithm; nothing in a token (``jku``, ``x5u``,
  ``x5c``, ``jwk``) is ever used to find a key.

``docs/keys.md`` tells the same with the numbers.
"""

from __future__ import annotations

import enum
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import anyio
import httpx

from ._jose import JOSEError, json_object
from .config import JWKSOptions, check_url
from .deadline import DeadlineRunner
from .errors import ConfigError, InvalidToken, KeysUnavailable
from .fetch import ExchangeBudget, Fetched, afetch, fetch
from .keys import KeyChange, VerificationKey, key_from_jwk, same_material

__all__ = ["Action", "AsyncJWKSClient", "Fetched", "JWKSClient", "KeySetState"]

log = logging.getLogger("rs_guard.jwks")

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_MAX_REDIRECTS = 3
#: The first retry after a failed fetch with no key to serve; doubled up to ``cooldown``.
FIRST_RETRY = 1.0


class Action(enum.Enum):
    """What a lookup that did not find a fresh key should do (:meth:`KeySetState.action`)."""

    #: Answer from the cache (a stale key, or a refusal) without fetching.
    NONE = "none"
    #: Fetch now; if a fetch is under way, serve the stale key instead of waiting.
    FETCH = "fetch"
    #: Fetch now, or wait for the fetch under way: there is nothing to serve meanwhile.
    FETCH_OR_WAIT = "fetch_or_wait"


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
        on_keys_changed: Callable[[KeyChange], None] | None = None,
    ) -> None:
        self.issuer = issuer
        self.algorithm = algorithm
        self.discovery = discovery
        self.options = options or JWKSOptions()
        self.clock = clock
        self.on_keys_changed = on_keys_changed
        self._configured_uri = jwks_uri
        self._jwks_uri: str | None = None if discovery else jwks_uri
        self._keys: _KeySet | None = None
        self._last_attempt = float("-inf")
        self._last_error: str | None = None
        #: Failed attempts since the last good fetch (for the quick cold retries).
        self._failures = 0
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

    def holds_kid(self, kid: str) -> bool:
        """Whether the cached set has a key by this ``kid`` (names it may be logged by)."""
        snapshot = self._keys
        return snapshot is not None and kid in snapshot.by_kid

    def cached(self, kid: str | None) -> tuple[VerificationKey | None, bool]:
        """``(key, fresh)`` from the cache; ``(None, False)`` if the set has no such key."""
        snapshot = self._keys
        if snapshot is None:
            return None, False
        key = snapshot.find(kid)
        return key, key is not None and self.clock() < snapshot.fresh_until

    def action(self, kid: str | None, *, fetching: bool) -> Action:
        """What a lookup of ``kid`` should do now; ``fetching``: a fetch is under way."""
        now = self.clock()
        snapshot = self._keys
        key = snapshot.find(kid) if snapshot is not None else None
        due = now >= self.next_attempt_at()
        if snapshot is not None and key is not None:
            if now < snapshot.fresh_until:
                return Action.NONE
            if now < snapshot.fresh_until + self.options.stale_for:
                return Action.FETCH if due else Action.NONE  # the stale key serves meanwhile
        return Action.FETCH_OR_WAIT if due or fetching else Action.NONE

    def next_attempt_at(self) -> float:
        """When the next fetch may start: one ``cooldown`` after the last, or sooner
        (1 s, 2 s, 4 s ... after the last failure) while there is no key to serve."""
        gap = self.options.cooldown
        if self._failures and not self._servable(self.clock()):
            gap = min(gap, FIRST_RETRY * 2.0 ** (self._failures - 1))
        return self._last_attempt + gap

    def _servable(self, now: float) -> bool:
        snapshot = self._keys
        return snapshot is not None and now < snapshot.fresh_until + self.options.stale_for

    def should_fetch(self, kid: str | None) -> bool:
        """Whether a lookup of ``kid`` that found no fresh key may start a fetch now."""
        return self.action(kid, fetching=False) is not Action.NONE

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
            # Nothing is remembered about the kid: the next lookup after the cooldown
            # fetches again, however often it was asked for meanwhile.
            if kid is None:
                raise InvalidToken(
                    "the token names no key (kid) and the key set has several",
                    reason="missing_kid",
                )
            raise InvalidToken("the token was signed with an unknown key", reason="unknown_kid")
        raise self._unavailable("the issuer's keys could not be fetched")

    def _unavailable(self, why: str) -> KeysUnavailable:
        # Retry-After (RFC 9110 §10.2.3): whole seconds until the next attempt, rounded up
        # so that a client coming back then finds the attempt made.
        wait = self.next_attempt_at() - self.clock()
        retry = math.ceil(wait) if math.isfinite(wait) else math.ceil(self.options.cooldown)
        return KeysUnavailable(
            f"{why}; try again later", retry_after=max(1, retry), reason="keys_unavailable"
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
            self._failures += 1
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
        self._failures = 0
        log.info(
            "fetched %d key(s) for %s from %s in %.3f s",
            len(by_kid) + len(without_kid),
            self.issuer,
            answer.url,
            now - started,
        )
        if previous is not None and self.on_keys_changed is not None:
            changed = _changed_lookups(previous, self._keys)
            if changed:
                log.info("keys removed or replaced for %s: %d lookup(s)", self.issuer, len(changed))
                self.on_keys_changed(KeyChange(self.issuer, changed))

    def _ttl(self, headers: httpx.Headers) -> float:
        ttl = self.options.ttl
        match = _MAX_AGE.search(headers.get("cache-control", ""))
        if match:
            ttl = float(match.group(1))
        return min(max(ttl, self.options.min_ttl), self.options.max_ttl)


def _changed_lookups(previous: _KeySet, current: _KeySet) -> frozenset[str | None]:
    """The lookups (kids, ``None`` for a token without kid) that no longer find the
    material they found before: the key was removed, or other material took its place."""
    changed: set[str | None] = {
        kid
        for kid, key in previous.by_kid.items()
        if not same_material(key, current.by_kid.get(kid))
    }
    before = previous.find(None)
    if before is not None and not same_material(before, current.find(None)):
        changed.add(None)
    return frozenset(changed)


def metadata_urls(issuer: str) -> list[str]:
    """OIDC discovery, then RFC 8414 §3.1 (the well-known part inserted before the path)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    base = f"{parts.scheme}://{parts.netloc}"
    return [
        f"{base}{path}/.well-known/openid-configuration",
        f"{base}/.well-known/oauth-authorization-server{path}",
    ]


def _drive(flow: Generator[str, Fetched, None], get: Callable[[str], Fetched]) -> None:
    try:
        url = next(flow)
        while True:
            url = flow.send(get(url))
    except StopIteration:
        pass


class JWKSClient:
    """Fetches for one :class:`KeySetState` from threads, one fetch at a time."""

    def __init__(self, state: KeySetState, *, client: httpx.Client | None = None) -> None:
        self.state = state
        timeout = httpx.Timeout(state.options.timeout)
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._lock = threading.Lock()
        # Fetches are single flight: two threads leave room for one left behind in a
        # name lookup that outlived its deadline (rs_guard.fetch).
        self._runner = DeadlineRunner("rs_guard-jwks", 2)

    def get_key(self, kid: str | None) -> VerificationKey:
        # Read the generation before looking: a fetch that completes between the look
        # and the lock then counts as "the fetch this request wanted" (single flight).
        generation = self.state.generation
        key, fresh = self.state.cached(kid)
        if fresh and key is not None:
            return key
        action = self.state.action(kid, fetching=self._lock.locked())
        if action is not Action.NONE:
            self._refresh(wait=action is Action.FETCH_OR_WAIT, generation=generation)
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
            # Each GET of a refresh ends by its deadline; discovery and redirects make
            # at most this many of them.
            limit = self.state.options.timeout * (2 * _MAX_REDIRECTS + 4) + 1
            if self._lock.acquire(timeout=limit):
                self._lock.release()
            return
        try:
            if self.state.generation == generation:
                _drive(self.state.refresh_flow(), self._fetch)
        finally:
            self._lock.release()

    def _fetch(self, url: str) -> Fetched:
        options = self.state.options
        budget = ExchangeBudget(options.timeout, options.max_bytes)
        return fetch(self._client, url, budget, runner=self._runner)

    def close(self) -> None:
        self._client.close()


class AsyncJWKSClient:
    """Fetches for one :class:`KeySetState` from async code (asyncio or trio, through
    anyio), one fetch at a time."""

    def __init__(self, state: KeySetState, *, client: httpx.AsyncClient | None = None) -> None:
        self.state = state
        timeout = httpx.Timeout(state.options.timeout)
        self._client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        #: Set when the fetch under way ends; ``None`` when no fetch is under way.
        self._inflight: anyio.Event | None = None

    async def get_key(self, kid: str | None) -> VerificationKey:
        key, fresh = self.state.cached(kid)
        if fresh and key is not None:
            return key
        action = self.state.action(kid, fetching=self._inflight is not None)
        if action is not Action.NONE:
            await self._refresh(wait=action is Action.FETCH_OR_WAIT)
        return self.state.resolve(kid)

    async def refresh(self) -> None:
        await self._refresh(wait=True)

    async def _refresh(self, *, wait: bool) -> None:
        running = self._inflight
        if running is not None:
            if wait:
                await running.wait()
            return  # else the stale key serves meanwhile
        done = self._inflight = anyio.Event()
        try:
            # Shielded: a request cancelled (its client gone) must not abort the fetch
            # others wait for; every GET ends by its own deadline anyway.
            with anyio.CancelScope(shield=True):
                flow = self.state.refresh_flow()
                try:
                    url = next(flow)
                    while True:
                        url = flow.send(await self._fetch(url))
                except StopIteration:
                    pass
        finally:
            self._inflight = None
            done.set()

    async def _fetch(self, url: str) -> Fetched:
        options = self.state.options
        return await afetch(self._client, url, ExchangeBudget(options.timeout, options.max_bytes))

    async def aclose(self) -> None:
        await self._client.aclose()
