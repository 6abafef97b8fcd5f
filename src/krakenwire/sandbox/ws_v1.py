"""The sandbox's WebSocket API v1 endpoints: private ``/ws-auth`` and public ``/ws``.

``add_routes(app, core)`` registers both on an :class:`aiohttp.web.Application`. Each connection
is a :class:`V1Session` speaking Kraken's v1 protocol (kraken-protocol.md §5) on the shared
:class:`~krakenwire.sandbox.core.SandboxCore`, so orders placed here, over REST or over v2 are the
same orders and show on every feed.

Behaviour (private path):

* greeting ``systemStatus`` (random uint64 ``connectionID``), repeated when the engine status
  (the ``system_status`` fault switch) changes; ``heartbeat`` after ~1 s of quiet while
  subscribed; ``ping`` → ``pong`` echoing ``reqid``; connections without a private subscription
  are closed after ``settings.ws_idle_timeout`` (60 s).
* ``subscribe`` / ``unsubscribe`` for ``openOrders`` (``ratecounter``) and ``ownTrades``
  (``snapshot``, ``consolidate_taker``) with ``subscription.token``; ``subscriptionStatus``
  replies (``maxratecount`` for ``openOrders``); a bad token gets ``ESession:Invalid session``.
  Frames are ``[[{id: {...}}], channel, {"sequence": n}]`` from :mod:`~krakenwire.sandbox.
  v1_frames`: the snapshot first, then one frame per change.
* ``addOrder``, ``amendOrder``, ``editOrder``, ``cancelOrder`` (one ``cancelOrderStatus`` per id),
  ``cancelAll``, ``cancelAllOrdersAfter`` with a top-level ``token``; failures are ``*Status``
  replies with ``errorMessage``; each runs inside ``core.shared()`` (no tick's events come
  between an operation and its own). After ``addOrder`` this connection sees the ``openOrders``
  pending entry, then ``addOrderStatus``, then the rest (``status:"open"`` …) — or, with
  ``settings.ack_after_events``, every event first and the reply last.

On the public path private channels and trading requests get Kraken's refusal
``Private data and trading are unavailable on this endpoint. Try ws-auth.kraken.com``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import msgspec
from aiohttp import WSMsgType, web

from krakenwire.protocol import errors, v1
from krakenwire.protocol.naming import pair_by_any
from krakenwire.sandbox import v1_frames
from krakenwire.sandbox.gate import GateError, KeyRecord
from krakenwire.sandbox.model import Event, Order, OrderEvent, OrderRequest, Trade
from krakenwire.sandbox.server import ApiError, order_request_from_params
from krakenwire.sandbox.ws_common import (
    AccountFeed,
    OpenSockets,
    Outbox,
    TokenBindings,
    TradeError,
    amend_order,
    cancel_all,
    cancel_all_after,
    cancel_orders,
    edit_order,
    engine_status,
    error_of,
    find_open,
    heartbeat_interval,
    idle_timeout,
    is_relative_price,
    new_connection_id,
    place_order,
    resolve_relative_price,
)

if TYPE_CHECKING:
    from krakenwire.sandbox.core import SandboxCore

__all__ = ["PRIVATE_PATH", "PUBLIC_PATH", "V1Session", "add_routes", "order_request"]

log = logging.getLogger("krakenwire.sandbox.ws_v1")

#: Path of the private (authenticated) v1 endpoint, Kraken's ``wss://ws-auth.kraken.com``.
PRIVATE_PATH: Final = "/ws-auth"
#: Path of the public v1 endpoint, Kraken's ``wss://ws.kraken.com``.
PUBLIC_PATH: Final = "/ws"

#: ownTrades snapshot size (Kraken: the last 50 trades).
OWN_TRADES_SNAPSHOT: Final = 50

_OFLAGS: Final = frozenset({"post", "fcib", "fciq", "nompp", "viqc"})
_STP: Final = {"cancel_newest": "cancel-newest", "cancel_oldest": "cancel-oldest",
               "cancel_both": "cancel-both"}
_TRUE: Final = frozenset({"true", "1", "yes"})


def add_routes(app: web.Application, core: SandboxCore) -> None:
    """Register the v1 endpoints on ``app``: ``/ws-auth`` (private) and ``/ws`` (public). On
    application shutdown every open connection is closed with code 1001 (going away)."""
    sockets = OpenSockets()
    app.router.add_get(PRIVATE_PATH, partial(_serve, core=core, private=True, sockets=sockets))
    app.router.add_get(PUBLIC_PATH, partial(_serve, core=core, private=False, sockets=sockets))
    app.on_shutdown.append(sockets.close_all)


async def _serve(request: web.Request, *, core: SandboxCore, private: bool,
                 sockets: OpenSockets) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
    await ws.prepare(request)
    sockets.add(ws, request)
    try:
        session = V1Session(core, ws, private=private, request=request)
        await session.run()
    finally:
        sockets.discard(ws)
    return ws


# --------------------------------------------------------------------------------------------
# Request parsing (v1 strings → the exchange's OrderRequest)
# --------------------------------------------------------------------------------------------


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in _TRUE


def _decimal(text: str | None, name: str) -> Decimal | None:
    """A plain non-negative decimal, or None when absent. Relative prices (``+5``, ``-5``,
    ``#5``, ``5%``) are not supported by the sandbox and refused like a bad value."""
    if text is None or text == "":
        return None
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise TradeError(errors.invalid_arguments(name)) from None
    if not value.is_finite() or value < 0:
        raise TradeError(errors.invalid_arguments(name))
    return value


def _userref(value: object, name: str = "userref") -> int | None:
    if value is None or value == "":
        return None
    try:
        ref = int(str(value).strip())
    except ValueError:
        raise TradeError(errors.invalid_arguments(name)) from None
    if not -(2**31) <= ref < 2**31:
        raise TradeError(errors.invalid_arguments(name))
    return ref


def _oflags(text: str | None) -> set[str]:
    flags = {f.strip() for f in (text or "").split(",") if f.strip()}
    if flags - _OFLAGS:
        raise TradeError(errors.invalid_arguments("oflags"))
    return flags


def order_request(req: v1.AddOrder, now: float,
                  last_price: Callable[[str], Decimal] | None = None) -> OrderRequest:
    """Translate a v1 ``addOrder`` into the exchange's :class:`OrderRequest` with exactly the
    REST ``AddOrder`` rules (:func:`krakenwire.sandbox.server.order_request_from_params`), so
    an order is validated the same whichever transport it comes by. v1's ``stp_type``
    (``cancel_newest``) becomes REST's ``stptype`` (``cancel-newest``). Relative prices
    (``+5``, ``-5``, ``#5``, ``+2%``) are resolved against ``last_price(pair_id)``, the last
    traded price (refused as invalid when ``last_price`` is None).

    Raises:
        TradeError: ``EQuery:Unknown asset pair`` or ``EGeneral:Invalid arguments:<field>``
            (and ``EOrder:Invalid price`` for a price that is not positive).
    """
    pair = pair_by_any(req.pair)
    if pair is None:
        raise TradeError(errors.UNKNOWN_PAIR)
    params: dict[str, Any] = msgspec.to_builtins(req)
    for name in ("event", "token", "reqid", "pair"):
        params.pop(name, None)
    stp = params.pop("stp_type", None)
    if stp is not None:
        if stp not in _STP:
            raise TradeError(errors.invalid_arguments("stp_type"))
        params["stptype"] = _STP[stp]
    if req.leverage is not None and str(req.leverage).strip().lower() not in ("", "none"):
        raise TradeError(errors.invalid_arguments("leverage"))
    if req.close_ordertype is not None:
        raise TradeError(errors.invalid_arguments("close"))
    reference = None if last_price is None else (lambda: last_price(pair.id))
    try:
        return order_request_from_params(params, pair, now, reference)
    except ApiError as exc:
        raise TradeError(exc.error) from None


def _iso_seconds(t: float) -> str:
    """``2020-12-21T09:37:09Z`` — whole seconds, rounded up, as Kraken writes them."""
    return datetime.fromtimestamp(math.ceil(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Sub:
    """One private subscription of a connection."""

    name: str
    token: str
    key: KeyRecord
    ratecounter: bool = False
    consolidate: bool = True
    sequence: int = 0
    # ids already shown by the snapshot (their first live event is redundant)
    snap_orders: set[str] = field(default_factory=set)
    snap_trades: set[str] = field(default_factory=set)

    @property
    def account_id(self) -> str:
        return self.key.account_id

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence

    def __repr__(self) -> str:  # never the token
        return f"_Sub({self.name!r}, account={self.account_id!r}, seq={self.sequence})"


class V1Session:
    """One v1 WebSocket connection (private when ``private`` is true)."""

    def __init__(self, core: SandboxCore, ws: web.WebSocketResponse, *, private: bool,
                 request: web.Request | None = None) -> None:
        self.core = core
        self.ws = ws
        self.private = private
        self.request = request
        self.connection_id = new_connection_id()
        self.outbox = Outbox(ws)
        self.bindings = TokenBindings(core, self)
        self.subs: dict[str, _Sub] = {}
        self.feeds: dict[str, AccountFeed] = {}
        self._status = engine_status(core)
        self._closing: set[asyncio.Task[None]] = set()
        self._idle_since = core.clock.now()  # sandbox clock, as the v2 endpoint does

    def __repr__(self) -> str:
        return f"V1Session(private={self.private}, subs={sorted(self.subs)})"

    # --- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Greet, then serve requests until the client goes away; always clean up."""
        self.outbox.start()
        self.send(v1.system_status(self.connection_id, self._status))
        timer = asyncio.get_running_loop().create_task(self._timer())
        try:
            async for msg in self.ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self.handle(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
            for feed in self.feeds.values():
                await feed.close()
            self.feeds.clear()
            self.subs.clear()
            self.bindings.release()
            await self.outbox.close()

    async def _timer(self) -> None:
        """Housekeeping: engine status changes, heartbeats (real time), tokens that stopped
        being valid, and closing a private connection idle without subscription (sandbox
        clock)."""
        loop = asyncio.get_running_loop()
        beat = heartbeat_interval(self.core)
        idle = idle_timeout(self.core)
        step = max(0.01, min(beat / 4, 0.2))
        while True:
            await asyncio.sleep(step)
            try:
                status = engine_status(self.core)
                if status != self._status:
                    self._status = status
                    self.send(v1.system_status(self.connection_id, status))
                self._drop_invalid_tokens()
                if self.subs:
                    if (not getattr(self.core.faults, "ws_no_heartbeat", False)
                            and loop.time() - self.outbox.last_data >= beat):
                        self.send(v1.heartbeat())
                elif self.private and self.core.clock.now() - self._idle_since >= idle:
                    await self.ws.close()
                    return
            except Exception:  # keep the housekeeping alive; log without any secret
                log.exception("v1 housekeeping failed")

    def _drop_invalid_tokens(self) -> None:
        """End subscriptions whose token is no longer valid (e.g. the admin invalidated every
        token), telling the client with ``ESession:Invalid session``."""
        for sub in list(self.subs.values()):
            try:
                self.core.gate.check_token(sub.token)
            except GateError as exc:
                self._end_sub(sub)
                self.send(v1.subscription_status(None, "error", error=exc.error,
                                                 subscription={"name": sub.name}))

    def _end_sub(self, sub: _Sub) -> None:
        self.subs.pop(sub.name, None)
        self.bindings.unbind(sub.token)
        if not any(s.account_id == sub.account_id for s in self.subs.values()):
            feed = self.feeds.pop(sub.account_id, None)
            if feed is not None:
                task = asyncio.get_running_loop().create_task(feed.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        if not self.subs:
            self._idle_since = self.core.clock.now()

    def _kill(self) -> None:
        """Drop the TCP connection without a close frame (fault switches)."""
        self.outbox.closed = True
        transport = self.request.transport if self.request is not None else None
        if transport is not None:
            transport.abort()

    def _ack_after(self) -> bool:
        return bool(getattr(self.core.settings, "ack_after_events", False)
                    or getattr(self.core.faults, "ws_ack_after_events", False))

    def send(self, message: Any) -> None:
        """Queue one message (encoded here) for sending, in order."""
        self.outbox.put(v1.encode(message).decode())

    # --- dispatch ----------------------------------------------------------------------------
    async def handle(self, data: str | bytes) -> None:
        """Handle one client frame (never raises: every failure becomes a reply)."""
        try:
            raw = v1.decode(data)
        except v1.DecodeError:
            self.send(v1.error_event(errors.MALFORMED_REQUEST))
            return
        try:
            req = v1.parse_request(raw)
        except v1.RequestError as exc:
            self.send(exc.reply)
            return
        try:
            await self._dispatch(req, raw)
        except Exception:  # a bug must not take the connection down without a reply
            log.exception("v1 request failed")
            event = v1.REPLY_EVENTS.get(str(raw.get("event")), "error")
            reqid = getattr(req, "reqid", None)
            if event == "error" or event == "pong":
                self.send(v1.error_event(errors.INTERNAL_ERROR, reqid))
            elif event == "subscriptionStatus":
                self.send(v1.subscription_status(None, "error", reqid=reqid,
                                                 error=errors.INTERNAL_ERROR,
                                                 subscription=raw.get("subscription")))
            else:
                self.send(v1.request_status(event, reqid=reqid, error=errors.INTERNAL_ERROR))

    async def _dispatch(self, req: v1.Request, raw: dict[str, Any]) -> None:
        if isinstance(req, v1.Ping):
            self.send(v1.pong(req.reqid))
            return
        if isinstance(req, v1.Subscribe | v1.Unsubscribe):
            echo = raw.get("subscription")
            if not self.private:
                self._public_subscribe(req, echo)
            elif isinstance(req, v1.Subscribe):
                self._subscribe(req, echo)
            else:
                self._unsubscribe(req, echo)
            return
        reply_event = v1.REPLY_EVENTS[str(raw["event"])]
        if not self.private:
            self.send(v1.request_status(reply_event, reqid=req.reqid,
                                        error=errors.PRIVATE_ON_PUBLIC))
            return
        try:
            key = self.core.gate.check_token(req.token)
        except GateError as exc:
            self.send(v1.request_status(reply_event, reqid=req.reqid, error=exc.error))
            return
        # no tick may publish between an operation's execution and its events (sends only
        # queue, so nothing here waits on the client while holding the gate)
        async with self.core.shared():
            await self._trade(req, key)

    async def _trade(self, req: v1.Request, key: KeyRecord) -> None:
        if isinstance(req, v1.AddOrder):
            await self._add_order(req, key)
        elif isinstance(req, v1.AmendOrder):
            await self._amend_order(req, key)
        elif isinstance(req, v1.EditOrder):
            await self._edit_order(req, key)
        elif isinstance(req, v1.CancelOrder):
            await self._cancel_order(req, key)
        elif isinstance(req, v1.CancelAll):
            await self._cancel_all(req, key)
        elif isinstance(req, v1.CancelAllOrdersAfter):
            await self._cancel_all_after(req, key)

    # --- subscriptions -----------------------------------------------------------------------
    def _public_subscribe(self, req: v1.Subscribe | v1.Unsubscribe, echo: Any) -> None:
        name = req.subscription.name
        if name in v1.CHANNELS:
            error = errors.PRIVATE_ON_PUBLIC
        elif isinstance(req, v1.Unsubscribe):
            error = errors.SUBSCRIPTION_NOT_FOUND
        else:
            error = errors.SUBSCRIPTION_NAME_INVALID
        self.send(v1.subscription_status(None, "error", reqid=req.reqid, error=error,
                                         subscription=echo))

    def _sub_error(self, req: v1.Subscribe | v1.Unsubscribe, echo: Any, error: str) -> None:
        self.send(v1.subscription_status(None, "error", reqid=req.reqid, error=error,
                                         subscription=echo))

    def _subscribe(self, req: v1.Subscribe, echo: Any) -> None:
        sub = req.subscription
        name = sub.name
        if name not in v1.CHANNELS:
            self._sub_error(req, echo, errors.PUBLIC_ON_PRIVATE_V2)
            return
        if not sub.token:
            self._sub_error(req, echo, errors.INVALID_SESSION)
            return
        try:
            key = self.bindings.bind(sub.token)
        except GateError as exc:
            self._sub_error(req, echo, exc.error)
            return
        refusal = errors.ALREADY_SUBSCRIBED if name in self.subs else None
        if refusal is None:
            try:
                self.core.gate.require(key, "query_orders")
            except GateError as exc:
                refusal = exc.error
        if refusal is not None:
            self.bindings.unbind(sub.token)
            self._sub_error(req, echo, refusal)
            return
        feed = self.feeds.get(key.account_id)
        if feed is None:
            feed = AccountFeed(self.core, key.account_id, self._deliver)
            self.feeds[key.account_id] = feed
        else:
            # events already queued are reflected in the state the snapshot reads: hand them to
            # the existing subscriptions first, so the new one starts cleanly after them
            self._deliver(feed.take())
        new = _Sub(name, sub.token, key,
                   ratecounter=_truthy(sub.ratecounter),
                   consolidate=sub.consolidate_taker is None or _truthy(sub.consolidate_taker))
        self.subs[name] = new
        maxrate: int | None = None
        if name == "openOrders":
            threshold = self.core.gate.max_rate_count(key)
            maxrate = int(threshold) if math.isfinite(threshold) else 2**31 - 1
        self.send(v1.subscription_status(name, "subscribed", reqid=req.reqid,
                                         maxratecount=maxrate))
        if name == "openOrders":
            self._snapshot_orders(new)
        elif sub.snapshot is None or _truthy(sub.snapshot):
            self._snapshot_trades(new)

    def _unsubscribe(self, req: v1.Unsubscribe, echo: Any) -> None:
        name = req.subscription.name
        sub = self.subs.get(name)
        if sub is None:
            self._sub_error(req, echo, errors.SUBSCRIPTION_NOT_FOUND)
            return
        self._end_sub(sub)
        self.send(v1.subscription_status(name, "unsubscribed", reqid=req.reqid))

    def _ratecount(self, sub: _Sub, pair_id: str) -> int | None:
        if not sub.ratecounter:
            return None
        return round(self.core.gate.trading_counter_value(sub.account_id, pair_id))

    def _frame(self, sub: _Sub, entries: list[dict[str, dict[str, Any]]]) -> None:
        self.send(v1.data_frame(sub.name, entries, sub.next_sequence()))

    def _live_frame(self, sub: _Sub, entries: list[dict[str, dict[str, Any]]]) -> None:
        """A feed update (not a snapshot): subject to the ``ws_drop_midstream`` fault."""
        faults = self.core.faults
        if getattr(faults, "ws_drop_midstream", False):
            faults.ws_drop_midstream = False
            self._kill()
            return
        self._frame(sub, entries)

    def _snapshot_orders(self, sub: _Sub) -> None:
        orders = sorted(self.core.exchange.open_orders(sub.account_id),
                        key=lambda o: (o.opentm, o.seq), reverse=True)
        sub.snap_orders = {o.id for o in orders}
        self._frame(sub, [{o.id: v1_frames.order_entry(o, ratecount=self._ratecount(sub, o.pair))}
                          for o in orders])

    def _snapshot_trades(self, sub: _Sub) -> None:
        """The last 50 entries, newest first, in the form the live frames use: with
        ``consolidate_taker`` one entry per taker pass (as :meth:`_deliver_trades` sends it),
        so a client sees the same trade list live and after a resubscription."""
        history = self.core.exchange.trades(sub.account_id)  # oldest first
        tail = OWN_TRADES_SNAPSHOT
        while True:
            recent = history[-tail:] if tail < len(history) else history
            if sub.consolidate:
                groups = v1_frames.taker_groups(recent)
                if recent is not history:
                    groups = groups[1:]  # the oldest group may have begun before the tail
            else:
                groups = [[t] for t in recent]
            if len(groups) >= OWN_TRADES_SNAPSHOT or recent is history:
                break
            tail *= 2
        groups = groups[-OWN_TRADES_SNAPSHOT:]
        groups.reverse()
        sub.snap_trades = {t.id for group in groups for t in group}
        shown = [v1_frames.merge_fills(group) for group in groups]
        self._frame(sub, [{t.id: v1_frames.trade_entry(t)} for t in shown])

    # --- feeds -------------------------------------------------------------------------------
    def _deliver(self, events: list[Event]) -> None:
        """Render account events into frames for this connection's subscriptions (no await)."""
        if not events:
            return
        for sub in list(self.subs.values()):
            mine = [e for e in events if isinstance(e, OrderEvent)
                    and e.order.account_id == sub.account_id]
            if not mine:
                continue
            if sub.name == "openOrders":
                self._deliver_orders(sub, mine)
            else:
                self._deliver_trades(sub, mine)

    def _deliver_orders(self, sub: _Sub, events: list[OrderEvent]) -> None:
        for event in events:
            if event.exec_type == "pending_new" and event.order.id in sub.snap_orders:
                sub.snap_orders.discard(event.order.id)
                continue
            body = v1_frames.order_delta(event,
                                         ratecount=self._ratecount(sub, event.order.pair))
            if body is not None:
                self._live_frame(sub, [{event.order.id: body}])

    def _deliver_trades(self, sub: _Sub, events: list[OrderEvent]) -> None:
        fills: list[tuple[Trade, Order]] = [
            (e.trade, e.order) for e in events
            if e.exec_type == "trade" and e.trade is not None
            and e.trade.id not in sub.snap_trades
        ]
        if not fills:
            return
        orders = {trade.order_id: order for trade, order in fills}
        trades = [trade for trade, _ in fills]
        if sub.consolidate:
            trades = v1_frames.consolidate_taker(trades)
        for trade in trades:
            self._live_frame(sub, [{trade.id: v1_frames.trade_entry(trade,
                                                                    orders[trade.order_id])}])

    def _publish(self, account_id: str, events: list[Event], ack: dict[str, Any],
                 order_id: str | None = None) -> None:
        """Publish an operation's events and send its reply ``ack`` in v1's order: after the
        ``openOrders`` pending entry of ``order_id`` when there is one (else first), or after
        every event with ``settings.ack_after_events``."""
        self.core.publish(events)
        feed = self.feeds.get(account_id)
        if feed is None:
            self.send(ack)
            return
        batch = feed.take()
        if self._ack_after():
            self._deliver(batch)
            self.send(ack)
            return
        cut = 0
        if order_id is not None:
            for i, event in enumerate(batch):
                if (isinstance(event, OrderEvent) and event.order.id == order_id
                        and event.exec_type == "pending_new"):
                    cut = i + 1
                    break
        self._deliver(batch[:cut])
        self.send(ack)
        self._deliver(batch[cut:])

    # --- trading -----------------------------------------------------------------------------
    async def _add_order(self, req: v1.AddOrder, key: KeyRecord) -> None:
        event = "addOrderStatus"
        try:
            order_req = order_request(req, self.core.clock.now(), self._last_price)
            order, events = await place_order(self.core, key, order_req)
        except Exception as exc:
            error = error_of(exc)
            if error is None:
                raise
            self.send(v1.request_status(event, reqid=req.reqid, error=error))
            return
        shown = None if is_relative_price(req.price) else req.price
        descr = v1_frames.add_order_descr(order, shown)
        faults = self.core.faults
        if getattr(faults, "ws_drop_before_reply", False) and order.id:
            faults.ws_drop_before_reply = False
            self.core.publish(events)
            self._kill()
            return
        if order_req.validate or not order.id:
            self._publish(key.account_id, events,
                          v1.request_status(event, reqid=req.reqid, descr=descr))
            return
        ack = v1.request_status(event, reqid=req.reqid, descr=descr, txid=order.id,
                                cl_ord_id=order.cl_ord_id)
        self._publish(key.account_id, events, ack, order.id)

    def _last_price(self, pair_id: str) -> Decimal:
        return self.core.exchange.ticker(pair_id)["last"]

    def _price(self, text: str | None, name: str, target: Order | None) -> Decimal | None:
        """A price parameter of amend/edit: absolute, or relative to the last traded price of
        the target order's pair (``EGeneral:Invalid arguments:<name>`` without a target)."""
        if not is_relative_price(text):
            return _decimal(text, name)
        if target is None or text is None:
            raise TradeError(errors.invalid_arguments(name))
        pair = v1_frames.pair_of(target.pair)
        return resolve_relative_price(text, side=target.side, ordertype=target.ordertype,
                                      last=self._last_price(target.pair), tick=pair.tick_size,
                                      name=name)

    def _resolve(self, key: KeyRecord, txid: str | None, cl_ord_id: str | None) -> Order | None:
        ident = txid or cl_ord_id
        if not ident:
            return None
        for order in self.core.exchange.open_orders(key.account_id):
            if ident in (order.id, order.cl_ord_id):
                return order
        return None

    async def _amend_order(self, req: v1.AmendOrder, key: KeyRecord) -> None:
        event = "amendOrderStatus"
        try:
            if req.txid is None and req.cl_ord_id is None:
                raise TradeError(errors.invalid_arguments("txid"))
            target = self._resolve(key, req.txid, req.cl_ord_id)
            limit = self._price(req.limit_price, "limit_price", target)
            trig = self._price(req.trigger_price, "trigger_price", target)
            price = price2 = None
            if target is not None and target.ordertype in ("stop-loss-limit",
                                                           "take-profit-limit"):
                price, price2 = trig, limit
            elif target is not None and target.ordertype in ("stop-loss", "take-profit"):
                price = trig
            else:
                price = limit
            if req.volume is not None and (not req.volume.is_finite() or req.volume < 0):
                raise TradeError(errors.invalid_arguments("volume"))
            (order, amend_id), events = await amend_order(
                self.core, key, order_id=req.txid, cl_ord_id=req.cl_ord_id, volume=req.volume,
                price=price, price2=price2, post_only=_truthy(req.post_only))
        except Exception as exc:
            error = error_of(exc)
            if error is None:
                raise
            self.send(v1.request_status(event, reqid=req.reqid, error=error))
            return
        ack = v1.request_status(event, reqid=req.reqid, amend_id=amend_id,
                                cl_ord_id=order.cl_ord_id if req.cl_ord_id else None,
                                txid=req.txid)
        self._publish(key.account_id, events, ack)

    async def _edit_order(self, req: v1.EditOrder, key: KeyRecord) -> None:
        event = "editOrderStatus"
        try:
            pair = pair_by_any(req.pair)
            if pair is None:
                raise TradeError(errors.UNKNOWN_PAIR)
            flags = _oflags(req.oflags)
            if req.volume is not None and (not req.volume.is_finite() or req.volume < 0):
                raise TradeError(errors.invalid_arguments("volume"))
            targets = find_open(self.core, key.account_id, str(req.orderid))
            if targets and targets[0].pair != pair.id:
                raise TradeError(errors.invalid_arguments("pair"))
            (new, old), events = await edit_order(
                self.core, key, req.orderid, volume=req.volume,
                price=self._price(req.price, "price", targets[0] if targets else None),
                price2=self._price(req.price2, "price2", targets[0] if targets else None),
                userref=_userref(req.newuserref, "newuserref"),
                post_only=("post" in flags) if req.oflags is not None else None,
                validate=_truthy(req.validate))
        except Exception as exc:
            error = error_of(exc)
            if error is None:
                raise
            self.send(v1.request_status(event, reqid=req.reqid, error=error))
            return
        descr = v1_frames.edit_order_descr(new, req.price is not None)
        ack = v1.request_status(event, reqid=req.reqid, descr=descr, originaltxid=old.id,
                                txid=new.id or None)
        self._publish(key.account_id, events, ack, new.id or None)

    async def _cancel_order(self, req: v1.CancelOrder, key: KeyRecord) -> None:
        event = "cancelOrderStatus"
        idents = [*(req.txid or []), *(req.cl_ord_id or [])]
        if not idents:
            self.send(v1.request_status(event, reqid=req.reqid,
                                        error=errors.invalid_arguments("txid")))
            return
        for ident in idents:
            try:
                _, events = await cancel_orders(self.core, key, str(ident))
            except Exception as exc:
                error = error_of(exc)
                if error is None:
                    raise
                self.send(v1.request_status(event, reqid=req.reqid, error=error))
                continue
            self._publish(key.account_id, events, v1.request_status(event, reqid=req.reqid))

    async def _cancel_all(self, req: v1.CancelAll, key: KeyRecord) -> None:
        event = "cancelAllStatus"
        try:
            count, events = await cancel_all(self.core, key)
        except Exception as exc:
            error = error_of(exc)
            if error is None:
                raise
            self.send(v1.request_status(event, reqid=req.reqid, error=error))
            return
        self._publish(key.account_id, events,
                      v1.request_status(event, reqid=req.reqid, count=count))

    async def _cancel_all_after(self, req: v1.CancelAllOrdersAfter, key: KeyRecord) -> None:
        event = "cancelAllOrdersAfterStatus"
        try:
            (current, trigger), events = await cancel_all_after(self.core, key, req.timeout)
        except Exception as exc:
            error = error_of(exc)
            if error is None:
                raise
            self.send(v1.request_status(event, reqid=req.reqid, error=error))
            return
        ack = v1.request_status(event, reqid=req.reqid, currentTime=_iso_seconds(current),
                                triggerTime="0" if trigger is None else _iso_seconds(trigger))
        self._publish(key.account_id, events, ack)
