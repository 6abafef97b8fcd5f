"""Client-side model of Kraken's REST call counter (kraken-protocol.md §3.1).

Each API key has a counter that every private call raises (by 1, or 2 for ledger / trade
history; 0 for order methods, which use the trading counter) and that decays continuously;
past the tier's maximum Kraken answers ``EAPI:Rate limit exceeded`` and may lock the key out.
:class:`RestRateLimiter` keeps the same counter on the client side and says how long to wait
before a call would fit (or raises :class:`~krakenwire.errors.ClientRateLimited` at once when
configured with ``mode="raise"``). Pure and clocked: the I/O shells do the sleeping.
"""

from __future__ import annotations

import threading
from typing import Literal

from krakenwire.clock import Clock, SystemClock
from krakenwire.errors import ClientRateLimited
from krakenwire.protocol.limits import REST_TIERS, DecayingCounter, rest_cost

__all__ = ["RestRateLimiter"]

Mode = Literal["wait", "raise"]


class RestRateLimiter:
    """The REST call counter of one API key, modelled for one tier.

    ``RestRateLimiter(tier="starter", mode="wait", clock=None, history_cost=2.0)``; ``tier`` is
    ``starter`` (max 15, −0.33/s), ``intermediate`` (20, −0.5/s), ``pro`` (20, −1/s) or
    ``unlimited``. Thread-safe.

    Raises:
        ValueError: for an unknown tier or mode.
    """

    __slots__ = ("_clock", "_counter", "_history_cost", "_lock", "mode", "tier")

    def __init__(self, tier: str = "starter", *, mode: Mode = "wait", clock: Clock | None = None,
                 history_cost: float = 2.0) -> None:
        if tier not in REST_TIERS:
            raise ValueError(f"unknown tier {tier!r}; use one of {sorted(REST_TIERS)}")
        if mode not in ("wait", "raise"):
            raise ValueError("mode must be 'wait' or 'raise'")
        params = REST_TIERS[tier]
        self.tier = tier
        self.mode: Mode = mode
        self._clock: Clock = clock or SystemClock()
        self._history_cost = history_cost
        self._counter = DecayingCounter(params.max_counter, params.decay_per_s,
                                        at=self._clock.now())
        self._lock = threading.Lock()

    def cost(self, method: str) -> float:
        """The counter cost of one call of the private ``method``."""
        return rest_cost(method, history_cost=self._history_cost)

    def acquire(self, method: str) -> float:
        """Try to charge one call of ``method`` now.

        Returns 0.0 if charged (send the call), else the seconds to wait before trying again
        (nothing charged).

        Raises:
            ClientRateLimited: instead of returning a wait, when ``mode="raise"``.
        """
        cost = self.cost(method)
        if cost <= 0:
            return 0.0
        with self._lock:
            now = self._clock.now()
            wait = self._counter.wait_time(cost, now)
            if wait <= 0:
                self._counter.add(cost, now)
                return 0.0
        if self.mode == "raise":
            raise ClientRateLimited(method, wait)
        return wait

    def penalize(self) -> None:
        """Kraken said ``EAPI:Rate limit exceeded``: assume the counter is full."""
        with self._lock:
            now = self._clock.now()
            gap = self._counter.maximum - self._counter.value(now)
            if gap > 0:
                self._counter.add(gap, now)

    @property
    def decay_per_s(self) -> float:
        """How fast the counter decays (units per second)."""
        return self._counter.decay_per_s

    def value(self) -> float:
        """The modelled counter value now."""
        with self._lock:
            return self._counter.value(self._clock.now())

    def __repr__(self) -> str:
        return f"RestRateLimiter(tier={self.tier!r}, mode={self.mode!r})"
