"""``INSTALLED_APPS = [..., "rs_guard.adapters.django"]``: the settings are checked at start-up."""

from __future__ import annotations

import importlib
import importlib.util

from django.apps import AppConfig

from .conf import load_settings


class RSGuardAppConfig(AppConfig):
    """Validates the rs_guard settings when Django starts (a bad value stops it there);
    with drf-spectacular installed, registers the OpenAPI security scheme."""

    name = "rs_guard.adapters.django"
    label = "rs_guard"
    verbose_name = "rs_guard"

    def ready(self) -> None:
        load_settings()
        if all(importlib.util.find_spec(name) for name in ("rest_framework", "drf_spectacular")):
            # registers the OpenAPI security scheme of RSGuardAuthentication
            importlib.import_module("rs_guard.adapters.django.spectacular")
