"""The glue between the Django adapter and the cores every rs_guard adapter shares.

GLUE: every name the Django adapter takes from the shared adapter modules is imported
here, and only here: the shell core (:mod:`rs_guard.adapters._shell`: public paths,
accept/refuse, the provenance of a verified token, the RFC 6750 answer), the decorator
core (:mod:`rs_guard.adapters._decorate`: misuse checks, requirement order), the route
requirements (:mod:`rs_guard.adapters._routes`), the settings reader
(:mod:`rs_guard.adapters._app_settings`) and the WSGI request view
(:func:`rs_guard.adapters.wsgi.context_from_environ` and
:func:`rs_guard.adapters.wsgi.known_token`, which read ``request.META`` as they read a
WSGI environ). What is left here is Django's own part: a request as a
:class:`~rs_guard.context.RequestContext`, its per-request storage, and a refusal as a
Django response. No rule is decided here.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse, HttpResponseBase

from ...binding.certs import client_cert_from_asgi
from ...config import GuardConfig
from ...context import RequestContext
from ...errors import Challenge, RSGuardError
from ...guard import Guard
from ...token import AccessToken
from .._app_settings import config_from_app
from .._decorate import (
    Adapter,
    Authorized,
    Guarded,
    Unpack,
    ViewOptions,
    protect,
    refuse_bare_use,
    route_requirements,
)
from .._routes import REQUIREMENTS_ATTR, RouteRequirements, build_requirements, require_token
from .._shell import (
    TOKEN_KEY,
    ErrorResponse,
    PublicPaths,
    Shell,
    error_response,
    record_verified,
    verified_under,
)
from ..wsgi import context_from_environ
from ..wsgi import known_token as known_in_environ

R = TypeVar("R", bound=HttpResponseBase)

__all__ = [
    "REFUSED_ATTR",
    "REQUIREMENTS_ATTR",
    "TOKEN_KEY",
    "Adapter",
    "Authorized",
    "Guarded",
    "PublicPaths",
    "RouteRequirements",
    "Shell",
    "Unpack",
    "ViewOptions",
    "build_requirements",
    "config_from_app",
    "context_of",
    "error_response",
    "known_token",
    "mark_logged",
    "protect",
    "record_verified",
    "refusal",
    "refuse_bare_use",
    "require_token",
    "response_of",
    "route_requirements",
    "storage_of",
    "verified_under",
]

#: Set on a request that an rs_guard class refused inside DRF (see :func:`mark_logged`).
REFUSED_ATTR = "_rs_guard_refused"


def storage_of(request: HttpRequest) -> dict[str, Any]:
    """The request's own storage for the shell core's records: ``request.META``.

    Under a WSGI server it is the WSGI environ itself, so a token recorded by
    :class:`~rs_guard.adapters.wsgi.RSGuardWSGIMiddleware` around Django is seen here
    (and taken only under the same settings object, as everywhere).
    """
    meta: dict[str, Any] = request.META
    return meta


def context_of(request: HttpRequest, config: GuardConfig) -> RequestContext:
    """The framework-neutral view of a Django request (WSGI or ASGI).

    ``request.META`` is the WSGI environ under a WSGI server; under ASGI Django builds
    the same keys from the scope (joining repeated headers with commas, as WSGI servers
    do), but without ``wsgi.url_scheme``: the scheme then comes from the ASGI scope,
    never from a header, and the client certificate from the ASGI TLS extension.
    """
    scope: Any = getattr(request, "scope", None)
    meta: Any = request.META
    if isinstance(scope, dict) and "wsgi.url_scheme" not in meta:
        meta = {**meta, "wsgi.url_scheme": scope.get("scheme", "http")}
    ctx = context_from_environ(meta, config)
    if isinstance(scope, dict) and config.mtls_enabled:
        ctx.client_cert = client_cert_from_asgi(scope, config)
    return ctx


def known_token(request: HttpRequest, guard: Guard) -> AccessToken | None:
    """The token ``guard``'s flow would give this request, when that is certain without
    running it (:meth:`~rs_guard.guard.GuardCore.known_token`); else ``None``: run the flow
    on :func:`context_of`.

    ``request.META`` holds the ``Authorization`` lines and the query as a WSGI environ
    does, under ASGI too (Django joins repeated header lines with commas, as WSGI servers
    do), so the WSGI reading is the one :func:`context_of` uses: one rule for both.
    """
    return known_in_environ(guard, request.META)


def mark_logged(response: R) -> R:
    """Skip Django's own log line for a refusal rs_guard has already logged (without the
    token): Django's 4xx line carries the request, whose query string may hold a token."""
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def response_of(answer: ErrorResponse) -> HttpResponse:
    """The shell core's answer (a refusal, or the RFC 9728 document) as a Django response."""
    status, headers, body = answer
    response = HttpResponse(body, status=status)
    for name, value in headers:
        response[name] = value
    return mark_logged(response)


def refusal(exc: RSGuardError, challenge: Challenge | None) -> HttpResponse:
    """The RFC 6750 answer to a refusal (:func:`error_response`) as a Django response."""
    return response_of(error_response(exc, challenge))
