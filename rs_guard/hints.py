"""The usual mix-ups behind a refused token, in plain words, for ``rs-guard inspect``.

Each function looks at what the token (not verified) and the settings say and returns a
sentence, or ``None`` when the mix-up is not there. The sentences name values from the
token, so they are for the command line only, never for an HTTP answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ._jose import JOSEError, b64url_decode, json_object
from .config import GuardConfig
from .requirements import claim_mixup, rbac_reason
from .token import split_delimited

__all__ = ["id_token_hint", "issuer_hint", "opaque_token_hint", "scope_hints"]

#: What Auth0 returns when a token is requested without ``audience``: a JWE only the
#: authorization server can read (direct encryption with its own A256GCM key).
_OPAQUE_HEADER = {"alg": "dir", "enc": "A256GCM"}
#: Claims of an OpenID Connect ID token that an access token does not carry.
_ID_TOKEN_CLAIMS = ("nonce", "at_hash")


def opaque_token_hint(token: str, audience: str | None) -> str | None:
    """An Auth0 opaque token: a compact JWE with ``alg: dir`` and ``enc: A256GCM``."""
    segments = token.split(".")
    if len(segments) != 5:
        return None
    try:
        header = json_object(b64url_decode(segments[0]), "JWE header")
    except JOSEError:
        return None
    if any(header.get(name) != value for name, value in _OPAQUE_HEADER.items()):
        return None
    identifier = audience or "<your API identifier>"
    return (
        "this is an opaque token (a JWE with alg dir and enc A256GCM) that only the "
        "authorization server can read; Auth0 issues one when the token is requested "
        f"without an audience: request the token with audience={identifier}"
    )


def id_token_hint(claims: Mapping[str, Any], audience: str) -> str | None:
    """An ID token sent as an access token: ``nonce``/``at_hash``, ``aud`` a client id."""
    markers = [name for name in _ID_TOKEN_CLAIMS if name in claims]
    if not markers:
        return None
    return (
        f"this looks like an ID token, not an access token: it carries "
        f"{' and '.join(markers)}, and its aud {json.dumps(claims.get('aud'))} is a client id, "
        f"not this API's identifier {json.dumps(audience)}; send the access token, "
        f"requested with audience={audience}"
    )


def issuer_hint(actual: Any, issuers: Iterable[str]) -> str | None:
    """The token's ``iss`` and a configured issuer that differ only by the trailing slash."""
    if not isinstance(actual, str):
        return None
    for issuer in issuers:
        if issuer != actual and issuer.rstrip("/") == actual.rstrip("/"):
            return (
                f"the token's iss {json.dumps(actual)} and the configured issuer "
                f"{json.dumps(issuer)} differ only by the trailing slash; iss is compared "
                f"exactly: set RS_GUARD_ISSUER={actual}"
            )
    return None


def scope_hints(
    scopes: Iterable[str], claims: Mapping[str, Any], config: GuardConfig
) -> Iterator[str]:
    """A required scope that is in the claim this API does not check (RBAC mix-ups).

    The sentence is the 403's own (:func:`rs_guard.requirements.claim_mixup`).
    """
    scope = claims.get("scope")
    in_scope = split_delimited(scope) if isinstance(scope, str) else frozenset()
    listed = claims.get("permissions")
    in_permissions = (
        frozenset(p for p in listed if isinstance(p, str))
        if isinstance(listed, list)
        else frozenset()
    )
    checked, granted = (
        ("permissions", in_permissions) if config.uses_permissions else ("scope", in_scope)
    )
    missing = [name for name in scopes if name not in granted]
    why = rbac_reason(config.token_dialect, config.enforce_policies)
    sentence = claim_mixup(missing, in_scope, in_permissions, checked, why)
    if sentence:
        yield sentence
