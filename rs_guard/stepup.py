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

``auth_time`` is judged with the API's clock and leeway: the adapters and ``rs-guard
inspect`` pass the guard's :class:`~rs_guard.requirements.Timing` (its clock,
``GuardConfig.leeway``) to :meth:`StepUpRequirement.check_at`. Called on its own
(``requirement(token)``), it uses the system clock and the default leeway of 10 s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import InsufficientUserAuthentication, InvalidToken
from .requirements import DEFAULT_TIMING, Requirement, Timing
from .token import AccessToken
from .verify import _number

__all__ = ["InsufficientUserAuthentication", "StepUpRequirement", "step_up"]


def _judge(
    token: AccessToken, acr_values: tuple[str, ...], max_age: int | None, timing: Timing
) -> None:
    """Raise :class:`InsufficientUserAuthentication` naming every unmet requirement."""
    failures: list[str] = []
    if acr_values:
        acr = token.claims.get("acr")
        if not isinstance(acr, str) or acr not in acr_values:
            failures.append("the authentication context (acr) is not one this route accepts")
    if max_age is not None:
        try:  # a finite NumericDate (RFC 9470 §6.1, RFC 7519 §2), as exp and iat
            auth_time = _number(token.claims, "auth_time")
        except InvalidToken:
            auth_time = None
        if auth_time is None:
            failures.append("the token does not say when the user authenticated (auth_time)")
        elif timing.clock() - auth_time > max_age + timing.leeway:
            failures.append(f"the user authenticated more than {max_age} seconds ago")
        elif auth_time > timing.clock() + timing.leeway:
            # The time of a past event (RFC 9068 §2.2.1): one in the future would pass any
            # max_age until exp; judged as iat is, with the leeway.
            failures.append("the token's auth_time is in the future")
    if failures:
        raise InsufficientUserAuthentication(
            "; ".join(failures), acr_values=acr_values, max_age=max_age
        )


@dataclass(frozen=True, slots=True)
class StepUpRequirement(Requirement):
    """A :class:`Requirement` on ``acr``/``auth_time``, keeping its values for diagnostics."""

    acr_values: tuple[str, ...] = ()
    max_age: int | None = None

    def check_at(self, token: AccessToken, timing: Timing) -> None:
        """The check with the API's clock and leeway (RFC 9470 §3)."""
        _judge(token, self.acr_values, self.max_age, timing)


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
    acr_values: Iterable[str] | None = None, max_age: int | None = None
) -> StepUpRequirement:
    """The token's ``acr`` must be one of ``acr_values`` and its ``auth_time`` at most
    ``max_age`` seconds old (plus the API's leeway, as for ``exp``).

    A token without ``acr`` (or without ``auth_time``, when ``max_age`` is set) does not
    meet the requirement. Misuse (one string for ``acr_values``, a negative ``max_age``)
    fails here, when the route is declared.
    """
    values = _check_arguments(acr_values, max_age)
    parts = []
    if values:
        parts.append(f"acr one of {' '.join(values)}")
    if max_age is not None:
        parts.append(f"auth_time within {max_age} s")
    return StepUpRequirement(
        lambda token: _judge(token, values, max_age, DEFAULT_TIMING),
        (),
        "step-up: " + ", ".join(parts),
        values,
        max_age,
    )
