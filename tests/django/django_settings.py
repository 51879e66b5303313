"""Settings the Django tests share (a module of its own: ``conftest`` is not importable by
name when several test directories have one)."""

from __future__ import annotations

from typing import Any

#: What every test here runs with (applied with ``override_settings``).
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rs_guard.adapters.django.drf.RSGuardAuthentication"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}
