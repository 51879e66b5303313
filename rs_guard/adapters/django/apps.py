"""``INSTALLED_APPS = [..., "rs_guard.adapters.django"]``: the settings are checked at start-up."""

from __future__ import annotations

from django.apps import AppConfig

from .conf import load_settings


class RSGuardAppConfig(AppConfig):
    """Validates the rs_guard settings when Django starts (a bad value stops it there)."""

    name = "rs_guard.adapters.django"
    label = "rs_guard"
    verbose_name = "rs_guard"

    def ready(self) -> None:
        load_settings()
