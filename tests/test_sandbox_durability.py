"""Hardening of the sandbox core: nothing waits forever, nothing accepted is lost.

* the store's writer hand-off: every submitted future completes (committed, failed, writer
  dead, store closed), even when ``close`` races with submitters;
* the core: a failed write is retried as the state is now; a slow write times out instead of
  hanging; a cancelled caller's events still reach the feeds once durable;
* the simulated market: its ladder and internal matches are not persisted (an idle sandbox
  writes nothing), while every user-visible fact is, with conservation intact after a crash;
* WebSocket tokens survive a restart within their first-use window, stored as digests only;
* the server: a client that disconnects mid-request, a stalled body, and a shutdown while
  commits are pending.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from helpers import WAIT, bounded, http_session
from krakenwire.nonce import NonceSource
from krakenwire.protocol.rest import build_private
from krakenwire.sandbox import MarketSettings, Sandbox, SandboxThread
from krakenwire.sandbox.core import SandboxCore, Settings
from krakenwire.sandbox.exchange import FEE_ACCOUNT
from krakenwire.sandbox.gate import GateError, token_digest
from krakenwire.sandbox.market import MAKER_ACCOUNT, TAKER_ACCOUNT
from krakenwire.sandbox.model import OrderEvent, OrderRequest
from krakenwire.sandbox.store import Batch, Store, StoreError

pytestmark = pytest.mark.timeout(60)

T0 = 1_700_000_000.0


def _settings(db: Path, **kw: Any) -> Settings:
    kw.setdefault("manual_clock", True)
    kw.setdefault("clock_start", T0)
    return Settings(db_path=str(db), **kw)


def _totals(accounts: Any) -> Counter[str]:
    out: Counter[str] = Counter()
    for a in accounts:
        for asset, amount in a.balances.items():
            out[asset] += amount
    return out


@pytest.fixture
def blocker(tmp_path: Path) -> Iterator[Any]:
    """Opens a second connection that can hold the database's write lock (a real fault: the
    writer has to wait for it, up to SQLite's busy timeout)."""
    conns: list[sqlite3.Connection] = []

    def hold(db: Path | str) -> sqlite3.Connection:
        conn = sqlite3.connect(str(db), isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        conns.append(conn)
        return conn

    yield hold
    for conn in conns:
        if conn.in_transaction:
            conn.execute("COMMIT")
        conn.close()


# --- the store's writer hand-off ----------------------------------------------------------------
def test_close_racing_submitters_leaves_no_future_pending(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.start()
    futures: list[Any] = []
    refused = threading.Event()
    go = threading.Barrier(5, timeout=WAIT)

    def submitter(n: int) -> None:
        go.wait()
        for i in range(400):
            batch = Batch()
            batch.set_meta(f"t{n}-{i}", i)
            try:
                futures.append(store.submit(batch))
            except StoreError:
                refused.set()
                return

    threads = [threading.Thread(target=submitter, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    go.wait()
    assert store.close(timeout=10)
    for t in threads:
        t.join(10)
    assert refused.is_set() or len(futures) == 1600
    outcomes = Counter()
    for fut in futures:
        exc = fut.exception(timeout=5)  # every future completes; none is left waiting
        outcomes["ok" if exc is None else type(exc).__name__] += 1
    assert set(outcomes) <= {"ok", "StoreError"}
    assert outcomes["ok"] == store.batches  # what was acknowledged was written


class _Stop(BaseException):
    """Something that kills a thread (not an ordinary exception)."""


def test_a_dead_writer_fails_its_futures_and_refuses_more(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "s.db")
    store.start()

    def boom(conn: sqlite3.Connection, batch: Batch) -> int:
        raise _Stop()

    monkeypatch.setattr(Store, "_apply", staticmethod(boom))
    batch = Batch()
    batch.set_meta("x", 1)
    with pytest.raises(StoreError, match="writer has stopped"):
        store.submit(batch).result(5)
    with pytest.raises(StoreError):
        store.submit(batch)  # refused at once, never queued behind a dead writer
    assert store.close(timeout=5)


def test_tokens_are_stored_as_digests_and_deleted(tmp_path: Path) -> None:
    from krakenwire.sandbox.store import TokenRow

    store = Store(tmp_path / "s.db")
    first = Batch()
    first.add_tokens([TokenRow("d1", "k", 1.0), TokenRow("d2", "k", 2.0)])
    store.submit(first).result()
    second = Batch()
    second.delete_tokens(["d1"])
    second.add_tokens([TokenRow("d3", "k", 3.0)])
    store.submit(second).result()
    assert [t.digest for t in store.load().tokens] == ["d2", "d3"]
    third = Batch()
    third.add_tokens([TokenRow("d0", "k", 1.0)])
    third.clear_tokens()  # the clear wins over what came before it in the batch ...
    third.add_tokens([TokenRow("d4", "k", 4.0)])  # ... but not over what comes after
    store.submit(third).result()
    assert [t.digest for t in store.load().tokens] == ["d4"]
    store.close()


# --- the core's commits ---------------------------------------------------------------------------
async def test_failed_write_is_retried_with_the_state_as_it_is_now(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    core = SandboxCore.open(_settings(db, market=False))
    acct = core.create_account({"USD": "1000"})
    await core.commit()
    core.store._conn.execute("PRAGMA query_only=1")  # a real SQLite fault: writes now fail
    order_req = OrderRequest(pair="XXBTZUSD", side="buy", ordertype="limit",
                             volume=Decimal("0.01"), price=Decimal("20000"))
    with pytest.raises(StoreError, match="readonly"):
        await core.run(lambda: core.exchange.add_order(acct.id, order_req))
    order = core.exchange.open_orders(acct.id)[0]  # accepted in memory, not acknowledged
    core.store._conn.execute("PRAGMA query_only=0")
    core.exchange.cancel_order(acct.id, order.id)  # the state moves on meanwhile
    await core.commit()  # the failed rows go again, as they are now
    core.store.close()  # a crash: no final commit

    again = SandboxCore.open(_settings(db, market=False))
    try:
        kept = again.exchange.order(acct.id, order.id)
        assert kept is not None and kept.status == "canceled"
        assert again.exchange.account(acct.id).holds == {"ZUSD": Decimal(0)} or \
            not any(again.exchange.account(acct.id).holds.values())
    finally:
        await again.stop()


async def test_a_stalled_write_times_out_instead_of_hanging(tmp_path: Path,
                                                           blocker: Any) -> None:
    db = tmp_path / "c.db"
    core = SandboxCore.open(_settings(db, market=False, commit_timeout=0.2))
    try:
        acct = core.create_account({"USD": "10"})
        lock = blocker(db)
        with pytest.raises(StoreError, match="did not commit within"):
            await core.commit()
        lock.execute("COMMIT")
        await core.commit()  # the write went through once the lock was released
        assert core.store.count("accounts") >= 2
        assert acct.id in {a.id for a in Store(db).load().accounts}
    finally:
        await core.stop()


async def test_a_cancelled_caller_still_publishes_once_durable(tmp_path: Path,
                                                              blocker: Any) -> None:
    db = tmp_path / "c.db"
    core = SandboxCore.open(_settings(db, market=False))
    try:
        acct = core.create_account({"USD": "1000"})
        await core.commit()
        feed = core.listen(acct.id)
        lock = blocker(db)
        task = asyncio.ensure_future(core.run(lambda: core.exchange.add_order(
            acct.id, OrderRequest(pair="XXBTZUSD", side="buy", ordertype="limit",
                                  volume=Decimal("0.01"), price=Decimal("20000")))))
        with pytest.raises(TimeoutError):  # the commit waits for the lock
            await asyncio.wait_for(asyncio.shield(task), 0.3)
        task.cancel()  # e.g. the server cancels the handler at shutdown
        with pytest.raises(asyncio.CancelledError):
            await task
        assert feed.empty()  # not durable yet: not published yet
        lock.execute("COMMIT")
        await core.commit()
        kinds = [feed.get_nowait().exec_type for _ in range(feed.qsize())]
        assert kinds[:2] == ["pending_new", "new"]
        assert core.store.count("orders") == 1
    finally:
        await core.stop()


# --- the simulated market is ephemeral ------------------------------------------------------
@pytest.mark.parametrize("snapshot_every", [0.0, 30.0])
async def test_idle_ticks_write_almost_nothing(tmp_path: Path, snapshot_every: float) -> None:
    db = tmp_path / "m.db"
    core = SandboxCore.open(_settings(db, market_snapshot_interval=snapshot_every))
    try:
        market = core.exchange.market
        assert market is not None
        start_rows, start_commits = core.store.rows_written, core.store.commits
        mids = dict(market.mid)
        for _ in range(240):  # a minute of ticks at 4 Hz
            await core.advance(0.25)
        assert market.mid != mids  # the market did move ...
        assert core.exchange.recent_trades("XXBTZUSD")  # ... and trade
        snapshots = 2 if snapshot_every else 0  # ... and wrote nothing but its snapshots:
        assert core.store.commits - start_commits == snapshots
        assert core.store.rows_written - start_rows == 4 * snapshots  # 3 accounts, 1 meta
        assert core.store.count("orders") == 0 and core.store.count("trades") == 0
    finally:
        await core.stop()


async def test_user_fills_are_durable_and_conserved_after_a_crash(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    core = SandboxCore.open(_settings(db))
    user = core.create_account({"USD": "100000"})
    await core.commit()
    totals = _totals(core.exchange.accounts())
    for _ in range(20):
        await core.advance(0.25)
    order, events = await core.run(lambda: core.exchange.add_order(user.id, OrderRequest(
        pair="XXBTZUSD", side="buy", ordertype="market", volume=Decimal("0.5"))))
    fills = [e.trade for e in events if isinstance(e, OrderEvent) and e.trade is not None]
    assert order.status == "closed" and fills
    for _ in range(40):  # the market trades on with itself (not persisted)
        await core.advance(0.25)
    user_balances = dict(core.exchange.account(user.id).balances)
    core.store.close()  # kill -9: no final commit, no market snapshot

    snap = Store(db).load()
    assert not [o for o in snap.orders if o.account_id == MAKER_ACCOUNT]
    by_match = {t.trade_id: t for t in snap.trades if t.account_id == MAKER_ACCOUNT}
    for fill in fills:  # the user's fills and their counter-sides
        assert fill.id in {t.id for t in snap.trades}
        assert by_match[fill.trade_id].side == "sell"
    assert {t.account_id for t in snap.trades} == {user.id, MAKER_ACCOUNT}
    assert _totals(snap.accounts) == totals  # nothing created or destroyed on disk
    again = SandboxCore.open(_settings(db))
    try:
        assert again.exchange.account(user.id).balances == user_balances
        assert _totals(again.exchange.accounts()) == totals
        bid, ask = again.exchange.best_bid_ask("XXBTZUSD")  # the ladder is rebuilt
        assert bid is not None and ask is not None and bid < ask
        assert {FEE_ACCOUNT, MAKER_ACCOUNT, TAKER_ACCOUNT} <= {
            a.id for a in again.exchange.accounts()}
    finally:
        await again.stop()


def test_a_match_between_users_persists_the_fee_snapshot() -> None:
    from krakenwire.clock import ManualClock
    from krakenwire.sandbox.exchange import Exchange

    # a market with no ladder and no noise trader: users can only trade with each other
    ex = Exchange(ManualClock(T0), market_settings=MarketSettings(levels=0, trades_per_s=0))
    for name in ("a", "b"):
        ex.create_account({"ZUSD": Decimal(100_000), "XXBT": Decimal(1)}, name)
    image = {a.id: a for a in ex.drain_changes().accounts.values()}
    start = _totals(image.values())
    ex.add_order("a", OrderRequest(pair="XXBTZUSD", side="sell", ordertype="limit",
                                   volume=Decimal("0.5"), price=Decimal("30000")))
    ex.add_order("b", OrderRequest(pair="XXBTZUSD", side="buy", ordertype="market",
                                   volume=Decimal("0.5")))
    changes = ex.drain_changes()
    assert len(changes.trades) == 2 and FEE_ACCOUNT in changes.accounts
    image.update(changes.accounts)
    assert _totals(image.values()) == start  # the fees the users paid are on disk too


async def test_clean_stop_keeps_the_market_where_it_was(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    core = SandboxCore.open(_settings(db))
    for _ in range(40):
        await core.advance(0.25)
    market = core.exchange.market
    assert market is not None
    mids = dict(market.mid)
    last = core.exchange.last_price("XXBTZUSD")
    totals = _totals(core.exchange.accounts())
    await core.stop()
    again = SandboxCore.open(_settings(db))
    try:
        assert again.exchange.market is not None and again.exchange.market.mid == mids
        assert again.exchange.last_price("XXBTZUSD") == last
        assert _totals(again.exchange.accounts()) == totals
    finally:
        await again.stop()


async def test_old_ladder_rows_are_purged_on_start(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    core = SandboxCore.open(_settings(db))
    ladder = core.exchange.open_orders(MAKER_ACCOUNT)
    assert ladder
    batch = Batch()
    batch.add_orders(ladder)  # what an older version persisted
    await bounded(asyncio.wrap_future(core.store.submit(batch)))
    await core.stop()
    assert Store(db).count("orders") == len(ladder)
    again = SandboxCore.open(_settings(db))
    try:
        assert again.store.count("orders") == 0
        assert again.exchange.open_orders(MAKER_ACCOUNT)  # rebuilt, not loaded
    finally:
        await again.stop()


async def test_market_settings_reach_the_exchange() -> None:
    calm = MarketSettings(volatility_bps=0.0, trades_per_s=0.0)
    async with Sandbox(manual_clock=True, market_settings=calm) as sb:
        market = sb.core.exchange.market
        assert market is not None and market.settings is calm
        mids = dict(market.mid)
        for _ in range(20):
            await sb.advance(1)
        assert market.mid == mids and not sb.core.exchange.recent_trades("XXBTZUSD")
    with SandboxThread(manual_clock=True, market_settings=calm) as sbt:
        assert sbt.sandbox.core.exchange.market is not None
        assert sbt.sandbox.core.exchange.market.settings is calm


# --- tokens --------------------------------------------------------------------------------------
async def test_tokens_survive_a_restart_within_their_first_use_window(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    async with Sandbox(settings=_settings(db)) as sb:
        creds = sb.credentials
        request = build_private(sb.rest_url, "GetWebSocketsToken", {}, api_key=creds.api_key,
                                signer=creds.signer, nonce=NonceSource().next())
        async with http_session() as http, http.post(
                request.url, data=request.body, headers=request.headers) as reply:
            token = (await reply.json())["result"]["token"]
        revoked, _ = sb.core.gate.issue_token(sb.core.gate.key(creds.api_key))  # type: ignore
        await sb.commit()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert token.encode() not in raw and token_digest(token).encode() in raw

    async with Sandbox(settings=_settings(db, clock_start=T0 + 600)) as sb:
        assert sb.core.gate.check_token(token).key == creds.api_key  # still in its window
        sb.core.gate.invalidate_tokens()
        await sb.commit()
    async with Sandbox(settings=_settings(db, clock_start=T0 + 600)) as sb:
        with pytest.raises(GateError, match="ESession:Invalid session"):
            sb.core.gate.check_token(revoked)  # invalidation is durable too


async def test_expired_tokens_are_refused_and_deleted_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    async with Sandbox(settings=_settings(db)) as sb:
        key = sb.core.gate.key(sb.credentials.api_key)
        assert key is not None
        token, expires = sb.core.gate.issue_token(key)
        await sb.commit()
    async with Sandbox(settings=_settings(db, clock_start=T0 + expires)) as sb:
        with pytest.raises(GateError, match="ESession:Invalid session"):
            sb.core.gate.check_token(token)
        assert sb.core.store.count("tokens") == 0


# --- the server ----------------------------------------------------------------------------------
def _add_order(sb: Sandbox, nonce: int, **params: str) -> Any:
    creds = sb.credentials
    return build_private(sb.rest_url, "AddOrder", {
        "pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "0.01",
        "price": "20000", **params}, api_key=creds.api_key, signer=creds.signer, nonce=nonce)


async def test_client_gone_mid_request_the_order_stands_and_is_published(
        tmp_path: Path, blocker: Any) -> None:
    db = tmp_path / "s.db"
    async with Sandbox(settings=_settings(db)) as sb, http_session() as http:
        feed = sb.core.listen(sb.demo_account)
        nonces = NonceSource()
        lock = blocker(db)
        request = _add_order(sb, nonces.next(), userref="77")
        with pytest.raises(TimeoutError):  # the client gives up and closes its connection
            async with http.post(request.url, data=request.body, headers=request.headers,
                                 timeout=aiohttp.ClientTimeout(total=0.3)):
                pass
        lock.execute("COMMIT")
        event = await asyncio.wait_for(feed.get(), 10)
        assert isinstance(event, OrderEvent) and event.order.userref == 77
        await sb.commit()
        assert [o.userref for o in Store(db).load().orders] == [77]
        again = _add_order(sb, nonces.next(), userref="78")  # and the server serves on
        async with http.post(again.url, data=again.body, headers=again.headers) as reply:
            assert "txid" in (await reply.json())["result"]


async def test_a_stalled_body_gets_408_not_a_stuck_handler() -> None:
    settings = Settings(manual_clock=True, read_timeout=0.2)
    async with Sandbox(settings=settings) as sb:
        reader, writer = await asyncio.open_connection("127.0.0.1", sb.port)
        writer.write(b"POST /0/private/Balance HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 100\r\n\r\nnonce=1")
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
        assert status.split()[1] == b"408"
        writer.close()
        await writer.wait_closed()
        stopping = asyncio.ensure_future(sb.stop())
        await asyncio.wait_for(stopping, 5)  # nothing holds the shutdown


async def test_shutdown_with_a_commit_pending_acknowledges_and_keeps_it(
        tmp_path: Path, blocker: Any) -> None:
    db = tmp_path / "s.db"
    sb = Sandbox(settings=_settings(db))
    await sb.start()
    async with http_session() as http:
        lock = blocker(db)
        request = _add_order(sb, NonceSource().next(), userref="5")

        async def place() -> Any:
            async with http.post(request.url, data=request.body,
                                 headers=request.headers) as reply:
                return await reply.json()

        placing = asyncio.ensure_future(place())
        with pytest.raises(TimeoutError):  # waiting for its commit
            await asyncio.wait_for(asyncio.shield(placing), 0.3)
        stopping = asyncio.ensure_future(sb.stop())
        with pytest.raises(TimeoutError):  # the shutdown waits for the request
            await asyncio.wait_for(asyncio.shield(stopping), 0.3)
        lock.execute("COMMIT")
        ack = await asyncio.wait_for(placing, 10)
        await asyncio.wait_for(stopping, 10)
    txid = ack["result"]["txid"][0]
    assert [o.id for o in Store(db).load().orders] == [txid]


async def test_shutdown_never_hangs_on_a_stuck_writer(tmp_path: Path, blocker: Any) -> None:
    db = tmp_path / "s.db"
    sb = Sandbox(settings=_settings(db, shutdown_timeout=0.3))
    await sb.start()
    sb.create_account({"USD": "1"})  # something left to write at stop
    lock = blocker(db)
    await asyncio.wait_for(sb.stop(), 5)  # returns although the last write cannot happen yet
    lock.execute("COMMIT")
