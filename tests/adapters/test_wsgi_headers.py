"""The request the WSGI adapters hand to the guard: ``Authorization`` and ``DPoP`` are read
from their own environ key, every other header only when asked for; both readings give
the same lines, and the guard the same token or the same exact refusal.

The whole reading is the list ``ctx.headers`` (every ``HTTP_*`` key turned into lines);
the short one is ``ctx.header_values(name)`` for the two token headers.
"""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from rs_guard import Guard, RequestContext
from rs_guard.adapters._wsgi_io import wsgi_str
from rs_guard.adapters.wsgi import context_from_environ
from rs_guard.config import ProofOfPossession
from rs_guard.errors import RSGuardError, render_error
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import DPoPKey

URL = "http://localhost/x"


def environ_with(**keys: Any) -> dict[str, Any]:
    environ: dict[str, Any] = EnvironBuilder(path="/x").get_environ()
    environ.update(keys)
    return environ


def whole(ctx: RequestContext, name: str) -> list[str]:
    """The values of one header as the whole list gives them."""
    return [value for key, value in ctx.headers if key == name]


def outcome(guard: Guard, ctx: RequestContext) -> Any:
    """The subject of the accepted token, or the refusal's exact answer."""
    try:
        return guard.authenticate(ctx).subject
    except RSGuardError as exc:
        return render_error(exc, guard.challenge)


def reading(guard: Guard, environ: dict[str, Any], *, whole_list: bool) -> Any:
    """The guard's outcome on the adapter's context, or on one built from its whole list."""
    ctx = context_from_environ(environ, guard.config)
    if whole_list:
        ctx = RequestContext(
            method=ctx.method,
            url=ctx.url,
            headers=list(ctx.headers),
            query_string=ctx.query_string,
            client_cert=ctx.client_cert,
            peer=ctx.peer,
        )
    return outcome(guard, ctx)


TOKEN_ENVIRONS = {
    "one": {"HTTP_AUTHORIZATION": "Bearer {t}"},
    "joined twice": {"HTTP_AUTHORIZATION": "Bearer {t},Bearer {t}"},
    "stray comma": {"HTTP_AUTHORIZATION": "Bearer {t},"},
    "basic then bearer": {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz, Bearer {t}"},
    "digest with commas": {"HTTP_AUTHORIZATION": 'Digest username="u", realm="api", nonce="n"'},
    "two basic": {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz,Basic dXNlcjpwYXNz"},
    "not pep 3333 spelling": {"HTTP_Authorization": "Bearer {t}"},
    "both spellings": {"HTTP_AUTHORIZATION": "Bearer {t}", "HTTP_Authorization": "Bearer {t}"},
    "not text": {"HTTP_AUTHORIZATION": b"Bearer {t}"},
    "none": {},
    "dpop joined": {"HTTP_AUTHORIZATION": "DPoP {t}", "HTTP_DPOP": "a.b.c,d.e.f"},
    "dpop odd spelling": {"HTTP_AUTHORIZATION": "DPoP {t}", "HTTP_Dpop": "a.b.c"},
    "dpop empty": {"HTTP_AUTHORIZATION": "DPoP {t}", "HTTP_DPOP": ""},
}


def filled(keys: dict[str, Any], token: str) -> dict[str, Any]:
    return {
        k: v.replace("{t}", token) if isinstance(v, str) else v.replace(b"{t}", token.encode())
        for k, v in keys.items()
    }


@pytest.mark.parametrize("case", sorted(TOKEN_ENVIRONS))
def test_token_headers_read_from_their_key_match_the_whole_list(
    issuer: TokenIssuer, case: str
) -> None:
    environ = environ_with(
        HTTP_HOST="api.test", HTTP_X_CLIENT_CERT="c", **filled(TOKEN_ENVIRONS[case], "tok")
    )
    ctx = context_from_environ(environ, issuer.config())
    for name in ("authorization", "dpop", "host", "x-client-cert", "absent"):
        assert ctx.header_values(name) == whole(ctx, name), name
    assert ("host", "api.test") in ctx.headers


def test_joined_token_headers_are_two_lines_in_both_readings(issuer: TokenIssuer) -> None:
    environ = environ_with(**filled(TOKEN_ENVIRONS["joined twice"], "tok"), HTTP_DPOP="a,b")
    ctx = context_from_environ(environ, issuer.config())
    assert ctx.header_values("authorization") == ["Bearer tok", "Bearer tok"]
    assert ctx.header_values("dpop") == ["a", "b"]
    assert len(ctx.headers) == len(list(ctx.headers))
    assert ctx.headers[0] in list(ctx.headers)


@pytest.mark.parametrize("case", sorted(TOKEN_ENVIRONS))
def test_the_guard_gives_the_same_token_or_refusal_on_both_readings(
    issuer: TokenIssuer, clock: Any, case: str
) -> None:
    environ = environ_with(**filled(TOKEN_ENVIRONS[case], issuer.mint()))
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    assert reading(guard, environ, whole_list=False) == reading(guard, environ, whole_list=True)
    guard.close()


@pytest.mark.parametrize("case", ["one", "dpop joined", "dpop odd spelling", "dpop empty", "proof"])
def test_dpop_gives_the_same_token_or_refusal_on_both_readings(
    issuer: TokenIssuer, clock: Any, case: str
) -> None:
    dpop_key = DPoPKey("ES256", clock=clock)
    config = issuer.config(proof_of_possession=ProofOfPossession("dpop"))
    token = issuer.mint(cnf=dpop_key.cnf)
    if case == "proof":
        keys = {
            "HTTP_AUTHORIZATION": f"DPoP {token}",
            "HTTP_DPOP": dpop_key.proof("GET", URL, access_token=token),
        }
    else:
        keys = filled(TOKEN_ENVIRONS[case], token)
    results = []
    for whole_list in (False, True):  # a fresh guard each: the proof's jti is not yet seen
        guard = Guard(config, transport=issuer.transport(), clock=clock)
        results.append(reading(guard, environ_with(**keys), whole_list=whole_list))
        guard.close()
    assert results[0] == results[1]
    if case == "proof":
        assert results[0] == "auth0|user-1"


@pytest.mark.parametrize(
    "raw",
    ["/hello", "", "/caf\u00e9".encode().decode("latin-1"), "/\u00e9", "/a%20b", "/\x7f\x00"],
)
def test_an_ascii_path_is_taken_as_it_is_and_others_decoded_as_before(raw: str) -> None:
    try:
        expected = raw.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        expected = raw
    assert wsgi_str(raw) == expected
