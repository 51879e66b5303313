"""Settings from a framework's settings mapping (Flask's ``app.config``, Django's
``settings.RS_GUARD``): the ``RS_GUARD_*`` keys, read with the names and meanings of the
environment variables through the one table of :mod:`rs_guard.settings` (no framework
imported here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import GuardConfig
from ..errors import ConfigError
from ..loaders import load_config
from ..settings import PREFIX, as_text, unknown_message, unknown_names

__all__ = ["config_from_app"]


def _named(app_config: Mapping[Any, Any], bare_names: bool) -> dict[str, Any]:
    """The settings of the mapping under their ``RS_GUARD_*`` names."""
    named: dict[str, Any] = {}
    for key, value in app_config.items():
        if not isinstance(key, str):
            if bare_names:
                raise ConfigError(PREFIX.rstrip("_"), f"{key!r} is not a setting name")
            continue
        if key.startswith(PREFIX):
            named[key] = value
        elif bare_names:
            named[PREFIX + key] = value
    return named


def config_from_app(
    app_config: Mapping[Any, Any],
    *,
    bare_names: bool = False,
    environ: Mapping[str, str] | None = None,
) -> GuardConfig:
    """A :class:`GuardConfig` from the ``RS_GUARD_*`` keys of a settings mapping.

    Same names and meanings as the environment variables (``RS_GUARD_CONFIG`` names a
    Management API JSON file, the other keys override it); booleans, numbers and lists
    are accepted as well as strings. An unknown ``RS_GUARD_*`` key is refused, with the
    setting it most likely misspells (a typo would otherwise be ignored silently).

    * ``bare_names``: the mapping holds rs_guard settings only, with or without the
      prefix (Django's ``settings.RS_GUARD``: ``"AUDIENCE"`` or ``"RS_GUARD_AUDIENCE"``),
      so every key is a setting and an unknown one is refused; otherwise (Flask's
      ``app.config``) keys without the prefix belong to the app and are skipped.
    * ``environ``: ``RS_GUARD_*`` variables that override the mapping (Django reads the
      process environment over its settings file, as the variables' own precedence);
      they are read as :func:`~rs_guard.loaders.load_config` reads the environment.
    """
    settings = {
        name: as_text(name, value)
        for name, value in _named(app_config, bare_names).items()
        if value is not None and value != ""
    }
    unknown = unknown_names(settings)
    if unknown:
        raise ConfigError(unknown[0], unknown_message(unknown[0]))
    if environ is not None:  # the environment's own names are the loader's to judge
        settings.update((k, v) for k, v in environ.items() if k.startswith(PREFIX))
    return load_config(environ=settings)
