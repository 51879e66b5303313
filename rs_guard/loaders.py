"""Building a :class:`~rs_guard.config.GuardConfig` from the outside world.

* :func:`settings_from_resource_server`: the JSON object of the Auth0 Management API
  (``GET /api/v2/resource-servers/{id}``); unknown fields are ignored.
* :func:`settings_from_env`: the ``RS_GUARD_*`` variables (the table in
  :mod:`rs_guard.settings`).
* :func:`load_config`: both, the environment over the file named by ``RS_GUARD_CONFIG``.

Every function returns keyword arguments or a config; a bad value raises
:class:`~rs_guard.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import (
    DPoPOptions,
    GuardConfig,
    JWKSOptions,
    ProofOfPossession,
    Scope,
    SubjectTypeAuthorization,
    TokenEncryption,
)
from .errors import ConfigError
from .rar import declared_types
from .settings import SETTINGS, comma_list, domain_issuer, unknown_message, unknown_names

__all__ = ["load_config", "settings_from_env", "settings_from_resource_server"]

logger = logging.getLogger("rs_guard.config")
#: Fields that only concern the authorization server; read, documented, ignored here.
AUTHORIZATION_SERVER_ONLY = (
    "allow_offline_access",
    "allow_online_access",
    "skip_consent_for_verifiable_first_party_clients",
    "consent_policy",
    "authorization_policy",
    "is_system",
    "client_id",
)


def _expect(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...], field: str) -> Any:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and kind in (int, (int, float)):
        raise ConfigError(field, "must be a number")
    if not isinstance(value, kind):
        raise ConfigError(field, f"has the wrong type ({type(value).__name__})")
    return value


def settings_from_resource_server(data: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for :class:`GuardConfig` from a Management API resource server."""
    if not isinstance(data, Mapping):
        raise ConfigError("resource_server", "must be a JSON object")
    out: dict[str, Any] = {}
    simple = {
        "identifier": ("audience", str),
        "signing_alg": ("algorithm", str),
        "signing_secret": ("signing_secret", str),
        "token_dialect": ("token_dialect", str),
        "token_lifetime": ("token_lifetime", int),
        "token_lifetime_for_web": ("token_lifetime_for_web", int),
        "enforce_policies": ("enforce_policies", bool),
        "name": ("name", str),
        "id": ("resource_server_id", str),
    }
    for source, (target, kind) in simple.items():
        value = _expect(data, source, kind, source)
        if value is not None:
            out[target] = value
    scopes = data.get("scopes")
    if scopes is not None:
        if not isinstance(scopes, list):
            raise ConfigError("scopes", "must be a list")
        parsed = []
        for item in scopes:
            if not isinstance(item, Mapping) or not isinstance(item.get("value"), str):
                raise ConfigError("scopes", "each scope needs a string 'value'")
            parsed.append(Scope(item["value"], str(item.get("description") or "")))
        out["scopes"] = tuple(parsed)
    pop = data.get("proof_of_possession")
    if pop is not None:
        if not isinstance(pop, Mapping):
            raise ConfigError("proof_of_possession", "must be an object")
        out["proof_of_possession"] = ProofOfPossession(
            mechanism=pop.get("mechanism"),  # type: ignore[arg-type]  # validated there
            required=bool(_expect(pop, "required", bool, "proof_of_possession.required")),
            required_for=pop.get("required_for"),
        )
    encryption = data.get("token_encryption")
    if encryption is not None:
        if not isinstance(encryption, Mapping):
            raise ConfigError("token_encryption", "must be an object")
        key = encryption.get("encryption_key") or {}
        if not isinstance(key, Mapping):
            raise ConfigError("token_encryption.encryption_key", "must be an object")
        out["token_encryption"] = TokenEncryption(
            format=str(encryption.get("format", "compact-nested-jwe")),
            alg=str(key.get("alg", "RSA-OAEP-256")),
            kid=key.get("kid"),
            name=key.get("name"),
            public_key_pem=key.get("pem"),
        )
    if (details := data.get("authorization_details")) is not None:  # RFC 9396 types
        out["authorization_details"] = declared_types(details)
    subject = data.get("subject_type_authorization")
    if subject is not None:
        if not isinstance(subject, Mapping):
            raise ConfigError("subject_type_authorization", "must be an object")
        policies: dict[str, str | None] = {}
        for subject_kind in ("user", "client"):
            entry = subject.get(subject_kind)
            if entry is not None and not isinstance(entry, Mapping):
                raise ConfigError(f"subject_type_authorization.{subject_kind}", "must be an object")
            policies[subject_kind] = entry.get("policy") if entry else None
        out["subject_type_authorization"] = SubjectTypeAuthorization(**policies)
    return out


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for :class:`GuardConfig` from ``RS_GUARD_*`` variables.

    Every variable is read through the one table of :mod:`rs_guard.settings`.
    ``RS_GUARD_ISSUER`` and ``RS_GUARD_AUDIENCE`` may list several values separated by
    commas; the first is the main one. An unknown ``RS_GUARD_*`` name is logged (with the
    setting it most likely misspells), and ignored.
    """
    env = os.environ if environ is None else environ
    for name in unknown_names(env):
        logger.warning("rs_guard settings: %s %s", name, unknown_message(name))
    out: dict[str, Any] = {}
    dpop: dict[str, Any] = {}
    jwks: dict[str, Any] = {}
    for setting in SETTINGS:
        value = env.get(setting.name)
        if setting.parse is None or value is None or value == "":
            continue
        for target, parsed in setting.parse(setting.name, value).items():
            if target.startswith("dpop."):
                dpop[target.removeprefix("dpop.")] = parsed
            elif target.startswith("jwks."):
                jwks[target.removeprefix("jwks.")] = parsed
            else:
                out[target] = parsed
    if dpop:
        out["dpop"] = DPoPOptions(**dpop)
    if jwks:
        out["jwks"] = JWKSOptions(**jwks)
    _check_domain(env, out)
    return out


def _check_domain(env: Mapping[str, str], out: dict[str, Any]) -> None:
    """``RS_GUARD_DOMAIN`` with ``RS_GUARD_ISSUER``: both must name the same main issuer,
    and then the issuer list wins (it may name more issuers)."""
    domain, issuer = env.get("RS_GUARD_DOMAIN"), env.get("RS_GUARD_ISSUER")
    if not domain or not issuer:
        return
    issuers = comma_list(issuer)
    if not issuers or domain_issuer(domain) != issuers[0]:
        raise ConfigError(
            "RS_GUARD_DOMAIN",
            f"RS_GUARD_DOMAIN={domain!r} means the issuer {domain_issuer(domain)!r}, but "
            f"RS_GUARD_ISSUER={issuer!r} disagrees; set only one of them",
        )
    out["issuer"], out["additional_issuers"] = issuers[0], tuple(issuers[1:])


def read_resource_server_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError("RS_GUARD_CONFIG", f"cannot read {path}: {exc}") from exc
    except ValueError as exc:
        raise ConfigError("RS_GUARD_CONFIG", f"{path} is not valid JSON: {exc}") from exc
    return settings_from_resource_server(data)


def load_config(environ: Mapping[str, str] | None = None, **overrides: Any) -> GuardConfig:
    """The settings from ``RS_GUARD_CONFIG`` (if set), then the environment, then ``overrides``."""
    env = os.environ if environ is None else environ
    settings: dict[str, Any] = {}
    if env.get("RS_GUARD_CONFIG"):
        settings.update(read_resource_server_file(env["RS_GUARD_CONFIG"]))
    from_env = settings_from_env(env)
    if "scopes" in from_env and "scopes" in settings:
        # The environment names the scopes; the file may still describe them.
        described = {s.value: s.description for s in settings["scopes"]}
        from_env["scopes"] = tuple(
            Scope(s.value, described.get(s.value, "")) for s in from_env["scopes"]
        )
    settings.update(from_env)
    settings.update(overrides)
    return build_config(settings)


def build_config(settings: dict[str, Any]) -> GuardConfig:
    """A :class:`GuardConfig` from merged settings; decryption keys join ``token_encryption``."""
    settings = dict(settings)
    pems = settings.pop("decryption_keys", None)
    if pems:
        encryption = settings.get("token_encryption") or TokenEncryption()
        settings["token_encryption"] = TokenEncryption(
            format=encryption.format,
            alg=encryption.alg,
            kid=encryption.kid,
            name=encryption.name,
            public_key_pem=encryption.public_key_pem,
            decryption_keys=tuple(pems),
        )
    if settings.get("algorithm", "RS256") != "HS256":
        # Auth0 returns a signing_secret for every API; it means nothing for RS/PS.
        settings.pop("signing_secret", None)
    for required in ("issuer", "audience"):
        if not settings.get(required):
            hint = (
                "RS_GUARD_ISSUER or RS_GUARD_DOMAIN"
                if required == "issuer"
                else ("RS_GUARD_AUDIENCE or identifier in RS_GUARD_CONFIG")
            )
            raise ConfigError(required, f"is required ({hint})")
    try:
        return GuardConfig(**settings)
    except TypeError as exc:
        raise ConfigError("settings", str(exc)) from exc
