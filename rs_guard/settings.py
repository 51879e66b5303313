"""The one table of ``RS_GUARD_*`` settings: name, field, parser, default and meaning.

Everything that reads settings by name reads this table: the environment loader
(:func:`rs_guard.loaders.settings_from_env`), the Flask extension's ``app.config``, the
command line (``rs-guard settings``) and the reference table of ``docs/settings.md``
(generated from :func:`markdown_table`; a test compares the two).

A parser turns the text of one variable into keyword arguments of
:class:`~rs_guard.config.GuardConfig`; a dotted name (``dpop.nonce``) is a field of a
nested options object, assembled by the loader.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Scope
from .errors import ConfigError

__all__ = [
    "PREFIX",
    "SETTINGS",
    "Setting",
    "as_text",
    "closest_name",
    "comma_list",
    "domain_issuer",
    "markdown_table",
    "unknown_names",
]

PREFIX = "RS_GUARD_"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})

Parser = Callable[[str, str], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``RS_GUARD_*`` variable (or ``app.config`` key)."""

    name: str
    #: The :class:`~rs_guard.config.GuardConfig` field(s) it sets, as documented.
    field: str
    #: ``parse(name, text)``: keyword arguments for GuardConfig; ``None`` when the loader
    #: handles the setting itself (``RS_GUARD_CONFIG`` names a file).
    parse: Parser | None
    default: str
    doc: str
    #: How a list given in ``app.config`` is joined into the text the parser reads.
    separator: str = ","


# -- parsers ---------------------------------------------------------------------------


def boolean(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(name, f"must be true or false, got {text!r}")


def comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def space_list(text: str) -> list[str]:
    """Items separated by SP only, empty pieces dropped (RFC 6749 §3.3, as for ``scope``)."""
    return [item for item in text.strip(" ").split(" ") if item]


def _text(target: str) -> Parser:
    def parse(name: str, text: str) -> dict[str, Any]:
        return {target: text.strip()}

    return parse


def _boolean(target: str) -> Parser:
    def parse(name: str, text: str) -> dict[str, Any]:
        return {target: boolean(name, text)}

    return parse


def _number(target: str, kind: type[int] | type[float]) -> Parser:
    def parse(name: str, text: str) -> dict[str, Any]:
        try:
            return {target: kind(text.strip())}
        except ValueError as exc:
            raise ConfigError(name, f"must be a number, got {text!r}") from exc

    return parse


def _first_and_more(main: str, more: str) -> Parser:
    def parse(name: str, text: str) -> dict[str, Any]:
        items = comma_list(text)
        return {main: items[0], more: tuple(items[1:])} if items else {}

    return parse


def domain_issuer(text: str) -> str:
    """The issuer ``RS_GUARD_DOMAIN`` stands for: ``https://DOMAIN/``."""
    return f"https://{text.strip().removeprefix('https://').rstrip('/')}/"


def _domain(name: str, text: str) -> dict[str, Any]:
    return {"issuer": domain_issuer(text), "additional_issuers": ()}


def _trusted_proxies(name: str, text: str) -> dict[str, Any]:
    return {"trusted_proxies": tuple(comma_list(text))}


def _scopes(name: str, text: str) -> dict[str, Any]:
    return {"scopes": tuple(Scope(value) for value in space_list(text))}


def _decryption_keys(name: str, text: str) -> dict[str, Any]:
    pems = []
    for path in comma_list(text):
        try:
            pems.append(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(name, f"cannot read {path}: {exc}") from exc
    return {"decryption_keys": tuple(pems)}


# -- the table -------------------------------------------------------------------------

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "RS_GUARD_CONFIG",
        "(several)",
        None,
        "none",
        "path to a resource-server JSON file, Management API shape "
        "([mapping](auth0-settings.md)); the variables below override it",
    ),
    Setting(
        "RS_GUARD_ISSUER",
        "`issuer`, `additional_issuers`",
        _first_and_more("issuer", "additional_issuers"),
        "none (required)",
        "issuer compared exactly with `iss` (Auth0: `https://TENANT/`, with the trailing "
        "slash); a comma-separated list accepts several issuers, the first is the main one",
    ),
    Setting(
        "RS_GUARD_DOMAIN",
        "`issuer`",
        _domain,
        "none",
        "shortcut: issuer `https://DOMAIN/`; given with `RS_GUARD_ISSUER`, both must name "
        "the same main issuer",
    ),
    Setting(
        "RS_GUARD_AUDIENCE",
        "`audience`, `additional_audiences`",
        _first_and_more("audience", "additional_audiences"),
        "none (required)",
        "the API identifier that must be in `aud`; comma-separated for several",
    ),
    Setting(
        "RS_GUARD_JWKS_URI",
        "`jwks_uri`",
        _text("jwks_uri"),
        "`{issuer}.well-known/jwks.json`",
        "where the keys are",
    ),
    Setting(
        "RS_GUARD_DISCOVERY",
        "`discovery`",
        _boolean("discovery"),
        "`false`",
        "`true`: find `jwks_uri` in the issuer's metadata (OIDC discovery, then RFC 8414), "
        "whose `issuer` must equal the configured one",
    ),
    Setting(
        "RS_GUARD_SIGNING_ALG",
        "`algorithm`",
        _text("algorithm"),
        "`RS256`",
        "`HS256`, `RS256`, `RS512`, `PS256`, `ES256`, `EdDSA`; the token's `alg` must equal it",
    ),
    Setting(
        "RS_GUARD_SIGNING_SECRET",
        "`signing_secret`",
        _text("signing_secret"),
        "none",
        "HS256 secret, at least 16 characters (a warning below 32 bytes, RFC 7518 §3.2); "
        "ignored for the other algorithms",
    ),
    Setting(
        "RS_GUARD_TOKEN_DIALECT",
        "`token_dialect`",
        _text("token_dialect"),
        "`access_token`",
        "`access_token`, `access_token_authz`, `rfc9068_profile`, `rfc9068_profile_authz`",
    ),
    Setting(
        "RS_GUARD_ENFORCE_POLICIES",
        "`enforce_policies`",
        _boolean("enforce_policies"),
        "the file's value, else `false`",
        "`true`/`false`: Auth0 RBAC; with an `*_authz` dialect, route requirements are "
        "checked against `permissions` instead of `scope`",
    ),
    Setting(
        "RS_GUARD_SCOPES",
        "`scopes`",
        _scopes,
        "the file's value, else none",
        "the scopes the API defines, separated by spaces (descriptions come from the file "
        "when it defines the same scope); routes may only require these",
        separator=" ",
    ),
    Setting(
        "RS_GUARD_LEEWAY",
        "`leeway`",
        _number("leeway", float),
        "**10**",
        "clock skew allowed on `exp`, `nbf`, `iat` (and the `token_lifetime` ceiling), "
        "seconds, 0 to 300",
    ),
    Setting(
        "RS_GUARD_TOKEN_CACHE",
        "`token_cache_size`",
        _number("token_cache_size", int),
        "**4096**",
        "how many verified tokens to remember (an entry never outlives the token's `exp`, "
        "and is dropped when a key refresh removes or replaces the key that verified it; proof "
        "of possession is checked on every request); `0` turns the cache off",
    ),
    Setting(
        "RS_GUARD_JWKS_COOLDOWN",
        "`jwks.cooldown`",
        _number("jwks.cooldown", float),
        "**30**",
        "seconds between two refetches for an unknown `kid`, and between retries while the "
        "issuer fails (sooner with nothing cached: [keys](keys.md))",
    ),
    Setting(
        "RS_GUARD_CLIENT_CERT_HEADER",
        "`client_cert_header`",
        _text("client_cert_header"),
        "none: the certificate comes only from the server's TLS layer",
        "header in which a trusted TLS-terminating proxy forwards the client certificate "
        "(RFC 9440 `Client-Cert`, nginx `$ssl_client_escaped_cert`, Envoy "
        "`X-Forwarded-Client-Cert`)",
    ),
    Setting(
        "RS_GUARD_TRUSTED_PROXIES",
        "`trusted_proxies`",
        _trusted_proxies,
        "`127.0.0.1,::1`",
        "comma-separated addresses or networks whose connections may carry that header",
    ),
    Setting(
        "RS_GUARD_PUBLIC_URL",
        "`public_url`",
        _text("public_url"),
        "none: built from what the server knows, never from `Host`",
        "the API's public base URL, for the DPoP `htu` check behind proxies",
    ),
    Setting(
        "RS_GUARD_DPOP_NONCE",
        "`dpop.nonce`",
        _boolean("dpop.nonce"),
        "`false`",
        "`true`: DPoP proofs must carry a server nonce (RFC 9449 §9)",
    ),
    Setting(
        "RS_GUARD_DPOP_NONCE_SECRET",
        "`dpop.nonce_secret`",
        _text("dpop.nonce_secret"),
        "a random secret per process",
        "secret (16+ characters) shared by every worker, so that a nonce issued by one is "
        "accepted by the others",
    ),
    Setting(
        "RS_GUARD_REPLAY_STORE",
        "`replay_store`",
        _text("replay_store"),
        "`memory`",
        "`memory` or a `redis://` URL: where DPoP proof ids are remembered (use Redis with "
        "several workers); a password in the URL is never shown",
    ),
    Setting(
        "RS_GUARD_DECRYPTION_KEY",
        "`token_encryption.decryption_keys`",
        _decryption_keys,
        "none",
        "path(s), comma-separated, to PEM private keys that decrypt nested JWE tokens",
    ),
    Setting(
        "RS_GUARD_RESOURCE_METADATA",
        "`resource_metadata`",
        _boolean("resource_metadata"),
        "`false`",
        "`true`: serve RFC 9728 protected-resource metadata at "
        "`/.well-known/oauth-protected-resource` + the identifier's path and name it in every "
        'challenge as `resource_metadata="..."` ([details](advanced.md#protected-resource-'
        "metadata-rfc-9728)); the identifier must then be an `https` URL (`http` on loopback)",
    ),
)

BY_NAME: Mapping[str, Setting] = {setting.name: setting for setting in SETTINGS}


# -- helpers for the readers of the table ----------------------------------------------


def closest_name(name: str) -> str | None:
    """The known setting ``name`` is most likely a typo of, if any (``RS_GUARD_LEWAY``)."""
    matches = difflib.get_close_matches(name, list(BY_NAME), n=1, cutoff=0.8)
    return matches[0] if matches else None


#: ``RS_GUARD_*`` names our own scripts read (``scripts/``: the venv; ``benchmarks/``):
#: not settings, and no typo of one either, so never warned about.
TOOLING_NAMES = frozenset({"RS_GUARD_VENV"})
TOOLING_PREFIXES = ("RS_GUARD_BENCH_",)


def unknown_names(names: Iterable[str]) -> list[str]:
    """The ``RS_GUARD_*`` names among ``names`` that are not settings (nor our tooling's
    own, :data:`TOOLING_NAMES`), in order."""
    return [
        n
        for n in names
        if n.startswith(PREFIX)
        and n not in BY_NAME
        and n not in TOOLING_NAMES
        and not n.startswith(TOOLING_PREFIXES)
    ]


def unknown_message(name: str) -> str:
    """``is not an rs_guard setting; did you mean RS_GUARD_LEEWAY?``"""
    suggestion = closest_name(name)
    hint = f"; did you mean {suggestion}?" if suggestion else ""
    return f"is not an rs_guard setting{hint}"


def as_text(name: str, value: Any) -> str:
    """The text of a setting given as a Python value (``app.config``): booleans, numbers,
    paths and lists are accepted as well as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)  # type: ignore[no-any-return]
    if isinstance(value, (list, tuple, set, frozenset)):
        setting = BY_NAME.get(name)
        separator = setting.separator if setting is not None else ","
        return separator.join(str(item) for item in value)
    raise ConfigError(name, f"must be a string, got {type(value).__name__}")


def markdown_table() -> str:
    """The reference table of ``docs/settings.md`` (``rs-guard settings --markdown``)."""
    lines = [
        "| variable | `GuardConfig` field | meaning | default |",
        "| --- | --- | --- | --- |",
    ]
    for s in SETTINGS:
        lines.append(f"| `{s.name}` | {s.field} | {s.doc} | {s.default} |")
    return "\n".join(lines) + "\n"
