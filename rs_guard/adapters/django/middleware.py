"""The Django middleware: the access token of every request is verified before the view.

``MIDDLEWARE = [..., "rs_guard.adapters.django.RSGuardMiddleware"]``. A request outside
``PUBLIC_PATHS`` without a valid token is answered here, as RFC 6750 §3 says, and never
reaches the view; an accepted one carries its :class:`~rs_guard.token.AccessToken` as
``request.auth`` (read it with :func:`get_token`).

A request whose ``Authorization`` value the guard knows (the known-token path,
:meth:`~rs_guard.guard.GuardCore.known_token`, read by :func:`._glue.known_token`) takes
its token without running the flow; every other request runs the whole flow.

The middleware is sync and async capable: under WSGI it runs in the request's thread;
under ASGI a known token is taken on the event loop (no I/O), and otherwise the same
thread-safe :class:`~rs_guard.guard.Guard` runs in a worker thread (``sync_to_async``,
not thread-sensitive), so that a key fetch never blocks the event loop. One guard per
middleware: one key cache, one replay store, one nonce secret for
both modes; by default the process's guard, shared with ``@require`` and DRF.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Any, Literal, overload
from weakref import WeakKeyDictionary

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase

from ...errors import RSGuardError
from ...guard import Guard
from ...token import AccessToken
from ._glue import (
    REFUSED_ATTR,
    Shell,
    context_of,
    known_token,
    mark_logged,
    record_verified,
    response_of,
    storage_of,
    verified_under,
)
from .conf import DjangoGuardSettings, default_guard, load_settings

__all__ = [
    "AUTH_ATTR",
    "RSGuardMiddleware",
    "get_token",
    "shell_of",
    "token_at_hand",
    "verify_request",
]

#: The request attribute holding the verified token (``None``: anonymous).
AUTH_ATTR = "auth"

GetResponse = Callable[[HttpRequest], Any]


def get_token(request: HttpRequest) -> AccessToken | None:
    """The token verified for this request, or ``None`` (public path, anonymous, none yet)."""
    token = getattr(request, AUTH_ATTR, None)
    return token if isinstance(token, AccessToken) else None


_SHELLS: WeakKeyDictionary[Guard, Shell] = WeakKeyDictionary()


def shell_of(guard: Guard) -> Shell:
    """The shell core's view of a guard that ``@require`` or DRF verifies with (its
    challenge, and its clock and leeway for route checks: :attr:`Shell.timing`)."""
    shell = _SHELLS.get(guard)
    if shell is None:
        shell = _SHELLS[guard] = Shell.of(guard)
    return shell


def token_at_hand(request: HttpRequest, guard: Guard) -> AccessToken | None:
    """The request's token under ``guard``'s settings when no flow has to run, else ``None``.

    The token the middleware (or an earlier decorator) verified, taken only when it was
    verified under this very settings object; else the guard's known token for the
    request (:func:`._glue.known_token`), then recorded. Never blocks (no I/O).
    """
    storage = storage_of(request)
    token = verified_under(storage, guard.config)
    if token is None:
        token = known_token(request, guard)
        if token is None:
            return None
        record_verified(storage, guard.config, token)
    setattr(request, AUTH_ATTR, token)  # what the view reads: its own guard's token
    return token


def verify_request(request: HttpRequest, guard: Guard) -> AccessToken:
    """The request's token verified under ``guard``'s settings (``@require``, DRF).

    :func:`token_at_hand`, else the guard's whole flow on the request, its token then
    recorded. Raises :class:`~rs_guard.errors.RSGuardError` for a refusal.
    """
    token = token_at_hand(request, guard)
    if token is None:
        token = guard.authenticate(context_of(request, guard.config))
        record_verified(storage_of(request), guard.config, token)
        setattr(request, AUTH_ATTR, token)
    return token


class _Flow(enum.Enum):
    """:meth:`RSGuardMiddleware._check` on the event loop: only the flow can decide."""

    NEEDED = enum.auto()


class RSGuardMiddleware:
    """Verify each request's access token; answer refusals (RFC 6750 §3).

    By default it verifies with the process's guard (:func:`~.conf.default_guard`, from
    the settings, read when Django builds the middleware chain at server start, so a bad
    one fails there), the one ``@require`` and the DRF classes use too: they take the
    token it verified. Pass ``settings=`` or ``guard=`` to build one by hand (tests,
    several APIs); a decorator or DRF class with another guard then verifies the request
    itself (a token is trusted only under the settings object that verified it).

    The decisions (the RFC 9728 metadata document with ``RESOURCE_METADATA`` on, public
    paths, accept, refuse or let through anonymously, the answer) are the shell core's
    (:class:`~rs_guard.adapters._shell.Shell`), as in the ASGI and WSGI middlewares; the
    token is recorded in ``request.META`` with the settings that verified it.
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
        if settings is None and guard is None:
            settings, guard = default_guard()
        self.settings = settings or load_settings()
        self.guard = guard or Guard(self.settings.config)
        self.shell = Shell.of(
            self.guard,
            public_paths=self.settings.public_paths,
            allow_anonymous=self.settings.allow_anonymous,
        )
        self._authenticate = sync_to_async(self._check, thread_sensitive=False)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    @overload
    def _check(
        self, request: HttpRequest, *, flow: Literal[True] = True
    ) -> HttpResponseBase | None: ...

    @overload
    def _check(
        self, request: HttpRequest, *, flow: Literal[False]
    ) -> HttpResponseBase | Literal[_Flow.NEEDED] | None: ...

    def _check(
        self, request: HttpRequest, *, flow: bool = True
    ) -> HttpResponseBase | Literal[_Flow.NEEDED] | None:
        """``None`` to let the request through, or the answer to send (a refusal, or the
        RFC 9728 document, which is public and answered before anything else).

        ``flow=False`` (on the event loop): :attr:`_Flow.NEEDED` instead of running the
        flow, when the token is not known (:func:`._glue.known_token`)."""
        shell = self.shell
        if shell.metadata is not None:
            document = shell.metadata_answer(request.path, request.method or "GET")
            if document is not None:
                return response_of(document)
        token: AccessToken | None = None
        if not shell.is_public(request.path_info):
            storage = storage_of(request)
            token = known_token(request, self.guard)
            if token is None:
                if not flow:
                    return _Flow.NEEDED
                try:
                    token = self.guard.authenticate(context_of(request, self.guard.config))
                except RSGuardError as exc:  # the guard has logged it (rs_guard.observability)
                    answer = shell.refuse(storage, exc)
                    if answer is not None:
                        return response_of(answer)
            if token is not None:
                shell.accept(storage, token)
        setattr(request, AUTH_ATTR, token)
        return None

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        refused = self._check(request)
        if refused is not None:
            return refused
        return self._quiet(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        refused = self._check(request, flow=False)
        if refused is _Flow.NEEDED:  # a key fetch may block: not on the event loop
            refused = await self._authenticate(request)
        if refused is not None:
            return refused
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return self._quiet(request, await response)

    @staticmethod
    def _quiet(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        """A refusal answered by rs_guard's DRF classes is kept out of Django's log too."""
        return mark_logged(response) if getattr(request, REFUSED_ATTR, False) else response
