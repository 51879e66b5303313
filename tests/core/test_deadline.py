"""The deadline runner: results and errors pass through; a late call is abandoned and
never started; no more threads than ``workers``. Counts, not timings."""

from __future__ import annotations

import threading

import pytest

from rs_guard.deadline import DeadlinePassed, DeadlineRunner


def test_a_result_and_an_error_reach_the_caller() -> None:
    runner = DeadlineRunner("t", 2)
    assert runner.call(lambda: 42, 10.0) == 42
    with pytest.raises(KeyError, match="k"):
        runner.call(lambda: {}["k"], 10.0)


def test_a_call_past_its_deadline_is_refused_and_one_in_line_never_runs() -> None:
    runner = DeadlineRunner("rs-guard-test-line", 1)
    release = threading.Event()
    ran: list[str] = []

    def stuck() -> None:
        ran.append("stuck")
        release.wait(30)

    try:
        with pytest.raises(DeadlinePassed):
            runner.call(stuck, 0.05)
        # The only worker is still stuck: this call waits in line, times out, and is
        # cancelled so that it never runs later.
        with pytest.raises(DeadlinePassed):
            runner.call(lambda: ran.append("late"), 0.05)
    finally:
        release.set()
    assert runner.call(lambda: ran.append("next") or "done", 10.0) == "done"
    assert ran == ["stuck", "next"]
    assert len([t for t in threading.enumerate() if t.name.startswith("rs-guard-test-line-")]) == 1


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        DeadlineRunner("t", 0)
