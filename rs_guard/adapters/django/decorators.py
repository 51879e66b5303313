"""``@require(...)``: what a view demands of the request's token, for sync and async views.

::

    @require("read:appointments")                       # every scope listed
    @require(any_scopes=["read:all", "read:mine"])      # at least one
    @require(permissions=["delete:appointments"])       # RBAC permissions claim
    @require("read:x", checks=[claim_equals("org_id", "org_1")])
    @require("transfer:funds", acr_values=["mfa"], max_age=300)   # step-up (RFC 9470)
    @require(authorization_details={"type": "payment_initiation"})  # RAR (RFC 9396)

Works on function views, on ``View`` methods (``dispatch``, ``get``...) and through
``method_decorator``. The wrapper is the decorator core's
(:func:`rs_guard.adapters._decorate.protect`), as for Flask's and Starlette's: misuse
fails when the view is declared, and the order is fixed: authentication (401), then
scopes and permissions (403 ``insufficient_scope`` with ``scope=``), then claim checks
(403; step-up: 401 ``insufficient_user_authentication``), with the guard's clock and
leeway. A refusal is answered by the decorator as RFC 6750 §3 says.

The token comes from the request's guard: the process's guard (:func:`~.conf.default_guard`),
or ``guard=``. The middleware's token is taken only when the middleware verified it
with that guard's settings object (the default middleware does); otherwise, on one of
its public paths and without the middleware, the decorator verifies the request itself.
Under ASGI an ``async def`` view's verification runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponseBase

from ...errors import RSGuardError
from ...guard import Guard
from ...rar import DetailsSpec
from ...requirements import Requirement
from ._glue import (
    REQUIREMENTS_ATTR,
    Adapter,
    Authorized,
    Guarded,
    protect,
    refusal,
    route_requirements,
)
from .conf import default_guard
from .middleware import shell_of, token_at_hand, verify_request

__all__ = ["REQUIREMENTS_ATTR", "require"]

V = TypeVar("V", bound=Callable[..., Any])


def _request_of(args: tuple[Any, ...]) -> HttpRequest:
    """The request among a view's arguments: first for a function, second for a method."""
    for arg in args[:2]:
        if isinstance(arg, HttpRequest):
            return arg
    raise TypeError("@require decorates a Django view: no HttpRequest among its arguments")


def _adapter(bound: Guard | None) -> Adapter:
    """How ``@require`` finds the token: with ``bound``, else the process's guard."""

    def guard() -> Guard:
        return bound if bound is not None else default_guard()[1]

    def token(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Authorized:
        request, verifier = _request_of(args), guard()
        found = verify_request(request, verifier)
        return Authorized(found, request.method, request.path, shell_of(verifier).timing)

    verify_in_thread = sync_to_async(verify_request, thread_sensitive=False)

    async def async_token(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Authorized:
        request, verifier = _request_of(args), guard()
        found = token_at_hand(request, verifier)
        if found is None:  # the flow: a key fetch may block, not on the event loop
            found = await verify_in_thread(request, verifier)
        return Authorized(found, request.method, request.path, shell_of(verifier).timing)

    def refused(exc: RSGuardError) -> HttpResponseBase:
        return refusal(exc, guard().challenge)

    guarded = Guarded(token, async_token=async_token, refused=refused)
    return lambda view, requirements: guarded


_DEFAULT = _adapter(None)


def require(
    *scopes: str | Requirement,
    any_scopes: Iterable[str] = (),
    permissions: Iterable[str] = (),
    checks: Iterable[Requirement] = (),
    acr_values: Iterable[str] | None = None,
    max_age: int | None = None,
    authorization_details: DetailsSpec | None = None,
    guard: Guard | None = None,
) -> Callable[[V], V]:
    """Protect a view: a valid token granting every scope in ``scopes`` (and the rest).

    ``@require()`` demands a valid token only. ``acr_values``/``max_age``: step-up
    (RFC 9470); ``authorization_details``: RAR (RFC 9396). Misuse fails when the view is
    declared: ``@require`` without parentheses, a bare string for a list, an empty scope name.
    ``guard``: verify with this :class:`~rs_guard.guard.Guard` (another API's settings)
    instead of the process's.
    """
    options = {
        "any_scopes": any_scopes,
        "permissions": permissions,
        "checks": checks,
        "acr_values": acr_values,
        "max_age": max_age,
        "authorization_details": authorization_details,
    }
    requirements = route_requirements(scopes, options, name="require", any_name="any_scopes")
    adapter = _DEFAULT if guard is None else _adapter(guard)
    key: object = "django" if guard is None else ("django", guard)

    def decorate(view: V) -> V:
        return protect(view, requirements, adapter, key=key, name="require")

    return decorate
