"""The views the Django adapter tests drive (``ROOT_URLCONF = "django_views"``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils.decorators import method_decorator
from django.views import View
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rs_guard.adapters.django import get_token, require
from rs_guard.adapters.django.drf import HasPermissions, HasScopes, requires
from rs_guard.requirements import claim_equals

READ, WRITE = "read:appointments", "write:appointments"


def _who(request: HttpRequest) -> JsonResponse:
    token = get_token(request)
    assert token is not None
    assert request.auth is token  # type: ignore[attr-defined]
    return JsonResponse({"sub": token.subject, "scopes": sorted(token.scopes)})


def open_view(request: HttpRequest) -> JsonResponse:
    token = get_token(request)
    return JsonResponse({"sub": token.subject if token else None})


@require(READ)
def read_view(request: HttpRequest) -> JsonResponse:
    return _who(request)


@require()
def any_token_view(request: HttpRequest) -> JsonResponse:
    return _who(request)


@require(any_scopes=[READ, "read:all"])
def any_of_view(request: HttpRequest) -> JsonResponse:
    return _who(request)


@require(permissions=["delete:appointments"])
def permission_view(request: HttpRequest) -> JsonResponse:
    return _who(request)


@require(READ, checks=[claim_equals("org_id", "org_1")])
def org_view(request: HttpRequest) -> JsonResponse:
    return _who(request)


@require(READ)
async def async_read_view(request: HttpRequest) -> JsonResponse:
    return _who(request)


@method_decorator(require(READ), name="dispatch")
class DispatchView(View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return _who(request)


class MethodView(View):
    @require(WRITE)
    def post(self, request: HttpRequest) -> JsonResponse:
        return _who(request)


class DRFScopes(APIView):
    permission_classes = [HasScopes]
    required_scopes = [READ]

    def get(self, request: Request) -> Response:
        return _drf_answer(request)


class DRFAuthenticated(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return _drf_answer(request)


class DRFPermissions(APIView):
    permission_classes = [HasPermissions]
    required_permissions = ["delete:appointments"]

    def get(self, request: Request) -> Response:
        return _drf_answer(request)


class DRFAnyOf(APIView):
    permission_classes = [requires(any_scopes=[READ, "read:all"])]

    def get(self, request: Request) -> Response:
        return _drf_answer(request)


class DRFStepUp(APIView):
    permission_classes = [requires(READ, acr_values=["mfa"])]  # step-up (RFC 9470)

    def get(self, request: Request) -> Response:
        return _drf_answer(request)


def _drf_answer(request: Request) -> Response:
    token: Any = request.auth
    return Response(
        {
            "sub": token.subject,
            "scopes": sorted(token.scopes),
            "user": str(request.user),
            "authenticated": request.user.is_authenticated,
        }
    )


urlpatterns = [
    path("open", open_view),
    path("public/health", open_view),
    path("read", read_view),
    path("any-token", any_token_view),
    path("any-of", any_of_view),
    path("permission", permission_view),
    path("org", org_view),
    path("async-read", async_read_view),
    path("dispatch", DispatchView.as_view()),
    path("method", MethodView.as_view()),
    path("drf/scopes", DRFScopes.as_view()),
    path("drf/authenticated", DRFAuthenticated.as_view()),
    path("drf/permissions", DRFPermissions.as_view()),
    path("drf/any-of", DRFAnyOf.as_view()),
    path("drf/step-up", DRFStepUp.as_view()),
]
