"""Logs and metrics hooks: one event per refusal, a callback per verification.

Logging (standard :mod:`logging`, never the token):

* ``rs_guard.guard`` — one ``INFO`` record per refusal, with ``reason``, ``status``,
  ``method``, ``path``, ``issuer`` and ``kid`` as record attributes (``extra``) and in
  the message; accepted requests are logged at ``DEBUG``;

Text from a token never reaches a log or an observer. A refused token's ``iss`` and
``kid`` are named only when they are this API's own values (a configured issuer, a kid
of a key the guard holds); any other value is shown as ``unknown #`` and 12 hex digits
of a keyed hash (HMAC-SHA-256 under a key drawn at random per process), so that the
same forged value can be followed from line to line without its text being written.
* ``rs_guard.jwks`` — one ``INFO`` record per key fetch (keys found, duration), one
  ``WARNING`` per failed fetch and per stale serve.

Metrics: an *observer* is any callable taking an :class:`Outcome`. Register one for
every guard with :func:`add_observer`, or for one guard with ``guard.observers.append``.
An observer that raises is logged and ignored; it can never refuse or admit a request.
rs_guard depends on no metrics library; ``docs/observability.md`` shows Prometheus and
OpenTelemetry observers in a few lines each.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ._jose import JOSEError, b64url_decode, json_object
from .token import AccessToken

__all__ = [
    "Observer",
    "Outcome",
    "add_observer",
    "clear_observers",
    "emit",
    "label",
    "peek",
    "record_refusal",
    "remove_observer",
    "wants_accepted",
]

log = logging.getLogger("rs_guard.guard")

_MAX_FIELD = 120
#: The key of the stand-ins for unknown values; never leaves the process.
_LABEL_KEY = os.urandom(32)

#: ``known(what, value)``: whether ``value`` is this API's own ``"issuer"`` or ``"kid"``.
Known = Callable[[str, str], bool]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one request (or one ``verify`` call).

    ``reason`` is ``"ok"`` for an accepted token, otherwise the refusal's stable reason
    code (see ``docs/errors.md``). ``issuer`` and ``kid`` are the verified values of an
    accepted token; for a refused one they are named only when they are this API's own
    (a configured issuer, a kid the guard holds), else ``unknown #<keyed hash>`` (see
    the module docstring); ``duration`` is the wall time of the verification in
    seconds, key fetches included.
    """

    accepted: bool
    reason: str
    status: int
    duration: float
    method: str | None = None
    path: str | None = None
    issuer: str | None = None
    kid: str | None = None
    error: str | None = None


Observer = Callable[[Outcome], None]

_observers: list[Observer] = []


def add_observer(observer: Observer) -> Observer:
    """Call ``observer`` with every :class:`Outcome` of every guard (usable as decorator)."""
    _observers.append(observer)
    return observer


def remove_observer(observer: Observer) -> None:
    """Stop calling ``observer``; no error if it was not registered."""
    with contextlib.suppress(ValueError):
        _observers.remove(observer)


def clear_observers() -> None:
    """Remove every observer registered with :func:`add_observer`."""
    _observers.clear()


def wants_accepted(observers: Iterable[Observer] = ()) -> bool:
    """Whether an accepted request must be reported at all (observers or DEBUG logging)."""
    return bool(_observers) or bool(observers) or log.isEnabledFor(logging.DEBUG)


def _short(value: Any) -> str | None:
    """A log-safe rendition of a value taken from an unverified token."""
    if not isinstance(value, str):
        return None
    text: str = value[:_MAX_FIELD]
    if text.isascii() and text.isprintable():  # the usual case, on every request: no copy
        return text
    return "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in text)


def label(value: object, what: str, known: Known | None = None) -> str | None:
    """What a log may say about ``value``, read from an unverified token.

    ``None`` stays ``None``; a value ``known(what, value)`` accepts is this API's own
    configuration and is named; anything else becomes ``unknown #`` and 12 hex digits
    of HMAC-SHA-256 under a per-process random key: the same value gives the same
    stand-in within one process, and the stand-in reveals nothing of the text.
    """
    if value is None:
        return None
    if isinstance(value, str) and known is not None and known(what, value):
        return _short(value)
    text = value if isinstance(value, str) else repr(value)
    digest = hmac.new(_LABEL_KEY, text.encode("utf-8", "replace"), hashlib.sha256)
    return "unknown #" + digest.hexdigest()[:12]


def peek(token: str | None) -> tuple[str | None, str | None]:
    """``(issuer, kid)`` read from a token *without verifying it*: token text.

    Never raises; values are cut to a safe length and to printable ASCII. Never log
    them as they are: :func:`label` decides what may be shown.
    """
    if not token or token.count(".") != 2 or len(token) > 64 * 1024:
        return None, None
    header_b64, payload_b64, _ = token.split(".")
    kid: str | None = None
    issuer: str | None = None
    try:
        kid = _short(json_object(b64url_decode(header_b64), "header").get("kid"))
        issuer = _short(json_object(b64url_decode(payload_b64), "payload").get("iss"))
    except (JOSEError, ValueError):
        pass
    return issuer, kid


def _path(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return _short(urlsplit(url).path or "/")
    except ValueError:
        return None


def emit(
    outcome: Outcome,
    observers: Iterable[Observer] = (),
) -> None:
    """Log ``outcome`` and hand it to the guard's and the global observers."""
    if outcome.accepted:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "accepted %s %s (issuer=%s kid=%s) in %.1f ms",
                outcome.method,
                outcome.path,
                outcome.issuer,
                outcome.kid,
                outcome.duration * 1000,
                extra={"rs_guard": _fields(outcome)},
            )
    else:
        log.info(
            "refused %s %s: %s (%d) issuer=%s kid=%s",
            outcome.method,
            outcome.path,
            outcome.reason,
            outcome.status,
            outcome.issuer,
            outcome.kid,
            extra={"rs_guard": _fields(outcome)},
        )
    for observer in (*observers, *_observers):
        try:
            observer(outcome)
        except Exception:  # an observer must never decide a request
            log.exception("an rs_guard observer failed")


def _fields(outcome: Outcome) -> dict[str, Any]:
    return {
        "accepted": outcome.accepted,
        "reason": outcome.reason,
        "status": outcome.status,
        "method": outcome.method,
        "path": outcome.path,
        "issuer": outcome.issuer,
        "kid": outcome.kid,
        "duration": outcome.duration,
    }


def outcome_of(
    *,
    error: Any,
    token: str | None,
    method: str | None,
    url: str | None,
    duration: float,
    verified_issuer: str | None = None,
    verified_kid: str | None = None,
    known: Known | None = None,
) -> Outcome:
    """Build the :class:`Outcome` of one verification (``error`` an RSGuardError or None).

    ``verified_issuer``/``verified_kid`` come from a verified token and are shown as
    they are; otherwise the unverified ``token`` is peeked at and its values pass
    through :func:`label` with ``known``.
    """
    if error is None:
        return Outcome(
            accepted=True,
            reason="ok",
            status=200,
            duration=duration,
            method=method,
            path=_path(url),
            issuer=_short(verified_issuer),
            kid=_short(verified_kid),
        )
    if verified_issuer is not None:
        issuer, kid = _short(verified_issuer), _short(verified_kid)
    else:
        raw_issuer, raw_kid = peek(token)
        issuer, kid = label(raw_issuer, "issuer", known), label(raw_kid, "kid", known)
    return Outcome(
        accepted=False,
        reason=str(getattr(error, "reason", "refused")),
        status=int(getattr(error, "status_code", 401)),
        duration=duration,
        method=method,
        path=_path(url),
        issuer=issuer,
        kid=kid,
        error=getattr(error, "error", None),
    )


def record_refusal(
    error: Any,
    *,
    method: str | None = None,
    url: str | None = None,
    token: AccessToken | str | None = None,
    observers: Iterable[Observer] = (),
) -> None:
    """Log and observe a refusal decided outside the guard (a route's scope check, 403).

    Adapters call this when a :class:`~rs_guard.requirements.Requirement` refuses a
    verified token (pass the :class:`~rs_guard.token.AccessToken`: its issuer and kid
    are then named), so that every refusal is one log event whoever decided it. A raw
    token string is treated as unverified: its values are shown only as stand-ins.
    """
    if isinstance(token, AccessToken):
        outcome = outcome_of(
            error=error,
            token=None,
            method=method,
            url=url,
            duration=0.0,
            verified_issuer=token.issuer,
            verified_kid=token.kid,
        )
    else:
        outcome = outcome_of(error=error, token=token, method=method, url=url, duration=0.0)
    emit(outcome, observers)
