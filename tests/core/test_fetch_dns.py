"""The sync key fetch is bounded during name resolution too.

A resolver that does not answer (a DNS server gone, a firewall dropping port 53) blocks
``getaddrinfo`` for as long as the system's resolver settings say, which no socket
timeout reaches. The stub below stands in for it (it blocks until the test ends); the
fetch must still end by its deadline, as a failed fetch. The thread is joined with a
generous bound: nothing here is a timed assertion.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rs_guard import Guard, KeysUnavailable
from rs_guard.config import JWKSOptions
from rs_guard.testing import TokenIssuer

HOST = "jwks.hung-resolver.test"
OPTIONS = JWKSOptions(cooldown=5, timeout=0.5)
OUTER_BOUND = 10.0


@pytest.fixture
def hung_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """``getaddrinfo`` of HOST blocks until the test ends; other names resolve as usual."""
    release = threading.Event()
    asked: list[str] = []
    real = socket.getaddrinfo

    def stub(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == HOST:
            asked.append(host)
            release.wait(60)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", stub)
    yield asked
    release.set()


def test_a_hung_name_lookup_is_cut_off_at_the_deadline_in_threads(
    hung_resolver: list[str], clock: Any, bounded: Callable[..., Any]
) -> None:
    issuer = TokenIssuer(algorithm="ES256", clock=clock)
    uri = f"https://{HOST}:8443/.well-known/jwks.json"
    guard = Guard(issuer.config(jwks_uri=uri, jwks=OPTIONS), clock=clock)
    try:
        with pytest.raises(KeysUnavailable) as refused:
            bounded(lambda: guard.verify(issuer.mint()), OUTER_BOUND)
        assert hung_resolver == [HOST]
        assert refused.value.status_code == 503
        state = guard.key_sets[issuer.issuer]
        assert state.requests_sent == 1
        assert state.last_error is not None
        assert "longer than 0.5 s" in state.last_error
    finally:
        guard.close()
