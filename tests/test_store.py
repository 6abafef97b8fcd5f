"""The sandbox store: SQLite round trips, group commit, and the core's commit/reload cycle."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from krakenwire.sandbox.core import SandboxCore, Settings
from krakenwire.sandbox.model import (
    Account,
    LedgerEntry,
    Order,
    OrderEvent,
    OrderRequest,
    Trade,
)
from krakenwire.sandbox.store import Batch, KeyRow, Store, StoreError


def _order(i: int, status: str = "open") -> Order:
    return Order(id=f"O{i:05d}-AAAAA-BBBBBB", account_id="acct", pair="XXBTZUSD", side="buy",
                 ordertype="limit", volume=Decimal("1.25"), price=Decimal("30000.1"),
                 price2=None, status=status, opentm=1700000000.123456, seq=i,  # type: ignore
                 userref=i, cl_ord_id=f"c{i}", vol_exec=Decimal("0.00000001"))


def test_round_trip_is_exact(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = Store(db)
    batch = Batch()
    batch.add_accounts([Account("acct", {"ZUSD": Decimal("100000.1234")},
                                {"ZUSD": Decimal("1.5")}, 1.5, None)])
    batch.add_orders([_order(1), _order(2, "closed")])
    batch.add_trades([Trade("TAAAAA-BBBBB-CCCCCC", "O00001-AAAAA-BBBBBB", "acct", "XXBTZUSD",
                            "buy", "limit", Decimal("30000.1"), Decimal("0.5"),
                            Decimal("15000.05"), Decimal("39.0002"), "ZUSD", 1.25, True, 7)])
    batch.add_ledger([LedgerEntry("LAAAAA-BBBBB-CCCCCC", "TAAAAA-BBBBB-CCCCCC", "acct", 1.25,
                                  "trade", "ZUSD", Decimal("-15000.05"), Decimal("39.0002"),
                                  Decimal("84960.9498"))])
    batch.add_keys([KeyRow(key="k" * 56, secret="s" * 88, account_id="acct",
                           permissions=["trade"], tier="pro", nonce_window=3,
                           nonce=str(2**64 - 1), created=1.0)])
    batch.set_meta("counters", {"seq": 2})
    store.submit(batch).result()
    store.close()
    snap = Store(db).load()
    assert snap.accounts[0].balances == {"ZUSD": Decimal("100000.1234")}
    assert snap.accounts[0].holds == {"ZUSD": Decimal("1.5")}
    assert snap.orders == [_order(1), _order(2, "closed")]
    assert snap.trades[0].cost == Decimal("15000.05") and snap.trades[0].maker is True
    assert snap.ledger[0].balance == Decimal("84960.9498")
    assert int(snap.keys[0].nonce) == 2**64 - 1  # beyond SQLite's signed 64-bit integers
    assert "s" * 88 not in repr(snap.keys[0])
    assert snap.meta == {"counters": {"seq": 2}}


def test_later_batch_wins_and_closed_store_refuses(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.start()
    first, second = Batch(), Batch()
    first.add_orders([_order(1)])
    second.add_orders([_order(1, "canceled")])
    f1, f2 = store.submit(first), store.submit(second)
    f2.result(5)
    assert f1.done()  # commits are in submission order
    store.close()
    with pytest.raises(StoreError):
        store.submit(Batch())
    assert Store(tmp_path / "s.db").load().orders[0].status == "canceled"


def test_group_commit_batches_queued_writes(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = Store(db)
    store.start()
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # hold the write lock: the writer has to wait
    futures = []
    for i in range(100):
        batch = Batch()
        batch.add_orders([_order(i)])
        futures.append(store.submit(batch))
    blocker.execute("COMMIT")
    for fut in futures:
        fut.result(10)
    assert store.batches == 100
    assert store.commits <= 2  # one for what the writer had picked up, one for the rest
    store.close()
    assert Store(db).count("orders") == 100


def test_unreadable_database_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"bad\.db"):
        Store(bad).load()


async def test_core_commit_and_reload(tmp_path: Path) -> None:
    db = str(tmp_path / "core.db")
    settings = Settings(db_path=db, manual_clock=True, clock_start=1_700_000_000, market=False)
    core = SandboxCore.open(settings)
    assert core.demo_key is not None and core.demo_account is not None
    acct = core.create_account({"USD": "1000", "BTC": "1"})
    key = core.create_key(acct.id, tier="intermediate", nonce_window=7)
    key.nonce = 123  # as if a request had been accepted
    core.gate._dirty[key.key] = key
    order, events = await core.run(lambda: core.exchange.add_order(acct.id, OrderRequest(
        pair="XXBTZUSD", side="sell", ordertype="limit", volume=Decimal("0.5"),
        price=Decimal("70000"))))
    kinds = [e.exec_type for e in events if isinstance(e, OrderEvent)]
    assert kinds[:2] == ["pending_new", "new"]
    await core.stop()

    again = SandboxCore.open(settings)
    try:
        assert again.demo_key is not None and again.demo_key.key == core.demo_key.key
        reloaded = again.gate.key(key.key)
        assert reloaded is not None and reloaded.nonce == 123 and reloaded.nonce_floor == 123
        assert reloaded.tier == "intermediate" and reloaded.nonce_window == 7
        assert reloaded.secret == key.secret
        kept = again.exchange.order(acct.id, order.id)
        assert kept is not None and kept.is_open and kept.volume == Decimal("0.5")
        assert again.exchange.account(acct.id).holds == {"XXBT": Decimal("0.5")}
    finally:
        await again.stop()


async def test_listeners_get_their_account_events(tmp_path: Path) -> None:
    core = SandboxCore.open(Settings(db_path=str(tmp_path / "l.db"), manual_clock=True,
                                     market=False))
    try:
        a = core.create_account({"USD": "1000"})
        b = core.create_account({"USD": "1000"})
        mine, everyone, other = core.listen(a.id), core.listen(None), core.listen(b.id)
        _order, events = await core.run(lambda: core.exchange.add_order(a.id, OrderRequest(
            pair="XXBTZUSD", side="buy", ordertype="limit", volume=Decimal("0.01"),
            price=Decimal("1000"))))
        core.publish(events)
        assert mine.qsize() == len(events) == everyone.qsize() > 0
        assert other.empty()
        core.unlisten(mine)
        core.unlisten(mine)  # twice is fine
        core.publish(events)
        assert mine.qsize() == len(events)
    finally:
        await core.stop()
