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
    """A required scope that is in the claim this API does not check (RBAC mix-ups)."""
    scope = claims.get("scope")
    # RFC 6749 §3.3: scope tokens are separated by SP only.
    in_scope = set(scope.split(" ")) if isinstance(scope, str) else set()
    listed = claims.get("permissions")
    in_permissions = (
        {p for p in listed if isinstance(p, str)} if isinstance(listed, list) else set()
    )
    for name in scopes:
        if config.uses_permissions:
            if name not in in_permissions and name in in_scope:
                yield (
                    f"the token carries {name} in scope, but this API checks permissions "
                    "(enforce_policies is on)"
                )
        elif name not in in_scope and name in in_permissions:
            why = (
                "enforce_policies is off"
                if not config.enforce_policies
                else f"the token_dialect {config.token_dialect} carries no RBAC permissions"
            )
            yield f"the token carries {name} in permissions, but this API checks scope ({why})"
