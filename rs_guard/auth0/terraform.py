"""An API's settings from Terraform: ``auth0_resource_server`` in ``terraform show -json``.

A team that manages its Auth0 API as code configures rs_guard from the same source::

    terraform show -json > state.json            # the applied state
    terraform show -json plan.out > plan.json    # or a saved plan

The state keeps resources under ``values.root_module``, a plan under
``planned_values.root_module``; both nest ``child_modules`` (walked recursively).
Attributes are the Terraform auth0 provider's: ``identifier``, ``signing_alg``,
``token_lifetime``, ``token_dialect``, ``enforce_policies``, and nested blocks as lists of
one object (``proof_of_possession``, ``subject_type_authorization`` with ``user``/``client``,
``token_encryption`` with ``encryption_key``). Scopes come from the resource itself
(older providers) and from ``auth0_resource_server_scopes`` (``scopes`` blocks with
``name``/``description``) and ``auth0_resource_server_scope`` (``scope``/``description``)
resources whose ``resource_server_identifier`` is the API's identifier.

The result is the resource-server object in the Management API's shape, so the mapping
to :class:`~rs_guard.config.GuardConfig` is the one of
:func:`rs_guard.loaders.settings_from_resource_server`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..config import GuardConfig
from ..errors import ConfigError
from ..loaders import build_config, settings_from_resource_server

__all__ = ["config_from_terraform", "resource_server_from_terraform", "settings_from_terraform"]

RESOURCE_SERVER = "auth0_resource_server"
SCOPES = "auth0_resource_server_scopes"
SCOPE = "auth0_resource_server_scope"
_FIELD = "terraform"
#: Plain attributes copied as they are (empty strings and nulls mean "not set").
_PLAIN = (
    "identifier",
    "name",
    "signing_alg",
    "signing_secret",
    "token_dialect",
    "enforce_policies",
    "allow_offline_access",
    "skip_consent_for_verifiable_first_party_clients",
    "verification_location",
    "client_id",
)

Document = Mapping[str, Any] | str | os.PathLike[str]


def _load(document: Document) -> Mapping[str, Any]:
    if isinstance(document, Mapping):
        return document
    try:
        data = json.loads(Path(document).read_text())
    except OSError as exc:
        raise ConfigError(_FIELD, f"cannot read {document}: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(_FIELD, f"{document} is not valid JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(_FIELD, "the terraform show -json output is not a JSON object")
    return data


def _root_module(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    for key in ("planned_values", "values"):
        section = doc.get(key)
        if isinstance(section, Mapping) and isinstance(section.get("root_module"), Mapping):
            return section["root_module"]  # type: ignore[no-any-return]
    raise ConfigError(
        _FIELD,
        "no values.root_module (state) or planned_values.root_module (plan): "
        "is this the output of terraform show -json?",
    )


def _resources(module: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every managed resource of a module and its child modules."""
    for resource in module.get("resources") or ():
        if isinstance(resource, Mapping) and resource.get("mode", "managed") == "managed":
            yield resource
    for child in module.get("child_modules") or ():
        if isinstance(child, Mapping):
            yield from _resources(child)


def _values(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    values = resource.get("values")
    return values if isinstance(values, Mapping) else {}


def _block(value: Any) -> Mapping[str, Any] | None:
    """The one object of a nested block (a list of one), or None when absent or disabled."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, Mapping) or value.get("disable") is True:
        return None
    return value


def _set(value: Any) -> bool:
    return value is not None and value != ""


def _proof_of_possession(value: Any) -> dict[str, Any] | None:
    block = _block(value)
    if block is None or not _set(block.get("mechanism")):
        return None
    out: dict[str, Any] = {"mechanism": block["mechanism"], "required": bool(block.get("required"))}
    if _set(block.get("required_for")):
        out["required_for"] = block["required_for"]
    return out


def _subject_types(value: Any) -> dict[str, Any] | None:
    block = _block(value)
    if block is None:
        return None
    out: dict[str, Any] = {}
    for kind in ("user", "client"):
        entry = _block(block.get(kind))
        if entry is not None and _set(entry.get("policy")):
            out[kind] = {"policy": entry["policy"]}
    return out or None


def _token_encryption(value: Any) -> dict[str, Any] | None:
    block = _block(value)
    if block is None:
        return None
    out: dict[str, Any] = {"format": block.get("format") or "compact-nested-jwe"}
    key = _block(block.get("encryption_key"))
    if key is not None:
        out["encryption_key"] = {
            name: key[source]
            for name, source in (
                ("name", "name"),
                ("alg", "algorithm"),
                ("kid", "kid"),
                ("pem", "pem"),
            )
            if _set(key.get(source))
        }
    return out


def _scope_list(blocks: Any, name_key: str) -> list[dict[str, str]]:
    out = []
    for block in blocks or ():
        if isinstance(block, Mapping):
            value = block.get(name_key) or block.get("value")
            if isinstance(value, str) and value:
                out.append({"value": value, "description": str(block.get("description") or "")})
    return out


def _scopes_for(identifier: str, resources: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    scopes: list[dict[str, str]] = []
    for resource in resources:
        values = _values(resource)
        if values.get("resource_server_identifier") != identifier:
            continue
        if resource.get("type") == SCOPES:
            scopes += _scope_list(values.get("scopes"), "name")
        elif resource.get("type") == SCOPE and _set(values.get("scope")):
            scopes.append(
                {"value": values["scope"], "description": str(values.get("description") or "")}
            )
    return scopes


def _matches(resource: Mapping[str, Any], identifier: str | None, name: str | None) -> bool:
    values = _values(resource)
    if identifier is not None and values.get("identifier") != identifier:
        return False
    return name is None or name in (
        values.get("name"),
        resource.get("address"),
        resource.get("name"),
    )


def _describe(resource: Mapping[str, Any]) -> str:
    values = _values(resource)
    return f"{resource.get('address', '?')} ({values.get('identifier', '?')})"


def resource_server_from_terraform(
    document: Document, *, identifier: str | None = None, name: str | None = None
) -> dict[str, Any]:
    """The resource-server object (Management API shape) of one ``auth0_resource_server``.

    ``document`` is the parsed ``terraform show -json`` output or a path to it. With
    several APIs in it, choose one by ``identifier`` or by ``name`` (the API's name or the
    Terraform address, e.g. ``module.api.auth0_resource_server.main``).
    """
    resources = list(_resources(_root_module(_load(document))))
    servers = [r for r in resources if r.get("type") == RESOURCE_SERVER]
    if not servers:
        raise ConfigError(_FIELD, "no auth0_resource_server resource in the Terraform output")
    chosen = [r for r in servers if _matches(r, identifier, name)]
    if not chosen:
        known = ", ".join(_describe(r) for r in servers)
        raise ConfigError(_FIELD, f"no auth0_resource_server matches; there are: {known}")
    if len(chosen) > 1:
        known = ", ".join(_describe(r) for r in chosen)
        raise ConfigError(
            _FIELD, f"several auth0_resource_server match ({known}); pass identifier="
        )
    resource = chosen[0]
    values = _values(resource)
    out: dict[str, Any] = {k: values[k] for k in _PLAIN if _set(values.get(k))}
    if _set(values.get("id")):
        out["id"] = values["id"]
    for lifetime in ("token_lifetime", "token_lifetime_for_web"):
        # The provider reads 0 back for "not set"; Auth0's own minimum is above it.
        if isinstance(values.get(lifetime), int) and values[lifetime] > 0:
            out[lifetime] = values[lifetime]
    if _set(values.get("consent_policy")) and values["consent_policy"] != "null":
        out["consent_policy"] = values["consent_policy"]
    details = values.get("authorization_details")
    if isinstance(details, list):
        types = [d for d in details if isinstance(d, Mapping) and _set(d.get("type"))]
        if types:
            out["authorization_details"] = [{"type": d["type"]} for d in types]
    for key, convert in (
        ("proof_of_possession", _proof_of_possession),
        ("subject_type_authorization", _subject_types),
        ("token_encryption", _token_encryption),
    ):
        converted = convert(values.get(key))
        if converted is not None:
            out[key] = converted
    identifier_value = out.get("identifier")
    scopes = _scope_list(values.get("scopes"), "name")
    if isinstance(identifier_value, str):
        scopes += _scopes_for(identifier_value, resources)
    if scopes or "scopes" in values:
        unique: dict[str, dict[str, str]] = {}
        for scope in scopes:
            unique.setdefault(scope["value"], scope)
        out["scopes"] = list(unique.values())
    return out


def settings_from_terraform(
    document: Document, *, identifier: str | None = None, name: str | None = None
) -> dict[str, Any]:
    """Keyword arguments for :class:`GuardConfig` (no issuer: Terraform does not say it)."""
    return settings_from_resource_server(
        resource_server_from_terraform(document, identifier=identifier, name=name)
    )


def config_from_terraform(
    document: Document,
    *,
    issuer: str,
    identifier: str | None = None,
    name: str | None = None,
    **overrides: Any,
) -> GuardConfig:
    """A :class:`GuardConfig` for the API; ``issuer`` is the tenant (``https://TENANT/``)."""
    settings = settings_from_terraform(document, identifier=identifier, name=name)
    settings["issuer"] = issuer
    settings.update(overrides)
    return build_config(settings)
