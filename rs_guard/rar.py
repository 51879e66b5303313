"""Rich Authorization Requests (RFC 9396): route requirements on ``authorization_details``.

An access token issued for a rich authorization request carries the granted details in
its ``authorization_details`` claim (RFC 9396 §9.1): a JSON array of objects, each with
a ``type`` (§2) and fields whose meaning the type defines (``actions``, ``locations``,
``datatypes``, ``identifier``, ``privileges``, or the API's own)::

    details("payment_initiation", actions=["initiate"], locations=["https://api.example.com/"])

passes when one entry of that ``type`` has every field given: equal values, and for an
array every required value present in the entry's array (the entry may grant more).
RFC 9396 names no error for a resource server to send, so a refusal is RFC 6750's 403
``insufficient_scope`` (§3.1) whose description names the type; the challenge has no
``scope`` parameter, since no scope is missing.

The API declares the types it accepts (``authorization_details`` of the Auth0 resource
server); :func:`check_declared_types` refuses at start-up a route requiring another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, InsufficientScope
from .reasons import Reason
from .requirements import Requirement
from .token import AccessToken

if TYPE_CHECKING:
    from .config import GuardConfig

__all__ = [
    "DetailsRequirement",
    "DetailsSpec",
    "check_declared_types",
    "declared_types",
    "details",
    "details_from_spec",
    "entry_matches",
]

_CLAIM = "authorization_details"

#: The ``authorization_details=`` of a route decorator: one object with a ``type``, or a list.
DetailsSpec = Mapping[str, Any] | Iterable[Mapping[str, Any]]


def _same(required: Any, granted: Any) -> bool:
    """JSON equality at every depth: ``true`` is not ``1`` (RFC 8259 §3 keeps the literal
    names apart from numbers), where Python's ``==`` (and ``in``) takes them as equal."""
    if isinstance(required, bool) or isinstance(granted, bool):
        return granted is required
    if isinstance(required, Mapping):
        return (
            isinstance(granted, Mapping)
            and required.keys() == granted.keys()
            and all(_same(value, granted[name]) for name, value in required.items())
        )
    if isinstance(required, (list, tuple)):
        return (
            isinstance(granted, list)
            and len(required) == len(granted)
            and all(_same(r, g) for r, g in zip(required, granted, strict=True))
        )
    if isinstance(granted, (Mapping, list)):
        return False
    return bool(granted == required)


def _field_matches(required: Any, granted: Any) -> bool:
    """One field: every required array value present, otherwise an equal value."""
    if isinstance(required, (list, tuple)):
        return isinstance(granted, list) and all(
            any(_same(value, item) for item in granted) for value in required
        )
    return _same(required, granted)


def entry_matches(entry: Any, detail_type: str, fields: Mapping[str, Any]) -> bool:
    """Whether one ``authorization_details`` entry is of ``detail_type`` and has ``fields``."""
    if not isinstance(entry, Mapping) or entry.get("type") != detail_type:
        return False
    return all(
        name in entry and _field_matches(value, entry[name]) for name, value in fields.items()
    )


@dataclass(frozen=True, slots=True)
class DetailsRequirement(Requirement):
    """A :class:`Requirement` on ``authorization_details``, keeping its type and fields
    for the start-up check and diagnostics."""

    detail_type: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)


def details(detail_type: str, /, **fields: Any) -> DetailsRequirement:
    """The token must hold an ``authorization_details`` entry of ``detail_type`` whose
    fields match ``fields`` (RFC 9396 §2; arrays: every value present)."""
    if not isinstance(detail_type, str) or not detail_type:
        raise ValueError("details: the type must be a non-empty string")
    for name, value in fields.items():
        if name == "type":
            raise ValueError("details: give the type as the first argument")
        if isinstance(value, (list, tuple)) and not value:
            raise ValueError(f"details: {name} is an empty list (it would match anything)")
    wanted = dict(fields)

    def check(token: AccessToken) -> None:
        granted = token.claims.get(_CLAIM)
        if not isinstance(granted, list) or not any(
            entry_matches(entry, detail_type, wanted) for entry in granted
        ):
            raise InsufficientScope(
                f"the token's authorization_details grant no {detail_type} access "
                "matching what this route requires",
                reason=Reason.INSUFFICIENT_AUTHORIZATION_DETAILS,
            )

    return DetailsRequirement(
        check, (), f"authorization_details {detail_type}", detail_type, wanted
    )


def details_from_spec(spec: DetailsSpec) -> tuple[DetailsRequirement, ...]:
    """The ``authorization_details=`` argument of a route decorator as requirements.

    One object (``{"type": "payment_initiation", "actions": ["initiate"]}``) or a list of
    them, each required.
    """
    items = [spec] if isinstance(spec, Mapping) else list(spec)
    out = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("type"), str):
            raise TypeError("authorization_details takes objects with a string 'type'")
        rest = {k: v for k, v in item.items() if k != "type"}
        out.append(details(item["type"], **rest))
    return tuple(out)


def declared_types(value: Any) -> tuple[str, ...]:
    """The types of the resource server's ``authorization_details`` (Management API JSON:
    ``[{"type": "payment_initiation"}, ...]``), or :class:`ConfigError`."""
    if not isinstance(value, list):
        raise ConfigError("authorization_details", "must be a list")
    types: list[str] = []
    for item in value:
        kind = item.get("type") if isinstance(item, Mapping) else None
        if not isinstance(kind, str) or not kind:
            raise ConfigError("authorization_details", "each entry needs a string 'type'")
        if kind not in types:
            types.append(kind)
    return tuple(types)


def check_declared_types(
    requirements: Iterable[Requirement], config: GuardConfig, where: str
) -> None:
    """Refuse at start-up a route requiring a type the API does not declare.

    Skipped when the settings do not say which types the API accepts
    (``config.authorization_details`` is ``None``: not read from the Management API).
    """
    declared = config.authorization_details
    if declared is None:
        return
    for requirement in requirements:
        if isinstance(requirement, DetailsRequirement) and requirement.detail_type not in declared:
            raise ConfigError(
                "authorization_details",
                f"{where} requires the type {requirement.detail_type!r}, which the API does "
                f"not declare (declared: {', '.join(declared) or 'none'})",
            )
