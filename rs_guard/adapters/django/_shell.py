"""The glue between the Django adapter and the rules every rs_guard shell shares.

GLUE: every call this adapter makes into the other adapters' shared helpers
(``rs_guard.adapters._common``, ``rs_guard.adapters.wsgi``) is in this one module, so
that it can be pointed at the common shell core in one place. Nothing here decides a
rule of its own: public paths (with the dot-segment guard), the request view (credential
headers, the DPoP ``htu`` URL from ``public_url`` or the server's own name), the
RFC 6750 refusal and the decorator requirements all come from those helpers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse, HttpResponseBase

from ...binding.certs import client_cert_from_asgi
from ...config import GuardConfig
from ...context import RequestContext
from ...errors import Challenge, RSGuardError
from ...requirements import Requirement
from ...token import AccessToken
from .._common import PublicPaths, RouteRequirements, build_requirements, error_response
from .._common import require_token as _require_token
from ..wsgi import context_from_environ

R = TypeVar("R", bound=HttpResponseBase)

__all__ = [
    "REFUSED_ATTR",
    "PublicPaths",
    "RouteRequirements",
    "build_route_requirements",
    "context_of",
    "mark_logged",
    "refusal",
    "refusal_parts",
    "require_token",
]


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


def refusal(exc: RSGuardError, challenge: Challenge | None) -> HttpResponse:
    """The RFC 6750 answer to a refusal as a Django response."""
    status, headers, body = error_response(exc, challenge)
    response = HttpResponse(body, status=status)
    for name, value in headers:
        response[name] = value
    return mark_logged(response)


#: Set on a request that an rs_guard class refused inside DRF (see :func:`mark_logged`).
REFUSED_ATTR = "_rs_guard_refused"


def mark_logged(response: R) -> R:
    """Skip Django's own log line for a refusal rs_guard has already logged (without the
    token): Django's 4xx line carries the request, whose query string may hold a token."""
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def build_route_requirements(
    scopes: Iterable[str | Requirement],
    *,
    any_scopes: Iterable[str],
    permission_names: Iterable[str],
    checks: Iterable[Requirement],
) -> RouteRequirements:
    """The decorator's arguments as requirements (order: scopes, any-of, permissions, checks)."""
    return build_requirements(
        scopes, any_scopes=any_scopes, permission_names=permission_names, checks=checks
    )


def require_token(token: object) -> AccessToken:
    """The token of a request that reached a protected view, or the 401 refusal."""
    return _require_token(token)


def refusal_parts(exc: RSGuardError, challenge: Challenge | None) -> tuple[int, dict[str, str]]:
    """The status and headers of the RFC 6750 answer (for DRF, which renders its own body)."""
    status, headers, _ = error_response(exc, challenge)
    return status, dict(headers)
