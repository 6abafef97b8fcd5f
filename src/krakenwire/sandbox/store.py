"""SQLite persistence for the sandbox (WAL, group commit). The thin I/O shell of the exchange.

Tables hold accounts, API keys (with their nonce high-water marks), orders, trades, ledger
entries and a small ``meta`` table (exchange counters). Rows are JSON documents of the model
dataclasses (msgspec; Decimals as exact strings), keyed by id.

Writes go through one writer thread: :meth:`Store.submit` queues a :class:`Batch` and returns a
:class:`concurrent.futures.Future` that completes once the batch is committed. The writer takes
every batch queued so far and commits them in ONE transaction (group commit), so durability
costs one commit per burst, not one per request. With ``synchronous=NORMAL`` (the default) a
committed transaction survives the process being killed (``kill -9``); ``FULL`` also survives
power loss.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from krakenwire.sandbox.model import Account, LedgerEntry, Order, Trade

__all__ = ["Batch", "KeyRow", "Snapshot", "Store", "StoreError"]

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


@dataclass(slots=True)
class Batch:
    """Encoded rows to write in one transaction: ``(table, id, account_id, data)`` upserts
    plus ``meta`` entries. Build it with :meth:`add_*` on the event-loop thread (encoding
    copies the state, so later changes to the objects do not leak into it)."""

    rows: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    meta: dict[str, bytes] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.rows or self.meta)

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


@dataclass(slots=True)
class Snapshot:
    """Everything in the database, in insertion order."""

    accounts: list[Account]
    orders: list[Order]
    trades: list[Trade]
    ledger: list[LedgerEntry]
    keys: list[KeyRow]
    meta: dict[str, Any]

    @property
    def empty(self) -> bool:
        """True when the database holds no account and no key."""
        return not self.accounts and not self.keys


_Sync = Literal["OFF", "NORMAL", "FULL"]
_TABLES: Final = ("accounts", "keys", "orders", "trades", "ledger")


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
        self._queue: queue.SimpleQueue[
            tuple[Batch, concurrent.futures.Future[None]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.commits = 0  # transactions committed (for tests and benchmarks)
        self.batches = 0  # batches written

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # --- reading -----------------------------------------------------------------------------
    def load(self) -> Snapshot:
        """Read the whole database.

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
            )
        except (sqlite3.Error, msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise StoreError(f"cannot read sandbox database {self.path}: {exc}") from None
        return snap

    def count(self, table: str) -> int:
        """Rows in ``table`` (one of accounts, keys, orders, trades, ledger)."""
        if table not in _TABLES:
            raise ValueError(f"unknown table {table!r}")
        return int(self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    # --- writing -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="krakenwire-sandbox-store",
                                            daemon=True)
            self._thread.start()

    def submit(self, batch: Batch) -> concurrent.futures.Future[None]:
        """Queue ``batch``; the future completes once it is committed (or fails with
        :class:`StoreError`). Batches commit in submission order.

        Raises:
            StoreError: if the store is closed.
        """
        if self._closed:
            raise StoreError("the sandbox store is closed")
        fut: concurrent.futures.Future[None] = concurrent.futures.Future()
        if self._thread is None:  # not started: write synchronously
            self._write([(batch, fut)])
        else:
            self._queue.put((batch, fut))
        return fut

    def close(self) -> None:
        """Commit everything queued, stop the writer and close the database."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self._conn.close()

    def _run(self) -> None:
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

    def _write(self, items: list[tuple[Batch, concurrent.futures.Future[None]]]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN")
            for batch, _fut in items:
                by_table: dict[str, list[tuple[str, str, bytes]]] = {}
                for table, ident, account, data in batch.rows:
                    by_table.setdefault(table, []).append((ident, account, data))
                for table, values in by_table.items():
                    if table == "accounts":
                        conn.executemany(
                            "INSERT OR REPLACE INTO accounts (id, data) VALUES (?, ?)",
                            [(i, d) for i, _a, d in values])
                    else:
                        id_col = "key" if table == "keys" else "id"
                        conn.executemany(
                            f"INSERT OR REPLACE INTO {table} ({id_col}, account_id, data) "
                            "VALUES (?, ?, ?)", values)
                if batch.meta:
                    conn.executemany("INSERT OR REPLACE INTO meta (name, data) VALUES (?, ?)",
                                     list(batch.meta.items()))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            error = StoreError(f"sandbox database write failed: {exc}")
            for _batch, fut in items:
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(error)
            return
        self.commits += 1
        self.batches += len(items)
        for _batch, fut in items:
            if fut.set_running_or_notify_cancel():
                fut.set_result(None)
