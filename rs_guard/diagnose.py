"""Explain a token: every check the guard makes, passed or failed, with the reason.

:func:`explain` never raises for a bad token. It runs the verifier's own named rules
(:attr:`rs_guard.verify.TokenPolicy.checks`, the list the guard stops at the first
failure of) and records every result, then the signature with the published key. The
verdict comes from a real :class:`~rs_guard.guard.Guard`, so it is what the middleware
decides. For the command line only (never in an HTTP answer) it names expected against
actual values and recognises the usual mix-ups: an opaque token requested without
``audience``, an ID token sent as an access token, a scope found in ``permissions`` while
the API checks ``scope`` (or the other way round).

Given a route's requirements (the objects the route decorators build: scopes, step-up
(RFC 9470), ``authorization_details`` (RFC 9396)), the verdict is the route's: they run
in order on the verified token with the guard's clock and leeway, as the adapters run
them, and each is listed as a named check (``scopes``, ``acr``, ``auth_time``,
``authorization_details``).

The token goes nowhere: only the configured key URL (or issuer metadata, with discovery)
is fetched, and the token is not part of that request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

import httpx

from ._jose import parse_compact_jws
from .binding import UnboundOnly
from .config import GuardConfig
from .errors import InvalidToken, RSGuardError
from .guard import Guard
from .keys import VerificationKey, hmac_key
from .rar import DetailsRequirement
from .requirements import Requirement, Timing, all_of
from .stepup import StepUpRequirement, step_up
from .token import AccessToken
from .verify import TokenPolicy, UnverifiedToken, parse_token

__all__ = [
    "Check",
    "Explanation",
    "decode_unverified",
    "explain",
    "human_time",
]

#: What the steps around the verifier's named rules are about.
STEPS = {
    "size": "token size within max_token_bytes",
    "format": "compact JWS: three base64url segments of JSON (RFC 7515 §7.1)",
    "key": "a published key matches kid and algorithm",
    "signature": "signature valid",
    "binding": "proof-of-possession binding (cnf) can be checked",
    "scopes": "the route's scopes are granted",
}
_TIME_CLAIMS = ("exp", "nbf", "iat")


@dataclass
class Check:
    """One check: ``status`` is ``pass``, ``fail`` or ``skip`` (not applicable or not reached).

    ``expected`` and ``actual`` are set for ``iss``, ``aud``, ``alg`` and ``typ``.
    """

    name: str
    status: str
    detail: str
    reason: str | None = None
    expected: str | None = None
    actual: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "reason": self.reason,
        }
        if self.expected is not None:
            out.update(expected=self.expected, actual=self.actual)
        return out


@dataclass
class Explanation:
    """Everything :func:`explain` found. ``accepted`` is the guard's verdict."""

    header: dict[str, Any] | None
    claims: dict[str, Any] | None
    checks: list[Check] = field(default_factory=list)
    accepted: bool = False
    error: RSGuardError | None = None
    now: float = 0.0
    #: Plain advice on the likely mistake behind a refusal.
    hints: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        verdict: dict[str, Any] = {"accepted": self.accepted}
        if self.error is not None:
            verdict.update(
                status=self.error.status_code,
                error=self.error.error,
                reason=self.error.reason,
                description=self.error.description,
            )
        return {
            "header": self.header,
            "claims": self.claims,
            "times": times_of(self.claims, self.now) if self.claims else {},
            "checks": [c.to_dict() for c in self.checks],
            "hints": self.hints,
            "verdict": verdict,
        }


def human_time(value: Any, now: float) -> str:
    """``2026-11-22T19:40:00Z (in 59 min)`` for a NumericDate; ``repr`` for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return repr(value)
    try:
        moment = datetime.fromtimestamp(float(value), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return f"{value!r} (out of range)"
    delta = float(value) - now
    span = abs(delta)
    if span < 90:
        amount = f"{span:.0f} s"
    elif span < 5400:
        amount = f"{span / 60:.0f} min"
    elif span < 172_800:
        amount = f"{span / 3600:.1f} h"
    else:
        amount = f"{span / 86_400:.0f} days"
    when = "now" if span < 1 else (f"in {amount}" if delta > 0 else f"{amount} ago")
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%SZ')} ({when})"


def times_of(claims: dict[str, Any] | None, now: float) -> dict[str, str]:
    if not claims:
        return {}
    return {name: human_time(claims[name], now) for name in _TIME_CLAIMS if name in claims}


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, *not verified*; :class:`JOSEError` when the token is not a JWS."""
    jws = parse_compact_jws(token)
    return jws.header, jws.payload


def explain(
    token: str,
    config: GuardConfig,
    *,
    clock: Callable[[], float] = time.time,
    transport: httpx.BaseTransport | None = None,
    guard: Guard | None = None,
    required_scopes: Iterable[str] = (),
    route: Iterable[Requirement] = (),
) -> Explanation:
    """Every check of ``token`` under ``config``, and the guard's verdict. Never raises
    for a bad token; fetches only the configured keys.

    ``required_scopes``: scopes a route requires (all of them, as ``all_of``), and
    ``route``: its other requirements (``rs_guard.route_checks.route_checks``); the
    verdict then includes the route's checks, and a scope found in the other claim is
    pointed out.
    """
    now = clock()
    token = token.strip()
    owns_guard = guard is None
    guard = guard or Guard(config, clock=clock, transport=transport)
    scopes = tuple(required_scopes)
    checks = ((all_of(*scopes),) if scopes else ()) + tuple(route)
    try:
        return _explain(
            token, config, guard, now, _Route(scopes, checks, Timing(clock, config.leeway))
        )
    finally:
        if owns_guard:
            guard.close()


def _decrypted(token: str, config: GuardConfig) -> str:
    if token.count(".") != 4 or config.token_encryption is None:
        return token
    from .jwe import JWEDecryptor  # the jwe extra; only when encryption is configured

    return JWEDecryptor(config.token_encryption, max_token_bytes=config.max_token_bytes).decrypt(
        token
    )


class _Route(NamedTuple):
    """A route's requirements, as :func:`explain` checks them."""

    scopes: tuple[str, ...]
    #: In the order the route checks them (scopes first).
    checks: tuple[Requirement, ...]
    timing: Timing


def _verdict(
    token: str, guard: Guard, now: float, route: _Route, result: Explanation
) -> AccessToken | None:
    """The guard's own decision (and the route's: its first failed check) into ``result``."""
    try:
        verified = guard.verify(token, binding_checked=True)  # judged apart: _binding
        if isinstance(guard.binding, UnboundOnly):
            guard.binding.check(None, None, verified, now)  # type: ignore[arg-type]
    except RSGuardError as exc:
        result.error = exc
        return None
    result.accepted = True
    try:
        for requirement in route.checks:
            requirement.check_at(verified, route.timing)
    except RSGuardError as exc:
        result.accepted, result.error = False, exc
    return verified


def _explain(
    token: str, config: GuardConfig, guard: Guard, now: float, route: _Route
) -> Explanation:
    from .hints import id_token_hint, issuer_hint, opaque_token_hint, scope_hints

    scopes = route.scopes
    result = Explanation(None, None, now=now)
    verified = _verdict(token, guard, now, route, result)
    policy = guard.policy
    checks: list[Check] = [_run_step("size", lambda: policy.check_size(token))]
    opaque = opaque_token_hint(token, config.audience)
    if opaque:
        result.hints.append(opaque)
    try:
        jws = parse_token(_decrypted(token, config))
    except RSGuardError as exc:
        checks.append(Check("format", "fail", exc.description, exc.reason))
        checks += [Check(c.name, "skip", "not reached") for c in policy.checks]
        checks += [Check(name, "skip", "not reached") for name in ("key", "signature")]
        result.checks = checks
        return _agree(result)
    checks.append(Check("format", "pass", STEPS["format"]))
    header, claims = jws.header, jws.payload
    result.header, result.claims = dict(header), dict(claims)
    failed: set[str] = set()
    for rule in policy.checks:
        blocked = [n for n in rule.needs if n not in claims or n in failed]
        if blocked:
            check = Check(rule.name, "skip", f"not checked: {', '.join(blocked)} missing or failed")
        else:
            try:
                rule.run(header, claims, now)
            except InvalidToken as exc:
                failed.add(rule.name)
                check = Check(rule.name, "fail", exc.description, exc.reason)
            else:
                check = Check(rule.name, "pass", _describe_pass(rule.name, rule.about, claims, now))
        checks.append(_with_values(check, policy, header, claims))
    checks += _signature(guard, config, jws, token, header, claims, "alg" in failed)
    checks.append(_binding(guard, claims, result.error))
    checks += _route_checks(route, verified)
    result.checks = checks
    result.hints += [
        hint
        for hint in (
            issuer_hint(claims.get("iss"), config.issuers) if "iss" in failed else None,
            id_token_hint(claims, config.audience) if "aud" in failed else None,
            *scope_hints(scopes, claims, config),
        )
        if hint
    ]
    return _agree(result)


def _run_step(name: str, step: Callable[[], None]) -> Check:
    try:
        step()
    except RSGuardError as exc:
        return Check(name, "fail", exc.description, exc.reason)
    return Check(name, "pass", STEPS[name])


def _describe_pass(name: str, about: str, claims: Mapping[str, Any], now: float) -> str:
    if name in _TIME_CLAIMS:
        if name not in claims:
            return "absent (optional)" if name == "nbf" else "absent"
        return human_time(claims[name], now)
    return about


def _shown(value: Any) -> str:
    return "absent" if value is None else json.dumps(value)


def _with_values(
    check: Check, policy: TokenPolicy, header: Mapping[str, Any], claims: Mapping[str, Any]
) -> Check:
    """Expected against actual for ``alg``, ``typ``, ``iss`` and ``aud`` (CLI only)."""
    config = policy.config
    if check.name == "alg":
        check.expected, check.actual = json.dumps(config.algorithm), _shown(header.get("alg"))
    elif check.name == "typ":
        types = " or ".join(sorted(policy.allowed_types))
        check.expected = types if policy.rfc9068 else f"{types}, or absent"
        check.actual = _shown(header.get("typ"))
    elif check.name == "iss":
        check.expected = " or ".join(json.dumps(i) for i in config.issuers)
        check.actual = _shown(claims.get("iss"))
    elif check.name == "aud":
        check.expected = "one of " + ", ".join(json.dumps(a) for a in config.audiences)
        check.actual = _shown(claims.get("aud"))
    if check.status == "pass" and check.actual is not None:
        check.detail = f"{check.actual} (expected {check.expected})"
    return check


def _signature(
    guard: Guard,
    config: GuardConfig,
    jws: Any,
    token: str,
    header: Mapping[str, Any],
    claims: Mapping[str, Any],
    wrong_alg: bool,
) -> list[Check]:
    if wrong_alg:
        why = "not checked: the token's alg is not the configured one"
        return [Check("key", "skip", why), Check("signature", "skip", why)]
    try:
        key = _key(guard, config, header, claims)
    except RSGuardError as exc:
        return [
            Check("key", "fail", exc.description, exc.reason),
            Check("signature", "skip", "not checked: no key to check it with"),
        ]
    key_check = Check(
        "key",
        "pass",
        "HS256: the API's signing secret (no key set)"
        if config.algorithm == "HS256"
        else STEPS["key"],
    )
    # The signature over the token as presented: the same test as TokenPolicy.finish.
    unverified = UnverifiedToken(
        token, dict(header), dict(claims), jws.signing_input, jws.signature, None, ""
    )
    return [
        key_check,
        _run_step("signature", lambda: guard.policy.check_signature(unverified, key)),
    ]


def _key(
    guard: Guard, config: GuardConfig, header: Mapping[str, Any], claims: Mapping[str, Any]
) -> VerificationKey:
    if config.algorithm == "HS256":
        assert config.signing_secret is not None
        return hmac_key(config.signing_secret)
    issuer = claims.get("iss") if claims.get("iss") in guard.jwks else config.issuer
    return guard.jwks[str(issuer)].get_key(header.get("kid"))


def _binding(guard: Guard, claims: Mapping[str, Any], error: RSGuardError | None) -> Check:
    if error is not None and error.reason == "unchecked_binding":
        return Check("binding", "fail", error.description, error.reason)
    if "cnf" not in claims:
        return Check("binding", "skip", "the token is not bound (no cnf)")
    if isinstance(guard.binding, UnboundOnly):
        return Check("binding", "pass", STEPS["binding"])
    return Check("binding", "skip", "checked per request (needs the DPoP proof or the certificate)")


def _named(requirement: Requirement) -> list[tuple[str, Requirement]]:
    """The named checks one route requirement is listed as (step-up: ``acr`` and
    ``auth_time`` apart, so that each is judged on its own)."""
    if isinstance(requirement, StepUpRequirement):
        parts: list[tuple[str, Requirement]] = []
        if requirement.acr_values:
            parts.append(("acr", step_up(requirement.acr_values)))
        if requirement.max_age is not None:
            parts.append(("auth_time", step_up(max_age=requirement.max_age)))
        return parts
    if isinstance(requirement, DetailsRequirement):
        return [("authorization_details", requirement)]
    return [("scopes" if requirement.scopes else "route", requirement)]


def _route_checks(route: _Route, verified: AccessToken | None) -> list[Check]:
    """Each of the route's checks on its own: every failure is listed (the verdict is the
    first, as the route answers)."""
    out: list[Check] = []
    for name, requirement in (part for r in route.checks for part in _named(r)):
        if verified is None:
            out.append(Check(name, "skip", "not checked: the token is refused"))
            continue
        try:
            requirement.check_at(verified, route.timing)
        except RSGuardError as exc:
            out.append(Check(name, "fail", exc.description, exc.reason))
        else:
            granted = f"{' '.join(requirement.scopes)} granted" if requirement.scopes else ""
            out.append(Check(name, "pass", granted or requirement.description))
    return out


def _agree(result: Explanation) -> Explanation:
    """Make sure the guard's reason for refusing is among the failed checks."""
    error = result.error
    if error is not None and not any(c.reason == error.reason for c in result.failures):
        result.checks.append(Check("guard", "fail", error.description, error.reason))
    return result
