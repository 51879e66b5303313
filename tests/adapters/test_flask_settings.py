"""The Flask extension reads app.config through the one settings table."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from rs_guard import ConfigError, Scope
from rs_guard.adapters.flask import EXTENSION_KEY, RSGuard, config_from_app
from rs_guard.settings import SETTINGS

BASE = {"RS_GUARD_DOMAIN": "tenant.example.com", "RS_GUARD_AUDIENCE": "https://api.example.com"}


def _config_of(settings: dict[str, Any]) -> Any:
    app = Flask(__name__)
    app.config.update(settings)
    RSGuard(app)
    return app.extensions[EXTENSION_KEY].guard.config


def test_dpop_nonce_secret_is_read_from_app_config() -> None:
    # Issue 11.9: refused as "not an rs_guard setting" while the environment loader read it.
    secret = "shared-by-every-worker-0123456789"
    config = _config_of({**BASE, "RS_GUARD_DPOP_NONCE_SECRET": secret})
    assert config.dpop.nonce_secret == secret
    assert config.dpop.nonce is False
    config = _config_of({**BASE, "RS_GUARD_DPOP_NONCE": True, "RS_GUARD_DPOP_NONCE_SECRET": secret})
    assert (config.dpop.nonce, config.dpop.nonce_secret) == (True, secret)


def test_enforce_policies_and_scopes_from_app_config() -> None:
    config = _config_of(
        {
            **BASE,
            "RS_GUARD_TOKEN_DIALECT": "access_token_authz",
            "RS_GUARD_ENFORCE_POLICIES": True,
            "RS_GUARD_SCOPES": ["read:orders", "write:orders"],  # a list, joined with spaces
        }
    )
    assert config.enforce_policies is True
    assert config.uses_permissions is True
    assert config.scopes == (Scope("read:orders"), Scope("write:orders"))
    config = _config_of({**BASE, "RS_GUARD_SCOPES": "read:orders  write:orders"})
    assert [s.value for s in config.scopes] == ["read:orders", "write:orders"]


def test_every_setting_of_the_table_is_accepted_by_flask() -> None:
    refused = []
    for setting in SETTINGS:
        try:
            config_from_app({**BASE, setting.name: "x"})
        except ConfigError as exc:
            # refused for its value (or for a file that is not there), never for its name
            refused.append((setting.name, str(exc)))
    assert [name for name, text in refused if "not an rs_guard setting" in text] == []


def test_a_misspelt_key_names_the_setting_it_resembles() -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_app({**BASE, "RS_GUARD_LEWAY": 5})
    assert caught.value.field == "RS_GUARD_LEWAY"
    assert "did you mean RS_GUARD_LEEWAY?" in str(caught.value)


def test_the_flask_example_takes_rbac_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib
    import os
    import sys
    import time
    from pathlib import Path

    from rs_guard.testing import JWKSServer, TokenIssuer

    issuer = TokenIssuer(issuer="http://127.0.0.1/rbac/", clock=time.time)
    token = issuer.mint(scopes=[], permissions=["read:appointments"])
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    statuses = {}
    with JWKSServer(issuer.jwks) as server:
        for enforce in ("true", "false"):
            for key in [k for k in os.environ if k.startswith("RS_GUARD_")]:
                monkeypatch.delenv(key)
            env = {
                **issuer.environ(jwks_uri=server.jwks_uri),
                "RS_GUARD_TOKEN_DIALECT": "access_token_authz",
                "RS_GUARD_ENFORCE_POLICIES": enforce,
                "RS_GUARD_SCOPES": "read:appointments write:appointments",
            }
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            sys.modules.pop("examples.flask_app", None)
            example = importlib.import_module("examples.flask_app")
            answer = example.app.test_client().get(
                "/appointments", headers={"Authorization": f"Bearer {token}"}
            )
            statuses[enforce] = (answer.status_code, answer.headers.get("WWW-Authenticate"))
    sys.modules.pop("examples.flask_app", None)
    assert statuses["true"] == (200, None)
    assert statuses["false"][0] == 403
    assert statuses["false"][1] is not None
    assert 'error="insufficient_scope"' in statuses["false"][1]
    assert 'scope="read:appointments"' in statuses["false"][1]
