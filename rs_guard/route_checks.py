"""The step-up and RAR keyword arguments of every route decorator, as requirements.

``@requires(..., acr_values=[...], max_age=300, authorization_details={...})`` (Starlette),
``auth.requires(...)`` (FastAPI) and ``require(...)`` (Flask) hand those keywords to the
decorator core (``build_requirements`` in :mod:`rs_guard.adapters._routes`), which adds
what this function returns to the route's claim checks; ``rs-guard inspect`` builds the
same objects from its ``--acr-values``, ``--max-age`` and ``--authorization-details``.
Each rule lives in one place: :func:`rs_guard.stepup.step_up` (RFC 9470) and
:func:`rs_guard.rar.details` (RFC 9396).
"""

from __future__ import annotations

from collections.abc import Iterable

from .rar import DetailsSpec, details_from_spec
from .requirements import Requirement
from .stepup import step_up

__all__ = ["route_checks"]


def route_checks(
    *,
    acr_values: Iterable[str] | None = None,
    max_age: int | None = None,
    authorization_details: DetailsSpec | None = None,
) -> tuple[Requirement, ...]:
    """The requirements these keywords ask for (none when all are ``None``)."""
    out: list[Requirement] = []
    if acr_values is not None or max_age is not None:
        out.append(step_up(acr_values, max_age))
    if authorization_details is not None:
        out.extend(details_from_spec(authorization_details))
    return tuple(out)
