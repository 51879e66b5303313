"""The request URL as the API's public address sees it (for the DPoP ``htu`` check).

With ``public_url`` set (an API behind a proxy), the scheme, host, port and path prefix
come from it. Without it, they come from what the server reports (the ASGI
``server``/``scheme``, the WSGI ``SERVER_NAME``/``SERVER_PORT``/``wsgi.url_scheme``),
never from ``X-Forwarded-*`` headers, which a client can forge. The ASGI ``server`` is
the server's own address; the WSGI ``SERVER_NAME`` is not always: gunicorn on a unix
socket takes it from the client's ``Host``, which is why the WSGI adapters warn at
start-up when DPoP is on without ``public_url``.
"""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["request_url"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def request_url(
    *,
    public_url: str | None,
    scheme: str,
    host: str,
    port: int | None,
    path: str,
    query_string: str = "",
) -> str:
    """An absolute URL for ``path`` (already without the app's own mount prefix)."""
    if public_url:
        base = public_url.rstrip("/")
    else:
        scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        netloc = f"[{host}]" if ":" in host else host
        if port is not None and port != _DEFAULT_PORTS.get(scheme):
            netloc += f":{port}"
        base = f"{scheme}://{netloc}"
    url = base + quote(path, safe="/%:@!$&'()*+,;=-._~")
    return f"{url}?{query_string}" if query_string else url
