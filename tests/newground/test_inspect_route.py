"""``rs-guard inspect`` with a route's requirements: scope, acr, auth_time and
authorization_details checks, and the route's verdict."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest

from rs_guard.cli import main
from rs_guard.testing import TokenIssuer

PAY = '{"type": "payment_initiation", "actions": ["initiate"]}'
ROUTE = ["--scope", "pay", "--acr-values", "mfa phr", "--max-age", "300"]


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    return TokenIssuer(algorithm="HS256", clock=time.time)


def inspect(issuer: TokenIssuer, token: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["inspect", token, "--json", *extra],
        environ=issuer.environ(),
        stdout=out,
        stderr=err,
        stdin=io.StringIO(""),
    )
    return code, (json.loads(out.getvalue()) if out.getvalue() else {}), err.getvalue()


def route_checks(report: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    names = {"scopes", "acr", "auth_time", "authorization_details"}
    return {c["name"]: (c["status"], c["reason"]) for c in report["checks"] if c["name"] in names}


def test_every_route_check_passes(issuer: TokenIssuer) -> None:
    token = issuer.mint(
        scopes=["pay"],
        claims={
            "acr": "phr",
            "auth_time": int(time.time()) - 60,
            "authorization_details": [{"type": "payment_initiation", "actions": ["initiate"]}],
        },
    )
    code, report, _ = inspect(issuer, token, *ROUTE, "--authorization-details", PAY)
    assert code == 0
    assert report["verdict"] == {"accepted": True}
    assert route_checks(report) == {
        "scopes": ("pass", None),
        "acr": ("pass", None),
        "auth_time": ("pass", None),
        "authorization_details": ("pass", None),
    }


def test_each_failure_is_listed_and_the_first_is_the_verdict(issuer: TokenIssuer) -> None:
    token = issuer.mint(scopes=["pay"], claims={"acr": "pwd", "auth_time": 0})
    code, report, _ = inspect(issuer, token, *ROUTE, "--authorization-details", PAY)
    assert code == 1
    assert route_checks(report) == {
        "scopes": ("pass", None),
        "acr": ("fail", "insufficient_user_authentication"),
        "auth_time": ("fail", "insufficient_user_authentication"),
        "authorization_details": ("fail", "insufficient_authorization_details"),
    }
    assert report["verdict"] == {
        "accepted": False,
        "status": 401,
        "error": "insufficient_user_authentication",
        "reason": "insufficient_user_authentication",
        "description": "the authentication context (acr) is not one this route accepts; "
        "the user authenticated more than 300 seconds ago",
    }


def test_a_refused_token_skips_the_route_checks(issuer: TokenIssuer) -> None:
    token = issuer.mint(scopes=["pay"], expires_in=-3600)
    code, report, _ = inspect(issuer, token, "--acr-values", "mfa")
    assert code == 1
    assert route_checks(report) == {"acr": ("skip", None)}
    assert report["verdict"]["reason"] == "expired"


def test_without_route_options_nothing_changes(issuer: TokenIssuer) -> None:
    code, report, _ = inspect(issuer, issuer.mint())
    assert code == 0
    assert route_checks(report) == {}


@pytest.mark.parametrize(
    "extra",
    [
        ["--authorization-details", "{not json"],
        ["--authorization-details", '["x"]'],
        ["--max-age", "-1"],
    ],
)
def test_malformed_route_options_are_usage_errors(issuer: TokenIssuer, extra: list[str]) -> None:
    code, report, err = inspect(issuer, issuer.mint(), *extra)
    assert code == 2
    assert report == {}
    assert err.startswith("rs-guard inspect: ")


def test_auth_time_is_judged_with_the_configured_leeway_and_the_given_clock() -> None:
    now = 1_800_000_000.0
    issuer = TokenIssuer(algorithm="HS256", clock=lambda: now)
    token = issuer.mint(claims={"auth_time": int(now) - 300 - 45})  # 45 s past max_age

    def run(leeway: str) -> tuple[int, dict[str, Any]]:
        out = io.StringIO()
        code = main(
            ["inspect", token, "--json", "--max-age", "300"],
            environ={**issuer.environ(), "RS_GUARD_LEEWAY": leeway},
            stdout=out,
            stderr=io.StringIO(),
            stdin=io.StringIO(""),
            clock=lambda: now,
        )
        return code, json.loads(out.getvalue())

    code, report = run("60")
    assert (code, route_checks(report)) == (0, {"auth_time": ("pass", None)})
    code, report = run("30")
    assert (code, route_checks(report)) == (
        1,
        {"auth_time": ("fail", "insufficient_user_authentication")},
    )
    assert report["verdict"]["description"] == "the user authenticated more than 300 seconds ago"


def test_text_verdict_names_the_route_requirements(issuer: TokenIssuer) -> None:
    token = issuer.mint(claims={"acr": "mfa"})
    out = io.StringIO()
    code = main(
        ["inspect", token, "--acr-values", "mfa"],
        environ=issuer.environ(),
        stdout=out,
        stderr=io.StringIO(),
        stdin=io.StringIO(""),
    )
    assert code == 0
    assert "  ok   acr " in out.getvalue()
    assert (
        "verdict: ACCEPTED (signature and claims; and the route's requirements)" in out.getvalue()
    )
