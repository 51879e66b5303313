"""Settings from a Flask-style ``app.config`` mapping: the ``RS_GUARD_*`` keys, read with
the names and meanings of the environment variables (no framework imported here)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..config import GuardConfig
from ..errors import ConfigError
from ..loaders import load_config, settings_from_env

__all__ = ["config_from_app"]


def _as_setting(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)  # type: ignore[no-any-return]
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(item) for item in value)
    raise ConfigError(name, f"must be a string, got {type(value).__name__}")


def _is_known(name: str, value: str) -> bool:
    """Whether the loader reads ``name`` (asked of the loader itself, so it stays in sync)."""
    if name == "RS_GUARD_CONFIG":
        return True
    try:
        return bool(settings_from_env({name: value}))
    except ConfigError:
        return True  # read, and refused: the full load names the problem


def config_from_app(app_config: Mapping[str, Any]) -> GuardConfig:
    """A :class:`GuardConfig` from the ``RS_GUARD_*`` keys of a Flask ``app.config``.

    Same names and meanings as the environment variables (``RS_GUARD_CONFIG`` names a
    Management API JSON file, the other keys override it); booleans, numbers and lists
    are accepted as well as strings. An unknown ``RS_GUARD_*`` key is refused (a typo
    would otherwise be ignored silently).
    """
    settings = {
        name: _as_setting(name, value)
        for name, value in app_config.items()
        if name.startswith("RS_GUARD_") and value is not None and value != ""
    }
    for name, value in settings.items():
        if not _is_known(name, value):
            raise ConfigError(name, "is not an rs_guard setting")
    return load_config(environ=settings)
