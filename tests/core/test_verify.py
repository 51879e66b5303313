"""Access-token verification: RFC 7515 §5.2, RFC 7519 §4.1/§7.2, RFC 8725 §3, RFC 9068 §2/§4."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterator
from hashlib import sha256
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import get_default_algorithms

from rs_guard import Guard, InvalidToken, KeysUnavailable
from rs_guard._jose import b64url_encode
from rs_guard.config import SubjectTypeAuthorization
from rs_guard.testing import JWKSServer, TokenIssuer, generate_key

ALGS = get_default_algorithms()
NOW = 1_800_000_000


def compact(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A compact JWS from any header and payload, signed by ``sign`` (no library checks)."""
    signing_input = (
        b64url_encode(json.dumps(header).encode())
        + "."
        + b64url_encode(json.dumps(payload).encode())
    )
    return signing_input + "." + b64url_encode(sign(signing_input.encode()))


class Recorder:
    """A transport serving an issuer's JWKS that records every URL asked for."""

    def __init__(self, issuer: TokenIssuer) -> None:
        self.issuer = issuer
        self.urls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        return self.issuer.handle(request)


@pytest.fixture
def recorder(issuer: TokenIssuer) -> Recorder:
    return Recorder(issuer)


@pytest.fixture
def guard(issuer: TokenIssuer, clock: Any, recorder: Recorder) -> Iterator[Guard]:
    g = Guard(issuer.config(), transport=httpx.MockTransport(recorder), clock=clock)
    yield g
    g.close()


def refused(guard: Guard, token: str, reason: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        guard.verify(token)
    assert caught.value.reason == reason, caught.value.description
    assert caught.value.status_code == 401
    if len(token) >= 8:
        assert token not in caught.value.description
    return caught.value


# -- every algorithm ------------------------------------------------------------------


def test_every_algorithm_verifies(any_issuer: TokenIssuer, clock: Any) -> None:
    guard = Guard(any_issuer.config(), transport=any_issuer.transport(), clock=clock)
    token = any_issuer.mint(scopes=["read:a"])
    verified = guard.verify(token)
    assert verified.scopes == {"read:a"}
    tampered = any_issuer.mint(scopes=["read:a", "admin"])
    forged = ".".join([*tampered.split(".")[:2], token.split(".")[2]])
    refused(guard, forged, "bad_signature")
    if any_issuer.algorithm == "HS256":
        assert any_issuer.jwks_requests == 0  # HS256 never looks at a JWKS
        assert guard.key_sets == {}


def test_a_token_signed_by_another_key_of_the_same_kid(issuer: TokenIssuer, guard: Guard) -> None:
    impostor = generate_key("RS256", kid=issuer.current.kid)
    refused(guard, issuer.mint(key=impostor), "bad_signature")


# -- algorithm pinned (RFC 8725 §3.1, §2.1) ------------------------------------------


def test_key_confusion_hs256_signed_with_the_public_key_is_refused(
    issuer: TokenIssuer, guard: Guard, recorder: Recorder
) -> None:
    public_pem = issuer.current.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk_text = json.dumps(issuer.current.public_jwk()).encode()
    for secret in (public_pem, jwk_text):
        header = {"alg": "HS256", "typ": "JWT", "kid": issuer.current.kid}
        token = compact(
            header, issuer.claims(), lambda data, s=secret: hmac.new(s, data, sha256).digest()
        )
        refused(guard, token, "wrong_algorithm")
    assert recorder.urls == []


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none", "typ": "JWT"},
        {"alg": "None", "typ": "JWT"},
        {"alg": "NONE", "typ": "JWT"},
        {"typ": "JWT"},
        {"alg": None, "typ": "JWT"},
        {"alg": ["RS256"], "typ": "JWT"},
        {"alg": "rs256", "typ": "JWT"},
        {"alg": "RS512", "typ": "JWT"},
        {"alg": "PS256", "typ": "JWT"},
        {"alg": "ES256", "typ": "JWT"},
        {"alg": "RS256 ", "typ": "JWT"},
    ],
)
def test_only_the_configured_algorithm(
    issuer: TokenIssuer, guard: Guard, recorder: Recorder, header: dict[str, Any]
) -> None:
    header = {**header, "kid": issuer.current.kid}
    for sign in (
        lambda data: b"",
        lambda data: ALGS["RS256"].sign(data, issuer.current.private_key),
    ):
        refused(guard, compact(header, issuer.claims(), sign), "wrong_algorithm")
    assert recorder.urls == []


def test_hs256_config_refuses_asymmetric_tokens(
    hs256_issuer: TokenIssuer, issuer: TokenIssuer, clock: Any
) -> None:
    guard = Guard(hs256_issuer.config(), clock=clock)
    token = issuer.mint(claims={"iss": hs256_issuer.issuer})
    refused(guard, token, "wrong_algorithm")
    wrong_secret = compact(
        {"alg": "HS256", "typ": "JWT"},
        hs256_issuer.claims(),
        lambda data: ALGS["HS256"].sign(data, b"another-secret-of-enough-length"),
    )
    refused(guard, wrong_secret, "bad_signature")


# -- headers the token may not use to find or trust a key (RFC 8725 §3.10) ----------------


def test_a_token_carrying_its_own_key_is_refused(
    issuer: TokenIssuer, guard: Guard, recorder: Recorder
) -> None:
    attacker = generate_key("RS256", kid="attacker")
    with JWKSServer(lambda: {"keys": [attacker.public_jwk()]}) as evil:
        for kid in ("attacker", issuer.current.kid):
            headers = {
                "kid": kid,
                "jwk": attacker.public_jwk(),
                "jku": evil.jwks_uri,
                "x5u": evil.base_url + "cert.pem",
                "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
            }
            token = issuer.mint(key=attacker, headers=headers)
            reason = "unknown_kid" if kid == "attacker" else "bad_signature"
            refused(guard, token, reason)
        assert evil.hits == {}
    assert set(recorder.urls) == {issuer.jwks_uri}


# -- crit and other header parameters (RFC 7515 §4.1.11) ---------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"crit": ["exp"]},
        {"crit": ["http://example.com/ext"], "http://example.com/ext": True},
        {"crit": []},
        {"b64": False, "crit": ["b64"]},
        {"b64": False},
        {"zip": "DEF"},
        {"enc": "A256GCM"},
    ],
)
def test_header_extensions_not_understood_are_refused(
    issuer: TokenIssuer, guard: Guard, headers: dict[str, Any]
) -> None:
    refused(guard, issuer.mint(headers=headers), "unsupported_header")


@pytest.mark.parametrize("kid", [7, ["k"], "k" * 257, {"k": 1}])
def test_a_kid_that_is_not_a_short_string(issuer: TokenIssuer, guard: Guard, kid: Any) -> None:
    refused(guard, issuer.mint(headers={"kid": kid}), "invalid_header")


# -- typ: Auth0 dialects and RFC 9068 --------------------------------------------------


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt", "at+jwt", "application/at+jwt"])
def test_auth0_dialect_accepts_jwt_types(issuer: TokenIssuer, guard: Guard, typ: str) -> None:
    verified = guard.verify(issuer.mint(headers={"typ": typ}))
    assert verified.subject == "auth0|user-1"


def test_auth0_dialect_accepts_a_token_without_typ(issuer: TokenIssuer, clock: Any) -> None:
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    claims = issuer.claims()
    token = compact(
        {"alg": "RS256", "kid": issuer.current.kid},
        claims,
        lambda data: ALGS["RS256"].sign(data, issuer.current.private_key),
    )
    verified = guard.verify(token)
    assert verified.subject == claims["sub"]


@pytest.mark.parametrize("typ", ["dpop+jwt", "JOSE", "secevent+jwt", "", 1, ["JWT"]])
def test_other_types_are_refused(issuer: TokenIssuer, guard: Guard, typ: Any) -> None:
    refused(guard, issuer.mint(headers={"typ": typ}), "wrong_type")


@pytest.fixture
def rfc9068(issuer: TokenIssuer, clock: Any) -> Iterator[tuple[TokenIssuer, Guard]]:
    issuer.token_dialect = "rfc9068_profile"
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    yield issuer, guard
    guard.close()


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+JWT"])
def test_rfc9068_accepts_at_jwt(rfc9068: tuple[TokenIssuer, Guard], typ: str) -> None:
    issuer, guard = rfc9068
    token = guard.verify(issuer.mint(headers={"typ": typ}, client_id="app-7"))
    assert token.client_id == "app-7"


@pytest.mark.parametrize("typ", ["JWT", "application/jwt", "jwt", "at+jwt ", None, 5])
def test_rfc9068_refuses_other_types(rfc9068: tuple[TokenIssuer, Guard], typ: Any) -> None:
    issuer, guard = rfc9068
    refused(guard, issuer.mint(headers={"typ": typ}), "wrong_type")


def test_rfc9068_refuses_a_token_without_typ(rfc9068: tuple[TokenIssuer, Guard]) -> None:
    issuer, guard = rfc9068
    token = compact(
        {"alg": "RS256", "kid": issuer.current.kid},
        issuer.claims(),
        lambda data: ALGS["RS256"].sign(data, issuer.current.private_key),
    )
    refused(guard, token, "wrong_type")


@pytest.mark.parametrize("claim", ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"])
def test_rfc9068_required_claims(rfc9068: tuple[TokenIssuer, Guard], claim: str) -> None:
    issuer, guard = rfc9068
    refused(guard, issuer.mint(drop=[claim]), "missing_claim")
    refused(guard, issuer.mint(claims={claim: None}), "missing_claim")


@pytest.mark.parametrize("claim", ["iss", "exp", "aud", "sub", "iat"])
def test_auth0_dialect_required_claims(issuer: TokenIssuer, guard: Guard, claim: str) -> None:
    refused(guard, issuer.mint(drop=[claim]), "missing_claim")


def test_auth0_dialect_does_not_need_client_id_or_jti(issuer: TokenIssuer, guard: Guard) -> None:
    token = guard.verify(issuer.mint(drop=["jti", "azp"]))
    assert token.client_id is None


# -- iss and aud (RFC 7519 §4.1.1, §4.1.3) -----------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        "https://tenant.rs-guard.test",
        "https://TENANT.rs-guard.test/",
        "https://tenant.rs-guard.test/ ",
        "http://tenant.rs-guard.test/",
        "https://tenant.rs-guard.test//",
        "https://evil.test/",
        "",
    ],
)
def test_iss_must_match_exactly(
    issuer: TokenIssuer, guard: Guard, recorder: Recorder, iss: str
) -> None:
    refused(guard, issuer.mint(claims={"iss": iss}), "wrong_issuer")
    assert recorder.urls == []


@pytest.mark.parametrize("iss", [5, ["https://tenant.rs-guard.test/"], {"a": 1}, True])
def test_iss_of_the_wrong_type(issuer: TokenIssuer, guard: Guard, iss: Any) -> None:
    refused(guard, issuer.mint(claims={"iss": iss}), "wrong_issuer")


def test_additional_issuers_have_their_own_keys(issuer: TokenIssuer, clock: Any) -> None:
    other = TokenIssuer(issuer="https://custom.rs-guard.test/", key=issuer.current)
    other.clock = clock

    def handler(request: httpx.Request) -> httpx.Response:
        return (
            issuer.handle(request)
            if str(request.url).startswith(issuer.issuer)
            else other.handle(request)
        )

    guard = Guard(
        issuer.config(additional_issuers=(other.issuer,)),
        transport=httpx.MockTransport(handler),
        clock=clock,
    )
    verified = guard.verify(other.mint())
    assert verified.issuer == other.issuer
    verified = guard.verify(issuer.mint())
    assert verified.issuer == issuer.issuer
    assert other.jwks_requests == 1
    assert issuer.jwks_requests == 1


@pytest.mark.parametrize(
    "aud",
    [
        "https://api.rs-guard.test",
        ["https://api.rs-guard.test"],
        ["https://other", "https://api.rs-guard.test"],
    ],
)
def test_aud_string_or_list_containing_the_identifier(
    issuer: TokenIssuer, guard: Guard, aud: Any
) -> None:
    token = guard.verify(issuer.mint(claims={"aud": aud}))
    assert "https://api.rs-guard.test" in token.audiences


@pytest.mark.parametrize(
    ("aud", "reason"),
    [
        ("https://other", "wrong_audience"),
        (["https://other"], "wrong_audience"),
        ("https://api.rs-guard.test/", "wrong_audience"),
        ("HTTPS://api.rs-guard.test", "wrong_audience"),
        ([], "invalid_claim"),
        (["https://api.rs-guard.test", 1], "invalid_claim"),
        (["https://api.rs-guard.test", None], "invalid_claim"),
        ([["https://api.rs-guard.test"]], "invalid_claim"),
        (1, "invalid_claim"),
        ({"aud": "https://api.rs-guard.test"}, "invalid_claim"),
        (True, "invalid_claim"),
    ],
)
def test_aud_refused(issuer: TokenIssuer, guard: Guard, aud: Any, reason: str) -> None:
    refused(guard, issuer.mint(claims={"aud": aud}), reason)


def test_additional_audiences(issuer: TokenIssuer, clock: Any) -> None:
    guard = Guard(
        issuer.config(additional_audiences=("https://api-v2",)),
        transport=issuer.transport(),
        clock=clock,
    )
    verified = guard.verify(issuer.mint(claims={"aud": "https://api-v2"}))
    assert verified.subject == "auth0|user-1"


# -- times (RFC 7519 §4.1.4-§4.1.6) with the leeway ----------------------------------


@pytest.fixture
def uncached(issuer: TokenIssuer, clock: Any) -> Iterator[Guard]:
    g = Guard(issuer.config(token_cache_size=0), transport=issuer.transport(), clock=clock)
    yield g
    g.close()


def test_exp_boundary_with_leeway(issuer: TokenIssuer, uncached: Guard, clock: Any) -> None:
    token = issuer.mint(expires_in=100)
    clock.advance(100 + 10 - 0.001)
    verified = uncached.verify(token)
    assert verified.subject == "auth0|user-1"
    clock.advance(0.001)
    refused(uncached, token, "expired")


def test_nbf_boundary_with_leeway(issuer: TokenIssuer, uncached: Guard) -> None:
    verified = uncached.verify(issuer.mint(claims={"nbf": NOW + 10}))
    assert verified.subject == "auth0|user-1"
    refused(uncached, issuer.mint(claims={"nbf": NOW + 10.001}), "not_yet_valid")
    verified = uncached.verify(issuer.mint(claims={"nbf": NOW - 1000}))
    assert verified.subject == "auth0|user-1"


def test_iat_boundary_with_leeway(issuer: TokenIssuer, uncached: Guard) -> None:
    verified = uncached.verify(issuer.mint(claims={"iat": NOW + 10}))
    assert verified.subject == "auth0|user-1"
    refused(uncached, issuer.mint(claims={"iat": NOW + 10.5}), "issued_in_future")


def test_leeway_zero(issuer: TokenIssuer, clock: Any) -> None:
    guard = Guard(
        issuer.config(leeway=0, token_cache_size=0), transport=issuer.transport(), clock=clock
    )
    token = issuer.mint(expires_in=5)
    clock.advance(4.999)
    verified = guard.verify(token)
    assert verified.subject == "auth0|user-1"
    clock.advance(0.001)
    refused(guard, token, "expired")
    refused(guard, issuer.mint(claims={"nbf": clock.now + 1}), "not_yet_valid")


def test_fractional_numeric_dates(issuer: TokenIssuer, uncached: Guard) -> None:
    token = uncached.verify(issuer.mint(claims={"exp": NOW + 60.5, "iat": NOW - 0.25}))
    assert token.expires_at == NOW + 60.5


def test_token_lifetime_ceiling(issuer: TokenIssuer, clock: Any) -> None:
    guard = Guard(issuer.config(token_lifetime=3600), transport=issuer.transport(), clock=clock)
    verified = guard.verify(issuer.mint(expires_in=3600 + 10))
    assert verified.subject == "auth0|user-1"
    refused(guard, issuer.mint(expires_in=3600 + 11), "lifetime_exceeded")


# -- wrong JSON types: invalid, never an exception ------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "1800003600"},
        {"exp": True},
        {"exp": False},
        {"exp": [NOW + 60]},
        {"exp": {"t": NOW}},
        {"exp": 10**400},
        {"exp": -(10**400)},
        {"nbf": "0"},
        {"nbf": None},
        {"nbf": True},
        {"iat": "now"},
        {"iat": 10**400},
        {"sub": 42},
        {"sub": ["auth0|x"]},
        {"sub": True},
        {"azp": 1},
        {"jti": 5},
        {"gty": ["client-credentials"]},
        {"scope": ["read:a"]},
        {"scope": None},
        {"permissions": "read:a"},
        {"permissions": [1]},
        {"permissions": None},
        {"cnf": "x"},
        {"cnf": ["x5t#S256"]},
        {"cnf": None},
    ],
)
def test_wrong_json_types_are_invalid(
    issuer: TokenIssuer, guard: Guard, recorder: Recorder, claims: dict[str, Any]
) -> None:
    refused(guard, issuer.mint(claims=claims), "invalid_claim")
    assert recorder.urls == []


def test_infinite_numbers_in_json_are_invalid(issuer: TokenIssuer, guard: Guard) -> None:
    header, _, signature = issuer.mint().split(".")
    text = json.dumps(issuer.claims()).replace(f'"exp": {NOW + 3600}', '"exp": 1e400')
    assert "1e400" in text
    token = ".".join([header, b64url_encode(text.encode()), signature])
    refused(guard, token, "invalid_claim")


def test_null_exp_is_missing(issuer: TokenIssuer, guard: Guard) -> None:
    refused(guard, issuer.mint(claims={"exp": None}), "missing_claim")


# -- malformed and oversized tokens ----------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x",
        "a.b",
        "a.b.c",
        "...",
        "eyJhbGciOiJSUzI1NiJ9.e30",
        "eyJhbGciOiJSUzI1NiJ9.e30.sig.more",
        "e30.e30.@@@",
        "W10.e30.c2ln",
        "e30.W10.c2ln",
        "eyJhbGciOiJSUzI1NiIsImFsZyI6Ik5vbmUifQ.e30.c2ln",
        "€.€.€",
        "\x00.\x00.\x00",
    ],
)
def test_malformed_tokens_are_invalid_token(guard: Guard, recorder: Recorder, token: str) -> None:
    refused(guard, token, "malformed")
    assert recorder.urls == []


def test_a_jwe_without_decryption_configured_is_invalid(guard: Guard) -> None:
    jwe = "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.a2V5.aXY.Y2lwaGVy.dGFn"
    error = refused(guard, jwe, "malformed")
    assert "encrypted" in error.description


def test_token_size_limit(issuer: TokenIssuer, clock: Any, recorder: Recorder) -> None:
    guard = Guard(
        issuer.config(max_token_bytes=1024), transport=httpx.MockTransport(recorder), clock=clock
    )
    big = issuer.mint(claims={"pad": "x" * 1200})
    refused(guard, big, "token_too_large")
    assert recorder.urls == []
    verified = guard.verify(issuer.mint())
    assert verified.subject == "auth0|user-1"


def test_the_default_limit_is_16_kib(issuer: TokenIssuer, guard: Guard) -> None:
    permissions = [f"read:resource-{i:05d}" for i in range(500)]
    large = issuer.mint(permissions=permissions)
    assert len(large) < 16 * 1024
    verified = guard.verify(large)
    assert verified.permissions == frozenset(permissions)
    refused(guard, issuer.mint(claims={"pad": "x" * 16 * 1024}), "token_too_large")


def test_a_non_text_token_is_invalid(guard: Guard) -> None:
    with pytest.raises(InvalidToken):
        guard.verify(b"eyJ.eyJ.sig")  # type: ignore[arg-type]


# -- kid selection ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_key_issuer() -> TokenIssuer:
    issuer = TokenIssuer(algorithm="ES256")
    issuer.rotate()
    return issuer


def test_kid_selects_the_key(two_key_issuer: TokenIssuer, clock: Any) -> None:
    two_key_issuer.clock = clock
    guard = Guard(two_key_issuer.config(), transport=two_key_issuer.transport(), clock=clock)
    old, new = two_key_issuer.keys
    verified = guard.verify(two_key_issuer.mint(key=old))
    assert verified.kid == old.kid
    verified = guard.verify(two_key_issuer.mint(key=new))
    assert verified.kid == new.kid
    swapped = two_key_issuer.mint(key=old, headers={"kid": new.kid})
    refused(guard, swapped, "bad_signature")
    refused(guard, two_key_issuer.mint(headers={"kid": "nope"}), "unknown_kid")


def test_a_token_without_kid_needs_a_one_key_set(
    two_key_issuer: TokenIssuer, issuer: TokenIssuer, guard: Guard, clock: Any
) -> None:
    two_key_issuer.clock = clock
    two = Guard(two_key_issuer.config(), transport=two_key_issuer.transport(), clock=clock)
    sign_two = lambda data: ALGS["ES256"].sign(data, two_key_issuer.current.private_key)  # noqa: E731
    token = compact({"alg": "ES256", "typ": "JWT"}, two_key_issuer.claims(), sign_two)
    refused(two, token, "missing_kid")
    sign_one = lambda data: ALGS["RS256"].sign(data, issuer.current.private_key)  # noqa: E731
    single = compact({"alg": "RS256", "typ": "JWT"}, issuer.claims(), sign_one)
    verified = guard.verify(single)
    assert verified.kid is None


def test_small_rsa_keys_are_never_used(clock: Any) -> None:
    weak = TokenIssuer(key=generate_key("RS256", rsa_bits=1024), clock=clock)
    guard = Guard(weak.config(), transport=weak.transport(), clock=clock)
    with pytest.raises(KeysUnavailable):
        guard.verify(weak.mint())


def test_a_private_jwk_in_the_set_is_skipped(issuer: TokenIssuer, clock: Any) -> None:
    private = json.loads(ALGS["RS256"].to_jwk(issuer.current.private_key))
    private.update(kid=issuer.current.kid, use="sig", alg="RS256")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"keys": [private]})

    guard = Guard(issuer.config(), transport=httpx.MockTransport(handler), clock=clock)
    with pytest.raises(KeysUnavailable):
        guard.verify(issuer.mint())


# -- dialects, scopes, permissions, subject types ---------------------------------------


def test_scope_is_space_delimited(issuer: TokenIssuer, guard: Guard) -> None:
    token = guard.verify(issuer.mint(claims={"scope": " read:a  write:a read:a "}))
    assert token.scopes == {"read:a", "write:a"}
    verified = guard.verify(issuer.mint(claims={"scope": ""}))
    assert verified.scopes == frozenset()
    verified = guard.verify(issuer.mint(drop=["scope"]))
    assert verified.scopes == frozenset()


def test_permissions_for_the_authz_dialects(issuer: TokenIssuer, clock: Any) -> None:
    issuer.token_dialect = "access_token_authz"
    enforce = Guard(issuer.config(enforce_policies=True), transport=issuer.transport(), clock=clock)
    token = enforce.verify(issuer.mint(scopes=["openid"], permissions=["read:a"]))
    assert token.permissions == {"read:a"}
    assert token.granted == {"read:a"}
    plain = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    token = plain.verify(issuer.mint(scopes=["openid"], permissions=["read:a"]))
    assert token.granted == {"openid"}


def test_the_access_token_object(issuer: TokenIssuer, guard: Guard) -> None:
    raw = issuer.mint(
        scopes=["read:a"],
        permissions=["p"],
        subject="auth0|42",
        client_id="app",
        cnf={"jkt": "abc"},
        claims={"https://example.com/roles": ["admin"]},
    )
    token = guard.verify(raw, binding_checked=True)
    assert token.raw == raw
    assert token.subject == "auth0|42"
    assert token.client_id == "app"
    assert token.issuer == issuer.issuer
    assert token.header["kid"] == issuer.current.kid
    assert token.kid == issuer.current.kid
    assert token.cnf == {"jkt": "abc"}
    assert token.issued_at == NOW
    assert token.expires_at == NOW + 3600
    assert token.not_before is None
    assert token.get("https://example.com/roles") == ["admin"]
    assert token.to_dict() == {
        "sub": "auth0|42",
        "client_id": "app",
        "scopes": ["read:a"],
        "permissions": ["p"],
        "cnf": {"jkt": "abc"},
    }
    assert raw not in repr(token)
    assert raw not in str(token)
    with pytest.raises(TypeError):
        token.claims["sub"] = "other"  # type: ignore[index]
    with pytest.raises(AttributeError):
        token.raw = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("policy", "token_kwargs", "refused_kind"),
    [
        ({"user": "deny_all"}, {}, True),
        ({"user": "deny_all"}, {"subject": "app@clients"}, False),
        ({"client": "deny_all"}, {"subject": "app@clients"}, True),
        ({"client": "deny_all"}, {"claims": {"gty": "client-credentials"}}, True),
        ({"client": "deny_all"}, {}, False),
        ({"user": "allow_all", "client": "require_client_grant"}, {"subject": "a@clients"}, False),
    ],
)
def test_subject_type_authorization(
    issuer: TokenIssuer,
    clock: Any,
    policy: dict[str, str],
    token_kwargs: dict[str, Any],
    refused_kind: bool,
) -> None:
    config = issuer.config(subject_type_authorization=SubjectTypeAuthorization(**policy))
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    token = issuer.mint(**token_kwargs)
    if refused_kind:
        refused(guard, token, "subject_type_denied")
    else:
        verified = guard.verify(token)
        assert verified.subject == token_kwargs.get("subject", "auth0|user-1")


def test_is_client_marks_machine_to_machine_tokens(issuer: TokenIssuer, guard: Guard) -> None:
    verified = guard.verify(issuer.mint(subject="app@clients"))
    assert verified.is_client is True
    verified = guard.verify(issuer.mint(claims={"gty": "client-credentials"}))
    assert verified.is_client is True
    assert not guard.verify(issuer.mint()).is_client


def test_descriptions_echo_nothing_of_the_token_header(issuer: TokenIssuer, guard: Guard) -> None:
    marker = "ATTACKER-CONTROLLED-" * 10
    sign = lambda data: ALGS["RS256"].sign(data, issuer.current.private_key)  # noqa: E731
    for header in ({"alg": marker}, {"alg": "RS256", "typ": marker}, {"alg": {"x": marker}}):
        token = compact({"kid": issuer.current.kid, **header}, issuer.claims(), sign)
        with pytest.raises(InvalidToken) as caught:
            guard.verify(token)
        assert marker not in caught.value.description
    with pytest.raises(InvalidToken) as caught:
        guard.verify(compact({"alg": "HS256"}, issuer.claims(), sign))
    assert "'HS256'" in caught.value.description  # a registered name may be named


# -- the named, ordered checks (issue 12: diagnostics run the same list) -------------------


def test_the_checks_are_named_and_ordered() -> None:
    from rs_guard.verify import TokenPolicy

    issuer = TokenIssuer(issuer="https://names.test/")
    names = [c.name for c in TokenPolicy(issuer.config()).checks]
    assert names == [
        "alg", "typ", "header", "kid", "required", "iss", "aud", "exp", "nbf", "iat", "claims"
    ]  # fmt: skip
    config = issuer.config(
        token_lifetime=3600,
        subject_type_authorization=SubjectTypeAuthorization(client="deny_all"),
    )
    assert [c.name for c in TokenPolicy(config).checks][-2:] == ["lifetime", "subject"]


def test_precheck_stops_at_the_first_failed_check() -> None:
    from rs_guard.verify import NamedCheck, TokenPolicy

    issuer = TokenIssuer(issuer="https://names.test/")
    policy = TokenPolicy(issuer.config())
    token = issuer.mint(expires_in=-600, claims={"iss": "https://evil.test/"})
    with pytest.raises(InvalidToken) as caught:
        policy.precheck(token, issuer.clock())
    assert caught.value.reason == "wrong_issuer"  # iss comes before exp
    # every rule of the list reports its own failure when run on its own
    ran: dict[str, str] = {}
    header, claims = policy.parse(token)[:2]
    for check in policy.checks:
        assert isinstance(check, NamedCheck)
        try:
            check.run(header, claims, issuer.clock())
        except InvalidToken as exc:
            ran[check.name] = str(exc.reason)
    assert ran == {"iss": "wrong_issuer", "exp": "expired"}


def test_diagnostics_use_no_private_verifier_state() -> None:
    import ast
    import inspect

    from rs_guard import diagnose, hints

    for module in (diagnose, hints):
        source = inspect.getsource(module)
        private = [
            node.attr
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.endswith("__")
        ]
        assert private == [], module.__name__
        assert "import re\n" not in source
