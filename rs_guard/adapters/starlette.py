"""Starlette glue: ``request.auth``/``request.user``, refusals through the app's exception
handler, and route requirements for Starlette endpoints and FastAPI path operations.

::

    app = Starlette(routes=..., middleware=[Middleware(RSGuardMiddleware, config=...)])

    @requires("read:appointments")                     # all of these scopes
    @requires(any_of=["admin", "read:appointments"])   # at least one
    @requires(permissions=["delete:appointments"])     # RBAC permissions claim
    @requires(claim_equals("org_id", "org_1"))         # any rs_guard Requirement

:class:`RSGuardMiddleware` is the pure ASGI middleware of :mod:`rs_guard.adapters.asgi`
plus Starlette's ``scope["auth"]`` (:class:`TokenCredentials`, ``scopes`` =
``token.granted``) and ``scope["user"]`` (:class:`TokenUser`), so Starlette's own
``requires``, ``request.auth`` and ``request.user`` work; a refusal it decides goes to the
app's exception handler for :class:`~rs_guard.errors.RSGuardError` when there is one
(``@app.exception_handler(RSGuardError)``), so an app answers the middleware's 401s and
its routes' 403s in one format.

The checks of :func:`requires` are :mod:`rs_guard.requirements` objects, tested against
the token in ``scope["rs_guard.token"]`` in the order authentication, scopes and
permissions, claim checks (:mod:`rs_guard.adapters._decorate`). A failed check raises
:class:`~rs_guard.errors.InsufficientScope`, answered 403 with ``scope="..."``
(RFC 6750 §3.1). An endpoint without a ``request``/``websocket`` parameter (the FastAPI
style) gets a hidden ``HTTPConnection`` parameter that FastAPI fills and the wrapper
removes. A protected route reached without the middleware (and without a FastAPI
``Security`` dependency that verified the token) is refused with a ``RuntimeError`` that
names the route.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from starlette.authentication import AuthCredentials, BaseUser, UnauthenticatedUser
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request

from ..errors import RSGuardError
from ..rar import DetailsSpec
from ..requirements import DEFAULT_TIMING, Requirement
from ..token import AccessToken
from . import asgi
from ._asgi_io import ASGIApp, Receive, Scope
from ._decorate import Authorized, Guarded, route_decorator
from ._routes import RouteRequirements, require_token
from ._shell import TOKEN_KEY, Shell, verified_under

__all__ = [
    "RSGuardMiddleware",
    "TokenCredentials",
    "TokenUser",
    "app_refusal_handler",
    "require_scopes",
    "requires",
    "token_of",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The parameter added to an endpoint that has no ``request`` of its own (FastAPI style).
_HIDDEN = "rs_guard_connection_"


class _ReadOnly:
    """Attributes set once, in ``__init__``: the object is shared between requests (every
    anonymous one, or every one of a token), so a request changing it would change what
    the next one is granted (Starlette's ``requires`` reads ``request.auth.scopes``)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is shared between requests: read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is shared between requests: read-only")


class _Credentials(_ReadOnly, AuthCredentials):
    """``request.auth``: the scopes granted, a tuple, read-only."""

    def __init__(self, scopes: tuple[str, ...]) -> None:
        object.__setattr__(self, "scopes", scopes)


class _Anonymous(_ReadOnly, UnauthenticatedUser):
    """``request.user`` of a public path or an anonymous request, read-only."""


_ANONYMOUS = _Anonymous()
#: ``request.auth`` without a token (public path, anonymous mode): shared, so read-only.
_NO_CREDENTIALS = _Credentials(())


class TokenCredentials(_Credentials):
    """``request.auth`` of an authenticated request: what the token grants, read-only.

    ``scopes`` is ``token.granted`` (the ``scope`` claim, or ``permissions`` for an
    ``*_authz`` dialect with ``enforce_policies``), sorted, as a tuple: one instance is
    shared by every request that presents the same token, so it cannot be changed.
    """

    def __init__(self, token: AccessToken) -> None:
        super().__init__(tuple(sorted(token.granted)))


class TokenUser(_ReadOnly, BaseUser):
    """The ``request.user`` of an authenticated request: the token's subject (read-only,
    shared by the requests of one token)."""

    __slots__ = ("token",)
    token: AccessToken

    def __init__(self, token: AccessToken) -> None:
        object.__setattr__(self, "token", token)

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.token.subject or self.token.client_id or ""

    @property
    def identity(self) -> str:
        return self.token.subject or ""

    def __repr__(self) -> str:
        return f"TokenUser({self.token!r})"


async def app_refusal_handler(scope: Scope, receive: Receive, exc: RSGuardError) -> ASGIApp | None:
    """The response of the app's exception handler for ``exc`` (``None``: it has none).

    Looked up as Starlette's ``ExceptionMiddleware`` does (the exception's classes, most
    specific first), among ``RSGuardError`` and its subclasses only.
    """
    handlers = getattr(scope.get("app"), "exception_handlers", None)
    if not isinstance(handlers, dict):
        return None
    for cls in type(exc).__mro__:
        if not issubclass(cls, RSGuardError):
            return None  # a handler for Exception is the 500 page's, not for refusals
        handler = handlers.get(cls)
        if handler is not None:
            request = Request(scope, receive)
            if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
                getattr(handler, "__call__", None)  # noqa: B004 - an async callable object
            ):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
            return response  # type: ignore[no-any-return]
    return None


class RSGuardMiddleware(asgi.RSGuardMiddleware):
    """The ASGI middleware with Starlette's ``request.auth``/``request.user`` filled and
    refusals answered by the app's exception handler for ``RSGuardError``, if any."""

    principal_by_token = True  # read-only objects made from the token alone

    def fill_principal(self, scope: Scope, token: AccessToken | None) -> None:
        # With the token cache on, the middleware keeps what this writes for each token
        # object: one TokenCredentials (immutable, hence shareable) per token.
        if token is None:
            scope["auth"], scope["user"] = _NO_CREDENTIALS, _ANONYMOUS
        else:
            scope["auth"], scope["user"] = TokenCredentials(token), TokenUser(token)

    async def refusal_app(
        self, scope: Scope, receive: Receive, exc: RSGuardError
    ) -> ASGIApp | None:
        return await app_refusal_handler(scope, receive, exc)


def _scope_token(scope: Scope) -> AccessToken | None:
    """The token verified under the settings of the innermost middleware (never one an
    outer middleware of other settings verified); without a middleware, the token a
    FastAPI ``Security`` dependency verified."""
    shell = scope.get(asgi.STATE_KEY)
    if isinstance(shell, Shell):
        return verified_under(scope, shell.config)
    token = scope.get(TOKEN_KEY)
    return token if isinstance(token, AccessToken) else None


def token_of(conn: HTTPConnection) -> AccessToken:
    """The verified token of a request (``401`` refusal if there is none)."""
    return require_token(_scope_token(conn.scope))


def _authorize(conn: Any, where: str) -> Authorized:
    if not isinstance(conn, HTTPConnection):
        raise RuntimeError(f"{where}: rs_guard could not find the request of this call")
    scope = conn.scope
    token = _scope_token(scope)
    shell = scope.get(asgi.STATE_KEY)
    if token is None and shell is None:
        raise RuntimeError(
            f"{where} is protected by rs_guard's @requires, but RSGuardMiddleware is not "
            "installed (add Middleware(RSGuardMiddleware, ...) to the app)"
        )
    # The middleware's clock and leeway (a FastAPI dependency's token: the defaults).
    timing = shell.timing if isinstance(shell, Shell) else DEFAULT_TIMING
    return Authorized(require_token(token), scope.get("method", "GET"), scope.get("path"), timing)


def _signature(func: Callable[..., Any]) -> inspect.Signature:
    """The endpoint's signature, string annotations resolved when they can be."""
    try:
        return inspect.signature(func, eval_str=True)
    except Exception:  # an annotation naming something not importable here
        return inspect.signature(func)


def _connection_parameter(signature: inspect.Signature) -> tuple[int, str] | None:
    """Position and name of the endpoint's ``request``/``websocket`` parameter."""
    for index, param in enumerate(signature.parameters.values()):
        annotation = param.annotation
        if param.name in ("request", "websocket") or (
            isinstance(annotation, type) and issubclass(annotation, HTTPConnection)
        ):
            return index, param.name
    return None


def _guarded(func: Callable[..., Any], requirements: RouteRequirements) -> Guarded:
    where = f"endpoint {func.__qualname__}"
    located = _connection_parameter(_signature(func))
    if located is None:
        hidden = inspect.Parameter(
            _HIDDEN, inspect.Parameter.KEYWORD_ONLY, annotation=HTTPConnection
        )
        return Guarded(lambda args, kwargs: _authorize(kwargs.pop(_HIDDEN, None), where), hidden)
    index, name = located

    def token(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Authorized:
        conn = kwargs[name] if name in kwargs else (args[index] if len(args) > index else None)
        return _authorize(conn, where)

    return Guarded(token)


def requires(
    *scopes: str | Requirement,
    any_of: Iterable[str] = (),
    permissions: Iterable[str] = (),
    checks: Iterable[Requirement] = (),
    acr_values: Iterable[str] | None = None,
    max_age: int | None = None,
    authorization_details: DetailsSpec | None = None,
) -> Callable[[F], F]:
    """Protect an endpoint: plain strings are all required; any rs_guard Requirement too.

    ``acr_values``/``max_age``: step-up (RFC 9470, :mod:`rs_guard.stepup`);
    ``authorization_details``: RAR (RFC 9396, :mod:`rs_guard.rar`).
    """
    options = {
        "any_of": any_of,
        "permissions": permissions,
        "checks": checks,
        "acr_values": acr_values,
        "max_age": max_age,
        "authorization_details": authorization_details,
    }
    return route_decorator(scopes, options, _guarded, key="starlette", name="requires")


#: Another name for :func:`requires`, for code that already imports Starlette's ``requires``.
require_scopes = requires
