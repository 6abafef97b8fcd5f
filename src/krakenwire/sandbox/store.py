"""SQLite persistence for the sandbox (WAL, group commit). The thin I/O shell of the exchange.

Tables hold accounts, API keys (with their nonce high-water marks), orders, trades, ledger
entries, WebSocket tokens (as SHA-256 digests only, never the token itself) and a small ``meta``
table (exchange counters). Rows are JSON documents of the model dataclasses (msgspec; Decimals
as exact strings), keyed by id.

Writes go through one writer thread: :meth:`Store.submit` queues a :class:`Batch` and returns a
:class:`concurrent.futures.Future` that completes once the batch is committed. The writer takes
every batch queued so far and commits them in ONE transaction (group commit), so durability
costs one commit per burst, not one per request. With ``synchronous=NORMAL`` (the default) a
committed transaction survives the process being killed (``kill -9``); ``FULL`` also survives
power loss.

Every future :meth:`Store.submit` returns completes: with ``None`` once committed, or with a
:class:`StoreError` when the write failed, when the writer thread died, or when the store was
closed before the batch could be written (a batch submitted before :meth:`Store.close` is always
written first). Nothing waits on the writer forever.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from krakenwire.sandbox.model import Account, LedgerEntry, Order, Trade

__all__ = ["Batch", "KeyRow", "Snapshot", "Store", "StoreError", "TokenRow"]

log = logging.getLogger("krakenwire.sandbox.store")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, account_id TEXT NOT NULL,
                                 data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, account_id TEXT NOT NULL,
                                   data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS trades (id TEXT PRIMARY KEY, account_id TEXT NOT NULL,
                                   data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (id TEXT PRIMARY KEY, account_id TEXT NOT NULL,
                                   data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (digest TEXT PRIMARY KEY, key TEXT NOT NULL,
                                   issued REAL NOT NULL);
"""

_ENCODER: Final = msgspec.json.Encoder(decimal_format="string")


class StoreError(Exception):
    """The database could not be opened, read or written."""


class KeyRow(msgspec.Struct, kw_only=True):
    """An API key as stored: everything needed to rebuild the gate's record.

    ``nonce`` is kept as a decimal string (nonces are unsigned 64-bit, beyond SQLite's int).
    """

    key: str
    secret: str
    account_id: str
    permissions: list[str]
    tier: str
    nonce_window: int
    nonce: str
    created: float

    def __repr__(self) -> str:
        return f"KeyRow(account_id={self.account_id!r}, tier={self.tier!r})"


class TokenRow(msgspec.Struct, frozen=True):
    """A WebSocket token as stored: the SHA-256 hex digest of the token (never the token), the
    API key it belongs to and when it was issued (clock seconds)."""

    digest: str
    key: str
    issued: float


@dataclass(slots=True)
class Batch:
    """Encoded rows to write in one transaction: ``(table, id, account_id, data)`` upserts,
    ``meta`` entries, token rows and deletions. Build it with :meth:`add_*` on the event-loop
    thread (encoding copies the state, so later changes to the objects do not leak into it).

    Inside one batch the writer applies, in this order: :meth:`clear_tokens`, deletions
    (:meth:`delete_tokens`, :meth:`purge_orders_of`), then the upserts."""

    rows: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    meta: dict[str, bytes] = field(default_factory=dict)
    tokens: list[TokenRow] = field(default_factory=list)
    token_deletes: list[str] = field(default_factory=list)
    tokens_cleared: bool = False
    purged_order_accounts: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.rows or self.meta or self.tokens or self.token_deletes
                    or self.tokens_cleared or self.purged_order_accounts)

    def merge_before(self, older: Batch) -> None:
        """Put ``older`` (e.g. a batch whose write failed) in front of this one, so that both
        are written together and this batch's newer rows win."""
        self.rows[:0] = older.rows
        self.meta = {**older.meta, **self.meta}
        self.purged_order_accounts[:0] = older.purged_order_accounts
        if not self.tokens_cleared:  # (a clear in this batch wipes the older tokens anyway)
            self.tokens[:0] = older.tokens
            self.token_deletes[:0] = older.token_deletes
            self.tokens_cleared = older.tokens_cleared

    def add_accounts(self, accounts: Iterable[Account]) -> None:
        """Queue accounts."""
        self.rows.extend(("accounts", a.id, a.id, _ENCODER.encode(a)) for a in accounts)

    def add_orders(self, orders: Iterable[Order]) -> None:
        """Queue orders."""
        self.rows.extend(("orders", o.id, o.account_id, _ENCODER.encode(o)) for o in orders)

    def add_trades(self, trades: Iterable[Trade]) -> None:
        """Queue trades."""
        self.rows.extend(("trades", t.id, t.account_id, _ENCODER.encode(t)) for t in trades)

    def add_ledger(self, entries: Iterable[LedgerEntry]) -> None:
        """Queue ledger entries."""
        self.rows.extend(("ledger", e.id, e.account_id, _ENCODER.encode(e)) for e in entries)

    def add_keys(self, keys: Iterable[KeyRow]) -> None:
        """Queue API keys (with their current nonce marks)."""
        self.rows.extend(("keys", k.key, k.account_id, _ENCODER.encode(k)) for k in keys)

    def set_meta(self, name: str, value: Any) -> None:
        """Queue a JSON-encodable ``meta`` value."""
        self.meta[name] = _ENCODER.encode(value)

    def add_tokens(self, tokens: Iterable[TokenRow]) -> None:
        """Queue token rows (digests only)."""
        self.tokens.extend(tokens)

    def delete_tokens(self, digests: Iterable[str]) -> None:
        """Queue the deletion of tokens by digest."""
        self.token_deletes.extend(digests)

    def clear_tokens(self) -> None:
        """Delete every stored token (before this batch's own token rows are written)."""
        self.tokens_cleared = True
        self.tokens.clear()
        self.token_deletes.clear()

    def purge_orders_of(self, account_ids: Iterable[str]) -> None:
        """Delete every stored order of these accounts (e.g. state that is rebuilt on start)."""
        self.purged_order_accounts.extend(account_ids)


@dataclass(slots=True)
class Snapshot:
    """Everything in the database, in insertion order."""

    accounts: list[Account]
    orders: list[Order]
    trades: list[Trade]
    ledger: list[LedgerEntry]
    keys: list[KeyRow]
    meta: dict[str, Any]
    tokens: list[TokenRow] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when the database holds no account and no key."""
        return not self.accounts and not self.keys


_Sync = Literal["OFF", "NORMAL", "FULL"]
_TABLES: Final = ("accounts", "keys", "orders", "trades", "ledger", "tokens")
_Item = tuple[Batch, concurrent.futures.Future[None]]


class Store:
    """One SQLite database file in WAL mode with a group-committing writer thread.

    ``Store(path, synchronous="NORMAL")`` opens (and creates) the database. Call :meth:`load`
    before :meth:`start`; :meth:`close` writes what is queued and stops the thread.

    Raises:
        StoreError: if the file cannot be opened as a database.
    """

    def __init__(self, path: str | Path, *, synchronous: _Sync = "NORMAL") -> None:
        self.path = Path(path)
        try:
            self._conn = sqlite3.connect(str(self.path), isolation_level=None,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open sandbox database {self.path}: {exc}") from None
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # guards _closed and the hand-off to the writer: no batch is queued behind the stop mark
        self._lock = threading.RLock()
        self._closed = False
        self._dead: BaseException | None = None  # why the writer thread stopped unexpectedly
        self.commits = 0  # transactions committed (for tests and benchmarks)
        self.batches = 0  # batches written
        self.rows_written = 0  # upserted and deleted rows (for tests and benchmarks)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    # --- reading -----------------------------------------------------------------------------
    def load(self) -> Snapshot:
        """Read the whole database.

        Call it before :meth:`start` (it uses the writer's connection).

        Raises:
            StoreError: if a row cannot be read or decoded.
        """
        try:
            def rows(table: str) -> list[bytes]:
                cur = self._conn.execute(f"SELECT data FROM {table} ORDER BY rowid")
                return [bytes(r[0]) for r in cur]

            snap = Snapshot(
                accounts=[msgspec.json.decode(d, type=Account) for d in rows("accounts")],
                orders=[msgspec.json.decode(d, type=Order) for d in rows("orders")],
                trades=[msgspec.json.decode(d, type=Trade) for d in rows("trades")],
                ledger=[msgspec.json.decode(d, type=LedgerEntry) for d in rows("ledger")],
                keys=[msgspec.json.decode(d, type=KeyRow) for d in rows("keys")],
                meta={name: msgspec.json.decode(data) for name, data in
                      self._conn.execute("SELECT name, data FROM meta")},
                tokens=[TokenRow(str(d), str(k), float(t)) for d, k, t in self._conn.execute(
                    "SELECT digest, key, issued FROM tokens ORDER BY rowid")],
            )
        except (sqlite3.Error, msgspec.DecodeError, msgspec.ValidationError,
                ValueError, TypeError) as exc:
            raise StoreError(f"cannot read sandbox database {self.path}: {exc}") from None
        return snap

    def count(self, table: str) -> int:
        """Rows in ``table`` (one of accounts, keys, orders, trades, ledger, tokens). Reads
        through a connection of its own, so it is safe while the writer runs.

        Raises:
            ValueError: for an unknown table.
            StoreError: if the database cannot be read.
        """
        if table not in _TABLES:
            raise ValueError(f"unknown table {table!r}")
        try:
            with contextlib.closing(sqlite3.connect(str(self.path))) as conn:
                return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read sandbox database {self.path}: {exc}") from None

    # --- writing -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread (idempotent; not after :meth:`close`)."""
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run,
                                                name="krakenwire-sandbox-store", daemon=True)
                self._thread.start()

    def submit(self, batch: Batch) -> concurrent.futures.Future[None]:
        """Queue ``batch``; the future completes once it is committed, or fails with
        :class:`StoreError` (write failed, writer died, store closed first). Batches commit in
        submission order. Thread-safe.

        Raises:
            StoreError: if the store is closed or its writer thread has died.
        """
        fut: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise StoreError("the sandbox store is closed")
            if self._dead is not None:
                raise StoreError("the sandbox store's writer has stopped") from None
            if self._thread is not None:
                self._queue.put((batch, fut))
                return fut
            # not started: write synchronously (under the lock: nothing else writes meanwhile)
            self._write([(batch, fut)])
        return fut

    def close(self, timeout: float | None = 30.0) -> bool:
        """Commit everything queued, stop the writer and close the database. Returns False
        (and leaves the database open to the still-running writer) if the writer did not finish
        within ``timeout`` seconds; batches queued then are failed, never left waiting.
        Idempotent; thread-safe (but do not call it from the writer's own callbacks)."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        finished = True
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            finished = not thread.is_alive()
        if not finished:
            log.error("the sandbox store's writer did not finish within %s s", timeout)
            return False
        self._fail_queued(StoreError("the sandbox store was closed before this write"))
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        return True

    def _fail_queued(self, error: StoreError) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                _settle(item[1], error)

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                stop = item is None
                items = [] if item is None else [item]
                while True:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                    else:
                        items.append(more)
                if items:
                    self._write(items)
                if stop:
                    return
        except BaseException as exc:  # never leave a submitter waiting on a dead writer
            with self._lock:
                self._dead = exc
            log.error("the sandbox store's writer stopped: %s", type(exc).__name__)
            self._fail_queued(StoreError("the sandbox store's writer has stopped"))

    def _write(self, items: list[_Item]) -> None:
        conn = self._conn
        written = 0
        try:
            conn.execute("BEGIN")
            for batch, _fut in items:
                written += self._apply(conn, batch)
            conn.execute("COMMIT")
        except BaseException as exc:  # sqlite errors, but also anything else: fail them all
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            error = StoreError(f"sandbox database write failed: {exc}"
                               if isinstance(exc, Exception)
                               else "the sandbox store's writer has stopped")
            for _batch, fut in items:
                _settle(fut, error)
            if not isinstance(exc, Exception):
                raise  # the writer stops (see _run)
            return
        self.commits += 1
        self.batches += len(items)
        self.rows_written += written
        for _batch, fut in items:
            _settle(fut, None)

    @staticmethod
    def _apply(conn: sqlite3.Connection, batch: Batch) -> int:
        written = 0
        if batch.tokens_cleared:
            conn.execute("DELETE FROM tokens")
            written += 1
        if batch.token_deletes:
            conn.executemany("DELETE FROM tokens WHERE digest = ?",
                             [(d,) for d in batch.token_deletes])
            written += len(batch.token_deletes)
        for account in batch.purged_order_accounts:
            conn.execute("DELETE FROM orders WHERE account_id = ?", (account,))
            written += 1
        by_table: dict[str, list[tuple[str, str, bytes]]] = {}
        for table, ident, account, data in batch.rows:
            by_table.setdefault(table, []).append((ident, account, data))
        for table, values in by_table.items():
            if table == "accounts":
                conn.executemany("INSERT OR REPLACE INTO accounts (id, data) VALUES (?, ?)",
                                 [(i, d) for i, _a, d in values])
            else:
                id_col = "key" if table == "keys" else "id"
                conn.executemany(f"INSERT OR REPLACE INTO {table} ({id_col}, account_id, data) "
                                 "VALUES (?, ?, ?)", values)
        written += len(batch.rows)
        if batch.tokens:
            conn.executemany("INSERT OR REPLACE INTO tokens (digest, key, issued) "
                             "VALUES (?, ?, ?)",
                             [(t.digest, t.key, t.issued) for t in batch.tokens])
            written += len(batch.tokens)
        if batch.meta:
            conn.executemany("INSERT OR REPLACE INTO meta (name, data) VALUES (?, ?)",
                             list(batch.meta.items()))
            written += len(batch.meta)
        return written


def _settle(fut: concurrent.futures.Future[None], error: BaseException | None) -> None:
    """Complete ``fut`` once (a cancelled or already completed future is left alone)."""
    try:
        if not fut.set_running_or_notify_cancel():
            return
    except RuntimeError:  # already running or done
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)
