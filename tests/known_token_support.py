"""What the known-token tests share: a WSGI app answering the verified subject, and a
counter of the guard's flow runs (the known-token path skips the flow)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from rs_guard.adapters.wsgi import token_from_environ
from rs_guard.guard import Flow, GuardCore


def hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """A WSGI app answering ``{"sub": <the verified token's subject or None>}``."""
    token = token_from_environ(environ)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"sub": token.subject if token else None}).encode()]


def count_flows(guard: GuardCore[Any, Any, Any]) -> list[int]:
    """Counts the guard's flow runs in a one-item list."""
    runs = [0]
    flow = guard.authentication_flow

    def counted(ctx: Any) -> Flow:
        runs[0] += 1
        return flow(ctx)

    guard.authentication_flow = counted  # type: ignore[method-assign]
    return runs


@pytest.fixture(autouse=True)
def no_debug_logging() -> Iterator[None]:
    """The suite logs rs_guard at DEBUG, and an accepted request that DEBUG logging would
    report always takes the whole flow: modules that test the known-token path import
    this (autouse) fixture to log at INFO."""
    logger = logging.getLogger("rs_guard.guard")
    level = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(level)
