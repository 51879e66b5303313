"""Explain a token: every check the guard makes, passed or failed, with the reason.

:func:`explain` never raises for a bad token. It runs the real rules of
:class:`~rs_guard.verify.TokenPolicy` (it does not restate them): when a check fails, the
failure is recorded, the offending item is set aside (the claim dropped or replaced by
the expected value, on a private copy of the policy) and the checks run again, so that
*every* failure is found, not only the first. The verdict itself comes from a real
:class:`~rs_guard.guard.Guard`, so it is what the middleware decides.

The token goes nowhere: only the configured key URL (or issuer metadata, with discovery)
is fetched, and the token is not part of that request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx

from ._jose import JOSEError, parse_compact_jws
from .binding import UnboundOnly
from .config import GuardConfig
from .errors import InvalidToken, RSGuardError
from .guard import Guard
from .keys import VerificationKey, hmac_key
from .verify import TokenPolicy, UnverifiedToken

__all__ = ["Check", "Explanation", "decode_unverified", "explain", "human_time"]

#: The checks, in the order the guard makes them, with what each one is about.
CHECKS: dict[str, str] = {
    "size": "token size within max_token_bytes",
    "format": "compact JWS: three base64url segments of JSON (RFC 7515 §7.1)",
    "alg": "alg is the configured algorithm (RFC 8725 §3.1)",
    "typ": "typ is an access-token type (RFC 9068 §2.1)",
    "header": "no crit/b64/enc/zip header parameter (RFC 7515 §4.1.11)",
    "kid": "kid is a short string",
    "required": "every required claim is present",
    "iss": "iss is a configured issuer",
    "aud": "aud includes the API identifier",
    "exp": "not expired (exp + leeway)",
    "nbf": "already valid (nbf - leeway)",
    "iat": "not issued in the future (iat - leeway)",
    "claims": "claim types (strings, NumericDates, permissions list, cnf object)",
    "lifetime": "exp - iat within token_lifetime",
    "subject": "subject type allowed (subject_type_authorization)",
    "key": "a published key matches kid and algorithm",
    "signature": "signature valid",
    "binding": "proof-of-possession binding (cnf) can be checked",
}

_REASON_TO_CHECK = {
    "token_too_large": "size",
    "malformed": "format",
    "invalid_jwe": "format",
    "wrong_algorithm": "alg",
    "wrong_type": "typ",
    "unsupported_header": "header",
    "invalid_header": "kid",
    "missing_claim": "required",
    "wrong_issuer": "iss",
    "wrong_audience": "aud",
    "expired": "exp",
    "not_yet_valid": "nbf",
    "issued_in_future": "iat",
    "invalid_claim": "claims",
    "lifetime_exceeded": "lifetime",
    "subject_type_denied": "subject",
    "unknown_kid": "key",
    "missing_kid": "key",
    "keys_unavailable": "key",
    "bad_signature": "signature",
    "unchecked_binding": "binding",
}
_CLAIM_NAME = re.compile(r"\bthe (\S+) claim\b")
_TIME_CLAIMS = ("exp", "nbf", "iat")
_UNSUPPORTED_HEADERS = ("crit", "b64", "enc", "zip")


@dataclass
class Check:
    """One check: ``status`` is ``pass``, ``fail`` or ``skip`` (not applicable or not reached)."""

    name: str
    status: str
    detail: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "reason": self.reason,
        }


@dataclass
class Explanation:
    """Everything :func:`explain` found. ``accepted`` is the guard's verdict."""

    header: dict[str, Any] | None
    claims: dict[str, Any] | None
    checks: list[Check] = field(default_factory=list)
    accepted: bool = False
    error: RSGuardError | None = None
    now: float = 0.0

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


class _Explainer:
    """The repair loop over a private copy of the policy."""

    def __init__(self, config: GuardConfig, now: float) -> None:
        self.config = config
        self.now = now
        self.policy = TokenPolicy(config)
        self.results: dict[str, Check] = {}
        self.missing: set[str] = set()

    def fail(self, exc: RSGuardError, name: str | None = None) -> None:
        name = name or _REASON_TO_CHECK.get(exc.reason, exc.reason)
        previous = self.results.get(name)
        detail = exc.description
        if previous is not None and previous.status == "fail":
            detail = previous.detail + "; " + detail
        self.results[name] = Check(name, "fail", detail, exc.reason)

    def skip(self, name: str, detail: str) -> None:
        self.results.setdefault(name, Check(name, "skip", detail))

    def run(self, header: dict[str, Any], claims: dict[str, Any]) -> str | None:
        """Find every header and claim failure; the issuer to look keys up for."""
        policy = self.policy
        for _ in range(40):
            try:
                policy._check_header(header)
                return policy._check_claims(claims, self.now)
            except InvalidToken as exc:
                self.fail(exc)
                if not self._repair(exc, header, claims):
                    return None
        return None  # pragma: no cover - every repair removes one failure

    def _drop_claim(self, claims: dict[str, Any], name: str) -> None:
        claims.pop(name, None)
        self.policy.required = tuple(n for n in self.policy.required if n != name)
        if name in ("exp", "iat"):
            self.skip("lifetime", f"not checked: {name} is unusable")

    def _repair(self, exc: InvalidToken, header: dict[str, Any], claims: dict[str, Any]) -> bool:
        reason, config, policy = exc.reason, self.config, self.policy
        if reason == "wrong_algorithm":
            header["alg"] = policy.algorithm
            self.skip("key", "not looked up: the token's alg is not the configured one")
            self.skip("signature", "not checked: the token's alg is not the configured one")
        elif reason == "wrong_type":
            header["typ"] = "at+jwt"
        elif reason == "unsupported_header":
            for name in _UNSUPPORTED_HEADERS:
                header.pop(name, None)
        elif reason == "invalid_header":
            header.pop("kid", None)
        elif reason == "missing_claim":
            absent = [n for n in policy.required if n not in claims]
            self.results["required"] = Check(
                "required", "fail", "missing: " + ", ".join(absent), reason
            )
            for name in absent:
                self.missing.add(name)
                self._drop_claim(claims, name)
                if name in CHECKS:
                    self.skip(name, f"not checked: there is no {name} claim")
            claims.setdefault("iss", config.issuer)
            claims.setdefault("aud", config.audience)
        elif reason == "wrong_issuer":
            claims["iss"] = config.issuer
        elif reason == "wrong_audience":
            claims["aud"] = config.audience
        elif reason in ("expired", "not_yet_valid", "issued_in_future"):
            self._drop_claim(claims, {"expired": "exp", "not_yet_valid": "nbf"}.get(reason, "iat"))
        elif reason == "invalid_claim":
            match = _CLAIM_NAME.search(exc.description)
            if match is None:
                return False
            name = match.group(1)
            if name in _TIME_CLAIMS:
                self.results.pop("claims", None)
                self.fail(exc, name)
            if name == "aud":
                claims["aud"] = config.audience
            else:
                self._drop_claim(claims, name)
        elif reason == "lifetime_exceeded":
            policy.lifetime = None
        elif reason == "subject_type_denied":
            policy.deny_users = policy.deny_clients = False
        else:
            return False
        return True


def _describe_pass(
    name: str, header: dict[str, Any], claims: dict[str, Any], config: GuardConfig, now: float
) -> str:
    if name in _TIME_CLAIMS:
        if name not in claims:
            return "absent (optional)" if name == "nbf" else "absent"
        return human_time(claims[name], now)
    if name == "alg":
        return f"{header.get('alg')} (configured: {config.algorithm})"
    if name == "typ":
        return repr(header.get("typ")) if "typ" in header else "absent (accepted for this dialect)"
    if name == "iss":
        return repr(claims.get("iss"))
    if name == "aud":
        return f"{claims.get('aud')!r} includes {config.audience!r}"
    if name == "kid":
        return repr(header.get("kid"))
    if name == "key" and config.algorithm == "HS256":
        return "HS256: the API's signing secret (no key set)"
    if name == "lifetime":
        return "no token_lifetime configured" if config.token_lifetime is None else CHECKS[name]
    return CHECKS[name]


def explain(
    token: str,
    config: GuardConfig,
    *,
    clock: Callable[[], float] = time.time,
    transport: httpx.BaseTransport | None = None,
    guard: Guard | None = None,
) -> Explanation:
    """Every check of ``token`` under ``config``, and the guard's verdict. Never raises
    for a bad token; fetches only the configured keys."""
    now = clock()
    token = token.strip()
    owns_guard = guard is None
    guard = guard or Guard(config, clock=clock, transport=transport)
    try:
        return _explain(token, config, guard, now)
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


def _explain(token: str, config: GuardConfig, guard: Guard, now: float) -> Explanation:
    result = Explanation(None, None, now=now)
    try:
        verified = guard.verify(token)
    except RSGuardError as exc:
        result.error = exc
    else:
        result.accepted = True
        if isinstance(guard.binding, UnboundOnly):
            try:
                guard.binding.check(None, None, verified, now)  # type: ignore[arg-type]
            except RSGuardError as exc:
                result.accepted, result.error = False, exc
    explainer = _Explainer(config, now)
    size_ok = len(token) <= config.max_token_bytes
    if not size_ok:
        explainer.fail(
            InvalidToken(
                f"the token has {len(token)} characters; the limit is {config.max_token_bytes}",
                reason="token_too_large",
            )
        )
    try:
        inner = _decrypted(token, config)
        jws = parse_compact_jws(inner)
    except JOSEError as exc:
        explainer.fail(InvalidToken(f"the access token is malformed: {exc}", reason="malformed"))
        result.checks = _ordered(explainer, {}, {}, config, now, stop="format")
        return _agree(result)
    except RSGuardError as exc:
        explainer.fail(exc, "format")
        result.checks = _ordered(explainer, {}, {}, config, now, stop="format")
        return _agree(result)
    result.header, result.claims = dict(jws.header), dict(jws.payload)
    header, claims = dict(jws.header), dict(jws.payload)
    issuer = explainer.run(header, claims)
    if "signature" not in explainer.results and issuer is not None:
        key = _key(guard, config, header, claims, explainer)
        if key is not None:
            # The signature over the token as presented (the claims set aside above are
            # not part of it); the same test as TokenPolicy.finish.
            unverified = UnverifiedToken(
                token,
                dict(jws.header),
                dict(jws.payload),
                jws.signing_input,
                jws.signature,
                header.get("kid"),
                issuer,
            )
            try:
                explainer.policy.finish(unverified, key)
            except RSGuardError as exc:
                explainer.fail(exc)
            except (KeyError, TypeError, ValueError):
                pass  # the signature held; building the token tripped on claims failed above
    elif issuer is None:
        explainer.skip("key", "not looked up: an earlier check could not be set aside")
        explainer.skip("signature", "not checked: an earlier check could not be set aside")
    if result.error is not None and result.error.reason == "unchecked_binding":
        explainer.fail(result.error)
    elif "cnf" in claims and not isinstance(guard.binding, UnboundOnly):
        explainer.skip("binding", "checked per request (needs the DPoP proof or the certificate)")
    elif "cnf" not in claims:
        explainer.skip("binding", "the token is not bound (no cnf)")
    result.checks = _ordered(explainer, result.header, claims, config, now)
    return _agree(result)


def _key(
    guard: Guard,
    config: GuardConfig,
    header: dict[str, Any],
    claims: dict[str, Any],
    explainer: _Explainer,
) -> VerificationKey | None:
    if config.algorithm == "HS256":
        assert config.signing_secret is not None
        return hmac_key(config.signing_secret)
    issuer = claims.get("iss") if claims.get("iss") in guard.jwks else config.issuer
    try:
        return guard.jwks[str(issuer)].get_key(header.get("kid"))
    except RSGuardError as exc:
        explainer.fail(exc)
        explainer.skip("signature", "not checked: no key to check it with")
        return None


def _ordered(
    explainer: _Explainer,
    header: dict[str, Any],
    claims: dict[str, Any],
    config: GuardConfig,
    now: float,
    *,
    stop: str | None = None,
) -> list[Check]:
    out: list[Check] = []
    reached = True
    for name in CHECKS:
        found = explainer.results.get(name)
        if found is not None:
            out.append(found)
        elif not reached:
            out.append(Check(name, "skip", "not reached"))
        else:
            out.append(Check(name, "pass", _describe_pass(name, header, claims, config, now)))
        if name == stop:
            reached = False
    known = set(CHECKS)
    out += [c for n, c in explainer.results.items() if n not in known]
    return out


def _agree(result: Explanation) -> Explanation:
    """Make sure the guard's reason for refusing is among the failed checks."""
    error = result.error
    if error is not None and not any(c.reason == error.reason for c in result.failures):
        result.checks.append(Check("guard", "fail", error.description, error.reason))
    return result
