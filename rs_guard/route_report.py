"""``rs-guard inspect`` with a route's requirements: scope, ``acr``, ``auth_time`` and
``authorization_details`` checks, run with the same requirement objects the adapters use.

:func:`add_route_arguments` adds ``--scope``, ``--acr-values``, ``--max-age`` and
``--authorization-details`` to the ``inspect`` parser; :func:`route_requirements` turns
them into named requirements; :func:`add_route_checks` runs them on the verified token
and records each as a :class:`~rs_guard.diagnose.Check` (the first failure becomes the
verdict, as the route would answer).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from .config import GuardConfig
from .diagnose import Check, Explanation
from .errors import RSGuardError
from .guard import Guard
from .rar import details_from_spec
from .requirements import Requirement, all_of
from .stepup import step_up

__all__ = ["add_route_arguments", "add_route_checks", "explain_with_route", "route_requirements"]

NamedRequirement = tuple[str, Requirement]


def add_route_arguments(parser: argparse.ArgumentParser) -> None:
    """The route-requirement options of ``inspect``."""
    group = parser.add_argument_group(
        "route requirements", "check the token against one route's requirements as well"
    )
    group.add_argument("--scope", help="scopes the route requires, space-separated")
    group.add_argument(
        "--acr-values", dest="acr_values", help="acr values the route accepts (RFC 9470)"
    )
    group.add_argument(
        "--max-age", dest="max_age", type=int, help="seconds since auth_time (RFC 9470)"
    )
    group.add_argument(
        "--authorization-details",
        dest="authorization_details",
        help='JSON object or list the route requires (RFC 9396): {"type": "...", ...}',
    )


def route_requirements(
    args: argparse.Namespace, config: GuardConfig, clock: Callable[[], float]
) -> list[NamedRequirement]:
    """``(check name, requirement)`` for each option given; ``ValueError`` when malformed."""
    out: list[NamedRequirement] = []
    if getattr(args, "scope", None):
        out.append(("scope", all_of(*args.scope.split())))
    if getattr(args, "acr_values", None):
        out.append(("acr", step_up(args.acr_values.split())))
    if getattr(args, "max_age", None) is not None:
        out.append(("auth_time", step_up(max_age=args.max_age, leeway=config.leeway, clock=clock)))
    if getattr(args, "authorization_details", None):
        try:
            spec: Any = json.loads(args.authorization_details)
        except ValueError as exc:
            raise ValueError(f"--authorization-details is not JSON: {exc}") from exc
        try:
            found = details_from_spec(spec)
        except TypeError as exc:
            raise ValueError(f"--authorization-details: {exc}") from exc
        out += [("authorization_details", requirement) for requirement in found]
    return out


def add_route_checks(
    explanation: Explanation, token: str, guard: Guard, requirements: list[NamedRequirement]
) -> None:
    """Run each requirement on the verified token; a refused token skips them all."""
    if not explanation.accepted:
        for name, _ in requirements:
            explanation.checks.append(Check(name, "skip", "not checked: the token was refused"))
        return
    verified = guard.verify(token)  # from the guard's token cache: verified just before
    for name, requirement in requirements:
        try:
            requirement(verified)
        except RSGuardError as exc:
            explanation.checks.append(Check(name, "fail", exc.description, exc.reason))
            if explanation.accepted:
                explanation.accepted, explanation.error = False, exc
        else:
            explanation.checks.append(Check(name, "pass", requirement.description))


def explain_with_route(
    token: str,
    config: GuardConfig,
    args: argparse.Namespace,
    *,
    clock: Callable[[], float],
    transport: Any = None,
) -> Explanation:
    """:func:`~rs_guard.diagnose.explain`, then the route's checks from ``args``.

    Raises ``ValueError`` for malformed route options, before anything is fetched.
    """
    from .diagnose import explain

    requirements = route_requirements(args, config, clock)
    guard = Guard(config, clock=clock, transport=transport)
    try:
        explanation = explain(token, config, clock=clock, guard=guard)
        if requirements:
            add_route_checks(explanation, token, guard, requirements)
        return explanation
    finally:
        guard.close()
