"""A wall-clock deadline on a blocking call made from a thread.

A socket timeout bounds one operation, not an exchange: name resolution (the system
resolver, which no timeout reaches), a connect, a retry and a reply that trickles in
add up. :class:`DeadlineRunner` runs the call in one of a few daemon threads and makes
the caller wait no longer than its deadline; the caller then fails closed
(:class:`DeadlinePassed`) and the call, left behind, ends by its own socket timeouts.
At most ``workers`` calls are left running at a time: past that, new calls wait in line
(and time out) rather than start more threads. The threads are daemons, so a call left
running never holds up the end of the process.

The async drivers need none of this: they cancel the exchange at the deadline
(``anyio.move_on_after``, ``asyncio.wait_for``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

__all__ = ["DeadlinePassed", "DeadlineRunner"]

T = TypeVar("T")


class DeadlinePassed(TimeoutError):
    """The call did not finish before its deadline (it may still be running)."""


class DeadlineRunner:
    """Runs blocking calls in up to ``workers`` daemon threads, each under a deadline."""

    def __init__(self, name: str, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be positive")
        self.name = name
        self.workers = workers
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def call(self, function: Callable[[], T], seconds: float) -> T:
        """``function()``, or :class:`DeadlinePassed` once ``seconds`` have gone by.

        Exceptions of ``function`` reach the caller as they are.
        """
        future: Future[T] = Future()
        with self._lock:
            self._jobs.put((future, function))
            if self._idle:
                self._idle -= 1  # that thread takes this job
            elif self._threads < self.workers:
                self._threads += 1
                threading.Thread(
                    target=self._work, name=f"{self.name}-{self._threads}", daemon=True
                ).start()
        try:
            return future.result(timeout=max(0.0, seconds))
        except FutureTimeout:
            future.cancel()  # still in line: it will never run
            raise DeadlinePassed(f"no answer within {seconds:g} s") from None

    def _work(self) -> None:
        while True:
            future, function = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    result = function()
                except BaseException as exc:  # handed to the caller, who decides
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            with self._lock:
                self._idle += 1
