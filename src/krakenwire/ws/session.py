"""The protocol-independent half of a private WebSocket session, shared by v1 and v2.

:class:`PrivateSessionBase` holds what an authenticated Kraken session does whatever the
protocol version speaks on the wire:

* tokens from a :class:`~krakenwire.token.TokenProvider` (one is built over REST from
  credentials when none is given), a fresh one after every reconnect, and a refresh on the same
  socket when the server ends a subscription with ``ESession:Invalid session``;
* the reconnect loop (:class:`~krakenwire.ws.connection.ReconnectingSocket`) and the
  subscribe-all step it runs on every new socket, with the lifecycle events
  (:mod:`krakenwire.ws.events`) on :meth:`PrivateSessionBase.events`;
* requests: an int32 id per request, replies resolving futures from the reader, a timeout on
  every wait, order placements never resent and reported as
  :class:`~krakenwire.errors.OrderOutcomeUnknown` when their reply is lost;
* the :class:`~krakenwire.orders.OpenOrders` view, :meth:`PrivateSessionBase.reconcile` and the
  dead-man switch.

A subclass supplies the wire: how to subscribe to one channel, how to frame a request, how to
read a reply's refusal, the ping frame, and ``on_text`` (the reader's frame handler). Secrets
never reach a log line, an event, a ``repr`` or an exception message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from krakenwire.auth import Credentials, CredentialsError
from krakenwire.errors import (
    InvalidKey,
    InvalidSession,
    InvalidSignature,
    KrakenError,
    KrakenwireError,
    OrderOutcomeUnknown,
    OrderRateLimitExceeded,
    PermissionDenied,
    SubscriptionError,
    TemporaryLockout,
    TransportError,
    error_from_kraken,
)
from krakenwire.orders import OpenOrders, Reconciliation  # one Reconciliation for both
from krakenwire.protocol import errors as E
from krakenwire.ws.connection import (
    ConnectionSettings,
    FatalSessionError,
    Link,
    NotConnectedError,
    ReconnectingSocket,
)
from krakenwire.ws.events import (
    Authenticated,
    Closed,
    LifecycleEvent,
    OrderOutcomeUnknownEvent,
    RateLimitWarning,
    Subscribed,
    TokenRefreshed,
)
from krakenwire.ws.requests import Pending, PendingReplies
from krakenwire.ws.streams import EventStream

if TYPE_CHECKING:
    import aiohttp

    from krakenwire.token import TokenProvider

__all__ = ["ChannelRefused", "PrivateSessionBase", "Reconciliation"]

log = logging.getLogger("krakenwire.ws")

#: errors after which retrying the connection cannot help
FATAL_ERRORS = (InvalidKey, InvalidSignature, PermissionDenied, TemporaryLockout)


class ChannelRefused(Exception):
    """A subscription was refused; ``error`` is the typed Kraken error."""

    def __init__(self, error: KrakenError) -> None:
        super().__init__(str(error))
        self.error = error


class PrivateSessionBase:
    """Token, reconnect, requests, view, reconcile and dead-man switch of a private session.

    Subclasses set :attr:`ORDERS_CHANNEL` and :attr:`PLACING` and implement
    :meth:`_subscribe`, :meth:`_unsubscribe`, :meth:`_encode_request`, :meth:`_refusal`,
    :meth:`on_text`, :meth:`ping_frame`, :meth:`_streams` and
    :meth:`cancel_all_orders_after`. Construction does no I/O.

    Without ``credentials`` and ``token_provider`` the credentials come from the environment
    (``KRAKEN_API_KEY`` / ``KRAKEN_API_SECRET``).

    Raises:
        ValueError: both ``credentials`` and ``token_provider`` given.
        CredentialsError: neither given and none in the environment (a ``ValueError``).
    """

    #: the channel whose snapshot feeds :attr:`open_orders`
    ORDERS_CHANNEL: ClassVar[str] = ""
    #: request methods that place orders (never resent; outcome unknown when the reply is lost)
    PLACING: ClassVar[frozenset[str]] = frozenset()
    #: refusals answered once per order of a multi-order request (the rest are final)
    PER_ORDER_ERRORS: ClassVar[tuple[str, ...]] = (E.UNKNOWN_ORDER,)

    def __init__(self, *, url: str, channels: Sequence[str],
                 credentials: Credentials | None, token_provider: TokenProvider | None,
                 rest_url: str | None, allow_insecure: bool, request_timeout: float,
                 settings: ConnectionSettings | None, queue_size: int,
                 rate_warning_fraction: float, session: aiohttp.ClientSession | None) -> None:
        if credentials is not None and token_provider is not None:
            raise ValueError("give credentials= or token_provider=, not both")
        if credentials is None and token_provider is None:
            # argument > environment (KRAKEN_API_KEY / KRAKEN_API_SECRET), as for REST
            credentials = Credentials.maybe_from_env()
            if credentials is None:
                raise CredentialsError(
                    "no credentials: pass credentials= or token_provider=, or set "
                    "KRAKEN_API_KEY and KRAKEN_API_SECRET")
        self.url = url
        self.channels = tuple(channels)
        self._credentials = credentials
        self._rest_url = rest_url
        self._allow_insecure = allow_insecure
        self._provider: Any = token_provider
        self._rest: Any = None  # the REST client we created (and close)
        self.request_timeout = request_timeout
        self._pending = PendingReplies()
        self._token: str | None = None
        self._subscribed: set[str] = set()
        self._authenticated_once = False
        self._authenticated_on = 0
        #: the account's open orders, kept by the reader from the orders channel
        self.open_orders = OpenOrders()
        self._events: EventStream[LifecycleEvent] = EventStream("events", queue_size)
        self._sequence: dict[str, int] = {}
        #: how many times a channel's sequence number jumped
        self.sequence_gaps = 0
        #: application-level pongs received (answers to the watchdog's pings)
        self.pongs = 0
        #: Kraken's trading rate counter threshold (``maxratecount``)
        self.max_rate_count: int | None = None
        #: the last trading rate counter value reported
        self.rate_count: Decimal | None = None
        self.rate_warning_fraction = rate_warning_fraction
        self._rate_warned = False
        self._snapshot_seen: asyncio.Event | None = None
        # cl_ord_id -> (snapshots loaded, connection number) when its outcome was lost
        self._unknown: dict[str, tuple[int, int]] = {}
        self._refresh: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._dms_task: asyncio.Task[None] | None = None
        self._dms_armed = False
        self._closed = False
        self._socket = ReconnectingSocket(self.url, self, self._emit, settings, session)

    # ----------------------------------------------------------------- protocol hooks
    async def _subscribe(self, link: Link, channel: str) -> None:
        """Subscribe to ``channel`` on ``link`` with the current token; raise
        :class:`ChannelRefused` on a refusal, ``TimeoutError``/:class:`NotConnectedError`."""
        raise NotImplementedError

    async def _unsubscribe(self, channel: str, timeout: float) -> None:
        """Unsubscribe from ``channel`` (errors other than transport ones are ignored)."""
        raise NotImplementedError

    def _encode_request(self, method: str, request: Any, req_id: int) -> bytes:
        """The frame of ``request`` with ``req_id`` and the current token."""
        raise NotImplementedError

    def _refusal(self, reply: Any) -> str | None:
        """Kraken's error string when ``reply`` is a refusal, else None."""
        raise NotImplementedError

    def _streams(self) -> Sequence[EventStream[Any]]:
        """The user-facing data streams (closed with the session)."""
        raise NotImplementedError

    def on_text(self, data: bytes | str) -> bool:
        """One frame from the reader (never blocks, never runs user code)."""
        raise NotImplementedError

    def ping_frame(self) -> bytes:
        """The application-level ping."""
        raise NotImplementedError

    async def cancel_all_orders_after(self, seconds: int, *,
                                      reply_timeout: float | None = None) -> Any:
        """Arm (``seconds`` > 0) or disarm (0) the dead-man switch."""
        raise NotImplementedError

    # ------------------------------------------------------------------------- context
    async def connect(self, timeout: float | None = 30.0) -> None:
        """Connect, authenticate and subscribe; return once ready.

        Raises:
            KrakenError: an authentication failure that retrying cannot fix (bad key,
                permission denied, lockout, wrong endpoint) — the session is closed.
            TransportError: not ready within ``timeout`` seconds — the session is closed.
        """
        self._ensure_provider()
        self._socket.start()
        try:
            # a socket set up once proves URL and credentials, even if it dropped already
            await self._socket.wait_first_setup(timeout)
        except FatalSessionError as exc:
            await self.close()
            raise exc.cause from None
        except NotConnectedError as exc:
            await self.close()
            raise TransportError(f"could not open {self.url}: {exc}", maybe_sent=False) from None

    async def close(self, *, disarm: bool = True) -> None:
        """Stop refreshing the dead-man switch and (with ``disarm``, the default) disarm it,
        close the socket, end the streams. A session is not reopened after ``close``.
        Idempotent; never raises for connection problems."""
        if self._closed:
            return
        if self._dms_task is not None:
            self._dms_task.cancel()
            with contextlib.suppress(BaseException):
                await self._dms_task
            self._dms_task = None
        if self._dms_armed and not disarm:
            log.warning("closing with the dead-man switch armed: open orders will be "
                        "cancelled when it fires")
        elif self._dms_armed:
            try:
                await self.cancel_all_orders_after(0, reply_timeout=3.0)
            except KrakenwireError as exc:
                log.warning("could not disarm the dead-man switch (%s); it fires unless "
                            "renewed", type(exc).__name__)
            self._dms_armed = False
        self._closed = True
        if self._refresh is not None:
            self._refresh.cancel()
        for task in list(self._background):
            task.cancel()
        await self._socket.close()
        self._pending.fail_all(lambda p: TransportError("session closed", method=p.method))
        if self._rest is not None:
            with contextlib.suppress(Exception):
                await self._rest.close()
        self._emit(Closed("closed by the program"))
        self._end_streams()

    def _end_streams(self) -> None:
        for stream in self._streams():
            stream.close()
        self._events.close()

    def _ensure_provider(self) -> None:
        if self._provider is not None:
            return
        from krakenwire.rest import AsyncKrakenClient
        from krakenwire.token import TokenProvider

        self._rest = AsyncKrakenClient(self._credentials, base_url=self._rest_url,
                                       allow_insecure=self._allow_insecure)
        self._provider = TokenProvider(self._rest)

    # ---------------------------------------------------------------------------- state
    def events(self) -> AsyncIterator[LifecycleEvent]:
        """Lifecycle events (connecting, authenticated, subscribed, reconnecting, ...) as an
        async iterator; one consumer; ends when the session closes."""
        return self._events.__aiter__()

    @property
    def ready(self) -> bool:
        """True while connected and subscribed."""
        return self._socket.ready

    @property
    def connections(self) -> int:
        """How many sockets this session opened (1 + reconnects)."""
        return self._socket.connections

    def drop_connection(self, reason: str = "dropped by the program") -> None:
        """Close the current socket; the session reconnects (for tests and operators)."""
        self._socket.drop(reason)

    def _emit(self, event: LifecycleEvent) -> None:
        self._events.push(event)

    # ------------------------------------------------------------------ SessionProtocol
    async def on_open(self, link: Link, reconnect: bool) -> None:
        """Authenticate and subscribe on a fresh socket (called by the connection loop)."""
        self._subscribed.clear()
        self._sequence.clear()
        if reconnect and self._token is not None:
            self._provider.invalidate(self._token)
        try:
            await self._subscribe_all(link, resubscribe=reconnect or self._authenticated_once)
        except KrakenError as exc:
            # before the first success a refusal is a configuration problem (wrong URL, key
            # without permission...): report it instead of retrying forever
            if not self._authenticated_once and not (exc.retryable and
                                                     not isinstance(exc, InvalidSession)):
                raise FatalSessionError(exc) from None
            raise

    async def _subscribe_all(self, link: Link, *, resubscribe: bool) -> None:
        for attempt in range(3):
            await self._fetch_token()
            try:
                for channel in self.channels:
                    if channel not in self._subscribed:
                        await self._subscribe(link, channel)
                        self._subscribed.add(channel)
                        if self._authenticated_on != link.number:
                            self._authenticated_once = True
                            self._authenticated_on = link.number
                            log.info("authenticated on %s (connection %d)", self.url,
                                     link.number)
                            self._emit(Authenticated(self.url))
                        log.info("subscribed to %s", channel)
                        self._emit(Subscribed(channel, resubscribe))
                return
            except ChannelRefused as refused:
                if isinstance(refused.error, InvalidSession) and attempt < 2:
                    self._invalidate_token("the server refused the token")
                    continue
                if isinstance(refused.error, FATAL_ERRORS):
                    raise FatalSessionError(refused.error) from None
                raise refused.error from None
        raise InvalidSession(E.INVALID_SESSION, method="subscribe")  # pragma: no cover

    async def _fetch_token(self) -> None:
        try:
            token = await self._provider.aget()
        except FATAL_ERRORS as exc:
            raise FatalSessionError(exc) from None
        self._token = token.token

    def _invalidate_token(self, reason: str) -> None:
        if self._token is not None:
            self._provider.invalidate(self._token)
        self._token = None
        log.info("WebSocket token invalidated: %s", reason)
        self._emit(TokenRefreshed(reason))

    def on_lost(self, reason: str) -> None:
        """The socket is gone: fail every request still waiting (called by the loop)."""
        self._subscribed.clear()
        failed = self._pending.fail_all(lambda p: self._loss_error(p, reason))
        for pending in failed:
            if pending.method in self.PLACING:
                self._mark_unknown(pending, reason)

    def on_stopped(self, error: BaseException) -> None:
        """The connection loop gave up (``error``): end the streams so no reader waits
        forever; requests fail at once from now on."""
        self._pending.fail_all(lambda p: self._loss_error(p, "the session stopped"))
        self._emit(Closed(f"stopped: {type(error).__name__}"))
        self._end_streams()

    # --------------------------------------------------------------------- reader helpers
    def _resolve(self, req_id: int | None, method: str, reply: Any) -> bool:
        """Route one reply to its waiting request (by id, else the only one of ``method``);
        a refusal other than a per-order one completes the request at once."""
        error = self._refusal(reply)
        final = error is not None and error not in self.PER_ORDER_ERRORS
        if isinstance(req_id, int):
            return self._pending.resolve(req_id, reply, final=final)
        pending = self._pending.only(method)
        if pending is None:
            return False
        return self._pending.resolve(pending.req_id, reply, final=final)

    def _note_rate(self, count: Decimal | None) -> None:
        if count is None:
            return
        self.rate_count = count
        limit = self.max_rate_count
        if not limit:
            return
        high = count >= Decimal(str(self.rate_warning_fraction)) * limit
        if high and not self._rate_warned:
            log.warning("trading rate counter at %s of %d", count, limit)
            self._emit(RateLimitWarning(float(count), float(limit)))
        self._rate_warned = high

    def _check_sequence(self, channel: str, seq: int | None, snapshot: bool) -> None:
        if not isinstance(seq, int):
            return
        last = self._sequence.get(channel)
        if not snapshot and last is not None and seq != last + 1:
            self.sequence_gaps += 1
            log.info("%s sequence jumped from %d to %d", channel, last, seq)
        self._sequence[channel] = seq

    def _snapshot_applied(self) -> None:
        """Wake :meth:`reconcile` waiters: a new orders snapshot is in the view."""
        if self._snapshot_seen is not None:
            self._snapshot_seen.set()
            self._snapshot_seen = asyncio.Event()

    # ---------------------------------------------------------------------------- errors
    def _loss_error(self, pending: Pending, reason: str) -> BaseException:
        cause = TransportError(f"connection lost before the reply ({reason})",
                               method=pending.method)
        if pending.method in self.PLACING:
            ids = pending.context or ()
            err = OrderOutcomeUnknown(ids[0] if ids else "", method=pending.method, cause=cause)
            err.cl_ord_ids = tuple(ids)  # type: ignore[attr-defined]
            return err
        return cause

    def _mark_unknown(self, pending: Pending, reason: str) -> None:
        ids: tuple[str, ...] = tuple(pending.context or ())
        for cl in ids:
            self._unknown[cl] = (self.open_orders.snapshots, self._socket.connections)
        log.warning("outcome of %s unknown (request %d): %s", pending.method, pending.req_id,
                    reason)
        self._emit(OrderOutcomeUnknownEvent(pending.method, ids[0] if ids else None, reason))

    def _schedule_task(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._closed:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background step failed: %s", type(task.exception()).__name__)

    def _schedule_refresh(self, reason: str) -> None:
        if self._closed or (self._refresh is not None and not self._refresh.done()):
            return
        self._refresh = asyncio.get_running_loop().create_task(self._refresh_session(reason))

    async def _refresh_session(self, reason: str) -> None:
        """Fetch a new token and subscribe again on the same socket."""
        self._invalidate_token(reason)
        link = self._socket.link
        if link is None:
            return  # a reconnect is under way and will fetch its own token
        try:
            for _ in range(3):  # more channels may end while the first is being renewed
                await self._subscribe_all(link, resubscribe=True)
                if self._subscribed.issuperset(self.channels):
                    break
                await asyncio.sleep(0)
        except FatalSessionError as exc:
            log.error("cannot refresh the token: %s", type(exc.cause).__name__)
            self._socket.drop("token refresh failed")
        except Exception as exc:
            log.warning("resubscribing after a token refresh failed (%s); reconnecting",
                        type(exc).__name__)
            self._socket.drop("token refresh failed")

    # --------------------------------------------------------------------------- requests
    async def _request(self, method: str, request: Any, *, expected: int = 1,
                       cl_ord_ids: Sequence[str] = (),
                       reply_timeout: float | None = None) -> list[Any]:
        """Send one request and wait for its ``expected`` replies (in arrival order).

        Raises the mapped :class:`KrakenError` for a refusal (the first one; ``replies`` on it
        holds every reply when others succeeded), :class:`OrderOutcomeUnknown` for an order
        request whose reply never came, :class:`TransportError` otherwise.
        """
        if self._closed:
            raise TransportError("the session is closed", maybe_sent=False, method=method)
        if not self._socket.started:  # connections open on first use
            self._ensure_provider()
            self._socket.start()
        loop = asyncio.get_running_loop()
        budget = self.request_timeout if reply_timeout is None else reply_timeout
        deadline = loop.time() + budget
        refresh = self._refresh
        if refresh is not None and not refresh.done():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(budget):  # not wait_for: it can lose a cancel
                    await asyncio.shield(refresh)
        try:
            link = await self._socket.wait_ready(max(0.0, deadline - loop.time()))
        except (NotConnectedError, FatalSessionError) as exc:
            raise TransportError(f"not connected: {exc}", maybe_sent=False,
                                 method=method) from None
        pending = self._pending.open(method, expected, context=tuple(cl_ord_ids))
        frame = self._encode_request(method, request, pending.req_id)
        placing = method in self.PLACING
        try:
            await link.send(frame)
        except NotConnectedError:
            self._pending.discard(pending.req_id)
            if placing:  # a failed write may still have put bytes on the wire
                self._mark_unknown(pending, "send failed")
                raise self._loss_error(pending, "send failed") from None
            raise TransportError("the connection closed while sending", method=method) from None
        try:
            async with asyncio.timeout_at(deadline):
                replies: list[Any] = await pending.future
        except TimeoutError:
            self._pending.discard(pending.req_id)
            reason = f"no reply within {budget:g}s"
            if placing:
                self._mark_unknown(pending, reason)
                raise self._loss_error(pending, reason) from None
            raise TransportError(reason, method=method) from None
        except asyncio.CancelledError:
            # the caller gave up: forget the request; an order sent is now of unknown outcome
            if self._pending.discard(pending.req_id) is not None and placing:
                self._mark_unknown(pending, "the waiting task was cancelled")
            raise
        for reply in replies:
            error = self._refusal(reply)
            if error is not None:
                refusal = error_from_kraken(error, method=method)
                if isinstance(refusal, InvalidSession):
                    self._schedule_refresh("a request was refused for its token")
                elif isinstance(refusal, OrderRateLimitExceeded):
                    self._emit(RateLimitWarning(None, None, error))
                if len(replies) > 1 and any(self._refusal(r) is None for r in replies):
                    refusal.replies = replies  # type: ignore[attr-defined]
                raise refusal
        return replies

    # -------------------------------------------------------------------------- reconcile
    async def reconcile(self, cl_ord_id: str, *, timeout: float | None = None
                        ) -> Reconciliation:
        """Find out whether the order ``cl_ord_id`` exists.

        If its outcome became unknown, waits (up to ``timeout``, default the request timeout
        times 3) until the session is connected again and an orders snapshot taken after the
        loss has been applied (asking for one on the same socket when the reply only timed
        out); then answers from the open-orders view (open, or seen closing). An order in
        neither is looked up over REST (``order_by_cl_ord_id``, open then closed orders) when
        the session fetches its tokens through a REST client.

        Raises:
            TransportError: not reconnected / no new snapshot within ``timeout``; REST errors
                of the lookup propagate (:class:`KrakenError`, :class:`TransportError`).
        """
        loop = asyncio.get_running_loop()
        budget = self.request_timeout * 3 if timeout is None else timeout
        deadline = loop.time() + budget
        lost = self._unknown.get(cl_ord_id)
        asked = False
        while lost is not None and self.open_orders.snapshots <= lost[0]:
            seen = self._snapshot_seen
            remaining = deadline - loop.time()
            if seen is None or remaining <= 0:
                raise TransportError(f"no new {self.ORDERS_CHANNEL} snapshot within "
                                     f"{budget:g}s", method="reconcile")
            if not asked and self.ready and self._socket.connections == lost[1]:
                # the reply timed out on a socket that is still up: no reconnect will bring a
                # snapshot, so ask for one (requests are handled in order, so it includes the
                # order if the order was placed)
                asked = True
                await self._resnapshot(remaining)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await seen.wait()
        self._unknown.pop(cl_ord_id, None)
        order = self.open_orders.by_cl_ord_id(cl_ord_id)
        if order is not None:
            return Reconciliation(cl_ord_id, "open", order)
        closed = self.open_orders.closed(cl_ord_id)
        if closed is not None:
            return Reconciliation(cl_ord_id, "closed", closed.order)
        # it may have closed before the snapshot: ask REST, when the session has a client
        lookup = getattr(getattr(self._provider, "client", None), "order_by_cl_ord_id", None)
        if lookup is not None and asyncio.iscoroutinefunction(lookup):
            remaining = max(0.1, deadline - loop.time())
            async with asyncio.timeout(remaining):
                info = await lookup(cl_ord_id)
            if info is not None:
                is_open = info.status in ("pending", "open")
                return Reconciliation(cl_ord_id, "open" if is_open else "closed",
                                      self.open_orders.get(info.txid), rest_order=info)
        return Reconciliation(cl_ord_id, "not_found")

    async def _resnapshot(self, timeout: float) -> None:
        """Subscribe to the orders channel again on this socket, for a fresh snapshot."""
        channel = self.ORDERS_CHANNEL
        if channel not in self.channels:
            return
        try:
            link = await self._socket.wait_ready(timeout)
        except (NotConnectedError, FatalSessionError):
            return  # closed, or a reconnect will bring its own snapshot
        with contextlib.suppress(SubscriptionError):
            await self._unsubscribe(channel, timeout)
        self._subscribed.discard(channel)
        try:
            await self._subscribe(link, channel)
        except ChannelRefused as refused:
            raise refused.error from None
        except (TimeoutError, NotConnectedError):
            raise TransportError(f"could not subscribe to {channel} again",
                                 method="reconcile") from None
        self._subscribed.add(channel)

    # ------------------------------------------------------------------- dead-man switch
    def enable_dead_man_switch(self, seconds: int = 60, every: float = 20.0) -> None:
        """Keep ``cancel_all_orders_after(seconds)`` refreshed every ``every`` seconds until
        :meth:`disable_dead_man_switch` or a clean close (which disarms it).

        Raises:
            ValueError: unless ``0 < every < seconds``.
        """
        if not 0 < every < seconds:
            raise ValueError("need 0 < every < seconds")
        if self._dms_task is not None:
            self._dms_task.cancel()
        self._dms_task = asyncio.get_running_loop().create_task(
            self._dead_man_loop(seconds, every), name="krakenwire-dead-man-switch")

    async def disable_dead_man_switch(self) -> None:
        """Stop refreshing and disarm (``cancel_all_orders_after(0)``)."""
        task, self._dms_task = self._dms_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._dms_armed:
            await self.cancel_all_orders_after(0)
            self._dms_armed = False

    @property
    def dead_man_switch_armed(self) -> bool:
        """True while the switch is armed on the server as far as this session knows."""
        return self._dms_armed

    async def _dead_man_loop(self, seconds: int, every: float) -> None:
        while True:
            try:
                await self.cancel_all_orders_after(seconds)
            except KrakenwireError as exc:
                log.warning("dead-man switch refresh failed: %s", type(exc).__name__)
            await asyncio.sleep(every)
