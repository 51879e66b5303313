"""FastAPI: a ``Security(...)`` dependency that returns the verified token.

::

    auth = RSGuard(load_config())
    app = FastAPI()
    auth.install(app, public_paths=["/health"])     # /docs, /redoc, /openapi.json stay public

    @app.get("/appointments")
    async def appointments(token: AccessToken = Security(auth, scopes=["read:appointments"])):
        ...

``RSGuard`` is a FastAPI security scheme (an OAuth 2.0 authorization-code flow on the
issuer, with the API's ``scopes`` from the settings), so the OpenAPI document shows the
scheme and, per operation, the scopes it requires. It takes the token the middleware
verified only when the middleware verified it under this dependency's own settings (the
same :class:`~rs_guard.config.GuardConfig` object); otherwise (another guard's middleware
or dependency, a public path, no middleware) it verifies the request itself with its own
:class:`~rs_guard.guard.AsyncGuard`. The ``SecurityScopes`` are all required, checked
with :func:`rs_guard.requirements.all_of` against ``token.granted``.

``auth.requires(...)`` is the route decorator for path operations (all-of scopes, any-of,
permissions, claim checks): it adds a hidden ``Security(auth, scopes=...)`` parameter, so
it too works with or without the middleware and shows its scopes in OpenAPI.

Refusals are :class:`~rs_guard.errors.RSGuardError`. ``install`` registers the handler
that answers them as RFC 6750 §3 says (unless the app has its own), and the middleware
sends its own refusals to the app's handler too: replace it with
``@app.exception_handler(RSGuardError)`` to answer every refusal in one format.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from fastapi import FastAPI, Security
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.openapi.models import OAuthFlowAuthorizationCode, OAuthFlows
from fastapi.requests import HTTPConnection
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.requests import Request
from starlette.responses import Response

from ..config import GuardConfig
from ..errors import RSGuardError
from ..guard import AsyncGuard
from ..loaders import load_config
from ..observability import record_refusal
from ..requirements import Requirement, Timing, all_of
from ..token import AccessToken
from ._asgi_io import authenticate
from ._decorate import Authorized, Guarded, RouteOptions, Unpack, route_decorator
from ._routes import RouteRequirements, dependant_scopes
from ._shell import (
    CHALLENGE_KEY,
    error_response,
    record_verified,
    refusal_challenge,
    verified_under,
)
from .starlette import RSGuardMiddleware, require_scopes, requires
from .swagger import configure_swagger_oauth

F = TypeVar("F", bound=Callable[..., Any])

#: The hidden parameter :meth:`RSGuard.requires` adds: the token from ``Security(auth)``.
_TOKEN_PARAM = "rs_guard_token_"

__all__ = ["RSGuard", "dependant_scopes", "docs_paths", "require_scopes", "requires"]


def docs_paths(app: FastAPI) -> tuple[str, ...]:
    """The app's documentation paths: Swagger UI, its OAuth2 redirect, ReDoc, OpenAPI."""
    paths = [app.openapi_url, app.docs_url, app.redoc_url]
    if app.docs_url and app.openapi_url:
        paths.append(app.swagger_ui_oauth2_redirect_url)
    return tuple(path for path in paths if path)


class RSGuard(SecurityBase):
    """A FastAPI security dependency: ``Security(auth, scopes=[...]) -> AccessToken``."""

    __rs_guard_scheme__ = True  # found by the start-up scope check (_routes.SCHEME_ATTR)

    def __init__(
        self,
        config: GuardConfig | None = None,
        *,
        guard: AsyncGuard | None = None,
        scheme_name: str = "rs_guard",
        authorization_url: str | None = None,
        token_url: str | None = None,
        description: str | None = None,
    ) -> None:
        if guard is not None:
            config = guard.config
        self.config = config if config is not None else load_config()
        self._guard = guard
        issuer = self.config.issuer
        self.model = OAuth2Model(
            flows=OAuthFlows(
                authorizationCode=OAuthFlowAuthorizationCode(
                    authorizationUrl=authorization_url or f"{issuer}authorize",
                    tokenUrl=token_url or f"{issuer}oauth/token",
                    scopes={s.value: s.description for s in self.config.scopes},
                )
            ),
            description=description
            or f"OAuth 2.0 access token for {self.config.audience} (RFC 6750 Bearer)",
        )
        self.scheme_name = scheme_name
        self._checks: dict[tuple[str, ...], Requirement] = {}

    @property
    def guard(self) -> AsyncGuard:
        """The guard that verifies what no middleware of these settings verified (lazy)."""
        if self._guard is None:
            self._guard = AsyncGuard(self.config)
        return self._guard

    def install(
        self,
        app: FastAPI,
        *,
        middleware: bool = True,
        public_paths: Iterable[str] = (),
        public_docs: bool = True,
        allow_anonymous: bool = False,
        check_scopes: bool = False,
        warm_timeout: float = 1.0,
        swagger_client_id: str | None = None,
    ) -> None:
        """Register the RFC 6750 error handler (unless the app has one for
        ``RSGuardError``) and, by default, the middleware on ``app``.

        ``public_docs``: the app's documentation paths (:func:`docs_paths`) need no token.
        ``swagger_client_id``: the **Authorize** button of ``/docs`` signs in at the issuer
        with that public client (authorization code with PKCE, ``audience`` set:
        :func:`rs_guard.adapters.swagger.configure_swagger_oauth`).
        The middleware uses the ``guard`` given to this object, or makes (and closes at
        shutdown) its own from the same settings object.
        """
        if check_scopes and not middleware:
            raise TypeError(
                "check_scopes runs in the middleware's start-up; without the middleware call "
                "rs_guard.adapters.asgi.check_route_scopes(app, config) after declaring routes"
            )
        if swagger_client_id is not None:
            configure_swagger_oauth(app, self.config, client_id=swagger_client_id)
        if RSGuardError not in app.exception_handlers:
            app.add_exception_handler(RSGuardError, self.exception_handler)
        if middleware:
            source: dict[str, Any] = (
                {"guard": self._guard} if self._guard is not None else {"config": self.config}
            )
            paths = tuple(public_paths) + (docs_paths(app) if public_docs else ())
            app.add_middleware(
                RSGuardMiddleware,
                **source,
                public_paths=paths,
                allow_anonymous=allow_anonymous,
                check_scopes=check_scopes,
                warm_timeout=warm_timeout,
            )

    async def exception_handler(self, request: Request, exc: Exception) -> Response:
        """The RFC 6750 answer to a refusal, with the challenge of the guard that refused."""
        if not isinstance(exc, RSGuardError):  # pragma: no cover - registered for RSGuardError
            raise exc
        challenge = refusal_challenge(request.scope, None) or self.guard.challenge
        status, headers, body = error_response(exc, challenge)
        return Response(body, status_code=status, headers=dict(headers))

    async def __call__(
        self, connection: HTTPConnection, security_scopes: SecurityScopes
    ) -> AccessToken:
        scope = connection.scope
        try:
            token = verified_under(scope, self.config)
            if token is None:
                token = await authenticate(self.guard, scope)
                record_verified(scope, self.config, token)
            if security_scopes.scopes:
                self._check(token, security_scopes.scopes, scope)
        except RSGuardError:
            scope[CHALLENGE_KEY] = self.guard.challenge
            raise
        return token

    def _check(self, token: AccessToken, scopes: list[str], scope: Any) -> None:
        needed = tuple(scopes)
        check = self._checks.get(needed)
        if check is None:
            check = self._checks.setdefault(needed, all_of(*needed))
        try:
            check.check(token)
        except RSGuardError as exc:
            record_refusal(exc, method=scope.get("method"), url=scope.get("path"), token=token)
            raise

    @property
    def timing(self) -> Timing:
        """The clock of the guard given (else the system's) and the configured leeway."""
        return Timing(self._guard.clock if self._guard else time.time, self.config.leeway)

    def _guarded(self, func: Callable[..., Any], requirements: RouteRequirements) -> Guarded:
        hidden = inspect.Parameter(
            _TOKEN_PARAM,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=AccessToken,
            default=Security(self, scopes=list(requirements.all_of)),
        )
        timing = self.timing
        return Guarded(
            lambda args, kwargs: Authorized(kwargs.pop(_TOKEN_PARAM), timing=timing), hidden
        )

    def requires(
        self, *scopes: str | Requirement, **options: Unpack[RouteOptions]
    ) -> Callable[[F], F]:
        """Like :func:`rs_guard.adapters.starlette.requires` (the same arguments), through
        this dependency.

        The path operation gets a hidden ``Security(self, scopes=...)`` parameter, so it
        works with or without the middleware and OpenAPI shows its (all-of) scopes; the
        other requirements (step-up and RAR included) are then checked on the token the
        dependency returned, with this dependency's clock and leeway.
        """
        return route_decorator(scopes, options, self._guarded, key=self, name="auth.requires")

    async def aclose(self) -> None:
        """Close the HTTP client of the guard this dependency made (if any)."""
        if self._guard is not None:
            await self._guard.aclose()
