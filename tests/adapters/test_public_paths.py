"""The one public-path rule both shells use (rs_guard.adapters._shell.PublicPaths)."""

from __future__ import annotations

import pytest

from rs_guard.adapters._shell import PublicPaths
from rs_guard.errors import ConfigError

PATHS = PublicPaths(["/health", "/static/*", "/docs*"])


@pytest.mark.parametrize(
    "path",
    ["/health", "/static/app.css", "/static/a/b.js", "/docs", "/docs/", "/docs/oauth2-redirect"],
)
def test_public(path: str) -> None:
    assert path in PATHS


@pytest.mark.parametrize(
    "path",
    [
        "/health/",  # an exact entry is exact
        "/healthz",
        "/static",  # "/static/*" covers what is below /static/ only
        "/docsets",  # a prefix stops at a segment boundary
        "/docs-admin",
        "/docs.json",
        "/static/../admin",  # dot segments never public (RFC 3986 §5.2.4)
        "/docs/../admin",
        "/static/./app.css",
        "/admin",
    ],
)
def test_not_public(path: str) -> None:
    assert path not in PATHS


def test_a_bad_entry_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a path starting with /"):
        PublicPaths(["health"])
    with pytest.raises(TypeError, match="a list of paths"):
        PublicPaths("/health")
