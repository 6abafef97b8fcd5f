"""What the sandbox's WebSocket endpoints (v1 and v2) share, independent of message format.

* :class:`Outbox` — ordered, non-blocking sends on one socket: producers enqueue without awaiting
  (so a reply and the feed frames around it keep the order they were produced in) and one writer
  task sends; it also remembers when data last went out, for heartbeats.
* :class:`TokenBindings` — the WebSocket tokens one connection holds a private subscription with
  (``gate.bind_token`` on subscribe, ``gate.unbind_token`` on unsubscribe and when the connection
  ends), so a token stays valid exactly as long as kraken-protocol.md §10 says.
* :class:`AccountFeed` — one connection's view of one account's events: a core listener, a pump
  task handing events to the endpoint in batches, and :meth:`AccountFeed.take` to drain
  synchronously (used to slot an acknowledgement between the events of an order).
* Trading entry points shared by every transport (:func:`place_order`, :func:`amend_order`,
  :func:`edit_order`, :func:`cancel_orders`, :func:`cancel_all`, :func:`cancel_all_after`):
  permission, engine status, trading counter and open-order cap, then the exchange operation
  through ``core.run`` (committed before it returns). They raise :class:`TradeError` (or the
  gate's / exchange's own error types, which also carry ``.error``) with Kraken's string.
  Callers hold ``core.shared()`` or ``core.exclusive()`` from the call until they have
  published the returned events, so no tick publishes in between.
* Timing: :func:`heartbeat_interval`, :func:`idle_timeout` (settings with defaults),
  :func:`new_connection_id`.
* Shutdown: :class:`OpenSockets` and :func:`going_away` close every connection with 1001 when
  the application shuts down, without waiting on a client that does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Final

from aiohttp import WSCloseCode, web

from krakenwire.protocol import errors
from krakenwire.sandbox.exchange import ExchangeError
from krakenwire.sandbox.gate import GateError, KeyRecord
from krakenwire.sandbox.model import Event, Order, OrderRequest

if TYPE_CHECKING:
    from krakenwire.sandbox.core import Listener, SandboxCore

__all__ = [
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_IDLE_TIMEOUT",
    "AccountFeed",
    "OpenSockets",
    "Outbox",
    "TokenBindings",
    "TradeError",
    "amend_order",
    "cancel_all",
    "cancel_all_after",
    "cancel_orders",
    "check_engine",
    "edit_order",
    "engine_status",
    "error_of",
    "find_open",
    "going_away",
    "heartbeat_interval",
    "idle_timeout",
    "is_relative_price",
    "new_connection_id",
    "place_order",
    "resolve_relative_price",
]

log = logging.getLogger("krakenwire.sandbox.ws")

#: Seconds of quiet on a subscribed connection before a heartbeat (Kraken: "about 1 s").
DEFAULT_HEARTBEAT_INTERVAL: Final = 1.0
#: Seconds a connection may stay open without a private subscription (Kraken: "about 1 min").
DEFAULT_IDLE_TIMEOUT: Final = 60.0
#: Seconds a closing connection waits for the client's close frame at shutdown before the
#: connection is cut (a client that does not read would otherwise hold the stop for 10 s).
CLOSE_GRACE: Final = 1.0


def heartbeat_interval(core: SandboxCore) -> float:
    """``settings.heartbeat_interval`` if the core's settings have one, else 1 s."""
    value = getattr(core.settings, "heartbeat_interval", DEFAULT_HEARTBEAT_INTERVAL)
    return float(value)


def idle_timeout(core: SandboxCore) -> float:
    """``settings.ws_idle_timeout`` if the core's settings have one, else 60 s."""
    value = getattr(core.settings, "ws_idle_timeout", DEFAULT_IDLE_TIMEOUT)
    return float(value)


def new_connection_id() -> int:
    """A random unsigned 64-bit connection id (Kraken's ``connectionID``)."""
    return secrets.randbits(64)


# --------------------------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------------------------


class Outbox:
    """Ordered sends on one WebSocket.

    :meth:`put` never awaits, so everything one task produces between two awaits goes out in
    that order, whatever other tasks do. A single writer task (:meth:`start`) sends the queue.
    ``last_data`` is the loop time of the last frame that counts as traffic (for heartbeats).
    """

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.closed = False
        self.last_data = asyncio.get_running_loop().time()

    def start(self) -> None:
        """Start the writer task."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._writer())

    def put(self, text: str, *, traffic: bool = True) -> None:
        """Queue ``text`` for sending (dropped once the outbox is closed). ``traffic=False``
        for frames that must not postpone the next heartbeat (the heartbeat itself)."""
        if self.closed:
            return
        if traffic:
            self.last_data = asyncio.get_running_loop().time()
        self._queue.put_nowait(text)

    async def _writer(self) -> None:
        while True:
            text = await self._queue.get()
            if text is None:
                return
            try:
                await self._ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self.closed = True
                return

    async def close(self) -> None:
        """Send what is queued, then stop the writer."""
        if self._task is None:
            self.closed = True
            return
        self._queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._task), 5.0)
        self.closed = True
        if not self._task.done():
            self._task.cancel()


# --------------------------------------------------------------------------------------------
# Shutdown
# --------------------------------------------------------------------------------------------


async def going_away(ws: web.WebSocketResponse, request: web.BaseRequest,
                     grace: float = CLOSE_GRACE) -> None:
    """Close ``ws`` with code 1001 (the server is going away), waiting at most ``grace``
    seconds for the client's close frame; a client that does not answer in time (or does not
    read at all) has its TCP connection cut. Never raises."""
    try:
        async with asyncio.timeout(grace):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        return
    except Exception:  # no answer in time, or the connection already broke
        pass
    transport = request.transport
    if transport is not None:
        transport.abort()


class OpenSockets:
    """The connections one endpoint is serving, so that application shutdown closes them
    (``app.on_shutdown.append(sockets.close_all)``): aiohttp otherwise waits its whole
    shutdown timeout for every WebSocket handler still running."""

    def __init__(self) -> None:
        self._open: dict[web.WebSocketResponse, web.BaseRequest] = {}

    def add(self, ws: web.WebSocketResponse, request: web.BaseRequest) -> None:
        """Track ``ws`` (served for ``request``) until :meth:`discard`."""
        self._open[ws] = request

    def discard(self, ws: web.WebSocketResponse) -> None:
        """Stop tracking ``ws`` (its handler ended)."""
        self._open.pop(ws, None)

    def __len__(self) -> int:
        return len(self._open)

    async def close_all(self, _app: web.Application | None = None) -> None:
        """Close every tracked connection with 1001, all at once (each bounded by
        :data:`CLOSE_GRACE`). Never raises."""
        await asyncio.gather(*(going_away(ws, request)
                               for ws, request in list(self._open.items())))


# --------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------


class TokenBindings:
    """The tokens one connection holds private subscriptions with, counted per subscription.

    ``bind(token)`` checks the token and binds it to this connection (first use keeps it alive
    beyond its 900 s); ``unbind(token)`` drops one subscription's hold and unbinds the token
    when none is left; ``release()`` unbinds everything (call it when the connection ends).
    """

    def __init__(self, core: SandboxCore, conn_id: object) -> None:
        self._gate = core.gate
        self._conn = conn_id
        self._counts: dict[str, int] = {}

    def bind(self, token: str) -> KeyRecord:
        """Bind ``token`` for one more subscription and return its key.

        Raises:
            GateError: ``ESession:Invalid session`` if the token is not valid now.
        """
        key = self._gate.bind_token(token, self._conn)
        self._counts[token] = self._counts.get(token, 0) + 1
        return key

    def unbind(self, token: str) -> None:
        """Release one subscription's hold on ``token``."""
        left = self._counts.get(token, 0) - 1
        if left > 0:
            self._counts[token] = left
            return
        self._counts.pop(token, None)
        self._gate.unbind_token(token, self._conn)

    def release(self) -> None:
        """Unbind every token of this connection."""
        for token in self._counts:
            self._gate.unbind_token(token, self._conn)
        self._counts.clear()

    def __len__(self) -> int:
        return len(self._counts)

    def __repr__(self) -> str:
        return f"TokenBindings({len(self._counts)} token(s))"


# --------------------------------------------------------------------------------------------
# Account events
# --------------------------------------------------------------------------------------------


class AccountFeed:
    """One connection's subscription to one account's events.

    Events are handed to ``deliver(events)`` in the order the core published them, in batches
    (everything queued when the pump wakes up). :meth:`take` drains what is queued right now
    without waiting, for a caller that must place its own frame among them. ``deliver`` must not
    await (it renders frames into an :class:`Outbox`).
    """

    def __init__(self, core: SandboxCore, account_id: str,
                 deliver: Callable[[list[Event]], None]) -> None:
        self._core = core
        self.account_id = account_id
        self._deliver = deliver
        self._listener: Listener = core.listen(account_id)
        self._task = asyncio.get_running_loop().create_task(self._pump())

    def take(self) -> list[Event]:
        """Everything queued for this feed now (possibly nothing)."""
        events: list[Event] = []
        while True:
            try:
                events.append(self._listener.get_nowait())
            except asyncio.QueueEmpty:
                return events

    async def _pump(self) -> None:
        while True:
            first = await self._listener.get()
            batch = [first, *self.take()]
            try:
                self._deliver(batch)
            except Exception:  # a rendering bug must not kill the connection silently
                log.exception("failed to deliver account events")

    async def close(self) -> None:
        """Stop the pump and stop listening."""
        self._core.unlisten(self._listener)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


# --------------------------------------------------------------------------------------------
# Trading (the same checks for every transport)
# --------------------------------------------------------------------------------------------


class TradeError(Exception):
    """A trading request was refused; ``error`` is Kraken's exact string."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def error_of(exc: BaseException) -> str | None:
    """Kraken's error string carried by a gate, exchange or trade error, else None."""
    if isinstance(exc, GateError | ExchangeError | TradeError):
        return exc.error
    return None


def engine_status(core: SandboxCore) -> str:
    """The trading engine's status now: ``online | cancel_only | post_only | maintenance``
    (the ``system_status`` fault switch)."""
    return str(getattr(core.faults, "system_status", "online") or "online")


def check_engine(core: SandboxCore, *, adding: bool, post_only: bool = False) -> None:
    """Refuse by the engine status: ``maintenance`` refuses everything
    (``EService:Unavailable``); ``cancel_only`` refuses new orders; ``post_only`` refuses new
    orders that are not post-only.

    Raises:
        TradeError: with Kraken's ``EService:…`` string.
    """
    status = engine_status(core)
    if status == "maintenance":
        raise TradeError(errors.UNAVAILABLE)
    if adding and status == "cancel_only":
        raise TradeError(errors.CANCEL_ONLY_MODE)
    if adding and status == "post_only" and not post_only:
        raise TradeError(errors.POST_ONLY_MODE)


def find_open(core: SandboxCore, account_id: str, ident: str) -> list[Order]:
    """Open orders matching a txid, a userref (digits) or a cl_ord_id."""
    orders = core.exchange.open_orders(account_id)
    if ident.isdigit():
        ref = int(ident)
        return [o for o in orders if o.userref == ref]
    return [o for o in orders if ident in (o.id, o.cl_ord_id)]


async def place_order(core: SandboxCore, key: KeyRecord,
                      req: OrderRequest) -> tuple[Order, list[Event]]:
    """Place ``req`` for ``key``'s account: permission ``trade``, engine status, the trading
    counter (``add``, charged before validation as Kraken does), the open-order cap, then
    ``exchange.add_order``. Returns the order and its events (not yet published).

    Raises:
        GateError | TradeError | ExchangeError: with Kraken's error string.
    """
    core.gate.require(key, "trade")
    check_engine(core, adding=True, post_only=req.post_only)
    core.gate.charge_trading(key, req.pair, "add")
    if not req.validate:
        core.gate.check_open_orders(key, core.exchange.open_count(key.account_id, req.pair))
    return await core.run(lambda: core.exchange.add_order(key.account_id, req))


async def amend_order(core: SandboxCore, key: KeyRecord, *, order_id: str | None,
                      cl_ord_id: str | None, volume: Decimal | None = None,
                      price: Decimal | None = None, price2: Decimal | None = None,
                      post_only: bool = False) -> tuple[tuple[Order, str], list[Event]]:
    """Amend an open order in place; returns ((order, amend id), events).

    Raises:
        GateError | TradeError | ExchangeError: with Kraken's error string
            (``EOrder:Unknown order`` when nothing open matches).
    """
    core.gate.require(key, "trade")
    check_engine(core, adding=False)
    ident = order_id or cl_ord_id
    if ident is None:
        raise TradeError(errors.invalid_arguments("txid"))
    found = find_open(core, key.account_id, ident)
    if not found:
        raise TradeError(errors.UNKNOWN_ORDER)
    target = found[0]
    core.gate.charge_trading(key, target.pair, "amend", core.exchange.order_age(target))
    return await core.run(lambda: core.exchange.amend_order(
        key.account_id, order_id=order_id, cl_ord_id=cl_ord_id, volume=volume, price=price,
        price2=price2, post_only=post_only))


async def edit_order(core: SandboxCore, key: KeyRecord, order_id: str, *,
                     volume: Decimal | None = None, price: Decimal | None = None,
                     price2: Decimal | None = None, userref: int | None = None,
                     post_only: bool | None = None,
                     validate: bool = False) -> tuple[tuple[Order, Order], list[Event]]:
    """Cancel-and-replace an open order; returns ((new order, old order), events).

    Raises:
        GateError | TradeError | ExchangeError: with Kraken's error string.
    """
    core.gate.require(key, "trade")
    check_engine(core, adding=True, post_only=bool(post_only))
    found = find_open(core, key.account_id, order_id)
    if not found:
        raise TradeError(errors.UNKNOWN_ORDER)
    target = found[0]
    core.gate.charge_trading(key, target.pair, "edit", core.exchange.order_age(target))
    return await core.run(lambda: core.exchange.edit_order(
        key.account_id, target.id, volume=volume, price=price, price2=price2, userref=userref,
        post_only=post_only, validate=validate))


async def cancel_orders(core: SandboxCore, key: KeyRecord,
                        ident: str) -> tuple[list[Order], list[Event]]:
    """Cancel what ``ident`` (txid, userref digits or cl_ord_id) names; charge the trading
    counter by each order's age. Returns (cancelled orders, events).

    Raises:
        GateError | TradeError | ExchangeError: with Kraken's error string
            (``EOrder:Unknown order`` when nothing open matches).
    """
    core.gate.require(key, "trade")
    check_engine(core, adding=False)
    found = find_open(core, key.account_id, ident)
    if not found:
        raise TradeError(errors.UNKNOWN_ORDER)
    for order in found:
        core.gate.charge_trading(key, order.pair, "cancel", core.exchange.order_age(order))
    return await core.run(lambda: core.exchange.cancel_order(key.account_id, ident))


async def cancel_all(core: SandboxCore, key: KeyRecord) -> tuple[int, list[Event]]:
    """Cancel every open order of the account; returns (count, events).

    Raises:
        GateError | TradeError | ExchangeError: with Kraken's error string.
    """
    core.gate.require(key, "trade")
    check_engine(core, adding=False)
    return await core.run(lambda: core.exchange.cancel_all(key.account_id))


async def cancel_all_after(core: SandboxCore, key: KeyRecord,
                           timeout_s: int) -> tuple[tuple[float, float | None], list[Event]]:
    """Arm (``timeout_s`` > 0) or disarm (0) the dead-man switch; returns ((current time,
    trigger time or None), events).

    Raises:
        GateError | TradeError | ExchangeError: with Kraken's error string.
    """
    core.gate.require(key, "trade")
    check_engine(core, adding=False)
    if timeout_s < 0:
        raise TradeError(errors.invalid_arguments("timeout"))
    return await core.run(lambda: core.exchange.cancel_all_after(key.account_id, timeout_s))


# --------------------------------------------------------------------------------------------
# Relative prices (``+5``, ``-5``, ``#5``, ``+1.5%``) as Kraken's AddOrder accepts them
# --------------------------------------------------------------------------------------------


def is_relative_price(text: str | None) -> bool:
    """True for Kraken's relative price forms: a ``+``/``-``/``#`` prefix or a ``%`` suffix."""
    if not text:
        return False
    t = text.strip()
    return t[:1] in ("+", "-", "#") or t.endswith("%")


def resolve_relative_price(text: str, *, side: str, ordertype: str, last: Decimal,
                           tick: Decimal, name: str = "price") -> Decimal:
    """The absolute price a relative one names, from the last traded price ``last``.

    ``+x`` adds ``x``, ``-x`` subtracts it, ``#x`` moves away from the market in the direction
    that suits the order (down for a buy limit / take-profit, up for a buy stop-loss, and the
    other way for sells); a ``%`` suffix makes ``x`` a percentage of ``last``. The result is
    rounded to the pair's ``tick`` size. An absolute price (no prefix, no suffix) is returned
    as it is.

    Raises:
        TradeError: ``EGeneral:Invalid arguments:<name>`` for a malformed amount;
            ``EOrder:Invalid price`` if the result is not positive.
    """
    t = text.strip()
    pct = t.endswith("%")
    if pct:
        t = t[:-1]
    sign = t[:1] if t[:1] in ("+", "-", "#") else ""
    body = t[len(sign):]
    try:
        amount = Decimal(body)
    except ArithmeticError:
        raise TradeError(errors.invalid_arguments(name)) from None
    if not amount.is_finite() or amount < 0 or body[:1] in ("+", "-"):
        raise TradeError(errors.invalid_arguments(name))
    if not sign and not pct:
        return amount
    delta = last * amount / 100 if pct else amount
    if sign == "#":
        upward = ordertype.startswith("stop-loss")
        sign = "+" if (side == "buy") == upward else "-"
    price = last - delta if sign == "-" else last + delta
    if tick > 0:
        # explicit rounding: the thread's decimal context may have been changed (ccxt does)
        price = (price / tick).to_integral_value(ROUND_HALF_EVEN) * tick
    if price <= 0:
        raise TradeError(errors.INVALID_PRICE)
    return price
