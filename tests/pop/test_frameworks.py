"""Proof of possession through both frameworks in process: FastAPI (AsyncGuard) and Flask.

Every DPoP and mTLS outcome the core tests check, seen as HTTP answers from real apps
built on the adapters: status, JSON body, ``WWW-Authenticate`` and ``DPoP-Nonce``.
"""

# No `from __future__ import annotations`: FastAPI must evaluate the local `auth`.

import warnings
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Security
from flask import Flask

from rs_guard import AccessToken, AsyncGuard, Guard
from rs_guard.adapters.fastapi import RSGuard as FastAPIGuard
from rs_guard.adapters.flask import RSGuard as FlaskGuard
from rs_guard.adapters.flask import current_token
from rs_guard.config import DPoPOptions, GuardConfig, ProofOfPossession
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import DPoPKey, IssuedCert

with warnings.catch_warnings():  # Starlette >= 1.x prefers httpx2 for its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

Answer = tuple[int, dict[str, str], dict[str, Any]]
Call = Callable[..., Answer]
CERT_HEADER = "X-SSL-Client-Cert"


class App:
    """One protected ``GET /me`` on a framework; ``call(headers, peer=)`` answers."""

    def __init__(self, framework: str, config: GuardConfig, issuer: TokenIssuer, clock: Any):
        self.framework = framework
        self.url = "http://testserver/me" if framework == "fastapi" else "http://localhost/me"
        if framework == "fastapi":
            self.guard: Any = AsyncGuard(config, clock=clock, transport=issuer.transport())
            auth = FastAPIGuard(guard=self.guard)
            app = FastAPI()
            auth.install(app)

            @app.get("/me")
            async def me(token: Annotated[AccessToken, Security(auth)]) -> dict[str, Any]:
                return token.to_dict()

            self.fastapi = app
        else:
            self.guard = Guard(config, clock=clock, transport=issuer.transport())
            flask_app = Flask(__name__)
            ext = FlaskGuard(flask_app, guard=self.guard)

            @flask_app.get("/me")
            @ext.require()
            def flask_me() -> dict[str, Any]:
                return current_token.to_dict()

            self.flask = flask_app

    def call(self, headers: dict[str, str], *, peer: str = "127.0.0.1") -> Answer:
        if self.framework == "fastapi":
            with TestClient(self.fastapi, client=(peer, 40000)) as client:
                reply = client.get("/me", headers=headers)
                return reply.status_code, dict(reply.headers), reply.json()
        client = self.flask.test_client()
        answer = client.get("/me", headers=headers, environ_base={"REMOTE_ADDR": peer})
        lowered = {k.lower(): v for k, v in answer.headers.items()}
        return answer.status_code, lowered, answer.get_json()


@pytest.fixture(params=["fastapi", "flask"])
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_app(framework: str, issuer: TokenIssuer, clock: Any) -> Callable[..., App]:
    def build(**overrides: Any) -> App:
        return App(framework, issuer.config(**overrides), issuer, clock)

    return build


def dpop_headers(token: str, proof: str | None) -> dict[str, str]:
    headers = {"Authorization": f"DPoP {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return headers


# name -> (status, error, words in the description)
DPOP_CASES: dict[str, tuple[int, str | None, str]] = {
    "valid": (200, None, ""),
    "no proof": (401, "invalid_dpop_proof", "no DPoP proof"),
    "malformed": (401, "invalid_dpop_proof", "malformed"),
    "typ": (401, "invalid_dpop_proof", "typ"),
    "private jwk": (401, "invalid_dpop_proof", "private"),
    "signature": (401, "invalid_dpop_proof", "signature"),
    "htm": (401, "invalid_dpop_proof", "htm"),
    "htu": (401, "invalid_dpop_proof", "htu"),
    "iat": (401, "invalid_dpop_proof", "too old"),
    "jti": (401, "invalid_dpop_proof", "jti"),
    "ath": (401, "invalid_dpop_proof", "ath"),
    "jkt": (401, "invalid_token", "does not match the token's binding"),
    "bound as bearer": (401, "invalid_token", "DPoP scheme"),
}


def dpop_case(case: str, key: DPoPKey, thief: DPoPKey, token: str, url: str) -> dict[str, str]:
    """The request headers of one case of :data:`DPOP_CASES`."""
    if case == "bound as bearer":
        return {"Authorization": f"Bearer {token}"}
    if case == "no proof":
        return dpop_headers(token, None)
    if case == "malformed":
        return dpop_headers(token, "not.a.jwt")
    signer, method, target, access_token = key, "GET", url, token
    options: dict[str, Any] = {}
    if case == "typ":
        options["headers"] = {"typ": "JWT"}
    elif case == "private jwk":
        options["headers"] = {"jwk": {**key.jwk, "d": "AAAA"}}
    elif case == "signature":
        signer, options["headers"] = thief, {"jwk": key.jwk}
    elif case == "htm":
        method = "POST"
    elif case == "htu":
        target = url + "/other"
    elif case == "iat":
        options["iat"] = key.clock() - 3600
    elif case == "jti":
        options["drop"] = ["jti"]
    elif case == "ath":
        access_token = token + "x"
    elif case == "jkt":
        signer = thief
    return dpop_headers(token, signer.proof(method, target, access_token=access_token, **options))


@pytest.mark.parametrize("case", list(DPOP_CASES))
def test_dpop_outcomes(
    make_app: Callable[..., App], issuer: TokenIssuer, dpop_keys: dict[str, DPoPKey], case: str
) -> None:
    app = make_app(proof_of_possession=ProofOfPossession("dpop"))
    key, thief = dpop_keys["ES256"], DPoPKey("ES256", clock=dpop_keys["ES256"].clock)
    token = issuer.mint(cnf=key.cnf)
    status, error, words = DPOP_CASES[case]
    got_status, headers, body = app.call(dpop_case(case, key, thief, token, app.url))
    assert got_status == status, body
    if error is None:
        assert body["cnf"] == key.cnf
        return
    assert body["error"] == error
    assert words in body["error_description"]
    challenge = headers["www-authenticate"]
    assert 'algs="ES256 PS256 RS256 EdDSA"' in challenge
    scheme = "Bearer" if case == "bound as bearer" else "DPoP"
    assert f'{scheme} error="{error}"' in challenge


def test_dpop_replay_and_unbound(
    make_app: Callable[..., App], issuer: TokenIssuer, dpop_key: DPoPKey
) -> None:
    app = make_app(proof_of_possession=ProofOfPossession("dpop"))
    token = issuer.mint(cnf=dpop_key.cnf)
    headers = dpop_headers(token, dpop_key.proof("GET", app.url, access_token=token))
    assert app.call(headers)[0] == 200
    status, _, body = app.call(headers)
    assert (status, body["error"]) == (401, "invalid_dpop_proof")
    assert "already used" in body["error_description"]
    unbound = issuer.mint()
    status, answer_headers, body = app.call(
        dpop_headers(unbound, dpop_key.proof("GET", app.url, access_token=unbound))
    )
    assert (status, body["error"]) == (401, "invalid_token")
    assert 'DPoP error="invalid_token"' in answer_headers["www-authenticate"]


def test_dpop_required_refuses_bearer(make_app: Callable[..., App], issuer: TokenIssuer) -> None:
    app = make_app(proof_of_possession=ProofOfPossession("dpop", required=True))
    status, headers, body = app.call({"Authorization": f"Bearer {issuer.mint()}"})
    assert (status, body["error"]) == (401, "invalid_token")
    assert headers["www-authenticate"].startswith('DPoP error="invalid_token"')
    assert "Bearer" not in headers["www-authenticate"]


def test_dpop_nonce_round_trip(
    make_app: Callable[..., App], issuer: TokenIssuer, dpop_key: DPoPKey
) -> None:
    app = make_app(proof_of_possession=ProofOfPossession("dpop"), dpop=DPoPOptions(nonce=True))
    token = issuer.mint(cnf=dpop_key.cnf)
    status, headers, body = app.call(
        dpop_headers(token, dpop_key.proof("GET", app.url, access_token=token))
    )
    assert (status, body["error"]) == (401, "use_dpop_nonce")
    assert 'DPoP error="use_dpop_nonce"' in headers["www-authenticate"]
    nonce = headers["dpop-nonce"]
    proof = dpop_key.proof("GET", app.url, access_token=token, nonce=nonce)
    assert app.call(dpop_headers(token, proof))[0] == 200


@pytest.mark.parametrize(
    ("which", "peer", "status", "words"),
    [
        ("a", "127.0.0.1", 200, ""),
        ("b", "127.0.0.1", 401, "not the one"),
        (None, "127.0.0.1", 401, "presented none"),
        ("garbage", "127.0.0.1", 401, "cannot be read"),
        ("a", "192.0.2.10", 401, "presented none"),
    ],
)
def test_mtls_outcomes(
    make_app: Callable[..., App],
    issuer: TokenIssuer,
    cert_a: IssuedCert,
    cert_b: IssuedCert,
    which: str | None,
    peer: str,
    status: int,
    words: str,
) -> None:
    app = make_app(
        proof_of_possession=ProofOfPossession("mtls", required=True),
        client_cert_header=CERT_HEADER,
    )
    headers = {"Authorization": f"Bearer {issuer.mint(cnf=cert_a.cnf)}"}
    value = {"a": cert_a.escaped, "b": cert_b.escaped, "garbage": "%2D%2D%2D"}.get(which or "")
    if value is not None:
        headers[CERT_HEADER] = value
    got, answer_headers, body = app.call(headers, peer=peer)
    assert got == status, body
    if status == 200:
        assert body["cnf"] == cert_a.cnf
    else:
        assert body["error"] == "invalid_token"
        assert words in body["error_description"]
        assert answer_headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_mtls_required_refuses_unbound(make_app: Callable[..., App], issuer: TokenIssuer) -> None:
    app = make_app(proof_of_possession=ProofOfPossession("mtls", required=True))
    status, _, body = app.call({"Authorization": f"Bearer {issuer.mint()}"})
    assert (status, body["error"]) == (401, "invalid_token")
    assert "certificate-bound" in body["error_description"]


def test_two_certificates_in_one_header_are_refused(
    make_app: Callable[..., App], issuer: TokenIssuer, cert_a: IssuedCert, cert_b: IssuedCert
) -> None:
    """gunicorn joins a repeated header with a comma: the first certificate is not taken."""
    app = make_app(
        proof_of_possession=ProofOfPossession("mtls", required=True),
        client_cert_header=CERT_HEADER,
    )
    headers = {"Authorization": f"Bearer {issuer.mint(cnf=cert_a.cnf)}"}
    for joined in (f"{cert_a.escaped},{cert_b.escaped}", f"{cert_a.escaped}, {cert_a.escaped}"):
        status, answer_headers, body = app.call({**headers, CERT_HEADER: joined})
        assert (status, body["error"]) == (401, "invalid_token"), body
        assert answer_headers["www-authenticate"] == (
            'Bearer error="invalid_token", error_description="the client certificate forwarded '
            f'in {CERT_HEADER} cannot be read: it holds more than one certificate"'
        )
