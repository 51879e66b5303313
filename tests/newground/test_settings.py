"""The new settings through the loaders, Flask's app.config and the WSGI middleware."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask

from rs_guard.adapters.flask import RSGuard, config_from_app
from rs_guard.adapters.wsgi import RSGuardWSGIMiddleware
from rs_guard.config import GuardConfig
from rs_guard.errors import ConfigError
from rs_guard.loaders import load_config, settings_from_env, settings_from_resource_server
from rs_guard.requirements import DEFAULT_TIMING, Requirement, Timing
from rs_guard.testing import TokenIssuer


def test_env_reads_resource_metadata() -> None:
    assert settings_from_env({"RS_GUARD_RESOURCE_METADATA": "true"}) == {"resource_metadata": True}
    assert settings_from_env({"RS_GUARD_RESOURCE_METADATA": "false"}) == {
        "resource_metadata": False
    }
    with pytest.raises(ConfigError) as caught:
        settings_from_env({"RS_GUARD_RESOURCE_METADATA": "maybe"})
    assert caught.value.field == "RS_GUARD_RESOURCE_METADATA"


def test_json_reads_authorization_details_types() -> None:
    data = {"authorization_details": [{"type": "a"}, {"type": "b"}, {"type": "a"}]}
    assert settings_from_resource_server(data) == {"authorization_details": ("a", "b")}
    assert settings_from_resource_server({"authorization_details": []}) == {
        "authorization_details": ()
    }
    for bad in ({"type": "a"}, [{"type": ""}], [{"kind": "a"}], ["a"]):
        with pytest.raises(ConfigError) as caught:
            settings_from_resource_server({"authorization_details": bad})
        assert caught.value.field == "authorization_details"


def test_defaults_change_nothing(tmp_path: Path) -> None:
    config = load_config(
        environ={"RS_GUARD_ISSUER": "https://t.example/", "RS_GUARD_AUDIENCE": "urn:api"}
    )
    assert config.resource_metadata is False
    assert config.authorization_details is None


def test_flask_config_key(tmp_path: Path) -> None:
    issuer = TokenIssuer(algorithm="HS256")
    app = Flask(__name__)
    app.config.update({"RS_GUARD_RESOURCE_METADATA": True} | issuer.environ())
    assert config_from_app(app.config).resource_metadata is True
    RSGuard(app)
    answer = app.test_client().get("/.well-known/oauth-protected-resource")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=3600"
    assert json.loads(answer.data)["resource"] == issuer.audience


def test_wsgi_middleware_serves_the_document_before_authentication() -> None:
    issuer = TokenIssuer(algorithm="HS256", audience="https://api.example.com/v2/")
    reached: list[str] = []

    def inner(environ: dict[str, object], start_response: object) -> list[bytes]:
        reached.append(str(environ["PATH_INFO"]))
        return [b""]

    middleware = RSGuardWSGIMiddleware(inner, issuer.config(resource_metadata=True))
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        started.append((status, headers))

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/.well-known/oauth-protected-resource/v2"}
    body = b"".join(middleware(environ, start_response))  # type: ignore[arg-type]
    assert started[0][0] == "200 OK"
    assert ("content-type", "application/json") in started[0][1]
    assert json.loads(body)["resource"] == "https://api.example.com/v2/"
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/data"}
    b"".join(middleware(environ, start_response))  # type: ignore[arg-type]
    assert started[1][0] == "401 Unauthorized"
    assert dict(started[1][1])["www-authenticate"] == (
        'Bearer realm="api", resource_metadata='
        '"https://api.example.com/.well-known/oauth-protected-resource/v2"'
    )
    assert reached == []
    middleware.close()


def test_wsgi_document_path_includes_the_mount_point() -> None:
    """The document's path comes from the identifier: under a mount point (SCRIPT_NAME)
    the full path is compared, as the client requests it."""
    issuer = TokenIssuer(algorithm="HS256", audience="https://api.example.com/v2")
    middleware = RSGuardWSGIMiddleware(
        lambda environ, start_response: [b"app"],  # type: ignore[arg-type, return-value]
        issuer.config(resource_metadata=True),
    )
    started: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        started.append(status)

    mounted = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "/.well-known",
        "PATH_INFO": "/oauth-protected-resource/v2",
    }
    body = b"".join(middleware(mounted, start_response))  # type: ignore[arg-type]
    assert (started, json.loads(body)["resource"]) == (["200 OK"], "https://api.example.com/v2")
    inner_only = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/v2", "PATH_INFO": "/.well-known"}
    b"".join(middleware(inner_only, start_response))  # type: ignore[arg-type]
    assert started[1] == "401 Unauthorized"
    middleware.close()


def test_default_timing_is_guard_configs_default_leeway() -> None:
    config = GuardConfig(issuer="https://i.example/", audience="a")
    assert DEFAULT_TIMING.leeway == config.leeway
    calls: list[str] = []
    plain = Requirement(lambda token: calls.append("checked"))
    plain.check_at(None, Timing(lambda: calls.append("clock") or 0.0, 0))  # type: ignore[arg-type]
    assert calls == ["checked"]  # the clock is read only by time rules
