"""The decorator core: one wrapper for Starlette ``requires``, FastAPI ``auth.requires``
and Flask ``require*``.

An adapter says how to find the request's token (:class:`Guarded`); :func:`protect`
does the rest the same way everywhere:

* misuse fails when the route is declared: a decorator used without parentheses
  (:func:`refuse_bare_use`), or applied to a class or a non-function (:func:`check_endpoint`;
  a ``functools.partial`` of a function is one, as Django's ``method_decorator`` passes);
* the wrapper is of the endpoint's kind (``async def`` or not), chosen once, with the
  endpoint's name, docs and signature (``functools.wraps``), plus an optional hidden
  keyword-only parameter for the framework to fill;
* the order is fixed: authentication (the adapter's ``token``), then scopes and
  permissions, then claim checks (:class:`~._routes.RouteRequirements`), those that read
  a time claim (step-up's ``auth_time``) with the clock and leeway of the guard that
  authenticated the call (:attr:`Authorized.timing`);
* stacked decorators of one adapter become one wrapper with their requirements merged,
  so the order holds across them too and the request is authenticated once;
* a framework with no handler for rs_guard's errors (Django) gives :attr:`Guarded.refused`:
  the wrapper returns its answer instead of raising; and, when finding the token may block
  (a sync guard fetching keys), :attr:`Guarded.async_token` for ``async def`` endpoints.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, NamedTuple, TypedDict, TypeVar, cast

from ..errors import RSGuardError
from ..rar import DetailsSpec
from ..requirements import DEFAULT_TIMING, Requirement, Timing
from ..token import AccessToken
from ._routes import REQUIREMENTS_ATTR, RouteRequirements, build_requirements

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack


class _RouteKeywords(TypedDict, total=False):
    permissions: Iterable[str]
    checks: Iterable[Requirement]
    acr_values: Iterable[str] | None
    max_age: int | None
    authorization_details: DetailsSpec | None


class RouteOptions(_RouteKeywords, total=False):
    """The keywords of Starlette ``requires`` and FastAPI ``auth.requires``, typed once."""

    any_of: Iterable[str]


class ViewOptions(_RouteKeywords, total=False):
    """The keywords of Django ``require`` and DRF ``requires`` (``any_scopes``)."""

    any_scopes: Iterable[str]


__all__ = [
    "Authorized",
    "Guarded",
    "RouteOptions",
    "Unpack",
    "ViewOptions",
    "add_parameter",
    "check_endpoint",
    "protect",
    "refuse_bare_use",
]

F = TypeVar("F", bound=Callable[..., Any])
_PROTECTED_ATTR = "__rs_guard_protected__"


class Authorized(NamedTuple):
    """The authenticated token of a call, and where it came from (for the refusal log)."""

    token: AccessToken
    method: str | None = None
    path: str | None = None
    #: The clock and leeway of the guard behind the token (``GuardConfig.leeway``).
    timing: Timing = DEFAULT_TIMING


class Guarded(NamedTuple):
    """How one adapter protects one endpoint."""

    #: Authenticate the call (or raise): the token, from the call's arguments. It may
    #: remove the hidden parameter from ``kwargs``.
    token: Callable[[tuple[Any, ...], dict[str, Any]], Authorized]
    #: A keyword-only parameter to show in the wrapper's signature, or ``None``.
    hidden: inspect.Parameter | None = None
    #: For ``async def`` endpoints: ``token`` awaited without blocking the event loop
    #: (a sync guard's key fetch in a worker thread); ``None``: ``token`` is called.
    async_token: Callable[[tuple[Any, ...], dict[str, Any]], Awaitable[Authorized]] | None = None
    #: The answer to a refusal (401, 403...), returned instead of raising, for a
    #: framework with no handler for :class:`~rs_guard.errors.RSGuardError`.
    refused: Callable[[RSGuardError], Any] | None = None


#: Builds the :class:`Guarded` of an endpoint under given requirements.
Adapter = Callable[[Callable[..., Any], RouteRequirements], Guarded]


class _Protected(NamedTuple):
    key: object
    original: Callable[..., Any]
    requirements: RouteRequirements


def refuse_bare_use(args: Iterable[object], name: str) -> None:
    """``@name`` without parentheses passes the endpoint as a scope: refuse it."""
    for arg in args:
        if callable(arg) and not isinstance(arg, Requirement):
            raise TypeError(f"use @{name}(...) with parentheses: @{name}() or @{name}('scope')")


def check_endpoint(func: Any, name: str) -> None:
    """Refuse, when a route is declared, a decorator applied to something not an endpoint."""
    target = func.func if isinstance(func, functools.partial) else func
    if isinstance(func, type) or not (inspect.isfunction(target) or inspect.ismethod(target)):
        raise TypeError(
            f"@{name} decorates endpoint functions and methods, not {func!r}; "
            "decorate the function before registering it as a route"
        )


def add_parameter(
    wrapper: Callable[..., Any], signature: inspect.Signature, extra: inspect.Parameter
) -> None:
    """Show ``extra`` (keyword-only) in the wrapper's signature, for the framework to fill."""
    params = list(signature.parameters.values())
    at = len(params)
    if params and params[-1].kind is inspect.Parameter.VAR_KEYWORD:
        at -= 1
    params.insert(at, extra)
    setattr(wrapper, "__signature__", signature.replace(parameters=params))  # noqa: B010


def protect(
    func: F, requirements: RouteRequirements, adapter: Adapter, *, key: object, name: str
) -> F:
    """Wrap ``func`` so that each call is authenticated, then checked against ``requirements``.

    ``key`` names the adapter (and its guard): decorators with the same key stacked on one
    endpoint merge into one wrapper.
    """
    check_endpoint(func, name)
    inner = getattr(func, _PROTECTED_ATTR, None)
    if isinstance(inner, _Protected) and inner.key == key:
        func, requirements = cast(F, inner.original), requirements + inner.requirements
    guarded = adapter(func, requirements)
    authenticate, async_token, refused = guarded.token, guarded.async_token, guarded.refused

    def check(found: Authorized) -> None:
        requirements.check(found.token, method=found.method, path=found.path, timing=found.timing)

    wrapper: Callable[..., Any]
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                if async_token is None:
                    check(authenticate(args, kwargs))
                else:
                    check(await async_token(args, kwargs))
            except RSGuardError as exc:
                if refused is None:
                    raise
                return refused(exc)
            return await func(*args, **kwargs)

        wrapper = async_wrapper
    else:

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                check(authenticate(args, kwargs))
            except RSGuardError as exc:
                if refused is None:
                    raise
                return refused(exc)
            return func(*args, **kwargs)

        wrapper = sync_wrapper
    if guarded.hidden is not None:
        add_parameter(wrapper, inspect.signature(func), guarded.hidden)
    setattr(wrapper, _PROTECTED_ATTR, _Protected(key, func, requirements))
    # Every requirement of the route, for the start-up scope check (other adapters' too).
    others = getattr(func, REQUIREMENTS_ATTR, None)
    marked = requirements + others if isinstance(others, RouteRequirements) else requirements
    setattr(wrapper, REQUIREMENTS_ATTR, marked)
    return cast(F, wrapper)


def route_requirements(
    scopes: tuple[str | Requirement, ...],
    options: Mapping[str, Any],
    *,
    name: str,
    any_name: str = "any_of",
) -> RouteRequirements:
    """The requirements of a ``requires``-style call (Starlette ``requires``, FastAPI
    ``auth.requires``, Django ``require`` and DRF ``requires``): the misuse checks, then
    ``options`` by their public names (``any_name``: ``any_of``, or Django's
    ``any_scopes``) given to :func:`~._routes.build_requirements`."""
    refuse_bare_use(scopes, name)
    public = {
        any_name: "any_scopes",
        "permissions": "permission_names",
        "checks": "checks",
        "acr_values": "acr_values",
        "max_age": "max_age",
        "authorization_details": "authorization_details",
    }
    unknown = sorted(set(options) - set(public))
    if unknown:
        raise TypeError(f"{name}() got unexpected keyword arguments: {', '.join(unknown)}")
    return build_requirements(scopes, **{public[k]: v for k, v in options.items()})


def route_decorator(
    scopes: tuple[str | Requirement, ...],
    options: Mapping[str, Any],
    adapter: Adapter,
    *,
    key: object,
    name: str,
) -> Callable[[F], F]:
    """The decorator of a Starlette/FastAPI ``requires`` call: :func:`route_requirements`,
    then :func:`protect` through ``adapter``."""
    found = route_requirements(scopes, options, name=name)

    def decorator(func: F) -> F:
        return protect(func, found, adapter, key=key, name=name)

    return decorator
