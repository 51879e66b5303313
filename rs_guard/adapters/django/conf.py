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

from ...config import GuardConfig
from ...errors import ConfigError
from ...guard import Guard
from ...loaders import load_config, settings_from_env

__all__ = ["DjangoGuardSettings", "default_guard", "load_settings", "reset_default_guard"]

_PREFIX = "RS_GUARD_"
#: Settings the loader reads only beside another one (the nonce secret beside the nonce).
_PROBE = {"RS_GUARD_DPOP_NONCE": "true"}


@dataclass(frozen=True, slots=True)
class DjangoGuardSettings:
    """Everything the middleware, the decorator and DRF need, read once."""

    config: GuardConfig
    public_paths: tuple[str, ...] = ()
    allow_anonymous: bool = False


def _text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, os.PathLike):
        return str(os.fspath(value))
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    raise ConfigError(name, f"must be a string, got {type(value).__name__}")


def _read_by_loader(name: str, value: str) -> bool:
    """Whether the environment loader reads ``name`` (so a typo is refused, not ignored)."""
    if name == _PREFIX + "CONFIG":
        return True
    try:
        return bool(settings_from_env({name: value})) or (
            settings_from_env({**_PROBE, name: value}) != settings_from_env(_PROBE)
        )
    except ConfigError:
        return True  # read and refused: the full load names the problem


def _options(raw: Mapping[str, Any]) -> tuple[dict[str, str], tuple[str, ...], bool]:
    variables: dict[str, str] = {}
    public: tuple[str, ...] = ()
    anonymous = False
    for key, value in raw.items():
        if not isinstance(key, str):
            raise ConfigError("RS_GUARD", f"{key!r} is not a setting name")
        short = key.removeprefix(_PREFIX)
        if short == "PUBLIC_PATHS":
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                raise ConfigError(key, "must be a list of paths")
            public = tuple(value)
        elif short == "ALLOW_ANONYMOUS":
            if not isinstance(value, bool):
                raise ConfigError(key, "must be True or False")
            anonymous = value
        elif value is not None and value != "":
            name = _PREFIX + short
            variables[name] = _text(name, value)
            if not _read_by_loader(name, variables[name]):
                raise ConfigError(key, "is not an rs_guard setting")
    return variables, public, anonymous


def load_settings(environ: Mapping[str, str] | None = None) -> DjangoGuardSettings:
    """The adapter's settings, validated; a bad one is ``ImproperlyConfigured``."""
    raw = getattr(django_settings, "RS_GUARD", None) or {}
    env = os.environ if environ is None else environ
    try:
        if not isinstance(raw, Mapping):
            raise ConfigError("RS_GUARD", "must be a dict")
        variables, public, anonymous = _options(raw)
        variables.update((k, v) for k, v in env.items() if k.startswith(_PREFIX))
        config = load_config(environ=variables)
        # Built here so that a bad path fails at start-up, not on the first request.
        from ._shell import PublicPaths

        PublicPaths(public)
    except (ConfigError, TypeError) as exc:
        raise ImproperlyConfigured(f"rs_guard: {exc}") from exc
    return DjangoGuardSettings(config, public, anonymous)


_lock = threading.Lock()
_default: list[tuple[DjangoGuardSettings, Guard]] = []


def default_guard() -> tuple[DjangoGuardSettings, Guard]:
    """The process's guard for views and DRF classes used without the middleware.

    Built on first use from :func:`load_settings`; thread-safe (one key fetch in flight
    per issuer). :func:`reset_default_guard` drops it (tests that change settings).
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
