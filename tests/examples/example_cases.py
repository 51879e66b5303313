"""What the example-app suites send and check: the route table and the invalid tokens
(the 401 invalid_token answers), and the checks of the answers, for any test client
(Django, Flask/Werkzeug, Starlette/httpx)."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from refusals import expect_refusal

from rs_guard.testing import TokenIssuer

ROOT = Path(__file__).resolve().parents[2]
READ, WRITE = "read:appointments", "write:appointments"

#: The example routes: (method, path, scopes granted, expected status).
ROUTE_TABLE = [
    ("GET", "/appointments", [READ], 200),
    ("GET", "/appointments", [WRITE], 403),
    ("GET", "/appointments", [], 403),
    ("POST", "/appointments", [WRITE], 201),
    ("POST", "/appointments", [READ], 403),
    ("DELETE", "/appointments/7", [READ, WRITE], 200),
    ("DELETE", "/appointments/7", [READ], 403),
    ("DELETE", "/appointments/7", [WRITE], 403),
]


#: The names of :func:`invalid_tokens` (the test ids).
INVALID = [
    "bad-signature",
    "wrong-alg",
    "expired",
    "not-yet-valid",
    "wrong-issuer",
    "wrong-audience",
    "missing-exp",
    "wrong-typ",
    "malformed",
    "too-large",
    "alg-none",
    "unchecked-cnf",
]


def invalid_tokens(issuer: TokenIssuer) -> dict[str, str]:
    """One token per way a token can be invalid, keyed by a short name (the test id)."""
    other = TokenIssuer(issuer=issuer.issuer, audience=issuer.audience)  # another key
    hs = TokenIssuer(issuer=issuer.issuer, audience=issuer.audience, algorithm="HS256")
    now = int(time.time())
    return {
        "bad-signature": other.mint(scopes=[READ], headers={"kid": issuer.current.kid}),
        "wrong-alg": hs.mint(scopes=[READ]),
        "expired": issuer.mint(scopes=[READ], claims={"iat": now - 7200, "exp": now - 3600}),
        "not-yet-valid": issuer.mint(scopes=[READ], claims={"nbf": now + 3600}),
        "wrong-issuer": issuer.mint(scopes=[READ], claims={"iss": "https://evil.example/"}),
        "wrong-audience": issuer.mint(scopes=[READ], claims={"aud": "https://other.example"}),
        "missing-exp": issuer.mint(scopes=[READ], drop=["exp"]),
        "wrong-typ": issuer.mint(scopes=[READ], headers={"typ": "dpop+jwt"}),
        "malformed": "not-a.jwt",
        "too-large": issuer.mint(scopes=[READ], claims={"pad": "x" * 20000}),
        "alg-none": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.",
        "unchecked-cnf": issuer.mint(scopes=[READ], cnf={"x5t#S256": "A" * 43}),
    }


def _json(response: Any) -> Any:
    return response.json() if callable(response.json) else response.json


def text_of(response: Any) -> str:
    """The body of any of the test clients' responses, as text."""
    content = getattr(response, "content", None)
    data: bytes = response.data if content is None else content
    return data.decode()


def check_route_answer(
    response: Any, method: str, status: int, *, lists_subject: bool = True
) -> None:
    """The answer to one :data:`ROUTE_TABLE` row sent with a token of the default subject
    (``auth0|user-1``): the exact ``insufficient_scope`` challenge naming the route's
    scopes, or the status and the route's body (``lists_subject``: the list of
    appointments names the caller, as all examples but Starlette's do)."""
    if status == 403:
        expect_refusal(response, 403, "insufficient_scope")
        needed = {"GET": READ, "POST": WRITE, "DELETE": f"{READ} {WRITE}"}[method]
        assert response.headers["www-authenticate"] == (
            f'Bearer error="insufficient_scope", scope="{needed}"'
        )
    else:
        assert response.status_code == status, text_of(response)
    if method == "DELETE" and status == 200:
        assert _json(response) == {"deleted": "7"}
    if method == "POST" and status == 201:
        assert _json(response)["created_by"] == "auth0|user-1"
    if method == "GET" and status == 200 and lists_subject:
        assert _json(response)["sub"] == "auth0|user-1"


def check_invalid_token_answer(response: Any, token: str) -> None:
    """A 401 ``invalid_token`` with a description; nothing of the token in the answer."""
    expect_refusal(response, 401, "invalid_token")
    assert 'error_description="' in response.headers["www-authenticate"]
    if len(token) > 20:
        assert token not in text_of(response)
        assert token.split(".")[1] not in response.headers["www-authenticate"]


def import_example(
    mp: pytest.MonkeyPatch, name: str, issuer: TokenIssuer, jwks_uri: str, **env: str
) -> ModuleType:
    """Import the example ``name`` afresh, as its server would, with the ``RS_GUARD_*``
    environment (set through ``mp``) naming ``issuer`` and ``jwks_uri`` and nothing else
    but ``env``."""
    mp.syspath_prepend(str(ROOT))
    for key in [k for k in os.environ if k.startswith("RS_GUARD_")]:
        mp.delenv(key)
    settings = {
        "RS_GUARD_ISSUER": issuer.issuer,
        "RS_GUARD_AUDIENCE": issuer.audience,
        "RS_GUARD_JWKS_URI": jwks_uri,
        **env,
    }
    for key, value in settings.items():
        mp.setenv(key, value)
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def authz_settings_file(issuer: TokenIssuer, folder: Path) -> str:
    """A resource-server settings file (the ``RS_GUARD_CONFIG`` path) asking for the
    ``access_token_authz`` dialect with policies enforced over the example's two scopes."""
    settings = {
        "identifier": issuer.audience,
        "token_dialect": "access_token_authz",
        "enforce_policies": True,
        "scopes": [{"value": READ}, {"value": WRITE}],
    }
    path = folder / "api.json"
    path.write_text(json.dumps(settings))
    return str(path)
