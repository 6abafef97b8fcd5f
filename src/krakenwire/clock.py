"""Clocks: the one source of time for the pure core.

Everything time-based in krakenwire (nonces, token refresh, rate-limit decay, the sandbox's
order expiry and dead-man switch) reads time through a :class:`Clock`, so tests and the
sandbox can run time forward with a :class:`ManualClock` instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the time as float seconds since the Unix epoch."""

    def now(self) -> float:
        """Return the current time in seconds since the Unix epoch."""
        ...


class SystemClock:
    """The machine's wall clock (:func:`time.time`)."""

    def now(self) -> float:
        """Return :func:`time.time`."""
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that only moves when told to; thread-safe.

    ``ManualClock(start)`` starts at ``start`` (default: the wall clock at creation, rounded to
    whole seconds). :meth:`advance` moves it forward; it never goes backwards.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = float(int(time.time())) if start is None else float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the current manual time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (must be >= 0) and return the new time.

        Raises:
            ValueError: if ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError("a ManualClock cannot go backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        """Jump to ``when``; raises ValueError if that is earlier than now."""
        with self._lock:
            if when < self._now:
                raise ValueError("a ManualClock cannot go backwards")
            self._now = float(when)

    def __repr__(self) -> str:
        return f"ManualClock({self._now!r})"
