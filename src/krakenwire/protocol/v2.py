"""Kraken WebSocket v2: typed messages and their codec, shared by the client and the sandbox.

Wire facts: kraken-protocol.md §6. Numbers are JSON numbers on the wire and :class:`Decimal`
here (never float); ``connection_id`` (uint64) and other ints stay exact ``int``; timestamps are
RFC 3339 strings with microseconds (``2023-09-22T10:33:05.709950Z``, see :func:`rfc3339`).
Optional fields default to :data:`msgspec.UNSET` and are left out when encoding.

Encoding (either side)::

    encode(obj) -> bytes      # any Struct / dict / list; Decimal written as a JSON number

Client side (decoding what the server sends)::

    decode_message(raw) -> Message

``Message`` is one of:

* :class:`StatusFrame` (``channel == "status"``, ``data: list[SystemStatus]``)
* :class:`HeartbeatFrame`
* :class:`ExecutionsFrame` (``data: list[ExecutionReport]``, ``sequence``)
* :class:`BalancesSnapshotFrame` (``data: list[BalanceSnapshot]``) and
  :class:`BalancesUpdateFrame` (``data: list[LedgerUpdate]``), both with ``sequence``
* :class:`TickerFrame`, :class:`BookFrame`, :class:`TradeFrame`, :class:`InstrumentFrame`
* :class:`ChannelFrame` — any other channel (``data`` decoded generically, numbers Decimal)
* :class:`Response` — the reply to a request (``method`` echoes it, ``"pong"`` for ping);
  ``result`` is typed by method: :class:`AddOrderResult` (``add_order``), ``list[AddOrderResult]``
  (``batch_add``), :class:`AmendOrderResult`, :class:`EditOrderResult`,
  :class:`CancelOrderResult`, :class:`CountResult` (``cancel_all``, ``batch_cancel``),
  :class:`CancelAfterResult`, :class:`SubscriptionResult` (``subscribe``/``unsubscribe``);
  other methods get a generic value. ``error`` is Kraken's error string when ``success`` is
  false.

``decode_message`` raises :class:`msgspec.DecodeError` (a ``ValueError``) for bytes that are not
JSON or not a JSON object; :class:`msgspec.ValidationError` when a known frame has a field of
the wrong type.

Client side (building requests)::

    encode(Request(method="add_order", params=AddOrderParams(...), req_id=7))

Server side (the sandbox validating what a client sends)::

    parse_request(raw) -> (method, params: dict, req_id: int | None)   # raises RequestError
    validate_params(method, params) -> dict    # raises RequestError with Kraken's string

:class:`RequestError` carries ``error`` (Kraken's exact string, e.g. ``Unsupported field:
'price' for the given msg type: add order`` or ``Limit_price field must be a number_float``)
and the ``req_id`` / ``method`` to echo when known.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal, TypeAlias

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType

from krakenwire.protocol import errors as E

__all__ = [
    "CHANNEL_METHODS",
    "PRIVATE_CHANNELS",
    "PUBLIC_CHANNELS",
    "TRADING_METHODS",
    "AddOrderParams",
    "AddOrderResult",
    "AmendOrderParams",
    "AmendOrderResult",
    "BalanceSnapshot",
    "BalancesSnapshotFrame",
    "BalancesUpdateFrame",
    "BatchAddParams",
    "BatchCancelParams",
    "BatchOrder",
    "BookData",
    "BookFrame",
    "BookLevel",
    "CancelAfterParams",
    "CancelAfterResult",
    "CancelAllParams",
    "CancelOrderParams",
    "CancelOrderResult",
    "Candle",
    "ChannelFrame",
    "Conditional",
    "CountResult",
    "EditOrderParams",
    "EditOrderResult",
    "ExecutionReport",
    "ExecutionsFrame",
    "Fee",
    "HeartbeatFrame",
    "InstrumentAsset",
    "InstrumentData",
    "InstrumentFrame",
    "InstrumentPair",
    "LedgerUpdate",
    "Message",
    "OhlcFrame",
    "Request",
    "RequestError",
    "Response",
    "StatusFrame",
    "SubscribeParams",
    "SubscriptionResult",
    "SystemStatus",
    "Ticker",
    "TickerFrame",
    "TradeData",
    "TradeFrame",
    "Triggers",
    "Wallet",
    "decode_any",
    "decode_message",
    "encode",
    "parse_request",
    "parse_rfc3339",
    "rfc3339",
    "validate_params",
]

# --------------------------------------------------------------------------------------------
# timestamps


def rfc3339(ts: float) -> str:
    """Format Unix seconds as Kraken's v2 timestamp: UTC, microseconds, ``Z`` suffix
    (``2023-09-22T10:33:05.709950Z``). Never raises for finite ``ts`` within datetime's range."""
    global _SECOND_CACHE
    us = round(ts * 1_000_000)
    secs, micros = divmod(us, 1_000_000)
    cached_secs, prefix = _SECOND_CACHE
    if secs != cached_secs:
        prefix = f"{datetime.fromtimestamp(secs, UTC):%Y-%m-%dT%H:%M:%S}"
        _SECOND_CACHE = (secs, prefix)  # one atomic rebinding: safe across threads
    return f"{prefix}.{micros:06d}Z"


_SECOND_CACHE: tuple[int, str] = (-1, "")


def parse_rfc3339(text: str) -> float:
    """Parse an RFC 3339 timestamp (``Z`` or an offset; any number of fraction digits, also
    none, and also without a zone, read as UTC as in Kraken's batch examples) into Unix
    seconds. Raises ``ValueError`` when ``text`` is not such a timestamp."""
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    frac_digits = ""
    if "." in s:
        head, rest = s.split(".", 1)
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        frac_digits, zone = rest[:i], rest[i:]
        s = head + zone
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    whole: float = dt.timestamp()
    if frac_digits:
        return whole + int(frac_digits) / 10.0 ** len(frac_digits)
    return whole


# --------------------------------------------------------------------------------------------
# codec

_ENCODER: Final = msgspec.json.Encoder(decimal_format="number")
_ANY: Final = msgspec.json.Decoder(float_hook=Decimal)


def encode(obj: Any) -> bytes:
    """Encode a Struct / dict / list as compact JSON; ``Decimal`` becomes a JSON *number*
    (exactly its digits), UNSET fields are omitted. Raises ``TypeError`` for unsupported
    values (e.g. float NaN is allowed by msgspec but never produced here)."""
    return _ENCODER.encode(obj)


def decode_any(raw: bytes | str) -> Any:
    """Decode JSON into plain dicts/lists with every non-integer number as an exact
    ``Decimal`` and integers as ``int``. Raises :class:`msgspec.DecodeError` on bad JSON."""
    return _ANY.decode(raw)


# --------------------------------------------------------------------------------------------
# request side (client -> server)


class Triggers(Struct):
    """``triggers`` of add_order / batch orders / edit_order (and of execution reports)."""

    reference: str | UnsetType = UNSET  # index | last
    price: Decimal | UnsetType = UNSET
    price_type: str | UnsetType = UNSET  # static | pct | quote
    actual_price: Decimal | UnsetType = UNSET
    peak_price: Decimal | UnsetType = UNSET
    last_price: Decimal | UnsetType = UNSET
    status: str | UnsetType = UNSET
    timestamp: str | UnsetType = UNSET


class Conditional(Struct):
    """OTO secondary order of add_order (``conditional``)."""

    order_type: str | UnsetType = UNSET
    limit_price: Decimal | UnsetType = UNSET
    limit_price_type: str | UnsetType = UNSET
    trigger_price: Decimal | UnsetType = UNSET
    trigger_price_type: str | UnsetType = UNSET
    stop_price: Decimal | UnsetType = UNSET


class AddOrderParams(Struct, kw_only=True):
    """``add_order`` params. Required: ``order_type``, ``side``, ``order_qty`` (or
    ``cash_order_qty``), ``symbol`` (v2, ``BTC/USD``), ``token``."""

    order_type: str
    side: str
    symbol: str
    token: str = ""
    order_qty: Decimal | UnsetType = UNSET
    limit_price: Decimal | UnsetType = UNSET
    limit_price_type: str | UnsetType = UNSET
    triggers: Triggers | UnsetType = UNSET
    time_in_force: str | UnsetType = UNSET  # gtc | gtd | ioc | fok
    margin: bool | UnsetType = UNSET
    post_only: bool | UnsetType = UNSET
    reduce_only: bool | UnsetType = UNSET
    effective_time: str | UnsetType = UNSET
    expire_time: str | UnsetType = UNSET
    deadline: str | UnsetType = UNSET
    cl_ord_id: str | UnsetType = UNSET
    order_userref: int | UnsetType = UNSET
    conditional: Conditional | UnsetType = UNSET
    display_qty: Decimal | UnsetType = UNSET
    fee_preference: str | UnsetType = UNSET  # base | quote
    no_mpp: bool | UnsetType = UNSET
    stp_type: str | UnsetType = UNSET  # cancel_newest | cancel_oldest | cancel_both
    cash_order_qty: Decimal | UnsetType = UNSET
    validate: bool | UnsetType = UNSET
    sender_sub_id: str | UnsetType = UNSET


class AmendOrderParams(Struct, kw_only=True):
    """``amend_order`` params: ``order_id`` or ``cl_ord_id``, ``order_qty`` required."""

    token: str = ""
    order_id: str | UnsetType = UNSET
    cl_ord_id: str | UnsetType = UNSET
    order_qty: Decimal | UnsetType = UNSET
    display_qty: Decimal | UnsetType = UNSET
    limit_price: Decimal | UnsetType = UNSET
    limit_price_type: str | UnsetType = UNSET
    post_only: bool | UnsetType = UNSET
    trigger_price: Decimal | UnsetType = UNSET
    trigger_price_type: str | UnsetType = UNSET
    deadline: str | UnsetType = UNSET
    symbol: str | UnsetType = UNSET


class EditOrderParams(Struct, kw_only=True):
    """``edit_order`` params: ``order_id`` and ``symbol`` required."""

    order_id: str
    symbol: str
    token: str = ""
    order_qty: Decimal | UnsetType = UNSET
    limit_price: Decimal | UnsetType = UNSET
    display_qty: Decimal | UnsetType = UNSET
    fee_preference: str | UnsetType = UNSET
    order_userref: int | UnsetType = UNSET
    post_only: bool | UnsetType = UNSET
    reduce_only: bool | UnsetType = UNSET
    triggers: Triggers | UnsetType = UNSET
    deadline: str | UnsetType = UNSET
    validate: bool | UnsetType = UNSET


class CancelOrderParams(Struct, kw_only=True):
    """``cancel_order`` params: any of the three id lists."""

    token: str = ""
    order_id: list[str] | UnsetType = UNSET
    cl_ord_id: list[str] | UnsetType = UNSET
    order_userref: list[int] | UnsetType = UNSET


class CancelAllParams(Struct, kw_only=True):
    """``cancel_all`` params."""

    token: str = ""


class CancelAfterParams(Struct, kw_only=True):
    """``cancel_all_orders_after`` params (``timeout`` seconds, 0 disarms)."""

    timeout: int
    token: str = ""


class BatchOrder(Struct, kw_only=True):
    """One order inside ``batch_add`` (the batch carries ``symbol``)."""

    order_type: str
    side: str
    order_qty: Decimal | UnsetType = UNSET
    limit_price: Decimal | UnsetType = UNSET
    limit_price_type: str | UnsetType = UNSET
    triggers: Triggers | UnsetType = UNSET
    time_in_force: str | UnsetType = UNSET
    margin: bool | UnsetType = UNSET
    post_only: bool | UnsetType = UNSET
    reduce_only: bool | UnsetType = UNSET
    effective_time: str | UnsetType = UNSET
    expire_time: str | UnsetType = UNSET
    cl_ord_id: str | UnsetType = UNSET
    order_userref: int | UnsetType = UNSET
    conditional: Conditional | UnsetType = UNSET
    display_qty: Decimal | UnsetType = UNSET
    fee_preference: str | UnsetType = UNSET
    no_mpp: bool | UnsetType = UNSET
    stp_type: str | UnsetType = UNSET
    cash_order_qty: Decimal | UnsetType = UNSET


class BatchAddParams(Struct, kw_only=True):
    """``batch_add`` params: 2–15 orders on one ``symbol``."""

    orders: list[BatchOrder]
    symbol: str
    token: str = ""
    deadline: str | UnsetType = UNSET
    validate: bool | UnsetType = UNSET


class BatchCancelParams(Struct, kw_only=True):
    """``batch_cancel`` params: 2–50 order ids or userrefs (as strings), or ``cl_ord_id``."""

    token: str = ""
    orders: list[str] | UnsetType = UNSET
    cl_ord_id: list[str] | UnsetType = UNSET


class SubscribeParams(Struct, kw_only=True):
    """``subscribe`` / ``unsubscribe`` params for any channel."""

    channel: str
    token: str | UnsetType = UNSET
    snap_orders: bool | UnsetType = UNSET
    snap_trades: bool | UnsetType = UNSET
    order_status: bool | UnsetType = UNSET
    ratecounter: bool | UnsetType = UNSET
    snapshot: bool | UnsetType = UNSET
    symbol: list[str] | UnsetType = UNSET
    depth: int | UnsetType = UNSET
    event_trigger: str | UnsetType = UNSET


class Request(Struct, kw_only=True):
    """A client request: ``{"method": ..., "params": {...}, "req_id": n}``."""

    method: str
    params: Any = UNSET
    req_id: int | UnsetType = UNSET


# --------------------------------------------------------------------------------------------
# responses (server -> client)


class AddOrderResult(Struct, kw_only=True):
    """``add_order`` result (also each element of ``batch_add``'s result array)."""

    order_id: str | UnsetType = UNSET
    cl_ord_id: str | UnsetType = UNSET
    order_userref: int | UnsetType = UNSET
    error: str | UnsetType = UNSET
    warnings: list[str] | UnsetType = UNSET


class AmendOrderResult(Struct, kw_only=True):
    """``amend_order`` result."""

    amend_id: str
    order_id: str | UnsetType = UNSET
    cl_ord_id: str | UnsetType = UNSET
    warnings: list[str] | UnsetType = UNSET


class EditOrderResult(Struct, kw_only=True):
    """``edit_order`` result: the new ``order_id`` and the replaced ``original_order_id``."""

    order_id: str
    original_order_id: str
    warnings: list[str] | UnsetType = UNSET


class CancelOrderResult(Struct, kw_only=True):
    """One ``cancel_order`` reply (one per cancelled order): the id as the client named it."""

    order_id: str | UnsetType = UNSET
    cl_ord_id: str | UnsetType = UNSET
    order_userref: int | UnsetType = UNSET
    warnings: list[str] | UnsetType = UNSET


class CountResult(Struct, kw_only=True):
    """``cancel_all`` / ``batch_cancel`` result."""

    count: int
    warnings: list[str] | UnsetType = UNSET


class CancelAfterResult(Struct, kw_only=True):
    """``cancel_all_orders_after`` result (camelCase even in v2; second precision)."""

    currentTime: str
    triggerTime: str


class SubscriptionResult(Struct, kw_only=True):
    """``subscribe`` / ``unsubscribe`` result (keys in Kraken's alphabetical order)."""

    channel: str
    depth: int | UnsetType = UNSET
    event_trigger: str | UnsetType = UNSET
    interval: int | UnsetType = UNSET
    maxratecount: int | UnsetType = UNSET
    order_status: bool | UnsetType = UNSET
    ratecounter: bool | UnsetType = UNSET
    snap_orders: bool | UnsetType = UNSET
    snap_trades: bool | UnsetType = UNSET
    snapshot: bool | UnsetType = UNSET
    symbol: str | UnsetType = UNSET
    warnings: list[str] | UnsetType = UNSET


class Response(Struct, kw_only=True):
    """A reply to one request. Keys are declared in alphabetical order, as Kraken sends them.

    ``status`` (``"error"``) and ``channel`` appear only on the ``ESession:Invalid session``
    subscribe refusal; ``symbol`` on pair errors; ``req_id`` only when the request had one.
    """

    channel: str | UnsetType = UNSET
    error: str | UnsetType = UNSET
    method: str
    req_id: int | UnsetType = UNSET
    result: Any = UNSET
    status: str | UnsetType = UNSET
    success: bool | UnsetType = UNSET
    symbol: str | UnsetType = UNSET
    time_in: str | UnsetType = UNSET
    time_out: str | UnsetType = UNSET
    warnings: list[str] | UnsetType = UNSET


# --------------------------------------------------------------------------------------------
# channel frames (server -> client)


class SystemStatus(Struct, kw_only=True):
    """One element of the ``status`` channel."""

    api_version: str
    connection_id: int  # uint64, exact
    system: str  # online | cancel_only | maintenance | post_only
    version: str


class StatusFrame(Struct, kw_only=True):
    """``{"channel":"status","data":[SystemStatus],"type":"update"}``."""

    channel: Literal["status"] = "status"
    data: list[SystemStatus] = msgspec.field(default_factory=list)
    type: str = "update"


class HeartbeatFrame(Struct, kw_only=True):
    """``{"channel":"heartbeat"}``."""

    channel: Literal["heartbeat"] = "heartbeat"


class Fee(Struct):
    """One fee of a trade: ``{"asset": "USD", "qty": 0.3458}``."""

    asset: str
    qty: Decimal


class ExecutionReport(Struct, kw_only=True):
    """One element of the ``executions`` channel. Snapshot and updates share this schema;
    update frames carry only the fields that changed (``new`` / ``canceled`` / ``amended``
    reports have no ``symbol``), so everything but ``order_id`` and ``exec_type`` may be UNSET.
    ``time_in_force`` is upper case here (``GTC``)."""

    order_id: str
    exec_type: str
    order_status: str | UnsetType = UNSET
    timestamp: str | UnsetType = UNSET
    order_userref: int | UnsetType = UNSET
    cl_ord_id: str | UnsetType = UNSET
    exec_id: str | UnsetType = UNSET
    trade_id: int | UnsetType = UNSET
    symbol: str | UnsetType = UNSET
    side: str | UnsetType = UNSET
    order_type: str | UnsetType = UNSET
    order_qty: Decimal | UnsetType = UNSET
    cash_order_qty: Decimal | UnsetType = UNSET
    display_qty: Decimal | UnsetType = UNSET
    display_qty_remain: Decimal | UnsetType = UNSET
    limit_price: Decimal | UnsetType = UNSET
    limit_price_type: str | UnsetType = UNSET
    stop_price: Decimal | UnsetType = UNSET
    triggers: Triggers | UnsetType = UNSET
    contingent: Conditional | UnsetType = UNSET
    last_qty: Decimal | UnsetType = UNSET
    last_price: Decimal | UnsetType = UNSET
    liquidity_ind: str | UnsetType = UNSET  # t | m
    cost: Decimal | UnsetType = UNSET
    cum_qty: Decimal | UnsetType = UNSET
    cum_cost: Decimal | UnsetType = UNSET
    avg_price: Decimal | UnsetType = UNSET
    fees: list[Fee] | UnsetType = UNSET
    fee_usd_equiv: Decimal | UnsetType = UNSET
    fee_ccy_pref: str | UnsetType = UNSET  # fcib | fciq
    time_in_force: str | UnsetType = UNSET
    effective_time: str | UnsetType = UNSET
    expire_time: str | UnsetType = UNSET
    post_only: bool | UnsetType = UNSET
    reduce_only: bool | UnsetType = UNSET
    margin: bool | UnsetType = UNSET
    margin_borrow: bool | UnsetType = UNSET
    liquidated: bool | UnsetType = UNSET
    no_mpp: bool | UnsetType = UNSET
    position_status: str | UnsetType = UNSET
    amended: bool | UnsetType = UNSET
    reason: str | UnsetType = UNSET
    cancel_reason: str | UnsetType = UNSET
    sender_sub_id: str | UnsetType = UNSET
    ext_ord_id: str | UnsetType = UNSET
    ext_exec_id: str | UnsetType = UNSET
    ord_ref_id: str | UnsetType = UNSET
    user: str | UnsetType = UNSET
    #: trading rate counter, with ``ratecounter: true`` (field name UNCONFIRMED)
    ratecount: Decimal | UnsetType = UNSET


class ExecutionsFrame(Struct, kw_only=True):
    """``{"channel":"executions","type":"snapshot"|"update","data":[...],"sequence":n}``."""

    channel: Literal["executions"] = "executions"
    type: str
    data: list[ExecutionReport]
    sequence: int | UnsetType = UNSET


class Wallet(Struct):
    """One wallet inside a balances snapshot entry."""

    type: str  # spot | earn
    id: str  # main | flex | ...
    balance: Decimal


class BalanceSnapshot(Struct, kw_only=True):
    """One asset in a ``balances`` snapshot (v2 asset codes: ``BTC``, ``USD``)."""

    asset: str
    asset_class: str = "currency"
    balance: Decimal
    wallets: list[Wallet] | UnsetType = UNSET


class LedgerUpdate(Struct, kw_only=True):
    """One ledger entry in a ``balances`` update (a trade makes two, sharing ``ref_id``)."""

    ledger_id: str
    ref_id: str
    timestamp: str
    type: str
    asset: str
    asset_class: str = "currency"
    category: str | UnsetType = UNSET
    subtype: str | UnsetType = UNSET
    wallet_type: str = "spot"
    wallet_id: str = "main"
    amount: Decimal
    fee: Decimal = Decimal(0)
    balance: Decimal


class BalancesSnapshotFrame(Struct, kw_only=True):
    """``balances`` snapshot frame."""

    channel: Literal["balances"] = "balances"
    data: list[BalanceSnapshot]
    type: Literal["snapshot"] = "snapshot"
    sequence: int | UnsetType = UNSET


class BalancesUpdateFrame(Struct, kw_only=True):
    """``balances`` update frame."""

    channel: Literal["balances"] = "balances"
    type: Literal["update"] = "update"
    data: list[LedgerUpdate]
    sequence: int | UnsetType = UNSET


class Ticker(Struct, kw_only=True):
    """One ``ticker`` element (level-1 data of one symbol)."""

    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    last: Decimal
    volume: Decimal
    vwap: Decimal
    low: Decimal
    high: Decimal
    change: Decimal
    change_pct: Decimal
    timestamp: str | UnsetType = UNSET


class TickerFrame(Struct, kw_only=True):
    """``ticker`` frame."""

    channel: Literal["ticker"] = "ticker"
    type: str
    data: list[Ticker]


class BookLevel(Struct):
    """One price level: ``{"price": p, "qty": q}`` (qty 0 removes the level in updates)."""

    price: Decimal
    qty: Decimal


class BookData(Struct, kw_only=True):
    """One ``book`` element: levels of one symbol and the CRC32 ``checksum``."""

    symbol: str
    bids: list[BookLevel]
    asks: list[BookLevel]
    checksum: int
    timestamp: str | UnsetType = UNSET


class BookFrame(Struct, kw_only=True):
    """``book`` frame."""

    channel: Literal["book"] = "book"
    type: str
    data: list[BookData]


class TradeData(Struct, kw_only=True):
    """One public trade of the ``trade`` channel (``side`` / ``ord_type`` of the taker)."""

    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    ord_type: str
    trade_id: int
    timestamp: str


class TradeFrame(Struct, kw_only=True):
    """``trade`` frame."""

    channel: Literal["trade"] = "trade"
    type: str
    data: list[TradeData]


class Candle(Struct, kw_only=True):
    """One candle of the ``ohlc`` channel (``interval`` in minutes, ``interval_begin`` with
    nanosecond digits as Kraken sends it)."""

    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    trades: int
    volume: Decimal
    vwap: Decimal
    interval_begin: str
    interval: int
    timestamp: str


class OhlcFrame(Struct, kw_only=True):
    """``ohlc`` frame (snapshot or update; updates carry the candles a trade changed)."""

    channel: Literal["ohlc"] = "ohlc"
    type: str
    timestamp: str
    data: list[Candle]


class InstrumentAsset(Struct, kw_only=True):
    """One asset of the ``instrument`` channel."""

    id: str
    status: str
    precision: int
    precision_display: int
    borrowable: bool = False
    collateral_value: Decimal = Decimal(0)
    margin_rate: Decimal | UnsetType = UNSET


class InstrumentPair(Struct, kw_only=True):
    """One pair of the ``instrument`` channel (trading rules of a v2 symbol)."""

    symbol: str
    base: str
    quote: str
    status: str
    qty_precision: int
    qty_increment: Decimal
    price_precision: int
    cost_precision: int
    marginable: bool = False
    has_index: bool = True
    cost_min: Decimal
    tick_size: Decimal | UnsetType = UNSET
    price_increment: Decimal
    qty_min: Decimal


class InstrumentData(Struct, kw_only=True):
    """The ``instrument`` channel's data object (not a list)."""

    assets: list[InstrumentAsset] = msgspec.field(default_factory=list)
    pairs: list[InstrumentPair] = msgspec.field(default_factory=list)


class InstrumentFrame(Struct, kw_only=True):
    """``instrument`` frame."""

    channel: Literal["instrument"] = "instrument"
    type: str
    data: InstrumentData


class ChannelFrame(Struct, kw_only=True):
    """Any other channel frame; ``data`` is generic JSON with Decimal numbers."""

    channel: str
    type: str | UnsetType = UNSET
    data: Any = UNSET
    sequence: int | UnsetType = UNSET


Message: TypeAlias = (
    StatusFrame
    | HeartbeatFrame
    | ExecutionsFrame
    | BalancesSnapshotFrame
    | BalancesUpdateFrame
    | TickerFrame
    | BookFrame
    | InstrumentFrame
    | TradeFrame
    | ChannelFrame
    | Response
)


_NO_RAW: Final = Raw()


class _Head(Struct, kw_only=True):
    channel: str | None = None
    method: str | None = None
    type: str | None = None
    data: Raw = _NO_RAW
    result: Raw = _NO_RAW
    sequence: int | None = None
    success: bool | None = None
    error: str | None = None
    req_id: int | None = None
    time_in: str | None = None
    time_out: str | None = None
    status: str | None = None
    symbol: str | None = None
    warnings: list[str] | None = None


_HEAD: Final = msgspec.json.Decoder(_Head)
_EXEC_DATA: Final = msgspec.json.Decoder(list[ExecutionReport])
_STATUS_DATA: Final = msgspec.json.Decoder(list[SystemStatus])
_BAL_SNAP: Final = msgspec.json.Decoder(list[BalanceSnapshot])
_BAL_UPD: Final = msgspec.json.Decoder(list[LedgerUpdate])
_TICKER_DATA: Final = msgspec.json.Decoder(list[Ticker])
_BOOK_DATA: Final = msgspec.json.Decoder(list[BookData])
_INSTRUMENT_DATA: Final = msgspec.json.Decoder(InstrumentData)
_TRADE_DATA: Final = msgspec.json.Decoder(list[TradeData])
_RESULTS: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    "add_order": msgspec.json.Decoder(AddOrderResult),
    "batch_add": msgspec.json.Decoder(list[AddOrderResult]),
    "amend_order": msgspec.json.Decoder(AmendOrderResult),
    "edit_order": msgspec.json.Decoder(EditOrderResult),
    "cancel_order": msgspec.json.Decoder(CancelOrderResult),
    "cancel_all": msgspec.json.Decoder(CountResult),
    "batch_cancel": msgspec.json.Decoder(CountResult),
    "cancel_all_orders_after": msgspec.json.Decoder(CancelAfterResult),
    "subscribe": msgspec.json.Decoder(SubscriptionResult),
    "unsubscribe": msgspec.json.Decoder(SubscriptionResult),
}


def _u(value: Any) -> Any:
    return UNSET if value is None else value


def decode_message(raw: bytes | str) -> Message:
    """Decode one server frame into its typed :data:`Message` (see the module docstring).

    Raises :class:`msgspec.DecodeError` for non-JSON / non-object input and
    :class:`msgspec.ValidationError` when a known frame has a field of the wrong type.
    """
    head = _HEAD.decode(raw)
    channel = head.channel
    if head.method is not None:
        result: Any = UNSET
        if head.result:
            dec = _RESULTS.get(head.method)
            result = dec.decode(head.result) if dec is not None else _ANY.decode(head.result)
        return Response(
            channel=_u(channel), error=_u(head.error), method=head.method,
            req_id=_u(head.req_id), result=result, status=_u(head.status),
            success=_u(head.success), symbol=_u(head.symbol), time_in=_u(head.time_in),
            time_out=_u(head.time_out), warnings=_u(head.warnings),
        )
    if channel is None:
        raise msgspec.ValidationError("frame has neither `channel` nor `method`")
    data: Raw | None = head.data or None
    seq = _u(head.sequence)
    if channel == "executions" and data is not None:
        return ExecutionsFrame(type=head.type or "update", data=_EXEC_DATA.decode(data),
                               sequence=seq)
    if channel == "heartbeat":
        return HeartbeatFrame()
    if channel == "status" and data is not None:
        return StatusFrame(data=_STATUS_DATA.decode(data), type=head.type or "update")
    if channel == "balances" and data is not None:
        if head.type == "snapshot":
            return BalancesSnapshotFrame(data=_BAL_SNAP.decode(data), sequence=seq)
        return BalancesUpdateFrame(data=_BAL_UPD.decode(data), sequence=seq)
    if channel == "ticker" and data is not None:
        return TickerFrame(type=head.type or "update", data=_TICKER_DATA.decode(data))
    if channel == "book" and data is not None:
        return BookFrame(type=head.type or "update", data=_BOOK_DATA.decode(data))
    if channel == "trade" and data is not None:
        return TradeFrame(type=head.type or "update", data=_TRADE_DATA.decode(data))
    if channel == "instrument" and data is not None:
        return InstrumentFrame(type=head.type or "snapshot", data=_INSTRUMENT_DATA.decode(data))
    return ChannelFrame(channel=channel, type=_u(head.type),
                        data=_ANY.decode(data) if data is not None else UNSET, sequence=seq)


# --------------------------------------------------------------------------------------------
# server side: request parsing and parameter validation

PRIVATE_CHANNELS: Final = frozenset({"executions", "balances", "level3"})
PUBLIC_CHANNELS: Final = frozenset({"ticker", "book", "trade", "ohlc", "instrument", "status",
                                    "heartbeat"})
TRADING_METHODS: Final = frozenset({
    "add_order", "amend_order", "edit_order", "cancel_order", "cancel_all",
    "cancel_all_orders_after", "batch_add", "batch_cancel",
})
CHANNEL_METHODS: Final = frozenset({"subscribe", "unsubscribe"})
_KNOWN_METHODS: Final = TRADING_METHODS | CHANNEL_METHODS | {"ping"}


class RequestError(Exception):
    """A v2 request was refused before reaching the exchange. ``error`` is Kraken's exact
    string; ``method`` / ``req_id`` are what the reply should echo (when known)."""

    def __init__(self, error: str, *, method: str | None = None,
                 req_id: int | None = None, symbol: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.method = method
        self.req_id = req_id
        self.symbol = symbol


# Field kinds: "num" (JSON number -> Decimal), "int", "bool", "str", "time" (RFC 3339 string),
# "strs" (list of str), "ints" (list of int), "strs_or_ints", nested dict spec, or
# ("list", spec) for a list of objects.
_Spec: TypeAlias = dict[str, Any]

_TRIGGERS: Final[_Spec] = {"reference": "str", "price": "num", "price_type": "str"}
_CONDITIONAL: Final[_Spec] = {
    "order_type": "str", "limit_price": "num", "limit_price_type": "str",
    "trigger_price": "num", "trigger_price_type": "str", "stop_price": "num",
}
_ORDER_FIELDS: Final[_Spec] = {
    "order_type": "str", "side": "str", "order_qty": "num", "limit_price": "num",
    "limit_price_type": "str", "triggers": _TRIGGERS, "time_in_force": "str",
    "margin": "bool", "post_only": "bool", "reduce_only": "bool", "effective_time": "time",
    "expire_time": "time", "cl_ord_id": "str", "order_userref": "int",
    "conditional": _CONDITIONAL, "display_qty": "num", "fee_preference": "str",
    "no_mpp": "bool", "stp_type": "str", "cash_order_qty": "num", "stop_price": "num",
    "trigger": "str", "sender_sub_id": "str",
}
_SPECS: Final[dict[str, _Spec]] = {
    "add_order": {**_ORDER_FIELDS, "symbol": "str", "token": "str", "deadline": "time",
                  "validate": "bool"},
    "amend_order": {
        "order_id": "str", "cl_ord_id": "str", "order_qty": "num", "display_qty": "num",
        "limit_price": "num", "limit_price_type": "str", "post_only": "bool",
        "trigger_price": "num", "trigger_price_type": "str", "deadline": "time",
        "symbol": "str", "token": "str",
    },
    "edit_order": {
        "order_id": "str", "symbol": "str", "order_qty": "num", "limit_price": "num",
        "display_qty": "num", "fee_preference": "str", "order_userref": "int",
        "post_only": "bool", "reduce_only": "bool", "triggers": _TRIGGERS, "deadline": "time",
        "validate": "bool", "token": "str", "no_mpp": "bool",
    },
    "cancel_order": {"order_id": "strs", "cl_ord_id": "strs", "order_userref": "ints",
                     "token": "str"},
    "cancel_all": {"token": "str"},
    "cancel_all_orders_after": {"timeout": "int", "token": "str"},
    "batch_add": {"orders": ("list", _ORDER_FIELDS), "symbol": "str", "token": "str",
                  "deadline": "time", "validate": "bool"},
    "batch_cancel": {"orders": "strs_or_ints", "cl_ord_id": "strs", "token": "str"},
    "subscribe": {
        "channel": "str", "token": "str", "snap_orders": "bool", "snap_trades": "bool",
        "order_status": "bool", "ratecounter": "bool", "rebased": "bool", "users": "str",
        "snapshot": "bool", "snapshot_trades": "bool", "symbol": "strs", "depth": "int",
        "event_trigger": "str", "interval": "int",
    },
}
_SPECS["unsubscribe"] = _SPECS["subscribe"]

_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "add_order": ("order_type", "side", "symbol"),
    "amend_order": (),
    "edit_order": ("order_id", "symbol"),
    "cancel_order": (),
    "cancel_all": (),
    "cancel_all_orders_after": ("timeout",),
    "batch_add": ("orders", "symbol"),
    "batch_cancel": (),
    "subscribe": ("channel",),
    "unsubscribe": ("channel",),
}


def parse_request(raw: bytes | str) -> tuple[str, dict[str, Any], int | None]:
    """Split a client frame into ``(method, params, req_id)`` with numbers as Decimal/int.

    Raises :class:`RequestError`: not a JSON object → ``Malformed request``; no or unknown
    ``method`` → ``Unsupported event``; ``params`` on ping → ``Unsupported field: 'params'
    for the given msg type: ping``; a non-integer ``req_id`` or an unknown top-level key →
    ``Unsupported field: '<key>' for the given msg type: <method>``.
    """
    try:
        msg = _ANY.decode(raw)
    except msgspec.DecodeError:
        raise RequestError(E.MALFORMED_REQUEST) from None
    if not isinstance(msg, dict):
        raise RequestError(E.MALFORMED_REQUEST)
    rid = msg.get("req_id")
    req_id = rid if isinstance(rid, int) and not isinstance(rid, bool) else None
    method = msg.get("method")
    if not isinstance(method, str) or method not in _KNOWN_METHODS:
        raise RequestError(E.UNSUPPORTED_EVENT, method=method if isinstance(method, str)
                           else None, req_id=req_id)
    for key in msg:
        if key not in ("method", "params", "req_id") or (key == "params" and method == "ping"):
            raise RequestError(E.unsupported_field(key, method), method=method, req_id=req_id)
    if "req_id" in msg and req_id is None:
        raise RequestError(E.unsupported_field("req_id", method), method=method)
    params = msg.get("params", {})
    if not isinstance(params, dict):
        raise RequestError(E.MALFORMED_REQUEST, method=method, req_id=req_id)
    return method, params, req_id


def _check(spec: _Spec, obj: dict[str, Any], method: str, out: dict[str, Any]) -> None:
    for key, value in obj.items():
        kind = spec.get(key)
        if kind is None:
            raise RequestError(E.unsupported_field(key, method), method=method)
        out[key] = _check_value(key, kind, value, method)


def _check_value(key: str, kind: Any, value: Any, method: str) -> Any:
    bad = E.invalid_arguments(key)
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            raise RequestError(bad, method=method)
        sub: dict[str, Any] = {}
        _check(kind, value, method, sub)
        return sub
    if isinstance(kind, tuple):
        if not isinstance(value, list):
            raise RequestError(bad, method=method)
        items = []
        for item in value:
            if not isinstance(item, dict):
                raise RequestError(bad, method=method)
            sub = {}
            _check(kind[1], item, method, sub)
            items.append(sub)
        return items
    if kind == "num":
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise RequestError(E.must_be_number(key), method=method)
        return Decimal(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(bad, method=method)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise RequestError(bad, method=method)
        return value
    if kind in ("str", "time"):
        if not isinstance(value, str):
            raise RequestError(bad, method=method)
        if kind == "time":
            try:
                return parse_rfc3339(value)
            except ValueError:
                raise RequestError(bad, method=method) from None
        return value
    if kind in ("strs", "ints", "strs_or_ints"):
        if not isinstance(value, list):
            raise RequestError(bad, method=method)
        for item in value:
            ok_str = isinstance(item, str) and kind != "ints"
            ok_int = (isinstance(item, int) and not isinstance(item, bool)
                      and kind != "strs")
            if not (ok_str or ok_int):
                raise RequestError(bad, method=method)
        return [str(i) for i in value] if kind == "strs_or_ints" else list(value)
    raise AssertionError(f"unknown field kind {kind!r}")  # pragma: no cover


def validate_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check ``params`` of a subscribe/unsubscribe or trading ``method`` against Kraken's
    schema and return a copy with times (``effective_time``, ``expire_time``, ``deadline``)
    converted to Unix seconds and numbers to ``Decimal`` (``batch_cancel.orders`` to str).

    Raises :class:`RequestError` with Kraken's string: unknown key → ``Unsupported field:
    '<key>' for the given msg type: <method with spaces>``; a number field given as anything
    but a JSON number → ``<Field> field must be a number_float``; other wrong types and
    missing required fields → ``EGeneral:Invalid arguments:<field>``. The token is *not*
    checked here (the transport does, to pick ``Token(s) not found`` vs. a session error).
    """
    spec = _SPECS.get(method)
    if spec is None:
        raise RequestError(E.UNSUPPORTED_EVENT, method=method)
    out: dict[str, Any] = {}
    _check(spec, params, method, out)
    for key in _REQUIRED.get(method, ()):
        if key not in out:
            raise RequestError(E.invalid_arguments(key), method=method)
    return out
