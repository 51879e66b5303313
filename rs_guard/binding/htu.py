"""Comparing a DPoP proof's ``htu`` with the request URL (RFC 9449 §4.3, RFC 3986 §6).

Only scheme, host, port and path are compared; query and fragment are ignored. Both
sides go through syntax-based normalisation (RFC 3986 §6.2.2) and scheme-based
normalisation (§6.2.3): lower-case scheme and host, the default port dropped, an empty
path as ``/``, percent-escapes in upper case, unreserved characters decoded, characters
that need it encoded, dot-segments removed.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import quote, urlsplit

__all__ = ["normalize_htu"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
MAX_URL_LENGTH = 8192


def _escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, on a path that starts with ``/``."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


@functools.lru_cache(maxsize=256)
def normalize_htu(url: str) -> str | None:
    """``scheme://host[:port]/path`` in normal form, or ``None`` for a URL that cannot be one.

    Refused: a relative URL, a scheme other than http(s), userinfo, a bad port.
    """
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH or not url.isprintable():
        return None
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    path = _ESCAPE.sub(_escape, path)
    if not path.startswith("/"):
        path = "/" + path
    if "." in path:
        path = _remove_dot_segments(path)
    return f"{scheme}://{netloc}{path}"
