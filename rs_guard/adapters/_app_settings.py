"""Settings from a Flask-style ``app.config`` mapping: the ``RS_GUARD_*`` keys, read with
the names and meanings of the environment variables through the one table of
:mod:`rs_guard.settings` (no framework imported here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import GuardConfig
from ..errors import ConfigError
from ..loaders import load_config
from ..settings import PREFIX, as_text, unknown_message, unknown_names

__all__ = ["config_from_app"]


def config_from_app(app_config: Mapping[str, Any]) -> GuardConfig:
    """A :class:`GuardConfig` from the ``RS_GUARD_*`` keys of a Flask ``app.config``.

    Same names and meanings as the environment variables (``RS_GUARD_CONFIG`` names a
    Management API JSON file, the other keys override it); booleans, numbers and lists
    are accepted as well as strings. An unknown ``RS_GUARD_*`` key is refused, with the
    setting it most likely misspells (a typo would otherwise be ignored silently).
    """
    settings = {
        name: as_text(name, value)
        for name, value in app_config.items()
        if name.startswith(PREFIX) and value is not None and value != ""
    }
    unknown = unknown_names(settings)
    if unknown:
        raise ConfigError(unknown[0], unknown_message(unknown[0]))
    return load_config(environ=settings)
