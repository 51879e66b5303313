"""rs_guard.testing for users: issuer per algorithm, token factory, wiring, fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from rs_guard import AccessToken, Guard, GuardConfig, InvalidToken, load_config
from rs_guard._jose import b64url_decode
from rs_guard.testing import FrozenClock, JWKSServer, TokenIssuer, tampered, unsigned


def header_of(token: str) -> dict:
    return json.loads(b64url_decode(token.split(".")[0]))


def claims_of(token: str) -> dict:
    return json.loads(b64url_decode(token.split(".")[1]))


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "RS512", "ES256", "HS256"])
def test_every_algorithm_mints_tokens_the_guard_accepts(algorithm: str) -> None:
    issuer = TokenIssuer(algorithm=algorithm)
    guard = Guard(issuer.config(), transport=issuer.transport())
    token = guard.verify(issuer.mint(scopes=["read:a"]))
    assert token.scopes == {"read:a"}
    assert token.header["alg"] == algorithm
    if algorithm == "HS256":
        assert issuer.jwks() == {"keys": []}
    else:
        [jwk] = issuer.jwks()["keys"]
        assert jwk["alg"] == algorithm
        assert not {"d", "p", "q"} & set(jwk)  # public half only
    guard.close()


def test_rotation_keeps_old_tokens_valid_until_the_old_key_goes(clock: FrozenClock) -> None:
    issuer = TokenIssuer(clock=clock)
    guard = Guard(issuer.config(jwks=_quick_jwks()), transport=issuer.transport(), clock=clock)
    old = issuer.mint()
    guard.verify(old)
    issuer.rotate()
    new = issuer.mint()
    assert header_of(new)["kid"] != header_of(old)["kid"]
    clock.advance(2)  # past the refetch cooldown
    verified = guard.verify(new)
    assert verified.kid == issuer.current.kid
    issuer.rotate(keep_old=False)
    clock.advance(120)
    guard.token_cache.clear()
    with pytest.raises(InvalidToken):
        guard.verify(old)
    guard.close()


def _quick_jwks():  # type: ignore[no-untyped-def]
    from rs_guard import JWKSOptions

    return JWKSOptions(ttl=60, min_ttl=60, cooldown=1)


@pytest.mark.parametrize(
    ("dialect", "typ", "client_claim"),
    [
        ("access_token", "JWT", "azp"),
        ("access_token_authz", "JWT", "azp"),
        ("rfc9068_profile", "at+jwt", "client_id"),
        ("rfc9068_profile_authz", "at+jwt", "client_id"),
    ],
)
def test_from_config_follows_the_dialect(dialect: str, typ: str, client_claim: str) -> None:
    config = GuardConfig(
        issuer="https://t.test/",
        audience="https://api.test",
        token_dialect=dialect,
        enforce_policies=True,
    )
    issuer = TokenIssuer.from_config(config)
    token = issuer.mint(scopes=["s"], permissions=["p"])
    assert header_of(token)["typ"] == typ
    assert client_claim in claims_of(token)
    guard = Guard(config, transport=issuer.transport())
    verified = guard.verify(token)
    assert verified.granted == ({"p"} if dialect.endswith("_authz") else {"s"})
    guard.close()


def test_client_credentials_tokens(issuer: TokenIssuer) -> None:
    claims = claims_of(issuer.mint(client=True, client_id="svc"))
    assert claims["sub"] == "svc@clients"
    assert claims["gty"] == "client-credentials"


def test_every_claim_and_header_can_be_overridden_or_dropped(issuer: TokenIssuer) -> None:
    token = issuer.mint(
        claims={"https://example.com/roles": ["admin"], "scope": "x"},
        drop=["jti"],
        headers={"kid": "k2", "x-extra": 1},
        drop_headers=["typ"],
        cnf={"x5t#S256": "abc"},
    )
    header, claims = header_of(token), claims_of(token)
    assert header == {"alg": "RS256", "kid": "k2", "x-extra": 1}
    assert claims["https://example.com/roles"] == ["admin"]
    assert "jti" not in claims
    assert claims["cnf"] == {"x5t#S256": "abc"}


def test_tampered_and_unsigned_are_refused(issuer: TokenIssuer, clock: FrozenClock) -> None:
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    good = issuer.mint(scopes=["read"])
    with pytest.raises(InvalidToken) as bad:
        guard.verify(tampered(good))
    assert bad.value.reason == "bad_signature"
    assert claims_of(tampered(good))["scope"] == "read admin"
    with pytest.raises(InvalidToken) as none:
        guard.verify(unsigned(good))
    assert none.value.reason == "wrong_algorithm"
    assert unsigned(good).endswith(".")
    guard.close()


def test_environ_points_load_config_at_a_loopback_server(issuer: TokenIssuer) -> None:
    with JWKSServer(issuer.jwks) as server:
        config = load_config(issuer.environ(jwks_uri=server.jwks_uri))
        guard = Guard(config, clock=issuer.clock)
        verified = guard.verify(issuer.mint())
        assert verified.issuer == issuer.issuer
        guard.close()
        assert server.count() == 1


def test_frozen_clock() -> None:
    clock = FrozenClock(100)
    clock.advance(5)
    assert clock() == 105.0
    clock.set(7)
    assert clock() == 7.0
    assert abs(FrozenClock()() - __import__("time").time()) < 2


# -- the pytest plugin's fixtures, used exactly as a user would (no import) -----------


def test_plugin_fixtures_wire_a_guard(
    rs_guard_issuer: TokenIssuer,
    rs_guard_config: GuardConfig,
    rs_guard_transport: httpx.MockTransport,
    rs_guard_clock: FrozenClock,
) -> None:
    guard = Guard(rs_guard_config, transport=rs_guard_transport, clock=rs_guard_clock)
    token = rs_guard_issuer.mint(scopes=["a"])
    verified = guard.verify(token)
    assert verified.scopes == {"a"}
    rs_guard_clock.advance(3600 + 60)
    guard.token_cache.clear()
    with pytest.raises(InvalidToken, match="expired"):
        guard.verify(token)
    guard.close()


def test_plugin_env_fixture(rs_guard_env: dict[str, str], rs_guard_issuer: TokenIssuer) -> None:
    config = load_config()
    assert config.jwks_uri == rs_guard_env["RS_GUARD_JWKS_URI"]
    guard = Guard(config, clock=rs_guard_issuer.clock)
    verified = guard.verify(rs_guard_issuer.mint())
    assert verified.subject == "auth0|user-1"
    guard.close()


def test_plugin_issuer_reuses_one_session_key(
    rs_guard_issuer: TokenIssuer, rs_guard_signing_key
) -> None:
    assert rs_guard_issuer.current is rs_guard_signing_key


def test_nested_jwe_tokens(issuer: TokenIssuer, clock: FrozenClock) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from rs_guard import TokenEncryption

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    config = issuer.config(token_encryption=TokenEncryption(decryption_keys=(private_pem,)))
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    outer = issuer.encrypt(issuer.mint(scopes=["read:a"]), public_pem)
    assert outer.count(".") == 4
    verified = guard.verify(outer)
    assert verified.scopes == {"read:a"}
    with pytest.raises(InvalidToken) as refused:
        guard.verify(issuer.mint())
    assert refused.value.reason == "not_encrypted"
    guard.close()


class TestReadyClients:
    """rs_guard_client / rs_guard_bearer / rs_guard_app_config, without the session option."""

    @pytest.fixture(params=["flask", "fastapi"])
    def app(self, request: pytest.FixtureRequest) -> object:
        if request.param == "flask":
            from flask import Flask

            from rs_guard.adapters.flask import RSGuard, current_token

            config: dict[str, object] = request.getfixturevalue("rs_guard_app_config")
            flask_app = Flask(__name__)
            flask_app.config["RS_GUARD_DOMAIN"] = "production.eu.auth0.com"
            flask_app.config.update(config)
            guard = RSGuard(flask_app)

            @flask_app.get("/who")
            @guard.require("read:x")
            def who() -> dict[str, str]:
                return {"sub": current_token.subject}

            return flask_app
        from fastapi import FastAPI, Security

        from rs_guard.adapters.fastapi import RSGuard as FastAPIGuard

        request.getfixturevalue("rs_guard_env")
        auth = FastAPIGuard(load_config())
        api = FastAPI()
        auth.install(api)

        @api.get("/who")
        async def who_async(
            token: AccessToken = Security(auth, scopes=["read:x"]),  # noqa: B008
        ) -> dict[str, str]:
            return {"sub": token.subject}

        return api

    def test_client_and_bearer(
        self, rs_guard_client: httpx.Client, rs_guard_bearer: Callable[..., dict[str, str]]
    ) -> None:
        client, bearer = rs_guard_client, rs_guard_bearer
        good = client.get("/who", headers=bearer("read:x", subject="auth0|eve"))
        assert (good.status_code, good.json()) == (200, {"sub": "auth0|eve"})
        short = client.get("/who", headers=bearer("profile"))
        assert short.status_code == 403
        assert short.json()["error"] == "insufficient_scope"
        bare = client.get("/who")
        assert bare.status_code == 401
        assert bare.headers["www-authenticate"] == 'Bearer realm="api"'

    def test_app_config_unsets_domain_and_file(
        self, rs_guard_app_config: dict[str, str | None], rs_guard_issuer: TokenIssuer
    ) -> None:
        assert rs_guard_app_config["RS_GUARD_DOMAIN"] is None
        assert rs_guard_app_config["RS_GUARD_CONFIG"] is None
        assert rs_guard_app_config["RS_GUARD_ISSUER"] == rs_guard_issuer.issuer
        assert rs_guard_app_config["RS_GUARD_JWKS_URI"].startswith("http://127.0.0.1:")  # type: ignore[union-attr]
