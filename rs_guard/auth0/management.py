"""An API's settings straight from the Auth0 Management API.

``GET /api/v2/resource-servers/{id}`` answers the resource-server object that
:func:`rs_guard.loaders.settings_from_resource_server` reads. Given an identifier
(``https://api.example.com``) rather than an id, the id is found first with
``GET /api/v2/resource-servers?identifiers=...``, paging with ``page``/``per_page``/
``include_totals`` as that endpoint pages. The management token needs the
``read:resource_servers`` scope; it is sent only in the ``Authorization`` header and
never appears in an error message.

Every failure a user can meet (the tenant unreachable or slow, 401, 403, 404, 429 with
its ``Retry-After``/``X-RateLimit-Reset``, an answer that is not JSON) is a
:class:`ManagementAPIError` whose message says what happened and what to do.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from ..config import GuardConfig, check_url
from ..errors import ConfigError
from ..loaders import build_config, settings_from_resource_server

__all__ = [
    "ManagementAPIError",
    "config_from_management_api",
    "fetch_resource_server",
    "find_resource_server_id",
    "settings_from_management_api",
]

#: Largest answer read from the Management API.
MAX_ANSWER_BYTES = 1024 * 1024
#: Resource servers asked for per page when looking an identifier up (the API's maximum).
PER_PAGE = 100
#: Pages read at most when looking an identifier up.
MAX_PAGES = 50


class ManagementAPIError(Exception):
    """The Management API could not give the resource server; the message says why.

    ``status_code`` is the HTTP status when there was an answer; ``retry_after`` the
    seconds to wait before trying again, when the API said so (429).
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


def _base_url(domain: str) -> str:
    """``https://DOMAIN`` for a tenant domain; a full URL is kept (http only on loopback)."""
    domain = domain.strip()
    if not domain:
        raise ConfigError("domain", "is required (the tenant domain, e.g. tenant.eu.auth0.com)")
    url = domain if "://" in domain else f"https://{domain}"
    try:
        check_url("domain", url)
    except ConfigError:
        raise
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError("domain", f"must be a domain without a path, got {domain!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _issuer_of(base_url: str) -> str:
    return base_url + "/"


class _Caller:
    """One Management API conversation: the token, the client, the error messages."""

    def __init__(
        self,
        base_url: str,
        token: str,
        client: httpx.Client,
        clock: Callable[[], float],
    ) -> None:
        if not token or not token.strip():
            raise ConfigError("management_token", "is required")
        self.base_url = base_url
        self.host = urlsplit(base_url).netloc
        self.token = token.strip()
        self.client = client
        self.clock = clock

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        try:
            with self.client.stream("GET", url, params=params, headers=headers) as answer:
                body = self._read(answer)
        except httpx.TimeoutException as exc:
            raise ManagementAPIError(
                f"the Management API at {self.host} did not answer in time; "
                "check the domain and your network, then try again"
            ) from exc
        except httpx.HTTPError as exc:
            raise ManagementAPIError(
                f"the Management API at {self.host} could not be reached "
                f"({type(exc).__name__}); check the tenant domain"
            ) from exc
        if answer.status_code != 200:
            raise self._failure(answer, body, path)
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManagementAPIError(
                f"the Management API at {self.host} answered something that is not JSON; "
                "is the domain an Auth0 tenant?",
                status_code=200,
            ) from exc

    @staticmethod
    def _read(answer: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in answer.iter_bytes():
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise ManagementAPIError(
                    f"the Management API answer is larger than {MAX_ANSWER_BYTES} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _detail(self, body: bytes) -> str:
        """Auth0's own ``message`` of an error answer, short, without the token."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return ""
        message = data.get("message") if isinstance(data, dict) else None
        if not isinstance(message, str) or not message:
            return ""
        message = message.replace(self.token, "[token]")
        message = "".join(c if c.isprintable() else " " for c in message)[:200]
        return f" (Auth0 says: {message})"

    def _failure(self, answer: httpx.Response, body: bytes, path: str) -> ManagementAPIError:
        status = answer.status_code
        detail = self._detail(body)
        if status == 401:
            text = (
                "the management token was refused (401): it is expired, malformed, or for "
                "another tenant; get a new Management API token for " + self.host
            )
        elif status == 403:
            text = (
                "the management token may not read resource servers (403): grant it the "
                "read:resource_servers scope"
            )
        elif status == 404:
            text = f"no such resource server at {self.host} (404): check the id ({path})"
        elif status == 429:
            retry_after = self._retry_after(answer.headers)
            wait = f"; retry after {retry_after:.0f} s" if retry_after is not None else ""
            return ManagementAPIError(
                f"the Management API rate limit was reached (429){wait}{detail}",
                status_code=429,
                retry_after=retry_after,
            )
        elif 300 <= status < 400:
            text = (
                f"the Management API at {self.host} answered a redirect ({status}); "
                "use the tenant's own domain"
            )
        elif status >= 500:
            text = f"the Management API at {self.host} failed ({status}); try again later"
        else:
            text = f"the Management API at {self.host} answered HTTP {status}"
        return ManagementAPIError(text + detail, status_code=status)

    def _retry_after(self, headers: httpx.Headers) -> float | None:
        value = headers.get("retry-after")
        if value:
            value = value.strip()
            if value.isdigit():
                return float(value)
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None and when.tzinfo is not None:
                return max(0.0, when.timestamp() - self.clock())
        reset = headers.get("x-ratelimit-reset")
        if reset and reset.strip().isdigit():
            # Auth0 sends the epoch second at which the bucket refills.
            return max(0.0, float(reset.strip()) - self.clock())
        return None


def _client(
    client: httpx.Client | None, transport: httpx.BaseTransport | None, timeout: float
) -> tuple[httpx.Client, bool]:
    if client is not None:
        return client, False
    made = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport)
    return made, True


def find_resource_server_id(
    domain: str,
    management_token: str,
    identifier: str,
    *,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
    client: httpx.Client | None = None,
    clock: Callable[[], float] = time.time,
) -> str:
    """The id of the resource server whose ``identifier`` (audience) is ``identifier``."""
    http, owned = _client(client, transport, timeout)
    try:
        caller = _Caller(_base_url(domain), management_token, http, clock)
        return _find_id(caller, identifier)
    finally:
        if owned:
            http.close()


def _find_id(caller: _Caller, identifier: str) -> str:
    for page in range(MAX_PAGES):
        data = caller.get(
            "/api/v2/resource-servers",
            {
                "identifiers": identifier,
                "page": str(page),
                "per_page": str(PER_PAGE),
                "include_totals": "true",
            },
        )
        if isinstance(data, dict):
            items, total = data.get("resource_servers"), data.get("total")
        else:
            items, total = data, None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ManagementAPIError(
                "the Management API's list of resource servers has an unexpected shape"
            )
        for item in items:
            if item.get("identifier") == identifier:
                found = item.get("id")
                if isinstance(found, str) and found:
                    return found
        seen = (page + 1) * PER_PAGE
        if isinstance(total, int) and not isinstance(total, bool):
            if seen >= total or not items:
                break
        elif len(items) < PER_PAGE:  # without totals, a short page is the last one
            break
    raise ManagementAPIError(
        f"no API with the identifier {identifier!r} at {caller.host}; "
        "check the identifier (the audience) under Applications > APIs",
        status_code=404,
    )


def fetch_resource_server(
    domain: str,
    management_token: str,
    *,
    resource_server_id: str | None = None,
    identifier: str | None = None,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
    client: httpx.Client | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The resource-server object (Management API shape), by id or by identifier."""
    if (resource_server_id is None) == (identifier is None):
        raise ConfigError("resource_server_id", "give either the id or the identifier")
    http, owned = _client(client, transport, timeout)
    try:
        caller = _Caller(_base_url(domain), management_token, http, clock)
        rs_id = resource_server_id or _find_id(caller, identifier or "")
        data = caller.get("/api/v2/resource-servers/" + quote(rs_id, safe=""))
    finally:
        if owned:
            http.close()
    if not isinstance(data, dict):
        raise ManagementAPIError("the Management API's resource server is not a JSON object")
    if identifier is not None and data.get("identifier") != identifier:
        raise ManagementAPIError("the Management API answered another resource server")
    return data


def settings_from_management_api(
    domain: str,
    management_token: str,
    *,
    resource_server_id: str | None = None,
    identifier: str | None = None,
    issuer: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Keyword arguments for :class:`GuardConfig`; the issuer is ``https://DOMAIN/``.

    Give ``issuer`` when tokens come from a custom domain while the Management API is
    called on the canonical one. ``options`` go to :func:`fetch_resource_server`.
    """
    data = fetch_resource_server(
        domain,
        management_token,
        resource_server_id=resource_server_id,
        identifier=identifier,
        **options,
    )
    settings = settings_from_resource_server(data)
    settings["issuer"] = issuer or _issuer_of(_base_url(domain))
    return settings


def config_from_management_api(
    domain: str,
    management_token: str,
    *,
    resource_server_id: str | None = None,
    identifier: str | None = None,
    issuer: str | None = None,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
    client: httpx.Client | None = None,
    **overrides: Any,
) -> GuardConfig:
    """A :class:`GuardConfig` for the API; ``overrides`` win (``decryption_keys=``, ...)."""
    settings = settings_from_management_api(
        domain,
        management_token,
        resource_server_id=resource_server_id,
        identifier=identifier,
        issuer=issuer,
        timeout=timeout,
        transport=transport,
        client=client,
    )
    settings.update(overrides)
    return build_config(settings)
