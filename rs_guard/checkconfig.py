"""``rs-guard check-config``: are the settings usable, and are the keys reachable?

For each configured issuer the key set is fetched the way the guard fetches it (same
client settings, discovery, redirects on the same host only, body limit), then once more
plainly to list every published key, usable or not, with the cache headers that set how
long the guard keeps it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx

from ._jose import JOSEError, json_object
from .config import GuardConfig, redact_url
from .jwks import JWKSClient, KeySetState
from .keys import key_from_jwk

__all__ = ["IssuerReport", "SettingsReport", "check_settings"]

_CACHE_HEADERS = ("cache-control", "expires", "age", "etag", "last-modified")


@dataclass
class IssuerReport:
    issuer: str
    jwks_uri: str | None
    ok: bool = False
    error: str | None = None
    status: int | None = None
    duration: float | None = None
    cache_headers: dict[str, str] = field(default_factory=dict)
    ttl: float | None = None
    keys: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class SettingsReport:
    config: GuardConfig
    issuers: list[IssuerReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.issuers)

    def settings(self) -> dict[str, Any]:
        c = self.config
        pop = c.proof_of_possession
        return {
            "issuers": list(c.issuers),
            "audiences": list(c.audiences),
            "algorithm": c.algorithm,
            "token_dialect": c.token_dialect,
            "enforce_policies": c.enforce_policies,
            "checked_against": "permissions" if c.uses_permissions else "scope",
            "leeway": c.leeway,
            "token_lifetime": c.token_lifetime,
            "discovery": c.discovery,
            "proof_of_possession": None
            if pop is None
            else {
                "mechanism": pop.mechanism,
                "required": pop.required,
                "required_for": pop.required_for,
            },
            "token_encryption": c.token_encryption is not None,
            "client_cert_header": c.client_cert_header,
            "trusted_proxies": list(c.trusted_proxies),
            "public_url": c.public_url,
            "replay_store": redact_url(c.replay_store),
            "token_cache_size": c.token_cache_size,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "settings": self.settings(),
            "issuers": [i.to_dict() for i in self.issuers],
        }

    def write(self, out: TextIO) -> None:
        out.write("settings: valid\n")
        for name, value in self.settings().items():
            out.write(f"  {name}: {value}\n")
        for issuer in self.issuers:
            out.write(f"\nissuer {issuer.issuer}\n")
            if self.config.algorithm == "HS256":
                out.write("  HS256: tokens are checked with the signing secret; no key set\n")
                continue
            out.write(f"  jwks_uri: {issuer.jwks_uri}\n")
            if issuer.error:
                out.write(f"  FAIL: {issuer.error}\n")
            if issuer.status is not None:
                out.write(f"  HTTP {issuer.status} in {1000 * (issuer.duration or 0):.0f} ms\n")
            for name, value in issuer.cache_headers.items():
                out.write(f"  {name}: {value}\n")
            if issuer.ttl is not None:
                out.write(f"  kept for: {issuer.ttl:.0f} s before a refresh\n")
            for key in issuer.keys:
                usable = "usable" if key["usable"] else "not usable"
                out.write(
                    f"  key kid={key['kid']!r} kty={key['kty']} alg={key['alg']} "
                    f"use={key['use']}: {usable} for {self.config.algorithm}\n"
                )
        out.write("\n" + ("OK\n" if self.ok else "FAILED\n"))


def check_settings(
    config: GuardConfig, *, transport: httpx.BaseTransport | None = None
) -> SettingsReport:
    """Fetch each issuer's keys and describe what was found. Never raises for I/O."""
    report = SettingsReport(config)
    if config.algorithm == "HS256":
        report.issuers = [IssuerReport(issuer, None, ok=True) for issuer in config.issuers]
        return report
    timeout = httpx.Timeout(config.jwks.timeout)
    with httpx.Client(timeout=timeout, follow_redirects=False, transport=transport) as client:
        for issuer in config.issuers:
            report.issuers.append(_check_issuer(config, issuer, client))
    return report


def _check_issuer(config: GuardConfig, issuer: str, client: httpx.Client) -> IssuerReport:
    state = KeySetState(
        issuer=issuer,
        jwks_uri=config.jwks_uri_for(issuer),
        algorithm=config.algorithm,
        discovery=config.discovery,
        options=config.jwks,
    )
    JWKSClient(state, client=client).refresh()
    result = IssuerReport(issuer, state.jwks_uri)
    if state.last_error:
        result.error = state.last_error
    result.ok = bool(state.keys())
    if state.jwks_uri is None:
        return result
    started = time.perf_counter()
    try:
        response = client.get(state.jwks_uri, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        result.error = result.error or f"{type(exc).__name__}: {exc}"
        return result
    result.duration = time.perf_counter() - started
    result.status = response.status_code
    result.cache_headers = {
        name: response.headers[name] for name in _CACHE_HEADERS if name in response.headers
    }
    result.ttl = state.kept_for
    if response.status_code != 200 or len(response.content) > config.jwks.max_bytes:
        return result
    try:
        document = json_object(response.content, "key set")
    except JOSEError as exc:
        result.error = result.error or str(exc)
        return result
    for jwk in document.get("keys") or []:
        if isinstance(jwk, dict):
            result.keys.append(
                {
                    "kid": jwk.get("kid"),
                    "kty": jwk.get("kty"),
                    "alg": jwk.get("alg"),
                    "use": jwk.get("use"),
                    "usable": key_from_jwk(jwk, config.algorithm) is not None,
                }
            )
    if not result.ok and result.error is None:
        result.error = f"no published key fits {config.algorithm}"
    return result
