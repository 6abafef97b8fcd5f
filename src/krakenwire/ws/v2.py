"""``PrivateSocket``: Kraken's authenticated WebSocket v2 as an asyncio session.

::

    async with PrivateSocket(credentials=creds, rest_url=..., url=...) as ws:
        result = await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                                    order_qty=Decimal("0.01"), limit_price=Decimal("50000"))
        async for frame in ws.executions():
            ...

What it promises (kraken-protocol.md §4, §6):

* Entering the context fetches a token (through a :class:`~krakenwire.token.TokenProvider`),
  connects, subscribes to ``executions`` and ``balances`` and returns once both are
  acknowledged. After every reconnect (exponential backoff with jitter, unlimited by default;
  a watchdog reconnects when neither data, heartbeat nor pong arrives in time) it subscribes
  again with a fresh token.
* ``ESession:Invalid session`` on a subscription makes it invalidate the token, fetch a new one
  and subscribe again on the same socket; the program sees a
  :class:`~krakenwire.ws.events.TokenRefreshed` event, nothing else.
* The socket reader never runs user code: replies resolve their futures directly, channel
  frames go onto bounded streams (:meth:`PrivateSocket.executions`,
  :meth:`PrivateSocket.balances`, :meth:`PrivateSocket.events`) that report overflow as a
  :class:`~krakenwire.ws.events.Gap`, and the :attr:`PrivateSocket.open_orders` view is
  updated by the reader itself, so it is right even when nobody reads the streams. After a
  reconnect the view is rebuilt from the new snapshot and an
  :class:`~krakenwire.orders.OrdersResync` naming the differences is put on the executions
  stream.
* Every trading method gets an int32 ``req_id`` and ends with its typed result, a typed
  :class:`~krakenwire.errors.KrakenError` (Kraken's string mapped as in REST), or a timeout.
  ``add_order`` and ``batch_add`` fill in a unique ``cl_ord_id`` for every order, are never
  resent, and raise :class:`~krakenwire.errors.OrderOutcomeUnknown` when the connection drops
  (or the reply times out) after sending; :meth:`PrivateSocket.reconcile` then looks the order
  up in the next snapshot.
* Tokens, keys and secrets never appear in logs, reprs, events or exception messages.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

import msgspec

from krakenwire.errors import error_from_kraken
from krakenwire.orders import OrdersResync, Reconciliation
from krakenwire.protocol import errors as E
from krakenwire.protocol import v2
from krakenwire.protocol.rest import check_url
from krakenwire.ws.connection import ConnectionSettings, Link, NotConnectedError
from krakenwire.ws.events import Gap
from krakenwire.ws.session import ChannelRefused, PrivateSessionBase
from krakenwire.ws.streams import EventStream

if TYPE_CHECKING:
    import aiohttp

    from krakenwire.auth import Credentials
    from krakenwire.token import TokenProvider

__all__ = [
    "DEFAULT_WS_AUTH_V2_URL",
    "BalancesEvent",
    "ExecutionsEvent",
    "PrivateSocket",
    "Reconciliation",
    "new_cl_ord_id",
]

log = logging.getLogger("krakenwire.ws.v2")

DEFAULT_WS_AUTH_V2_URL = "wss://ws-auth.kraken.com/v2"

#: what :meth:`PrivateSocket.executions` yields
ExecutionsEvent: TypeAlias = v2.ExecutionsFrame | OrdersResync | Gap
#: what :meth:`PrivateSocket.balances` yields
BalancesEvent: TypeAlias = v2.BalancesSnapshotFrame | v2.BalancesUpdateFrame | Gap

Number: TypeAlias = Decimal | int | str

_PING = v2.encode(v2.Request(method="ping"))


def _num(name: str, value: Any) -> Decimal:
    """Convert a money / quantity argument to Decimal (floats are refused)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool | float):
        raise TypeError(f"{name} must be a Decimal, int or str (floats are not accepted for "
                        f"money), not {type(value).__name__}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{name} is not a number: {value!r}") from None
        if not result.is_finite():
            raise ValueError(f"{name} is not a finite number: {value!r}")
        return result
    raise TypeError(f"{name} must be a Decimal, int or str, not {type(value).__name__}")


_NUMERIC = frozenset({"order_qty", "limit_price", "display_qty", "cash_order_qty",
                      "trigger_price"})


def _fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values and convert numeric fields to Decimal."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = _num(key, value) if key in _NUMERIC else value
    return out


def new_cl_ord_id() -> str:
    """A fresh client order id (a long UUID, one of the formats Kraken accepts)."""
    return str(uuid.uuid4())


class PrivateSocket(PrivateSessionBase):
    """An authenticated Kraken WebSocket v2 session (see the module docstring).

    Args:
        credentials: a :class:`~krakenwire.auth.Credentials`; tokens are then fetched over
            REST from ``rest_url`` (default ``KRAKEN_REST_URL`` or ``https://api.kraken.com``).
        token_provider: a :class:`~krakenwire.token.TokenProvider` (instead of credentials).
        url: the WebSocket URL (default ``KRAKEN_WS_AUTH_URL`` or
            ``wss://ws-auth.kraken.com/v2``). Plain ``ws://`` only for loopback unless
            ``allow_insecure``.
        channels: the private channels to keep subscribed (``executions`` is needed for
            :attr:`open_orders` and :meth:`reconcile`).
        snap_trades: ask for the last fills in the ``executions`` snapshot.
        request_timeout: default seconds to wait for a reply to a request.
        settings: connection timing (:class:`~krakenwire.ws.connection.ConnectionSettings`).
        queue_size: capacity of each user-facing stream before it reports a gap.
        rate_warning_fraction: emit a :class:`~krakenwire.ws.events.RateLimitWarning` when
            the trading rate counter (``ratecounter`` on executions) reaches this fraction of
            ``maxratecount``.
        session: an ``aiohttp.ClientSession`` to use for the socket.

    The session machinery (tokens, reconnects, requests, :attr:`open_orders`,
    :meth:`reconcile`, the dead-man switch, :meth:`events`) is
    :class:`~krakenwire.ws.session.PrivateSessionBase`, shared with the v1 session; this
    class is the v2 wire. Construction does no I/O; the connection opens on ``async with`` /
    :meth:`connect`, or with the first request. Raises ``ValueError`` when neither or both of
    ``credentials`` and ``token_provider`` are given or a channel is not a private v2 one,
    :class:`~krakenwire.errors.InsecureURLError` for a refused URL.
    """

    ORDERS_CHANNEL: ClassVar[str] = "executions"
    PLACING: ClassVar[frozenset[str]] = frozenset({"add_order", "batch_add", "edit_order"})

    def __init__(self, *, credentials: Credentials | None = None,
                 token_provider: TokenProvider | None = None,
                 url: str | None = None, rest_url: str | None = None,
                 channels: Sequence[str] = ("executions", "balances"),
                 snap_trades: bool = True, request_timeout: float = 10.0,
                 settings: ConnectionSettings | None = None, queue_size: int = 10_000,
                 allow_insecure: bool = False, rate_warning_fraction: float = 0.8,
                 session: aiohttp.ClientSession | None = None) -> None:
        for channel in channels:
            if channel not in ("executions", "balances"):
                raise ValueError(f"not a private v2 channel: {channel!r}")
        checked = check_url(url or os.environ.get("KRAKEN_WS_AUTH_URL")
                            or DEFAULT_WS_AUTH_V2_URL, allow_insecure=allow_insecure)
        super().__init__(url=checked, channels=channels, credentials=credentials,
                         token_provider=token_provider, rest_url=rest_url,
                         allow_insecure=allow_insecure, request_timeout=request_timeout,
                         settings=settings, queue_size=queue_size,
                         rate_warning_fraction=rate_warning_fraction, session=session)
        self.snap_trades = snap_trades
        self._balances_now: dict[str, Decimal] = {}
        #: the engine status from the latest ``status`` frame (``online``, ``maintenance``...)
        self.system_status: str | None = None
        self._executions: EventStream[v2.ExecutionsFrame | OrdersResync] = EventStream(
            "executions", queue_size)
        self._balances: EventStream[v2.BalancesSnapshotFrame | v2.BalancesUpdateFrame] = (
            EventStream("balances", queue_size))

    # ------------------------------------------------------------------------------ context
    async def __aenter__(self) -> PrivateSocket:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # an exception leaves an armed dead-man switch armed: that is what it is for
        await self.close(disarm=exc_type is None)

    # ------------------------------------------------------------------------------ streams
    def executions(self) -> AsyncIterator[ExecutionsEvent]:
        """The ``executions`` frames (snapshot, then updates), each typed
        :class:`~krakenwire.protocol.v2.ExecutionsFrame`; an
        :class:`~krakenwire.orders.OrdersResync` after a reconnect's snapshot changed the
        view; a :class:`~krakenwire.ws.events.Gap` if this stream overflowed. Buffered from
        construction (the first snapshot is never missed); one stream per session, so
        concurrent readers share its items. Ends when the session closes."""
        return self._executions.__aiter__()

    def balances(self) -> AsyncIterator[BalancesEvent]:
        """The ``balances`` frames (snapshot, then ledger updates), or a Gap on overflow."""
        return self._balances.__aiter__()

    @property
    def account_balances(self) -> dict[str, Decimal]:
        """The latest balance per asset (v2 codes, ``BTC``, ``USD``) from the balances
        channel: snapshot, then each ledger update's balance-after."""
        return dict(self._balances_now)

    # ------------------------------------------------------------------- the v2 wire
    def _streams(self) -> Sequence[EventStream[Any]]:
        return (self._executions, self._balances)

    def ping_frame(self) -> bytes:
        """The v2 application-level ping."""
        return _PING

    def _encode_request(self, method: str, request: Any, req_id: int) -> bytes:
        request.token = self._token or ""
        return v2.encode(v2.Request(method=method, params=request, req_id=req_id))

    def _refusal(self, reply: Any) -> str | None:
        if reply.success is True:
            return None
        return str(reply.error or "request refused")

    async def _subscribe(self, link: Link, channel: str) -> None:
        params = v2.SubscribeParams(channel=channel, token=self._token or "")
        if channel == "executions":
            params.snap_orders = True
            params.snap_trades = self.snap_trades
            params.ratecounter = True
            if self._snapshot_seen is None:
                self._snapshot_seen = asyncio.Event()
        elif channel == "balances":
            params.snapshot = True
        pending = self._pending.open("subscribe", context=channel)
        try:
            await link.send(v2.encode(v2.Request(method="subscribe", params=params,
                                                 req_id=pending.req_id)))
            async with asyncio.timeout(self.request_timeout):  # not wait_for: see connection
                replies = await pending.future
        except (TimeoutError, NotConnectedError):
            self._pending.discard(pending.req_id)
            raise
        reply: v2.Response = replies[0]
        if reply.success is not True and reply.error != E.ALREADY_SUBSCRIBED:
            raise ChannelRefused(error_from_kraken(str(reply.error or "subscribe refused"),
                                                   method="subscribe"))
        result = reply.result
        if isinstance(result, v2.SubscriptionResult) and isinstance(result.maxratecount, int):
            self.max_rate_count = result.maxratecount

    async def _unsubscribe(self, channel: str, timeout: float) -> None:
        await self._request("unsubscribe", v2.SubscribeParams(channel=channel),
                            reply_timeout=timeout)

    def on_text(self, data: bytes | str) -> bool:
        """Handle one frame (called by the reader; never blocks, never runs user code).
        Return True when the frame completed a request's reply."""
        try:
            msg = v2.decode_message(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raw = data.encode() if isinstance(data, str) else data
            if b'"executions"' in raw:
                # an execution report we cannot read: the view may now be wrong, so take a
                # fresh snapshot rather than diverge silently
                log.warning("unreadable executions frame (%s); asking for a new snapshot",
                            type(exc).__name__)
                self._schedule_task(self._resnapshot(self.request_timeout))
            else:
                log.warning("ignoring an unreadable frame (%s)", type(exc).__name__)
            return False
        if isinstance(msg, v2.Response):
            return self._on_response(msg)
        if isinstance(msg, v2.ExecutionsFrame):
            self._on_executions(msg)
        elif isinstance(msg, v2.BalancesUpdateFrame):
            self._check_sequence("balances", _int(msg.sequence), snapshot=False)
            for entry in msg.data:
                if entry.wallet_type == "spot":
                    self._balances_now[entry.asset] = entry.balance
            self._balances.push(msg)
        elif isinstance(msg, v2.BalancesSnapshotFrame):
            self._check_sequence("balances", _int(msg.sequence), snapshot=True)
            self._balances_now = {b.asset: b.balance for b in msg.data}
            self._balances.push(msg)
        elif isinstance(msg, v2.StatusFrame) and msg.data:
            self.system_status = msg.data[0].system
        return False

    def _on_response(self, msg: v2.Response) -> bool:
        if msg.method == "pong":
            self.pongs += 1
            return False
        rid = msg.req_id if isinstance(msg.req_id, int) else None
        if self._resolve(rid, msg.method, msg):
            return True
        if msg.success is False and msg.error in (E.INVALID_SESSION, E.TOKEN_NOT_FOUND):
            # unsolicited: the server ended a subscription because it no longer accepts the
            # token; subscribe again with a fresh one on this socket
            if isinstance(msg.channel, str):
                self._subscribed.discard(msg.channel)
            else:
                self._subscribed.clear()
            self._schedule_refresh("the server reported an invalid session")
        elif msg.success is False:
            log.warning("unmatched error reply to %s: %s", msg.method, msg.error)
        return False

    def _on_executions(self, msg: v2.ExecutionsFrame) -> None:
        if msg.type == "snapshot":
            self._check_sequence("executions", _int(msg.sequence), snapshot=True)
            first = self.open_orders.snapshots == 0
            resync = self.open_orders.load_snapshot(msg.data)
            self._executions.push(msg)
            if resync and not first:
                log.info("open orders resynchronised: %d appeared, %d vanished, %d changed",
                         len(resync.appeared), len(resync.vanished), len(resync.changed))
                self._executions.push(resync)
            self._snapshot_applied()
            return
        self._check_sequence("executions", _int(msg.sequence), snapshot=False)
        apply = self.open_orders.apply
        for report in msg.data:
            apply(report)
            if isinstance(report.ratecount, Decimal):
                self._note_rate(report.ratecount)
        self._executions.push(msg)

    # ---------------------------------------------------------------------------- trading
    async def add_order(self, *, symbol: str, side: str, order_type: str,
                        order_qty: Number | None = None, limit_price: Number | None = None,
                        cl_ord_id: str | None = None, time_in_force: str | None = None,
                        post_only: bool | None = None, reduce_only: bool | None = None,
                        cash_order_qty: Number | None = None, validate: bool | None = None,
                        reply_timeout: float | None = None,
                        **extra: Any) -> v2.AddOrderResult:
        """Place one order; return Kraken's ``add_order`` result (``order_id``, echoed
        ``cl_ord_id``).

        A ``cl_ord_id`` is generated when none is given (Kraken takes either ``cl_ord_id`` or
        ``order_userref``; krakenwire always sends a ``cl_ord_id`` so every order can be
        reconciled). ``extra`` takes the other ``add_order`` params of
        :class:`~krakenwire.protocol.v2.AddOrderParams` (``triggers``, ``display_qty``,
        ``stp_type``, ``deadline``...). Never resent.

        Raises:
            KrakenError: Kraken refused (e.g. :class:`~krakenwire.errors.InsufficientFunds`).
            OrderOutcomeUnknown: sent, but the connection dropped or the reply did not come
                in time; the order may exist — see :meth:`reconcile`.
            TransportError: not sent (not connected within the timeout).
            TypeError / ValueError: bad arguments (a float amount, an unknown param, both
                ``cl_ord_id`` and ``order_userref``).
        """
        if "order_userref" in extra:
            raise TypeError("add_order takes cl_ord_id, not order_userref (Kraken accepts only "
                            "one of them; krakenwire always sends a cl_ord_id)")
        cl = cl_ord_id or new_cl_ord_id()
        params = v2.AddOrderParams(**_fields(dict(
            extra, symbol=symbol, side=side, order_type=order_type, order_qty=order_qty,
            limit_price=limit_price, cl_ord_id=cl, time_in_force=time_in_force,
            post_only=post_only, reduce_only=reduce_only, cash_order_qty=cash_order_qty,
            validate=validate)))
        replies = await self._request("add_order", params, cl_ord_ids=(cl,),
                                      reply_timeout=reply_timeout)
        result: v2.AddOrderResult = replies[0].result
        return result

    async def amend_order(self, *, order_id: str | None = None, cl_ord_id: str | None = None,
                          order_qty: Number, limit_price: Number | None = None,
                          post_only: bool | None = None, reply_timeout: float | None = None,
                          **extra: Any) -> v2.AmendOrderResult:
        """Amend an open order in place (ids and, where possible, queue priority kept).

        Raises:
            KrakenError: refused (e.g. :class:`~krakenwire.errors.UnknownOrder`).
            TransportError: no reply (the amend may or may not have happened).
            ValueError: neither or both of ``order_id`` and ``cl_ord_id``.
        """
        if (order_id is None) == (cl_ord_id is None):
            raise ValueError("give exactly one of order_id or cl_ord_id")
        params = v2.AmendOrderParams(**_fields(dict(
            extra, order_id=order_id, cl_ord_id=cl_ord_id, order_qty=order_qty,
            limit_price=limit_price, post_only=post_only)))
        replies = await self._request("amend_order", params, reply_timeout=reply_timeout)
        result: v2.AmendOrderResult = replies[0].result
        return result

    async def edit_order(self, *, order_id: str, symbol: str, order_qty: Number | None = None,
                         limit_price: Number | None = None, reply_timeout: float | None = None,
                         **extra: Any) -> v2.EditOrderResult:
        """Replace an order (cancel + new order id); not for triggered/conditional orders.

        Raises:
            KrakenError: refused.
            OrderOutcomeUnknown: sent, no reply (``cl_ord_id`` is empty: edit_order has none;
                look for ``order_id`` in :attr:`open_orders`).
        """
        params = v2.EditOrderParams(**_fields(dict(
            extra, order_id=order_id, symbol=symbol, order_qty=order_qty,
            limit_price=limit_price)))
        replies = await self._request("edit_order", params, reply_timeout=reply_timeout)
        result: v2.EditOrderResult = replies[0].result
        return result

    async def cancel_order(self, order_id: str | Sequence[str] = (), *,
                           cl_ord_id: str | Sequence[str] = (),
                           order_userref: int | Sequence[int] = (),
                           reply_timeout: float | None = None) -> list[v2.CancelOrderResult]:
        """Cancel orders by id, ``cl_ord_id`` or ``order_userref``; one result per order.

        Raises:
            KrakenError: a refusal (the first one; ``exc.replies`` holds all replies when some
                orders were cancelled and others not).
            ValueError: no id given.
        """
        oids = [order_id] if isinstance(order_id, str) else list(order_id)
        cls = [cl_ord_id] if isinstance(cl_ord_id, str) else list(cl_ord_id)
        refs = [order_userref] if isinstance(order_userref, int) else list(order_userref)
        count = len(oids) + len(cls) + len(refs)
        if not count:
            raise ValueError("cancel_order needs at least one order_id, cl_ord_id or userref")
        params = v2.CancelOrderParams()
        if oids:
            params.order_id = oids
        if cls:
            params.cl_ord_id = cls
        if refs:
            params.order_userref = refs
        replies = await self._request("cancel_order", params, expected=count,
                                      reply_timeout=reply_timeout)
        return [r.result for r in replies]

    async def cancel_all(self, *, reply_timeout: float | None = None) -> v2.CountResult:
        """Cancel every open order; the result's ``count`` says how many."""
        replies = await self._request("cancel_all", v2.CancelAllParams(),
                                      reply_timeout=reply_timeout)
        result: v2.CountResult = replies[0].result
        return result

    async def cancel_all_orders_after(self, seconds: int, *,
                                      reply_timeout: float | None = None
                                      ) -> v2.CancelAfterResult:
        """Arm (``seconds`` > 0) or disarm (0) Kraken's dead-man switch.

        Raises:
            ValueError: ``seconds`` outside ``0 .. 86399``.
        """
        if not 0 <= int(seconds) < 86400:
            raise ValueError("seconds must be within 0 .. 86399")
        replies = await self._request("cancel_all_orders_after",
                                      v2.CancelAfterParams(timeout=int(seconds)),
                                      reply_timeout=reply_timeout)
        self._dms_armed = int(seconds) > 0
        result: v2.CancelAfterResult = replies[0].result
        return result

    async def batch_add(self, orders: Sequence[v2.BatchOrder | Mapping[str, Any]], *,
                        symbol: str, deadline: str | None = None,
                        validate: bool | None = None,
                        reply_timeout: float | None = None) -> list[v2.AddOrderResult]:
        """Place 2–15 orders on one ``symbol``; every order gets a ``cl_ord_id`` if it has
        none. Never resent; raises :class:`OrderOutcomeUnknown` (with ``cl_ord_ids``) when the
        reply does not come."""
        built: list[v2.BatchOrder] = []
        for item in orders:
            order = item if isinstance(item, v2.BatchOrder) else v2.BatchOrder(**_fields(item))
            if isinstance(order.order_userref, int):
                raise TypeError("batch_add orders take cl_ord_id, not order_userref")
            if not isinstance(order.cl_ord_id, str):
                order = msgspec.structs.replace(order, cl_ord_id=new_cl_ord_id())
            built.append(order)
        params = v2.BatchAddParams(orders=built, symbol=symbol)
        if deadline is not None:
            params.deadline = deadline
        if validate is not None:
            params.validate = validate
        ids = [str(o.cl_ord_id) for o in built]
        replies = await self._request("batch_add", params, cl_ord_ids=ids,
                                      reply_timeout=reply_timeout)
        result: list[v2.AddOrderResult] = replies[0].result
        return result

    async def batch_cancel(self, orders: Sequence[str] = (), *,
                           cl_ord_id: Sequence[str] = (),
                           reply_timeout: float | None = None) -> v2.CountResult:
        """Cancel 2–50 orders by id / userref string or ``cl_ord_id``."""
        params = v2.BatchCancelParams()
        if orders:
            params.orders = list(orders)
        if cl_ord_id:
            params.cl_ord_id = list(cl_ord_id)
        replies = await self._request("batch_cancel", params, reply_timeout=reply_timeout)
        result: v2.CountResult = replies[0].result
        return result

    def __repr__(self) -> str:
        return (f"PrivateSocket(url={self.url!r}, ready={self.ready}, "
                f"connections={self.connections}, open_orders={len(self.open_orders)})")


def _int(value: int | msgspec.UnsetType) -> int | None:
    return value if isinstance(value, int) else None
