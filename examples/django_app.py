"""The example API on Django, in one file, configured from the ``RS_GUARD_*`` environment.

Run it under gunicorn (threads are fine: the guard is thread-safe and fetches the
issuer's keys once) or any WSGI server::

    export RS_GUARD_DOMAIN=your-tenant.eu.auth0.com RS_GUARD_AUDIENCE=https://api.example.com
    gunicorn --threads 8 examples.django_app:application

| route                           | access                                      |
| ------------------------------- | ------------------------------------------- |
| ``GET /health``                 | public                                      |
| ``GET /me``                     | any valid access token                      |
| ``GET /appointments``           | ``read:appointments``                       |
| ``POST /appointments``          | ``write:appointments`` (201)                |
| ``DELETE /appointments/<id>``   | ``read:appointments`` and ``write:appointments`` |

With ``RS_GUARD_RESOURCE_METADATA=true`` the middleware also answers
``GET /.well-known/oauth-protected-resource`` (plus the identifier's path), public, as
RFC 9728 says. The middleware verifies every request but ``/health``; each view's ``@require`` then
checks what it needs. With an ``*_authz`` dialect and ``enforce_policies``, the same
requirements are checked against the token's ``permissions`` claim. A real project keeps
the settings in its ``settings.py``; they are here to keep the example in one file.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import django
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views import View
from django.views.decorators.http import require_http_methods

from rs_guard.adapters.django import get_token, require

READ = "read:appointments"
WRITE = "write:appointments"

MIDDLEWARE = ["rs_guard.adapters.django.RSGuardMiddleware"]
RS_GUARD = {"PUBLIC_PATHS": ["/health"]}  # with the RS_GUARD_* variables of the environment

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(32),
        ALLOWED_HOSTS=os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(","),
        ROOT_URLCONF=__name__,
        # Installing the adapter's app checks the settings when Django starts.
        INSTALLED_APPS=["rs_guard.adapters.django"],
        MIDDLEWARE=MIDDLEWARE,
        RS_GUARD=RS_GUARD,
        USE_TZ=True,
    )
    django.setup()

_APPOINTMENTS: list[dict[str, Any]] = [{"id": "1", "title": "dentist"}]


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require()
def me(request: HttpRequest) -> JsonResponse:
    token = get_token(request)
    assert token is not None  # @require() admits only a verified token
    return JsonResponse(token.to_dict())


class Appointments(View):
    @require(READ)
    def get(self, request: HttpRequest) -> JsonResponse:
        token = get_token(request)
        sub = token.subject if token else None
        return JsonResponse({"appointments": _APPOINTMENTS, "sub": sub})

    @require(WRITE)
    def post(self, request: HttpRequest) -> JsonResponse:
        token = get_token(request)
        return JsonResponse({"id": "2", "created_by": token.subject if token else None}, status=201)


@require_http_methods(["DELETE"])
@require(READ, WRITE)
def delete_appointment(request: HttpRequest, appointment_id: str) -> JsonResponse:
    return JsonResponse({"deleted": appointment_id})


urlpatterns = [
    path("health", health),
    path("me", me),
    path("appointments", Appointments.as_view()),
    path("appointments/<str:appointment_id>", delete_appointment),
]

application = get_wsgi_application()
