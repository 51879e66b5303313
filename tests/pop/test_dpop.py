"""DPoP-bound tokens (RFC 9449 §4.3, §7): every proof check and its negative case."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import get_default_algorithms

from rs_guard import AsyncGuard
from rs_guard.config import DPoPOptions, ProofOfPossession
from rs_guard.errors import InvalidDPoPProof, InvalidToken, render_error
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import DPoPKey, IssuedCert
from rs_guard.urls import request_url

from ._support import URL, request

ALGS = get_default_algorithms()


def dpop_request(token: str, proofs: list[str] | str, **kwargs: Any) -> Any:
    values = [proofs] if isinstance(proofs, str) else proofs
    return request(token, scheme="DPoP", headers=[("DPoP", p) for p in values], **kwargs)


def proof_refused(
    guard: Any,
    ctx: Any,
    words: str,
    reason: str = "invalid_dpop_proof",
    error: str = "invalid_dpop_proof",
) -> Any:
    with pytest.raises(InvalidDPoPProof) as info:
        guard.authenticate(ctx)
    exc = info.value
    assert words in exc.description
    assert exc.reason == reason
    status, headers, body = render_error(exc, guard.challenge)
    assert status == 401
    challenge = dict(headers)["www-authenticate"]
    assert f'DPoP error="{error}"' in challenge
    assert 'algs="' in challenge
    assert json.loads(body)["error"] == error
    return exc


@pytest.fixture
def guard(make_guard: Any) -> Any:
    return make_guard("dpop")


@pytest.fixture
def bound(issuer: TokenIssuer, dpop_key: DPoPKey) -> str:
    return issuer.mint(scopes=["read:appointments"], cnf=dpop_key.cnf)


# -- the good path --------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "PS256", "RS256", "EdDSA"])
def test_valid_proof_passes(
    make_guard: Any, issuer: TokenIssuer, dpop_keys: dict[str, DPoPKey], alg: str
) -> None:
    key = dpop_keys[alg]
    guard = make_guard("dpop")
    token = issuer.mint(cnf=key.cnf)
    result = guard.authenticate(dpop_request(token, key.proof("GET", URL, access_token=token)))
    assert result.cnf == {"jkt": key.thumbprint}


def test_each_request_needs_a_fresh_proof(guard: Any, bound: str, dpop_key: DPoPKey) -> None:
    proof = dpop_key.proof("GET", URL, access_token=bound)
    guard.authenticate(dpop_request(bound, proof))
    proof_refused(guard, dpop_request(bound, proof), "already used", "dpop_replay")
    guard.authenticate(dpop_request(bound, dpop_key.proof("GET", URL, access_token=bound)))


def test_same_jti_from_two_keys_is_not_a_replay(
    guard: Any, issuer: TokenIssuer, dpop_keys: dict[str, DPoPKey]
) -> None:
    for alg in ("ES256", "EdDSA"):
        key = dpop_keys[alg]
        token = issuer.mint(cnf=key.cnf)
        guard.authenticate(dpop_request(token, key.proof("GET", URL, access_token=token, jti="j1")))


def test_invalid_proof_takes_no_replay_slot(guard: Any, bound: str, dpop_key: DPoPKey) -> None:
    bad = dpop_key.proof("POST", URL, access_token=bound, jti="slot")
    proof_refused(guard, dpop_request(bound, bad), "htm")
    good = dpop_key.proof("GET", URL, access_token=bound, jti="slot")
    verified = guard.authenticate(dpop_request(bound, good))
    assert verified.subject == "auth0|user-1"


# -- the proof header -------------------------------------------------------------------


def test_missing_proof(guard: Any, bound: str) -> None:
    proof_refused(guard, dpop_request(bound, []), "no DPoP proof", "dpop_proof_missing")


def test_two_proofs(guard: Any, bound: str, dpop_key: DPoPKey) -> None:
    proofs = [dpop_key.proof("GET", URL, access_token=bound) for _ in range(2)]
    proof_refused(guard, dpop_request(bound, proofs), "more than one DPoP header")


@pytest.mark.parametrize(
    "proof", ["", "abc", "a.b", "a.b.c.d.e", "eyJhbGciOiJFUzI1NiJ9.e30.", "x" * 9000, "é.é.é"]
)
def test_malformed_proof(guard: Any, bound: str, proof: str) -> None:
    with pytest.raises(InvalidDPoPProof):
        guard.authenticate(dpop_request(bound, proof))


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "dpop", None])
def test_wrong_typ(guard: Any, bound: str, dpop_key: DPoPKey, typ: str | None) -> None:
    if typ is None:
        proof = dpop_key.proof("GET", URL, access_token=bound, drop=["typ"])
    else:
        proof = dpop_key.proof("GET", URL, access_token=bound, headers={"typ": typ})
    proof_refused(guard, dpop_request(bound, proof), "typ is not dpop+jwt")


def test_crit_header(guard: Any, bound: str, dpop_key: DPoPKey) -> None:
    proof = dpop_key.proof("GET", URL, access_token=bound, headers={"crit": ["exp"]})
    proof_refused(guard, dpop_request(bound, proof), "critical")


def test_alg_not_allowed(make_guard: Any, issuer: TokenIssuer, dpop_key: DPoPKey) -> None:
    guard = make_guard("dpop", dpop=DPoPOptions(algorithms=("PS256",)))
    token = issuer.mint(cnf=dpop_key.cnf)
    exc = proof_refused(
        guard, dpop_request(token, dpop_key.proof("GET", URL, access_token=token)), "alg"
    )
    assert 'algs="PS256"' in dict(render_error(exc, guard.challenge)[1])["www-authenticate"]


def test_symmetric_and_none_algs(guard: Any, bound: str, dpop_key: DPoPKey) -> None:
    claims = {"htm": "GET", "htu": URL, "iat": int(dpop_key.clock()), "jti": "n"}
    header = {"typ": "dpop+jwt", "jwk": dpop_key.jwk}
    hs = jwt.encode(claims, "s" * 32, algorithm="HS256", headers=header)
    proof_refused(guard, dpop_request(bound, hs), "alg")
    unsigned = jwt.encode(claims, None, algorithm="none", headers=header)  # type: ignore[arg-type]
    proof_refused(guard, dpop_request(bound, unsigned), "alg")


def test_missing_jwk(guard: Any, bound: str, dpop_key: DPoPKey) -> None:
    proof = dpop_key.proof("GET", URL, access_token=bound, drop=["jwk"])
    proof_refused(guard, dpop_request(bound, proof), "no jwk")


@pytest.mark.parametrize("member", ["d", "p", "k"])
def test_private_key_in_jwk(guard: Any, bound: str, dpop_key: DPoPKey, member: str) -> None:
    jwk = {**dpop_key.jwk, member: "AAAA"}
    proof = dpop_key.proof("GET", URL, access_token=bound, headers={"jwk": jwk})
    proof_refused(guard, dpop_request(bound, proof), "private key material")


def test_jwk_of_wrong_type_or_curve(
    guard: Any, bound: str, dpop_key: DPoPKey, dpop_keys: dict[str, DPoPKey]
) -> None:
    rsa_jwk = dpop_keys["RS256"].jwk
    proof = dpop_key.proof("GET", URL, access_token=bound, headers={"jwk": rsa_jwk})
    proof_refused(guard, dpop_request(bound, proof), "not a key for ES256")
    p384 = json.loads(ALGS["ES384"].to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key()))
    proof = dpop_key.proof("GET", URL, access_token=bound, headers={"jwk": p384})
    proof_refused(guard, dpop_request(bound, proof), "not a key for ES256")


def test_jwk_that_is_no_key(guard: Any, bound: str, dpop_key: DPoPKey, issuer: TokenIssuer) -> None:
    from rs_guard.binding.thumbprint import jwk_thumbprint

    jwk = {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}
    token = issuer.mint(cnf={"jkt": jwk_thumbprint(jwk)})  # bound to a point off the curve
    proof = dpop_key.proof("GET", URL, access_token=token, headers={"jwk": jwk})
    proof_refused(guard, dpop_request(token, proof), "not a valid public key")
    proof = dpop_key.proof("GET", URL, access_token=bound, headers={"jwk": jwk})
    proof_refused(guard, dpop_request(bound, proof), "not a valid public key")
    jwk_bad: dict[str, Any] = {"kty": "EC", "crv": "P-256", "x": 5, "y": "AAAA"}
    proof = dpop_key.proof("GET", URL, access_token=bound, headers={"jwk": jwk_bad})
    proof_refused(guard, dpop_request(bound, proof), "jwk is invalid")


def test_short_rsa_key(make_guard: Any, issuer: TokenIssuer, clock: Any) -> None:
    from rs_guard._jose import b64url_encode
    from rs_guard.binding.thumbprint import access_token_hash, jwk_thumbprint

    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    jwk = json.loads(ALGS["RS256"].to_jwk(private.public_key()))
    token = issuer.mint(cnf={"jkt": jwk_thumbprint(jwk)})
    claims = {"htm": "GET", "htu": URL, "iat": int(clock()), "jti": "r"}
    claims["ath"] = access_token_hash(token)
    header = {"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk}
    signing_input = ".".join(b64url_encode(json.dumps(part).encode()) for part in (header, claims))
    signature = ALGS["RS256"].sign(signing_input.encode(), private)
    proof = signing_input + "." + b64url_encode(signature)
    proof_refused(make_guard("dpop"), dpop_request(token, proof), "not of 2048 to 8192 bits")


def test_signature_by_another_key(guard: Any, bound: str, dpop_key: DPoPKey, clock: Any) -> None:
    other = DPoPKey("ES256", clock=clock)
    proof = other.proof("GET", URL, access_token=bound, headers={"jwk": dpop_key.jwk})
    proof_refused(guard, dpop_request(bound, proof), "signature", "dpop_bad_signature")


def test_tampered_payload(guard: Any, bound: str, dpop_key: DPoPKey) -> None:
    head, _, sig = dpop_key.proof("GET", URL, access_token=bound).split(".")
    other_payload = dpop_key.proof("GET", URL, access_token=bound).split(".")[1]
    tampered = f"{head}.{other_payload}.{sig}"
    proof_refused(guard, dpop_request(bound, tampered), "signature", "dpop_bad_signature")


# -- htm / htu ---------------------------------------------------------------------------


@pytest.mark.parametrize("htm", ["POST", "get", "", None])
def test_htm_mismatch(guard: Any, bound: str, dpop_key: DPoPKey, htm: str | None) -> None:
    if htm is None:
        proof = dpop_key.proof("GET", URL, access_token=bound, drop=["htm"])
    else:
        proof = dpop_key.proof(htm, URL, access_token=bound)
    proof_refused(guard, dpop_request(bound, proof), "htm")


@pytest.mark.parametrize(
    "htu",
    [
        "HTTPS://API.Example.TEST/appointments",
        "https://api.example.test:443/appointments",
        "https://api.example.test/appointments?page=2",
        "https://api.example.test/appointments#top",
        "https://api.example.test/%61ppointments",
        "https://api.example.test/x/../appointments",
        "https://api.example.test/./appointments",
    ],
)
def test_htu_equivalent_forms_pass(guard: Any, bound: str, dpop_key: DPoPKey, htu: str) -> None:
    verified = guard.authenticate(
        dpop_request(bound, dpop_key.proof("GET", htu, access_token=bound))
    )
    assert verified.subject == "auth0|user-1"


def test_htu_percent_case_and_request_query(guard: Any, bound: str, dpop_key: DPoPKey) -> None:
    url = "https://api.example.test/files/a%2fb"
    proof = dpop_key.proof("GET", "https://api.example.test/files/a%2Fb", access_token=bound)
    verified = guard.authenticate(dpop_request(bound, proof, url=url + "?q=1"))
    assert verified.subject == "auth0|user-1"


@pytest.mark.parametrize(
    "htu",
    [
        "http://api.example.test/appointments",
        "https://other.example.test/appointments",
        "https://api.example.test:8443/appointments",
        "https://api.example.test/appointments/",
        "https://api.example.test/Appointments",
        "https://api.example.test/",
        "https://user@api.example.test/appointments",
        "/appointments",
        "ftp://api.example.test/appointments",
        "https://api.example.test:99999/appointments",
        "https://[::1/appointments",
        "",
        12,
        None,
    ],
)
def test_htu_mismatch(guard: Any, bound: str, dpop_key: DPoPKey, htu: Any) -> None:
    if htu is None:
        proof = dpop_key.proof("GET", URL, access_token=bound, drop=["htu"])
    else:
        proof = dpop_key.proof("GET", URL, access_token=bound, claims={"htu": htu})
    proof_refused(guard, dpop_request(bound, proof), "htu")


def test_htu_checked_against_public_url(
    make_guard: Any, issuer: TokenIssuer, dpop_key: DPoPKey
) -> None:
    public = "https://api.example.com/v1"
    guard = make_guard("dpop", public_url=public)
    url = request_url(
        public_url=public, scheme="http", host="10.0.0.5", port=8000, path="/appointments"
    )
    token = issuer.mint(cnf=dpop_key.cnf)
    ok = dpop_key.proof("GET", "https://api.example.com/v1/appointments", access_token=token)
    verified = guard.authenticate(dpop_request(token, ok, url=url))
    assert verified.subject == "auth0|user-1"
    internal = dpop_key.proof("GET", "http://10.0.0.5:8000/appointments", access_token=token)
    proof_refused(guard, dpop_request(token, internal, url=url), "htu")


# -- iat / jti / ath / jkt ---------------------------------------------------------------


@pytest.mark.parametrize(("offset", "ok"), [(-60, True), (-61, False), (5, True), (6, False)])
def test_iat_window(
    guard: Any, bound: str, dpop_key: DPoPKey, clock: Any, offset: int, ok: bool
) -> None:
    proof = dpop_key.proof("GET", URL, access_token=bound, iat=clock() + offset)
    ctx = dpop_request(bound, proof)
    if ok:
        verified = guard.authenticate(ctx)
        assert verified.subject == "auth0|user-1"
    else:
        proof_refused(
            guard, ctx, "iat", "dpop_proof_expired" if offset < 0 else "dpop_proof_future"
        )


@pytest.mark.parametrize("iat", ["1800000000", True, None, 1e400])
def test_iat_not_a_number(guard: Any, bound: str, dpop_key: DPoPKey, iat: Any) -> None:
    if iat is None:
        proof = dpop_key.proof("GET", URL, access_token=bound, drop=["iat"])
    elif iat == 1e400:
        proof = dpop_key.proof("GET", URL, access_token=bound, claims={"iat": 10**400})
    else:
        proof = dpop_key.proof("GET", URL, access_token=bound, claims={"iat": iat})
    with pytest.raises(InvalidDPoPProof, match="iat"):
        guard.authenticate(dpop_request(bound, proof))


@pytest.mark.parametrize("jti", ["", "x" * 257, 17, None])
def test_bad_jti(guard: Any, bound: str, dpop_key: DPoPKey, jti: Any) -> None:
    if jti is None:
        proof = dpop_key.proof("GET", URL, access_token=bound, drop=["jti"])
    else:
        proof = dpop_key.proof("GET", URL, access_token=bound, claims={"jti": jti})
    proof_refused(guard, dpop_request(bound, proof), "jti")


def test_ath_missing_or_wrong(
    guard: Any, bound: str, dpop_key: DPoPKey, issuer: TokenIssuer
) -> None:
    proof_refused(guard, dpop_request(bound, dpop_key.proof("GET", URL)), "ath")
    other = issuer.mint(cnf=dpop_key.cnf)
    proof = dpop_key.proof("GET", URL, access_token=other)
    proof_refused(guard, dpop_request(bound, proof), "ath")
    proof = dpop_key.proof("GET", URL, access_token=bound, claims={"ath": ["x"]})
    proof_refused(guard, dpop_request(bound, proof), "ath")


def test_proof_key_not_the_bound_key(
    guard: Any, issuer: TokenIssuer, dpop_key: DPoPKey, dpop_keys: dict[str, DPoPKey]
) -> None:
    """RFC 9449 §7.1: a valid proof by another key than cnf.jkt fails the token's binding."""
    thief = dpop_keys["EdDSA"]
    token = issuer.mint(cnf=dpop_key.cnf)
    proof = thief.proof("GET", URL, access_token=token)
    with pytest.raises(InvalidToken) as info:
        guard.authenticate(dpop_request(token, proof))
    assert type(info.value) is InvalidToken
    assert info.value.reason == "dpop_key_mismatch"
    status, headers, body = render_error(info.value, guard.challenge)
    assert status == 401
    description = "the DPoP proof key does not match the token's binding"
    assert dict(headers)["www-authenticate"] == (
        'Bearer realm="api", '
        f'DPoP error="invalid_token", error_description="{description}", '
        'algs="ES256 PS256 RS256 EdDSA"'
    )
    assert json.loads(body) == {"error": "invalid_token", "error_description": description}


def test_proof_key_mismatch_under_required_dpop(
    make_guard: Any, issuer: TokenIssuer, dpop_key: DPoPKey, dpop_keys: dict[str, DPoPKey]
) -> None:
    guard = make_guard("dpop", required=True)
    token = issuer.mint(cnf=dpop_key.cnf)
    proof = dpop_keys["PS256"].proof("GET", URL, access_token=token)
    with pytest.raises(InvalidToken) as info:
        guard.authenticate(dpop_request(token, proof))
    _, headers, _ = render_error(info.value, guard.challenge)
    assert dict(headers)["www-authenticate"] == (
        'DPoP error="invalid_token", '
        'error_description="the DPoP proof key does not match the token\'s binding", '
        'algs="ES256 PS256 RS256 EdDSA"'
    )


def test_invalid_proof_by_another_key_is_an_invalid_proof(
    guard: Any, issuer: TokenIssuer, dpop_key: DPoPKey, dpop_keys: dict[str, DPoPKey]
) -> None:
    """A proof that is itself invalid stays invalid_dpop_proof, whatever its key."""
    token = issuer.mint(cnf=dpop_key.cnf)
    stale = dpop_keys["EdDSA"].proof("GET", URL, access_token=token, claims={"htm": "POST"})
    proof_refused(guard, dpop_request(token, stale), "htm")


# -- scheme and binding rules --------------------------------------------------------------


def test_dpop_bound_token_as_bearer(guard: Any, bound: str, dpop_key: DPoPKey) -> None:
    ctx = request(bound, headers=[("DPoP", dpop_key.proof("GET", URL, access_token=bound))])
    with pytest.raises(InvalidToken) as info:
        guard.authenticate(ctx)
    assert info.value.reason == "dpop_token_as_bearer"
    assert not isinstance(info.value, InvalidDPoPProof)
    challenge = dict(render_error(info.value, guard.challenge)[1])["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"')
    assert "DPoP algs=" in challenge


def test_dpop_scheme_with_unbound_token(guard: Any, issuer: TokenIssuer, dpop_key: DPoPKey) -> None:
    token = issuer.mint()
    ctx = dpop_request(token, dpop_key.proof("GET", URL, access_token=token))
    with pytest.raises(InvalidToken) as info:
        guard.authenticate(ctx)
    assert info.value.reason == "unbound_dpop_token"
    challenge = dict(render_error(info.value, guard.challenge)[1])["www-authenticate"]
    assert 'DPoP error="invalid_token"' in challenge


def test_optional_accepts_bearer(guard: Any, issuer: TokenIssuer) -> None:
    verified = guard.authenticate(request(issuer.mint()))
    assert verified.cnf is None
    _, headers, _ = render_error(InvalidToken("x"), guard.challenge)
    assert 'Bearer error="invalid_token"' in dict(headers)["www-authenticate"]


def test_required_refuses_bearer_with_dpop_challenge(make_guard: Any, issuer: TokenIssuer) -> None:
    guard = make_guard("dpop", required=True)
    with pytest.raises(InvalidToken) as info:
        guard.authenticate(request(issuer.mint()))
    assert info.value.reason == "binding_required"
    challenge = dict(render_error(info.value, guard.challenge)[1])["www-authenticate"]
    assert challenge.startswith('DPoP error="invalid_token"')
    assert "Bearer" not in challenge


def test_required_for_public_clients(
    make_guard: Any, issuer: TokenIssuer, dpop_key: DPoPKey
) -> None:
    guard = make_guard("dpop", required_for="public_clients")
    m2m = issuer.mint(subject="svc@clients", claims={"gty": "client-credentials"})
    verified = guard.authenticate(request(m2m))
    assert verified.is_client is True
    with pytest.raises(InvalidToken) as info:
        guard.authenticate(request(issuer.mint()))
    challenge = dict(render_error(info.value, guard.challenge)[1])["www-authenticate"]
    assert 'DPoP error="invalid_token"' in challenge
    assert 'Bearer realm="api"' in challenge


def test_certificate_bound_token_under_dpop(
    guard: Any, issuer: TokenIssuer, cert_a: IssuedCert, dpop_key: DPoPKey
) -> None:
    token = issuer.mint(cnf=cert_a.cnf)
    with pytest.raises(InvalidToken) as info:
        guard.authenticate(request(token, cert=cert_a.der))
    assert info.value.reason == "unchecked_binding"
    token = issuer.mint(cnf={**dpop_key.cnf, **cert_a.cnf})
    ctx = dpop_request(token, dpop_key.proof("GET", URL, access_token=token))
    with pytest.raises(InvalidToken, match="client certificate"):
        guard.authenticate(ctx)


def test_missing_credentials_offers_both_schemes(guard: Any) -> None:
    from rs_guard.errors import MissingCredentials

    with pytest.raises(MissingCredentials) as info:
        guard.authenticate(request(None))
    challenge = dict(render_error(info.value, guard.challenge)[1])["www-authenticate"]
    assert challenge == 'Bearer realm="api", DPoP algs="ES256 PS256 RS256 EdDSA"'


def test_token_cache_hit_still_needs_a_proof(guard: Any, bound: str, dpop_key: DPoPKey) -> None:
    guard.authenticate(dpop_request(bound, dpop_key.proof("GET", URL, access_token=bound)))
    proof_refused(guard, dpop_request(bound, []), "no DPoP proof", "dpop_proof_missing")


# -- nonces (RFC 9449 §9) ------------------------------------------------------------------


def nonce_guard(make_guard: Any, secret: str | None = None) -> Any:
    return make_guard("dpop", dpop=DPoPOptions(nonce=True, nonce_lifetime=60, nonce_secret=secret))


def ask_nonce(guard: Any, token: str, key: DPoPKey, nonce: str | None = None) -> str:
    proof = key.proof("GET", URL, access_token=token, nonce=nonce)
    exc = proof_refused(
        guard, dpop_request(token, proof), "nonce", exc_reason(nonce), "use_dpop_nonce"
    )
    _, headers, body = render_error(exc, guard.challenge)
    assert 'DPoP error="use_dpop_nonce"' in dict(headers)["www-authenticate"]
    assert json.loads(body)["error"] == "use_dpop_nonce"
    return dict(headers)["dpop-nonce"]


def exc_reason(nonce: str | None) -> str:
    return "dpop_nonce_missing" if nonce is None else "dpop_nonce_stale"


def test_nonce_required_and_then_accepted(
    make_guard: Any, bound: str, dpop_key: DPoPKey, clock: Any
) -> None:
    guard = nonce_guard(make_guard)
    nonce = ask_nonce(guard, bound, dpop_key)
    proof = dpop_key.proof("GET", URL, access_token=bound, nonce=nonce)
    verified = guard.authenticate(dpop_request(bound, proof))
    assert verified.subject == "auth0|user-1"
    clock.advance(60)  # the previous window's nonce is still good
    proof = dpop_key.proof("GET", URL, access_token=bound, nonce=nonce)
    verified = guard.authenticate(dpop_request(bound, proof))
    assert verified.subject == "auth0|user-1"
    clock.advance(60)
    fresh = ask_nonce(guard, bound, dpop_key, nonce)
    assert fresh != nonce


def test_nonce_of_another_secret_is_refused(make_guard: Any, bound: str, dpop_key: DPoPKey) -> None:
    one, two = nonce_guard(make_guard), nonce_guard(make_guard)
    nonce = ask_nonce(one, bound, dpop_key)
    ask_nonce(two, bound, dpop_key, nonce)
    ask_nonce(one, bound, dpop_key, "x" * 24)


def test_shared_nonce_secret_across_guards(make_guard: Any, bound: str, dpop_key: DPoPKey) -> None:
    secret = "a shared nonce secret"
    one, two = nonce_guard(make_guard, secret), nonce_guard(make_guard, secret)
    nonce = ask_nonce(one, bound, dpop_key)
    proof = dpop_key.proof("GET", URL, access_token=bound, nonce=nonce)
    verified = two.authenticate(dpop_request(bound, proof))
    assert verified.subject == "auth0|user-1"


# -- asyncio -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_guard_dpop(issuer: TokenIssuer, clock: Any, dpop_key: DPoPKey) -> None:
    config = issuer.config(proof_of_possession=ProofOfPossession("dpop"))
    guard = AsyncGuard(config, clock=clock, transport=issuer.transport())
    try:
        token = issuer.mint(cnf=dpop_key.cnf)
        proof = dpop_key.proof("GET", URL, access_token=token)
        verified = await guard.authenticate(dpop_request(token, proof))
        assert verified.subject == "auth0|user-1"
        with pytest.raises(InvalidDPoPProof, match="already used"):
            await guard.authenticate(dpop_request(token, proof))
        with pytest.raises(InvalidDPoPProof, match="htm"):
            await guard.authenticate(
                dpop_request(token, dpop_key.proof("PUT", URL, access_token=token))
            )
    finally:
        await guard.aclose()


# -- settings ------------------------------------------------------------------------------


def test_nonce_secret_from_environment() -> None:
    from rs_guard.loaders import settings_from_env

    env = {"RS_GUARD_DPOP_NONCE": "true", "RS_GUARD_DPOP_NONCE_SECRET": "s" * 20}
    options = settings_from_env(env)["dpop"]
    assert options.nonce
    assert options.nonce_secret == "s" * 20
    assert "s" * 20 not in repr(options)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"nonce_secret": "short"}, "dpop.nonce_secret"),
        ({"max_age": 0}, "dpop.max_age"),
        ({"max_future": 301}, "dpop.max_age"),
        ({"nonce_lifetime": 0.5}, "dpop.nonce_lifetime"),
        ({"algorithms": ("HS256",)}, "dpop.algorithms"),
    ],
)
def test_bad_dpop_options(kwargs: dict[str, Any], field: str) -> None:
    from rs_guard.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        DPoPOptions(**kwargs)
    assert info.value.field == field


def test_custom_replay_store_is_used(
    make_guard: Any, issuer: TokenIssuer, dpop_key: DPoPKey
) -> None:
    seen: list[tuple[str, float]] = []

    class Recorder:
        def remember(self, key: str, expires_at: float) -> bool:
            seen.append((key, expires_at))
            return True

        async def aremember(self, key: str, expires_at: float) -> bool:
            return self.remember(key, expires_at)

        def close(self) -> None:
            pass

        async def aclose(self) -> None:
            pass

    guard = make_guard("dpop", replay_store=Recorder())
    token = issuer.mint(cnf=dpop_key.cnf)
    proof = dpop_key.proof("GET", URL, access_token=token, iat=dpop_key.clock() - 10)
    guard.authenticate(dpop_request(token, proof))
    guard.authenticate(dpop_request(token, proof))  # this store never refuses
    assert len(seen) == 2
    assert seen[0][0] == seen[1][0]
    assert token not in seen[0][0]
    assert seen[0][1] == dpop_key.clock() - 10 + 60 + 1


def test_truncated_signature(guard: Any, bound: str, dpop_key: DPoPKey) -> None:
    proof = dpop_key.proof("GET", URL, access_token=bound)
    proof_refused(guard, dpop_request(bound, proof[:-10]), "signature", "dpop_bad_signature")


def test_oversized_rsa_key(make_guard: Any, issuer: TokenIssuer, dpop_key: DPoPKey) -> None:
    import secrets

    from rs_guard._jose import b64url_encode
    from rs_guard.binding.thumbprint import jwk_thumbprint

    modulus = secrets.randbits(8300) | (1 << 8299) | 1
    jwk = {"kty": "RSA", "e": "AQAB", "n": b64url_encode(modulus.to_bytes(1038, "big"))}
    token = issuer.mint(cnf={"jkt": jwk_thumbprint(jwk)})
    header = {"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk}
    claims = {"htm": "GET", "htu": URL, "iat": int(dpop_key.clock()), "jti": "big"}
    encoded = [b64url_encode(json.dumps(part).encode()) for part in (header, claims)]
    proof = ".".join([*encoded, "AAAA"])  # refused before any signature check
    proof_refused(make_guard("dpop"), dpop_request(token, proof), "2048 to 8192 bits")


# -- nothing of the proof is echoed ----------------------------------------------------------

ODD = 'q9Z"\\<evil>\u2028\x7f' + "A" * 6000


@pytest.mark.parametrize(
    ("part", "name"),
    [
        ("headers", "typ"),
        ("headers", "crit"),
        ("headers", "jwk"),
        ("jwk", "kty"),
        ("jwk", "crv"),
        ("jwk", "x"),
        ("claims", "htm"),
        ("claims", "htu"),
        ("claims", "iat"),
        ("claims", "jti"),
        ("claims", "ath"),
        ("claims", "nonce"),
    ],
)
def test_no_proof_text_in_the_answer(
    make_guard: Any, bound: str, dpop_key: DPoPKey, part: str, name: str
) -> None:
    guard = make_guard("dpop", dpop=DPoPOptions(nonce=True, nonce_secret="s" * 32))
    options: dict[str, Any] = {"access_token": bound}
    if part == "jwk":
        options["headers"] = {"jwk": {**dpop_key.jwk, name: ODD}}
    else:
        options[part] = {name: ODD}
    proof = dpop_key.proof("GET", URL, **options)
    with pytest.raises(InvalidDPoPProof) as info:
        guard.authenticate(dpop_request(bound, proof))
    _, headers, body = render_error(info.value, guard.challenge)
    challenge = dict(headers)["www-authenticate"]
    for text in (
        info.value.description,
        challenge,
        body.decode(),
        dict(headers).get("dpop-nonce", ""),
    ):
        assert "q9Z" not in text
        assert "AAAAAAAA" not in text
    assert len(info.value.description) < 120
    assert len(challenge) < 250
