"""Route requirements: what a verified token must grant, written once for every framework.

A requirement is a plain callable ``(AccessToken) -> None`` that raises
:class:`~rs_guard.errors.InsufficientScope` (403). Framework adapters wrap these in
decorators and dependencies; they never re-implement a check.

``all_of``/``any_of`` test :attr:`AccessToken.granted`: the ``scope`` claim, or the
``permissions`` claim when the API's dialect is ``*_authz`` with ``enforce_policies``.

A requirement that reads a time claim (step-up's ``auth_time``, :mod:`rs_guard.stepup`)
needs the API's clock and leeway: the adapters and ``rs-guard inspect`` call
:meth:`Requirement.check_at` with the guard's :class:`Timing`; the others ignore it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import InsufficientScope
from .reasons import Reason
from .token import AccessToken, split_delimited

__all__ = [
    "DEFAULT_TIMING",
    "Requirement",
    "Timing",
    "all_of",
    "any_of",
    "check_all",
    "claim_equals",
    "claim_includes",
    "claim_matches",
    "claim_mixup",
    "clients_only",
    "found_elsewhere",
    "permissions",
    "rbac_reason",
    "users_only",
]

_MISSING = object()


class Timing(NamedTuple):
    """The API's time rules, for requirements that read a time claim: the guard's clock
    and the configured leeway (``GuardConfig.leeway``), as for ``exp``."""

    clock: Callable[[], float] = time.time
    leeway: float = 10.0


#: The system clock and ``GuardConfig``'s default leeway (a requirement called on its own).
DEFAULT_TIMING = Timing()


@dataclass(frozen=True, slots=True)
class Requirement:
    """One check of a token, with the scopes it names (for ``scope=`` and OpenAPI)."""

    check: Callable[[AccessToken], None]
    scopes: tuple[str, ...] = ()
    description: str = ""

    def __call__(self, token: AccessToken) -> None:
        self.check(token)

    def check_at(self, token: AccessToken, timing: Timing) -> None:
        """The check under the API's clock and leeway (only time rules use ``timing``)."""
        self.check(token)


def _names(values: Iterable[str], what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError(f"{what} takes scope names, not one string; write {what}({values!r})")
    names = tuple(values)
    for name in names:
        if not isinstance(name, str) or not name or " " in name:
            raise ValueError(f"{what}: {name!r} is not a scope name")
    return names


def rbac_reason(token_dialect: str, enforce_policies: bool) -> str:
    """Why an API with these settings checks the claim it checks, in words.

    Only an ``*_authz`` dialect with ``enforce_policies`` makes ``permissions`` count.
    """
    if token_dialect.endswith("_authz") and enforce_policies:
        return "enforce_policies is on"
    if not enforce_policies:
        return "enforce_policies is off"
    return f"the token_dialect {token_dialect} carries no RBAC permissions"


def claim_mixup(
    wanted: Iterable[str],
    scopes: Collection[str],
    permissions: Collection[str],
    checked: str,
    why: str,
    checker: str = "this API",
) -> str:
    """The one sentence for a wanted scope that sits in the claim that is not checked.

    ``checked`` is the claim the check read (``"scope"`` or ``"permissions"``), ``why``
    the reason it reads that one (:func:`rbac_reason`). Only names from ``wanted`` that
    the other claim carries are named; ``""`` when there is none. Both the 403
    description (:func:`found_elsewhere`) and ``rs-guard inspect``
    (:func:`rs_guard.hints.scope_hints`) say it with this function.
    """
    other_name, other = ("permissions", permissions) if checked == "scope" else ("scope", scopes)
    found = [name for name in wanted if name in other]
    if not found:
        return ""
    because = f" ({why})" if why else ""
    return (
        f"the token carries {' '.join(found)} in {other_name}, but {checker} checks "
        f"{checked}{because}"
    )


def found_elsewhere(token: AccessToken, wanted: Iterable[str], checked: str) -> str:
    """The 403's addition when a scope the route wants is in the other claim, or ``""``.

    ``checked`` is the claim the refusing check read (``"scope"`` or ``"permissions"``).
    The text names only the route's own scope names, and only those the token carries in
    the other claim: nothing else of the token is repeated (:func:`claim_mixup`).
    """
    if checked == token.granted_claim:
        why, checker = token.granted_reason, "this API"
    else:  # a permissions() requirement on an API that checks scope
        why, checker = "a permissions() requirement", "this route"
    sentence = claim_mixup(wanted, token.scopes, token.permissions, checked, why, checker)
    return f"; {sentence}" if sentence else ""


def all_of(*scopes: str) -> Requirement:
    """Every one of ``scopes`` must be granted."""
    needed = _names(scopes, "all_of")
    needed_set = frozenset(needed)  # one subset test per request; the list only to refuse

    def check(token: AccessToken) -> None:
        if needed_set <= token.granted:
            return
        missing = [s for s in needed if s not in token.granted]
        if missing:
            raise InsufficientScope(
                f"the token lacks {' '.join(missing)}"
                + found_elsewhere(token, missing, token.granted_claim),
                required=needed,
                reason=Reason.INSUFFICIENT_SCOPE,
            )

    return Requirement(check, needed, f"all of {' '.join(needed)}")


def any_of(*scopes: str) -> Requirement:
    """At least one of ``scopes`` must be granted."""
    options = _names(scopes, "any_of")
    if not options:
        raise ValueError("any_of needs at least one scope")

    def check(token: AccessToken) -> None:
        if token.granted.isdisjoint(options):
            raise InsufficientScope(
                f"the token has none of {' '.join(options)}"
                + found_elsewhere(token, options, token.granted_claim),
                required=options,
                reason=Reason.INSUFFICIENT_SCOPE,
            )

    return Requirement(check, options, f"any of {' '.join(options)}")


def permissions(*names: str) -> Requirement:
    """Every one of ``names`` must be in the ``permissions`` claim (RBAC), whatever the dialect."""
    needed = _names(names, "permissions")

    def check(token: AccessToken) -> None:
        missing = [p for p in needed if p not in token.permissions]
        if missing:
            raise InsufficientScope(
                f"the token lacks the permission {' '.join(missing)}"
                + found_elsewhere(token, missing, "permissions"),
                required=needed,
                reason=Reason.INSUFFICIENT_PERMISSION,
            )

    return Requirement(check, needed, f"permissions {' '.join(needed)}")


def claim_equals(claim: str, value: Any) -> Requirement:
    """The claim must equal ``value`` (namespaced Auth0 claims work as any other name)."""

    def check(token: AccessToken) -> None:
        if token.claims.get(claim, _MISSING) != value:
            raise InsufficientScope(
                f"the {claim} claim does not have the required value", reason=Reason.CLAIM_MISMATCH
            )

    return Requirement(check, (), f"{claim} equals {value!r}")


def claim_includes(claim: str, *values: Any) -> Requirement:
    """The claim (a list, or a string split on SP only) must contain every one of ``values``."""

    def check(token: AccessToken) -> None:
        present = token.claims.get(claim)
        items = split_delimited(present) if isinstance(present, str) else present
        if not isinstance(items, (list, frozenset)) or any(v not in items for v in values):
            raise InsufficientScope(
                f"the {claim} claim does not include what the route requires",
                reason=Reason.CLAIM_MISMATCH,
            )

    return Requirement(check, (), f"{claim} includes {values!r}")


def claim_matches(predicate: Callable[[AccessToken], bool], description: str) -> Requirement:
    """A predicate of your own over the token; ``description`` is sent back on refusal."""

    def check(token: AccessToken) -> None:
        if not predicate(token):
            raise InsufficientScope(description, reason=Reason.CLAIM_MISMATCH)

    return Requirement(check, (), description)


def _subject(clients: bool) -> Requirement:
    kind = "machine-to-machine clients" if clients else "users"

    def check(token: AccessToken) -> None:
        if token.is_client is not clients:
            raise InsufficientScope(
                f"this route is for {kind} only", reason=Reason.WRONG_SUBJECT_TYPE
            )

    return Requirement(check, (), f"{kind} only")


#: Only client-credentials (machine-to-machine) tokens.
clients_only = _subject(True)
#: Only tokens issued to a user.
users_only = _subject(False)


def check_all(token: AccessToken, requirements: Iterable[Requirement]) -> None:
    for requirement in requirements:
        requirement.check(token)
