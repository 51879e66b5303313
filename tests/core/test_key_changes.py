"""Key rotation, cold outages and re-keyed material, on a settable clock (issue 10).

* a kid asked for every 0.5 s after a rotation is picked up one cooldown after the
  last fetch, not earlier and not later; random kids cost at most one fetch per window;
* with nothing cached and the issuer down, attempts come at 1 s, 2 s, 4 s ... up to the
  cooldown, and ``Retry-After`` names the time to the next attempt;
* a refresh that replaces the material behind a kid (or the kid-less key) drops the
  tokens that material verified from the token cache, and only those.

The JWKS server is real (127.0.0.1); cache time runs on the FrozenClock.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from rs_guard import AccessToken, Guard, InvalidToken, KeysUnavailable, render_error
from rs_guard.config import JWKSOptions
from rs_guard.testing import JWKSServer, TokenIssuer
from rs_guard.testing.issuer import generate_key
from rs_guard.testing.server import Reply

COOLDOWN = 5.0
OPTIONS = JWKSOptions(ttl=600, min_ttl=60, cooldown=COOLDOWN, timeout=1.0, stale_for=3600)


def down(path: str) -> Reply:
    return 503, {"Content-Type": "text/plain"}, b"down"


@pytest.fixture
def issuer_(clock: Any) -> TokenIssuer:
    return TokenIssuer(algorithm="ES256", clock=clock)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[JWKSServer]:
    with JWKSServer(dict) as running:
        yield running


@pytest.fixture
def server(issuer_: TokenIssuer, shared_server: JWKSServer) -> JWKSServer:
    shared_server.jwks = issuer_.jwks
    shared_server.reply = None
    shared_server.hits.clear()
    return shared_server


@pytest.fixture
def guard(issuer_: TokenIssuer, server: JWKSServer, clock: Any) -> Iterator[Guard]:
    g = Guard(issuer_.config(jwks_uri=server.jwks_uri, jwks=OPTIONS), clock=clock)
    yield g
    g.close()


def outcome(guard: Guard, token: str) -> AccessToken | str:
    """The verified token, or the reason of the refusal."""
    try:
        return guard.verify(token)
    except InvalidToken as exc:
        return exc.reason


def unknown_kid(guard: Guard, token: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        guard.verify(token)
    assert caught.value.reason == "unknown_kid"


# -- (1) rotation under steady traffic -----------------------------------------------------


def test_a_kid_asked_for_every_half_second_is_picked_up_one_cooldown_after_the_last_fetch(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    assert guard.warm()
    last_fetch = clock()
    new = issuer_.rotate()
    token = issuer_.mint(key=new)
    picked_up = None
    for _ in range(int(4 * COOLDOWN / 0.5)):
        clock.advance(0.5)
        verified = outcome(guard, token)
        if verified == "unknown_kid":
            assert server.count() == 1  # no fetch before the cooldown allows one
            continue
        assert isinstance(verified, AccessToken)
        assert verified.kid == new.kid
        picked_up = clock()
        break
    assert picked_up == last_fetch + COOLDOWN
    assert server.count() == 2


def test_a_flood_of_random_kids_costs_at_most_one_fetch_per_window(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    assert guard.warm()
    started = clock()
    state = guard.key_sets[issuer_.issuer]
    fetched_at = [started]
    for _ in range(300):
        clock.advance(0.05)
        unknown_kid(guard, issuer_.mint(headers={"kid": uuid.uuid4().hex}))
        if state.requests_sent > len(fetched_at):
            fetched_at.append(clock())
    # 300 kids over 15 s: one fetch per 5 s window at most, each a full cooldown apart.
    assert server.count() == len(fetched_at) <= 1 + math.ceil((clock() - started) / COOLDOWN)
    gaps = [later - earlier for earlier, later in itertools.pairwise(fetched_at)]
    assert all(gap >= COOLDOWN for gap in gaps), gaps
    verified = guard.verify(issuer_.mint())
    assert verified.kid == issuer_.current.kid


# -- (2) cold start with the issuer down ---------------------------------------------------


def test_a_cold_outage_retries_at_1_2_4_seconds_up_to_the_cooldown(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    server.reply = down
    started = clock()
    state = guard.key_sets[issuer_.issuer]
    attempts: list[float] = []
    answers: list[tuple[float, int]] = []
    for _ in range(int(25 / 0.5)):
        before = state.requests_sent
        with pytest.raises(KeysUnavailable) as caught:
            guard.verify(issuer_.mint())
        if state.requests_sent > before:
            attempts.append(clock() - started)
        answers.append((clock() - started, caught.value.retry_after))
        clock.advance(0.5)
    assert attempts == [0, 1, 3, 7, 12, 17, 22]
    # Retry-After is the time to the next attempt, rounded up to whole seconds.
    for at, retry_after in answers:
        following = next(a for a in [*attempts, 27.0] if a > at)
        assert retry_after == max(1, math.ceil(following - at)), (at, retry_after)
    status, headers, _ = render_error(caught.value, guard.challenge)
    assert status == 503
    assert dict(headers)["retry-after"] == str(caught.value.retry_after)


def test_a_cold_outage_recovers_at_the_next_short_retry(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    server.reply = down
    started = clock()
    with pytest.raises(KeysUnavailable) as caught:
        guard.verify(issuer_.mint())
    assert caught.value.retry_after == 1
    clock.advance(1)
    with pytest.raises(KeysUnavailable) as caught:
        guard.verify(issuer_.mint())
    assert caught.value.retry_after == 2
    server.reply = None  # the issuer is back at t = 1.5
    clock.advance(0.5)
    with pytest.raises(KeysUnavailable):
        guard.verify(issuer_.mint())  # the next attempt is at t = 3
    clock.advance(1.5)
    verified = guard.verify(issuer_.mint())
    assert verified.kid == issuer_.current.kid
    assert clock() - started == 3
    assert server.count() == 3


# -- (3) the token cache and replaced key material -----------------------------------------


def test_a_same_kid_re_key_refuses_the_old_tokens_and_keeps_the_others(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    untouched = issuer_.rotate()
    original = issuer_.keys[0]
    old_token = issuer_.mint(key=original, subject="old")
    kept_token = issuer_.mint(key=untouched, subject="kept")
    verified = guard.verify(old_token)
    assert verified.subject == "old"
    kept = guard.verify(kept_token)
    assert len(guard.token_cache) == 2
    # Same kid, new material: the issuer re-keyed without renaming.
    issuer_.keys = [generate_key("ES256", kid=original.kid), untouched]
    guard.jwks[issuer_.issuer].refresh()
    assert server.count() == 2
    assert guard.token_cache.get(old_token) is None
    with pytest.raises(InvalidToken) as caught:
        guard.verify(old_token)
    assert caught.value.reason == "bad_signature"
    assert guard.token_cache.get(kept_token) is kept
    new_token = issuer_.mint(key=issuer_.keys[0], subject="new")
    verified = guard.verify(new_token)
    assert verified.subject == "new"


def test_a_kid_less_key_swap_refuses_the_old_tokens(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    def without_kid() -> dict[str, Any]:
        jwk = issuer_.current.public_jwk()
        del jwk["kid"]
        return {"keys": [jwk]}

    server.jwks = without_kid
    old_token = issuer_.mint(drop_headers=["kid"], subject="old")
    verified = guard.verify(old_token)
    assert verified.subject == "old"
    assert guard.token_cache.get(old_token) is not None
    issuer_.rotate(keep_old=False)
    guard.jwks[issuer_.issuer].refresh()
    assert guard.token_cache.get(old_token) is None
    with pytest.raises(InvalidToken) as caught:
        guard.verify(old_token)
    assert caught.value.reason == "bad_signature"
    verified = guard.verify(issuer_.mint(drop_headers=["kid"], subject="new"))
    assert verified.subject == "new"


def test_a_refresh_with_the_same_material_keeps_the_token_cache(
    issuer_: TokenIssuer, server: JWKSServer, guard: Guard, clock: Any
) -> None:
    token = issuer_.mint()
    verified = guard.verify(token)
    guard.jwks[issuer_.issuer].refresh()
    assert server.count() == 2
    assert guard.token_cache.get(token) is verified
