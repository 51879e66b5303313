"""OAuth 2.0 Protected Resource Metadata (RFC 9728), with no framework work.

With ``resource_metadata`` on, the API publishes a JSON document about itself at a
well-known URL built from its identifier, and names that URL in every challenge so that
a client (an MCP client, for one) can find the authorization server on its own:

* :func:`metadata_path` / :func:`metadata_url`: where the document lives (RFC 9728 §3.1);
* :func:`metadata_document`: the document (§2) from a :class:`~rs_guard.config.GuardConfig`;
* :class:`MetadataEndpoint`: the ready HTTP answers (status, headers, body) that the shell
  core (:meth:`rs_guard.adapters._shell.Shell.metadata_answer`) gives both middlewares and
  the Flask extension for that path.

With ``resource_metadata`` on, :class:`~rs_guard.config.GuardConfig` itself refuses an
identifier that is not an ``https`` URL (``http`` only on loopback) or that has a query or
fragment (§1.2): a :class:`~rs_guard.errors.ConfigError` naming ``audience``, at start-up.

The URL in challenges (§5.1) is built from the configured identifier only, never from
request headers, which a client could forge.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .config import GuardConfig

__all__ = [
    "CACHE_CONTROL",
    "WELL_KNOWN",
    "MetadataEndpoint",
    "endpoint_for",
    "metadata_document",
    "metadata_path",
    "metadata_url",
]

#: The well-known URI suffix registered by RFC 9728 §3.
WELL_KNOWN = "/.well-known/oauth-protected-resource"
#: The document changes only with the settings: clients and caches may keep it an hour.
CACHE_CONTROL = "public, max-age=3600"


def metadata_path(identifier: str) -> str:
    """The request path of the document: ``/.well-known/oauth-protected-resource`` + the
    identifier's path, its terminating slash removed first (RFC 9728 §3.1).

    ``https://api.example.com/`` → ``/.well-known/oauth-protected-resource``;
    ``https://mcp.example.com/mcp`` → ``/.well-known/oauth-protected-resource/mcp``.
    """
    path = urlsplit(identifier).path.rstrip("/")
    return WELL_KNOWN + path


def metadata_url(identifier: str) -> str:
    """The absolute URL of the document, for ``resource_metadata`` (RFC 9728 §3.1, §5.1)."""
    parts = urlsplit(identifier)
    return f"{parts.scheme}://{parts.netloc}{metadata_path(identifier)}"


def metadata_document(config: GuardConfig) -> dict[str, Any]:
    """The protected resource metadata of RFC 9728 §2 for one API.

    ``resource`` is the identifier exactly as configured (§3.3: a client compares it with
    the URL it used); the proof-of-possession members appear only when configured.
    """
    document: dict[str, Any] = {
        "resource": config.audience,
        "authorization_servers": list(config.issuers),
        "bearer_methods_supported": ["header"],  # RFC 6750 §2.1 only: never body or query
    }
    if config.scopes:
        document["scopes_supported"] = [scope.value for scope in config.scopes]
    if config.name:
        document["resource_name"] = config.name
    if config.authorization_details:
        document["authorization_details_types_supported"] = list(config.authorization_details)
    if config.dpop_enabled:
        pop = config.proof_of_possession
        document.update(  # RFC 9728 §2: the DPoP members
            dpop_signing_alg_values_supported=list(config.dpop.algorithms),
            dpop_bound_access_tokens_required=bool(
                pop is not None and (pop.required or pop.required_for == "all_clients")
            ),
        )
    if config.mtls_enabled:
        document["tls_client_certificate_bound_access_tokens"] = True
    return document


class MetadataEndpoint:
    """The answers for the metadata path, computed once from the settings.

    ``GET`` (and ``HEAD``) get the document, public and cacheable; any other method a
    ``405`` with ``Allow``. The body is fixed, so it is encoded once.
    """

    __slots__ = ("body", "path", "url")

    def __init__(self, config: GuardConfig) -> None:
        self.path = metadata_path(config.audience)
        self.url = metadata_url(config.audience)
        self.body = json.dumps(metadata_document(config)).encode()

    def answer(self, method: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """``(status, headers, body)`` for a request to :attr:`path` with ``method``."""
        method = method.upper()
        if method not in ("GET", "HEAD"):
            body = b'{"error": "method_not_allowed"}'
            return (
                405,
                [
                    ("content-type", "application/json"),
                    ("allow", "GET, HEAD"),
                    ("content-length", str(len(body))),
                ],
                body,
            )
        headers = [
            ("content-type", "application/json"),
            ("cache-control", CACHE_CONTROL),
            ("content-length", str(len(self.body))),
        ]
        return 200, headers, self.body if method == "GET" else b""


def endpoint_for(config: GuardConfig) -> MetadataEndpoint | None:
    """The endpoint when ``config.resource_metadata`` is on, else ``None``."""
    return MetadataEndpoint(config) if config.resource_metadata else None
