"""rs_guard for Django: a middleware, a view decorator, and Django REST framework classes.

* :class:`RSGuardMiddleware` (``MIDDLEWARE``): verifies every request outside
  ``PUBLIC_PATHS``; the token is ``request.auth`` (:func:`get_token`);
* :func:`require`: what a view demands (scopes, any-of, permissions, claim checks);
* ``rs_guard.adapters.django.drf``: ``RSGuardAuthentication``, ``HasScopes``...;
* ``INSTALLED_APPS += ["rs_guard.adapters.django"]`` checks the settings at start-up.

Settings: :mod:`rs_guard.adapters.django.conf`.
"""

from __future__ import annotations

from .conf import DjangoGuardSettings, default_guard, load_settings, reset_default_guard
from .decorators import require
from .middleware import RSGuardMiddleware, get_token

__all__ = [
    "DjangoGuardSettings",
    "RSGuardMiddleware",
    "default_guard",
    "get_token",
    "load_settings",
    "require",
    "reset_default_guard",
]
