"""``@require(...)``: what a view demands of the request's token, for sync and async views.

::

    @require("read:appointments")                       # every scope listed
    @require(any_scopes=["read:all", "read:mine"])      # at least one
    @require(permissions=["delete:appointments"])       # RBAC permissions claim
    @require("read:x", checks=[claim_equals("org_id", "org_1")])

Works on function views, on ``View`` methods (``dispatch``, ``get``...) and through
``method_decorator``. The order is fixed: authentication (401), then scopes and
permissions (403 ``insufficient_scope`` with ``scope=``), then claim checks (403).

With :class:`~rs_guard.adapters.django.RSGuardMiddleware` installed, the token it
verified is used; without it (or on one of its public paths) the decorator verifies the
request itself with the process's default guard (:func:`~.conf.default_guard`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase

from ...errors import Challenge, RSGuardError
from ...requirements import Requirement
from ...token import AccessToken
from ._shell import RouteRequirements, build_route_requirements, refusal, require_token
from .conf import default_guard
from .middleware import SEEN_ATTR, authenticate_request, get_token

__all__ = ["REQUIREMENTS_ATTR", "require"]

#: The attribute set on a decorated view: its :class:`RouteRequirements` (for checks, docs).
REQUIREMENTS_ATTR = "__rs_guard_requirements__"

V = TypeVar("V", bound=Callable[..., Any])


def _request_of(args: tuple[Any, ...]) -> HttpRequest:
    """The request among a view's arguments: first for a function, second for a method."""
    for arg in args[:2]:
        if isinstance(arg, HttpRequest):
            return arg
    raise TypeError("@require decorates a Django view: no HttpRequest among its arguments")


def _verified(request: HttpRequest) -> tuple[AccessToken, Challenge]:
    """The request's token (from the middleware, or verified now), or a refusal."""
    challenge = getattr(request, SEEN_ATTR, None)
    if isinstance(challenge, Challenge):
        return require_token(get_token(request)), challenge
    loaded, guard = default_guard()
    token = authenticate_request(request, guard, allow_anonymous=loaded.allow_anonymous)
    return require_token(token), guard.challenge


def _admit(request: HttpRequest, requirements: RouteRequirements) -> HttpResponseBase | None:
    """``None`` when the request may reach the view, else the refusal to send."""
    challenge = None
    try:
        token, challenge = _verified(request)
        requirements.check(token, method=request.method, path=request.path)
    except RSGuardError as exc:
        return refusal(exc, challenge or default_guard()[1].challenge)
    return None


def _protect(view: V, requirements: RouteRequirements) -> V:
    if iscoroutinefunction(view):
        admit = sync_to_async(_admit, thread_sensitive=False)

        @functools.wraps(view)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            refused = await admit(_request_of(args), requirements)
            if refused is not None:
                return refused
            return await view(*args, **kwargs)

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(view)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            refused = _admit(_request_of(args), requirements)
            return refused if refused is not None else view(*args, **kwargs)

        wrapper = sync_wrapper
    setattr(wrapper, REQUIREMENTS_ATTR, requirements)
    return wrapper  # type: ignore[no-any-return]


def require(
    *scopes: str | Requirement,
    any_scopes: Iterable[str] = (),
    permissions: Iterable[str] = (),
    checks: Iterable[Requirement] = (),
) -> Callable[[V], V]:
    """Protect a view: a valid token granting every scope in ``scopes`` (and the rest).

    ``@require()`` demands a valid token only. Misuse fails when the view is declared:
    ``@require`` without parentheses, a bare string for a list, an empty scope name.
    """
    if len(scopes) == 1 and callable(scopes[0]) and not isinstance(scopes[0], Requirement):
        raise TypeError("write @require() or @require('scope'), not a bare @require")
    requirements = build_route_requirements(
        scopes, any_scopes=any_scopes, permission_names=permissions, checks=checks
    )

    def decorate(view: V) -> V:
        return _protect(view, requirements)

    return decorate
