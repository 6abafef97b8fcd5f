"""The sandbox's WebSocket v2 endpoints: ``/ws-auth/v2`` (private) and ``/ws/v2`` (public).

Wire facts: kraken-protocol.md §6 and the sandbox policy of §10. One :class:`V2Session` per
connection; it talks to the exchange only through :class:`~krakenwire.sandbox.core.SandboxCore`
(``run`` / ``publish`` / ``listen``) and the gate (tokens, permissions, trading counters), so
orders placed here are the same orders REST sees, and REST orders show on ``executions``.

Behaviour:

* A ``status`` greeting on connect; ``heartbeat`` about once a second when nothing else was
  sent, once something is subscribed; app-level ``ping`` → ``pong`` with ``time_in`` /
  ``time_out``.
* A connection with no private subscription (``/ws-auth/v2``) or no subscription at all
  (``/ws/v2``) for ``ws_common.idle_timeout(core)`` seconds (60 by default) of the sandbox
  clock is closed.
* ``executions`` (``snap_orders``, ``snap_trades``, ``order_status``, ``ratecounter``) and
  ``balances`` (``snapshot``): ack, snapshot (sequence 1), then one update frame per event with
  a per-subscription ``sequence``. A subscription whose token stops being valid (e.g. the admin
  invalidated every token) gets the ``ESession:Invalid session`` frame and ends.
* ``ticker``, ``book`` (with Kraken's CRC32 checksum), ``trade``, ``ohlc`` (candles of the
  public tape; updates carry the candles a trade changed) and ``instrument`` for the
  sandbox pairs on the public path; updates about once a second as the market moves.
* Trading methods (``add_order``, ``amend_order``, ``edit_order``, ``cancel_order`` — one
  reply per cancelled order —, ``cancel_all``, ``cancel_all_orders_after``, ``batch_add``,
  ``batch_cancel``): v2 validation first (:func:`krakenwire.protocol.v2.validate_params`),
  then the same entry points as the other transports (:mod:`krakenwire.sandbox.ws_common`:
  permission, engine status, trading counter, open-order cap, exchange). Each runs inside
  ``core.exclusive()`` so no tick's events come between an order's own: the reply, then
  ``pending_new``, ``new``, ``trade``…, ``filled`` (§10).
* Fault switches from :class:`~krakenwire.sandbox.core.Faults`: ``ws_drop_midstream``,
  ``ws_drop_before_reply`` (both one-shot), ``ws_no_heartbeat``, ``ws_ack_after_events`` (also
  ``Settings.ack_after_events``); ``system_status`` is what ``status`` frames report (a change
  is pushed). On application shutdown every socket is closed with code 1001.

The rendering helpers at the top (:func:`order_report`, :func:`snapshot_report`,
:func:`ledger_update`, :func:`balance_snapshot`, :func:`book_checksum`, ...) are pure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import zlib
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any, Final, cast

from aiohttp import WSMsgType, web
from msgspec import UNSET

from krakenwire.protocol import errors as E
from krakenwire.protocol import v2
from krakenwire.protocol.naming import ASSETS, Pair
from krakenwire.protocol.v2 import (
    AddOrderResult,
    AmendOrderResult,
    BalanceSnapshot,
    BookData,
    BookLevel,
    CancelAfterResult,
    CancelOrderResult,
    CountResult,
    EditOrderResult,
    ExecutionReport,
    Fee,
    LedgerUpdate,
    RequestError,
    Response,
    SubscriptionResult,
    SystemStatus,
    Ticker,
    Wallet,
    encode,
    rfc3339,
)
from krakenwire.sandbox import ws_common as wsc
from krakenwire.sandbox.core import Listener, SandboxCore
from krakenwire.sandbox.exchange import ExchangeError
from krakenwire.sandbox.gate import GateError, KeyRecord
from krakenwire.sandbox.model import (
    BalanceEvent,
    Event,
    LedgerEntry,
    Order,
    OrderEvent,
    OrderRequest,
    OrderType,
    PublicTrade,
    Trade,
)

__all__ = [
    "V2Session",
    "add_routes",
    "balance_snapshot",
    "book_checksum",
    "ledger_update",
    "order_report",
    "order_request",
    "snapshot_report",
    "trade_snapshot_report",
]

log = logging.getLogger("krakenwire.sandbox.ws_v2")

#: real seconds between the connection's housekeeping passes
_TIMER_STEP: Final = 0.2
#: real seconds between public channel (ticker / book) updates
_PUBLIC_STEP: Final = 1.0

_ZERO: Final = Decimal(0)
_ZERO_1: Final = Decimal("0.0")
_ONE: Final = Decimal(1)
_HEARTBEAT: Final = b'{"channel":"heartbeat"}'
_API_VERSION: Final = "v2"
_SERVER_VERSION: Final = "2.0.10"
_BOOK_DEPTHS: Final = (10, 25, 100, 500, 1000)
_TRIGGER_TYPES: Final = frozenset(
    {"stop-loss", "take-profit", "stop-loss-limit", "take-profit-limit"})
_ORDER_TYPES: Final = frozenset({"market", "limit", "iceberg"}) | _TRIGGER_TYPES
#: exec types still streamed with ``order_status: false``
_OPEN_CLOSE: Final = frozenset({"new", "trade", "filled", "canceled", "expired"})
_NO_MPP: Final = "no_mpp order option is only available when ordertype = market"


# ============================================================================================
# pure rendering


def wire(value: Decimal) -> Decimal:
    """A Decimal as it should go on the wire: zero as ``0.0``, no positive exponent."""
    if not value:
        return _ZERO_1
    exp = value.as_tuple().exponent
    if isinstance(exp, int) and exp > 0:
        return value.quantize(_ONE, ROUND_HALF_EVEN)
    return value


def v2_status(order: Order) -> str:
    """The v2 ``order_status`` of an order now."""
    st = order.status
    if st == "pending":
        return "pending_new"
    if st == "open":
        return "partially_filled" if order.vol_exec > 0 else "new"
    if st == "closed":
        return "filled"
    return st  # canceled | expired


def _v2_type(order: Order) -> str:
    if order.ordertype == "limit" and order.display_qty is not None:
        return "iceberg"
    return order.ordertype


def _limit_price(order: Order) -> Decimal | None:
    if order.ordertype == "limit":
        return order.price
    if order.ordertype.endswith("-limit"):
        return order.price2
    return None


def _opt(value: Any) -> Any:
    return UNSET if value is None else value


def _ident(order: Order) -> dict[str, Any]:
    out: dict[str, Any] = {"order_userref": order.userref or 0}
    if order.cl_ord_id is not None:
        out["cl_ord_id"] = order.cl_ord_id
    return out


UsdRate = Callable[[str], Decimal | None]
"""Price of one unit of a REST asset id in USD (None when unknown)."""


def _usd(amount: Decimal, asset: str, usd_rate: UsdRate) -> Decimal:
    rate = usd_rate(asset)
    if rate is None or not amount:
        return _ZERO_1
    return wire((amount * rate).quantize(Decimal("0.0001"), ROUND_HALF_EVEN))


def _px(price: Decimal, pair: Pair) -> Decimal:
    """A price with the pair's price decimals (``1000`` → ``1000.0`` for BTC/USD)."""
    return price.quantize(Decimal(1).scaleb(-pair.pair_decimals), ROUND_HALF_EVEN)


def _avg(order: Order, pair: Pair) -> Decimal:
    """Average fill price, rounded to the pair's price decimals (0.0 before any fill)."""
    if not order.vol_exec:
        return _ZERO_1
    return order.avg_price.quantize(Decimal(1).scaleb(-pair.pair_decimals), ROUND_HALF_EVEN)


OHLC_INTERVALS: Final = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)


def ohlc_candles(pair: Pair, tape: Iterable[PublicTrade], interval: int, stamp: str, *,
                 after_id: int = -1) -> list[v2.Candle]:
    """The ``ohlc`` candles of ``interval`` minutes built from the public ``tape``, oldest
    first; only the candles holding a trade with id > ``after_id`` (all by default)."""
    seconds = interval * 60
    buckets: dict[int, list[Any]] = {}
    touched: set[int] = set()
    for t in tape:
        start = int(t.time) // seconds * seconds
        b = buckets.get(start)
        if b is None:
            buckets[start] = [t.price, t.price, t.price, t.price, t.volume, t.price * t.volume, 1]
        else:
            b[1], b[2], b[3] = max(b[1], t.price), min(b[2], t.price), t.price
            b[4] += t.volume
            b[5] += t.price * t.volume
            b[6] += 1
        if t.trade_id > after_id:
            touched.add(start)
    qexp = Decimal(1).scaleb(-pair.lot_decimals)
    out = []
    for start in sorted(touched):
        o, h, lo, c, v, pv, n = buckets[start]
        begin = f"{datetime.fromtimestamp(start, UTC):%Y-%m-%dT%H:%M:%S}.000000000Z"
        out.append(v2.Candle(
            symbol=pair.symbol, open=_px(o, pair), high=_px(h, pair), low=_px(lo, pair),
            close=_px(c, pair), trades=n, volume=wire(v.quantize(qexp, ROUND_HALF_EVEN)),
            vwap=_px(pv / v if v else c, pair), interval_begin=begin, interval=interval,
            timestamp=stamp))
    return out


def _fee_asset(order: Order, pair: Pair) -> str:
    return pair.base if order.fee_in_base else pair.quote


def snapshot_report(order: Order, pair: Pair, ts: float, usd_rate: UsdRate,
                    exec_type: str | None = None) -> ExecutionReport:
    """The full report of an order: ``pending_new`` events and snapshot entries.

    ``exec_type`` defaults to ``pending_new`` for a pending (or untriggered) order and ``new``
    otherwise, as Kraken's snapshots show."""
    limit = _limit_price(order)
    trig = order.ordertype in _TRIGGER_TYPES
    if exec_type is None:
        exec_type = "pending_new" if order.status == "pending" else "new"
    rep = ExecutionReport(
        order_id=order.id, exec_type=exec_type, order_status=v2_status(order),
        timestamp=rfc3339(ts), symbol=pair.symbol, side=order.side, order_type=_v2_type(order),
        order_qty=wire(order.volume), cum_cost=wire(order.cost),
        time_in_force=order.timeinforce, limit_price_type=UNSET if limit is None else "static",
        limit_price=UNSET if limit is None else _px(limit, pair),
        stop_price=_px(order.price, pair) if trig and order.price is not None else _ZERO_1,
        fee_usd_equiv=_usd(order.fee, _fee_asset(order, pair), usd_rate),
        fee_ccy_pref="fcib" if order.fee_in_base else "fciq",
        post_only=True if order.post_only else UNSET,
        display_qty=_opt(order.display_qty and wire(order.display_qty)),
        cash_order_qty=_opt(order.cash_order_qty and wire(order.cash_order_qty)),
        expire_time=UNSET if order.expiretm is None else rfc3339(order.expiretm),
        effective_time=UNSET if order.starttm is None else rfc3339(order.starttm),
        **_ident(order),
    )
    if trig and order.price is not None:
        rep.triggers = v2.Triggers(
            reference=order.trigger, price=_px(order.price, pair), price_type="static",
            status="triggered" if order.triggered else "untriggered")
    if order.vol_exec:
        rep.cum_qty = wire(order.vol_exec)
        rep.avg_price = _avg(order, pair)
    if order.amended:
        rep.amended = True
    return rep


def _trade_fields(trade: Trade, pair: Pair, usd_rate: UsdRate) -> dict[str, Any]:
    fee_asset = ASSETS[trade.fee_asset].v2 if trade.fee_asset in ASSETS else trade.fee_asset
    return {
        "exec_id": trade.id, "trade_id": trade.trade_id, "symbol": pair.symbol,
        "side": trade.side, "last_qty": wire(trade.volume), "last_price": _px(trade.price, pair),
        "liquidity_ind": "m" if trade.maker else "t", "cost": wire(trade.cost),
        "fee_usd_equiv": _usd(trade.fee, trade.fee_asset, usd_rate),
        "fees": [Fee(asset=fee_asset, qty=wire(trade.fee))],
    }


def trade_snapshot_report(trade: Trade, order: Order | None, pair: Pair,
                          usd_rate: UsdRate) -> ExecutionReport:
    """A past fill as an element of the ``snap_trades`` snapshot."""
    extra: dict[str, Any] = {}
    if order is not None:
        extra = _ident(order)
        extra["order_status"] = v2_status(order)
    return ExecutionReport(
        order_id=trade.order_id, exec_type="trade", order_type=trade.ordertype,
        timestamp=rfc3339(trade.time), **_trade_fields(trade, pair, usd_rate), **extra)


def order_report(event: OrderEvent, pair: Pair, usd_rate: UsdRate) -> ExecutionReport:
    """The update report of one exchange event, in Kraken's shapes: a full report for
    ``pending_new``, deltas (no ``symbol``) for ``new`` / ``canceled`` / ``expired`` /
    ``amended`` / ``filled`` / ``status``, a trade report with the fill's figures."""
    o = event.order
    et = event.exec_type
    ts = rfc3339(event.time)
    if et == "pending_new":
        return snapshot_report(o, pair, event.time, usd_rate, "pending_new")
    if et == "trade" and event.trade is not None:
        return ExecutionReport(
            order_id=o.id, exec_type="trade", order_type=_v2_type(o), timestamp=ts,
            order_status="partially_filled", cum_qty=wire(o.vol_exec), cum_cost=wire(o.cost),
            avg_price=_avg(o, pair), **_trade_fields(event.trade, pair, usd_rate),
            **_ident(o))
    if et == "new":
        return ExecutionReport(timestamp=ts, order_status="new", exec_type="new",
                               order_id=o.id, **_ident(o))
    if et in ("canceled", "expired", "filled"):
        rep = ExecutionReport(
            timestamp=ts, order_status=et, exec_type=et, order_id=o.id,
            cum_qty=wire(o.vol_exec), cum_cost=wire(o.cost),
            fee_usd_equiv=_usd(o.fee, _fee_asset(o, pair), usd_rate),
            avg_price=_avg(o, pair), **_ident(o))
        if et != "filled":
            reason = o.reason or ("User requested" if et == "canceled" else "Order expired")
            rep.reason = reason
            if et == "canceled":
                rep.cancel_reason = reason
        return rep
    if et in ("amended", "restated"):
        limit = _limit_price(o)
        # as Kraken's recorded amend report: cum_qty, "reason":"User requested" and the
        # limit price's type come with the new quantity and price
        amend_reason = "User requested" if et == "amended" else (o.reason or UNSET)
        rep = ExecutionReport(
            order_id=o.id, exec_type=et, order_status=v2_status(o), timestamp=ts,
            order_qty=wire(o.volume), cum_qty=wire(o.vol_exec), amended=True,
            limit_price=UNSET if limit is None else _px(limit, pair),
            limit_price_type=UNSET if limit is None else "static",
            display_qty=_opt(o.display_qty and wire(o.display_qty)),
            reason=amend_reason, **_ident(o))
        if o.post_only:
            rep.post_only = True
        if o.ordertype in _TRIGGER_TYPES and o.price is not None:
            rep.triggers = v2.Triggers(price=_px(o.price, pair), price_type="static")
        return rep
    # "status": e.g. a trigger fired
    rep = ExecutionReport(order_id=o.id, exec_type=et, order_status=v2_status(o),
                          timestamp=ts, **_ident(o))
    if o.ordertype in _TRIGGER_TYPES and o.price is not None:
        rep.triggers = v2.Triggers(
            reference=o.trigger, price=_px(o.price, pair), price_type="static",
            status="triggered" if o.triggered else "untriggered",
            timestamp=ts)
    return rep


def _v2_asset(asset_id: str) -> str:
    a = ASSETS.get(asset_id)
    return a.v2 if a is not None else asset_id


def balance_snapshot(balances: dict[str, Decimal]) -> list[BalanceSnapshot]:
    """The ``balances`` snapshot of an account's total balances (REST ids → v2 codes)."""
    out = []
    for asset_id, amount in balances.items():
        value = wire(amount)
        out.append(BalanceSnapshot(asset=_v2_asset(asset_id), balance=value,
                                   wallets=[Wallet(type="spot", id="main", balance=value)]))
    return out


def ledger_update(entry: LedgerEntry) -> LedgerUpdate:
    """One ``balances`` update element for a ledger entry."""
    return LedgerUpdate(
        ledger_id=entry.id, ref_id=entry.refid, timestamp=rfc3339(entry.time),
        type=entry.type, asset=_v2_asset(entry.asset), category=entry.type,
        amount=wire(entry.amount), fee=wire(entry.fee), balance=wire(entry.balance))


def _crc_part(value: Decimal, places: int) -> str:
    text = f"{value:.{places}f}".replace(".", "").lstrip("0")
    return text


def book_checksum(bids: list[BookLevel], asks: list[BookLevel], pair: Pair) -> int:
    """Kraken's v2 book checksum: CRC32 over the top 10 asks (best first) then the top 10 bids,
    each price and quantity printed with the pair's decimals, the dot and leading zeros
    removed."""
    parts = []
    for level in (*asks[:10], *bids[:10]):
        parts.append(_crc_part(level.price, pair.pair_decimals))
        parts.append(_crc_part(level.qty, pair.lot_decimals))
    return zlib.crc32("".join(parts).encode()) & 0xFFFFFFFF


# ============================================================================================
# request mapping (v2 params -> exchange request)


def _bad(field_name: str) -> RequestError:
    return RequestError(E.invalid_arguments(field_name))


def order_request(p: dict[str, Any], pair: Pair, *, deadline: float | None = None,
                  validate: bool = False) -> OrderRequest:
    """Turn validated ``add_order`` / batch-order params into an :class:`OrderRequest`.

    Raises :class:`RequestError` (``EGeneral:Invalid arguments:<field>`` and Kraken's
    ``no_mpp`` wording) for combinations the sandbox refuses before the exchange sees them.
    """
    otype = p.get("order_type")
    if otype not in _ORDER_TYPES:
        raise _bad("order_type")
    side = p.get("side")
    if side not in ("buy", "sell"):
        raise _bad("side")
    model_type = "limit" if otype == "iceberg" else otype
    qty = p.get("order_qty")
    cash = p.get("cash_order_qty")
    if qty is None and cash is None:
        raise _bad("order_qty")
    if p.get("limit_price_type", "static") != "static":
        raise _bad("limit_price_type")
    trig = p.get("triggers") or {}
    if trig.get("price_type", "static") != "static":
        raise _bad("triggers")
    trig_price = trig.get("price", p.get("stop_price"))
    limit = p.get("limit_price")
    price: Decimal | None
    price2: Decimal | None = None
    if model_type in _TRIGGER_TYPES:
        if trig_price is None:
            raise _bad("triggers")
        price = trig_price
        if model_type.endswith("-limit"):
            if limit is None:
                raise _bad("limit_price")
            price2 = limit
    elif model_type == "limit":
        if limit is None:
            raise _bad("limit_price")
        price = limit
    else:
        price = None
    if p.get("no_mpp") and model_type != "market":
        raise RequestError(E.invalid_arguments(_NO_MPP))
    if p.get("margin"):
        raise _bad("margin")
    tif = str(p.get("time_in_force", "gtc")).upper()
    if tif not in ("GTC", "GTD", "IOC", "FOK"):
        raise _bad("time_in_force")
    stp = str(p.get("stp_type", "cancel_newest")).replace("_", "-")
    if stp not in ("cancel-newest", "cancel-oldest", "cancel-both"):
        raise _bad("stp_type")
    fee_pref = p.get("fee_preference", "quote")
    if fee_pref not in ("base", "quote"):
        raise _bad("fee_preference")
    if "cl_ord_id" in p and "order_userref" in p:
        raise _bad("cl_ord_id")
    # Kraken documents ``triggers.reference`` with default ``last`` (as REST ``trigger``)
    reference = trig.get("reference", p.get("trigger", "last"))
    if reference not in ("index", "last"):
        raise _bad("triggers")
    display = p.get("display_qty")
    if otype == "iceberg" and display is None:
        raise _bad("display_qty")
    return OrderRequest(
        pair=pair.id, side=side, ordertype=cast(OrderType, model_type),
        volume=qty if qty is not None else _ZERO, price=price, price2=price2,
        timeinforce=tif,  # type: ignore[arg-type]
        post_only=bool(p.get("post_only", False)), starttm=p.get("effective_time"),
        expiretm=p.get("expire_time"), userref=p.get("order_userref"),
        cl_ord_id=p.get("cl_ord_id"), validate=validate,
        stp_type=stp,  # type: ignore[arg-type]
        trigger=reference, reduce_only=bool(p.get("reduce_only", False)),
        fee_in_base=fee_pref == "base", no_mpp=bool(p.get("no_mpp", False)),
        cash_order_qty=cash if qty is None else None, deadline=deadline, display_qty=display,
    )


# ============================================================================================
# the connection


@dataclass(slots=True)
class _PrivSub:
    channel: str
    token: str = field(repr=False)
    key: KeyRecord = field(repr=False)
    sequence: int = 0
    order_status: bool = True
    ratecounter: bool = False

    def next_seq(self) -> int:
        self.sequence += 1
        return self.sequence


@dataclass(slots=True)
class _BookSub:
    depth: int
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)


class _Drop(Exception):
    """Internal: a fault switch asked for the connection to be dropped."""


class V2Session:
    """One WebSocket v2 connection (private when ``private``). Created by the route handler;
    :meth:`run` serves it until it closes."""

    def __init__(self, core: SandboxCore, ws: web.WebSocketResponse, request: web.Request,
                 *, private: bool) -> None:
        self.core = core
        self.ws = ws
        self.request = request
        self.private = private
        self.connection_id = secrets.randbits(64)
        self._lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._last_sent = self._loop.time()
        self._idle_since: float | None = core.clock.now()
        self._listener: Listener | None = None
        self._account_id: str | None = None
        self._subs: dict[str, _PrivSub] = {}
        self._tickers: dict[str, Ticker | None] = {}
        self._books: dict[str, _BookSub] = {}
        self._instrument = False
        self._trades: dict[str, int] = {}  # symbol -> last public trade id sent
        self._ohlcs: dict[tuple[str, int], int] = {}  # (symbol, interval) -> last trade id
        self._system = core.faults.system_status
        self._tasks: list[asyncio.Task[None]] = []
        self._pump_task: asyncio.Task[None] | None = None
        self._outgoing: list[bytes] = []
        self._drop_after_send = False
        self._closed = False
        self._next_public = self._loop.time() + _PUBLIC_STEP
        self._idle_timeout = wsc.idle_timeout(core)
        self._heartbeat = wsc.heartbeat_interval(core)

    # --- plumbing ----------------------------------------------------------------------------
    def _now(self) -> str:
        return rfc3339(self.core.clock.now())

    async def _send(self, data: bytes) -> None:
        async with self._lock:
            if self._closed:
                return
            self._last_sent = self._loop.time()
            await self.ws.send_frame(data, WSMsgType.TEXT)

    async def _send_many(self, frames: Iterable[bytes]) -> None:
        async with self._lock:
            for data in frames:
                if self._closed:
                    return
                self._last_sent = self._loop.time()
                await self.ws.send_frame(data, WSMsgType.TEXT)

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a background part of the connection; if it fails, drop the connection rather
        than leave the client with a silently stalled feed."""
        try:
            await work
        except (asyncio.CancelledError, _Drop, ConnectionError):
            raise
        except Exception:
            log.exception("WS v2 connection task failed; dropping the connection")
            self._kill()

    async def shutdown(self) -> None:
        """Close the connection with code 1001 (the server is going away); a client that does
        not answer the close within :data:`~krakenwire.sandbox.ws_common.CLOSE_GRACE` s is
        cut off."""
        self._closed = True
        await wsc.going_away(self.ws, self.request)

    def _kill(self) -> None:
        """Drop the TCP connection without a close frame (fault switches)."""
        self._closed = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def _reply(self, method: str, req_id: int | None, time_in: str, *,
                     result: Any = UNSET, error: str | None = None, **extra: Any) -> None:
        await self._send(encode(self._response(method, req_id, time_in, result=result,
                                               error=error, **extra)))

    def _response(self, method: str | None, req_id: int | None, time_in: str, *,
                  result: Any = UNSET, error: str | None = None, **extra: Any) -> Response:
        return Response(
            method=method or UNSET,  # type: ignore[arg-type]
            req_id=UNSET if req_id is None else req_id, result=result,
            error=UNSET if error is None else error, success=error is None,
            time_in=time_in, time_out=self._now(), **extra)

    def _usd_rate(self, asset: str) -> Decimal | None:
        if asset == "ZUSD":
            return _ONE
        for pair in self.core.exchange.pairs.values():
            if pair.base == asset and pair.quote == "ZUSD":
                try:
                    return self.core.exchange.last_price(pair.id)
                except ExchangeError:
                    return None
        return None

    def _pair_by_symbol(self, symbol: str) -> Pair | None:
        for pair in self.core.exchange.pairs.values():
            if pair.symbol == symbol:
                return pair
        return None

    # --- serving -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Greet, then serve requests until the socket closes; clean up afterwards."""
        try:
            await self._send(self._status_frame())
            self._tasks.append(asyncio.create_task(self._guarded(self._housekeeping())))
            async for msg in self.ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._handle(msg.data)
                else:
                    break
                if self._closed:
                    break
        except (ConnectionError, _Drop):
            pass
        finally:
            await self._cleanup()

    async def _cleanup(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for sub in self._subs.values():
            self.core.gate.unbind_token(sub.token, (self.connection_id, sub.channel))
        self._subs.clear()
        if self._listener is not None:
            self.core.unlisten(self._listener)
            self._listener = None

    async def _handle(self, raw: str | bytes) -> None:
        time_in = self._now()
        try:
            method, params, req_id = v2.parse_request(raw)
        except RequestError as exc:
            await self._send(encode(self._response(exc.method, exc.req_id, time_in,
                                                   error=exc.error)))
            return
        try:
            if method == "ping":
                await self._send(encode(Response(
                    method="pong", req_id=UNSET if req_id is None else req_id,
                    time_in=time_in, time_out=self._now())))
            elif method == "subscribe":
                await self._subscribe(params, req_id, time_in)
            elif method == "unsubscribe":
                await self._unsubscribe(params, req_id, time_in)
            elif not self.private:
                raise RequestError(E.PRIVATE_ON_PUBLIC)
            else:
                await self._trade(method, params, req_id, time_in)
        except RequestError as exc:
            extra = {} if exc.symbol is None else {"symbol": exc.symbol}
            await self._reply(method, req_id, time_in, error=exc.error, **extra)
        except (GateError, ExchangeError, wsc.TradeError) as exc:
            await self._reply(method, req_id, time_in, error=exc.error)

    # --- subscriptions -----------------------------------------------------------------------
    async def _subscribe(self, params: dict[str, Any], req_id: int | None,
                         time_in: str) -> None:
        p = v2.validate_params("subscribe", params)
        channel = p["channel"]
        if channel in ("executions", "balances"):
            if not self.private:
                raise RequestError(E.PRIVATE_ON_PUBLIC)
            await self._subscribe_private(channel, p, req_id, time_in)
        elif channel in ("ticker", "book", "trade", "ohlc"):
            if self.private:
                raise RequestError(E.PUBLIC_ON_PRIVATE_V2)
            await self._subscribe_public(channel, p, req_id, time_in)
        elif channel == "instrument" and not self.private:
            snapshot = p.get("snapshot", True)
            frames = [encode(self._response("subscribe", req_id, time_in,
                                            result=SubscriptionResult(channel=channel,
                                                                      snapshot=snapshot)))]
            if snapshot:
                frames.append(encode(v2.InstrumentFrame(type="snapshot",
                                                        data=self._instruments())))
            self._idle_since = None
            self._instrument = True
            await self._send_many(frames)
        elif channel in v2.PRIVATE_CHANNELS and not self.private:
            raise RequestError(E.PRIVATE_ON_PUBLIC)
        elif channel in v2.PUBLIC_CHANNELS and self.private:
            raise RequestError(E.PUBLIC_ON_PRIVATE_V2)
        else:
            raise RequestError(E.SUBSCRIPTION_NAME_INVALID)

    async def _session_error(self, channel: str, req_id: int | None, time_in: str) -> None:
        await self._reply("subscribe", req_id, time_in, error=E.INVALID_SESSION,
                          channel=channel, status="error")

    async def _subscribe_private(self, channel: str, p: dict[str, Any], req_id: int | None,
                                 time_in: str) -> None:
        token = p.get("token")
        gate = self.core.gate
        try:
            key = gate.check_token(token)
            assert isinstance(token, str)
        except GateError:
            await self._session_error(channel, req_id, time_in)
            return
        if key.account_id != self._account_id and self._account_id is not None:
            await self._session_error(channel, req_id, time_in)
            return
        gate.require(key, "query_orders" if channel == "executions" else "query_funds")
        if channel in self._subs:
            raise RequestError(E.ALREADY_SUBSCRIBED)
        gate.bind_token(token, (self.connection_id, channel))
        # everything pending belongs to the time before the snapshot: render it first
        pending = self._render_pending()
        if self._listener is None:
            self._account_id = key.account_id
            self._listener = self.core.listen(key.account_id)
        sub = _PrivSub(channel, token, key)
        self._subs[channel] = sub
        self._idle_since = None
        ex = self.core.exchange
        account_id = key.account_id
        if channel == "executions":
            snap_orders = p.get("snap_orders", p.get("snapshot", True))
            snap_trades = p.get("snap_trades", p.get("snapshot_trades", False))
            sub.order_status = p.get("order_status", True)
            sub.ratecounter = p.get("ratecounter", False)
            threshold = gate.max_rate_count(key)
            result = SubscriptionResult(
                channel=channel,
                maxratecount=int(threshold) if threshold < 1e12 else 1_000_000_000,
                snap_orders=snap_orders, snap_trades=snap_trades,
                order_status=UNSET if "order_status" not in p else sub.order_status,
                ratecounter=UNSET if "ratecounter" not in p else sub.ratecounter)
            data: list[ExecutionReport] = []
            if snap_orders:
                for order in ex.open_orders(account_id):
                    data.append(snapshot_report(order, ex.pairs[order.pair],
                                                order.lastupdated or order.opentm,
                                                self._usd_rate))
            if snap_trades:
                for trade in ex.trades(account_id)[-50:]:
                    data.append(trade_snapshot_report(
                        trade, ex.order(account_id, trade.order_id), ex.pairs[trade.pair],
                        self._usd_rate))
            frame = encode(v2.ExecutionsFrame(type="snapshot", data=data,
                                              sequence=sub.next_seq()))
            ack = self._response("subscribe", req_id, time_in, result=result)
            await self._send_many([*pending, encode(ack), frame])
        else:
            snapshot = p.get("snapshot", True)
            ack = self._response("subscribe", req_id, time_in,
                                 result=SubscriptionResult(channel=channel, snapshot=snapshot))
            frames = [*pending, encode(ack)]
            if snapshot:
                acct = ex.account(account_id)
                frames.append(encode(v2.BalancesSnapshotFrame(
                    data=balance_snapshot(acct.balances), sequence=sub.next_seq())))
            await self._send_many(frames)
        if self._pump_task is None:
            self._pump_task = asyncio.create_task(self._guarded(self._pump()))
            self._tasks.append(self._pump_task)

    async def _unsubscribe(self, params: dict[str, Any], req_id: int | None,
                           time_in: str) -> None:
        p = v2.validate_params("unsubscribe", params)
        channel = p["channel"]
        if channel in ("executions", "balances"):
            if not self.private:
                raise RequestError(E.PRIVATE_ON_PUBLIC)
            sub = self._subs.get(channel)
            token = p.get("token")
            if token is None:
                await self._reply("unsubscribe", req_id, time_in, error=E.INVALID_SESSION,
                                  channel=channel, status="error")
                return
            if sub is None:
                # Kraken answers an unknown unsubscribe with method "subscribe" (PKS recording)
                await self._reply("subscribe", req_id, time_in, error=E.SUBSCRIPTION_NOT_FOUND)
                return
            del self._subs[channel]
            self.core.gate.unbind_token(sub.token, (self.connection_id, channel))
            if not self._subs:
                self._idle_since = self.core.clock.now()
            await self._reply("unsubscribe", req_id, time_in,
                              result=SubscriptionResult(channel=channel))
            return
        if channel == "ohlc" and not self.private:
            interval = p.get("interval", 1)
            for symbol in p.get("symbol", []):
                if self._ohlcs.pop((symbol, interval), None) is None:
                    await self._reply("subscribe", req_id, time_in,
                                      error=E.SUBSCRIPTION_NOT_FOUND, symbol=symbol)
                    continue
                await self._reply("unsubscribe", req_id, time_in, result=SubscriptionResult(
                    channel=channel, interval=interval, symbol=symbol))
            if not self._public_subscribed():
                self._idle_since = self.core.clock.now()
            return
        if channel in ("ticker", "book", "trade"):
            if self.private:
                raise RequestError(E.PUBLIC_ON_PRIVATE_V2)
            tables: dict[str, dict[str, Any]] = {
                "ticker": self._tickers, "book": self._books, "trade": self._trades}
            table = tables[channel]
            for symbol in p.get("symbol", []):
                if symbol not in table:
                    await self._reply("subscribe", req_id, time_in,
                                      error=E.SUBSCRIPTION_NOT_FOUND, symbol=symbol)
                    continue
                gone = table.pop(symbol)
                result = SubscriptionResult(channel=channel, symbol=symbol)
                if isinstance(gone, _BookSub):
                    result.depth = gone.depth
                await self._reply("unsubscribe", req_id, time_in, result=result)
            if not self._public_subscribed():
                self._idle_since = self.core.clock.now()
            return
        if channel == "instrument" and not self.private:
            if not self._instrument:
                await self._reply("subscribe", req_id, time_in, error=E.SUBSCRIPTION_NOT_FOUND)
                return
            self._instrument = False
            if not self._public_subscribed():
                self._idle_since = self.core.clock.now()
            await self._reply("unsubscribe", req_id, time_in,
                              result=SubscriptionResult(channel=channel))
            return
        raise RequestError(E.SUBSCRIPTION_NAME_INVALID)

    # --- public channels ---------------------------------------------------------------------
    def _public_subscribed(self) -> bool:
        return bool(self._tickers or self._books or self._trades or self._instrument
                    or self._ohlcs)

    @staticmethod
    def _trade_data(pair: Pair, t: PublicTrade) -> v2.TradeData:
        return v2.TradeData(symbol=pair.symbol, side=t.side, price=_px(t.price, pair),
                            qty=wire(t.volume), ord_type=t.ordertype, trade_id=t.trade_id,
                            timestamp=rfc3339(t.time))

    def _instruments(self) -> v2.InstrumentData:
        pairs = self.core.exchange.pairs.values()
        used = {a for p in pairs for a in (p.base, p.quote)}
        # collateral_value as REST Assets reports it (1), and as Kraken's frames show for BTC
        assets = [v2.InstrumentAsset(id=a.v2, status="enabled", precision=a.decimals,
                                     precision_display=a.display_decimals,
                                     collateral_value=Decimal(1))
                  for a in ASSETS.values() if a.id in used]
        return v2.InstrumentData(assets=assets, pairs=[v2.InstrumentPair(
            symbol=p.symbol, base=_v2_asset(p.base), quote=_v2_asset(p.quote),
            status=p.status, qty_precision=p.lot_decimals,
            qty_increment=Decimal(1).scaleb(-p.lot_decimals), price_precision=p.pair_decimals,
            cost_precision=p.cost_decimals, cost_min=p.costmin, tick_size=p.tick_size,
            price_increment=p.tick_size, qty_min=p.ordermin) for p in pairs])

    def _ticker(self, pair: Pair) -> Ticker:
        t = self.core.exchange.ticker(pair.id)
        last = t["last"]
        open_ = t.get("open", last)
        change = last - open_
        pct = (change / open_ * 100).quantize(Decimal("0.01"), ROUND_HALF_EVEN) if open_ else _ZERO
        return Ticker(
            symbol=pair.symbol, bid=wire(t["bid"]), bid_qty=wire(t["bid_volume"]),
            ask=wire(t["ask"]), ask_qty=wire(t["ask_volume"]), last=wire(last),
            volume=wire(t["volume_24h"]), vwap=wire(t["vwap_24h"]), low=wire(t["low_24h"]),
            high=wire(t["high_24h"]), change=wire(change), change_pct=wire(pct),
            timestamp=self._now())

    def _levels(self, pair: Pair, depth: int) -> tuple[dict[Decimal, Decimal],
                                                       dict[Decimal, Decimal]]:
        d = self.core.exchange.depth(pair.id, depth)
        pexp = Decimal(1).scaleb(-pair.pair_decimals)
        qexp = Decimal(1).scaleb(-pair.lot_decimals)
        bids = {p.quantize(pexp, ROUND_HALF_EVEN): v.quantize(qexp, ROUND_DOWN)
                for p, v, _ in d["bids"]}
        asks = {p.quantize(pexp, ROUND_HALF_EVEN): v.quantize(qexp, ROUND_DOWN)
                for p, v, _ in d["asks"]}
        return bids, asks

    @staticmethod
    def _sorted(levels: dict[Decimal, Decimal], bids: bool) -> list[BookLevel]:
        return [BookLevel(price=p, qty=q)
                for p, q in sorted(levels.items(), key=lambda x: x[0], reverse=bids)]

    async def _subscribe_public(self, channel: str, p: dict[str, Any], req_id: int | None,
                                time_in: str) -> None:
        symbols = p.get("symbol")
        if not symbols:
            raise RequestError(E.invalid_arguments("symbol"))
        depth = p.get("depth", 10)
        if channel == "book" and depth not in _BOOK_DEPTHS:
            raise RequestError(E.invalid_arguments("depth"))
        interval = p.get("interval", 1)
        if channel == "ohlc" and interval not in OHLC_INTERVALS:
            raise RequestError(E.invalid_arguments("interval"))
        snapshot = p.get("snapshot", True)
        for symbol in symbols:
            pair = self._pair_by_symbol(symbol)
            if pair is None:
                await self._reply("subscribe", req_id, time_in,
                                  error=E.currency_pair_not_supported(symbol), symbol=symbol)
                continue
            frames: list[bytes] = []
            if channel == "trade":
                result = SubscriptionResult(channel="trade", snapshot=snapshot, symbol=symbol)
                tape = self.core.exchange.recent_trades(pair.id)
                self._trades[symbol] = tape[-1].trade_id if tape else 0
                if snapshot:
                    frames.append(encode(v2.TradeFrame(type="snapshot", data=[
                        self._trade_data(pair, t) for t in tape[-50:]])))
            elif channel == "ohlc":
                result = SubscriptionResult(channel="ohlc", interval=interval,
                                            snapshot=snapshot, symbol=symbol)
                tape = self.core.exchange.recent_trades(pair.id)
                self._ohlcs[(symbol, interval)] = tape[-1].trade_id if tape else 0
                if snapshot:
                    now = self._now()
                    frames.append(encode(v2.OhlcFrame(type="snapshot", timestamp=now, data=(
                        ohlc_candles(pair, tape, interval, now)))))
            elif channel == "ticker":
                result = SubscriptionResult(channel="ticker",
                                            event_trigger=p.get("event_trigger", "trades"),
                                            snapshot=snapshot, symbol=symbol)
                tick = self._ticker(pair)
                self._tickers[symbol] = tick
                if snapshot:
                    frames.append(encode(v2.TickerFrame(type="snapshot", data=[tick])))
            else:
                result = SubscriptionResult(channel="book", depth=depth, snapshot=snapshot,
                                            symbol=symbol)
                bids, asks = self._levels(pair, depth)
                self._books[symbol] = _BookSub(depth, bids, asks)
                if snapshot:
                    bl, al = self._sorted(bids, True), self._sorted(asks, False)
                    frames.append(encode(v2.BookFrame(type="snapshot", data=[BookData(
                        symbol=symbol, bids=bl, asks=al,
                        checksum=book_checksum(bl, al, pair))])))
            self._idle_since = None if self.private is False else self._idle_since
            ack = self._response("subscribe", req_id, time_in, result=result)
            await self._send_many([encode(ack), *frames])

    async def _public_updates(self) -> None:
        frames: list[bytes] = []
        for symbol, last in list(self._tickers.items()):
            pair = self._pair_by_symbol(symbol)
            if pair is None:
                continue
            tick = self._ticker(pair)
            if last is None or (tick.bid, tick.ask, tick.last, tick.bid_qty, tick.ask_qty,
                                tick.volume) != (last.bid, last.ask, last.last, last.bid_qty,
                                                 last.ask_qty, last.volume):
                self._tickers[symbol] = tick
                frames.append(encode(v2.TickerFrame(type="update", data=[tick])))
        for symbol, last_id in list(self._trades.items()):
            pair = self._pair_by_symbol(symbol)
            if pair is None:
                continue
            fresh = [t for t in self.core.exchange.recent_trades(pair.id)
                     if t.trade_id > last_id]
            if fresh:
                self._trades[symbol] = fresh[-1].trade_id
                frames.append(encode(v2.TradeFrame(type="update", data=[
                    self._trade_data(pair, t) for t in fresh])))
        for (symbol, interval), last_id in list(self._ohlcs.items()):
            pair = self._pair_by_symbol(symbol)
            if pair is None:
                continue
            tape = self.core.exchange.recent_trades(pair.id)
            if tape and tape[-1].trade_id > last_id:
                self._ohlcs[(symbol, interval)] = tape[-1].trade_id
                now = self._now()
                frames.append(encode(v2.OhlcFrame(type="update", timestamp=now, data=(
                    ohlc_candles(pair, tape, interval, now, after_id=last_id)))))
        for symbol, book in list(self._books.items()):
            pair = self._pair_by_symbol(symbol)
            if pair is None:
                continue
            bids, asks = self._levels(pair, book.depth)
            changed_b = {p: q for p, q in bids.items() if book.bids.get(p) != q}
            changed_b.update({p: _ZERO for p in book.bids if p not in bids})
            changed_a = {p: q for p, q in asks.items() if book.asks.get(p) != q}
            changed_a.update({p: _ZERO for p in book.asks if p not in asks})
            if not changed_b and not changed_a:
                continue
            book.bids, book.asks = bids, asks
            checksum = book_checksum(self._sorted(bids, True), self._sorted(asks, False), pair)
            frames.append(encode(v2.BookFrame(type="update", data=[BookData(
                symbol=symbol,
                bids=[BookLevel(price=lv.price, qty=lv.qty or _ZERO_1)
                      for lv in self._sorted(changed_b, True)],
                asks=[BookLevel(price=lv.price, qty=lv.qty or _ZERO_1)
                      for lv in self._sorted(changed_a, False)],
                checksum=checksum, timestamp=self._now())])))
        if frames:
            await self._send_many(frames)

    # --- private feeds -----------------------------------------------------------------------
    def _render(self, event: Event) -> bytes | None:
        if isinstance(event, OrderEvent):
            sub = self._subs.get("executions")
            if sub is None:
                return None
            if not sub.order_status and event.exec_type not in _OPEN_CLOSE:
                return None
            pair = self.core.exchange.pairs.get(event.order.pair)
            if pair is None:
                return None
            rep = order_report(event, pair, self._usd_rate)
            if sub.ratecounter and event.exec_type in ("pending_new", "canceled", "amended"):
                value = self.core.gate.trading_counter_value(sub.key.account_id, pair.id)
                rep.ratecount = Decimal(int(value))
            return encode(v2.ExecutionsFrame(type="update", data=[rep],
                                              sequence=sub.next_seq()))
        if isinstance(event, BalanceEvent):
            sub = self._subs.get("balances")
            if sub is None:
                return None
            return encode(v2.BalancesUpdateFrame(data=[ledger_update(event.entry)],
                                                 sequence=sub.next_seq()))
        return None

    def _render_pending(self) -> list[bytes]:
        """Render every event already queued for this connection (synchronously)."""
        frames: list[bytes] = []
        listener = self._listener
        if listener is None:
            return frames
        while not listener.empty():
            frame = self._render(listener.get_nowait())
            if frame is not None:
                frames.append(frame)
        return frames

    async def _emit(self, frames: list[bytes]) -> None:
        if frames and self.core.faults.ws_drop_midstream:
            self.core.faults.ws_drop_midstream = False
            self._kill()
            raise _Drop
        await self._send_many(frames)

    async def _pump(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._closed:
            event = await listener.get()
            first = self._render(event)
            frames = ([first] if first is not None else []) + self._render_pending()
            if frames:
                await self._emit(frames)

    # --- housekeeping ------------------------------------------------------------------------
    def _status_frame(self) -> bytes:
        self._system = self.core.faults.system_status
        return encode(v2.StatusFrame(data=[SystemStatus(
            api_version=_API_VERSION, connection_id=self.connection_id, system=self._system,
            version=_SERVER_VERSION)]))

    async def _housekeeping(self) -> None:
        while not self._closed:
            await asyncio.sleep(_TIMER_STEP)
            if self.core.faults.system_status != self._system:
                await self._send(self._status_frame())  # engine status changed
            now = self.core.clock.now()
            if self._idle_since is not None and now - self._idle_since >= self._idle_timeout:
                self._closed = True
                await self.ws.close()
                return
            for sub in list(self._subs.values()):
                try:
                    self.core.gate.check_token(sub.token)
                except GateError:
                    del self._subs[sub.channel]
                    self.core.gate.unbind_token(sub.token, (self.connection_id, sub.channel))
                    if not self._subs:
                        self._idle_since = now
                    await self._send(encode(Response(
                        channel=sub.channel, error=E.INVALID_SESSION, method="subscribe",
                        status="error", success=False, time_in=self._now(),
                        time_out=self._now())))
            loop_now = self._loop.time()
            if (self._tickers or self._books or self._trades or self._ohlcs) and \
                    loop_now >= self._next_public:
                self._next_public = loop_now + _PUBLIC_STEP
                await self._public_updates()
            subscribed = bool(self._subs) or self._public_subscribed()
            if (subscribed and not self.core.faults.ws_no_heartbeat
                    and loop_now - self._last_sent >= self._heartbeat):
                await self._send(_HEARTBEAT)

    # --- trading -----------------------------------------------------------------------------
    def _auth(self, params: dict[str, Any]) -> KeyRecord:
        token = params.get("token")
        if not token:
            raise RequestError(E.TOKEN_NOT_FOUND)
        try:
            key = self.core.gate.check_token(token)
        except GateError:
            raise RequestError(E.INVALID_SESSION) from None
        return key

    def _ack_after(self) -> bool:
        return self.core.settings.ack_after_events or self.core.faults.ws_ack_after_events

    def _deliver(self, responses: list[Response], events: list[Event]) -> None:
        """Publish an operation's events and queue its replies and this connection's feed
        frames in the configured order (§10: replies first unless ``ack_after_events``).
        Runs inside ``core.exclusive()``; :meth:`_trade` sends what was queued."""
        self.core.publish(events)
        own = self._render_pending()
        now = self._now()
        for r in responses:
            r.time_out = now
        replies = [encode(r) for r in responses]
        faults = self.core.faults
        if own and faults.ws_drop_midstream:
            faults.ws_drop_midstream = False
            self._drop_after_send = True
            own = []
            if self._ack_after():
                replies = []
        if self._ack_after():
            self._outgoing += [*own, *replies]
        else:
            self._outgoing += [*replies, *own]

    def _symbol_pair(self, symbol: str) -> Pair:
        pair = self._pair_by_symbol(symbol)
        if pair is None:
            raise RequestError(E.currency_pair_not_supported(symbol), symbol=symbol)
        return pair

    async def _trade(self, method: str, params: dict[str, Any], req_id: int | None,
                     time_in: str) -> None:
        p = v2.validate_params(method, params)
        key = self._auth(p)
        handler = getattr(self, "_m_" + method)
        self._outgoing = []
        try:
            # no tick may publish between this operation's events (see core.exclusive)
            async with self.core.exclusive():
                await handler(key, p, req_id, time_in)
        finally:
            frames, self._outgoing = self._outgoing, []
            if frames:
                await self._send_many(frames)
            if self._drop_after_send:
                self._kill()
                raise _Drop

    def _check_adding(self, post_only: bool) -> None:
        status = wsc.engine_status(self.core)
        if status == "maintenance":
            raise wsc.TradeError(E.UNAVAILABLE)
        if status == "cancel_only":
            raise wsc.TradeError(E.CANCEL_ONLY_MODE)
        if status == "post_only" and not post_only:
            raise wsc.TradeError(E.POST_ONLY_MODE)

    async def _m_add_order(self, key: KeyRecord, p: dict[str, Any], req_id: int | None,
                           time_in: str) -> None:
        pair = self._symbol_pair(p["symbol"])
        validate = bool(p.get("validate", False))
        req = order_request(p, pair, deadline=p.get("deadline"), validate=validate)
        order, events = await wsc.place_order(self.core, key, req)
        faults = self.core.faults
        if faults.ws_drop_before_reply and not validate:
            faults.ws_drop_before_reply = False
            self.core.publish(events)
            self._kill()
            raise _Drop
        result = AddOrderResult(order_id=order.id if order.id else UNSET)
        if "cl_ord_id" in p:
            result.cl_ord_id = p["cl_ord_id"]
        if "order_userref" in p:
            result.order_userref = p["order_userref"]
        self._deliver([self._response("add_order", req_id, time_in, result=result)],
                            events)

    async def _m_batch_add(self, key: KeyRecord, p: dict[str, Any], req_id: int | None,
                           time_in: str) -> None:
        pair = self._symbol_pair(p["symbol"])
        orders = p["orders"]
        if not 2 <= len(orders) <= 15:
            raise RequestError(E.invalid_arguments("orders"))
        validate = bool(p.get("validate", False))
        reqs = [order_request(o, pair, deadline=p.get("deadline"), validate=validate)
                for o in orders]
        gate = self.core.gate
        gate.require(key, "trade")
        self._check_adding(all(r.post_only for r in reqs))
        gate.charge_trading(key, pair.id, "add", count=len(reqs))
        ex = self.core.exchange
        if not validate:
            gate.check_open_orders(key, ex.open_count(key.account_id, pair.id),
                                   adding=len(reqs))

        def place() -> list[AddOrderResult]:
            out = []
            for o, req in zip(orders, reqs, strict=True):
                r = AddOrderResult()
                try:
                    placed = ex.add_order(key.account_id, req)
                    r.order_id = placed.id if placed.id else UNSET
                except ExchangeError as exc:
                    r.error = exc.error
                if "cl_ord_id" in o:
                    r.cl_ord_id = o["cl_ord_id"]
                if "order_userref" in o:
                    r.order_userref = o["order_userref"]
                out.append(r)
            return out

        results, events = await self.core.run(place)
        self._deliver([self._response("batch_add", req_id, time_in, result=results)],
                            events)

    async def _m_cancel_order(self, key: KeyRecord, p: dict[str, Any], req_id: int | None,
                              time_in: str) -> None:
        idents: list[tuple[str, str]] = [("order_id", i) for i in p.get("order_id", [])]
        idents += [("cl_ord_id", i) for i in p.get("cl_ord_id", [])]
        idents += [("order_userref", str(i)) for i in p.get("order_userref", [])]
        if not idents:
            raise RequestError(E.invalid_arguments("order_id"))
        for kind, ident in idents:
            try:
                cancelled, events = await wsc.cancel_orders(self.core, key, ident)
            except (GateError, ExchangeError, wsc.TradeError) as exc:
                self._outgoing.append(encode(self._response("cancel_order", req_id, time_in,
                                                            error=exc.error)))
                continue
            responses = []
            for o in cancelled:
                result = (CancelOrderResult(cl_ord_id=ident) if kind == "cl_ord_id"
                          else CancelOrderResult(order_id=o.id))
                responses.append(self._response("cancel_order", req_id, time_in,
                                                result=result))
            self._deliver(responses, events)

    async def _m_cancel_all(self, key: KeyRecord, p: dict[str, Any], req_id: int | None,
                            time_in: str) -> None:
        count, events = await wsc.cancel_all(self.core, key)
        self._deliver([self._response("cancel_all", req_id, time_in,
                                            result=CountResult(count=count))], events)

    async def _m_cancel_all_orders_after(self, key: KeyRecord, p: dict[str, Any],
                                         req_id: int | None, time_in: str) -> None:
        (now, trigger), events = await wsc.cancel_all_after(self.core, key, p["timeout"])

        def secs(t: float) -> str:
            return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        result = CancelAfterResult(currentTime=secs(now),
                                   triggerTime="0" if trigger is None else secs(trigger))
        self._deliver([self._response("cancel_all_orders_after", req_id, time_in,
                                            result=result)], events)

    async def _m_batch_cancel(self, key: KeyRecord, p: dict[str, Any], req_id: int | None,
                              time_in: str) -> None:
        idents = list(p.get("orders", [])) + list(p.get("cl_ord_id", []))
        if not 2 <= len(idents) <= 50:
            raise RequestError(E.invalid_arguments("orders"))
        count = 0
        events: list[Event] = []
        for ident in idents:
            try:
                cancelled, evs = await wsc.cancel_orders(self.core, key, ident)
            except (ExchangeError, wsc.TradeError) as exc:
                if exc.error == E.UNKNOWN_ORDER:
                    continue
                raise
            count += len(cancelled)
            events += evs
        self._deliver([self._response("batch_cancel", req_id, time_in,
                                            result=CountResult(count=count))], events)

    async def _m_amend_order(self, key: KeyRecord, p: dict[str, Any], req_id: int | None,
                             time_in: str) -> None:
        if "order_id" not in p and "cl_ord_id" not in p:
            raise RequestError(E.invalid_arguments("order_id"))
        if "order_qty" not in p:
            raise RequestError(E.invalid_arguments("order_qty"))
        ex = self.core.exchange
        target = (ex.order(key.account_id, p["order_id"]) if "order_id" in p
                  else ex.find_order_by_cl_ord_id(key.account_id, p["cl_ord_id"]))
        price = p.get("limit_price")
        price2 = None
        if target is not None and target.ordertype in _TRIGGER_TYPES:
            price2 = price if target.ordertype.endswith("-limit") else None
            price = p.get("trigger_price")
        (_order, amend_id), events = await wsc.amend_order(
            self.core, key, order_id=p.get("order_id"), cl_ord_id=p.get("cl_ord_id"),
            volume=p["order_qty"], price=price, price2=price2,
            post_only=bool(p.get("post_only", False)))
        result = AmendOrderResult(amend_id=amend_id)
        if "order_id" in p:
            result.order_id = p["order_id"]
        else:
            result.cl_ord_id = p["cl_ord_id"]
        self._deliver([self._response("amend_order", req_id, time_in, result=result)],
                            events)

    async def _m_edit_order(self, key: KeyRecord, p: dict[str, Any], req_id: int | None,
                            time_in: str) -> None:
        pair = self._symbol_pair(p["symbol"])
        ex = self.core.exchange
        target = ex.order(key.account_id, p["order_id"])
        if target is not None and target.pair != pair.id:
            raise RequestError(E.invalid_arguments("symbol"))
        price = p.get("limit_price")
        price2 = None
        trig = p.get("triggers") or {}
        if target is not None and target.ordertype in _TRIGGER_TYPES:
            price2 = price if target.ordertype.endswith("-limit") else None
            price = trig.get("price")
        (new, old), events = await wsc.edit_order(
            self.core, key, p["order_id"], volume=p.get("order_qty"), price=price,
            price2=price2, userref=p.get("order_userref"), post_only=p.get("post_only"),
            validate=bool(p.get("validate", False)))
        result = EditOrderResult(order_id=new.id, original_order_id=old.id)
        self._deliver([self._response("edit_order", req_id, time_in, result=result)],
                            events)


# ============================================================================================
# routes


def add_routes(app: web.Application, core: SandboxCore) -> None:
    """Register ``GET /ws-auth/v2`` (private) and ``GET /ws/v2`` (public) on ``app``; every
    connection is served by a :class:`V2Session` over ``core``. On application shutdown every
    open connection is closed with code 1001 (going away)."""
    sessions: set[V2Session] = set()

    async def private(request: web.Request) -> web.WebSocketResponse:
        return await _serve(request, core, sessions, private=True)

    async def public(request: web.Request) -> web.WebSocketResponse:
        return await _serve(request, core, sessions, private=False)

    async def close_all(_app: web.Application) -> None:
        # all at once: one by one, each silent client would add its own wait
        await asyncio.gather(*(session.shutdown() for session in list(sessions)))

    app.router.add_get("/ws-auth/v2", private)
    app.router.add_get("/ws/v2", public)
    app.on_shutdown.append(close_all)


async def _serve(request: web.Request, core: SandboxCore, sessions: set[V2Session], *,
                 private: bool) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
    await ws.prepare(request)
    session = V2Session(core, ws, request, private=private)
    sessions.add(session)
    try:
        await session.run()
    except Exception:  # never let one connection's failure escape; no secrets in the log
        log.exception("WS v2 session failed")
    finally:
        sessions.discard(session)
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
    return ws
