"""Route requirements for Starlette endpoints and FastAPI path operations.

::

    @requires("read:appointments")                     # all of these scopes
    @requires(any_of=["admin", "read:appointments"])   # at least one
    @requires(permissions=["delete:appointments"])     # RBAC permissions claim
    @requires(claim_equals("org_id", "org_1"))         # any rs_guard Requirement

The checks are :mod:`rs_guard.requirements` objects, tested against the token the
:class:`~rs_guard.adapters.asgi.RSGuardMiddleware` verified (``token.granted``: scopes, or
permissions for an ``*_authz`` dialect with ``enforce_policies``). A failed check raises
:class:`~rs_guard.errors.InsufficientScope`, which the middleware answers 403 with
``scope="..."`` (RFC 6750 §3.1).

Like Starlette's own ``requires``, the decorator inspects the endpoint once, when it
decorates: sync and async endpoints get a wrapper of their own kind, the signature is
kept (``functools.wraps``), and misuse (``@requires`` without parentheses, decorating a
class or something not callable) is a ``TypeError`` at import. An endpoint without a
``request``/``websocket`` parameter (the FastAPI style) gets a hidden ``HTTPConnection``
parameter that FastAPI fills and the wrapper removes. A protected route reached without
the middleware (and without a FastAPI ``Security`` dependency that verified the token) is
refused with a ``RuntimeError`` that names the route.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from starlette.requests import HTTPConnection

from ..requirements import Requirement
from ..route_checks import route_checks
from ..token import AccessToken
from ._common import REQUIREMENTS_ATTR, TOKEN_KEY, RouteRequirements, build_requirements
from ._common import require_token as _require_token
from .asgi import STATE_KEY, TokenUser

__all__ = [
    "TokenUser",
    "add_parameter",
    "check_endpoint",
    "mark",
    "require_scopes",
    "requires",
    "token_of",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The parameter added to an endpoint that has no ``request`` of its own (FastAPI style).
_HIDDEN = "rs_guard_connection_"


def token_of(conn: HTTPConnection) -> AccessToken:
    """The verified token of a request (``401`` refusal if there is none)."""
    return _require_token(conn.scope.get(TOKEN_KEY))


def _authorize(conn: Any, requirements: RouteRequirements, where: str) -> None:
    if not isinstance(conn, HTTPConnection):
        raise RuntimeError(f"{where}: rs_guard could not find the request of this call")
    scope = conn.scope
    token = scope.get(TOKEN_KEY)
    if token is None and STATE_KEY not in scope:
        raise RuntimeError(
            f"{where} is protected by rs_guard's @requires, but RSGuardMiddleware is not "
            "installed (add Middleware(RSGuardMiddleware, ...) to the app)"
        )
    requirements.check(
        _require_token(token), method=scope.get("method", "GET"), path=scope.get("path")
    )


def check_endpoint(func: Any) -> None:
    """Refuse, when a route is declared, a decorator applied to something not an endpoint."""
    if isinstance(func, type) or not (inspect.isfunction(func) or inspect.ismethod(func)):
        raise TypeError(
            f"@requires decorates endpoint functions and methods, not {func!r}; "
            "decorate the function before registering it as a route"
        )


def add_parameter(
    wrapper: Callable[..., Any], signature: inspect.Signature, extra: inspect.Parameter
) -> None:
    """Show ``extra`` (keyword-only) in the wrapper's signature, for FastAPI to fill."""
    params = list(signature.parameters.values())
    at = len(params)
    if params and params[-1].kind is inspect.Parameter.VAR_KEYWORD:
        at -= 1
    params.insert(at, extra)
    setattr(wrapper, "__signature__", signature.replace(parameters=params))  # noqa: B010


def mark(wrapper: Any, func: Any, requirements: RouteRequirements) -> None:
    """Record the route's requirements on the wrapper (stacked decorators add up)."""
    inner = getattr(func, REQUIREMENTS_ATTR, None)
    if isinstance(inner, RouteRequirements):
        requirements = RouteRequirements(inner.requirements + requirements.requirements)
    setattr(wrapper, REQUIREMENTS_ATTR, requirements)


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


def _find(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else None


def requires(
    *scopes: str | Requirement,
    any_of: Iterable[str] = (),
    permissions: Iterable[str] = (),
    checks: Iterable[Requirement] = (),
    acr_values: Iterable[str] | None = None,
    max_age: int | None = None,
    authorization_details: Any = None,
) -> Callable[[F], F]:
    """Protect an endpoint: plain strings are all required; any rs_guard Requirement too.

    ``acr_values``/``max_age``: step-up (RFC 9470); ``authorization_details``: RAR (RFC 9396).
    """
    if len(scopes) == 1 and callable(scopes[0]) and not isinstance(scopes[0], Requirement):
        raise TypeError("write @requires('scope', ...) with parentheses and scope names")
    extra = route_checks(  # newground: the RFC 9470 / RFC 9396 keywords as checks
        acr_values=acr_values, max_age=max_age, authorization_details=authorization_details
    )
    route_requirements = build_requirements(
        scopes, any_scopes=any_of, permission_names=permissions, checks=(*checks, *extra)
    )

    def decorator(func: F) -> F:
        check_endpoint(func)
        where = f"endpoint {func.__qualname__}"
        signature = _signature(func)
        located = _connection_parameter(signature)
        is_async = inspect.iscoroutinefunction(func)
        wrapper: Callable[..., Any]

        if located is not None:
            index, name = located

            if is_async:

                @functools.wraps(func)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    _authorize(_find(args, kwargs, index, name), route_requirements, where)
                    return await func(*args, **kwargs)

                wrapper = async_wrapper
            else:

                @functools.wraps(func)
                def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                    _authorize(_find(args, kwargs, index, name), route_requirements, where)
                    return func(*args, **kwargs)

                wrapper = sync_wrapper
        else:
            hidden = inspect.Parameter(
                _HIDDEN, inspect.Parameter.KEYWORD_ONLY, annotation=HTTPConnection
            )
            if is_async:

                @functools.wraps(func)
                async def async_hidden(*args: Any, **kwargs: Any) -> Any:
                    _authorize(kwargs.pop(_HIDDEN, None), route_requirements, where)
                    return await func(*args, **kwargs)

                wrapper = async_hidden
            else:

                @functools.wraps(func)
                def sync_hidden(*args: Any, **kwargs: Any) -> Any:
                    _authorize(kwargs.pop(_HIDDEN, None), route_requirements, where)
                    return func(*args, **kwargs)

                wrapper = sync_hidden
            add_parameter(wrapper, signature, hidden)

        mark(wrapper, func, route_requirements)
        return cast(F, wrapper)

    return decorator


#: Another name for :func:`requires`, for code that already imports Starlette's ``requires``.
require_scopes = requires
