"""The Flask extension: settings from app.config, decorators, errors, current_token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Blueprint, Flask, jsonify
from flask.views import MethodView

from rs_guard import ConfigError, Guard, RSGuardError, Scope, claim_equals, clients_only
from rs_guard.adapters.flask import (
    EXTENSION_KEY,
    RSGuard,
    config_from_app,
    current_token,
    default_error_response,
    require,
    require_any,
    require_permissions,
)
from rs_guard.adapters.wsgi import RSGuardWSGIMiddleware
from rs_guard.config import ProofOfPossession
from rs_guard.testing import TokenIssuer


class CountingGuard(Guard):
    """A real Guard that counts how often a request is authenticated."""

    calls = 0

    def authenticate(self, ctx: Any) -> Any:
        self.calls += 1
        return super().authenticate(ctx)


def make_guard(issuer: TokenIssuer, clock: Any, **overrides: Any) -> CountingGuard:
    return CountingGuard(issuer.config(**overrides), transport=issuer.transport(), clock=clock)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- settings ----------------------------------------------------------------------------------


def test_init_app_reads_rs_guard_keys_of_app_config(tmp_path: Path) -> None:
    resource_server = {
        "identifier": "https://file.api",
        "signing_alg": "RS256",
        "scopes": [{"value": "read:x", "description": "read"}],
        "token_dialect": "access_token_authz",
        "enforce_policies": True,
    }
    path = tmp_path / "api.json"
    path.write_text(json.dumps(resource_server))
    app = Flask(__name__)
    app.config.update(
        RS_GUARD_CONFIG=path,
        RS_GUARD_DOMAIN="tenant.example.com",
        RS_GUARD_AUDIENCE="https://api.example.com",  # overrides the file's identifier
        RS_GUARD_LEEWAY=5,
        RS_GUARD_TRUSTED_PROXIES=["10.0.0.0/8", "::1"],
        RS_GUARD_DISCOVERY=False,
        RS_GUARD_JWKS_URI=None,  # unset keys are ignored
        OTHER_SETTING="not ours",
    )
    guard = RSGuard(app)
    config = app.extensions[EXTENSION_KEY].guard.config
    assert guard.app is app
    assert config.issuer == "https://tenant.example.com/"
    assert config.audience == "https://api.example.com"
    assert config.leeway == 5.0
    assert config.trusted_proxies == ("10.0.0.0/8", "::1")
    assert config.uses_permissions
    assert config.scopes == (Scope("read:x", "read"),)


BASE = {"RS_GUARD_DOMAIN": "t.example.com", "RS_GUARD_AUDIENCE": "https://api"}


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"RS_GUARD_DOMAIN": "t.example.com"}, "audience"),
        ({"RS_GUARD_AUDIENCE": "https://api"}, "issuer"),
        ({**BASE, "RS_GUARD_LEEWAY": "soon"}, "RS_GUARD_LEEWAY"),
        ({**BASE, "RS_GUARD_SIGNING_ALG": "none"}, "signing_alg"),
        ({**BASE, "RS_GUARD_JWKS_URI": "http://keys.example.com/jwks"}, "jwks_uri"),
        ({**BASE, "RS_GUARD_AUDIANCE": "https://api"}, "RS_GUARD_AUDIANCE"),  # a typo
        ({**BASE, "RS_GUARD_CONFIG": "/nonexistent/api.json"}, "RS_GUARD_CONFIG"),
        ({**BASE, "RS_GUARD_AUDIENCE": {"not": "a string"}}, "RS_GUARD_AUDIENCE"),
    ],
)
def test_bad_settings_fail_at_init_app(settings: dict[str, Any], field: str) -> None:
    app = Flask(__name__)
    app.config.update(settings)
    guard = RSGuard()
    with pytest.raises(ConfigError) as caught:
        guard.init_app(app)
    assert caught.value.field == field
    assert EXTENSION_KEY not in app.extensions


def test_init_app_twice_on_one_app_is_refused(issuer: TokenIssuer) -> None:
    app = Flask(__name__)
    RSGuard(app, config=issuer.config())
    with pytest.raises(RuntimeError, match="already"):
        RSGuard(app, config=issuer.config())


def test_config_from_app_converts_values() -> None:
    config = config_from_app(
        {
            "RS_GUARD_ISSUER": "https://a.example/",
            "RS_GUARD_AUDIENCE": "x",
            "RS_GUARD_TOKEN_CACHE": 0,
        }
    )
    assert config.token_cache_size == 0


# -- decorators ----------------------------------------------------------------------------------


@pytest.fixture
def app(issuer: TokenIssuer, clock: Any) -> Flask:
    """An app built the factory way: decorators declared before init_app, in a blueprint."""
    bp = Blueprint("api", __name__, url_prefix="/api")

    @bp.get("/any")
    @require_any("read:a", "admin")
    def any_scope() -> Any:
        return {"sub": current_token.subject}

    @bp.get("/perm")
    @require_permissions("delete:a")
    def perm() -> Any:
        return {"ok": True}

    @bp.get("/claims")
    @require("read:a", claim_equals("org_id", "org_1"))
    def claims() -> Any:
        return {"org": current_token.get("org_id")}

    @bp.get("/m2m")
    @require(clients_only)
    def m2m() -> Any:
        return {"client": current_token.client_id}

    @bp.get("/stacked")
    @require("read:a")
    @require_any("write:a", "admin")
    def stacked() -> Any:
        return {"sub": current_token.subject}

    @bp.get("/async")
    @require("read:a")
    async def async_view() -> Any:
        return {"sub": current_token.subject, "async": True}

    class Items(MethodView):
        decorators = [require("read:a")]

        def get(self) -> Any:
            return {"items": [], "sub": current_token.subject}

    bp.add_url_rule("/items", view_func=Items.as_view("items"))

    app = Flask(__name__)
    app.register_blueprint(bp)

    @app.get("/open")
    def open_view() -> Any:
        return {"open": True}

    @app.get("/peek")
    def peek() -> Any:
        return {"sub": current_token.subject}  # not protected: must fail loudly

    RSGuard().init_app(app, guard=make_guard(issuer, clock))
    return app


@pytest.mark.parametrize(
    ("path", "mint", "status"),
    [
        ("/api/any", {"scopes": ["admin"]}, 200),
        ("/api/any", {"scopes": ["write:a"]}, 403),
        ("/api/perm", {"permissions": ["delete:a"]}, 200),
        ("/api/perm", {"scopes": ["delete:a"]}, 403),
        ("/api/claims", {"scopes": ["read:a"], "claims": {"org_id": "org_1"}}, 200),
        ("/api/claims", {"scopes": ["read:a"], "claims": {"org_id": "org_2"}}, 403),
        ("/api/claims", {"claims": {"org_id": "org_1"}}, 403),
        ("/api/m2m", {"subject": "abc@clients", "claims": {"gty": "client-credentials"}}, 200),
        ("/api/m2m", {}, 403),
        ("/api/stacked", {"scopes": ["read:a", "admin"]}, 200),
        ("/api/stacked", {"scopes": ["read:a"]}, 403),
        ("/api/stacked", {"scopes": ["admin"]}, 403),
        ("/api/async", {"scopes": ["read:a"]}, 200),
        ("/api/async", {}, 403),
        ("/api/items", {"scopes": ["read:a"]}, 200),
        ("/api/items", {}, 403),
    ],
)
def test_decorators_in_a_blueprint(
    app: Flask, issuer: TokenIssuer, path: str, mint: dict[str, Any], status: int
) -> None:
    response = app.test_client().get(path, headers=auth(issuer.mint(**mint)))
    assert response.status_code == status
    if status == 403:
        assert response.json["error"] == "insufficient_scope"
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')


def test_async_view_sees_the_token(app: Flask, issuer: TokenIssuer) -> None:
    response = app.test_client().get("/api/async", headers=auth(issuer.mint(scopes=["read:a"])))
    assert response.json == {"sub": "auth0|user-1", "async": True}


def test_stacked_decorators_authenticate_once(app: Flask, issuer: TokenIssuer) -> None:
    guard = app.extensions[EXTENSION_KEY].guard
    response = app.test_client().get(
        "/api/stacked", headers=auth(issuer.mint(scopes=["read:a", "admin"]))
    )
    assert response.status_code == 200
    assert guard.calls == 1


def test_403_names_the_required_scopes(app: Flask, issuer: TokenIssuer) -> None:
    response = app.test_client().get("/api/any", headers=auth(issuer.mint()))
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="read:a admin"'
    )


def test_missing_token_on_a_protected_view(app: Flask) -> None:
    response = app.test_client().get("/api/any")
    assert response.status == "401 Unauthorized"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert "error" not in response.json


def test_unprotected_views_need_no_token(app: Flask) -> None:
    assert app.test_client().get("/open").json == {"open": True}


def test_decorators_keep_the_view_name_and_doc() -> None:
    @require("read:a")
    def listing() -> str:
        """Docs."""
        return ""

    assert listing.__name__ == "listing"
    assert listing.__doc__ == "Docs."


@pytest.mark.parametrize(
    "misuse",
    [
        lambda: require(lambda: None),  # @require without parentheses
        lambda: require_any(),
        lambda: require_permissions(),
        lambda: require("read:a write:a"),
        lambda: require(["read:a"]),
    ],
)
def test_misused_decorators_fail_when_declared(misuse: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        misuse()


def test_bare_decorator_use_names_the_fix() -> None:
    with pytest.raises(TypeError, match=r"@require\(\.\.\.\)"):

        @require  # type: ignore[arg-type]
        def view() -> str:
            return ""


# -- current_token --------------------------------------------------------------------------------


def test_current_token_outside_a_request_is_a_helpful_error(app: Flask) -> None:
    with pytest.raises(RuntimeError, match="only available while handling a request"):
        current_token.subject  # noqa: B018
    with app.app_context(), pytest.raises(RuntimeError, match="protected by rs_guard"):
        current_token.subject  # noqa: B018


def test_current_token_in_an_unprotected_view_is_a_helpful_error(app: Flask) -> None:
    app.config["TESTING"] = True
    with pytest.raises(RuntimeError, match="protected by rs_guard"):
        app.test_client().get("/peek")


def test_views_need_the_extension(issuer: TokenIssuer) -> None:
    app = Flask(__name__)
    app.config["TESTING"] = True

    @app.get("/x")
    @require()
    def view() -> str:
        return ""

    with pytest.raises(RuntimeError, match="init_app"):
        app.test_client().get("/x", headers=auth(issuer.mint()))


# -- errors ---------------------------------------------------------------------------------------


def test_custom_error_handler_replaces_the_answer(issuer: TokenIssuer, clock: Any) -> None:
    app = Flask(__name__)
    ext = RSGuard(app, guard=make_guard(issuer, clock))
    seen: list[str] = []

    @ext.error_handler
    def refuse(exc: RSGuardError) -> Any:
        seen.append(exc.reason)
        response = default_error_response(exc)  # keep the RFC 6750 headers
        response.set_data(json.dumps({"problem": exc.reason, "status": exc.status_code}))
        response.headers["X-Refused"] = exc.reason
        return response

    @app.get("/x")
    @ext.require("read:a")
    def view() -> Any:
        return jsonify(ok=True)

    client = app.test_client()
    expired = client.get("/x", headers=auth(issuer.mint(claims={"exp": 1})))
    assert expired.status_code == 401
    assert expired.json == {"problem": "expired", "status": 401}
    assert expired.headers["X-Refused"] == "expired"
    assert expired.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert client.get("/x", headers=auth(issuer.mint())).json["problem"] == "insufficient_scope"
    assert seen == ["expired", "insufficient_scope"]


def test_keys_unavailable_is_503_through_flask(issuer: TokenIssuer, clock: Any) -> None:
    app = Flask(__name__)
    down = Guard(
        issuer.config(), transport=httpx.MockTransport(lambda r: httpx.Response(503)), clock=clock
    )
    RSGuard(app, guard=down)

    @app.get("/x")
    @require()
    def view() -> str:
        return ""

    response = app.test_client().get("/x", headers=auth(issuer.mint()))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert "WWW-Authenticate" not in response.headers


def test_dpop_challenge_comes_from_the_apps_guard(issuer: TokenIssuer, clock: Any) -> None:
    from rs_guard import ProofOfPossession

    app = Flask(__name__)
    pop = ProofOfPossession(mechanism="dpop", required=False)
    RSGuard(app, guard=make_guard(issuer, clock, proof_of_possession=pop))

    @app.get("/x")
    @require()
    def view() -> str:
        return ""

    challenge = app.test_client().get("/x").headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api", DPoP algs=')


# -- the start-up scope check --------------------------------------------------------------------


def scoped(issuer: TokenIssuer, clock: Any) -> CountingGuard:
    return make_guard(issuer, clock, scopes=(Scope("read:a"), Scope("write:a")))


def test_undefined_scope_fails_at_decoration_when_bound(issuer: TokenIssuer, clock: Any) -> None:
    app = Flask(__name__)
    ext = RSGuard(app, guard=scoped(issuer, clock))

    @app.get("/ok")
    @ext.require("read:a")
    def ok() -> str:
        return ""

    with pytest.raises(ConfigError, match="reed:a"):

        @app.get("/typo")
        @ext.require("reed:a")
        def typo() -> str:
            return ""


def test_undefined_scope_fails_at_init_app(issuer: TokenIssuer, clock: Any) -> None:
    app = Flask(__name__)

    @app.get("/typo")
    @require_any("read:a", "wirte:a")
    def typo() -> str:
        return ""

    with pytest.raises(ConfigError, match="wirte:a"):
        RSGuard().init_app(app, guard=scoped(issuer, clock))


def test_undefined_scope_fails_before_the_first_request_is_served(
    issuer: TokenIssuer, clock: Any
) -> None:
    app = Flask(__name__)
    app.config["TESTING"] = True
    ext = RSGuard()
    ext.init_app(app, guard=scoped(issuer, clock))

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/typo")
    @require("read:a", "wrote:a")
    def typo() -> str:
        return ""

    with pytest.raises(ConfigError, match="wrote:a"):
        ext.check_scopes(app)
    with pytest.raises(ConfigError, match="wrote:a"):
        app.test_client().get("/health")


def test_scope_check_can_be_turned_off(issuer: TokenIssuer, clock: Any) -> None:
    app = Flask(__name__)
    ext = RSGuard(app, guard=scoped(issuer, clock), check_scopes=False)

    @app.get("/x")
    @ext.require("undefined:scope")
    def view() -> str:
        return "ok"

    token = issuer.mint(scopes=["undefined:scope"])
    assert app.test_client().get("/x", headers=auth(token)).status_code == 200


# -- behind the WSGI middleware --------------------------------------------------------------------


def test_decorators_reuse_the_token_of_the_wsgi_middleware(issuer: TokenIssuer, clock: Any) -> None:
    app = Flask(__name__)
    guard = make_guard(issuer, clock)
    RSGuard(app, guard=guard)

    @app.get("/x")
    @require("read:a")
    def view() -> Any:
        return {"sub": current_token.subject}

    @app.get("/anon")
    def anon() -> Any:
        return {"anonymous": True}

    app.wsgi_app = RSGuardWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, guard=guard, allow_anonymous=True
    )
    client = app.test_client()
    response = client.get("/x", headers=auth(issuer.mint(scopes=["read:a"])))
    assert response.json == {"sub": "auth0|user-1"}
    assert guard.calls == 1  # verified by the middleware only
    assert client.get("/anon").json == {"anonymous": True}
    refused = client.get("/x")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_the_token_belongs_to_its_request_not_to_the_app_context(
    app: Flask, issuer: TokenIssuer
) -> None:
    """Requests served inside one app context (a test, a CLI command) share ``flask.g``."""
    app.config["TESTING"] = True
    client = app.test_client()
    with app.app_context():
        first = client.get("/api/any", headers=auth(issuer.mint(scopes=["admin"])))
        assert (first.status_code, first.json) == (200, {"sub": "auth0|user-1"})
        anonymous = client.get("/api/any")
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="api"'
        other = client.get(
            "/api/any", headers=auth(issuer.mint(scopes=["admin"], subject="auth0|other"))
        )
        assert (other.status_code, other.json) == (200, {"sub": "auth0|other"})
        with pytest.raises(RuntimeError, match="protected by rs_guard"):
            client.get("/peek")


def test_dpop_without_public_url_warns_at_start_up(
    issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    dpop = ProofOfPossession("dpop")
    with caplog.at_level("WARNING", logger="rs_guard"):
        RSGuard(Flask(__name__), config=issuer.config(proof_of_possession=dpop))
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [HTU_WARNING]
    caplog.clear()
    public = issuer.config(proof_of_possession=dpop, public_url="https://api.example.com")
    with caplog.at_level("WARNING", logger="rs_guard"):
        RSGuard(Flask(__name__), config=issuer.config())
        RSGuard(Flask(__name__), config=public)
    assert [r for r in caplog.records if r.levelname == "WARNING"] == []


HTU_WARNING = (
    "DPoP is on and public_url (RS_GUARD_PUBLIC_URL) is not set: a WSGI server builds the "
    "request URL that the proof's htu must match from SERVER_NAME, which gunicorn on a unix "
    "socket takes from the client's Host header; set public_url to the API's public address"
)
