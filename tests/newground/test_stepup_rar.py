"""Step-up (RFC 9470) and RAR (RFC 9396) route requirements through FastAPI, Starlette,
Flask and Django: exact status, error, challenge and description for each refusal."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import Answer
from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from rs_guard import AsyncGuard, Guard, InsufficientUserAuthentication
from rs_guard.adapters.asgi import RSGuardMiddleware
from rs_guard.adapters.fastapi import RSGuard as FastAPIGuard
from rs_guard.adapters.flask import RSGuard as FlaskGuard
from rs_guard.adapters.flask import require
from rs_guard.adapters.starlette import requires
from rs_guard.config import GuardConfig
from rs_guard.errors import ConfigError
from rs_guard.rar import details
from rs_guard.requirements import Timing
from rs_guard.stepup import step_up
from rs_guard.testing import TokenIssuer

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PAY = {"type": "payment_initiation", "actions": ["initiate"], "currency": "EUR"}
#: path -> the route decorator's keyword arguments (and scopes)
ROUTES: dict[str, dict[str, Any]] = {
    "/mfa": {"acr_values": ["mfa", "phr"]},
    "/recent": {"max_age": 300},
    "/both": {"acr_values": ["mfa"], "max_age": 300},
    "/pay": {"authorization_details": PAY},
    "/pay-scoped": {"scopes": ["write:payments"], "authorization_details": [PAY]},
}
ACR_TEXT = "the authentication context (acr) is not one this route accepts"
OLD_TEXT = "the user authenticated more than 300 seconds ago"
NO_TIME_TEXT = "the token does not say when the user authenticated (auth_time)"
RAR_TEXT = (
    "the token's authorization_details grant no payment_initiation access "
    "matching what this route requires"
)


@pytest.fixture(scope="module")
def hs_issuer() -> TokenIssuer:
    return TokenIssuer(algorithm="HS256", clock=time.time)


Clock = Callable[[], float]


def _starlette(config: GuardConfig, clock: Clock | None = None) -> Callable[[], Any]:
    def make(path: str, spec: dict[str, Any]) -> Route:
        spec = dict(spec)

        @requires(*spec.pop("scopes", ()), **spec)
        async def endpoint(request: Request) -> PlainTextResponse:
            return PlainTextResponse("ok")

        return Route(path, endpoint)

    source: dict[str, Any] = (
        {"guard": AsyncGuard(config, clock=clock)} if clock else {"config": config}
    )
    app = Starlette(
        routes=[make(p, s) for p, s in ROUTES.items()],
        middleware=[Middleware(RSGuardMiddleware, **source)],
    )
    return lambda: app


def _fastapi(config: GuardConfig, clock: Clock | None = None) -> Callable[[], Any]:
    auth = FastAPIGuard(guard=AsyncGuard(config, clock=clock)) if clock else FastAPIGuard(config)
    app = FastAPI()
    auth.install(app)
    for path, spec in ROUTES.items():
        spec = dict(spec)

        @auth.requires(*spec.pop("scopes", ()), **spec)
        async def endpoint() -> str:
            return "ok"

        app.get(path)(endpoint)
    return lambda: app


def _flask(config: GuardConfig, clock: Clock | None = None) -> Flask:
    app = Flask(__name__)
    for path, spec in ROUTES.items():
        spec = dict(spec)

        @require(*spec.pop("scopes", ()), **spec)
        def endpoint() -> str:
            return "ok"

        app.add_url_rule(path, endpoint=path, view_func=endpoint)
    if clock:
        FlaskGuard(app, guard=Guard(config, clock=clock))
    else:
        FlaskGuard(app, config=config)
    return app


def _django(config: GuardConfig, clock: Clock | None = None) -> tuple[Any, Callable[[], None]]:
    """A Django test client over ``@require(..., guard=...)`` views (no middleware)."""
    import types

    import django
    from django.conf import settings
    from django.http import HttpRequest, HttpResponse
    from django.test import Client as DjangoClient
    from django.test.utils import override_settings
    from django.urls import path as route

    from rs_guard.adapters.django import require as django_require

    if not settings.configured:
        settings.configure(SECRET_KEY="tests only", ALLOWED_HOSTS=["testserver"], USE_TZ=True)
        django.setup()
    guard = Guard(config, clock=clock) if clock else Guard(config)

    def make(spec: dict[str, Any]) -> Callable[[HttpRequest], HttpResponse]:
        spec = dict(spec)

        @django_require(*spec.pop("scopes", ()), guard=guard, **spec)
        def endpoint(request: HttpRequest) -> HttpResponse:
            return HttpResponse("ok")

        return endpoint

    urls = types.ModuleType("stepup_django_urls")
    urls.urlpatterns = [route(p.lstrip("/"), make(s)) for p, s in ROUTES.items()]  # type: ignore[attr-defined]
    override = override_settings(ROOT_URLCONF=urls, MIDDLEWARE=[])
    override.enable()

    def close() -> None:
        override.disable()
        guard.close()

    return DjangoClient(), close


class Client:
    def __init__(self, framework: str, config: GuardConfig, clock: Clock | None = None) -> None:
        self._asgi: TestClient | None = None
        self._django: Any = None
        if framework == "django":
            self._django, self._close_django = _django(config, clock)
        elif framework == "flask":
            self._flask = _flask(config, clock).test_client()
        else:
            make = _starlette if framework == "starlette" else _fastapi
            self._asgi = TestClient(make(config, clock)())
            self._asgi.__enter__()

    def get(self, path: str, token: str) -> Answer:
        headers = {"Authorization": f"Bearer {token}"}
        if self._asgi is not None:
            r = self._asgi.get(path, headers=headers)
            return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)
        if self._django is not None:
            d = self._django.get(path, headers=headers)
            return Answer(d.status_code, {k.lower(): v for k, v in d.headers.items()}, d.content)
        fr = self._flask.get(path, headers=headers)
        return Answer(fr.status_code, {k.lower(): v for k, v in fr.headers.items()}, fr.data)

    def close(self) -> None:
        if self._asgi is not None:
            self._asgi.__exit__(None, None, None)
        if self._django is not None:
            self._close_django()


@pytest.fixture(scope="module", params=["fastapi", "starlette", "flask", "django"])
def client(request: pytest.FixtureRequest, hs_issuer: TokenIssuer) -> Iterator[Client]:
    c = Client(request.param, hs_issuer.config())
    yield c
    c.close()


def expect(answer: Answer, status: int, error: str, description: str, params: str = "") -> None:
    assert answer.status == status, answer.body
    assert answer.json() == {"error": error, "error_description": description}
    assert answer.challenge == (
        f'Bearer error="{error}", error_description="{description}"{params}'
    )


# -- step-up (RFC 9470) ---------------------------------------------------------------


def test_acr_accepted(client: Client, hs_issuer: TokenIssuer) -> None:
    for acr in ("mfa", "phr"):
        assert client.get("/mfa", hs_issuer.mint(claims={"acr": acr})).status == 200


@pytest.mark.parametrize("claims", [{"acr": "pwd"}, {}, {"acr": ["mfa"]}, {"acr": "MFA"}])
def test_acr_refused(client: Client, hs_issuer: TokenIssuer, claims: dict[str, Any]) -> None:
    answer = client.get("/mfa", hs_issuer.mint(claims=claims))
    expect(answer, 401, "insufficient_user_authentication", ACR_TEXT, ', acr_values="mfa phr"')


def test_recent_authentication_accepted_within_max_age_and_leeway(
    client: Client, hs_issuer: TokenIssuer
) -> None:
    now = int(time.time())
    for age in (0, 200, 305):  # 305: within max_age + the 10 s leeway
        token = hs_issuer.mint(claims={"auth_time": now - age})
        assert client.get("/recent", token).status == 200


@pytest.mark.parametrize("framework", ["fastapi", "starlette", "flask", "django"])
def test_max_age_uses_the_guards_clock_and_the_configured_leeway(framework: str) -> None:
    """auth_time is judged at the guard's clock, with GuardConfig.leeway (45 s here)."""
    now = 1_900_000_000.0  # years from the real clock: a route reading time.time() would pass
    issuer = TokenIssuer(algorithm="HS256", clock=lambda: now)
    client = Client(framework, issuer.config(leeway=45), clock=lambda: now)
    try:
        within = issuer.mint(claims={"auth_time": int(now) - 340})  # 300 + 40 s
        assert client.get("/recent", within).status == 200
        beyond = issuer.mint(claims={"auth_time": int(now) - 350})  # 300 + 50 s
        expect(
            client.get("/recent", beyond),
            401,
            "insufficient_user_authentication",
            OLD_TEXT,
            ', max_age="300"',
        )
    finally:
        client.close()


def test_old_authentication_refused(client: Client, hs_issuer: TokenIssuer) -> None:
    token = hs_issuer.mint(claims={"auth_time": int(time.time()) - 3600})
    expect(
        client.get("/recent", token),
        401,
        "insufficient_user_authentication",
        OLD_TEXT,
        ', max_age="300"',
    )


@pytest.mark.parametrize("auth_time", [None, "yesterday", True])
def test_missing_auth_time_refused(client: Client, hs_issuer: TokenIssuer, auth_time: Any) -> None:
    claims = {} if auth_time is None else {"auth_time": auth_time}
    expect(
        client.get("/recent", hs_issuer.mint(claims=claims)),
        401,
        "insufficient_user_authentication",
        NO_TIME_TEXT,
        ', max_age="300"',
    )


def test_both_requirements(client: Client, hs_issuer: TokenIssuer) -> None:
    now = int(time.time())
    ok = hs_issuer.mint(claims={"acr": "mfa", "auth_time": now - 10})
    assert client.get("/both", ok).status == 200
    stale = hs_issuer.mint(claims={"acr": "mfa", "auth_time": now - 3600})
    params = ', acr_values="mfa", max_age="300"'
    expect(client.get("/both", stale), 401, "insufficient_user_authentication", OLD_TEXT, params)
    weak = hs_issuer.mint(claims={"acr": "pwd", "auth_time": now - 3600})
    expect(
        client.get("/both", weak),
        401,
        "insufficient_user_authentication",
        f"{ACR_TEXT}; {OLD_TEXT}",
        params,
    )


# -- RAR (RFC 9396) -------------------------------------------------------------------


def _rar(*entries: Any) -> dict[str, Any]:
    return {"authorization_details": list(entries)}


GRANTED = {
    "type": "payment_initiation",
    "actions": ["initiate", "status"],
    "currency": "EUR",
    "locations": ["https://api.rs-guard.test"],
}


def test_matching_entry_accepted(client: Client, hs_issuer: TokenIssuer) -> None:
    other = {"type": "account_information", "actions": ["read"]}
    token = hs_issuer.mint(scopes=["write:payments"], claims=_rar(other, GRANTED))
    assert client.get("/pay", token).status == 200
    assert client.get("/pay-scoped", token).status == 200


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"authorization_details": "payment_initiation"},
        {"authorization_details": {"type": "payment_initiation"}},
        _rar({**GRANTED, "actions": ["status"]}),
        _rar({**GRANTED, "actions": "initiate"}),
        _rar({**GRANTED, "currency": "USD"}),
        _rar({k: v for k, v in GRANTED.items() if k != "currency"}),
        _rar({**GRANTED, "type": "account_information"}),
        _rar("payment_initiation"),
    ],
    ids=[
        "absent",
        "string",
        "object",
        "action-missing",
        "actions-not-array",
        "other-value",
        "field-missing",
        "other-type",
        "entry-not-object",
    ],
)
def test_non_matching_details_refused(
    client: Client, hs_issuer: TokenIssuer, claims: dict[str, Any]
) -> None:
    answer = client.get("/pay", hs_issuer.mint(scopes=["write:payments"], claims=claims))
    expect(answer, 403, "insufficient_scope", RAR_TEXT)  # no scope= parameter


def test_missing_scope_still_names_the_scope(client: Client, hs_issuer: TokenIssuer) -> None:
    answer = client.get("/pay-scoped", hs_issuer.mint(claims=_rar(GRANTED)))
    assert answer.status == 403
    assert answer.challenge == 'Bearer error="insufficient_scope", scope="write:payments"'


# -- start-up check of declared types -------------------------------------------------


@pytest.mark.parametrize("framework", ["fastapi", "starlette", "flask"])
def test_undeclared_type_is_a_config_error(framework: str, hs_issuer: TokenIssuer) -> None:
    config = hs_issuer.config(authorization_details=("account_information",))
    with pytest.raises(ConfigError) as caught:
        Client(framework, config).close()
    assert caught.value.field == "authorization_details"
    assert "'payment_initiation'" in str(caught.value)
    assert "account_information" in str(caught.value)


@pytest.mark.parametrize("framework", ["fastapi", "starlette", "flask"])
def test_declared_type_starts(framework: str, hs_issuer: TokenIssuer) -> None:
    config = hs_issuer.config(authorization_details=("payment_initiation",))
    client = Client(framework, config)
    token = hs_issuer.mint(claims=_rar(GRANTED))
    assert client.get("/pay", token).status == 200
    client.close()


# -- the requirement objects ----------------------------------------------------------


def test_step_up_arguments_checked_at_declaration() -> None:
    with pytest.raises(TypeError):
        step_up("mfa")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_age"):
        step_up(max_age=-1)
    with pytest.raises(ValueError, match="needs"):
        step_up()
    with pytest.raises(ValueError, match="empty"):
        details("payment_initiation", actions=[])


def test_step_up_with_a_controlled_clock(hs_issuer: TokenIssuer) -> None:
    now = [1_800_000_000.0]
    timing = Timing(lambda: now[0], 0)
    requirement = step_up(max_age=60)
    guard = Guard(hs_issuer.config())
    verified = guard.verify(hs_issuer.mint(claims={"auth_time": int(now[0]) - 60}))
    requirement.check_at(verified, timing)  # exactly max_age: accepted
    now[0] += 1
    with pytest.raises(InsufficientUserAuthentication) as caught:
        requirement.check_at(verified, timing)
    assert caught.value.challenge_params == (("max_age", "60"),)
    assert caught.value.status_code == 401
    # On its own (no guard): the system clock and the default leeway of 10 s.
    recent = guard.verify(hs_issuer.mint(claims={"auth_time": int(time.time()) - 65}))
    requirement(recent)
    guard.close()


def test_flask_bound_decorator_checks_the_type_when_declared(hs_issuer: TokenIssuer) -> None:
    app = Flask(__name__)
    guard = FlaskGuard(app, config=hs_issuer.config(authorization_details=("account_information",)))
    with pytest.raises(ConfigError) as caught:

        @guard.require(authorization_details=PAY)
        def pay() -> str:
            return "ok"

    assert caught.value.field == "authorization_details"
    assert "view 'pay' requires the type 'payment_initiation'" in str(caught.value)

    @guard.require(authorization_details={"type": "account_information"}, acr_values=["mfa"])
    def accounts() -> str:
        return "ok"

    app.add_url_rule("/accounts", view_func=accounts)
    token = hs_issuer.mint(claims={"acr": "pwd", **_rar({"type": "account_information"})})
    answer = app.test_client().get("/accounts", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == (
        f'Bearer error="insufficient_user_authentication", error_description="{ACR_TEXT}", '
        'acr_values="mfa"'
    )
