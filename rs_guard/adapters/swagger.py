"""Swagger UI sign-in for a FastAPI app: OAuth 2.0 authorization code with PKCE.

::

    app = FastAPI()
    configure_swagger_oauth(app, config, client_id="<SPA client id>")

The "Authorize" button of ``/docs`` then signs in at the issuer with the authorization
code flow (RFC 6749 §4.1) protected by PKCE (RFC 7636, ``S256``): no client secret in the
browser. Every authorize request carries ``audience=<identifier>``: Auth0 issues a JWT
access token for this API only when the audience is named, and otherwise an opaque token
this API cannot verify. The dialog lists the API's ``scopes`` from the settings.

The client must be a public client at the issuer (Auth0: a single-page application) with
``<your app>/docs/oauth2-redirect`` among its allowed callback URLs, and that path (with
``/docs`` and ``/openapi.json``) must be public in the middleware.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from ..config import GuardConfig

__all__ = ["configure_swagger_oauth", "oauth_security_scheme", "swagger_init_oauth"]


def oauth_security_scheme(
    config: GuardConfig,
    *,
    authorization_url: str | None = None,
    token_url: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI security scheme: an OAuth 2.0 ``authorizationCode`` flow on the issuer.

    The endpoints default to Auth0's layout, ``{issuer}authorize`` and
    ``{issuer}oauth/token``; the scopes are the API's, with their descriptions.
    """
    issuer = config.issuer
    return {
        "type": "oauth2",
        "description": f"OAuth 2.0 access token for {config.audience} (RFC 6750 Bearer)",
        "flows": {
            "authorizationCode": {
                "authorizationUrl": authorization_url or f"{issuer}authorize",
                "tokenUrl": token_url or f"{issuer}oauth/token",
                "scopes": {scope.value: scope.description for scope in config.scopes},
            }
        },
    }


def swagger_init_oauth(config: GuardConfig, *, client_id: str) -> dict[str, Any]:
    """Swagger UI's ``initOAuth`` options: the client, PKCE, and the API as audience."""
    return {
        "clientId": client_id,
        "usePkceWithAuthorizationCodeGrant": True,
        "additionalQueryStringParams": {"audience": config.audience},
    }


def configure_swagger_oauth(
    app: FastAPI,
    config: GuardConfig,
    *,
    client_id: str,
    authorization_url: str | None = None,
    token_url: str | None = None,
    scheme_name: str = "rs_guard",
) -> None:
    """Make ``/docs`` sign in with the authorization code flow and PKCE.

    Sets ``app.swagger_ui_init_oauth`` (:func:`swagger_init_oauth`) and puts
    :func:`oauth_security_scheme` in the OpenAPI document under ``scheme_name`` (the name
    :class:`rs_guard.adapters.fastapi.RSGuard` gives its scheme, so the operations that
    require it point at this flow). Call it once, before the first request.
    """
    if not client_id:
        raise ValueError("client_id: the issuer's client id of the Swagger UI (a public client)")
    app.swagger_ui_init_oauth = swagger_init_oauth(config, client_id=client_id)
    scheme = oauth_security_scheme(config, authorization_url=authorization_url, token_url=token_url)
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})[scheme_name] = scheme
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
