"""What bounds a whole command: its --timeout, one deadline for every variant and engine, and
Ctrl-C. Either stops the work at hand and keeps every verdict decided so far.

The explicit search polls `Budget.stop_reason` (`explore`'s ``stop``) every 1024 states and
concludes as at a limit: its decided verdicts, counterexamples and depth bound survive. Where
nothing polls (the fair-cycle analysis after the search, worker processes), a stop arrives as
`Stopped` (a KeyboardInterrupt carrying the reason) raised into the running code (again a
second later if it was swallowed): the liveness analysis turns it into inconclusive liveness
verdicts, the runner into "not checked" for a variant it loses. The symbolic engines take
the time left as their own timeout. A second Ctrl-C always interrupts at once.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

INTERRUPTED = "interrupted (Ctrl-C)"
RECHECK = 0.25  # seconds between deadline alarms once the deadline has passed
RETRY = 1.0  # seconds before a stop is raised into the same variant again


class Stopped(KeyboardInterrupt):
    """The run was stopped (Ctrl-C, the deadline) where no search polls; ``str()`` says why."""


class Budget:
    """A deadline (``timeout`` seconds from now, or none) and the Ctrl-C flag."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.interrupted = False
        self.polled = False  # the running search asks stop_reason itself
        self.checking = False  # a variant is being checked: a stop may be raised into it
        self.raised_at: float | None = None  # when a Stopped was last raised into this variant

    def remaining(self) -> float | None:
        """Seconds left before the deadline (0 when past it); None without a deadline."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def stop_reason(self) -> str | None:
        """Why the run must stop now, or None."""
        if self.interrupted:
            return INTERRUPTED
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return f"time limit reached (--timeout {self.timeout:g} s for the whole run)"
        return None

    @contextmanager
    def variant(self) -> Iterator[None]:
        """Within: one variant's check, into which a stop may be raised."""
        self.checking, self.raised_at = True, None
        try:
            yield
        finally:
            self.checking = False

    @contextmanager
    def polled_search(self) -> Iterator[None]:
        """Within: a search that polls ``stop_reason``, so a stop only needs noting."""
        self.polled = True
        try:
            yield
        finally:
            self.polled = False

    def _raise_into_variant(self) -> None:
        """Raise `Stopped` into a variant's unpolled work: once, and again only a second later,
        in case the first landed where Python swallows exceptions (a garbage-collector callback)."""
        now = time.monotonic()
        if self.checking and not self.polled and (self.raised_at is None or now - self.raised_at > RETRY):
            self.raised_at = now
            raise Stopped(self.stop_reason() or INTERRUPTED)

    @contextmanager
    def enforced(self) -> Iterator[None]:
        """Within: Ctrl-C and the deadline stop the work (see the module's docstring). Signals
        reach the main thread only; elsewhere the budget is polled but not enforced."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_sigint(signum: int, frame: Any) -> None:
            if self.interrupted:
                raise KeyboardInterrupt
            self.interrupted = True
            self._raise_into_variant()

        def on_alarm(signum: int, frame: Any) -> None:
            self._raise_into_variant()

        previous_int = signal.signal(signal.SIGINT, on_sigint)
        previous_alarm = None
        if self.deadline is not None:
            previous_alarm = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, max(self.remaining() or 0.0, 0.001), RECHECK)
        try:
            yield
        finally:
            if previous_alarm is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous_alarm)
            signal.signal(signal.SIGINT, previous_int)
