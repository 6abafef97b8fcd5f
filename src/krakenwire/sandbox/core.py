"""SandboxCore: the exchange, gate and store wired together for the transports.

INTERFACE CONTRACT (used by REST, WS v1 and WS v2):

``SandboxCore(clock, exchange, gate, store, settings, faults=None)`` with attributes ``clock``,
``exchange`` (:class:`~krakenwire.sandbox.exchange.Exchange`), ``gate``
(:class:`~krakenwire.sandbox.gate.Gate`), ``store`` (:class:`~krakenwire.sandbox.store.Store`),
``settings`` (:class:`Settings`), ``faults`` (:class:`Faults`), and:

* ``SandboxCore.open(settings) -> SandboxCore`` — build everything from ``settings``: open the
  database, reload accounts/keys/orders/trades/ledger, and on an empty database create the demo
  account and its all-permission ``pro``-tier key (``core.demo_key``).
* ``async commit() -> None`` — group commit of ``exchange.drain_changes()`` plus gate state
  (new keys, nonce marks, issued tokens as digests); returns once everything changed so far is
  durable. Call it before acknowledging anything. Raises
  :class:`~krakenwire.sandbox.store.StoreError` on a failed write or when the write does not
  complete within ``settings.commit_timeout`` s (never waits forever). The rows of a failed
  write are written again (as the state is then) with the next commit, so the database
  converges on memory and nothing that was accepted is dropped.
* ``publish(events) -> None`` — fan events (from ``exchange.drain_events()``) out to listeners.
* ``listen(account_id) -> Listener`` — an unbounded ``asyncio.Queue[Event]`` of that account's
  events (``account_id=None``: every account), closed with ``unlisten(listener)``.
* ``async run(fn) -> (result, events)`` — call ``fn()`` (an exchange operation), drain its events,
  commit, and return; the caller sends its reply and *then* publishes the events (so that, per
  kraken-protocol.md §10, the ack precedes ``pending_new`` unless ``settings.ack_after_events``).
  If ``fn`` raises, its events are committed and published and the exception propagates.
  If the commit fails, times out or the caller is cancelled meanwhile, the events are still
  published (once the write settles) before the exception propagates: the feeds never miss
  what the exchange did.
* ``exclusive()`` / ``shared()`` — async context managers (an :class:`OperationGate`) to hold
  around ``run`` and the publishing of its events: a tick holds it exclusively, so no tick's
  events come between an operation and its own; shared holders (REST, WS v1 trading) still
  run alongside each other and share their commits; WS v2 trading holds it exclusively.
* ``async tick()`` — ``exchange.tick()`` now, commit, publish. A background task (``start()`` /
  ``async stop()``) calls it every ``settings.tick_interval`` s on the real clock (the simulated
  market's own ladder and internal matches are not persisted, so an idle sandbox writes
  nothing but a 4-row snapshot every ``settings.market_snapshot_interval`` s); ``async stop()``
  writes a last full snapshot and closes the store;
  ``async advance(seconds)`` moves a manual clock and ticks at once.
* ``create_account(balances) -> Account`` and ``create_key(account_id, ...) -> KeyRecord``
  (both persisted on the next commit).

Token rules (gate): ``gate.issue_token(key) -> (token, expires)``;
``gate.check_token(token) -> KeyRecord`` raising ``GateError(INVALID_SESSION)``;
``gate.bind_token(token, conn_id)`` when a private subscription is made,
``gate.unbind_token(token, conn_id)`` when it ends (connection closed / unsubscribed).
Permissions: ``gate.require(key, perm)`` with perm in ``query_funds | query_orders | trade |
websocket``. Trading counter: ``gate.charge_trading(key, pair_id, action, order_age)`` raising
``GateError(ORDER_RATE_LIMIT)``; ``gate.check_open_orders(key, open_on_pair)`` raising
``GateError(ORDERS_LIMIT)``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Final, Literal, TypeVar

from krakenwire.clock import Clock, ManualClock, SystemClock
from krakenwire.protocol.limits import Tier
from krakenwire.protocol.naming import asset_by_any
from krakenwire.sandbox.exchange import Exchange, ExchangeError
from krakenwire.sandbox.gate import ALL_PERMISSIONS, Gate, GateSettings, KeyRecord
from krakenwire.sandbox.market import MarketSettings
from krakenwire.sandbox.model import Account, BalanceEvent, Event, OrderEvent
from krakenwire.sandbox.store import Batch, KeyRow, Store, StoreError, TokenRow

__all__ = ["DEMO_BALANCES", "Faults", "Listener", "OperationGate", "SandboxCore", "Settings"]

log = logging.getLogger("krakenwire.sandbox")

T = TypeVar("T")

#: The demo account's starting balances (REST asset ids).
DEMO_BALANCES: Final[dict[str, Decimal]] = {
    "ZUSD": Decimal(100_000),
    "XXBT": Decimal(10),
    "XETH": Decimal(100),
    "SOL": Decimal(1_000),
}


@dataclass(slots=True)
class Faults:
    """Fault switches, toggled at run time through the admin API (``/sandbox/faults``).

    Every field is a plain bool/float/str so the admin API can set it by name.
    """

    #: every private REST call answers ``EService:Unavailable``
    unavailable: bool = False
    #: every private REST call answers ``EService:Busy``
    busy: bool = False
    #: seconds of extra latency before every REST reply
    rest_delay: float = 0.0
    #: status reported by SystemStatus (online|maintenance|cancel_only|post_only); private
    #: REST trading follows it (maintenance → EService:Unavailable, cancel_only / post_only →
    #: EService:Market in ... mode)
    system_status: str = "online"
    #: REST: answer every call with this HTTP status and an HTML body, like a proxy error
    #: (0 = off; e.g. 502, 520)
    rest_http_status: int = 0
    #: REST: the next private call is executed and committed, then its connection is dropped
    #: before the reply (one-shot: resets itself when it fires) — "order outcome unknown"
    rest_drop_before_reply: bool = False
    #: WS v2: the next private channel frame (executions / balances) is not sent; its socket
    #: is dropped instead (one-shot: resets itself when it fires)
    ws_drop_midstream: bool = False
    #: WS v2: the next ``add_order`` is executed, then its socket is dropped before the reply
    #: (one-shot: resets itself when it fires)
    ws_drop_before_reply: bool = False
    #: WS v2: send no ``heartbeat`` frames
    ws_no_heartbeat: bool = False
    #: WS v2: send an order's execution reports before its method reply (runtime switch for
    #: ``Settings.ack_after_events``)
    ws_ack_after_events: bool = False


@dataclass(slots=True)
class Settings:
    """How a sandbox runs. ``db_path=None`` means a fresh temporary database file."""

    host: str = "127.0.0.1"
    port: int = 0
    db_path: str | None = None
    seed: int = 0
    manual_clock: bool = False
    #: start time of the manual clock (None: now, whole seconds)
    clock_start: float | None = None
    #: seconds between exchange ticks on the real clock
    tick_interval: float = 1.0
    #: publish an order's events before acknowledging it (tests client robustness)
    ack_after_events: bool = False
    #: SQLite synchronous mode: NORMAL survives kill -9, FULL also power loss
    synchronous: Literal["OFF", "NORMAL", "FULL"] = "NORMAL"
    #: run the simulated market (liquidity + random walk)
    market: bool = True
    #: create the funded demo account and key on an empty database
    demo: bool = True
    #: refuse the admin API to non-loopback peers
    admin_loopback_only: bool = True
    gate: GateSettings = field(default_factory=GateSettings)
    #: the simulated market's speed and depth (None: MarketSettings() defaults)
    market_settings: MarketSettings | None = None
    #: seconds between snapshots of the market's unpersisted state (its accounts' balances,
    #: mids, last prices, id counters: 4 rows) while nobody trades; 0 = only at stop. After a
    #: kill -9 the market restarts from its last snapshot (conservation holds either way).
    market_snapshot_interval: float = 60.0
    #: longest wait for a commit before the request fails with ``EGeneral:Internal error``
    commit_timeout: float = 30.0
    #: longest wait for a request body before the connection is answered with HTTP 408
    read_timeout: float = 30.0
    #: longest wait, on stop, for in-flight requests and then for the store to finish writing
    shutdown_timeout: float = 10.0


class OperationGate:
    """Shared / exclusive access to the exchange between an operation's execution and the
    publishing of its events, granted first come, first served (a waiting exclusive holder
    is not overtaken by later shared ones, so ticks are never starved).

    Exclusive holders (ticks, WS v2 trading) run alone; shared holders (REST trading, WS v1
    trading) run alongside each other, so that their commits are grouped, but never alongside
    an exclusive one: no tick's events are published between a shared operation's execution
    and its own events. ``async with gate.shared():`` / ``async with gate.exclusive():``.
    """

    def __init__(self) -> None:
        self._shared = 0
        self._exclusive = False
        self._waiting: deque[tuple[bool, asyncio.Future[None]]] = deque()

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Hold the gate alongside other shared holders."""
        await self._acquire(False)
        try:
            yield
        finally:
            self._release(False)

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the gate alone."""
        await self._acquire(True)
        try:
            yield
        finally:
            self._release(True)

    def locked(self) -> bool:
        """True while anyone holds the gate."""
        return self._exclusive or self._shared > 0

    def _free_for(self, exclusive: bool) -> bool:
        return not self._exclusive and (not exclusive or self._shared == 0)

    def _take(self, exclusive: bool) -> None:
        if exclusive:
            self._exclusive = True
        else:
            self._shared += 1

    async def _acquire(self, exclusive: bool) -> None:
        if not self._waiting and self._free_for(exclusive):
            self._take(exclusive)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (exclusive, fut)
        self._waiting.append(entry)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():  # granted, then cancelled: hand it on
                self._release(exclusive)
            else:
                if entry in self._waiting:
                    self._waiting.remove(entry)
                self._wake()
            raise

    def _release(self, exclusive: bool) -> None:
        if exclusive:
            self._exclusive = False
        else:
            self._shared -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiting:
            exclusive, fut = self._waiting[0]
            if fut.done():  # its waiter was cancelled meanwhile
                self._waiting.popleft()
                continue
            if not self._free_for(exclusive):
                return
            self._waiting.popleft()
            self._take(exclusive)
            fut.set_result(None)


class Listener(asyncio.Queue[Event]):
    """An unbounded queue of one account's events (or every account's, ``account_id=None``)."""

    def __init__(self, account_id: str | None) -> None:
        super().__init__()
        self.account_id = account_id


def _event_account(event: Event) -> str:
    if isinstance(event, OrderEvent):
        return event.order.account_id
    assert isinstance(event, BalanceEvent)
    return event.entry.account_id


def key_row(rec: KeyRecord) -> KeyRow:
    """The store's row for a gate key record."""
    return KeyRow(key=rec.key, secret=rec.secret, account_id=rec.account_id,
                  permissions=sorted(rec.permissions), tier=rec.tier,
                  nonce_window=rec.nonce_window, nonce=str(rec.nonce), created=rec.created)


class SandboxCore:
    """The exchange, gate, store, listeners and tick task of one sandbox (see module doc)."""

    def __init__(self, clock: Clock, exchange: Exchange, gate: Gate, store: Store,
                 settings: Settings, faults: Faults | None = None) -> None:
        self.clock = clock
        self.exchange = exchange
        self.gate = gate
        self.store = store
        self.settings = settings
        self.faults = faults or Faults()
        self.demo_key: KeyRecord | None = None
        self.demo_account: str | None = None
        self._listeners: dict[str | None, set[Listener]] = {}
        self._open_batch = Batch()
        self._open_future: asyncio.Future[None] | None = None
        self._last_future: asyncio.Future[None] | None = None
        self._stopped = False
        self._last_snapshot: float | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._gate = OperationGate()
        self._temp_db: str | None = None

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings) -> SandboxCore:
        """Open (or create) the database named by ``settings`` and rebuild the sandbox from it.

        Raises:
            StoreError: if the database cannot be opened or read.
        """
        temp_db = None
        db_path = settings.db_path
        if db_path is None:
            fd, db_path = tempfile.mkstemp(prefix="krakenwire-sandbox-", suffix=".db")
            os.close(fd)
            temp_db = db_path
        clock: Clock = (ManualClock(settings.clock_start) if settings.manual_clock
                        else SystemClock())
        store: Store | None = None
        try:
            store = Store(db_path, synchronous=settings.synchronous)
            return cls._build(settings, clock, store, temp_db)
        except BaseException:
            if store is not None:
                store.close()
            if temp_db is not None:
                _remove_db(temp_db)
            raise

    @classmethod
    def _build(cls, settings: Settings, clock: Clock, store: Store,
               temp_db: str | None) -> SandboxCore:
        snap = store.load()
        exchange = Exchange(clock, seed=settings.seed, market=settings.market,
                            market_settings=settings.market_settings)
        gate = Gate(clock, settings.gate)
        core = cls(clock, exchange, gate, store, settings)
        core._temp_db = temp_db
        if not snap.empty:
            exchange.load(snap.accounts, snap.orders, snap.trades, snap.ledger,
                          snap.meta.get("counters") or {})
            for row in snap.keys:
                gate.load_key(KeyRecord(
                    key=row.key, secret=row.secret, account_id=row.account_id,
                    permissions=frozenset(row.permissions), tier=row.tier,  # type: ignore[arg-type]
                    nonce_window=row.nonce_window, nonce=int(row.nonce), created=row.created))
            for token in snap.tokens:  # expired ones are dropped (and deleted below)
                gate.load_token(token.digest, token.key, token.issued)
            ephemeral = exchange.ephemeral_accounts()
            stale = sorted({o.account_id for o in snap.orders if o.account_id in ephemeral})
            if stale:  # the market's ladder from an older version: rebuilt, not stored
                core._open_batch.purge_orders_of(stale)
            demo = snap.meta.get("demo_key")
            if isinstance(demo, str):
                core.demo_key = gate.key(demo)
                core.demo_account = core.demo_key.account_id if core.demo_key else None
        elif settings.demo:
            account = core.create_account(DEMO_BALANCES)
            core.demo_account = account.id
            core.demo_key = core.create_key(account.id, tier="pro")
            core._open_batch.set_meta("demo_key", core.demo_key.key)
        # nobody listens yet: the demo account's deposits are not news to any later listener
        exchange.drain_events()
        # write the initial state synchronously (the writer thread is not running yet)
        batch = core._collect(full=True)
        core._open_batch = Batch()
        if batch:
            store.submit(batch).result()
        core._last_snapshot = clock.now()  # that was a full snapshot
        store.start()
        return core

    def create_account(self, balances: Mapping[str, Decimal | str | int]) -> Account:
        """Create an account with ``balances`` (asset names in any spelling: ``XXBT``, ``XBT``,
        ``BTC``). Persisted on the next :meth:`commit`.

        Raises:
            ValueError: for an unknown asset or a negative/non-numeric amount.
        """
        resolved: dict[str, Decimal] = {}
        for name, amount in balances.items():
            asset = asset_by_any(name)
            if asset is None:
                raise ValueError(f"unknown asset {name!r}")
            try:
                value = Decimal(str(amount))
            except ArithmeticError:
                raise ValueError(f"amount for {name} is not a number") from None
            if not value.is_finite() or value < 0:
                raise ValueError(f"amount for {name} must be a non-negative number")
            resolved[asset.id] = value
        account = self.exchange.create_account(resolved)
        self.publish(self.exchange.drain_events())  # the opening deposits
        return account

    def create_key(self, account_id: str, *, permissions: Iterable[str] = ALL_PERMISSIONS,
                   tier: Tier = "starter", nonce_window: int = 0) -> KeyRecord:
        """Create an API key for an existing account. Persisted on the next :meth:`commit`.

        Raises:
            ExchangeError: if the account does not exist.
            ValueError: for an unknown permission or tier, or a negative window.
        """
        self.exchange.account(account_id)
        return self.gate.create_key(account_id, permissions=permissions, tier=tier,
                                    nonce_window=nonce_window)

    # --- durability --------------------------------------------------------------------------
    def _collect(self, *, full: bool = False) -> Batch:
        batch = self._open_batch
        changes = self.exchange.drain_changes(full=full)
        if changes or full:
            batch.add_accounts(changes.accounts.values())
            batch.add_orders(changes.orders.values())
            batch.add_trades(changes.trades)
            batch.add_ledger(changes.ledger)
            batch.set_meta("counters", changes.counters)
        dirty = self.gate.drain_dirty()
        if dirty:
            batch.add_keys(key_row(k) for k in dirty)
        tokens = self.gate.drain_token_changes()
        if tokens.cleared:
            batch.clear_tokens()
        if tokens.removed:
            batch.delete_tokens(tokens.removed)
        if tokens.added:
            batch.add_tokens(TokenRow(d, k, t) for d, k, t in tokens.added)
        return batch

    async def commit(self, *, full: bool = False) -> None:
        """Make everything changed so far durable; return once it is committed.

        Commits from the same event-loop iteration share one batch, and the store's writer
        commits all queued batches in one transaction. ``full`` also writes the simulated
        market's unpersisted state (balances snapshot, counters) — for shutdown.

        Raises:
            StoreError: if the write failed or did not complete within
                ``settings.commit_timeout`` seconds (it may still complete later).
        """
        batch = self._collect(full=full)
        fut: asyncio.Future[None] | None
        if batch:
            if self._open_future is None:
                loop = asyncio.get_running_loop()
                self._open_future = loop.create_future()
                loop.call_soon(self._flush)
            fut = self._open_future
        else:
            fut = self._open_future or self._last_future
        if fut is None:
            return
        if not fut.done():
            try:
                async with asyncio.timeout(self.settings.commit_timeout):
                    await asyncio.shield(fut)
            except TimeoutError:
                raise StoreError(f"the sandbox database did not commit within "
                                 f"{self.settings.commit_timeout:g} s") from None
        elif fut.exception() is not None:
            raise fut.exception()  # type: ignore[misc]

    def _flush(self) -> None:
        fut = self._open_future
        if fut is None:
            return
        self._open_future = None
        try:
            batch = self._collect()
            self._open_batch = Batch()
            cfut = self.store.submit(batch)
        except Exception as exc:  # store closed or its writer gone; a sandbox bug otherwise
            if not isinstance(exc, StoreError):
                log.exception("sandbox commit failed")
            _settle(fut, exc if isinstance(exc, StoreError)
                    else StoreError(f"sandbox commit failed: {type(exc).__name__}"))
            return
        self._last_future = fut
        loop = asyncio.get_running_loop()

        def done(cf: concurrent.futures.Future[None]) -> None:  # runs on the writer thread
            exc = cf.exception()
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(self._settled, fut, batch, exc)

        cfut.add_done_callback(done)

    def _settled(self, fut: asyncio.Future[None], batch: Batch,
                 exc: BaseException | None) -> None:
        if exc is not None and not self._stopped:
            log.error("sandbox database write failed; it is retried with the next commit")
            self._requeue(batch)
        _settle(fut, exc)

    def _requeue(self, failed: Batch) -> None:
        """Put the rows of a failed write back into the open batch, as the state is NOW for
        mutable rows (accounts, orders, keys, counters: a later successful write may already
        hold newer versions, which an old copy must not overwrite) and as they were for
        immutable ones (trades, ledger entries, tokens, deletions)."""
        again = Batch()
        again.purge_orders_of(failed.purged_order_accounts)
        if failed.tokens_cleared:
            again.clear_tokens()
        again.delete_tokens(failed.token_deletes)
        again.add_tokens(t for t in failed.tokens if self.gate.has_token_digest(t.digest))
        seen: set[tuple[str, str]] = set()
        for table, ident, account_id, data in failed.rows:
            if table in ("trades", "ledger"):
                again.rows.append((table, ident, account_id, data))
                continue
            if (table, ident) in seen:
                continue
            seen.add((table, ident))
            if table == "accounts":
                with contextlib.suppress(ExchangeError):
                    again.add_accounts([self.exchange.account(ident)])
            elif table == "orders":
                order = self.exchange.order(account_id, ident)
                if order is not None:
                    again.add_orders([order])
            elif table == "keys":
                rec = self.gate.key(ident)
                if rec is not None:
                    again.add_keys([key_row(rec)])
        for name, value in failed.meta.items():
            again.meta[name] = value
        if "counters" in failed.meta:
            again.set_meta("counters", self.exchange.counters())
        self._open_batch.merge_before(again)

    # --- events ------------------------------------------------------------------------------
    def listen(self, account_id: str | None) -> Listener:
        """A new queue receiving every later event of ``account_id`` (None: all accounts)."""
        listener = Listener(account_id)
        self._listeners.setdefault(account_id, set()).add(listener)
        return listener

    def unlisten(self, listener: Listener) -> None:
        """Stop feeding ``listener`` (no error if it was already removed)."""
        group = self._listeners.get(listener.account_id)
        if group is not None:
            group.discard(listener)
            if not group:
                del self._listeners[listener.account_id]

    def publish(self, events: Iterable[Event]) -> None:
        """Put each event on the queues of its account's listeners and the catch-all ones."""
        if not self._listeners:
            return
        everyone = self._listeners.get(None, ())
        for event in events:
            for listener in self._listeners.get(_event_account(event), ()):
                listener.put_nowait(event)
            for listener in everyone:
                listener.put_nowait(event)

    def publish_when_durable(self, events: list[Event]) -> None:
        """Publish ``events`` once the commit that holds them has settled (at once if none is
        pending) — for paths that cannot wait (cancelled, failed or timed-out commits)."""
        if not events:
            return
        fut = self._open_future or self._last_future
        if fut is None or fut.done():
            self.publish(events)
        else:
            fut.add_done_callback(lambda _f: self.publish(events))

    async def run(self, fn: Callable[[], T]) -> tuple[T, list[Event]]:
        """Run an exchange operation, commit its effects, and return (result, events).

        The caller publishes the events after replying. If ``fn`` raises, whatever it changed
        is committed and its events published before the exception propagates; if the commit
        fails, times out or is cancelled, the events are published all the same (once the
        write settles) and the commit's exception propagates.
        """
        try:
            result = fn()
        except BaseException:
            events = self.exchange.drain_events()
            try:
                await self.commit()
            finally:
                self.publish_when_durable(events)
            raise
        events = self.exchange.drain_events()
        try:
            await self.commit()
        except BaseException:
            self.publish_when_durable(events)
            raise
        return result, events

    # --- time --------------------------------------------------------------------------------
    async def tick(self) -> None:
        """Advance the exchange to the clock's now, commit, and publish what happened."""
        async with self._gate.exclusive():
            self.exchange.tick()
            events = self.exchange.drain_events()
            try:
                await self.commit(full=self._snapshot_due())
            finally:
                self.publish_when_durable(events)

    def _snapshot_due(self) -> bool:
        interval = self.settings.market_snapshot_interval
        if interval <= 0 or self.exchange.market is None:
            return False
        now = self.clock.now()
        if self._last_snapshot is None:
            self._last_snapshot = now
        elif now - self._last_snapshot >= interval:
            self._last_snapshot = now
            return True
        return False

    def exclusive(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the exchange alone, as :meth:`tick` does while it changes the exchange,
        commits and publishes (``async with core.exclusive():``).

        Hold it around ``run`` and the publishing of the result's events so that nothing else
        runs in between: WS v2 keeps ack → ``pending_new`` → ``new`` → ``trade`` on every feed.
        Do not call :meth:`tick` or :meth:`advance` while holding it."""
        return self._gate.exclusive()

    def shared(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the exchange alongside other operations but not alongside a tick or an
        exclusive holder (``async with core.shared():``): around ``run`` and the publishing of
        its events, no tick's events (e.g. a fill of the order just placed) come between them,
        while concurrent operations still share their commits (REST and WS v1 trading).
        Do not call :meth:`tick` or :meth:`advance` while holding it."""
        return self._gate.shared()

    async def advance(self, seconds: float) -> float:
        """Move the manual clock forward by ``seconds`` and tick at once; return the new time.

        Raises:
            TypeError: if the sandbox runs on the real clock.
            ValueError: if ``seconds`` is negative.
        """
        if not isinstance(self.clock, ManualClock):
            raise TypeError("the sandbox runs on the real clock; start it with a manual clock")
        now = self.clock.advance(seconds)
        await self.tick()
        return now

    def start(self) -> None:
        """Start the background tick task (real clock only; a manual clock ticks on advance)."""
        if self._tick_task is None and not isinstance(self.clock, ManualClock):
            self._tick_task = asyncio.get_running_loop().create_task(self._ticker())

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_interval)
            try:
                await self.tick()
            except Exception:  # keep ticking; the failure is logged without any secret
                log.exception("sandbox tick failed")

    async def stop(self) -> None:
        """Stop ticking, write everything (the market's snapshot included) and close the store.

        Never hangs: the last commit and the writer's shutdown are each bounded by
        ``settings.shutdown_timeout`` (a failure is logged; what was committed stays)."""
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
            self._tick_task = None
        if self.store.closed:
            return
        timeout = self.settings.shutdown_timeout
        try:
            await asyncio.wait_for(self.commit(full=True), timeout)
        except (StoreError, TimeoutError):
            log.error("sandbox: the last commit before shutdown failed")
        self._stopped = True
        # the writer finishes off the loop thread: its completions still reach this loop
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.store.close, timeout)
        except RuntimeError:  # the loop's executor is already shut down
            self.store.close(timeout)
        if self._temp_db is not None:
            _remove_db(self._temp_db)


def _remove_db(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            Path(path + suffix).unlink()


def _settle(fut: asyncio.Future[None], exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is None:
        fut.set_result(None)
    else:
        fut.set_exception(exc)
        fut.exception()  # mark retrieved: awaiters re-raise it
