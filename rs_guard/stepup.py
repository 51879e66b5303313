"""Step-up authentication (RFC 9470): how, and how recently, the user authenticated.

A route may require that the authentication event behind the token used one of some
authentication context classes (``acr_values``) and/or happened at most ``max_age``
seconds ago. The token says so in its ``acr`` and ``auth_time`` claims (RFC 9470 §6.1,
RFC 9068 §2.2.1). A token that does not meet them is refused with 401
``insufficient_user_authentication`` and the requirements in the challenge (§3)::

    WWW-Authenticate: Bearer error="insufficient_user_authentication",
      error_description="...", acr_values="mfa", max_age="300"

so the client can ask the authorization server for a new token with those
``acr_values``/``max_age`` (§4) and retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import RSGuardError
from .requirements import Requirement
from .token import AccessToken

__all__ = ["DEFAULT_LEEWAY", "InsufficientUserAuthentication", "StepUpRequirement", "step_up"]

#: Seconds of clock skew allowed on ``auth_time``: the default of ``GuardConfig.leeway``.
DEFAULT_LEEWAY = 10.0


class InsufficientUserAuthentication(RSGuardError):
    """The token's authentication event does not meet the route's requirements.

    401 ``insufficient_user_authentication`` (RFC 9470 §3), with the route's
    ``acr_values`` and ``max_age`` as auth-params of the challenge.
    """

    status_code = 401
    error = "insufficient_user_authentication"
    reason = "insufficient_user_authentication"

    def __init__(
        self,
        description: str,
        *,
        acr_values: Iterable[str] = (),
        max_age: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(description, reason=reason)
        self.acr_values = tuple(acr_values)
        self.max_age = max_age
        params: list[tuple[str, str]] = []
        if self.acr_values:
            params.append(("acr_values", " ".join(self.acr_values)))
        if max_age is not None:
            params.append(("max_age", str(max_age)))
        self.challenge_params = tuple(params)


@dataclass(frozen=True, slots=True)
class StepUpRequirement(Requirement):
    """A :class:`Requirement` on ``acr``/``auth_time``, keeping its values for diagnostics."""

    acr_values: tuple[str, ...] = ()
    max_age: int | None = None


def _check_arguments(acr_values: Iterable[str] | None, max_age: int | None) -> tuple[str, ...]:
    if isinstance(acr_values, str):
        raise TypeError(f"acr_values takes a list of values; write acr_values=[{acr_values!r}]")
    values = tuple(acr_values or ())
    for value in values:
        if not isinstance(value, str) or not value or " " in value:
            raise ValueError(f"acr_values: {value!r} is not an acr value")
    if max_age is not None and (
        isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0
    ):
        raise ValueError("max_age must be a whole number of seconds, 0 or more")
    if not values and max_age is None:
        raise ValueError("step_up needs acr_values, max_age or both")
    return values


def step_up(
    acr_values: Iterable[str] | None = None,
    max_age: int | None = None,
    *,
    leeway: float = DEFAULT_LEEWAY,
    clock: Callable[[], float] = time.time,
) -> StepUpRequirement:
    """The token's ``acr`` must be one of ``acr_values`` and its ``auth_time`` at most
    ``max_age`` seconds old (plus ``leeway``, as for ``exp``).

    A token without ``acr`` (or without ``auth_time``, when ``max_age`` is set) does not
    meet the requirement. ``leeway`` should be the API's (``GuardConfig.leeway``) when it
    is not the default.
    """
    values = _check_arguments(acr_values, max_age)

    def check(token: AccessToken) -> None:
        failures: list[str] = []
        if values:
            acr = token.claims.get("acr")
            if not isinstance(acr, str) or acr not in values:
                failures.append("the authentication context (acr) is not one this route accepts")
        if max_age is not None:
            auth_time = token.claims.get("auth_time")
            if isinstance(auth_time, bool) or not isinstance(auth_time, (int, float)):
                failures.append("the token does not say when the user authenticated (auth_time)")
            elif clock() - auth_time > max_age + leeway:
                failures.append(f"the user authenticated more than {max_age} seconds ago")
        if failures:
            raise InsufficientUserAuthentication(
                "; ".join(failures), acr_values=values, max_age=max_age
            )

    parts = []
    if values:
        parts.append(f"acr one of {' '.join(values)}")
    if max_age is not None:
        parts.append(f"auth_time within {max_age} s")
    return StepUpRequirement(check, (), "step-up: " + ", ".join(parts), values, max_age)
