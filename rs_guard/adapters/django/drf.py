"""Django REST framework: an authentication class and permission classes.

::

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["rs_guard.adapters.django.drf.RSGuardAuthentication"],
        "UNAUTHENTICATED_USER": None,
    }

    class Appointments(APIView):
        permission_classes = [HasScopes]
        required_scopes = ["read:appointments"]

* :class:`RSGuardAuthentication` sets ``request.user`` to a :class:`TokenUser` and
  ``request.auth`` to the :class:`~rs_guard.token.AccessToken`. Its
  ``authenticate_header`` is the RFC 6750 challenge, so DRF answers a request without
  credentials 401 (not 403). A request without credentials is anonymous here (DRF's
  permission classes decide); a bad token is refused (401/400/503) at once.
* :class:`HasScopes` (``required_scopes``), :class:`HasAnyScope` (``required_any_scopes``),
  :class:`HasPermissions` (``required_permissions``) and :func:`requires` (any
  requirement, as :func:`rs_guard.adapters.django.require` takes) refuse a missing
  token 401 and a token lacking what the view requires 403 ``insufficient_scope`` with
  ``scope="..."`` (RFC 6750 §3.1).

Refusals keep the exact status, ``WWW-Authenticate`` (and ``Retry-After``) and the
``{"error", "error_description"}`` body; DRF renders the body itself. A ``DPoP-Nonce``
answer needs :class:`~rs_guard.adapters.django.RSGuardMiddleware` (DRF's exception
handler drops other headers), which these classes then rely on.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import APIException
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ...errors import Challenge, KeysUnavailable, MissingCredentials, RSGuardError
from ...guard import Guard
from ...requirements import Requirement
from ...token import AccessToken
from ._glue import (
    REFUSED_ATTR,
    RouteRequirements,
    Unpack,
    ViewOptions,
    build_requirements,
    error_response,
    require_token,
    route_requirements,
)
from .conf import default_guard
from .middleware import shell_of, verify_request

__all__ = [
    "HasAnyScope",
    "HasPermissions",
    "HasScopes",
    "RSGuardAuthentication",
    "RSGuardRefusal",
    "TokenUser",
    "requires",
]


class TokenUser:
    """``request.user`` for a verified token: authenticated, named by its subject."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, token: AccessToken) -> None:
        self.token = token
        self.pk = self.id = self.username = token.subject or token.client_id or ""

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"TokenUser({self.username!r})"


class RSGuardRefusal(APIException):
    """A rs_guard refusal as DRF answers it: same status, challenge and JSON body.

    ``request`` (the Django request) is marked, so that the middleware, when installed,
    keeps the answer out of Django's own log (it would carry the query string).
    """

    def __init__(
        self, exc: RSGuardError, challenge: Challenge, request: HttpRequest | None = None
    ) -> None:
        if request is not None:
            setattr(request, REFUSED_ATTR, True)
        status, headers, _ = error_response(exc, challenge)
        body = {"error": exc.error, "error_description": exc.description}
        if exc.error is None:
            del body["error"]
        super().__init__(detail=body)
        self.status_code = status
        self.auth_header = dict(headers).get("www-authenticate")
        if isinstance(exc, KeysUnavailable):
            self.wait = exc.retry_after
        self.rs_guard_error = exc


class RSGuardAuthentication(BaseAuthentication):
    """Authenticate with the request's access token (``request.auth``).

    The token :class:`~rs_guard.adapters.django.RSGuardMiddleware` verified is taken when
    it used this class's guard's settings object (the default middleware does); otherwise
    the request is verified here. ``guard``: a :class:`~rs_guard.guard.Guard` to verify
    with (set it in a subclass), else the process's (:func:`~.conf.default_guard`).
    """

    guard: Guard | None = None

    def guard_of(self) -> Guard:
        """The guard this class verifies with."""
        return self.guard if self.guard is not None else default_guard()[1]

    def authenticate(self, request: Request) -> tuple[TokenUser, AccessToken] | None:
        django_request: HttpRequest = request._request
        guard = self.guard_of()
        try:
            token = verify_request(django_request, guard)
        except MissingCredentials:
            return None  # anonymous here: the permission classes decide
        except RSGuardError as exc:
            raise RSGuardRefusal(exc, guard.challenge, django_request) from None
        return TokenUser(token), token

    def authenticate_header(self, request: Request) -> str | None:
        missing = MissingCredentials("this route requires an access token")
        headers = error_response(missing, self.guard_of().challenge).headers
        return dict(headers).get("www-authenticate")


def _guard(request: Request) -> Guard:
    """The guard that authenticated the request; for an anonymous one, the guard of the
    view's first rs_guard authentication class (its challenge answers the 401); else the
    process's."""
    authenticator = getattr(request, "successful_authenticator", None)
    if isinstance(authenticator, RSGuardAuthentication):
        return authenticator.guard_of()
    for candidate in getattr(request, "authenticators", None) or ():
        if isinstance(candidate, RSGuardAuthentication):
            return candidate.guard_of()
    return default_guard()[1]


class _RequirementPermission(BasePermission):
    """Refuse a request whose token does not meet :meth:`requirements`."""

    def requirements(self, view: Any) -> RouteRequirements:
        raise NotImplementedError

    def has_permission(self, request: Request, view: Any) -> bool:
        django_request: HttpRequest = request._request
        guard = _guard(request)
        try:
            token = require_token(request.auth)
            self.requirements(view).check(
                token, method=request.method, path=request.path, timing=shell_of(guard).timing
            )
        except RSGuardError as exc:
            raise RSGuardRefusal(exc, guard.challenge, django_request) from None
        return True


def _names(view: Any, attribute: str) -> tuple[str, ...]:
    names = getattr(view, attribute, None)
    if names is None or isinstance(names, str):
        raise TypeError(f"{type(view).__name__}.{attribute} must be a list of names")
    return tuple(names)


class HasScopes(_RequirementPermission):
    """Every scope in the view's ``required_scopes``."""

    def requirements(self, view: Any) -> RouteRequirements:
        return build_requirements(_names(view, "required_scopes"))


class HasAnyScope(_RequirementPermission):
    """At least one scope of the view's ``required_any_scopes``."""

    def requirements(self, view: Any) -> RouteRequirements:
        return build_requirements(any_scopes=_names(view, "required_any_scopes"))


class HasPermissions(_RequirementPermission):
    """Every name in the view's ``required_permissions`` in the ``permissions`` claim."""

    def requirements(self, view: Any) -> RouteRequirements:
        return build_requirements(permission_names=_names(view, "required_permissions"))


def requires(*scopes: str | Requirement, **options: Unpack[ViewOptions]) -> type[BasePermission]:
    """A permission class for these requirements: ``permission_classes = [requires(...)]``
    (the keywords of :func:`rs_guard.adapters.django.require`, step-up and RAR included,
    ``guard`` aside)."""
    built = route_requirements(scopes, options, name="requires", any_name="any_scopes")

    class Requires(_RequirementPermission):
        def requirements(self, view: Any) -> RouteRequirements:
            return built

    Requires.__name__ = Requires.__qualname__ = "Requires"
    return Requires
