"""Check that no log record ever carries an access token.

:class:`TokenLeakCheck` is a :class:`logging.Handler` that keeps every record that
reaches it; :meth:`TokenLeakCheck.leaks` lists the records whose message, arguments or
extra attributes contain a token minted by a :class:`~rs_guard.testing.TokenIssuer`
during the check, or anything shaped like a signed JWT (``eyJ...`` header and payload).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from .issuer import minted_count, minted_tokens

__all__ = ["TokenLeakCheck", "no_token_in_logs"]

#: A base64url JSON header ("{\"" is "eyJ") followed by a payload segment.
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


def _texts(record: logging.LogRecord) -> Iterator[str]:
    try:
        yield record.getMessage()
    except Exception:  # a broken format string still has a template and arguments
        yield str(record.msg)
        yield repr(record.args)
    if record.exc_info and record.exc_info[1] is not None:
        yield repr(record.exc_info[1])
        yield str(record.exc_info[1])
    if record.exc_text:
        yield record.exc_text
    for name, value in vars(record).items():
        if name not in _STANDARD:
            yield repr(value)


class TokenLeakCheck(logging.Handler):
    """Collects records at any level; :meth:`leaks` says which ones show a token."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []
        self._since = minted_count()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def leaks(self) -> list[tuple[logging.LogRecord, str]]:
        """``(record, what was found)`` for each record showing a token."""
        tokens = minted_tokens(self._since)
        # Each token is also looked for by its signature alone and by its payload.
        needles: set[str] = set()
        for token in tokens:
            parts = token.split(".")
            needles.add(token)
            needles.update(p for p in parts[1:] if len(p) >= 16)
        found: list[tuple[logging.LogRecord, str]] = []
        for record in self.records:
            for text in _texts(record):
                shape = JWT_SHAPE.search(text)
                if shape is not None:
                    found.append((record, shape.group(0)[:24] + "..."))
                    break
                hit = next((n for n in needles if n in text), None)
                if hit is not None:
                    found.append((record, hit[:24] + "..."))
                    break
        return found


@contextmanager
def no_token_in_logs(
    *loggers: str, level: int = logging.DEBUG, everything: bool = True
) -> Iterator[TokenLeakCheck]:
    """Capture log records and fail with :class:`AssertionError` if any shows a token.

    ``loggers`` (default ``rs_guard``) are lowered to ``level`` for the duration. With
    ``everything`` (default) the check listens on the root logger, so it sees every
    record that propagates; otherwise only on ``loggers`` themselves.
    """
    check = TokenLeakCheck()
    watched = [logging.getLogger(name) for name in (loggers or ("rs_guard",))]
    listeners = [logging.getLogger()] if everything else watched
    previous = [logger.level for logger in watched]
    for listener in listeners:
        listener.addHandler(check)
    for logger in watched:
        if logger.getEffectiveLevel() > level:
            logger.setLevel(level)
    try:
        yield check
    finally:
        for listener in listeners:
            listener.removeHandler(check)
        for logger, old in zip(watched, previous, strict=True):
            logger.setLevel(old)
    leaks = check.leaks()
    if leaks:
        lines = [f"{r.name}:{r.levelname}: {what}" for r, what in leaks[:5]]
        raise AssertionError("an access token reached the logs:\n" + "\n".join(lines))
