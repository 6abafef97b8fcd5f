"""``PrivateSocketV1``: Kraken's authenticated WebSocket v1 (``wss://ws-auth.kraken.com``) as an
asyncio session.

::

    async with PrivateSocketV1(credentials=creds) as ws:
        ack = await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                                 volume=Decimal("0.01"), price=Decimal("50000"))
        async for frame in ws.open_orders_feed():
            ...

The same guarantees as the v2 :class:`~krakenwire.ws.v2.PrivateSocket`, on the same parts
(:class:`~krakenwire.ws.session.PrivateSessionBase`, :mod:`krakenwire.ws.connection`, the
:class:`~krakenwire.orders.OpenOrders` view); wire facts in kraken-protocol.md §4, §5:

* Entering the context fetches a token, connects, subscribes to ``openOrders`` (with
  ``ratecounter``) and ``ownTrades`` with ``subscription.token`` and returns once both are
  acknowledged. After every reconnect (backoff with jitter; a watchdog pings a quiet socket
  and reconnects a silent one) it subscribes again with a fresh token; a subscription ended
  with ``ESession:Invalid session`` is renewed with a new token on the same socket.
* The reader never runs user code: ``*Status`` replies resolve their futures (matched by
  ``reqid``), frames go onto bounded streams (:meth:`PrivateSocketV1.open_orders_feed`,
  :meth:`PrivateSocketV1.own_trades_feed`, :meth:`~PrivateSocketV1.events`) that report
  overflow as a :class:`~krakenwire.ws.events.Gap`, and :attr:`PrivateSocketV1.open_orders` is
  kept by the reader from the ``openOrders`` snapshot and deltas (merged with
  :func:`krakenwire.protocol.v1.merge_order`, translated by :mod:`krakenwire.orders_v1`). A new
  snapshot after a reconnect puts an :class:`~krakenwire.orders.OrdersResync` on the feed.
* Trading requests carry the token at top level, numbers as strings, and an int32 ``reqid``;
  each ends with its typed :class:`~krakenwire.protocol.v1.RequestStatus`, a typed
  :class:`~krakenwire.errors.KrakenError` from Kraken's ``errorMessage``, or a timeout.
  ``cancelOrder`` answers once per id without naming it: Kraken handles the ids in the order
  given, so the n-th ``cancelOrderStatus`` of the ``reqid`` is the n-th id's, and
  :meth:`PrivateSocketV1.cancel_order` returns one :class:`CancelResult` per txid.
* ``add_order`` always sends a ``cl_ord_id`` (generated when none is given), is never resent,
  and raises :class:`~krakenwire.errors.OrderOutcomeUnknown` when the connection drops (or the
  reply times out) after sending; :meth:`~PrivateSocketV1.reconcile` then finds the order in
  the next snapshot (or over REST).
* Tokens, keys and secrets never appear in logs, reprs, events or exception messages.

Pairs are in v1 form (``XBT/USD``); so is ``symbol`` in the view.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from krakenwire.errors import KrakenError, error_from_kraken
from krakenwire.orders import OrdersResync, Reconciliation
from krakenwire.orders_v1 import report_from_v1
from krakenwire.protocol import errors as E
from krakenwire.protocol import v1
from krakenwire.protocol.rest import check_url
from krakenwire.ws.connection import ConnectionSettings, Link, NotConnectedError
from krakenwire.ws.events import Gap
from krakenwire.ws.session import ChannelRefused, PrivateSessionBase
from krakenwire.ws.streams import EventStream
from krakenwire.ws.v2 import _num, new_cl_ord_id

if TYPE_CHECKING:
    import aiohttp

    from krakenwire.auth import Credentials
    from krakenwire.token import TokenProvider

__all__ = [
    "DEFAULT_WS_AUTH_V1_URL",
    "CancelResult",
    "OpenOrdersEvent",
    "OwnTradesEvent",
    "PrivateSocketV1",
    "Reconciliation",
    "default_v1_url",
]

log = logging.getLogger("krakenwire.ws.v1")

DEFAULT_WS_AUTH_V1_URL: Final = "wss://ws-auth.kraken.com"

#: what :meth:`PrivateSocketV1.open_orders_feed` yields
OpenOrdersEvent: TypeAlias = v1.OpenOrders | OrdersResync | Gap
#: what :meth:`PrivateSocketV1.own_trades_feed` yields
OwnTradesEvent: TypeAlias = v1.OwnTrades | Gap

Number: TypeAlias = Decimal | int | str

_CHANNELS: Final = ("openOrders", "ownTrades")
_FINAL: Final = frozenset({"closed", "canceled", "expired"})
_TRADES_REMEMBERED: Final = 1000  # more than a snapshot's 50
_PING: Final = v1.encode(v1.Ping())
# reply event -> request event, for a reply that came back without its reqid
_REQUEST_OF: Final = {reply: request for request, reply in v1.REPLY_EVENTS.items()
                      if request not in ("ping", "subscribe", "unsubscribe")}


def default_v1_url() -> str:
    """``KRAKEN_WS_AUTH_URL`` without a trailing ``/v2`` (Kraken serves v1 at the host root
    and v2 under ``/v2``; the sandbox at ``/ws-auth`` and ``/ws-auth/v2``), else
    :data:`DEFAULT_WS_AUTH_V1_URL`."""
    env = os.environ.get("KRAKEN_WS_AUTH_URL", "").rstrip("/")
    if not env:
        return DEFAULT_WS_AUTH_V1_URL
    return env[:-3] if env.endswith("/v2") else env


def _text(name: str, value: Number | None) -> str | None:
    """A price argument as v1's string; Decimal/int/str accepted (relative prices such as
    ``+5`` or ``2%`` pass as strings), floats refused."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("+", "-", "#") or text.endswith("%"):
            return text
    return format(_num(name, value), "f")


def _amount(name: str, value: Number | None) -> Decimal | None:
    """A volume argument as an exact Decimal in plain notation (floats refused)."""
    return None if value is None else Decimal(format(_num(name, value), "f"))


@dataclass(frozen=True, slots=True)
class CancelResult:
    """The outcome of cancelling one id (``txid``: the order id, userref or ``cl_ord_id``
    as given): ``ok``, else ``error`` is Kraken's string (``EOrder:Unknown order``)."""

    txid: str
    ok: bool
    error: str | None = None


class PrivateSocketV1(PrivateSessionBase):
    """An authenticated Kraken WebSocket v1 session (see the module docstring).

    Args:
        credentials: a :class:`~krakenwire.auth.Credentials`; tokens are then fetched over
            REST from ``rest_url`` (default ``KRAKEN_REST_URL`` or ``https://api.kraken.com``).
        token_provider: a :class:`~krakenwire.token.TokenProvider` (instead of credentials).
        url: the v1 WebSocket URL (default :func:`default_v1_url`). Plain ``ws://`` only for
            loopback unless ``allow_insecure``.
        channels: the private channels to keep subscribed (``openOrders`` is needed for
            :attr:`open_orders` and :meth:`reconcile`).
        snap_trades: ask for the last 50 trades when subscribing to ``ownTrades``.
        consolidate_taker: ``ownTrades`` option: one entry per taker order, not per fill.
        request_timeout: default seconds to wait for a reply.
        settings: connection timing (:class:`~krakenwire.ws.connection.ConnectionSettings`).
        queue_size: capacity of each stream before it reports a gap.
        rate_warning_fraction: emit a :class:`~krakenwire.ws.events.RateLimitWarning` when the
            ``ratecount`` of ``openOrders`` reaches this fraction of ``maxratecount``.
        session: an ``aiohttp.ClientSession`` to use for the socket.

    Construction does no I/O. Raises ``ValueError`` when neither or both of ``credentials``
    and ``token_provider`` are given or for an unknown channel,
    :class:`~krakenwire.errors.InsecureURLError` for a refused URL.
    """

    ORDERS_CHANNEL = "openOrders"
    PLACING = frozenset({"addOrder", "editOrder"})

    def __init__(self, *, credentials: Credentials | None = None,
                 token_provider: TokenProvider | None = None,
                 url: str | None = None, rest_url: str | None = None,
                 channels: Sequence[str] = _CHANNELS, snap_trades: bool = True,
                 consolidate_taker: bool = True, request_timeout: float = 10.0,
                 settings: ConnectionSettings | None = None, queue_size: int = 10_000,
                 allow_insecure: bool = False, rate_warning_fraction: float = 0.8,
                 session: aiohttp.ClientSession | None = None) -> None:
        for channel in channels:
            if channel not in _CHANNELS:
                raise ValueError(f"not a private v1 channel: {channel!r}")
        super().__init__(
            url=check_url(url or default_v1_url(), allow_insecure=allow_insecure),
            channels=channels, credentials=credentials, token_provider=token_provider,
            rest_url=rest_url, allow_insecure=allow_insecure, request_timeout=request_timeout,
            settings=settings, queue_size=queue_size,
            rate_warning_fraction=rate_warning_fraction, session=session)
        self.snap_trades = snap_trades
        self.consolidate_taker = consolidate_taker
        #: the engine status of the last ``systemStatus`` (``online``, ``cancel_only``...)
        self.system_status: str | None = None
        #: ``connectionID`` of the current socket's greeting (an unsigned 64-bit integer)
        self.connection_id: int | None = None
        self._orders_feed: EventStream[v1.OpenOrders | OrdersResync] = EventStream(
            "openOrders", queue_size)
        self._trades_feed: EventStream[v1.OwnTrades] = EventStream("ownTrades", queue_size)
        # each open order's v1 entry, merged from its full entry and every delta since
        self._entries: dict[str, v1.OpenOrderInfo] = {}
        # channels whose next frame is the snapshot of a subscription just requested
        self._snapshot_due: set[str] = set()
        # ids of the trades delivered lately (a resubscription's snapshot repeats them)
        self._trades_seen: OrderedDict[str | tuple[str, Decimal], None] = OrderedDict()

    async def __aenter__(self) -> PrivateSocketV1:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # an exception leaves an armed dead-man switch armed: that is what it is for
        await self.close(disarm=exc_type is None)

    # ---------------------------------------------------------------------------- streams
    def open_orders_feed(self) -> AsyncIterator[OpenOrdersEvent]:
        """The ``openOrders`` frames (snapshot, then deltas) as typed
        :class:`~krakenwire.protocol.v1.OpenOrders`; an
        :class:`~krakenwire.orders.OrdersResync` when a reconnect's snapshot changed the view;
        a :class:`~krakenwire.ws.events.Gap` if this stream overflowed. One consumer; ends
        when the session closes."""
        return self._orders_feed.__aiter__()

    def own_trades_feed(self) -> AsyncIterator[OwnTradesEvent]:
        """The ``ownTrades`` frames (snapshot, then one per fill) as typed
        :class:`~krakenwire.protocol.v1.OwnTrades`, or a Gap on overflow. The snapshot that
        follows a reconnect or token refresh carries only trades not delivered before (by trade
        id, or by order and time for fills delivered merged by ``consolidate_taker``), so a
        fill is not delivered twice."""
        return self._trades_feed.__aiter__()

    def _streams(self) -> Sequence[EventStream[Any]]:
        return (self._orders_feed, self._trades_feed)

    # --------------------------------------------------------------------- protocol hooks
    async def on_open(self, link: Link, reconnect: bool) -> None:
        """Authenticate and subscribe on a fresh socket (called by the connection loop)."""
        self._snapshot_due.clear()  # nothing asked on an earlier socket is still coming
        await super().on_open(link, reconnect)

    async def _subscribe(self, link: Link, channel: str) -> None:
        sub = v1.Subscription(name=channel, token=self._token or "")
        if channel == "openOrders":
            sub.ratecounter = True
            if self._snapshot_seen is None:
                self._snapshot_seen = asyncio.Event()
            self._snapshot_due.add(channel)
        else:
            sub.snapshot = self.snap_trades
            sub.consolidate_taker = self.consolidate_taker
            if self.snap_trades:
                self._snapshot_due.add(channel)
        pending = self._pending.open("subscribe", context=channel)
        try:
            await link.send(v1.encode(v1.Subscribe(subscription=sub, reqid=pending.req_id)))
            async with asyncio.timeout(self.request_timeout):  # not wait_for: see connection
                replies = await pending.future
        except (TimeoutError, NotConnectedError):
            self._pending.discard(pending.req_id)
            self._snapshot_due.discard(channel)
            raise
        reply = replies[0]
        error = self._refusal(reply)
        if error is not None:
            self._snapshot_due.discard(channel)  # a refusal brings no snapshot
            if error != E.ALREADY_SUBSCRIBED:
                raise ChannelRefused(error_from_kraken(error, method="subscribe"))
        if isinstance(reply, v1.SubscriptionStatus):
            limit = reply.subscription.get("maxratecount")
            if isinstance(limit, int) and not isinstance(limit, bool):
                self.max_rate_count = limit

    async def _unsubscribe(self, channel: str, timeout: float) -> None:
        await self._request("unsubscribe", v1.Unsubscribe(subscription=v1.Subscription(
            name=channel)), reply_timeout=timeout)

    def _encode_request(self, method: str, request: Any, req_id: int) -> bytes:
        request.reqid = req_id
        if isinstance(request, v1.Subscribe | v1.Unsubscribe):
            request.subscription.token = self._token or ""
        else:
            request.token = self._token or ""
        return v1.encode(request)

    def _refusal(self, reply: Any) -> str | None:
        if isinstance(reply, v1.ErrorEvent):
            return reply.error_message or "request refused"
        if getattr(reply, "status", None) == "error":
            return str(getattr(reply, "error_message", None) or "request refused")
        return None

    def ping_frame(self) -> bytes:
        """The v1 application-level ping ``{"event":"ping"}``."""
        return _PING

    # ------------------------------------------------------------------------- the reader
    def on_text(self, data: bytes | str) -> bool:
        """Handle one frame (called by the reader; never blocks, never runs user code).
        Return True when the frame completed a request's reply."""
        try:
            msg = v1.parse_message(data)
        except v1.DecodeError as exc:
            raw = data.encode() if isinstance(data, str) else data
            if b'"openOrders"' in raw:
                # an order update we cannot read: the view may now be wrong, so take a fresh
                # snapshot rather than diverge silently
                log.warning("unreadable openOrders frame (%s); asking for a new snapshot",
                            type(exc).__name__)
                self._schedule_task(self._resnapshot(self.request_timeout))
            else:
                log.warning("ignoring an unreadable frame (%s)", type(exc).__name__)
            return False
        if isinstance(msg, v1.OpenOrders):
            self._on_open_orders(msg)
        elif isinstance(msg, v1.OwnTrades):
            self._on_own_trades(msg)
        elif isinstance(msg, v1.RequestStatus):
            return self._resolve(msg.reqid, _REQUEST_OF.get(msg.event, msg.event), msg)
        elif isinstance(msg, v1.SubscriptionStatus):
            return self._on_subscription_status(msg)
        elif isinstance(msg, v1.Pong):
            self.pongs += 1
        elif isinstance(msg, v1.SystemStatus):
            self.system_status = msg.status
            self.connection_id = msg.connection_id
        elif isinstance(msg, v1.ErrorEvent):
            if msg.reqid is not None and self._pending.resolve(msg.reqid, msg, final=True):
                return True
            log.warning("error event from the server: %s", msg.error_message)
        return False

    def _on_subscription_status(self, msg: v1.SubscriptionStatus) -> bool:
        if msg.reqid is not None and self._pending.resolve(
                msg.reqid, msg, final=msg.status == "error"):
            return True
        if msg.status == "error" and msg.error_message in (E.INVALID_SESSION,
                                                           E.TOKEN_NOT_FOUND):
            # unsolicited: the server ended a subscription because it no longer accepts the
            # token; subscribe again with a fresh one on this socket
            if msg.name is not None:
                self._subscribed.discard(msg.name)
            else:
                self._subscribed.clear()
            self._schedule_refresh("the server reported an invalid session")
        elif msg.status == "error":
            log.warning("unmatched subscription error: %s", msg.error_message)
        return False

    def _on_own_trades(self, msg: v1.OwnTrades) -> None:
        snapshot = "ownTrades" in self._snapshot_due
        self._snapshot_due.discard("ownTrades")
        self._check_sequence("ownTrades", msg.sequence, snapshot=snapshot)
        seen = self._trades_seen
        if snapshot and seen:
            # a resubscription repeats the last trades: deliver only the ones not yet seen.
            # A fill counts as seen by its id, or by (order, time) when it was delivered merged
            # into another fill of the same taker order (``consolidate_taker``)
            fresh = [(tid, info) for tid, info in msg.trades
                     if tid not in seen and (info.ordertxid, info.time) not in seen]
            if len(fresh) != len(msg.trades):
                msg = v1.OwnTrades(trades=fresh, sequence=msg.sequence)
        for tid, info in msg.trades:
            seen[tid] = None
            seen[(info.ordertxid, info.time)] = None
        while len(seen) > 2 * _TRADES_REMEMBERED:
            seen.popitem(last=False)
        if msg.trades or snapshot:
            self._trades_feed.push(msg)

    def _on_open_orders(self, msg: v1.OpenOrders) -> None:
        if "openOrders" in self._snapshot_due:
            self._snapshot_due.discard("openOrders")
            self._check_sequence("openOrders", msg.sequence, snapshot=True)
            entries = dict(msg.orders)
            first = self.open_orders.snapshots == 0
            resync = self.open_orders.load_snapshot(
                [report_from_v1(oid, entry) for oid, entry in entries.items()])
            self._entries = entries
            for entry in entries.values():
                self._note_rate(entry.ratecount)
            self._orders_feed.push(msg)
            if resync and not first:
                log.info("open orders resynchronised: %d appeared, %d vanished, %d changed",
                         len(resync.appeared), len(resync.vanished), len(resync.changed))
                self._orders_feed.push(resync)
            self._snapshot_applied()
            return
        self._check_sequence("openOrders", msg.sequence, snapshot=False)
        for oid, delta in msg.orders:
            merged = v1.merge_order(self._entries.get(oid), delta)
            self.open_orders.apply(report_from_v1(oid, merged))
            if merged.status in _FINAL:
                self._entries.pop(oid, None)
            else:
                self._entries[oid] = merged
            self._note_rate(delta.ratecount)
        self._orders_feed.push(msg)

    # ----------------------------------------------------------------------------- trading
    async def add_order(self, *, pair: str, type: str, ordertype: str,
                        volume: Number | None = None, price: Number | None = None,
                        price2: Number | None = None, cl_ord_id: str | None = None,
                        oflags: str | None = None, timeinforce: str | None = None,
                        validate: bool | None = None, reply_timeout: float | None = None,
                        **extra: Any) -> v1.RequestStatus:
        """Place one order (``addOrder``); return Kraken's ``addOrderStatus`` (``txid``,
        ``descr``, echoed ``cl_ord_id``).

        A ``cl_ord_id`` is generated when none is given (Kraken takes ``cl_ord_id`` or
        ``userref``; krakenwire always sends a ``cl_ord_id`` so every order can be
        reconciled). ``extra`` takes the other ``addOrder`` fields of
        :class:`~krakenwire.protocol.v1.AddOrder` (``starttm``, ``expiretm``, ``deadline``,
        ``stp_type``, ``trigger``, ``reduce_only``...). Never resent.

        Raises:
            KrakenError: Kraken refused (e.g. :class:`~krakenwire.errors.InsufficientFunds`).
            OrderOutcomeUnknown: sent, but the connection dropped or the reply did not come in
                time; the order may exist — see :meth:`reconcile`.
            TransportError: not sent (not connected within the timeout).
            TypeError / ValueError: bad arguments (a float amount, ``userref``, an unknown
                field).
        """
        if "userref" in extra:
            raise TypeError("add_order takes cl_ord_id, not userref (Kraken accepts only one "
                            "of them; krakenwire always sends a cl_ord_id)")
        cl = cl_ord_id or new_cl_ord_id()
        request = v1.AddOrder(
            ordertype=ordertype, type=type, pair=pair, volume=_amount("volume", volume),
            price=_text("price", price), price2=_text("price2", price2), cl_ord_id=cl,
            oflags=oflags, timeinforce=timeinforce,
            validate=None if validate is None else ("true" if validate else "false"),
            **extra)
        replies = await self._request("addOrder", request, cl_ord_ids=(cl,),
                                      reply_timeout=reply_timeout)
        result: v1.RequestStatus = replies[0]
        return result

    async def amend_order(self, *, txid: str | None = None, cl_ord_id: str | None = None,
                          volume: Number | None = None, limit_price: Number | None = None,
                          trigger_price: Number | None = None, post_only: bool | None = None,
                          reply_timeout: float | None = None,
                          **extra: Any) -> v1.RequestStatus:
        """Amend an open order in place (``amendOrder``; ids and, where possible, queue
        priority kept); return the ``amendOrderStatus`` (``amend_id``).

        Raises:
            KrakenError: refused (e.g. :class:`~krakenwire.errors.UnknownOrder`).
            TransportError: no reply (the amend may or may not have happened).
            ValueError: neither or both of ``txid`` and ``cl_ord_id``.
        """
        if (txid is None) == (cl_ord_id is None):
            raise ValueError("give exactly one of txid or cl_ord_id")
        request = v1.AmendOrder(
            txid=txid, cl_ord_id=cl_ord_id, volume=_amount("volume", volume),
            limit_price=_text("limit_price", limit_price),
            trigger_price=_text("trigger_price", trigger_price),
            post_only=post_only, **extra)
        replies = await self._request("amendOrder", request, reply_timeout=reply_timeout)
        result: v1.RequestStatus = replies[0]
        return result

    async def edit_order(self, *, orderid: str, pair: str, volume: Number | None = None,
                         price: Number | None = None, price2: Number | None = None,
                         oflags: str | None = None, newuserref: int | None = None,
                         reply_timeout: float | None = None) -> v1.RequestStatus:
        """Replace an order (``editOrder``: cancel + new txid); return the
        ``editOrderStatus`` (``txid``, ``originaltxid``).

        Raises:
            KrakenError: refused.
            OrderOutcomeUnknown: sent, no reply (``cl_ord_id`` is empty: look for the
                original ``orderid`` in :attr:`open_orders`).
        """
        request = v1.EditOrder(
            orderid=orderid, pair=pair, volume=_amount("volume", volume),
            price=_text("price", price), price2=_text("price2", price2), oflags=oflags,
            newuserref=None if newuserref is None else str(int(newuserref)))
        replies = await self._request("editOrder", request, reply_timeout=reply_timeout)
        result: v1.RequestStatus = replies[0]
        return result

    async def cancel_order(self, txid: str | Sequence[str] = (), *,
                           cl_ord_id: str | Sequence[str] = (),
                           reply_timeout: float | None = None) -> list[CancelResult]:
        """Cancel orders by txid (or userref, as a string) and/or ``cl_ord_id``; return one
        :class:`CancelResult` per id, in the order given (txids first).

        Raises:
            KrakenError: an id was refused — the first refusal (e.g.
                :class:`~krakenwire.errors.UnknownOrder`); its ``results`` holds the
                :class:`CancelResult` of every id when each was answered, and ``txid`` names
                the refused id.
            TransportError: not every reply came (some orders may have been cancelled).
            ValueError: no id given.
        """
        txids = [txid] if isinstance(txid, str) else list(txid)
        cls = [cl_ord_id] if isinstance(cl_ord_id, str) else list(cl_ord_id)
        idents = [*txids, *cls]
        if not idents:
            raise ValueError("cancel_order needs at least one txid or cl_ord_id")
        request = v1.CancelOrder(txid=txids or None, cl_ord_id=cls or None)
        try:
            replies = await self._request("cancelOrder", request, expected=len(idents),
                                          reply_timeout=reply_timeout)
        except KrakenError as exc:
            answered: list[Any] = getattr(exc, "replies", None) or []
            if len(answered) == len(idents):
                results = self._cancel_results(idents, answered)
                exc.results = results  # type: ignore[attr-defined]
                exc.txid = next(r.txid for r in results if not r.ok)  # type: ignore[attr-defined]
            elif len(idents) == 1:
                exc.results = [CancelResult(idents[0], False, exc.errors[0])]  # type: ignore[attr-defined]
                exc.txid = idents[0]  # type: ignore[attr-defined]
            raise
        return self._cancel_results(idents, replies)

    def _cancel_results(self, idents: list[str], replies: list[Any]) -> list[CancelResult]:
        """One result per id, in the order of ``idents``. A reply naming its ``txid`` goes to
        that id; the others (Kraken's replies name none) go to the remaining ids in order,
        as Kraken answers the ids in the order they were given."""
        named = {str(r.txid) for r in replies if getattr(r, "txid", None) in idents}
        unnamed = iter([i for i in idents if i not in named])
        by_ident: dict[str, CancelResult] = {}
        for reply in replies:
            txid = getattr(reply, "txid", None)
            ident = txid if txid in named and txid not in by_ident else next(unnamed)
            error = self._refusal(reply)
            by_ident[ident] = CancelResult(ident, error is None, error)
        return [by_ident[i] for i in idents if i in by_ident]

    async def cancel_all(self, *, reply_timeout: float | None = None) -> v1.RequestStatus:
        """Cancel every open order (``cancelAll``); the reply's ``count`` says how many."""
        replies = await self._request("cancelAll", v1.CancelAll(), reply_timeout=reply_timeout)
        result: v1.RequestStatus = replies[0]
        return result

    async def cancel_all_orders_after(self, seconds: int, *,
                                      reply_timeout: float | None = None) -> v1.RequestStatus:
        """Arm (``seconds`` > 0) or disarm (0) Kraken's dead-man switch
        (``cancelAllOrdersAfter``); the reply has ``current_time`` and ``trigger_time``
        (``"0"`` when disarmed).

        Raises:
            ValueError: ``seconds`` outside ``0 .. 86399``.
        """
        if not 0 <= int(seconds) < 86400:
            raise ValueError("seconds must be within 0 .. 86399")
        replies = await self._request("cancelAllOrdersAfter",
                                      v1.CancelAllOrdersAfter(timeout=int(seconds)),
                                      reply_timeout=reply_timeout)
        self._dms_armed = int(seconds) > 0
        result: v1.RequestStatus = replies[0]
        return result

    def __repr__(self) -> str:
        return (f"PrivateSocketV1(url={self.url!r}, ready={self.ready}, "
                f"connections={self.connections}, open_orders={len(self.open_orders)})")
