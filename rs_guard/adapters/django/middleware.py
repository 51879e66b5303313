"""The Django middleware: the access token of every request is verified before the view.

``MIDDLEWARE = [..., "rs_guard.adapters.django.RSGuardMiddleware"]``. A request outside
``PUBLIC_PATHS`` without a valid token is answered here, as RFC 6750 §3 says, and never
reaches the view; an accepted one carries its :class:`~rs_guard.token.AccessToken` as
``request.auth`` (read it with :func:`get_token`).

The middleware is sync and async capable: under WSGI it runs in the request's thread;
under ASGI the same thread-safe :class:`~rs_guard.guard.Guard` runs in a worker thread
(``sync_to_async``, not thread-sensitive), so that a key fetch never blocks the event
loop. One guard per middleware: one key cache, one replay store, one nonce secret for
both modes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase

from ...errors import MissingCredentials, RSGuardError
from ...guard import Guard
from ...token import AccessToken
from ._shell import REFUSED_ATTR, PublicPaths, context_of, mark_logged, refusal
from .conf import DjangoGuardSettings, load_settings

__all__ = ["AUTH_ATTR", "RSGuardMiddleware", "authenticate_request", "get_token"]

#: The request attribute holding the verified token (``None``: anonymous).
AUTH_ATTR = "auth"
#: Set (to the guard's challenge) on a request whose credentials were checked, so that
#: a view decorator uses that result and does not verify the request again.
SEEN_ATTR = "_rs_guard_seen"

GetResponse = Callable[[HttpRequest], Any]


def get_token(request: HttpRequest) -> AccessToken | None:
    """The token verified for this request, or ``None`` (public path, anonymous, none yet)."""
    token = getattr(request, AUTH_ATTR, None)
    return token if isinstance(token, AccessToken) else None


def authenticate_request(
    request: HttpRequest, guard: Guard, *, allow_anonymous: bool = False
) -> AccessToken | None:
    """Verify the request's credentials; ``None`` for an accepted anonymous request.

    Raises :class:`~rs_guard.errors.RSGuardError` for a refusal. Sets ``request.auth``.
    """
    try:
        token: AccessToken | None = guard.authenticate(context_of(request, guard.config))
    except MissingCredentials:
        if not allow_anonymous:
            raise
        token = None
    setattr(request, AUTH_ATTR, token)
    setattr(request, SEEN_ATTR, guard.challenge)
    return token


class RSGuardMiddleware:
    """Verify each request's access token; answer refusals (RFC 6750 §3).

    Settings come from :func:`~rs_guard.adapters.django.conf.load_settings`, read when
    Django builds the middleware chain (server start), so a bad one fails there. Pass
    ``settings=`` or ``guard=`` to build one by hand (tests, several APIs).
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: GetResponse,
        *,
        settings: DjangoGuardSettings | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.get_response = get_response
        self.settings = settings or load_settings()
        self.guard = guard or Guard(self.settings.config)
        self.public_paths = PublicPaths(self.settings.public_paths)
        self._authenticate = sync_to_async(self._check, thread_sensitive=False)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _check(self, request: HttpRequest) -> HttpResponseBase | None:
        """``None`` to let the request through, or the refusal to send."""
        if self.public_paths and request.path_info in self.public_paths:
            setattr(request, AUTH_ATTR, None)
            return None
        try:
            authenticate_request(request, self.guard, allow_anonymous=self.settings.allow_anonymous)
        except RSGuardError as exc:
            # The guard itself logs and reports every refusal (rs_guard.observability).
            return refusal(exc, self.guard.challenge)
        return None

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        refused = self._check(request)
        if refused is not None:
            return refused
        return self._quiet(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        refused = await self._authenticate(request)
        if refused is not None:
            return refused
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return self._quiet(request, await response)

    @staticmethod
    def _quiet(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        """A refusal answered by rs_guard's DRF classes is kept out of Django's log too."""
        return mark_logged(response) if getattr(request, REFUSED_ATTR, False) else response
