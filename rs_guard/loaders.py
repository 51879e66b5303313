"""Building a :class:`~rs_guard.config.GuardConfig` from the outside world.

* :func:`settings_from_resource_server`: the JSON object of the Auth0 Management API
  (``GET /api/v2/resource-servers/{id}``); unknown fields are ignored.
* :func:`settings_from_env`: the ``RS_GUARD_*`` variables of INTERFACE.md §1.
* :func:`load_config`: both, the environment over the file named by ``RS_GUARD_CONFIG``.

Every function returns keyword arguments or a config; a bad value raises
:class:`~rs_guard.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import (
    DPoPOptions,
    GuardConfig,
    ProofOfPossession,
    Scope,
    SubjectTypeAuthorization,
    TokenEncryption,
)
from .errors import ConfigError

__all__ = ["load_config", "settings_from_env", "settings_from_resource_server"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
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
    if (details := data.get("authorization_details")) is not None:  # newground: RFC 9396
        from .rar import declared_types

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


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(name, f"must be true or false, got {value!r}")


def _number(name: str, value: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(value.strip())
    except ValueError as exc:
        raise ConfigError(name, f"must be a number, got {value!r}") from exc


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for :class:`GuardConfig` from ``RS_GUARD_*`` variables.

    ``RS_GUARD_ISSUER`` and ``RS_GUARD_AUDIENCE`` may list several values separated by
    commas; the first is the main one.
    """
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}

    def get(name: str) -> str | None:
        value = env.get(name)
        return value if value not in (None, "") else None

    issuers: list[str] = []
    if (value := get("RS_GUARD_ISSUER")) is not None:
        issuers = _list(value)
    elif (value := get("RS_GUARD_DOMAIN")) is not None:
        domain = value.strip().removeprefix("https://").rstrip("/")
        issuers = [f"https://{domain}/"]
    if issuers:
        out["issuer"], out["additional_issuers"] = issuers[0], tuple(issuers[1:])
    if (value := get("RS_GUARD_AUDIENCE")) is not None:
        audiences = _list(value)
        if audiences:
            out["audience"], out["additional_audiences"] = audiences[0], tuple(audiences[1:])
    strings = {
        "RS_GUARD_JWKS_URI": "jwks_uri",
        "RS_GUARD_SIGNING_ALG": "algorithm",
        "RS_GUARD_SIGNING_SECRET": "signing_secret",
        "RS_GUARD_TOKEN_DIALECT": "token_dialect",
        "RS_GUARD_CLIENT_CERT_HEADER": "client_cert_header",
        "RS_GUARD_PUBLIC_URL": "public_url",
        "RS_GUARD_REPLAY_STORE": "replay_store",
    }
    for name, target in strings.items():
        if (value := get(name)) is not None:
            out[target] = value.strip()
    if (value := get("RS_GUARD_DISCOVERY")) is not None:
        out["discovery"] = _bool("RS_GUARD_DISCOVERY", value)
    if (value := get("RS_GUARD_RESOURCE_METADATA")) is not None:  # newground: RFC 9728
        out["resource_metadata"] = _bool("RS_GUARD_RESOURCE_METADATA", value)
    if (value := get("RS_GUARD_LEEWAY")) is not None:
        out["leeway"] = _number("RS_GUARD_LEEWAY", value, float)
    if (value := get("RS_GUARD_TOKEN_CACHE")) is not None:
        out["token_cache_size"] = _number("RS_GUARD_TOKEN_CACHE", value, int)
    if (value := get("RS_GUARD_TRUSTED_PROXIES")) is not None:
        out["trusted_proxies"] = tuple(_list(value))
    if (value := get("RS_GUARD_DPOP_NONCE")) is not None:
        # RS_GUARD_DPOP_NONCE_SECRET: shared by every worker, so each accepts the others' nonces
        out["dpop"] = DPoPOptions(
            nonce=_bool("RS_GUARD_DPOP_NONCE", value),
            nonce_secret=get("RS_GUARD_DPOP_NONCE_SECRET"),
        )
    if (value := get("RS_GUARD_DECRYPTION_KEY")) is not None:
        pems = []
        for path in _list(value):
            try:
                pems.append(Path(path).read_text())
            except OSError as exc:
                raise ConfigError("RS_GUARD_DECRYPTION_KEY", f"cannot read {path}: {exc}") from exc
        out["decryption_keys"] = tuple(pems)
    return out


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
    settings.update(settings_from_env(env))
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
