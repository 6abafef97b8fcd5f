"""Kraken's rate-limit models, pure and clocked (kraken-protocol.md §3).

Used on both sides: the client's REST limiter waits before a call that would exceed the
counter, and the sandbox's gate refuses it with Kraken's error string.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "REST_TIERS",
    "TRADING_TIERS",
    "DecayingCounter",
    "RestTier",
    "Tier",
    "TradingTier",
    "rest_cost",
    "trading_cost",
]

Tier = Literal["starter", "intermediate", "pro", "unlimited"]
TradeAction = Literal["add", "amend", "edit", "cancel"]


@dataclass(frozen=True, slots=True)
class RestTier:
    """REST call counter parameters of one verification tier."""

    max_counter: float
    decay_per_s: float


@dataclass(frozen=True, slots=True)
class TradingTier:
    """Per-pair trading counter parameters of one tier."""

    threshold: float
    decay_per_s: float
    max_open_orders: int


REST_TIERS: Final[dict[str, RestTier]] = {
    "starter": RestTier(15, 0.33),
    "intermediate": RestTier(20, 0.5),
    "pro": RestTier(20, 1.0),
    "unlimited": RestTier(math.inf, 0.0),
}

TRADING_TIERS: Final[dict[str, TradingTier]] = {
    "starter": TradingTier(60, 1.0, 60),
    "intermediate": TradingTier(125, 2.34, 80),
    "pro": TradingTier(180, 3.75, 225),
    "unlimited": TradingTier(math.inf, 0.0, 1_000_000_000),
}

#: Private REST methods that cost 2 on the call counter (ledger / trade history).
HISTORY_METHODS: Final = frozenset({"Ledgers", "QueryLedgers", "TradesHistory", "QueryTrades"})

#: Private REST methods that use the trading counter instead of the REST call counter.
TRADING_METHODS: Final = frozenset(
    {
        "AddOrder",
        "AddOrderBatch",
        "AmendOrder",
        "EditOrder",
        "CancelOrder",
        "CancelOrderBatch",
    }
)


def rest_cost(method: str, *, history_cost: float = 2.0) -> float:
    """Cost of one private REST call on the call counter (0 for trading-counter methods)."""
    if method in TRADING_METHODS:
        return 0.0
    if method in HISTORY_METHODS:
        return history_cost
    return 1.0


# Extra charge by order age (seconds since creation or last amend): (limit, cost) brackets.
_AGE_COSTS: Final[dict[str, tuple[tuple[float, float], ...]]] = {
    "add": (),
    "amend": ((5, 3), (10, 2), (15, 1)),
    "edit": ((5, 6), (10, 5), (15, 4), (45, 2), (90, 1)),
    "cancel": ((5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1)),
}
_FIXED_COSTS: Final[dict[str, float]] = {"add": 1, "amend": 1, "edit": 1, "cancel": 0}


def trading_cost(action: TradeAction, order_age_s: float | None = None) -> float:
    """Trading-counter cost of one action on one order (Kraken's table, §3.2).

    ``order_age_s`` is the age of the order acted on (since creation or last amend); ``None``
    means no age charge (e.g. for ``add``).
    """
    cost = _FIXED_COSTS[action]
    if order_age_s is not None:
        for limit, extra in _AGE_COSTS[action]:
            if order_age_s < limit:
                cost += extra
                break
    return cost


class DecayingCounter:
    """A counter that decays linearly with time and refuses to pass a maximum.

    Pure: the caller passes the time. ``value(now)`` is the decayed value;
    ``try_add(cost, now)`` adds ``cost`` if the result stays ``<= maximum`` and says so;
    ``wait_time(cost, now)`` is how long to wait until ``cost`` would fit.
    """

    __slots__ = ("_at", "_value", "decay_per_s", "maximum")

    def __init__(self, maximum: float, decay_per_s: float, *, value: float = 0.0,
                 at: float = 0.0) -> None:
        self.maximum = maximum
        self.decay_per_s = decay_per_s
        self._value = value
        self._at = at

    def value(self, now: float) -> float:
        """The counter's value at ``now`` after decay (never below 0)."""
        elapsed = max(0.0, now - self._at)
        return max(0.0, self._value - elapsed * self.decay_per_s)

    def _settle(self, now: float) -> None:
        self._value = self.value(now)
        self._at = max(now, self._at)

    def would_exceed(self, cost: float, now: float) -> bool:
        """True if adding ``cost`` at ``now`` would pass the maximum."""
        return self.value(now) + cost > self.maximum

    def try_add(self, cost: float, now: float) -> bool:
        """Add ``cost`` unless that passes the maximum; return whether it was added."""
        self._settle(now)
        if self._value + cost > self.maximum:
            return False
        self._value += cost
        return True

    def add(self, cost: float, now: float) -> None:
        """Add ``cost`` unconditionally (fixed charges that apply even when refused)."""
        self._settle(now)
        self._value += cost

    def wait_time(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` fits (0 if it fits now; inf if it never can)."""
        excess = self.value(now) + cost - self.maximum
        if excess <= 0:
            return 0.0
        if self.decay_per_s <= 0 or cost > self.maximum:
            return math.inf
        return excess / self.decay_per_s

    def __repr__(self) -> str:
        return f"DecayingCounter(max={self.maximum}, decay={self.decay_per_s}/s)"
