"""The ASGI middleware's shortcuts on the request path give what the full path gives.

* the admission memo: what the middleware writes for an accepted token (the shell's
  records, ``request.auth``/``request.user``) is made once per token object and copied
  into later requests; a request that another guard verified first takes the full path,
  which merges the records;
* :class:`~rs_guard.adapters._memo.TokenMemo`: by token identity, bounded, nothing kept
  with the token cache off;
* :func:`~rs_guard.context.raw_header_values`: the loop gives what the plain rule
  ("every value whose lower-cased name is the name") gives, for any header list.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from known_token_support import no_debug_logging  # noqa: F401  (autouse fixture)
from refusals import expect_refusal

from rs_guard import AccessToken, AsyncGuard
from rs_guard.adapters import asgi, starlette
from rs_guard.adapters._memo import TokenMemo
from rs_guard.adapters._shell import CHALLENGE_KEY, TOKEN_KEY, VERIFIED_KEY, Verified
from rs_guard.context import raw_header_values
from rs_guard.testing import TokenIssuer

B_AUDIENCE = "https://b.rs-guard.test"
ADMISSION_KEYS = {TOKEN_KEY, VERIFIED_KEY, "auth", "user"}


class Seen:
    """An ASGI app that keeps the scope it was called with and answers 200."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(dict(scope))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def call(app: Any, token: str, **extra: Any) -> tuple[dict[str, Any], list[Any]]:
    """One GET /x with ``Authorization: Bearer <token>``: the scope after it, the messages."""
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
        "root_path": "",
        "path": "/x",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())],
        **extra,
    }
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return scope, sent


def admission(scope: dict[str, Any]) -> dict[str, Any]:
    return {key: scope[key] for key in ADMISSION_KEYS if key in scope}


def middleware(issuer: TokenIssuer, clock: Any, app: Any, **config: Any) -> Any:
    guard = AsyncGuard(issuer.config(**config), transport=issuer.transport(), clock=clock)
    return starlette.RSGuardMiddleware(app, guard=guard)


def behind(issuer: TokenIssuer, clock: Any, **config: Any) -> tuple[Seen, Any]:
    """A :class:`Seen` app, and :func:`middleware` (a guard of ``config``) around it."""
    seen = Seen()
    return seen, middleware(issuer, clock, seen, **config)


@pytest.mark.anyio
async def test_a_known_token_gets_what_the_full_path_writes(
    issuer: TokenIssuer, clock: Any
) -> None:
    _, mw = behind(issuer, clock)
    token = issuer.mint(scopes=["read:x", "write:x"])
    scopes = [(await call(mw, token))[0] for _ in range(4)]
    first, *later = (admission(s) for s in scopes)
    assert set(first) == ADMISSION_KEYS
    assert first[TOKEN_KEY].subject == "auth0|user-1"
    assert first[VERIFIED_KEY] == (Verified(mw.config, first[TOKEN_KEY]),)
    assert first["auth"].scopes == ("read:x", "write:x")
    assert first["user"].identity == "auth0|user-1"
    # the full path, written afresh for the same token object, is what every request got
    full: dict[str, Any] = {}
    mw._admit(full, first[TOKEN_KEY])
    for entries in (first, *later):
        assert entries[TOKEN_KEY] is first[TOKEN_KEY]
        assert entries[VERIFIED_KEY] == full[VERIFIED_KEY]
        assert type(entries["auth"]) is type(full["auth"])
        assert entries["auth"].scopes == full["auth"].scopes
        assert entries["user"].token is full["user"].token
    assert len(mw._admitted) == 1


@pytest.mark.anyio
async def test_another_guards_records_are_merged_not_replaced(
    issuer: TokenIssuer, clock: Any
) -> None:
    """Guard A's middleware around guard B's: B's records join A's on every request (the
    full path), though B's token is known and its admission kept."""
    seen, inner = behind(issuer, clock, audience=B_AUDIENCE)
    outer = middleware(issuer, clock, inner)
    token = issuer.mint(claims={"aud": [issuer.audience, B_AUDIENCE]})
    for _ in range(3):
        await call(outer, token)
    for scope in seen.scopes:
        records = scope[VERIFIED_KEY]
        assert [r.config for r in records] == [outer.config, inner.config]
        assert records[0].token is not records[1].token  # each guard's own verification
        assert scope[TOKEN_KEY] is records[1].token
        assert scope["user"].token is records[1].token


@pytest.mark.anyio
async def test_a_refusal_after_a_known_token_is_the_full_paths_refusal(
    issuer: TokenIssuer, clock: Any
) -> None:
    """The same token once known, then expired: the exact refusal of a first sight."""
    seen, mw = behind(issuer, clock)
    token = issuer.mint(expires_in=60)
    for _ in range(3):
        assert (await call(mw, token))[1][0]["status"] == 200
    clock.advance(61 + mw.config.leeway)
    scope, sent = await call(mw, token)
    _, fresh = behind(issuer, clock)
    first_scope, first_sent = await call(fresh, token)
    assert sent == first_sent
    start, body = sent
    headers = [(k.decode(), v.decode()) for k, v in start["headers"]]
    expect_refusal(
        (start["status"], headers, body["body"]), 401, "invalid_token", description="expired"
    )
    assert TOKEN_KEY not in scope
    assert "user" not in scope
    assert scope[CHALLENGE_KEY] == first_scope[CHALLENGE_KEY]
    assert len(seen.scopes) == 3


@pytest.mark.anyio
async def test_with_the_token_cache_off_nothing_is_kept(issuer: TokenIssuer, clock: Any) -> None:
    seen, mw = behind(issuer, clock, token_cache_size=0)
    token = issuer.mint()
    for _ in range(3):
        await call(mw, token)
    tokens = [s[TOKEN_KEY] for s in seen.scopes]
    assert len({id(t) for t in tokens}) == 3  # every request verified afresh
    assert [s["user"].token for s in seen.scopes] == tokens
    assert len(mw._admitted) == 0


@pytest.mark.anyio
async def test_the_plain_asgi_middleware_writes_only_the_records(
    issuer: TokenIssuer, clock: Any
) -> None:
    seen = Seen()
    guard = AsyncGuard(issuer.config(), transport=issuer.transport(), clock=clock)
    mw = asgi.RSGuardMiddleware(seen, guard=guard)
    token = issuer.mint()
    for _ in range(3):
        await call(mw, token)
    assert [set(admission(s)) for s in seen.scopes] == [{TOKEN_KEY, VERIFIED_KEY}] * 3
    assert len({id(s[TOKEN_KEY]) for s in seen.scopes}) == 1


def fake_token(n: int) -> AccessToken:
    none: frozenset[str] = frozenset()
    return AccessToken(f"t{n}", {"sub": f"u{n}"}, {}, "iss", none, none, none, 0.0, None, False)


def test_token_memo_is_by_identity_and_bounded() -> None:
    made: list[int] = []

    def make(token: AccessToken) -> int:
        made.append(1)
        return len(made)

    memo = TokenMemo(make, maxsize=2)
    one, two, three = fake_token(1), fake_token(2), fake_token(3)
    assert [memo.get(one), memo.get(one), memo.get(two)] == [1, 1, 2]
    # an entry whose token is another object under this id is never taken
    memo._entries[id(three)] = (one, 1)
    assert memo.get(three) == 3
    assert len(memo) <= 2
    for n in range(100):
        memo.get(fake_token(n))
    assert len(memo) <= 2
    off = TokenMemo(make, maxsize=0)
    off.get(one)
    assert len(off) == 0


def reference_values(raw: list[tuple[bytes, bytes]], name: str) -> list[str]:
    """The rule, written plainly: every value whose lower-cased name is ``name``."""
    key = name.encode("latin-1")
    return [value.decode("latin-1") for field, value in raw if field.lower() == key]


def test_raw_header_values_follows_the_plain_rule() -> None:
    rng = random.Random(13)
    names = [
        b"authorization",
        b"Authorization",
        b"AUTHORIZATION",
        b"authorizatioN",
        b"authorizations",
        b"authorizatio",
        b"xauthorization",
        b"dpop",
        b"DPoP",
        b"host",
        b"",
        b"authori\xe7ation",
    ]
    for _ in range(2000):
        raw = [
            (rng.choice(names), bytes(rng.randrange(256) for _ in range(rng.randrange(6))))
            for _ in range(rng.randrange(5))
        ]
        for name in ("authorization", "dpop", "host"):
            assert raw_header_values(raw, name) == reference_values(raw, name)


class ClientPrincipal(asgi.RSGuardMiddleware):
    """A subclass whose principal reads the request (its client address), not the token
    alone: it must run on every request, with the request's own scope."""

    def fill_principal(self, scope: Any, token: AccessToken | None) -> None:
        scope["user"] = (token.subject if token else None, scope["client"][0])


@pytest.mark.anyio
async def test_a_subclass_principal_is_written_from_each_requests_own_scope(
    issuer: TokenIssuer, clock: Any
) -> None:
    guard = AsyncGuard(issuer.config(), transport=issuer.transport(), clock=clock)
    mw = ClientPrincipal(Seen(), guard=guard)
    token = issuer.mint(scopes=["read:x"])
    users = [
        (await call(mw, token, client=(address, 5000)))[0]["user"]
        for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3")
    ]
    assert users == [
        ("auth0|user-1", "10.0.0.1"),
        ("auth0|user-1", "10.0.0.2"),
        ("auth0|user-1", "10.0.0.3"),
    ]
    assert ClientPrincipal.principal_by_token is False
    assert asgi.RSGuardMiddleware.principal_by_token is True
    assert starlette.RSGuardMiddleware.principal_by_token is True
    assert len(mw._admitted) == 0
