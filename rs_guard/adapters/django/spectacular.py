"""drf-spectacular: the OpenAPI security scheme of :class:`~.drf.RSGuardAuthentication`.

Imported by the adapter's app (``rs_guard.adapters.django`` in ``INSTALLED_APPS``) when
drf-spectacular is installed, which registers the extension; or import this module from
your own app's ``ready()``. Every view authenticated by rs_guard then shows an HTTP
``bearer`` scheme (JWT) in the schema.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

__all__ = ["SCHEME_NAME", "RSGuardScheme"]

#: The name of the security scheme in ``components.securitySchemes``.
SCHEME_NAME = "rsGuardBearer"


class RSGuardScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """An HTTP bearer scheme (RFC 6750) carrying a JWT access token."""

    target_class = "rs_guard.adapters.django.drf.RSGuardAuthentication"
    name = SCHEME_NAME
    match_subclasses = True

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
