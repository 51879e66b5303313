"""The one refusal assertion of the suite: an RFC 6750 §3 answer, checked in full.

``expect_refusal(answer, status, error, ...)`` takes what a test got back: an httpx or
Starlette response, a Flask (Werkzeug) test response, or the ``(status, headers, body)``
of :func:`rs_guard.errors.render_error`. It checks

* the status;
* the JSON body: exactly ``{"error", "error_description"}`` (no ``error`` for a request
  without credentials, RFC 6750 §3.1), the error code, and ``description`` inside the
  description when given;
* ``content-type: application/json``;
* for a 503: no challenge and ``Retry-After`` of at least one second;
* otherwise the ``WWW-Authenticate`` challenge: equal to ``challenge`` when given; else
  ``Bearer realm="api"`` without an error, or the error on ``scheme`` followed by its
  ``scope`` (``insufficient_scope``) or ``error_description`` parameter (at the start
  of the header for ``Bearer``, which comes first).

It returns the body, and ``retry_after`` the seconds of a 503's ``Retry-After``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


def _parts(answer: Any) -> tuple[int, Mapping[str, str], dict[str, Any]]:
    if isinstance(answer, tuple):
        status, headers, body = answer
        pairs: Iterable[tuple[str, str]] = (
            headers.items() if isinstance(headers, Mapping) else headers
        )
        return status, {name.lower(): value for name, value in pairs}, json.loads(body)
    body = answer.json() if callable(answer.json) else answer.json
    return answer.status_code, answer.headers, body


def expect_refusal(
    answer: Any,
    status: int,
    error: str | None,
    *,
    challenge: str | None = None,
    description: str | None = None,
    scheme: str = "Bearer",
) -> dict[str, Any]:
    """Assert that ``answer`` is the refusal ``status``/``error`` (module docstring)."""
    got_status, headers, body = _parts(answer)
    assert got_status == status, body
    assert set(body) == ({"error", "error_description"} if error else {"error_description"})
    assert body.get("error") == error
    if description is not None:
        assert description in body["error_description"]
    assert headers["content-type"] == "application/json"
    got = headers.get("www-authenticate")
    if status == 503:
        assert got is None
        assert int(headers["retry-after"]) >= 1
        return body
    assert got is not None
    if challenge is not None:
        assert got == challenge
    elif error is None:
        assert got == 'Bearer realm="api"'
    else:
        then = 'scope="' if error == "insufficient_scope" else 'error_description="'
        part = f'{scheme} error="{error}", {then}'
        assert got.startswith(part) if scheme == "Bearer" else part in got, got
    return body


def retry_after(answer: Any) -> int:
    """The seconds of a 503's ``Retry-After`` (after :func:`expect_refusal`)."""
    _, headers, _ = _parts(answer)
    return int(headers["retry-after"])
