"""The sandbox exchange: accounts, balances, holds, orders and the matching engine. Pure.

INTERFACE CONTRACT (implemented by the exchange-core work; consumed by the gate/server/WS work).
All methods run on one thread (the server's event loop); nothing here does I/O or reads the
wall clock: time comes from the injected :class:`krakenwire.clock.Clock`.

Errors are raised as :class:`ExchangeError` whose ``error`` is Kraken's exact string from
:mod:`krakenwire.protocol.errors`.

Money rules (decided for the sandbox, Kraken publishes none of them):

* Prices must have at most the pair's ``pair_decimals`` (else ``EOrder:Invalid price:<pair>
  price can only be specified up to N decimals.``) and be a multiple of ``tick_size`` (else
  ``EOrder:Tick size check failed``). Volumes are truncated to ``lot_decimals``.
* The cost of a fill is ``price × volume`` rounded half-up to the quote asset's decimals (the
  same figure on both sides, so nothing is created or lost). The fee is ``cost × rate`` (or
  ``volume × rate`` with ``fcib``) rounded *up* to the fee asset's decimals; it is credited to
  the fee account :data:`FEE_ACCOUNT`. Rates are the pair's entry tier (``fees[0]`` for takers,
  ``fees_maker[0]`` for makers). Fee in quote (``fciq``) is the default for both sides.
* Holds (``BalanceEx`` ``hold_trade``): a sell holds its remaining volume of the base asset
  (plus the taker fee with ``fcib``); a buy holds ``remaining × limit price`` plus the taker fee
  in the quote asset (market buys: an estimate from walking the book; trigger orders: at the
  trigger price). A fill is paid from the order's hold first and its own available balance
  second; a fee is never charged beyond what the account has (at most a rounding unit).

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
* ``cancel_order(account_id, ident: str | int) -> list[Order]`` — txid, userref (an int or
  digits) or cl_ord_id; ``EOrder:Unknown order`` if nothing open matches.
* ``cancel_all(account_id, pair_id=None) -> int``
* ``cancel_all_after(account_id, timeout_s: int) -> tuple[float, float | None]`` —
  (current time, trigger time or None when disabled by 0).
* ``order(account_id, order_id) -> Order | None``; ``open_orders(account_id)``;
  ``open_count(account_id, pair_id) -> int`` (open orders on one pair, O(1), for the caps);
  ``closed_orders(account_id)``; ``trades(account_id)``; ``ledger(account_id)``;
  ``find_order_by_cl_ord_id(account_id, cl_ord_id) -> Order | None`` (open orders).
* ``order_age(order) -> float`` seconds since creation or last amend (trading counter).
* ``tick() -> None`` — advance time-based state to ``clock.now()``: the simulated market
  (random walk + liquidity), stop/take-profit triggers, GTD expiry, dead-man switches.
* ``ticker(pair_id) / depth(pair_id, count) / recent_trades(pair_id, since=None) /
  last_price(pair_id) / best_bid_ask(pair_id) / candles(pair_id, interval_s)`` — public data.
* ``accounts()``, ``trade(account_id, trade_id)``; ``set_price(pair_id, price)`` moves the
  simulated market (tests, demos); ``market`` is the :class:`~krakenwire.sandbox.market.Market`
  (None with ``market=False``); ``Exchange(clock, market_settings=MarketSettings(...))`` sets
  its speed and depth.
* ``drain_events() -> list[Event]`` — order and balance events in the order they happened.
* ``drain_changes(full=False) -> Changes`` — dirty state for the store (``counters()`` alone
  gives the counter part); see "What is persisted" below.
* ``load(accounts, orders, trades, ledger, counters)`` — rebuild from the store on restart.

What is persisted (``drain_changes``): every order, trade and ledger entry of a user account,
every account's balances. The simulated market's accounts (:meth:`Exchange.keep_no_history`)
are *ephemeral* in part: their resting ladder orders are never persisted (the market rebuilds
the ladder on start), and neither are matches between two market accounts (the noise trader
hitting the ladder) — so a sandbox nobody uses writes nothing, tick after tick. A match with a
user account persists both sides' trades. The balances of the market accounts and of
:data:`FEE_ACCOUNT` (which every match pays) are written *together*, as one snapshot, whenever
one of them must be (a user match, a deposit, ``full=True`` at shutdown): market-internal
matches move value only among those three, so the persisted state always conserves every asset,
even after ``kill -9`` (the market's own progress since its last snapshot is simply lost).

Events per order follow WS v2 executions: ``pending_new``, ``new``, then ``trade`` (one per
fill, each followed by the account's :class:`BalanceEvent` s), then ``filled`` / ``canceled`` /
``expired``; ``amended`` after an amend; ``status`` when a stop/take-profit triggers. Both
sides of a match get their events (maker right after taker).
"""

from __future__ import annotations

import bisect
import heapq
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from krakenwire.clock import Clock
from krakenwire.protocol import errors as E
from krakenwire.protocol.naming import ASSETS, PAIRS, Pair
from krakenwire.sandbox.model import (
    ZERO,
    Account,
    BalanceEvent,
    Event,
    ExecType,
    LedgerEntry,
    Order,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    PublicTrade,
    Side,
    Trade,
)

if TYPE_CHECKING:
    from krakenwire.sandbox.market import Market, MarketSettings

__all__ = [
    "FEE_ACCOUNT",
    "REASON_CANCEL_ALL_AFTER",
    "REASON_EXPIRED",
    "REASON_FOK",
    "REASON_IOC",
    "REASON_NO_FUNDS",
    "REASON_NO_LIQUIDITY",
    "REASON_POST_ONLY",
    "REASON_REPLACED",
    "REASON_STP",
    "REASON_USER",
    "Changes",
    "Exchange",
    "ExchangeError",
]

FEE_ACCOUNT = "fees"
"""Id of the account that receives every fee."""

# Cancel / expire reasons (``Order.reason``; WS ``reason`` / v1 ``cancel_reason``).
REASON_USER = "User requested"
REASON_POST_ONLY = "Post only order"
REASON_IOC = "Immediate or cancel"
REASON_FOK = "Fill or kill"
REASON_NO_LIQUIDITY = "Insufficient liquidity"
REASON_NO_FUNDS = "Insufficient funds"
REASON_STP = "Self trade prevention"
REASON_REPLACED = "Order replaced"
REASON_CANCEL_ALL_AFTER = "Cancel all orders after timeout"
REASON_EXPIRED = "Order expired"

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ID_TABLE = bytes(ord(_ALPHABET[b % 36]) for b in range(256))  # random byte -> id character
_TRIGGER_TYPES = frozenset({"stop-loss", "take-profit", "stop-loss-limit", "take-profit-limit"})
_MAX_TAPE = 1000  # public trades kept per pair for recent_trades
_DAY = 86400.0
_TOO_BIG = Decimal(10) ** 15  # prices / volumes beyond this are refused (Decimal precision)
_EXP_CACHE: dict[int, Decimal] = {}
_EXEC_OF_STATUS: dict[str, ExecType] = {
    "closed": "filled", "canceled": "canceled", "expired": "expired"}


def _exp(places: int) -> Decimal:
    e = _EXP_CACHE.get(places)
    if e is None:
        e = _EXP_CACHE[places] = Decimal(1).scaleb(-places)
    return e


class ExchangeError(Exception):
    """An operation was refused; ``error`` is Kraken's error string (e.g.
    ``EOrder:Insufficient funds``)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(slots=True)
class Changes:
    """What changed since the last :meth:`Exchange.drain_changes` (for the store).

    ``accounts`` are copies taken at drain time; ``orders`` are the live objects (read them
    before the next exchange call mutates them again — a later drain brings the newer state).
    ``counters`` is always the full, JSON-serialisable counter state to hand back to
    :meth:`Exchange.load`.
    """

    accounts: dict[str, Account] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    counters: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.accounts or self.orders or self.trades or self.ledger)


class _BookSide:
    """One side of one book: price levels best-first, orders in time priority per level."""

    __slots__ = ("bid", "keys", "levels")

    def __init__(self, bid: bool) -> None:
        self.bid = bid
        self.keys: list[Decimal] = []  # ascending sort keys (bids: -price)
        self.levels: dict[Decimal, dict[str, Order]] = {}

    def add(self, order: Order, price: Decimal) -> None:
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = {}
            bisect.insort(self.keys, -price if self.bid else price)
        level[order.id] = order

    def remove(self, order_id: str, price: Decimal) -> bool:
        level = self.levels.get(price)
        if level is None or level.pop(order_id, None) is None:
            return False
        if not level:
            del self.levels[price]
            key = -price if self.bid else price
            del self.keys[bisect.bisect_left(self.keys, key)]
        return True

    def best(self) -> Decimal | None:
        if not self.keys:
            return None
        k = self.keys[0]
        return -k if self.bid else k

    def iter_levels(self) -> Iterator[tuple[Decimal, dict[str, Order]]]:
        for k in list(self.keys):
            price = -k if self.bid else k
            level = self.levels.get(price)
            if level:
                yield price, level


class _Book:
    """Order book and trigger lists of one pair."""

    __slots__ = ("asks", "bids", "down", "up")

    def __init__(self) -> None:
        self.bids = _BookSide(True)
        self.asks = _BookSide(False)
        # untriggered stop / take-profit orders: (trigger price, seq, order id), ascending.
        self.up: list[tuple[Decimal, int, str]] = []  # fire when last >= price
        self.down: list[tuple[Decimal, int, str]] = []  # fire when last <= price


class _Stats:
    """Per-minute buckets of the public tape for Ticker (today and rolling 24 h)."""

    __slots__ = ("buckets", "tape")

    def __init__(self) -> None:
        # minute -> [open, high, low, close, volume, price*volume, count]
        self.buckets: dict[int, list[Any]] = {}
        self.tape: deque[PublicTrade] = deque(maxlen=_MAX_TAPE)

    def add(self, t: PublicTrade) -> None:
        self.tape.append(t)
        minute = int(t.time // 60)
        b = self.buckets.get(minute)
        if b is None:
            self.buckets[minute] = [t.price, t.price, t.price, t.price, t.volume,
                                    t.price * t.volume, 1]
            cutoff = minute - 1441
            if len(self.buckets) > 1441:
                for m in [m for m in self.buckets if m < cutoff]:
                    del self.buckets[m]
        else:
            b[1] = max(b[1], t.price)
            b[2] = min(b[2], t.price)
            b[3] = t.price
            b[4] += t.volume
            b[5] += t.price * t.volume
            b[6] += 1


def _make_copier() -> Callable[[Order], Order]:
    """A fast field-by-field shallow copy of an Order (copy.copy is 3x slower)."""
    names = [f.name for f in fields(Order)]
    body = "".join(f"    c.{n} = o.{n}\n" for n in names)
    src = f"def copy_order(o):\n    c = new(cls)\n{body}    return c\n"
    scope: dict[str, Any] = {"new": object.__new__, "cls": Order}
    exec(src, scope)
    fn: Callable[[Order], Order] = scope["copy_order"]
    return fn


_copy_order = _make_copier()


def _is_trigger(order: Order) -> bool:
    return order.ordertype in _TRIGGER_TYPES


def _fires_up(order: Order) -> bool:
    """True when the trigger fires on last >= trigger price."""
    stop = order.ordertype.startswith("stop-loss")
    return stop == (order.side == "buy")


class Exchange:
    """Accounts, order books and matching for the pairs in ``pairs``.

    See the module docstring for the method contract, the money rules and the event order.
    ``seed`` makes ids and the simulated market reproducible. ``market=False`` runs with no
    simulated liquidity (tests of matching between accounts).
    """

    def __init__(self, clock: Clock, *, seed: int = 0,
                 pairs: dict[str, Pair] | None = None, market: bool = True,
                 market_settings: MarketSettings | None = None) -> None:
        self.clock = clock
        self.pairs = dict(PAIRS if pairs is None else pairs)
        self.seed = seed
        self.market_enabled = market
        self._events: list[Event] = []
        self._changes = Changes()
        # market / fee accounts changed without being persisted (see "What is persisted")
        self._quiet_pending = False
        # ... and must be persisted with the next drain
        self._quiet_write = False
        self._rng = random.Random(f"krakenwire-ids:{seed}")
        self._seq = 0
        self._trade_id = 0
        self._reset_state()
        self.market: Market | None = None
        if market:
            from krakenwire.sandbox.market import Market

            self.market = Market(self, market_settings)

    # ------------------------------------------------------------------ state
    def _reset_state(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._orders: dict[str, Order] = {}
        self._open: dict[str, dict[str, Order]] = {}
        # (account, pair) -> how many of ``_open[account]`` are on that pair (open-order caps)
        self._open_count: dict[tuple[str, str], int] = {}
        self._closed: dict[str, list[Order]] = {}
        self._trades: dict[str, list[Trade]] = {}
        self._ledger: dict[str, list[LedgerEntry]] = {}
        self._cl_index: dict[tuple[str, str], Order] = {}
        self._books: dict[str, _Book] = {p: _Book() for p in self.pairs}
        self._stats: dict[str, _Stats] = {p: _Stats() for p in self.pairs}
        self._last: dict[str, Decimal] = {p.id: p.start_price for p in self.pairs.values()}
        self._expiry: list[tuple[float, int, str]] = []  # GTD heap
        self._scheduled: list[tuple[float, int, str]] = []  # starttm heap
        self._deadman: dict[str, float] = {}
        self._no_history: set[str] = set()
        self._ensure_account(FEE_ACCOUNT)

    def _ensure_account(self, account_id: str) -> Account:
        acct = self._accounts.get(account_id)
        if acct is None:
            acct = Account(account_id, created=self.clock.now())
            self._accounts[account_id] = acct
            self._open[account_id] = {}
            self._closed[account_id] = []
            self._trades[account_id] = []
            self._ledger[account_id] = []
            self._changes.accounts[account_id] = acct
        return acct

    def keep_no_history(self, account_id: str) -> None:
        """Make ``account_id`` one of the simulated market's ephemeral accounts: no closed
        orders, trades or ledger entries kept in memory; its orders and ledger entries never go
        to the store, its trades only when the other side is a user account, its balances only
        together with the other market accounts and the fee account (module docstring)."""
        self._no_history.add(account_id)

    def ephemeral_accounts(self) -> frozenset[str]:
        """The simulated market's accounts (see :meth:`keep_no_history`)."""
        return frozenset(self._no_history)

    def _is_quiet(self, account_id: str) -> bool:
        """True for the accounts whose balances are persisted only as one snapshot."""
        return account_id in self._no_history or (
            account_id == FEE_ACCOUNT and bool(self._no_history))

    def _new_id(self, prefix: str) -> str:
        s = self._rng.randbytes(16).translate(_ID_TABLE).decode("ascii")
        return f"{prefix}{s[:5]}-{s[5:10]}-{s[10:]}"

    def _dirty(self, acct: Account) -> None:
        if self._is_quiet(acct.id):
            self._quiet_pending = True
        else:
            self._changes.accounts[acct.id] = acct

    def _pair(self, pair_id: str) -> Pair:
        pair = self.pairs.get(pair_id)
        if pair is None:
            raise ExchangeError(E.UNKNOWN_PAIR)
        return pair

    # ---------------------------------------------------------------- accounts
    def create_account(self, balances: Mapping[str, Decimal] | None = None,
                       account_id: str | None = None) -> Account:
        """Create an account funded with ``balances`` (REST asset id -> amount, each written
        as a ``deposit`` ledger entry). Raises ``EGeneral:Invalid arguments`` if the id exists
        and ``EQuery:Unknown asset`` for an unknown asset."""
        if account_id is None:
            account_id = self._new_id("A")
        if account_id in self._accounts:
            raise ExchangeError(E.invalid_arguments("account exists"))
        for asset in (balances or {}):
            if asset not in ASSETS:
                raise ExchangeError(E.UNKNOWN_ASSET)
        acct = self._ensure_account(account_id)
        for asset, amount in (balances or {}).items():
            if amount:
                self.deposit(account_id, asset, Decimal(amount))
        return acct

    def account(self, account_id: str) -> Account:
        """The account ``account_id``; ``EGeneral:Invalid arguments`` if unknown."""
        acct = self._accounts.get(account_id)
        if acct is None:
            raise ExchangeError(E.INVALID_ARGUMENTS)
        return acct

    def accounts(self) -> list[Account]:
        """Every account, the fee account and the market's accounts included."""
        return list(self._accounts.values())

    def available(self, account_id: str, asset: str) -> Decimal:
        """Balance minus holds."""
        return self.account(account_id).available(asset)

    def deposit(self, account_id: str, asset: str, amount: Decimal) -> LedgerEntry:
        """Credit (or, negative, debit) ``amount`` of ``asset``; writes a ledger entry.

        Raises ``EQuery:Unknown asset`` for an unknown asset and ``EOrder:Insufficient funds``
        for a debit beyond the available balance."""
        acct = self.account(account_id)
        a = ASSETS.get(asset)
        if a is None:
            raise ExchangeError(E.UNKNOWN_ASSET)
        amount = Decimal(amount)
        if not amount.is_finite() or abs(amount) >= _TOO_BIG:
            raise ExchangeError(E.invalid_arguments("amount"))
        amount = amount.quantize(_exp(a.decimals), ROUND_DOWN)
        if amount < 0 and -amount > acct.available(asset):
            raise ExchangeError(E.INSUFFICIENT_FUNDS)
        acct.balances[asset] = acct.balances.get(asset, ZERO) + amount
        self._dirty(acct)
        if self._is_quiet(acct.id):
            self._quiet_write = True
        entry = self._ledger_entry(acct, self._new_id("D"), "deposit" if amount >= 0
                                   else "withdrawal", asset, amount, ZERO, self.clock.now())
        return entry

    def _ledger_entry(self, acct: Account, refid: str, type_: str, asset: str,
                      amount: Decimal, fee: Decimal, now: float) -> LedgerEntry:
        entry = LedgerEntry(self._new_id("L"), refid, acct.id, now, type_, asset, amount, fee,
                            acct.balances.get(asset, ZERO))
        if acct.id not in self._no_history:
            self._ledger[acct.id].append(entry)
            self._changes.ledger.append(entry)
        if acct.id != FEE_ACCOUNT:
            self._events.append(BalanceEvent(entry))
        return entry

    # ------------------------------------------------------------------ reads
    def order(self, account_id: str, order_id: str) -> Order | None:
        """The order ``order_id`` of ``account_id`` (open or closed), or None."""
        o = self._orders.get(order_id)
        return o if o is not None and o.account_id == account_id else None

    def open_orders(self, account_id: str) -> list[Order]:
        """Open (and pending) orders of the account, oldest first."""
        return list(self._open.get(account_id, {}).values())

    def open_count(self, account_id: str, pair_id: str) -> int:
        """How many open (and pending) orders the account has on the pair, in O(1) — what
        the open-order caps count (0 for an unknown account or pair)."""
        return self._open_count.get((account_id, pair_id), 0)

    def closed_orders(self, account_id: str) -> list[Order]:
        """Closed, canceled and expired orders of the account, oldest close first."""
        return list(self._closed.get(account_id, []))

    def find_order_by_cl_ord_id(self, account_id: str, cl_ord_id: str) -> Order | None:
        """The open order with this client order id, or None."""
        return self._cl_index.get((account_id, cl_ord_id))

    def trades(self, account_id: str) -> list[Trade]:
        """The account's fills, oldest first."""
        return list(self._trades.get(account_id, []))

    def trade(self, account_id: str, trade_id: str) -> Trade | None:
        """One fill of the account by its T-id, or None (linear in the account's trades)."""
        for t in self._trades.get(account_id, []):
            if t.id == trade_id:
                return t
        return None

    def ledger(self, account_id: str) -> list[LedgerEntry]:
        """The account's ledger entries, oldest first."""
        return list(self._ledger.get(account_id, []))

    def order_age(self, order: Order) -> float:
        """Seconds since the order was created or last amended (trading-counter age)."""
        since = order.amended_at if order.amended_at is not None else order.opentm
        return max(0.0, self.clock.now() - since)

    def last_price(self, pair_id: str) -> Decimal:
        """Last trade price of the pair (its start price before any trade)."""
        self._pair(pair_id)
        return self._last[pair_id]

    def best_bid_ask(self, pair_id: str) -> tuple[Decimal | None, Decimal | None]:
        """(best bid, best ask), None for an empty side."""
        book = self._books[self._pair(pair_id).id]
        return book.bids.best(), book.asks.best()

    def depth(self, pair_id: str, count: int = 100
              ) -> dict[str, list[tuple[Decimal, Decimal, float]]]:
        """``{"bids": [...], "asks": [...]}`` best first, each ``(price, volume, time)`` with
        the level's total remaining volume and its latest order time; ``count`` levels a side
        (0 or less: all)."""
        book = self._books[self._pair(pair_id).id]
        out: dict[str, list[tuple[Decimal, Decimal, float]]] = {}
        for name, side in (("bids", book.bids), ("asks", book.asks)):
            rows: list[tuple[Decimal, Decimal, float]] = []
            for price, level in side.iter_levels():
                vol = ZERO
                t = 0.0
                for o in level.values():
                    vol += o.volume - o.vol_exec
                    t = max(t, o.amended_at or o.opentm)
                rows.append((price, vol, t))
                if 0 < count <= len(rows):
                    break
            out[name] = rows
        return out

    def recent_trades(self, pair_id: str, since: float | None = None) -> list[PublicTrade]:
        """The public tape of the pair (last 1000 matches), oldest first; only those after
        ``since`` when given."""
        tape = self._stats[self._pair(pair_id).id].tape
        if since is None:
            return list(tape)
        return [t for t in tape if t.time > since]

    def candles(self, pair_id: str, interval_s: int = 60
                ) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal, int]]:
        """OHLC of the last 24 h from the tape: ``(start time, open, high, low, close, vwap,
        volume, count)`` per ``interval_s`` (a multiple of 60), oldest first, only intervals
        that saw trades. Raises ``EQuery:Unknown asset pair``."""
        stats = self._stats[self._pair(pair_id).id]
        step = max(1, interval_s // 60)
        out: list[list[Any]] = []
        for m in sorted(stats.buckets):
            b = stats.buckets[m]
            start = (m // step) * step * 60
            if out and out[-1][0] == start:
                row = out[-1]
                row[2] = max(row[2], b[1])
                row[3] = min(row[3], b[2])
                row[4] = b[3]
                row[5] += b[5]
                row[6] += b[4]
                row[7] += b[6]
            else:
                out.append([start, b[0], b[1], b[2], b[3], b[5], b[4], b[6]])
        qexp = _exp(self._pair(pair_id).pair_decimals + 1)
        return [(r[0], r[1], r[2], r[3], r[4],
                 (r[5] / r[6]).quantize(qexp, ROUND_HALF_EVEN) if r[6] else r[4],
                 r[6], r[7]) for r in out]

    def ticker(self, pair_id: str) -> dict[str, Decimal]:
        """Ticker figures as Decimals: ``ask``, ``ask_volume``, ``bid``, ``bid_volume`` (0 for
        an empty side), ``last``, ``last_volume``, ``open`` (today's), and for ``_today`` (since
        00:00 UTC) and ``_24h``: ``volume``, ``vwap``, ``trades`` (integral), ``low``, ``high``.
        Raises ``EQuery:Unknown asset pair``."""
        pid = self._pair(pair_id).id
        book = self._books[pid]
        out: dict[str, Decimal] = {}
        for name, side in (("ask", book.asks), ("bid", book.bids)):
            best = side.best()
            out[name] = best if best is not None else ZERO
            vol = ZERO
            if best is not None:
                for o in side.levels[best].values():
                    vol += o.volume - o.vol_exec
            out[name + "_volume"] = vol
        stats = self._stats[pid]
        last = self._last[pid]
        out["last"] = last
        out["last_volume"] = stats.tape[-1].volume if stats.tape else ZERO
        now = self.clock.now()
        now_min = int(now // 60)
        midnight_min = int((now - now % _DAY) // 60)
        for suffix, start in (("_today", midnight_min), ("_24h", now_min - 1439)):
            vol = pv = ZERO
            n = 0
            hi: Decimal | None = None
            lo: Decimal | None = None
            first: tuple[int, Decimal] | None = None
            for m, b in stats.buckets.items():
                if m < start or m > now_min:
                    continue
                vol += b[4]
                pv += b[5]
                n += b[6]
                hi = b[1] if hi is None else max(hi, b[1])
                lo = b[2] if lo is None else min(lo, b[2])
                if first is None or m < first[0]:
                    first = (m, b[0])
            out["volume" + suffix] = vol
            out["vwap" + suffix] = (pv / vol).quantize(_exp(self.pairs[pid].pair_decimals + 3)
                                                       , ROUND_HALF_EVEN) if vol else last
            out["trades" + suffix] = Decimal(n)
            out["high" + suffix] = hi if hi is not None else last
            out["low" + suffix] = lo if lo is not None else last
            if suffix == "_today":
                out["open"] = first[1] if first is not None else last
        return out

    # ------------------------------------------------------------- validation
    def _limit_of(self, order: Order) -> Decimal | None:
        """The price at which the order rests / limits its matching (None: market)."""
        t = order.ordertype
        if t == "limit":
            return order.price
        if t.endswith("-limit"):
            return order.price2
        return None

    def _check_price(self, pair: Pair, price: Decimal, name: str) -> Decimal:
        if not price.is_finite() or price <= 0 or price >= _TOO_BIG:
            raise ExchangeError(E.invalid_arguments(name))
        if price.as_tuple().exponent < -pair.pair_decimals:  # type: ignore[operator]
            # may still be fine if the extra digits are zeros
            q = price.quantize(_exp(pair.pair_decimals), ROUND_HALF_EVEN)
            if q != price:
                raise ExchangeError(E.invalid_price_decimals(pair.id, pair.pair_decimals))
            price = q
        if pair.tick_size and price % pair.tick_size != 0:
            raise ExchangeError(E.TICK_SIZE)
        return price

    def _build_order(self, acct: Account, pair: Pair, req: OrderRequest, now: float) -> Order:
        """Validate ``req`` and make the (not yet registered) order. Raises ExchangeError."""
        if req.side not in ("buy", "sell"):
            raise ExchangeError(E.invalid_arguments("type"))
        otype = req.ordertype
        if otype not in ("market", "limit") and otype not in _TRIGGER_TYPES:
            raise ExchangeError(E.invalid_arguments("ordertype"))
        if req.timeinforce not in ("GTC", "IOC", "GTD", "FOK"):
            raise ExchangeError(E.invalid_arguments("timeinforce"))
        if req.stp_type not in ("cancel-newest", "cancel-oldest", "cancel-both"):
            raise ExchangeError(E.invalid_arguments("stptype"))
        price: Decimal | None = None
        price2: Decimal | None = None
        if otype != "market":
            if req.price is None:
                raise ExchangeError(E.invalid_arguments("price"))
            price = self._check_price(pair, Decimal(req.price), "price")
        if otype.endswith("-limit"):
            if req.price2 is None:
                raise ExchangeError(E.invalid_arguments("price2"))
            price2 = self._check_price(pair, Decimal(req.price2), "price2")
        if req.post_only and otype != "limit":
            raise ExchangeError(E.invalid_arguments("post only order is only available "
                                                    "when ordertype = limit"))
        if req.timeinforce == "FOK" and otype != "limit":
            raise ExchangeError(E.invalid_arguments("timeinforce"))
        if req.timeinforce == "GTD":
            if req.expiretm is None:
                raise ExchangeError(E.invalid_arguments("expiretm"))
            if req.expiretm <= now:
                raise ExchangeError(E.invalid_arguments("expiretm"))
        if req.cl_ord_id is not None and (not req.cl_ord_id or len(req.cl_ord_id) > 36):
            raise ExchangeError(E.invalid_arguments("cl_ord_id"))
        cash = req.cash_order_qty
        lot = _exp(pair.lot_decimals)
        if cash is not None:
            if (otype != "market" or req.side != "buy" or not cash.is_finite() or cash <= 0
                    or cash >= _TOO_BIG):
                raise ExchangeError(E.invalid_arguments("cash_order_qty"))
            volume = self._volume_for_cash(pair, Decimal(cash))
        else:
            volume = Decimal(req.volume)
            if not volume.is_finite() or volume <= 0 or volume >= _TOO_BIG:
                raise ExchangeError(E.invalid_arguments("volume"))
            volume = volume.quantize(lot, ROUND_DOWN)
        if volume < pair.ordermin:
            raise ExchangeError(E.ORDER_MINIMUM)
        ref_price = self._limit_of_req(otype, price, price2)
        if ref_price is None:
            ref_price = price if price is not None else self._market_ref(pair, req.side)
        if cash is not None:
            if cash < pair.costmin:
                raise ExchangeError(E.COST_MINIMUM)
        elif ref_price is not None and volume * ref_price < pair.costmin:
            raise ExchangeError(E.COST_MINIMUM)
        return Order(
            id="", account_id=acct.id, pair=pair.id, side=req.side, ordertype=otype,
            volume=volume, price=price, price2=price2, status="pending", opentm=now, seq=0,
            timeinforce=req.timeinforce, post_only=req.post_only,
            starttm=req.starttm if req.starttm and req.starttm > now else None,
            expiretm=req.expiretm if req.timeinforce == "GTD" else None,
            userref=req.userref, cl_ord_id=req.cl_ord_id, stp_type=req.stp_type,
            trigger=req.trigger, fee_in_base=req.fee_in_base,
            cash_order_qty=Decimal(cash) if cash is not None else None,
            lastupdated=now, display_qty=req.display_qty,
        )

    @staticmethod
    def _limit_of_req(otype: str, price: Decimal | None, price2: Decimal | None
                      ) -> Decimal | None:
        if otype == "limit":
            return price
        if otype.endswith("-limit"):
            return price2
        return None

    def _market_ref(self, pair: Pair, side: Side) -> Decimal | None:
        book = self._books[pair.id]
        best = book.asks.best() if side == "buy" else book.bids.best()
        return best if best is not None else self._last.get(pair.id)

    def _volume_for_cash(self, pair: Pair, cash: Decimal) -> Decimal:
        """Base volume that ``cash`` of quote buys by walking the asks (fees excluded)."""
        left = cash
        vol = ZERO
        lot = _exp(pair.lot_decimals)
        last_price: Decimal | None = None
        for price, level in self._books[pair.id].asks.iter_levels():
            last_price = price
            for o in level.values():
                rem = o.volume - o.vol_exec
                if rem * price >= left:
                    return (vol + left / price).quantize(lot, ROUND_DOWN)
                vol += rem
                left -= rem * price
        px = last_price or self._last.get(pair.id)
        if px:
            vol += left / px
        return vol.quantize(lot, ROUND_DOWN)

    def _market_buy_estimate(self, pair: Pair, volume: Decimal) -> Decimal:
        """Quote cost of buying ``volume`` now by walking the asks (rest at the worst price)."""
        left = volume
        cost = ZERO
        px = self._last.get(pair.id, ZERO)
        for price, level in self._books[pair.id].asks.iter_levels():
            px = price
            for o in level.values():
                take = min(left, o.volume - o.vol_exec)
                cost += take * price
                left -= take
                if left <= 0:
                    return cost
        return cost + left * px

    def _required_hold(self, o: Order, pair: Pair) -> tuple[str, Decimal]:
        """(asset, amount) the order must hold for its remaining volume."""
        rem = o.volume - o.vol_exec
        rate = pair.taker_fee_pct / 100
        if rem <= 0:
            return (pair.base if o.side == "sell" else pair.quote), ZERO
        if o.side == "sell":
            amt = rem
            if o.fee_in_base:
                amt += (rem * rate).quantize(_exp(ASSETS[pair.base].decimals), ROUND_CEILING)
            return pair.base, amt
        qexp = _exp(ASSETS[pair.quote].decimals)
        px = self._limit_of(o)
        if px is None:
            if _is_trigger(o) and not o.triggered and o.price is not None:
                px = o.price
                cost = (rem * px).quantize(qexp, ROUND_CEILING)
            elif o.cash_order_qty is not None and o.vol_exec == 0:
                cost = o.cash_order_qty.quantize(qexp, ROUND_CEILING)
            else:
                cost = self._market_buy_estimate(pair, rem).quantize(qexp, ROUND_CEILING)
        else:
            cost = (rem * px).quantize(qexp, ROUND_CEILING)
        if not o.fee_in_base:
            cost += (cost * rate).quantize(qexp, ROUND_CEILING)
        return pair.quote, cost

    # ------------------------------------------------------------------ holds
    def _set_hold(self, acct: Account, o: Order, asset: str, amount: Decimal) -> None:
        if o.hold_asset is not None and o.hold_asset != asset and o.hold_amount:
            acct.holds[o.hold_asset] -= o.hold_amount
            o.hold_amount = ZERO
        o.hold_asset = asset
        delta = amount - o.hold_amount
        if delta:
            acct.holds[asset] = acct.holds.get(asset, ZERO) + delta
            o.hold_amount = amount

    def _release(self, acct: Account, o: Order) -> None:
        if o.hold_asset is not None and o.hold_amount:
            acct.holds[o.hold_asset] -= o.hold_amount
            o.hold_amount = ZERO

    def _rehold(self, acct: Account, o: Order, pair: Pair) -> None:
        """Bring the order's hold to what its remaining volume needs (top-ups only as far as
        the available balance reaches)."""
        asset, target = self._required_hold(o, pair)
        if o.hold_asset != asset:
            self._release(acct, o)
            o.hold_asset = asset
        if target < o.hold_amount:
            self._set_hold(acct, o, asset, target)
        elif target > o.hold_amount:
            extra = min(target - o.hold_amount, max(acct.available(asset), ZERO))
            if extra > 0:
                self._set_hold(acct, o, asset, o.hold_amount + extra)

    # ------------------------------------------------------------------ events
    def _event(self, exec_type: ExecType, o: Order, now: float,
               trade: Trade | None = None) -> None:
        self._events.append(OrderEvent(exec_type, _copy_order(o), now, trade))
        if o.account_id not in self._no_history:
            self._changes.orders[o.id] = o

    # -------------------------------------------------------------- add order
    def add_order(self, account_id: str, req: OrderRequest) -> Order:
        """Validate, hold funds, register and match a new order (see the module docstring).

        Raises ExchangeError: ``EQuery:Unknown asset pair``, ``EGeneral:Invalid arguments[:x]``,
        ``EOrder:Invalid price:...``, ``EOrder:Tick size check failed``, ``EOrder:Order minimum
        not met``, ``EOrder:Cost minimum not met``, ``EOrder:Insufficient funds``,
        ``EOrder:cl_ord_id already in use``, ``EService:Deadline elapsed``."""
        acct = self.account(account_id)
        now = self.clock.now()
        if req.deadline is not None and now > req.deadline:
            raise ExchangeError(E.DEADLINE_ELAPSED)
        pair = self.pairs.get(req.pair)
        if pair is None:
            raise ExchangeError(E.UNKNOWN_PAIR)
        o = self._build_order(acct, pair, req, now)
        if o.cl_ord_id is not None and (acct.id, o.cl_ord_id) in self._cl_index:
            raise ExchangeError(E.DUPLICATE_CL_ORD_ID)
        asset, need = self._required_hold(o, pair)
        if need > acct.available(asset):
            raise ExchangeError(E.INSUFFICIENT_FUNDS)
        if req.validate:
            return o
        self._register(acct, o, now)
        self._set_hold(acct, o, asset, need)
        self._dirty(acct)
        self._event("pending_new", o, now)
        self._activate(acct, o, pair, now)
        self._run_triggers(pair)
        return o

    def _register(self, acct: Account, o: Order, now: float) -> None:
        o.id = self._new_id("O")
        while o.id in self._orders:
            o.id = self._new_id("O")
        self._seq += 1
        o.seq = self._seq
        self._orders[o.id] = o
        self._open_add(acct.id, o)
        if o.cl_ord_id is not None:
            self._cl_index[(acct.id, o.cl_ord_id)] = o

    def _open_add(self, account_id: str, o: Order) -> None:
        """Index ``o`` among the account's open orders (and in the per-pair count)."""
        if o.id not in self._open[account_id]:
            key = (account_id, o.pair)
            self._open_count[key] = self._open_count.get(key, 0) + 1
        self._open[account_id][o.id] = o

    def _open_remove(self, account_id: str, o: Order) -> None:
        """Drop ``o`` from the account's open orders (and from the per-pair count)."""
        if self._open[account_id].pop(o.id, None) is not None:
            key = (account_id, o.pair)
            left = self._open_count[key] - 1
            if left:
                self._open_count[key] = left
            else:
                del self._open_count[key]

    def _activate(self, acct: Account, o: Order, pair: Pair, now: float) -> None:
        """Move a pending order on: schedule it, arm its trigger, or open and match it."""
        if o.starttm is not None and o.starttm > now:
            heapq.heappush(self._scheduled, (o.starttm, o.seq, o.id))
            return
        o.status = "open"
        o.lastupdated = now
        self._event("new", o, now)
        if o.expiretm is not None:
            heapq.heappush(self._expiry, (o.expiretm, o.seq, o.id))
        if _is_trigger(o) and not o.triggered:
            last = self._last[pair.id]
            assert o.price is not None
            if (last >= o.price) if _fires_up(o) else (last <= o.price):
                self._trigger(acct, o, pair, now)
            else:
                book = self._books[pair.id]
                bisect.insort(book.up if _fires_up(o) else book.down, (o.price, o.seq, o.id))
            return
        self._execute(acct, o, pair, now)

    def _trigger(self, acct: Account, o: Order, pair: Pair, now: float) -> None:
        o.triggered = True
        o.lastupdated = now
        self._event("status", o, now)
        self._execute(acct, o, pair, now)

    def _execute(self, acct: Account, o: Order, pair: Pair, now: float) -> None:
        """Match an open order as taker, then rest, fill or cancel it."""
        limit = self._limit_of(o)
        book = self._books[pair.id]
        opp = book.asks if o.side == "buy" else book.bids
        if limit is not None:
            best = opp.best()
            crosses = best is not None and (best <= limit if o.side == "buy" else best >= limit)
            if o.post_only and crosses:
                self._close(acct, o, "canceled", REASON_POST_ONLY, now)
                return
            if o.timeinforce == "FOK" and not self._fillable(o, opp, limit):
                self._close(acct, o, "canceled", REASON_FOK, now)
                return
        else:
            # market: make sure the hold covers the book as it is now
            self._rehold(acct, o, pair)
        stop = self._match(acct, o, pair, opp, limit, now)
        if o.vol_exec >= o.volume:
            self._finish(acct, o, "closed", None, now)
        elif stop is not None:
            self._close(acct, o, "canceled", stop, now)
        elif limit is None:
            self._close(acct, o, "canceled", REASON_NO_LIQUIDITY, now)
        elif o.timeinforce in ("IOC", "FOK"):
            self._close(acct, o, "canceled", REASON_IOC, now)
        else:
            (book.bids if o.side == "buy" else book.asks).add(o, limit)

    def _fillable(self, o: Order, opp: _BookSide, limit: Decimal) -> bool:
        need = o.volume - o.vol_exec
        for price, level in opp.iter_levels():
            if price > limit if o.side == "buy" else price < limit:
                return False
            for m in level.values():
                if m.account_id == o.account_id:
                    continue
                need -= m.volume - m.vol_exec
                if need <= 0:
                    return True
        return False

    def _match(self, acct: Account, o: Order, pair: Pair, opp: _BookSide,
               limit: Decimal | None, now: float) -> str | None:
        """Fill ``o`` against ``opp`` best-first. Returns a cancel reason if matching had to
        stop for self-trade prevention or funds, else None."""
        buy = o.side == "buy"
        sweep = 0  # public id of this pass's first fill: the taker's fills share it
        while o.vol_exec < o.volume and opp.keys:
            k = opp.keys[0]
            price = -k if opp.bid else k
            if limit is not None and (price > limit if buy else price < limit):
                break
            level = opp.levels[price]
            maker = next(iter(level.values()))
            if maker.account_id == o.account_id:
                stp = o.stp_type
                if stp == "cancel-newest":
                    return REASON_STP
                self._close(acct, maker, "canceled", REASON_STP, now)
                if stp == "cancel-both":
                    return REASON_STP
                continue
            qty = min(o.volume - o.vol_exec, maker.volume - maker.vol_exec)
            if buy and limit is None:
                qty = self._affordable(acct, o, pair, price, qty)
                if qty <= 0:
                    return REASON_NO_FUNDS if o.vol_exec == 0 else REASON_NO_LIQUIDITY
            if not sweep:
                sweep = self._trade_id + 1
            self._fill(o, maker, pair, price, qty, now, sweep)
        return None

    def _affordable(self, acct: Account, o: Order, pair: Pair, price: Decimal,
                    qty: Decimal) -> Decimal:
        """Largest volume <= qty a market buy can pay at ``price`` (hold + available)."""
        qexp = _exp(ASSETS[pair.quote].decimals)
        rate = ZERO if o.fee_in_base else pair.taker_fee_pct / 100
        payable = (o.hold_amount if o.hold_asset == pair.quote else ZERO) + max(
            acct.available(pair.quote), ZERO)
        cost = (qty * price).quantize(qexp, ROUND_HALF_UP)
        if cost + (cost * rate).quantize(qexp, ROUND_CEILING) <= payable:
            return qty
        q = (payable / (price * (1 + rate))).quantize(_exp(pair.lot_decimals), ROUND_DOWN)
        return min(max(q, ZERO), qty)

    def _fill(self, taker: Order, maker: Order, pair: Pair, price: Decimal, qty: Decimal,
              now: float, sweep: int) -> None:
        qexp = _exp(ASSETS[pair.quote].decimals)
        bexp = _exp(ASSETS[pair.base].decimals)
        cost = (qty * price).quantize(qexp, ROUND_HALF_UP)
        self._trade_id += 1
        trade_id = self._trade_id
        fee_acct = self._accounts[FEE_ACCOUNT]
        nh = self._no_history
        internal = taker.account_id in nh and maker.account_id in nh
        if not internal and nh:
            self._quiet_write = True  # a user match: persist the market / fee snapshot too
        results: list[tuple[Order, Account, Trade, list[LedgerEntry]]] = []
        for o, is_maker in ((taker, False), (maker, True)):
            acct = self._accounts[o.account_id]
            rate = (pair.maker_fee_pct if is_maker else pair.taker_fee_pct) / 100
            if o.fee_in_base:
                fee_asset = pair.base
                fee = (qty * rate).quantize(bexp, ROUND_CEILING)
            else:
                fee_asset = pair.quote
                fee = (cost * rate).quantize(qexp, ROUND_CEILING)
            if o.side == "buy":
                pay_asset, pay, recv_asset, recv = pair.quote, cost, pair.base, qty
            else:
                pay_asset, pay, recv_asset, recv = pair.base, qty, pair.quote, cost
            if fee_asset == pay_asset:
                held = o.hold_amount if o.hold_asset == pay_asset else ZERO
                payable = held + max(acct.available(pay_asset), ZERO)
                if pay + fee > payable:  # rounding unit short: charge what there is
                    fee = max(ZERO, payable - pay)
                pay += fee
            else:
                recv -= fee
            if o.hold_asset == pay_asset and o.hold_amount:
                used = min(o.hold_amount, pay)
                o.hold_amount -= used
                acct.holds[pay_asset] -= used
            acct.balances[pay_asset] = acct.balances.get(pay_asset, ZERO) - pay
            acct.balances[recv_asset] = acct.balances.get(recv_asset, ZERO) + recv
            if fee:
                fee_acct.balances[fee_asset] = fee_acct.balances.get(fee_asset, ZERO) + fee
            o.vol_exec += qty
            o.cost += cost
            o.fee += fee
            o.lastupdated = now
            if o.vol_exec >= o.volume:
                o.status = "closed"
            trade = Trade(self._new_id("T"), o.id, acct.id, pair.id, o.side, o.ordertype,
                          price, qty, cost, fee, fee_asset, now, is_maker, trade_id,
                          sweep=0 if is_maker else sweep)
            if acct.id not in nh:
                self._trades[acct.id].append(trade)
            if not internal:
                self._changes.trades.append(trade)
            f_pay = fee if fee_asset == pay_asset else ZERO
            f_recv = fee if fee_asset == recv_asset else ZERO
            entries = [
                self._ledger_entry_quiet(acct, trade.id, pay_asset, -(pay - f_pay), f_pay, now),
                self._ledger_entry_quiet(acct, trade.id, recv_asset, recv + f_recv, f_recv, now),
            ]
            self._dirty(acct)
            results.append((o, acct, trade, entries))
        self._dirty(fee_acct)
        # the maker leaves the book when done; a limit order keeps exactly what it needs held
        book = self._books[pair.id]
        if maker.status == "closed":
            (book.bids if maker.side == "buy" else book.asks).remove(maker.id, price)
        for o, acct, _trade, _ in results:
            if o.status == "closed":
                self._release(acct, o)
            elif self._limit_of(o) is not None:
                self._rehold(acct, o, pair)
        for o, _acct, trade, entries in results:
            self._event("trade", o, now, trade)
            for entry in entries:
                self._events.append(BalanceEvent(entry))
        self._last[pair.id] = price
        self._stats[pair.id].add(PublicTrade(
            price, qty, now, taker.side, "market" if self._limit_of(taker) is None else "limit",
            trade_id))
        if maker.status == "closed":
            self._finish(self._accounts[maker.account_id], maker, "closed", None, now)

    def _ledger_entry_quiet(self, acct: Account, refid: str, asset: str, amount: Decimal,
                            fee: Decimal, now: float) -> LedgerEntry:
        entry = LedgerEntry(self._new_id("L"), refid, acct.id, now, "trade", asset, amount, fee,
                            acct.balances.get(asset, ZERO))
        if acct.id not in self._no_history:
            self._ledger[acct.id].append(entry)
            self._changes.ledger.append(entry)
        return entry

    # ---------------------------------------------------------------- closing
    def _unlist(self, o: Order) -> None:
        """Take an open order out of the book / trigger list (not out of the indexes)."""
        book = self._books[o.pair]
        if _is_trigger(o) and not o.triggered:
            assert o.price is not None
            lst = book.up if _fires_up(o) else book.down
            key = (o.price, o.seq, o.id)
            i = bisect.bisect_left(lst, key)
            if i < len(lst) and lst[i] == key:
                del lst[i]
            return
        price = self._limit_of(o)
        if price is not None:
            (book.bids if o.side == "buy" else book.asks).remove(o.id, price)

    def _close(self, acct: Account, o: Order, status: OrderStatus, reason: str | None,
               now: float) -> None:
        """End an open order: out of the book, hold released, indexes updated, event."""
        if o.status in ("open", "pending"):
            self._unlist(o)
        self._finish(acct, o, status, reason, now)

    def _finish(self, acct: Account, o: Order, status: OrderStatus, reason: str | None,
                now: float) -> None:
        self._release(acct, o)
        o.status = status
        o.reason = reason
        o.closetm = now
        o.lastupdated = now
        self._open_remove(acct.id, o)
        if o.cl_ord_id is not None and self._cl_index.get((acct.id, o.cl_ord_id)) is o:
            del self._cl_index[(acct.id, o.cl_ord_id)]
        if acct.id in self._no_history:
            self._orders.pop(o.id, None)
        else:
            self._closed[acct.id].append(o)
        self._dirty(acct)
        self._event(_EXEC_OF_STATUS[status], o, now)

    # --------------------------------------------------------------- triggers
    def _run_triggers(self, pair: Pair) -> None:
        """Fire every stop / take-profit order the last price has crossed (repeatedly, since
        a triggered order can move the price further)."""
        book = self._books[pair.id]
        for _ in range(1000):
            last = self._last[pair.id]
            fired: list[tuple[int, str]] = []
            while book.up and book.up[0][0] <= last:
                _, seq, oid = book.up.pop(0)
                fired.append((seq, oid))
            while book.down and book.down[-1][0] >= last:
                _, seq, oid = book.down.pop()
                fired.append((seq, oid))
            if not fired:
                return
            now = self.clock.now()
            for _, oid in sorted(fired):
                o = self._orders.get(oid)
                if o is None or o.status != "open":
                    continue
                self._trigger(self._accounts[o.account_id], o, pair, now)

    # ----------------------------------------------------------------- cancel
    def cancel_order(self, account_id: str, ident: str | int) -> list[Order]:
        """Cancel by txid, userref (an int or a string of digits: every open order with it)
        or cl_ord_id. Returns the canceled orders; ``EOrder:Unknown order`` if nothing open
        matches, ``EGeneral:Invalid arguments`` for an unknown account."""
        acct = self.account(account_id)
        now = self.clock.now()
        targets: list[Order] = []
        if isinstance(ident, int) or (isinstance(ident, str) and ident.lstrip("-").isdigit()):
            ref = int(ident)
            targets = [o for o in self._open[acct.id].values() if o.userref == ref]
        else:
            o = self._open[acct.id].get(ident)
            if o is None:
                o = self._cl_index.get((acct.id, ident))
            if o is not None:
                targets = [o]
        if not targets:
            raise ExchangeError(E.UNKNOWN_ORDER)
        for o in targets:
            self._close(acct, o, "canceled", REASON_USER, now)
        return targets

    def cancel_all(self, account_id: str, pair_id: str | None = None) -> int:
        """Cancel every open order of the account (of one pair when given); returns the
        count."""
        acct = self.account(account_id)
        now = self.clock.now()
        targets = [o for o in self._open[acct.id].values()
                   if pair_id is None or o.pair == pair_id]
        for o in targets:
            self._close(acct, o, "canceled", REASON_USER, now)
        return len(targets)

    def cancel_all_after(self, account_id: str, timeout_s: int) -> tuple[float, float | None]:
        """Arm (or with 0 disarm) the dead-man switch: at ``now + timeout_s`` :meth:`tick`
        cancels every open order of the account. Returns (now, trigger time or None).
        ``EGeneral:Invalid arguments`` unless 0 <= timeout_s < 86400."""
        acct = self.account(account_id)
        if timeout_s < 0 or timeout_s >= 86400:
            raise ExchangeError(E.invalid_arguments("timeout"))
        now = self.clock.now()
        if timeout_s == 0:
            self._deadman.pop(acct.id, None)
            acct.cancel_all_at = None
        else:
            acct.cancel_all_at = now + timeout_s
            self._deadman[acct.id] = acct.cancel_all_at
        self._dirty(acct)
        return now, acct.cancel_all_at

    # ------------------------------------------------------------ amend / edit
    def _find_open(self, acct: Account, order_id: str | None, cl_ord_id: str | None) -> Order:
        o: Order | None = None
        if order_id is not None:
            o = self._open[acct.id].get(order_id)
        elif cl_ord_id is not None:
            o = self._cl_index.get((acct.id, cl_ord_id))
        if o is None:
            raise ExchangeError(E.UNKNOWN_ORDER)
        return o

    def amend_order(self, account_id: str, *, order_id: str | None = None,
                    cl_ord_id: str | None = None, volume: Decimal | None = None,
                    price: Decimal | None = None, price2: Decimal | None = None,
                    post_only: bool = False, display_qty: Decimal | None = None
                    ) -> tuple[Order, str]:
        """Amend an open order in place (same id). ``volume`` is the new total quantity; at
        or below what has executed, the remainder is canceled. ``price`` is the limit price
        (trigger price for trigger types), ``price2`` the limit of ``*-limit`` types. Queue
        priority is kept when only the quantity goes down. With ``post_only`` a new price that
        would take liquidity is refused. Returns (order, amend id).

        Raises ``EOrder:Unknown order``, the price / minimum errors of :meth:`add_order`,
        ``EOrder:Insufficient funds`` and ``EOrder:Post only order``."""
        acct = self.account(account_id)
        o = self._find_open(acct, order_id, cl_ord_id)
        if o.status != "open":
            raise ExchangeError(E.UNKNOWN_ORDER)
        pair = self.pairs[o.pair]
        now = self.clock.now()
        new_vol = o.volume
        if volume is not None:
            v = Decimal(volume)
            if not v.is_finite() or v <= 0 or v >= _TOO_BIG:
                raise ExchangeError(E.invalid_arguments("order_qty"))
            new_vol = v.quantize(_exp(pair.lot_decimals), ROUND_DOWN)
            if new_vol < pair.ordermin and new_vol > o.vol_exec:
                raise ExchangeError(E.ORDER_MINIMUM)
        new_price, new_price2 = o.price, o.price2
        if price is not None:
            if o.ordertype == "market":
                raise ExchangeError(E.invalid_arguments("limit_price"))
            new_price = self._check_price(pair, Decimal(price), "price")
        if price2 is not None:
            if not o.ordertype.endswith("-limit"):
                raise ExchangeError(E.invalid_arguments("price2"))
            new_price2 = self._check_price(pair, Decimal(price2), "price2")
        amend_id = self._new_id("T")
        if new_vol <= o.vol_exec:
            self._close(acct, o, "canceled", REASON_USER, now)
            return o, amend_id
        old = (o.volume, o.price, o.price2)
        old_limit = self._limit_of(o)
        resting = old_limit is not None and (not _is_trigger(o) or o.triggered)
        was_armed = _is_trigger(o) and not o.triggered
        # check the new state before touching anything
        trial = _copy_order(o)
        trial.volume, trial.price, trial.price2 = new_vol, new_price, new_price2
        new_limit = self._limit_of(trial)
        if new_limit is not None and resting:
            opp = self._books[pair.id].asks if o.side == "buy" else self._books[pair.id].bids
            best = opp.best()
            crosses = best is not None and (best <= new_limit if o.side == "buy"
                                            else best >= new_limit)
            if crosses and (post_only or o.post_only):
                raise ExchangeError(E.POST_ONLY_AMEND)
        asset, need = self._required_hold(trial, pair)
        have = o.hold_amount if o.hold_asset == asset else ZERO
        if need - have > acct.available(asset):
            raise ExchangeError(E.INSUFFICIENT_FUNDS)
        keep_priority = new_price == old[1] and new_price2 == old[2] and new_vol <= old[0]
        if not keep_priority:
            self._unlist(o)
        o.volume, o.price, o.price2 = new_vol, new_price, new_price2
        if display_qty is not None:
            o.display_qty = display_qty
        o.amended = True
        o.amended_at = now
        o.lastupdated = now
        self._set_hold(acct, o, asset, need)
        self._dirty(acct)
        self._event("amended", o, now)
        if not keep_priority:
            self._seq += 1
            o.seq = self._seq
            if was_armed:
                book = self._books[pair.id]
                assert o.price is not None
                last = self._last[pair.id]
                if (last >= o.price) if _fires_up(o) else (last <= o.price):
                    self._trigger(acct, o, pair, now)
                else:
                    bisect.insort(book.up if _fires_up(o) else book.down,
                                  (o.price, o.seq, o.id))
            elif resting:
                self._execute(acct, o, pair, now)
            self._run_triggers(pair)
        return o, amend_id

    def edit_order(self, account_id: str, order_id: str, *, volume: Decimal | None = None,
                   price: Decimal | None = None, price2: Decimal | None = None,
                   userref: int | None = None, post_only: bool | None = None,
                   validate: bool = False) -> tuple[Order, Order]:
        """Replace an open order by a new one (new id, ``refid`` = the old id); the old one is
        canceled with reason ``Order replaced``. ``volume`` is the new total quantity: the new
        order gets what is left after the old one's executed volume. Returns (new, old); with
        ``validate`` nothing changes and the new order has id ``""``.

        Raises ``EOrder:Unknown order`` and the errors of :meth:`add_order`."""
        acct = self.account(account_id)
        old = self._open[acct.id].get(order_id)
        if old is None and order_id.lstrip("-").isdigit():
            ref = int(order_id)
            old = next((o for o in self._open[acct.id].values() if o.userref == ref), None)
        if old is None:
            raise ExchangeError(E.UNKNOWN_ORDER)
        pair = self.pairs[old.pair]
        now = self.clock.now()
        total = Decimal(volume) if volume is not None else old.volume
        rest = total - old.vol_exec
        if rest <= 0:
            raise ExchangeError(E.invalid_arguments("volume"))
        req = OrderRequest(
            pair=old.pair, side=old.side, ordertype=old.ordertype, volume=rest,
            price=price if price is not None else old.price,
            price2=price2 if price2 is not None else old.price2,
            timeinforce=old.timeinforce, post_only=old.post_only if post_only is None
            else post_only, expiretm=old.expiretm, userref=old.userref if userref is None
            else userref, stp_type=old.stp_type, trigger=old.trigger,
            fee_in_base=old.fee_in_base,
        )
        new = self._build_order(acct, pair, req, now)
        asset, need = self._required_hold(new, pair)
        freed = old.hold_amount if old.hold_asset == asset else ZERO
        if need > acct.available(asset) + freed:
            raise ExchangeError(E.INSUFFICIENT_FUNDS)
        if validate:
            return new, old
        self._close(acct, old, "canceled", REASON_REPLACED, now)
        new.refid = old.id
        self._register(acct, new, now)
        self._set_hold(acct, new, asset, need)
        self._event("pending_new", new, now)
        self._activate(acct, new, pair, now)
        self._run_triggers(pair)
        return new, old

    # ------------------------------------------------------------------- time
    def tick(self) -> None:
        """Advance time-based state to ``clock.now()``: GTD expiry, scheduled starts,
        dead-man switches, then the simulated market (which may fill orders and fire
        triggers)."""
        now = self.clock.now()
        while self._expiry and self._expiry[0][0] <= now:
            _, _, oid = heapq.heappop(self._expiry)
            o = self._orders.get(oid)
            if o is not None and o.is_open:
                self._close(self._accounts[o.account_id], o, "expired", REASON_EXPIRED, now)
        while self._scheduled and self._scheduled[0][0] <= now:
            _, _, oid = heapq.heappop(self._scheduled)
            o = self._orders.get(oid)
            if o is not None and o.status == "pending":
                pair = self.pairs[o.pair]
                self._activate(self._accounts[o.account_id], o, pair, now)
                self._run_triggers(pair)
        if self._deadman:
            for aid, when in list(self._deadman.items()):
                if when <= now:
                    del self._deadman[aid]
                    acct = self._accounts[aid]
                    acct.cancel_all_at = None
                    for o in list(self._open[aid].values()):
                        self._close(acct, o, "canceled", REASON_CANCEL_ALL_AFTER, now)
                    self._dirty(acct)
        if self.market is not None:
            self.market.tick(now)

    def set_price(self, pair_id: str, price: Decimal) -> None:
        """Move the simulated market's mid price of the pair to ``price`` now (tests, demos).
        Raises ``EGeneral:Invalid arguments`` when the exchange runs without a market."""
        if self.market is None:
            raise ExchangeError(E.invalid_arguments("no simulated market"))
        self.market.set_price(self._pair(pair_id).id, Decimal(price))

    def run_triggers(self, pair_id: str) -> None:
        """Fire stop / take-profit orders of the pair crossed by its last price."""
        self._run_triggers(self._pair(pair_id))

    # ----------------------------------------------------------- drain / load
    def drain_events(self) -> list[Event]:
        """Return and forget the events since the last call."""
        events, self._events = self._events, []
        return events

    def counters(self) -> dict[str, Any]:
        """The id / sequence counters, last prices and market state, JSON-serialisable, for
        :meth:`load`."""
        out: dict[str, Any] = {"seq": self._seq, "trade_id": self._trade_id,
                               "last": {k: str(v) for k, v in self._last.items()}}
        if self.market is not None:
            out["market"] = self.market.state()
        return out

    def drain_changes(self, *, full: bool = False) -> Changes:
        """Return and forget the dirty state since the last call. ``full`` also brings the
        market / fee account snapshot when it changed unpersisted (call it at shutdown)."""
        changes, self._changes = self._changes, Changes()
        if self._quiet_write or (full and self._quiet_pending) or any(
                self._is_quiet(aid) for aid in changes.accounts):
            for aid in (*sorted(self._no_history), FEE_ACCOUNT):
                acct = self._accounts.get(aid)
                if acct is not None:
                    changes.accounts[aid] = acct
            self._quiet_write = self._quiet_pending = False
        changes.accounts = {
            k: Account(a.id, dict(a.balances), dict(a.holds), a.created, a.cancel_all_at)
            for k, a in changes.accounts.items()
        }
        changes.counters = self.counters()
        return changes

    def load(self, accounts: Iterable[Account], orders: Iterable[Order],
             trades: Iterable[Trade], ledger: Iterable[LedgerEntry],
             counters: Mapping[str, Any]) -> None:
        """Replace all state by what the store kept (from earlier :meth:`drain_changes`).

        Open orders go back into the books (time priority by ``seq``), trigger lists, GTD and
        start-time queues; holds are recomputed from the open orders; the public tape is
        rebuilt from the trades, the last prices from ``counters`` (or the trades). Orders of
        the market's ephemeral accounts are skipped (the market rebuilds its ladder). Events
        and changes are cleared."""
        no_history = set(self._no_history)
        self._reset_state()
        self._no_history = no_history
        self._events = []
        self._changes = Changes()
        for a in accounts:
            acct = self._ensure_account(a.id)
            acct.balances = dict(a.balances)
            acct.holds = {}
            acct.created = a.created
            acct.cancel_all_at = a.cancel_all_at
            if a.cancel_all_at is not None:
                self._deadman[a.id] = a.cancel_all_at
        for o in sorted(orders, key=lambda o: o.seq):
            acct = self._ensure_account(o.account_id)
            if acct.id in self._no_history:
                continue  # ephemeral: the market rebuilds its ladder
            if o.is_open:
                self._orders[o.id] = o
                self._open_add(acct.id, o)
                if o.cl_ord_id is not None:
                    self._cl_index[(acct.id, o.cl_ord_id)] = o
                if o.hold_asset is not None and o.hold_amount:
                    acct.holds[o.hold_asset] = acct.holds.get(o.hold_asset, ZERO) + o.hold_amount
                book = self._books.get(o.pair)
                if book is None:
                    continue
                if o.status == "pending":
                    if o.starttm is not None:
                        heapq.heappush(self._scheduled, (o.starttm, o.seq, o.id))
                    continue
                if o.expiretm is not None:
                    heapq.heappush(self._expiry, (o.expiretm, o.seq, o.id))
                if _is_trigger(o) and not o.triggered:
                    assert o.price is not None
                    bisect.insort(book.up if _fires_up(o) else book.down,
                                  (o.price, o.seq, o.id))
                else:
                    limit = self._limit_of(o)
                    if limit is not None:
                        (book.bids if o.side == "buy" else book.asks).add(o, limit)
            elif acct.id not in self._no_history:
                self._orders[o.id] = o
                self._closed[acct.id].append(o)
        for acct_id in self._closed:
            self._closed[acct_id].sort(key=lambda o: (o.closetm or 0.0, o.seq))
        for t in sorted(trades, key=lambda t: (t.time, t.trade_id)):
            self._ensure_account(t.account_id)
            if t.account_id not in self._no_history:
                self._trades[t.account_id].append(t)
            if not t.maker and t.pair in self._stats:
                self._last[t.pair] = t.price
                self._stats[t.pair].add(PublicTrade(
                    t.price, t.volume, t.time, t.side,
                    "market" if t.ordertype in ("market", "stop-loss", "take-profit")
                    else "limit", t.trade_id))
        for e in sorted(ledger, key=lambda e: e.time):
            self._ensure_account(e.account_id)
            if e.account_id not in self._no_history:
                self._ledger[e.account_id].append(e)
        last = counters.get("last")
        if isinstance(last, dict):
            for pid, price in last.items():
                if pid in self._last:
                    self._last[pid] = Decimal(price)
        self._seq = max(int(counters.get("seq", 0)), self._seq)
        self._trade_id = max(int(counters.get("trade_id", 0)), self._trade_id)
        self._rng = random.Random(f"krakenwire-ids:{self.seed}:{self._seq}:{self._trade_id}")
        self._changes = Changes()
        self._quiet_pending = self._quiet_write = False
        if self.market is not None:
            self.market.restore(counters.get("market"))
