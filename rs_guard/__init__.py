"""rs_guard: the resource-server side of OAuth 2.0 for Python APIs.

Verify access tokens (RFC 9068, Auth0 dialects), enforce scopes and permissions,
check proof of possession (RFC 8705 mTLS, RFC 9449 DPoP), and answer refusals as
RFC 6750 says, in Starlette/FastAPI and Flask or any ASGI/WSGI app.
"""

from __future__ import annotations

from .config import (
    DPoPOptions,
    GuardConfig,
    JWKSOptions,
    ProofOfPossession,
    Scope,
    SubjectTypeAuthorization,
    TokenEncryption,
)
from .context import RequestContext
from .errors import (
    Challenge,
    ConfigError,
    InsufficientScope,
    InsufficientUserAuthentication,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    KeysUnavailable,
    MissingCredentials,
    ReplayStoreUnavailable,
    RSGuardError,
    ServiceUnavailable,
    UseDPoPNonce,
    render_error,
)
from .extract import Credentials, extract_credentials
from .guard import AsyncGuard, Guard
from .loaders import load_config, settings_from_env, settings_from_resource_server
from .requirements import (
    Requirement,
    all_of,
    any_of,
    claim_equals,
    claim_includes,
    claim_matches,
    clients_only,
    permissions,
    users_only,
)
from .token import AccessToken

__version__ = "0.1.0"

__all__ = [
    "AccessToken",
    "AsyncGuard",
    "Challenge",
    "ConfigError",
    "Credentials",
    "DPoPOptions",
    "Guard",
    "GuardConfig",
    "InsufficientScope",
    "InsufficientUserAuthentication",
    "InvalidDPoPProof",
    "InvalidRequest",
    "InvalidToken",
    "JWKSOptions",
    "KeysUnavailable",
    "MissingCredentials",
    "ProofOfPossession",
    "RSGuardError",
    "ReplayStoreUnavailable",
    "RequestContext",
    "Requirement",
    "Scope",
    "ServiceUnavailable",
    "SubjectTypeAuthorization",
    "TokenEncryption",
    "UseDPoPNonce",
    "__version__",
    "all_of",
    "any_of",
    "claim_equals",
    "claim_includes",
    "claim_matches",
    "clients_only",
    "extract_credentials",
    "load_config",
    "permissions",
    "render_error",
    "settings_from_env",
    "settings_from_resource_server",
    "users_only",
]
