"""The authentication flow without a driver: what it yields, what it takes, what it raises.

:meth:`GuardCore.authentication_flow` does no I/O: it yields ``KeyWanted`` (answered with
a key) and ``ProofReplay`` (answered "was it new"), and last the verified token. These
tests drive it by hand, as :class:`Guard` and :class:`AsyncGuard` do.
"""

from __future__ import annotations

from typing import Any

import pytest

from rs_guard import Guard, InvalidDPoPProof, InvalidToken, KeysUnavailable, RequestContext
from rs_guard.binding import ProofReplay
from rs_guard.config import ProofOfPossession
from rs_guard.guard import KeyWanted
from rs_guard.keys import key_from_jwk
from rs_guard.testing import DPoPKey, TokenIssuer

URL = "https://api.test/x"


def request(token: str, scheme: str = "Bearer", **headers: str) -> RequestContext:
    pairs = [("authorization", f"{scheme} {token}"), *((k.lower(), v) for k, v in headers.items())]
    return RequestContext("GET", URL, pairs)


def test_an_unseen_token_asks_for_its_key_then_yields_the_token(
    issuer: TokenIssuer, clock: Any
) -> None:
    guard = Guard(issuer.config(), clock=clock, transport=issuer.transport())
    token = issuer.mint(scopes=["read:a"])
    flow = guard.authentication_flow(request(token))
    need = next(flow)
    assert need == KeyWanted(issuer.issuer, issuer.current.kid)
    key = key_from_jwk(issuer.current.public_jwk(), "RS256")
    assert key is not None
    verified = flow.send(key)
    assert (verified.subject, verified.scopes) == ("auth0|user-1", {"read:a"})
    assert next(flow, "ended") == "ended"
    # Cached now: the same request needs nothing from the outside.
    assert next(guard.authentication_flow(request(token))).subject == "auth0|user-1"


def test_a_refusal_thrown_in_comes_out_complete_with_the_clients_scheme(
    issuer: TokenIssuer, clock: Any
) -> None:
    config = issuer.config(proof_of_possession=ProofOfPossession("dpop"))
    guard = Guard(config, clock=clock, transport=issuer.transport())
    flow = guard.authentication_flow(request(issuer.mint(), scheme="DPoP"))
    assert isinstance(next(flow), KeyWanted)
    thrown = KeysUnavailable("the issuer's keys could not be fetched", retry_after=7)
    with pytest.raises(KeysUnavailable) as info:
        flow.throw(thrown)
    assert (info.value.scheme, info.value.retry_after, info.value.reason) == (
        "DPoP",
        7,
        "keys_unavailable",
    )
    assert thrown.scheme is None  # the error raised first was not changed afterwards


def test_a_refusal_inside_the_flow_names_the_scheme_used(issuer: TokenIssuer, clock: Any) -> None:
    config = issuer.config(proof_of_possession=ProofOfPossession("dpop"))
    guard = Guard(config, clock=clock, transport=issuer.transport())
    expired = issuer.mint(claims={"exp": int(clock()) - 600, "iat": int(clock()) - 1200})
    with pytest.raises(InvalidToken) as info:
        next(guard.authentication_flow(request(expired, scheme="DPoP")))
    assert (info.value.reason, info.value.scheme) == ("expired", "DPoP")


def test_a_proof_id_seen_before_is_refused(issuer: TokenIssuer, clock: Any) -> None:
    config = issuer.config(proof_of_possession=ProofOfPossession("dpop"))
    guard = Guard(config, clock=clock, transport=issuer.transport())
    key = DPoPKey(clock=clock)
    token = issuer.mint(cnf=key.cnf)
    guard.verify(token, binding_checked=True)  # cached: the flow goes straight to the binding
    ctx = request(token, scheme="DPoP", dpop=key.proof("GET", URL, access_token=token))
    flow = guard.authentication_flow(ctx)
    replay = next(flow)
    assert isinstance(replay, ProofReplay)
    assert replay.expires_at > clock()
    with pytest.raises(InvalidDPoPProof) as info:
        flow.send(False)
    assert (info.value.reason, info.value.scheme) == ("dpop_replay", "DPoP")
    accepted = guard.authentication_flow(ctx)
    assert next(accepted) == replay
    assert accepted.send(True).cnf == key.cnf
