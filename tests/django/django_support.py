"""What the Django tests of several guards in one project share: the views a test binds
to a guard (a sync and an async view under ``@require``, a DRF view with its own
authentication class), the layouts of the adapter, the middleware of one test guard,
and the answer a test compares (status, JSON body, ``WWW-Authenticate``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple

from django.http import HttpRequest, JsonResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rs_guard import Guard
from rs_guard.adapters.django import DjangoGuardSettings, RSGuardMiddleware, get_token, require
from rs_guard.adapters.django.drf import RSGuardAuthentication, requires
from rs_guard.token import AccessToken

READ = "read:appointments"

#: What a test compares: the status, the body (JSON, else the bytes), ``WWW-Authenticate``.
Answer = tuple[int, Any, "str | None"]
#: What a view answers for the token it was given.
Body = Callable[[AccessToken], dict[str, Any]]
View = Callable[[HttpRequest], JsonResponse]


def answer_of(response: Any) -> Answer:
    try:
        body = response.json()
    except ValueError:
        body = response.content
    return response.status_code, body, response.headers.get("www-authenticate")


def subject_and_scopes(token: AccessToken) -> dict[str, Any]:
    return {"sub": token.subject, "scopes": sorted(token.scopes)}


def subject(token: AccessToken) -> dict[str, Any]:
    return {"sub": token.subject}


def views(body: Body = subject_and_scopes) -> tuple[View, Callable[..., Awaitable[Any]]]:
    """A sync and an async view answering ``body`` of the request's token (not decorated)."""

    def sync_view(request: HttpRequest) -> JsonResponse:
        token = get_token(request)
        assert token is not None
        return JsonResponse(body(token))

    async def async_view(request: HttpRequest) -> JsonResponse:
        return sync_view(request)

    return sync_view, async_view


def drf_view(guard: Guard, scopes: Sequence[str], body: Body = subject_and_scopes) -> Any:
    """A DRF view (GET and POST) authenticated by ``guard``, requiring ``scopes``."""

    class Authentication(RSGuardAuthentication):
        pass

    Authentication.guard = guard

    class DRFView(APIView):
        authentication_classes = [Authentication]
        permission_classes = [requires(*scopes)]

        def get(self, request: Request) -> Response:
            return Response(body(request.auth))

        def post(self, request: Request) -> Response:
            return self.get(request)

    return DRFView.as_view()


class Layout(NamedTuple):
    middleware: bool
    view: str  # "sync", "async" or "drf"
    asgi: bool


LAYOUTS = {
    "middleware": Layout(True, "sync", False),
    "middleware-drf": Layout(True, "drf", False),
    "decorator": Layout(False, "sync", False),
    "drf": Layout(False, "drf", False),
    "asgi-middleware": Layout(True, "async", True),
    "asgi-decorator": Layout(False, "async", True),
    "asgi-drf": Layout(False, "drf", True),
}


def view_of(layout: Layout, guard: Guard, body: Body = subject_and_scopes) -> Any:
    """The layout's view, bound to ``guard``, requiring :data:`READ`."""
    if layout.view == "drf":
        return drf_view(guard, [READ], body)
    sync_view, async_view = views(body)
    return require(READ, guard=guard)(async_view if layout.view == "async" else sync_view)


def middleware_of(
    guards: Mapping[str, Guard], name: str, public_paths: tuple[str, ...] = ()
) -> type[RSGuardMiddleware]:
    """The middleware on ``guards[name]`` (looked up when Django builds it)."""

    class Middleware(RSGuardMiddleware):
        def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
            guard = guards[name]
            settings = DjangoGuardSettings(guard.config, public_paths=public_paths)
            super().__init__(get_response, settings=settings, guard=guard)

    return Middleware
