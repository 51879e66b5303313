"""Importing an Auth0 API's settings: from the Management API, or from Terraform.

* :mod:`rs_guard.auth0.management`: ``GET /api/v2/resource-servers/{id}`` of a tenant.
* :mod:`rs_guard.auth0.terraform`: ``auth0_resource_server`` in ``terraform show -json``.

Both give the resource-server object in the Management API's shape, then settings for
:class:`~rs_guard.config.GuardConfig` through
:func:`rs_guard.loaders.settings_from_resource_server`: one mapping, whatever the source.
"""

from __future__ import annotations

from .management import (
    ManagementAPIError,
    config_from_management_api,
    fetch_resource_server,
    find_resource_server_id,
    settings_from_management_api,
)
from .terraform import (
    config_from_terraform,
    resource_server_from_terraform,
    settings_from_terraform,
)

__all__ = [
    "ManagementAPIError",
    "config_from_management_api",
    "config_from_terraform",
    "fetch_resource_server",
    "find_resource_server_id",
    "resource_server_from_terraform",
    "settings_from_management_api",
    "settings_from_terraform",
]
