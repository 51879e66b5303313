"""Settings of the Django adapter: ``settings.RS_GUARD``, the environment, the Auth0 JSON.

``settings.RS_GUARD`` is a dict with the names of the ``RS_GUARD_*`` variables, with or
without the prefix (``"AUDIENCE"`` or ``"RS_GUARD_AUDIENCE"``), plus two adapter options:
``PUBLIC_PATHS`` (paths that need no token) and ``ALLOW_ANONYMOUS``. Values may be
strings, booleans, numbers or lists. The precedence is the one of the environment
variables: the resource-server JSON named by ``CONFIG`` first, then ``settings.RS_GUARD``,
then ``RS_GUARD_*`` variables of the environment over both. An unknown key or a bad
value raises :class:`~django.core.exceptions.ImproperlyConfigured` naming it, at
start-up (:mod:`rs_guard.adapters.django.apps`) and when the middleware is built.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from ...config import GuardConfig
from ...errors import ConfigError
from ...guard import Guard
from ._glue import PublicPaths, config_from_app

__all__ = ["DjangoGuardSettings", "default_guard", "load_settings", "reset_default_guard"]

#: The adapter's own options in ``settings.RS_GUARD`` (not settings of the guard).
_PUBLIC_PATHS = "PUBLIC_PATHS"
_ALLOW_ANONYMOUS = "ALLOW_ANONYMOUS"


@dataclass(frozen=True, slots=True)
class DjangoGuardSettings:
    """Everything the middleware, the decorator and DRF need, read once."""

    config: GuardConfig
    public_paths: tuple[str, ...] = ()
    allow_anonymous: bool = False


def _option(raw: Mapping[Any, Any], name: str) -> tuple[str, Any] | None:
    """The adapter option ``name``, given with or without the prefix."""
    for key in (name, "RS_GUARD_" + name):
        if key in raw:
            return key, raw[key]
    return None


def _adapter_options(raw: Mapping[Any, Any]) -> tuple[tuple[str, ...], bool]:
    public: tuple[str, ...] = ()
    found = _option(raw, _PUBLIC_PATHS)
    if found is not None:
        key, value = found
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(key, "must be a list of paths")
        public = tuple(value)
    anonymous = False
    found = _option(raw, _ALLOW_ANONYMOUS)
    if found is not None:
        key, value = found
        if not isinstance(value, bool):
            raise ConfigError(key, "must be True or False")
        anonymous = value
    return public, anonymous


def load_settings(environ: Mapping[str, str] | None = None) -> DjangoGuardSettings:
    """The adapter's settings, validated; a bad one is ``ImproperlyConfigured``."""
    raw = getattr(django_settings, "RS_GUARD", None) or {}
    try:
        if not isinstance(raw, Mapping):
            raise ConfigError("RS_GUARD", "must be a dict")
        public, anonymous = _adapter_options(raw)
        options = {_PUBLIC_PATHS, _ALLOW_ANONYMOUS}
        rest = {k: v for k, v in raw.items() if str(k).removeprefix("RS_GUARD_") not in options}
        env = os.environ if environ is None else environ
        config = config_from_app(rest, bare_names=True, environ=env)
        PublicPaths(public)  # built here so that a bad path fails at start-up
    except (ConfigError, TypeError) as exc:
        raise ImproperlyConfigured(f"rs_guard: {exc}") from exc
    return DjangoGuardSettings(config, public, anonymous)


_lock = threading.Lock()
_default: list[tuple[DjangoGuardSettings, Guard]] = []


def default_guard() -> tuple[DjangoGuardSettings, Guard]:
    """The process's guard: the middleware's (unless given its own), ``@require``'s and
    the DRF classes' (unless bound to another), so that they trust each other's token.

    Built on first use from :func:`load_settings`; thread-safe (one key fetch in flight
    per issuer). :func:`reset_default_guard` drops it (tests that change settings; a
    change of ``settings.RS_GUARD`` through ``override_settings`` does it too).
    """
    if not _default:
        with _lock:
            if not _default:
                loaded = load_settings()
                _default.append((loaded, Guard(loaded.config)))
    return _default[0]


def reset_default_guard() -> None:
    """Forget (and close) the default guard: the next use reads the settings again."""
    with _lock:
        while _default:
            _default.pop()[1].close()


def _settings_changed(*, setting: str, **_: Any) -> None:
    """``override_settings(RS_GUARD=...)`` (tests): the default guard follows the settings."""
    if setting == "RS_GUARD":
        reset_default_guard()


setting_changed.connect(_settings_changed, dispatch_uid="rs_guard.adapters.django.conf")
