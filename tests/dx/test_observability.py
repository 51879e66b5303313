"""Logs (one event per refusal, never the token) and the observer hook."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import httpx
import pytest

from rs_guard import AsyncGuard, Guard, InvalidToken, RequestContext
from rs_guard.observability import Outcome, add_observer, clear_observers, remove_observer
from rs_guard.testing import TokenIssuer, minted_count, minted_tokens, tampered, unsigned
from rs_guard.testing.logs import JWT_SHAPE, TokenLeakCheck, no_token_in_logs


def request(token: str | None, path: str = "/appointments") -> RequestContext:
    headers = [("authorization", f"Bearer {token}")] if token is not None else []
    return RequestContext("GET", f"https://api.test{path}?x=1", headers)


@pytest.fixture
def guard(issuer: TokenIssuer, clock) -> Iterator[Guard]:
    made = Guard(issuer.config(), transport=issuer.transport(), clock=clock)
    yield made
    made.close()


@pytest.fixture(autouse=True)
def _no_global_observers() -> Iterator[None]:
    yield
    clear_observers()


def _bad(issuer: TokenIssuer) -> list[str]:
    return [
        issuer.mint(expires_in=-600),
        issuer.mint(claims={"aud": "https://other.test"}),
        issuer.mint(claims={"iss": "https://evil.test/"}),
        issuer.mint(drop=["sub"]),
        issuer.mint(headers={"kid": "unknown"}),
        issuer.mint(headers={"typ": "dpop+jwt"}),
        tampered(issuer.mint()),
        unsigned(issuer.mint()),
        issuer.mint(cnf={"jkt": "x"}),
        issuer.mint()[:-4],
        "abc.def",
    ]


def test_one_info_event_per_refusal_with_reason_path_issuer_kid(
    guard: Guard, issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="rs_guard")
    assert guard.warm() is True  # the kid is named once the guard holds its key
    token = issuer.mint(expires_in=-600)
    with pytest.raises(InvalidToken):
        guard.authenticate(request(token))
    events = [r for r in caplog.records if r.name == "rs_guard.guard"]
    assert len(events) == 1
    [event] = events
    assert event.levelno == logging.INFO
    fields = event.rs_guard  # type: ignore[attr-defined]
    assert fields["reason"] == "expired"
    assert fields["status"] == 401
    assert fields["path"] == "/appointments"  # no query string
    assert fields["issuer"] == issuer.issuer
    assert fields["kid"] == issuer.current.kid
    assert "expired" in event.getMessage()
    assert "/appointments" in event.getMessage()


def test_accepted_requests_log_at_debug_only(
    guard: Guard, issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rs_guard")
    guard.authenticate(request(issuer.mint()))
    assert [r for r in caplog.records if r.name == "rs_guard.guard"] == []


def test_key_fetch_is_logged(guard: Guard, issuer: TokenIssuer, caplog) -> None:
    caplog.set_level(logging.INFO, logger="rs_guard")
    guard.authenticate(request(issuer.mint()))
    fetches = [r.getMessage() for r in caplog.records if r.name == "rs_guard.jwks"]
    assert len(fetches) == 1
    assert "fetched 1 key(s)" in fetches[0]


def test_observer_counts_outcomes_and_times_them(guard: Guard, issuer: TokenIssuer) -> None:
    seen: list[Outcome] = []
    guard.observers.append(seen.append)
    guard.authenticate(request(issuer.mint()))
    for token in (issuer.mint(expires_in=-600), None):
        with pytest.raises(Exception, match=r".") as info:
            guard.authenticate(request(token))
        assert info.value is not None
    assert [(o.accepted, o.reason, o.status) for o in seen] == [
        (True, "ok", 200),
        (False, "expired", 401),
        (False, "missing_credentials", 401),
    ]
    assert all(o.duration >= 0 for o in seen)
    assert seen[0].issuer == issuer.issuer
    assert seen[0].kid == issuer.current.kid
    assert seen[2].issuer is None


def test_global_observer_sees_async_guards_too(issuer: TokenIssuer, clock) -> None:
    seen: list[Outcome] = []
    observer = add_observer(seen.append)
    guard = AsyncGuard(issuer.config(), transport=issuer.transport(), clock=clock)

    async def go() -> None:
        await guard.authenticate(request(issuer.mint()))
        with pytest.raises(InvalidToken):
            await guard.authenticate(request(issuer.mint(claims={"aud": "x"})))
        await guard.aclose()

    asyncio.run(go())
    remove_observer(observer)
    assert [o.reason for o in seen] == ["ok", "wrong_audience"]


def test_a_failing_observer_never_decides(guard: Guard, issuer: TokenIssuer, caplog) -> None:
    def broken(outcome: Outcome) -> None:
        raise RuntimeError("metrics backend down")

    guard.observers.append(broken)
    verified = guard.authenticate(request(issuer.mint()))
    assert verified.subject == "auth0|user-1"
    assert any("observer failed" in r.getMessage() for r in caplog.records)


def test_no_log_line_contains_a_token_across_many_failures(
    guard: Guard, issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # root and every library
    caplog.set_level(logging.DEBUG, logger="rs_guard")
    start = minted_count()
    bad = _bad(issuer)
    for token in bad:
        with pytest.raises(Exception, match=r"."):
            guard.authenticate(request(token))
    guard.authenticate(request(issuer.mint(scopes=["a"])))
    tokens = minted_tokens(start) + bad
    assert len(caplog.records) >= len(bad)
    for record in caplog.records:
        text = record.getMessage() + repr(vars(record))
        assert JWT_SHAPE.search(text) is None, record.getMessage()
        for token in tokens:
            assert token not in text
            assert token.split(".")[-1] not in text or len(token.split(".")[-1]) < 8


@pytest.fixture
def probe() -> Iterator[logging.Logger]:
    """A logger whose records stay out of the suite-wide leak check (it leaks on purpose)."""
    logger = logging.getLogger("rs_guard_tests.leak_probe")
    logger.propagate = False
    yield logger
    logger.propagate = True


def test_leak_check_catches_a_logged_token(issuer: TokenIssuer, probe: logging.Logger) -> None:
    check = TokenLeakCheck()
    logger = probe
    logger.addHandler(check)
    try:
        token = issuer.mint()
        logger.warning("refused %s", token.split(".")[2])  # the signature alone
        logger.warning("nothing to see")
    finally:
        logger.removeHandler(check)
    leaks = check.leaks()
    assert len(leaks) == 1
    assert leaks[0][0].getMessage().startswith("refused")

    with (
        pytest.raises(AssertionError, match="reached the logs"),
        no_token_in_logs(probe.name, everything=False),
    ):
        probe.error("token=%s", issuer.mint())


def test_httpx_transport_logs_carry_no_token(issuer: TokenIssuer, clock) -> None:
    # The guard never sends the token: the only request it makes is the key fetch.
    sent: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        sent.append(req)
        return issuer.handle(req)

    guard = Guard(issuer.config(), transport=httpx.MockTransport(handler), clock=clock)
    token = issuer.mint()
    guard.authenticate(request(token))
    guard.close()
    assert [str(r.url) for r in sent] == [issuer.jwks_uri]
    assert all(token not in str(r.headers) for r in sent)


def test_record_refusal_reports_a_route_decision(
    issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    from rs_guard import InsufficientScope
    from rs_guard.observability import record_refusal

    seen: list[Outcome] = []
    add_observer(seen.append)
    guard = Guard(issuer.config(), transport=issuer.transport(), clock=issuer.clock)
    token = guard.verify(issuer.mint(scopes=["read"]))
    guard.close()
    record_refusal(
        InsufficientScope("the token lacks write", required=["write"]),
        method="POST",
        url="https://api.test/appointments?secret=1",
        token=token,
    )
    [outcome] = seen
    assert (outcome.reason, outcome.status, outcome.path) == (
        "insufficient_scope",
        403,
        "/appointments",
    )
    assert (outcome.issuer, outcome.kid) == (issuer.issuer, issuer.current.kid)
    assert any("insufficient_scope (403)" in r.getMessage() for r in caplog.records)
    # A raw token string is unverified: its values are stand-ins, never its text.
    record_refusal(InsufficientScope("x", required=["w"]), token=issuer.mint(scopes=["r"]))
    assert seen[1].issuer is not None
    assert seen[1].issuer.startswith("unknown #")


@pytest.mark.parametrize(
    "garbage",
    ["", "a.b", "a.b.c", "eyJ.eyJ.x", "x" * 70_000, "e30.e30.", "bnVsbA.bnVsbA.x"],
)
def test_peek_never_raises(garbage: str) -> None:
    from rs_guard.observability import peek

    assert peek(garbage) == (None, None)


def test_peek_cuts_hostile_values(issuer: TokenIssuer) -> None:
    from rs_guard.observability import peek

    token = issuer.mint(claims={"iss": "https://evil/\n" + "x" * 500}, headers={"kid": "k\x1b[31m"})
    found_issuer, kid = peek(token)
    assert found_issuer is not None
    assert len(found_issuer) == 120
    assert "\n" not in found_issuer
    assert kid == "k?[31m"


def _load_example(name: str) -> object:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"rs_guard_logs_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def _attempts(issuer: TokenIssuer) -> list[tuple[str, dict[str, str]]]:
    reader = issuer.mint(scopes=["read:appointments"])
    bearer = [
        reader,  # accepted on GET, 403 on POST
        issuer.mint(expires_in=-600),
        issuer.mint(claims={"aud": "https://other.test"}),
        issuer.mint(headers={"kid": "unknown"}),
        tampered(reader),
        unsigned(reader),
        issuer.mint(cnf={"jkt": "x"}),
        reader[:-5],
        "x" * 20_000,
    ]
    attempts = [(t, {"authorization": f"Bearer {t}"}) for t in bearer]
    attempts.append((reader, {"authorization": f"Bearer {reader} {reader}"}))
    attempts.append((reader, {"authorization": f"Basic {reader}"}))
    return attempts


@pytest.mark.parametrize("example", ["fastapi_app", "flask_app"])
def test_no_token_in_any_log_through_the_example_apps(
    example: str,
    rs_guard_env: dict[str, str],
    rs_guard_issuer: TokenIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="rs_guard")
    app = _load_example(example)
    attempts = _attempts(rs_guard_issuer)
    statuses: list[int] = []
    if example == "flask_app":
        client = app.test_client()  # type: ignore[attr-defined]
        for _, headers in attempts:
            for method in ("GET", "POST"):
                statuses.append(
                    client.open("/appointments", method=method, headers=headers).status_code
                )
    else:

        async def go() -> None:
            transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
                for _, headers in attempts:
                    for method in ("GET", "POST"):
                        answer = await c.request(method, "/appointments", headers=headers)
                        statuses.append(answer.status_code)

        asyncio.run(go())
    assert statuses[:2] == [200, 403]
    assert set(statuses[2:]) <= {400, 401}
    refusals = [
        r for r in caplog.records if r.name.startswith("rs_guard") and "refused" in r.getMessage()
    ]
    assert len(refusals) >= len(attempts)
    for record in caplog.records:
        text = record.getMessage() + repr(vars(record))
        assert JWT_SHAPE.search(text) is None, record.getMessage()
        for token, _ in attempts:
            assert token[-40:] not in text
