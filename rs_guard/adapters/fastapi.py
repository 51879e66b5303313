"""FastAPI: a ``Security(...)`` dependency that returns the verified token.

::

    auth = RSGuard(load_config())
    app = FastAPI()
    auth.install(app, public_paths=["/health", "/docs*", "/openapi.json"])

    @app.get("/appointments")
    async def appointments(token: AccessToken = Security(auth, scopes=["read:appointments"])):
        ...

``RSGuard`` is a FastAPI security scheme (an OAuth 2.0 authorization-code flow on the
issuer, with the API's ``scopes`` from the settings), so the OpenAPI document shows the
scheme and, per operation, the scopes it requires. With the middleware installed it
reads the token the middleware verified; without it (``install(app, middleware=False)``
or no ``install`` on a public path) it verifies the request itself with its own
:class:`~rs_guard.guard.AsyncGuard`. The ``SecurityScopes`` are all required, checked with
:func:`rs_guard.requirements.all_of` against ``token.granted``.

``auth.requires(...)`` is the route decorator for path operations (all-of scopes, any-of,
permissions, claim checks): it adds a hidden ``Security(auth, scopes=...)`` parameter, so
it too works with or without the middleware and shows its scopes in OpenAPI.

Refusals are :class:`~rs_guard.errors.RSGuardError`; ``install`` registers the handler that
answers them exactly as RFC 6750 §3 (and INTERFACE.md §3) says, body
``{"error", "error_description"}``, and the middleware answers them as well.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

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
from ..requirements import Requirement, all_of
from ..route_checks import route_checks
from ..token import AccessToken
from ._common import TOKEN_KEY, build_requirements, error_response
from .asgi import STATE_KEY, GuardState, RSGuardMiddleware, request_context
from .starlette import add_parameter, check_endpoint, mark, require_scopes, requires

F = TypeVar("F", bound=Callable[..., Any])

#: The hidden parameter :meth:`RSGuard.requires` adds: the token from ``Security(auth)``.
_TOKEN_PARAM = "rs_guard_token_"

__all__ = ["RSGuard", "dependant_scopes", "require_scopes", "requires"]


class RSGuard(SecurityBase):
    """A FastAPI security dependency: ``Security(auth, scopes=[...]) -> AccessToken``."""

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
        """The guard used when no middleware verified the request (made on first use)."""
        if self._guard is None:
            self._guard = AsyncGuard(self.config)
        return self._guard

    def install(
        self,
        app: FastAPI,
        *,
        middleware: bool = True,
        public_paths: Iterable[str] = (),
        allow_anonymous: bool = False,
        check_scopes: bool = False,
        warm_timeout: float = 1.0,
    ) -> None:
        """Register the RFC 6750 error handler and (by default) the middleware on ``app``.

        The middleware uses the ``guard`` given to this object, or makes (and closes at
        shutdown) its own from the settings.
        """
        if check_scopes and not middleware:
            raise TypeError(
                "check_scopes runs in the middleware's start-up; without the middleware call "
                "rs_guard.adapters.asgi.check_route_scopes(app, config) after declaring routes"
            )
        app.add_exception_handler(RSGuardError, self.exception_handler)
        if middleware:
            source: dict[str, Any] = (
                {"guard": self._guard} if self._guard is not None else {"config": self.config}
            )
            app.add_middleware(
                RSGuardMiddleware,
                **source,
                public_paths=tuple(public_paths),
                allow_anonymous=allow_anonymous,
                check_scopes=check_scopes,
                warm_timeout=warm_timeout,
            )

    async def exception_handler(self, request: Request, exc: Exception) -> Response:
        """The RFC 6750 answer to a refusal raised in a dependency or endpoint."""
        if not isinstance(exc, RSGuardError):  # pragma: no cover - registered for RSGuardError
            raise exc
        state = request.scope.get(STATE_KEY)
        guard = state.guard if isinstance(state, GuardState) else self.guard
        status, headers, body = error_response(exc, guard.challenge)
        return Response(body, status_code=status, headers=dict(headers))

    async def __call__(
        self, connection: HTTPConnection, security_scopes: SecurityScopes
    ) -> AccessToken:
        scope = connection.scope
        token = scope.get(TOKEN_KEY)
        if not isinstance(token, AccessToken):
            state = scope.get(STATE_KEY)
            guard = state.guard if isinstance(state, GuardState) else self.guard
            token = await guard.authenticate(request_context(scope, guard.config))
            scope[TOKEN_KEY] = token
        needed = tuple(security_scopes.scopes)
        if needed:
            check = self._checks.get(needed)
            if check is None:
                check = self._checks.setdefault(needed, all_of(*needed))
            try:
                check.check(token)
            except RSGuardError as exc:
                record_refusal(
                    exc, method=scope.get("method"), url=scope.get("path"), token=token.raw
                )
                raise
        return token

    def requires(
        self,
        *scopes: str | Requirement,
        any_of: Iterable[str] = (),
        permissions: Iterable[str] = (),
        checks: Iterable[Requirement] = (),
        acr_values: Iterable[str] | None = None,
        max_age: int | None = None,
        authorization_details: Any = None,
    ) -> Callable[[F], F]:
        """Like :func:`rs_guard.adapters.starlette.requires`, through this dependency.

        The path operation gets a hidden ``Security(self, scopes=...)`` parameter, so it
        works with or without the middleware and OpenAPI shows its (all-of) scopes; the
        other requirements are then checked on the token the dependency returned.
        """
        if len(scopes) == 1 and callable(scopes[0]) and not isinstance(scopes[0], Requirement):
            raise TypeError("write @auth.requires('scope', ...) with parentheses")
        extra = route_checks(  # newground: the RFC 9470 / RFC 9396 keywords as checks
            acr_values=acr_values, max_age=max_age, authorization_details=authorization_details
        )
        route_requirements = build_requirements(
            scopes, any_scopes=any_of, permission_names=permissions, checks=(*checks, *extra)
        )
        declared = [s for s in scopes if isinstance(s, str)]

        def decorator(func: F) -> F:
            check_endpoint(func)
            signature = inspect.signature(func)
            hidden = inspect.Parameter(
                _TOKEN_PARAM,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=AccessToken,
                default=Security(self, scopes=declared),
            )
            wrapper: Callable[..., Any]
            if inspect.iscoroutinefunction(func):

                @functools.wraps(func)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    route_requirements.check(kwargs.pop(_TOKEN_PARAM))
                    return await func(*args, **kwargs)

                wrapper = async_wrapper
            else:

                @functools.wraps(func)
                def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                    route_requirements.check(kwargs.pop(_TOKEN_PARAM))
                    return func(*args, **kwargs)

                wrapper = sync_wrapper
            add_parameter(wrapper, signature, hidden)
            mark(wrapper, func, route_requirements)
            return cast(F, wrapper)

        return decorator

    async def aclose(self) -> None:
        """Close the HTTP client of the guard this dependency made (if any)."""
        if self._guard is not None:
            await self._guard.aclose()


def dependant_scopes(dependant: Any) -> tuple[str, ...]:
    """Every scope an operation's ``Security(RSGuard, scopes=...)`` dependencies require."""
    seen: dict[str, None] = {}
    stack = [dependant]
    while stack:
        node = stack.pop()
        if isinstance(getattr(node, "call", None), RSGuard):
            for scope in (node.parent_oauth_scopes or []) + (node.own_oauth_scopes or []):
                seen.setdefault(scope, None)
        stack.extend(getattr(node, "dependencies", None) or [])
    return tuple(seen)
