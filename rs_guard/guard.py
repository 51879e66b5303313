"""The guard: one request's credentials in, a verified token or an RFC 6750 error out.

:meth:`GuardCore.authentication_flow` is the whole of it, with no I/O: a generator that
yields what it needs from the outside and at last the :class:`AccessToken` (or raises
the refusal), in the manner of :meth:`~rs_guard.jwks.KeySetState.refresh_flow`::

    extract_credentials -> token cache? -> precheck -> yield KeyWanted (cache or fetch)
                        -> signature -> binding (every request) -> yield ProofReplay
                        -> yield AccessToken

It yields :class:`KeyWanted` ("the key of this issuer with this kid", answered with a
:class:`~rs_guard.keys.VerificationKey`) and :class:`~rs_guard.binding.ProofReplay`
("remember this proof id", answered ``True`` when it was new). :class:`Guard` (threads)
and :class:`AsyncGuard` (asyncio or trio) only drive it: they fetch keys and talk to
the replay store, and throw what those raise back into the flow. The token is the
flow's last yield, not its return value, and a driver then lets the flow end: the usual
request (a cached token, no proof id) costs two generator steps and no exception.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Generator, Sequence
from typing import Generic, NamedTuple, TypeVar, Union

import httpx

from ._jose import compact_bytes
from .binding import Binding, ProofReplay, UnboundOnly, make_binding
from .binding._policy import refuse_as_bearer
from .binding.replay import ReplayStore, make_replay_store
from .config import GuardConfig
from .context import RequestContext
from .errors import Challenge, InvalidDPoPProof, RSGuardError
from .extract import Credentials, check_syntax, extract_credentials
from .jwe import JWEDecryptor
from .jwks import AsyncJWKSClient, JWKSClient, KeySetState
from .keys import VerificationKey, hmac_key
from .metadata import metadata_url
from .observability import Observer, emit, outcome_of, wants_accepted
from .reasons import Reason
from .token import AccessToken
from .token_cache import VerifiedTokenCache
from .verify import TokenPolicy

__all__ = ["AsyncGuard", "Flow", "Guard", "GuardCore", "KeyWanted"]

log = logging.getLogger("rs_guard.guard")

#: ``len("Bearer ")``: the one spelling of a header value that is remembered.
_BEARER_LEN = 7

#: At most this many Authorization header values are kept for :meth:`GuardCore.known_token`.
_KNOWN_MAX = 1024

Clock = Callable[[], float]

#: Builds a NamedTuple from one tuple of its fields, without the class call's overhead.
_new = tuple.__new__


class KeyWanted(NamedTuple):
    """What the flow yields when it needs a verification key: answer with the key."""

    issuer: str
    kid: str | None


#: What a driver sends back into a flow: the key, "was the proof id new", or the
#: refusal that getting either raised (thrown into the flow at its ``yield``).
Answer = Union["VerificationKey", bool, RSGuardError]
#: The authentication flow: yields what it needs, and last the verified token.
Flow = Generator[Union["KeyWanted", ProofReplay, AccessToken], Answer, None]
#: The verification of a token alone: yields the key it needs, returns the token.
KeyFlow = Generator["KeyWanted", Answer, AccessToken]


ClientT = TypeVar("ClientT", bound="httpx.Client | httpx.AsyncClient")
TransportT = TypeVar("TransportT", bound="httpx.BaseTransport | httpx.AsyncBaseTransport")
KeysT = TypeVar("KeysT", bound="JWKSClient | AsyncJWKSClient")


class GuardCore(Generic[ClientT, TransportT, KeysT]):
    """A guard's construction and everything of it that does no I/O: the settings, the
    caches, the flow. A driver says which HTTP client and key fetcher it uses."""

    def __init__(
        self,
        config: GuardConfig,
        *,
        clock: Clock = time.time,
        http_client: ClientT | None = None,
        transport: TransportT | None = None,
        binding: Binding | None = None,
        replay_store: ReplayStore | None = None,
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
        self.replay_store: ReplayStore = (
            replay_store
            if replay_store is not None
            else make_replay_store(config.replay_store, clock=clock)
        )
        self._dpop = config.dpop_enabled
        #: Authorization header values the flow accepted from the token cache, with the
        #: token (see :meth:`known_token`); only with no proof of possession and a cache.
        self._known: dict[str, AccessToken] = {}
        self._known_max = (
            min(config.token_cache_size, _KNOWN_MAX)
            if type(self.binding) is UnboundOnly and config.token_cache_size > 0
            else 0
        )
        self._max_token_bytes = config.max_token_bytes
        self._timeout = httpx.Timeout(config.jwks.timeout)
        self._http: ClientT = http_client if http_client is not None else self._client(transport)
        self.jwks: dict[str, KeysT] = {
            issuer: self._keys(state) for issuer, state in self.key_sets.items()
        }

    def _client(self, transport: TransportT | None) -> ClientT:
        """The HTTP client a guard makes for itself (one per guard, no redirects)."""
        raise NotImplementedError

    def _keys(self, state: KeySetState) -> KeysT:
        """The key fetcher of one issuer, on :attr:`_http`."""
        raise NotImplementedError

    # -- the flow ------------------------------------------------------------------------

    def authentication_flow(self, ctx: RequestContext) -> Flow:
        """Authenticate one request: yields :class:`KeyWanted` and ``ProofReplay`` and
        last the verified token, or raises the complete refusal (logged and observed)."""
        credentials: Credentials | None = None
        started = time.perf_counter()
        try:
            credentials = extract_credentials(
                ctx, dpop=self._dpop, max_token_bytes=self._max_token_bytes, strict=False
            )
            token = self.token_cache.get(credentials.token)
            if token is None:
                token = yield from self.verification_flow(credentials.token, credentials)
                known = False
            else:
                known = self._known_max > 0
            replay = self.binding.check(ctx, credentials, token, self.clock())
            if replay is not None and not (yield replay):
                raise InvalidDPoPProof(
                    "the DPoP proof was already used", reason=Reason.DPOP_REPLAY, scheme="DPoP"
                )
        except RSGuardError as exc:
            error = exc
            if credentials is not None and exc.scheme is None:
                # The challenge names the scheme the client used (RFC 6750 §3, RFC 9449 §7.1).
                error = exc.answered_to(credentials.scheme)
            self._observe(ctx, started, credentials, None, error)
            if error is exc:
                raise
            raise error.with_traceback(exc.__traceback__) from exc.__cause__
        if self.observers or wants_accepted():
            self._observe(ctx, started, credentials, token, None)
        elif known:
            self._remember(credentials.header, token)
        yield token

    # -- the known-token path ------------------------------------------------------------

    def known_token(
        self, authorization: Sequence[str], query_string: str | bytes
    ) -> AccessToken | None:
        """The token the flow would yield for this request, when that is certain without
        running it; else ``None`` (then the caller runs :meth:`authentication_flow`).

        ``authorization``: every ``Authorization`` header value of the request;
        ``query_string``: its query. Certain only when all of these hold, each of which the
        flow itself would otherwise decide:

        * exactly one header, no query: :func:`~rs_guard.extract.extract_credentials`
          then reads nothing but the header value;
        * the value is one the flow accepted earlier from the token cache (so it passed
          every extraction rule, and no proof of possession is configured, whose proof
          must be checked on every request), spelt ``Bearer <token>``: one value per
          cached token, so that the map is as small as the token cache;
        * the token cache still holds that very token: its own check of ``exp``/``nbf``
          with leeway on every hit, and its removal of tokens whose key changed;
        * nobody listens for accepted requests (no observer, no DEBUG logging).
        """
        if not self._known_max or len(authorization) != 1 or query_string:
            return None  # the map is off (no token cache, or proof of possession)
        value = authorization[0]
        token = self._known.get(value)
        if token is None:
            return None
        if self.token_cache.get(token.raw) is not token:
            self._known.pop(value, None)
            return None
        if self.observers or wants_accepted():
            return None
        return token

    def _remember(self, header: str, token: AccessToken) -> None:
        known = self._known
        if (
            header in known
            or len(header) != len(token.raw) + _BEARER_LEN
            or not header.startswith("Bearer ")
        ):
            # Only "Bearer <token>" is remembered (RFC 6750 §2.1's spelling), one value
            # per cached token: one token's other spellings (scheme case, spaces) cannot
            # push other clients' values out, and the map's bytes stay bounded by the
            # token cache's own. Other spellings take the flow.
            return
        if len(known) >= self._known_max:
            # StopIteration, RuntimeError: another thread changed it meanwhile
            with contextlib.suppress(StopIteration, RuntimeError):
                known.pop(next(iter(known)), None)
        known[header] = token

    def verification_flow(self, token: str, credentials: Credentials | None = None) -> KeyFlow:
        """Verify a token alone (signature and claims): yields at most one :class:`KeyWanted`."""
        cached = self.token_cache.get(token) if credentials is None else None
        if cached is not None:
            return cached
        std = None
        if credentials is not None:
            # One table pass serves the b64token test and the JWS parse: a token it does
            # not refuse is a b64token (see compact_bytes). Only a header's token is
            # known here to be text within max_token_bytes.
            std = compact_bytes(token)
            check_syntax(credentials, b64token=std is not None)
        if self._decryptor is not None:
            # Nested JWE: decrypted on a cache miss only; the cache and AccessToken.raw
            # keep the presented (outer) token.
            inner = self._decryptor.decrypt(token)
            unverified = self.policy.precheck(inner, self.clock(), raw=token)
        else:
            unverified = self.policy.precheck(token, self.clock(), std=std)
        key = self._hmac
        if key is None:
            want: KeyWanted = _new(KeyWanted, (unverified.issuer, unverified.kid))
            answer = yield want
            assert isinstance(answer, VerificationKey)
            key = answer
        verified = self.policy.finish(unverified, key)
        self.token_cache.put(verified)
        return verified

    def _verify_flow(self, token: str, binding_checked: bool) -> Flow:
        """:meth:`verification_flow` in the shape the drivers run: its token yielded last.

        With no request there is no proof of possession: a bound token is refused unless
        the caller checks its binding (``binding_checked``), :func:`refuse_as_bearer`."""
        verified = yield from self.verification_flow(token)
        if not binding_checked:
            refuse_as_bearer(self.config.proof_of_possession, verified)
        yield verified

    def _observe(
        self,
        ctx: RequestContext,
        started: float,
        credentials: Credentials | None,
        token: AccessToken | None,
        error: RSGuardError | None,
    ) -> None:
        """Log the outcome (never the token) and feed the observers."""
        emit(
            outcome_of(
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

    def warmed(self) -> bool:
        """Whether every issuer's keys are at hand (after :meth:`Guard.warm`)."""
        return all(state.keys() for state in self.key_sets.values())

    def is_own(self, what: str, value: str) -> bool:
        """Whether ``value`` is this API's own ``"issuer"`` (configured) or ``"kid"`` (of a
        key the guard holds): only such values of a refused token are named in logs."""
        if what == "issuer":
            return value in self.policy.issuers
        return what == "kid" and any(s.holds_kid(value) for s in self.key_sets.values())


def _resume(flow: Flow, answer: Answer) -> KeyWanted | ProofReplay | AccessToken:
    """Send ``answer`` into ``flow`` (thrown, when it is a refusal): what it yields next."""
    if isinstance(answer, RSGuardError):
        return flow.throw(answer)
    return flow.send(answer)


class Guard(GuardCore[httpx.Client, httpx.BaseTransport, JWKSClient]):
    """Verifies requests from threads (WSGI, Flask, scripts): drives the flow."""

    def _client(self, transport: httpx.BaseTransport | None) -> httpx.Client:
        return httpx.Client(timeout=self._timeout, follow_redirects=False, transport=transport)

    def _keys(self, state: KeySetState) -> JWKSClient:
        return JWKSClient(state, client=self._http)

    def authenticate(self, ctx: RequestContext) -> AccessToken:
        """The verified token of a request, or an :class:`RSGuardError` that refuses it."""
        return self._drive(self.authentication_flow(ctx))

    def verify(self, token: str, *, binding_checked: bool = False) -> AccessToken:
        """Verify a token alone: signature and claims, no request.

        A token bound to a key (``cnf``: DPoP, mTLS) is refused, as is an unbound one when
        the settings require a binding: the caller would use it as a bearer token. Pass
        ``binding_checked=True`` only when your code checks the proof of possession itself.
        """
        return self._drive(self._verify_flow(token, binding_checked))

    def _drive(self, flow: Flow) -> AccessToken:
        step = next(flow)
        while not isinstance(step, AccessToken):
            step = _resume(flow, self._answer(step))
        next(flow, None)  # the flow ends (returning None: no StopIteration is raised)
        return step

    def _answer(self, need: KeyWanted | ProofReplay) -> Answer:
        try:
            if isinstance(need, KeyWanted):
                return self.jwks[need.issuer].get_key(need.kid)
            return self.replay_store.remember(need.key, need.expires_at)
        except RSGuardError as exc:
            return exc

    def warm(self) -> bool:
        """Fetch every issuer's keys now; never raises. True when all could be had."""
        for client in self.jwks.values():
            try:
                client.refresh()
            except Exception:  # warming must never stop an app from starting
                log.exception("warming the key cache failed")
        return self.warmed()

    def close(self) -> None:
        self._http.close()
        self.replay_store.close()


class AsyncGuard(GuardCore[httpx.AsyncClient, httpx.AsyncBaseTransport, AsyncJWKSClient]):
    """Verifies requests from async code (asyncio or trio, through anyio): drives the flow."""

    def _client(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self._timeout, follow_redirects=False, transport=transport)

    def _keys(self, state: KeySetState) -> AsyncJWKSClient:
        return AsyncJWKSClient(state, client=self._http)

    async def authenticate(self, ctx: RequestContext) -> AccessToken:
        """:meth:`Guard.authenticate`, awaited."""
        return await self._drive(self.authentication_flow(ctx))

    async def verify(self, token: str, *, binding_checked: bool = False) -> AccessToken:
        """:meth:`Guard.verify`, awaited."""
        return await self._drive(self._verify_flow(token, binding_checked))

    async def _drive(self, flow: Flow) -> AccessToken:
        step = next(flow)
        while not isinstance(step, AccessToken):
            step = _resume(flow, await self._answer(step))
        next(flow, None)  # the flow ends (returning None: no StopIteration is raised)
        return step

    async def _answer(self, need: KeyWanted | ProofReplay) -> Answer:
        try:
            if isinstance(need, KeyWanted):
                return await self.jwks[need.issuer].get_key(need.kid)
            return await self.replay_store.aremember(need.key, need.expires_at)
        except RSGuardError as exc:
            return exc

    async def warm(self) -> bool:
        """:meth:`Guard.warm`, awaited."""
        for client in self.jwks.values():
            try:
                await client.refresh()
            except Exception:  # warming must never stop an app from starting
                log.exception("warming the key cache failed")
        return self.warmed()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self.replay_store.aclose()
