"""Reconnect backoff and the liveness watchdog, as pure logic (time is passed in).

:class:`Backoff` chooses the delay before each reconnect attempt: exponential, capped, with
random jitter so that many clients dropped together do not return together. :class:`Watchdog`
decides, from when data last arrived, whether it is time to send an application-level ping or
to give the connection up as stale. The I/O shell feeds both with its clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["Backoff", "Watchdog"]


class Backoff:
    """Exponential backoff with jitter, unlimited unless ``max_attempts`` is set.

    Attempt ``n`` (from 1) waits ``min(maximum, initial * factor**(n-1))`` scaled by a random
    factor in ``[1 - jitter, 1]``. :meth:`reset` after a connection that worked.

    Raises:
        ValueError: on a non-positive ``initial``, ``factor`` < 1, ``maximum`` < ``initial``,
            or ``jitter`` outside ``[0, 1]``.
    """

    __slots__ = ("_rng", "attempt", "factor", "initial", "jitter", "max_attempts", "maximum")

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, factor: float = 2.0,
                 jitter: float = 0.5, max_attempts: int | None = None,
                 rng: random.Random | None = None) -> None:
        if initial <= 0 or factor < 1 or maximum < initial or not 0 <= jitter <= 1:
            raise ValueError("invalid backoff settings")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.max_attempts = max_attempts
        self.attempt = 0
        self._rng = rng or random.Random()

    @property
    def exhausted(self) -> bool:
        """True when ``max_attempts`` is set and used up."""
        return self.max_attempts is not None and self.attempt >= self.max_attempts

    def next_delay(self) -> float:
        """Count one more attempt and return the delay (seconds) to wait before it."""
        self.attempt += 1
        base = min(self.maximum, self.initial * self.factor ** min(self.attempt - 1, 64))
        return base * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        """Start again from the first attempt."""
        self.attempt = 0

    def __repr__(self) -> str:
        return (f"Backoff(initial={self.initial}, maximum={self.maximum}, "
                f"factor={self.factor}, jitter={self.jitter}, attempt={self.attempt})")


WatchdogAction = Literal["ok", "ping", "stale"]


@dataclass(slots=True)
class Watchdog:
    """Liveness of one connection from the time of the last received frame.

    After ``ping_after`` seconds of silence the shell should send a ping (once per silence
    period); after ``stale_after`` seconds it should drop the connection and reconnect.
    Heartbeats, pongs and any other frame count as life.
    """

    ping_after: float
    stale_after: float
    last_seen: float = 0.0
    pinged_at: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.ping_after < self.stale_after:
            raise ValueError("need 0 < ping_after < stale_after")

    def feed(self, now: float) -> None:
        """Something arrived at ``now``."""
        self.last_seen = now
        self.pinged_at = None

    def check(self, now: float) -> WatchdogAction:
        """What to do at ``now``: ``"ok"``, ``"ping"`` (and it is recorded as sent), or
        ``"stale"``."""
        idle = now - self.last_seen
        if idle >= self.stale_after:
            return "stale"
        if idle >= self.ping_after and self.pinged_at is None:
            self.pinged_at = now
            return "ping"
        return "ok"

    def next_check(self, now: float) -> float:
        """Seconds from ``now`` until :meth:`check` could give a different answer."""
        if self.pinged_at is None:
            due = self.last_seen + self.ping_after
        else:
            due = self.last_seen + self.stale_after
        return max(0.0, due - now)
