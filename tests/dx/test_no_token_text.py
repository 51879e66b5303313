"""Text from a token never reaches a log record or an answer (issues 10 and 11 follow-up).

Every refused token below carries one marker string in a place an attacker controls:
the ``iss``, ``kid``, ``typ``, ``alg``, ``sub``, ``aud``, ``crit`` of the token, the DPoP
proof's fields, a JWE header, a query-string token, a forwarded certificate header. The
marker must appear in no log record (every logger at DEBUG, message and attributes) and
in no answer (status line, headers, body), through the guard and through one adapter of
each shell (ASGI, WSGI).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rs_guard import AsyncGuard, Guard, RequestContext, RSGuardError
from rs_guard._jose import b64url_encode
from rs_guard.adapters.asgi import RSGuardMiddleware
from rs_guard.adapters.wsgi import RSGuardWSGIMiddleware
from rs_guard.config import ProofOfPossession
from rs_guard.errors import render_error
from rs_guard.observability import Outcome
from rs_guard.testing import TokenIssuer, tampered
from rs_guard.testing.asgi import asgi_client
from rs_guard.testing.pop import DPoPKey

MARK = "Zq7MARKq7Z"
URL = "https://api.test/orders"


def _segment(data: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(data).encode())


def marked_tokens(issuer: TokenIssuer) -> list[str]:
    """Refused tokens, each with the marker where the sender chooses the text."""
    jwe_header = {"alg": MARK, "enc": MARK, "cty": MARK, "kid": MARK}
    return [
        issuer.mint(claims={"iss": f"https://{MARK}.test/"}),
        issuer.mint(headers={"kid": MARK}),
        issuer.mint(headers={"typ": MARK}),
        issuer.mint(headers={"alg": MARK}),
        issuer.mint(headers={"crit": [MARK], MARK: 1}),
        issuer.mint(claims={"aud": MARK}),
        issuer.mint(claims={"sub": MARK}, expires_in=-600),
        tampered(issuer.mint(claims={"sub": MARK})),
        issuer.mint(claims={"scope": 7, "sub": MARK}),
        f"{_segment(jwe_header)}.{MARK}.{MARK}.{MARK}.{MARK}",
    ]


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="rs_guard")
    return caplog


def assert_no_marker(records: pytest.LogCaptureFixture, answers: list[str]) -> None:
    assert records.records, "nothing was logged: the test would prove nothing"
    for record in records.records:
        if record.name == "httpx" and "https://api.test/" in record.getMessage():
            continue  # the test's own HTTP client, not rs_guard
        text = record.getMessage() + repr(vars(record))
        assert MARK not in text, record.getMessage()
    for answer in answers:
        assert MARK not in answer


def rendered(exc: RSGuardError, guard: Guard | AsyncGuard) -> str:
    status, headers, body = render_error(exc, guard.challenge)
    return f"{status} {headers!r} {body!r}"


def test_the_guard_logs_and_answers_no_token_text(
    issuer: TokenIssuer, clock: Any, records: pytest.LogCaptureFixture
) -> None:
    seen: list[Outcome] = []
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    guard.observers.append(seen.append)
    guard.warm()
    answers: list[str] = []
    tokens = marked_tokens(issuer)
    for token in tokens:
        ctx = RequestContext("GET", URL, [("authorization", f"Bearer {token}")])
        with pytest.raises(RSGuardError) as caught:
            guard.authenticate(ctx)
        answers.append(rendered(caught.value, guard))
    query = RequestContext(
        "GET", f"{URL}?access_token={MARK}", [], query_string=f"access_token={MARK}"
    )
    with pytest.raises(RSGuardError) as caught:
        guard.authenticate(query)
    answers.append(rendered(caught.value, guard))
    assert MARK not in repr(query)
    guard.close()
    assert len(seen) == len(tokens) + 1
    assert all(not o.accepted for o in seen)
    assert_no_marker(records, answers + [repr(o) for o in seen])
    # Our own values are still named: the issuer of the forged-kid token, the kid of the
    # forged-issuer token (the key is held after warm()).
    assert seen[1].issuer == issuer.issuer
    assert seen[1].kid is not None
    assert seen[1].kid.startswith("unknown #")
    assert seen[0].kid == issuer.current.kid
    assert seen[0].issuer is not None
    assert seen[0].issuer.startswith("unknown #")
    # The same forged value gets the same stand-in (an operator can follow it).
    assert seen[0].issuer == guard_outcome_issuer(issuer, clock)


def guard_outcome_issuer(issuer: TokenIssuer, clock: Any) -> str | None:
    seen: list[Outcome] = []
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    guard.observers.append(seen.append)
    token = issuer.mint(claims={"iss": f"https://{MARK}.test/"})
    with pytest.raises(RSGuardError):
        guard.authenticate(RequestContext("GET", URL, [("authorization", f"Bearer {token}")]))
    guard.close()
    return seen[0].issuer


def test_dpop_proof_fields_never_reach_a_log_or_an_answer(
    issuer: TokenIssuer, clock: Any, records: pytest.LogCaptureFixture
) -> None:
    config = issuer.config(proof_of_possession=ProofOfPossession("dpop"))
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    key = DPoPKey(clock=clock)
    token = issuer.mint(cnf=key.cnf)
    proofs = [
        key.proof("GET", f"https://{MARK}.test/x", access_token=token),
        key.proof(MARK, URL, access_token=token),
        key.proof("GET", URL, access_token=token, claims={"jti": MARK * 40}),
        key.proof("GET", URL, access_token=MARK),
        key.proof("GET", URL, access_token=token, headers={"typ": MARK}),
        MARK,
    ]
    answers = []
    for proof in proofs:
        ctx = RequestContext("GET", URL, [("authorization", f"DPoP {token}"), ("dpop", proof)])
        with pytest.raises(RSGuardError) as caught:
            guard.authenticate(ctx)
        answers.append(rendered(caught.value, guard))
    guard.close()
    assert_no_marker(records, answers)


def test_a_forwarded_certificate_header_is_not_echoed(
    issuer: TokenIssuer, clock: Any, records: pytest.LogCaptureFixture
) -> None:
    config = issuer.config(
        proof_of_possession=ProofOfPossession("mtls"),
        client_cert_header="X-Client-Cert",
        trusted_proxies=["127.0.0.1"],
    )
    guard = Guard(config, transport=issuer.transport(), clock=clock)
    token = issuer.mint(cnf={"x5t#S256": "A" * 43})
    answers = []
    for value in (MARK, f"Cert={MARK}", f":{MARK}:", f"-----BEGIN CERTIFICATE-----{MARK}"):
        ctx = RequestContext(
            "GET",
            URL,
            [("authorization", f"Bearer {token}"), ("x-client-cert", value)],
            peer="127.0.0.1",
        )
        with pytest.raises(RSGuardError) as caught:
            guard.authenticate(ctx)
        assert caught.value.reason == "malformed_client_cert"
        answers.append(rendered(caught.value, guard))
    guard.close()
    assert_no_marker(records, answers)


def _answers(send: Callable[[dict[str, str], str], httpx.Response], tokens: list[str]) -> list[str]:
    answers = []
    for token in tokens:
        answer = send({"authorization": f"Bearer {token}"}, "/orders")
        assert answer.status_code in (400, 401, 503), answer.text
        answers.append(f"{answer.status_code} {answer.headers!r} {answer.text}")
    answer = send({}, f"/orders?access_token={MARK}")
    assert answer.status_code == 401
    answers.append(f"{answer.status_code} {answer.headers!r} {answer.text}")
    return answers


def test_the_asgi_shell_logs_and_answers_no_token_text(
    issuer: TokenIssuer, clock: Any, records: pytest.LogCaptureFixture
) -> None:
    async def orders(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    guard = AsyncGuard(issuer.config(), transport=issuer.transport(), clock=clock)
    app = Starlette(routes=[Route("/orders", orders)])
    wrapped = RSGuardMiddleware(app, guard=guard)
    with asgi_client(wrapped, base_url="https://api.test") as client:

        def send(headers: dict[str, str], path: str) -> httpx.Response:
            return client.get(path, headers=headers)

        assert send({"authorization": f"Bearer {issuer.mint()}"}, "/orders").status_code == 200
        answers = _answers(send, marked_tokens(issuer))
    assert_no_marker(records, answers)


def test_the_wsgi_shell_logs_and_answers_no_token_text(
    issuer: TokenIssuer, clock: Any, records: pytest.LogCaptureFixture
) -> None:
    def orders(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("content-type", "application/json")])
        return [b'{"ok": true}']

    guard = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    wrapped = RSGuardWSGIMiddleware(orders, guard=guard)
    with httpx.Client(
        transport=httpx.WSGITransport(app=wrapped), base_url="https://api.test"
    ) as client:

        def send(headers: dict[str, str], path: str) -> httpx.Response:
            return client.get(path, headers=headers)

        assert send({"authorization": f"Bearer {issuer.mint()}"}, "/orders").status_code == 200
        answers = _answers(send, marked_tokens(issuer))
    guard.close()
    assert_no_marker(records, answers)
