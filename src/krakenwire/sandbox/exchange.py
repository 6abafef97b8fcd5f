"""The sandbox exchange: accounts, balances, holds, orders and the matching engine. Pure.

INTERFACE CONTRACT (implemented by the exchange-core work; consumed by the gate/server/WS work).
All methods run on one thread (the server's event loop); nothing here does I/O or reads the
wall clock: time comes from the injected :class:`krakenwire.clock.Clock`.

Errors are raised as :class:`ExchangeError` whose ``error`` is Kraken's exact string from
:mod:`krakenwire.protocol.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from krakenwire.clock import Clock
from krakenwire.protocol.naming import PAIRS, Pair
from krakenwire.sandbox.model import Account, Event, LedgerEntry, Order, Trade

__all__ = ["Changes", "Exchange", "ExchangeError"]


class ExchangeError(Exception):
    """An operation was refused; ``error`` is Kraken's error string (e.g.
    ``EOrder:Insufficient funds``)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(slots=True)
class Changes:
    """What changed since the last :meth:`Exchange.drain_changes` (for the store)."""

    accounts: dict[str, Account] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.accounts or self.orders or self.trades or self.ledger)


class Exchange:
    """Accounts, order books and matching for the pairs in ``pairs``.

    Method contract (all raise :class:`ExchangeError` with Kraken's string on refusal):

    * ``create_account(balances: dict[str, Decimal], account_id: str | None = None) -> Account``
    * ``account(account_id) -> Account`` (``EGeneral:Invalid arguments`` if unknown)
    * ``deposit(account_id, asset, amount) -> LedgerEntry``
    * ``add_order(account_id, req: OrderRequest) -> Order`` — validates (pair, minimums, tick,
      funds, post-only, cl_ord_id unique among open orders, deadline), holds funds, matches.
      With ``req.validate`` it returns the would-be order without storing it (id ``""``).
    * ``amend_order(account_id, *, order_id=None, cl_ord_id=None, volume=None, price=None,
      price2=None, post_only=False) -> tuple[Order, str]`` — in place; returns the amend id.
    * ``edit_order(account_id, order_id, *, volume=None, price=None, price2=None,
      userref=None, post_only=None, validate=False) -> tuple[Order, Order]`` — (new, old).
    * ``cancel_order(account_id, ident: str) -> list[Order]`` — txid, userref (digits) or
      cl_ord_id; ``EOrder:Unknown order`` if nothing open matches.
    * ``cancel_all(account_id) -> int``
    * ``cancel_all_after(account_id, timeout_s: int) -> tuple[float, float | None]`` —
      (current time, trigger time or None when disabled by 0).
    * ``order(account_id, order_id) -> Order | None``; ``open_orders(account_id)``;
      ``closed_orders(account_id)``; ``trades(account_id)``; ``ledger(account_id)``.
    * ``order_age(order) -> float`` seconds since creation or last amend (trading counter).
    * ``tick() -> None`` — advance time-based state to ``clock.now()``: the simulated market
      (random walk + liquidity), stop/take-profit triggers, GTD expiry, dead-man switches.
    * ``ticker(pair_id) / depth(pair_id, count) / recent_trades(pair_id)`` — public data.
    * ``drain_events() -> list[Event]`` — order and balance events in the order they happened.
    * ``drain_changes() -> Changes`` — dirty state for the store.
    * ``load(accounts, orders, trades, ledger, counters)`` — rebuild from the store on restart.
    """

    def __init__(self, clock: Clock, *, seed: int = 0,
                 pairs: dict[str, Pair] | None = None, market: bool = True) -> None:
        self.clock = clock
        self.pairs = dict(PAIRS if pairs is None else pairs)
        self.seed = seed
        self.market_enabled = market
        self._events: list[Event] = []
        self._changes = Changes()

    def drain_events(self) -> list[Event]:
        """Return and forget the events since the last call."""
        events, self._events = self._events, []
        return events

    def drain_changes(self) -> Changes:
        """Return and forget the dirty state since the last call."""
        changes, self._changes = self._changes, Changes()
        return changes

    def available(self, account_id: str, asset: str) -> Decimal:
        """Balance minus holds."""
        raise NotImplementedError
