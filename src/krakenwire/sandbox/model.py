"""The sandbox's data model: accounts, orders, trades, ledger entries and exchange events.

Plain mutable dataclasses owned by :class:`krakenwire.sandbox.exchange.Exchange`. Everything
else (the store, the REST and WebSocket renderers) reads them; only the exchange mutates them.
Money is :class:`~decimal.Decimal`; times are float Unix seconds from the injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

Side = Literal["buy", "sell"]
OrderType = Literal[
    "market", "limit", "stop-loss", "take-profit", "stop-loss-limit", "take-profit-limit"
]
OrderStatus = Literal["pending", "open", "closed", "canceled", "expired"]
TimeInForce = Literal["GTC", "IOC", "GTD", "FOK"]
StpType = Literal["cancel-newest", "cancel-oldest", "cancel-both"]
# What happened to an order in one event, in WS v2 ``exec_type`` vocabulary.
ExecType = Literal[
    "pending_new", "new", "trade", "filled", "canceled", "expired", "amended", "restated", "status"
]

ZERO = Decimal(0)


@dataclass(slots=True)
class Account:
    """One account: balances (total, including what is held) and holds for open orders."""

    id: str
    balances: dict[str, Decimal] = field(default_factory=dict)  # asset REST id -> total
    holds: dict[str, Decimal] = field(default_factory=dict)  # asset REST id -> held
    created: float = 0.0
    # dead-man switch: time at which all orders are cancelled, or None
    cancel_all_at: float | None = None

    def available(self, asset: str) -> Decimal:
        """Balance minus holds for ``asset``."""
        return self.balances.get(asset, ZERO) - self.holds.get(asset, ZERO)


@dataclass(slots=True)
class OrderRequest:
    """A new order as the transports hand it to the exchange (names already resolved).

    ``pair`` is the REST pair id. For stop/take-profit types ``price`` is the trigger price and
    ``price2`` the limit price of the ``*-limit`` variants. ``cash_order_qty`` (quote amount,
    buy market only) may replace ``volume``.
    """

    pair: str
    side: Side
    ordertype: OrderType
    volume: Decimal
    price: Decimal | None = None
    price2: Decimal | None = None
    timeinforce: TimeInForce = "GTC"
    post_only: bool = False
    starttm: float | None = None
    expiretm: float | None = None
    userref: int | None = None
    cl_ord_id: str | None = None
    validate: bool = False
    stp_type: StpType = "cancel-newest"
    trigger: Literal["last", "index"] = "last"
    reduce_only: bool = False
    fee_in_base: bool = False  # fcib; default is fee in quote (fciq)
    no_mpp: bool = False
    cash_order_qty: Decimal | None = None
    deadline: float | None = None
    display_qty: Decimal | None = None


@dataclass(slots=True)
class Order:
    """One order, open or finished."""

    id: str  # O-id, e.g. OUF4EM-FRGI2-MQMWZD
    account_id: str
    pair: str  # REST pair id
    side: Side
    ordertype: OrderType
    volume: Decimal
    price: Decimal | None  # limit price, or trigger price for stop / take-profit types
    price2: Decimal | None  # limit price of *-limit trigger types
    status: OrderStatus
    opentm: float
    seq: int  # time priority inside the book (monotonic per exchange)
    timeinforce: TimeInForce = "GTC"
    post_only: bool = False
    starttm: float | None = None
    expiretm: float | None = None
    closetm: float | None = None
    userref: int | None = None
    cl_ord_id: str | None = None
    stp_type: StpType = "cancel-newest"
    trigger: Literal["last", "index"] = "last"
    fee_in_base: bool = False
    cash_order_qty: Decimal | None = None
    vol_exec: Decimal = ZERO
    cost: Decimal = ZERO
    fee: Decimal = ZERO
    triggered: bool = False  # trigger types: has the trigger price been touched
    reason: str | None = None  # cancel / expire reason ("User requested", ...)
    amended: bool = False
    amended_at: float | None = None  # last amend time (for trading-counter age)
    lastupdated: float = 0.0
    hold_asset: str | None = None
    hold_amount: Decimal = ZERO  # still held for this order
    refid: str | None = None  # the order this one replaced (edit_order)
    display_qty: Decimal | None = None

    @property
    def remaining(self) -> Decimal:
        """Volume not yet executed."""
        return self.volume - self.vol_exec

    @property
    def avg_price(self) -> Decimal:
        """Average execution price (0 when nothing executed)."""
        return self.cost / self.vol_exec if self.vol_exec else ZERO

    @property
    def is_open(self) -> bool:
        """True while the order can still trade (pending or open)."""
        return self.status in ("pending", "open")


@dataclass(slots=True)
class Trade:
    """One fill of one order (each match makes two: one per side)."""

    id: str  # T-id
    order_id: str
    account_id: str
    pair: str
    side: Side
    ordertype: OrderType
    price: Decimal
    volume: Decimal
    cost: Decimal
    fee: Decimal
    fee_asset: str  # REST asset id
    time: float
    maker: bool
    trade_id: int  # public trade id (shared by both sides of one match)
    postxid: str = ""  # position / counter-trade id, Kraken's "postxid"
    #: taker fills: the ``trade_id`` of the first fill of the matching pass this fill belongs
    #: to (the fills one order takes in one pass share it: v1 ``consolidate_taker`` merges
    #: them); 0 for maker fills and for fills stored before the field existed
    sweep: int = 0


@dataclass(slots=True)
class LedgerEntry:
    """One balance change (a trade makes one per asset moved)."""

    id: str  # L-id
    refid: str  # trade or order id that caused it
    account_id: str
    time: float
    type: str  # trade | deposit | adjustment ...
    asset: str  # REST asset id
    amount: Decimal
    fee: Decimal
    balance: Decimal  # balance after


@dataclass(slots=True)
class OrderEvent:
    """Something happened to an order. ``order`` is a *copy* of the order taken right after the
    event (later changes do not show through it).

    ``exec_type`` follows WS v2's vocabulary; the v1 and v2 renderers derive their frames
    (full entry for a new order, deltas afterwards) from it. ``trade`` is set for
    ``exec_type == "trade"``.
    """

    exec_type: ExecType
    order: Order
    time: float
    trade: Trade | None = None


@dataclass(frozen=True, slots=True)
class PublicTrade:
    """One match as the public tape shows it (REST ``Trades``, WS ``trade`` channel).

    ``side`` and ``ordertype`` are the taker's; ``trade_id`` is shared with the two private
    :class:`Trade` records of the match.
    """

    price: Decimal
    volume: Decimal
    time: float
    side: Side
    ordertype: str  # "market" or "limit"
    trade_id: int
    misc: str = ""


@dataclass(slots=True)
class BalanceEvent:
    """A ledger entry was written for an account."""

    entry: LedgerEntry


Event = OrderEvent | BalanceEvent
