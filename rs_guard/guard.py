"""The guard: one request's credentials in, a verified token or an RFC 6750 error out.

:class:`Guard` (threads) and :class:`AsyncGuard` (asyncio) share :class:`_GuardCore`,
which does no I/O: extraction, the verified-token cache, the checks of
:class:`~rs_guard.verify.TokenPolicy` and the proof-of-possession binding. They differ
only where a key may have to be fetched and a proof id remembered::

    extract_credentials -> token cache? -> precheck -> key (cache or fetch) -> signature
                        -> binding (every request) -> AccessToken
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx

from . import observability
from .binding import Binding, ProofReplay, make_binding
from .binding.replay import ReplayStore, make_replay_store
from .config import GuardConfig
from .context import RequestContext
from .errors import Challenge, InvalidDPoPProof, RSGuardError
from .extract import Credentials, check_syntax, extract_credentials
from .jwe import JWEDecryptor
from .jwks import AsyncJWKSClient, JWKSClient, KeySetState
from .keys import VerificationKey, hmac_key
from .metadata import metadata_url
from .observability import Observer
from .token import AccessToken
from .token_cache import VerifiedTokenCache
from .verify import TokenPolicy, UnverifiedToken

__all__ = ["AsyncGuard", "Guard"]

log = logging.getLogger("rs_guard.guard")

Clock = Callable[[], float]


class _GuardCore:
    """Everything of a guard that does no I/O."""

    def __init__(
        self,
        config: GuardConfig,
        *,
        clock: Clock = time.time,
        binding: Binding | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.policy = TokenPolicy(config)
        self.token_cache = VerifiedTokenCache(
            maxsize=config.token_cache_size, leeway=config.leeway, clock=clock
        )
        pop = config.proof_of_possession
        dpop_only = (
            config.dpop_enabled
            and pop is not None
            and (pop.required or pop.required_for == "all_clients")
        )
        self.challenge = Challenge(
            realm=config.realm,
            bearer=not dpop_only,
            dpop=config.dpop_enabled,
            dpop_algs=config.dpop.algorithms if config.dpop_enabled else (),
            # RFC 9728 §5.1: the document URL, built from the identifier only
            resource_metadata=metadata_url(config.audience) if config.resource_metadata else None,
        )
        self.binding: Binding = binding or make_binding(config, clock)
        #: Callables given an :class:`~rs_guard.observability.Outcome` per request.
        self.observers: list[Observer] = []
        self._hmac: VerificationKey | None = None
        self._decryptor: JWEDecryptor | None = None
        if config.token_encryption is not None:
            self._decryptor = JWEDecryptor(
                config.token_encryption, max_token_bytes=config.max_token_bytes
            )
        self.key_sets: dict[str, KeySetState] = {}
        if config.algorithm == "HS256":
            assert config.signing_secret is not None  # validated by GuardConfig
            self._hmac = hmac_key(config.signing_secret)
        else:
            for issuer in config.issuers:
                self.key_sets[issuer] = KeySetState(
                    issuer=issuer,
                    jwks_uri=config.jwks_uri_for(issuer),
                    algorithm=config.algorithm,
                    discovery=config.discovery,
                    options=config.jwks,
                    clock=clock,
                    on_keys_changed=self.token_cache.forget,
                )

    def _credentials(self, ctx: RequestContext) -> Credentials:
        return extract_credentials(
            ctx,
            dpop=self.config.dpop_enabled,
            max_token_bytes=self.config.max_token_bytes,
            strict=False,
        )

    def _lookup(
        self, token: str, credentials: Credentials | None = None
    ) -> AccessToken | UnverifiedToken:
        """A cached token, a token verified with the HS256 secret, or one awaiting its key."""
        cached = self.token_cache.get(token)
        if cached is not None:
            return cached
        if credentials is not None:
            check_syntax(credentials)
        if self._decryptor is not None:
            # Nested JWE: decrypted on a cache miss only; the cache and AccessToken.raw
            # keep the presented (outer) token.
            inner = self._decryptor.decrypt(token)
            unverified = self.policy.precheck(inner, self.clock(), raw=token)
        else:
            unverified = self.policy.precheck(token, self.clock())
        if self._hmac is not None:
            return self._complete(unverified, self._hmac)
        return unverified

    def _complete(self, unverified: UnverifiedToken, key: VerificationKey) -> AccessToken:
        token = self.policy.finish(unverified, key)
        self.token_cache.put(token)
        return token

    def _bind(
        self, ctx: RequestContext, credentials: Credentials, token: AccessToken
    ) -> ProofReplay | None:
        return self.binding.check(ctx, credentials, token, self.clock())

    def _observe(
        self,
        ctx: RequestContext,
        started: float,
        credentials: Credentials | None,
        token: AccessToken | None = None,
        error: RSGuardError | None = None,
    ) -> None:
        """Log the outcome (never the token) and feed the observers."""
        if error is None and not observability.wants_accepted(self.observers):
            return  # the hot path: nobody listens for accepted requests
        observability.emit(
            observability.outcome_of(
                error=error,
                token=credentials.token if credentials is not None else None,
                method=ctx.method,
                url=ctx.url,
                duration=time.perf_counter() - started,
                verified_issuer=token.issuer if token is not None else None,
                verified_kid=token.kid if token is not None else None,
                known=self.is_own,
            ),
            self.observers,
        )

    def is_own(self, what: str, value: str) -> bool:
        """Whether ``value`` is this API's own ``"issuer"`` (configured) or ``"kid"`` (of a
        key the guard holds): only such values of a refused token are named in logs."""
        if what == "issuer":
            return value in self.policy.issuers
        return what == "kid" and any(s.holds_kid(value) for s in self.key_sets.values())

    def describe(self, exc: RSGuardError, credentials: Credentials | None) -> RSGuardError:
        """Attach what the challenge needs (the scheme the client used) to a refusal."""
        if credentials is not None and exc.scheme is None:
            exc.scheme = credentials.scheme
        return exc


class Guard(_GuardCore):
    """Verifies requests from threads (WSGI, Flask, scripts)."""

    def __init__(
        self,
        config: GuardConfig,
        *,
        clock: Clock = time.time,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        binding: Binding | None = None,
        replay_store: ReplayStore | None = None,
    ) -> None:
        super().__init__(config, clock=clock, binding=binding)
        if http_client is None:
            http_client = httpx.Client(
                timeout=httpx.Timeout(config.jwks.timeout),
                follow_redirects=False,
                transport=transport,
            )
        self._http = http_client
        self.jwks = {
            issuer: JWKSClient(state, client=http_client) for issuer, state in self.key_sets.items()
        }
        self.replay_store: ReplayStore = (
            replay_store
            if replay_store is not None
            else make_replay_store(config.replay_store, clock=clock)
        )

    def authenticate(self, ctx: RequestContext) -> AccessToken:
        """The verified token of a request, or an :class:`RSGuardError` that refuses it."""
        credentials: Credentials | None = None
        started = time.perf_counter()
        try:
            credentials = self._credentials(ctx)
            token = self._verified(credentials.token, credentials)
            replay = self._bind(ctx, credentials, token)
            if replay is not None:
                self._remember(replay)
        except RSGuardError as exc:
            self.describe(exc, credentials)
            self._observe(ctx, started, credentials, error=exc)
            raise
        self._observe(ctx, started, credentials, token)
        return token

    def verify(self, token: str) -> AccessToken:
        """Verify a token alone: signature and claims, no request and no binding check."""
        return self._verified(token)

    def _verified(self, token: str, credentials: Credentials | None = None) -> AccessToken:
        result = self._lookup(token, credentials)
        if isinstance(result, AccessToken):
            return result
        key = self.jwks[result.issuer].get_key(result.kid)
        return self._complete(result, key)

    def _remember(self, replay: ProofReplay) -> None:
        store = self.replay_store
        if store is None or not store.remember(replay.key, replay.expires_at):
            raise InvalidDPoPProof("the DPoP proof was already used", reason="dpop_replay")

    def warm(self) -> bool:
        """Fetch every issuer's keys now; never raises. True when all could be had."""
        ok = True
        for client in self.jwks.values():
            try:
                client.refresh()
            except Exception:  # warming must never stop an app from starting
                log.exception("warming the key cache failed")
            ok = ok and bool(client.state.keys())
        return ok

    def close(self) -> None:
        self._http.close()
        self.replay_store.close()


class AsyncGuard(_GuardCore):
    """Verifies requests from asyncio (ASGI, Starlette, FastAPI)."""

    def __init__(
        self,
        config: GuardConfig,
        *,
        clock: Clock = time.time,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        binding: Binding | None = None,
        replay_store: ReplayStore | None = None,
    ) -> None:
        super().__init__(config, clock=clock, binding=binding)
        if http_client is None:
            http_client = httpx.AsyncClient(
                timeout=httpx.Timeout(config.jwks.timeout),
                follow_redirects=False,
                transport=transport,
            )
        self._http = http_client
        self.jwks = {
            issuer: AsyncJWKSClient(state, client=http_client)
            for issuer, state in self.key_sets.items()
        }
        self.replay_store: ReplayStore = (
            replay_store
            if replay_store is not None
            else make_replay_store(config.replay_store, clock=clock)
        )

    async def authenticate(self, ctx: RequestContext) -> AccessToken:
        """The verified token of a request, or an :class:`RSGuardError` that refuses it."""
        credentials: Credentials | None = None
        started = time.perf_counter()
        try:
            credentials = self._credentials(ctx)
            token = await self._verified(credentials.token, credentials)
            replay = self._bind(ctx, credentials, token)
            if replay is not None:
                await self._remember(replay)
        except RSGuardError as exc:
            self.describe(exc, credentials)
            self._observe(ctx, started, credentials, error=exc)
            raise
        self._observe(ctx, started, credentials, token)
        return token

    async def verify(self, token: str) -> AccessToken:
        """Verify a token alone: signature and claims, no request and no binding check."""
        return await self._verified(token)

    async def _verified(self, token: str, credentials: Credentials | None = None) -> AccessToken:
        result = self._lookup(token, credentials)
        if isinstance(result, AccessToken):
            return result
        key = await self.jwks[result.issuer].get_key(result.kid)
        return self._complete(result, key)

    async def _remember(self, replay: ProofReplay) -> None:
        store = self.replay_store
        if store is None or not await store.aremember(replay.key, replay.expires_at):
            raise InvalidDPoPProof("the DPoP proof was already used", reason="dpop_replay")

    async def warm(self) -> bool:
        """Fetch every issuer's keys now; never raises. True when all could be had."""
        ok = True
        for client in self.jwks.values():
            try:
                await client.refresh()
            except Exception:  # warming must never stop an app from starting
                log.exception("warming the key cache failed")
            ok = ok and bool(client.state.keys())
        return ok

    async def aclose(self) -> None:
        await self._http.aclose()
        await self.replay_store.aclose()
