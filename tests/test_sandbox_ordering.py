"""Event order and bookkeeping of the sandbox's trading paths.

* A market tick that comes due while an order placed over REST, WS v1 or WS v2 is being
  committed must not publish its events (here: the order's GTD expiry) before the order's own
  ``pending_new`` / ``new``: every transport runs its exchange operations inside
  ``SandboxCore.shared()`` (REST, WS v1) or ``exclusive()`` (WS v2). The tick is forced into
  that window deterministically: the exchange's ``add_order`` starts it, and the operation's
  commit waits until it has started.
* The exchange's per-(account, pair) open-order count (the open-order caps) stays exact.
* WS v1 ``ownTrades``: the snapshot consolidates a taker's fills as the live frames do, so a
  client sees the same trade list after reconnecting.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from helpers import SignedRest, bounded, http_session, until_true, ws_open
from krakenwire.clock import ManualClock
from krakenwire.sandbox import Sandbox, Settings
from krakenwire.sandbox.exchange import Exchange
from krakenwire.sandbox.model import OrderEvent, OrderRequest

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    async with Sandbox(settings=Settings(manual_clock=True, market=False, seed=5)) as sandbox:
        yield sandbox


def _tick_during_commit(sb: Sandbox) -> list[asyncio.Task[float]]:
    """Make the next placed order start a tick 5 s later, and hold that order's commit until
    the tick has started (so that, unguarded, the tick executes and commits meanwhile)."""
    core = sb.core
    real_add = core.exchange.add_order
    real_commit = core.commit
    started = asyncio.Event()
    ticks: list[asyncio.Task[float]] = []

    async def advance() -> float:
        started.set()
        return await core.advance(5)

    def add_then_tick(account_id: str, req: OrderRequest) -> Any:
        order = real_add(account_id, req)
        if not req.validate and not ticks:
            ticks.append(asyncio.get_running_loop().create_task(advance()))
        return order

    held = False

    async def commit(*, full: bool = False) -> None:
        nonlocal held
        if ticks and not held:  # the operation's own commit, right after the order
            held = True
            await started.wait()
        await real_commit(full=full)

    core.exchange.add_order = add_then_tick  # type: ignore[method-assign]
    core.commit = commit  # type: ignore[method-assign]
    return ticks


async def _rest_gtd(sb: Sandbox) -> None:
    async with http_session() as http:
        result = await SignedRest(http, sb).ok("AddOrder", {
            "pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "30000",
            "volume": "0.01", "timeinforce": "GTD", "expiretm": "+1"})
        assert len(result["txid"]) == 1


async def _v1_gtd(sb: Sandbox) -> None:
    async with http_session() as http:
        token = await SignedRest(http, sb).token()
    async with ws_open(sb.ws_auth_v1_url) as ws:
        await bounded(ws.recv())  # systemStatus
        await ws.send(json.dumps({
            "event": "addOrder", "token": token, "pair": "XBT/USD", "type": "buy",
            "ordertype": "limit", "price": "30000", "volume": "0.01", "timeinforce": "GTD",
            "expiretm": "+1"}))
        while True:
            msg = json.loads(await bounded(ws.recv()))
            if isinstance(msg, dict) and msg.get("event") == "addOrderStatus":
                assert msg["status"] == "ok", msg
                return


async def _v2_gtd(sb: Sandbox) -> None:
    async with http_session() as http:
        token = await SignedRest(http, sb).token()
    expire = sb.clock.now() + 1
    stamp = datetime.fromtimestamp(expire, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    async with ws_open(sb.ws_auth_v2_url) as ws:
        await bounded(ws.recv())  # status
        await ws.send(json.dumps({"method": "add_order", "req_id": 7, "params": {
            "order_type": "limit", "side": "buy", "symbol": "BTC/USD", "limit_price": 30000,
            "order_qty": 0.01, "time_in_force": "gtd", "expire_time": stamp,
            "token": token}}))
        while True:
            msg = json.loads(await bounded(ws.recv()))
            if msg.get("method") == "add_order":
                assert msg["success"] is True, msg
                return


@pytest.mark.parametrize("place", [_rest_gtd, _v1_gtd, _v2_gtd], ids=["rest", "v1", "v2"])
async def test_a_tick_never_publishes_between_an_order_and_its_events(
        sb: Sandbox, place: Callable[[Sandbox], Awaitable[None]]) -> None:
    listener = sb.core.listen(sb.demo_account)
    try:
        ticks = _tick_during_commit(sb)
        await place(sb)
        assert len(ticks) == 1
        await bounded(ticks[0])
        kinds: list[str] = []
        while "expired" not in kinds:
            event = await bounded(listener.get())
            if isinstance(event, OrderEvent):
                kinds.append(event.exec_type)
        assert kinds == ["pending_new", "new", "expired"]
    finally:
        sb.core.unlisten(listener)


# --------------------------------------------------------------------------------------------
# the open-order count
# --------------------------------------------------------------------------------------------


def _scan(ex: Exchange, account: str, pair: str) -> int:
    return sum(1 for o in ex.open_orders(account) if o.pair == pair)


def test_open_count_follows_add_fill_cancel_expire_edit_and_load() -> None:
    clock = ManualClock(1_700_000_000.0)
    ex = Exchange(clock, market=False)
    for name in ("a", "b"):
        ex.create_account({"ZUSD": Decimal(100_000), "XXBT": Decimal(10), "XETH": Decimal(50)},
                          name)
    pairs = ("XXBTZUSD", "XETHZUSD")

    def check() -> None:
        for account in ("a", "b"):
            for pair in pairs:
                assert ex.open_count(account, pair) == _scan(ex, account, pair), (account, pair)

    def limit(account: str, side: str, price: str, volume: str = "0.1",
              pair: str = "XXBTZUSD", **kw: Any) -> str:
        order = ex.add_order(account, OrderRequest(pair=pair, side=side,  # type: ignore[arg-type]
                                                   ordertype="limit", volume=Decimal(volume),
                                                   price=Decimal(price), **kw))
        check()
        return order.id

    first = limit("a", "buy", "30000")
    limit("a", "buy", "30001")
    limit("a", "buy", "2000", "1", pair="XETHZUSD")
    limit("a", "buy", "30002", validate=True)  # validate only: not counted
    assert ex.open_count("a", "XXBTZUSD") == 2
    limit("b", "sell", "30000", "0.15")  # fills one of a's and part of the other
    assert ex.open_count("a", "XXBTZUSD") == 1 and ex.open_count("b", "XXBTZUSD") == 0
    new, _old = ex.edit_order("a", first, price=Decimal("29000"))
    check()
    assert ex.open_count("a", "XXBTZUSD") == 1
    ex.cancel_order("a", new.id)
    check()
    assert ex.open_count("a", "XXBTZUSD") == 0
    limit("a", "buy", "25000", timeinforce="GTD", expiretm=clock.now() + 1)
    clock.advance(2)
    ex.tick()
    check()
    limit("b", "sell", "40000")
    ex.cancel_all("a")
    check()
    assert ex.open_count("b", "XXBTZUSD") == 1 and ex.open_count("a", "XETHZUSD") == 0
    # a restart rebuilds the count from the stored orders
    limit("a", "buy", "20000")
    changes = ex.drain_changes(full=True)
    orders = [o for a in ("a", "b") for o in ex.open_orders(a) + ex.closed_orders(a)]
    again = Exchange(clock, market=False)
    again.load(list(ex.accounts()), orders, [t for a in ("a", "b") for t in ex.trades(a)],
               [e for a in ("a", "b") for e in ex.ledger(a)], changes.counters)
    for account in ("a", "b"):
        for pair in pairs:
            assert again.open_count(account, pair) == _scan(ex, account, pair) == _scan(
                again, account, pair)
    assert again.open_count("a", "XXBTZUSD") == 1


# --------------------------------------------------------------------------------------------
# WS v1 ownTrades: snapshot and live frames agree
# --------------------------------------------------------------------------------------------


async def _own_trades(ws: Any, token: str, **options: Any) -> list[tuple[str, dict[str, Any]]]:
    """Subscribe to ownTrades on ``ws``; return the snapshot's entries (newest first)."""
    await ws.send(json.dumps({"event": "subscribe", "subscription": {
        "name": "ownTrades", "token": token, **options}}))
    while True:
        msg = json.loads(await bounded(ws.recv()))
        if isinstance(msg, list) and msg[1] == "ownTrades":
            return [next(iter(e.items())) for e in msg[0]]


async def _live_trades(ws: Any, volume: Decimal) -> list[tuple[str, dict[str, Any]]]:
    """Live ownTrades entries (oldest first) until their volumes add up to ``volume``."""
    got: list[tuple[str, dict[str, Any]]] = []
    while sum((Decimal(e["vol"]) for _, e in got), Decimal(0)) < volume:
        msg = json.loads(await bounded(ws.recv()))
        if isinstance(msg, list) and msg[1] == "ownTrades":
            got += [next(iter(e.items())) for e in msg[0]]
    return got


def _without_cl_ord_id(entries: list[tuple[str, dict[str, Any]]]
                       ) -> list[tuple[str, dict[str, Any]]]:
    return [(tid, {k: v for k, v in e.items() if k != "cl_ord_id"}) for tid, e in entries]


async def test_own_trades_snapshot_consolidates_like_the_live_frames(sb: Sandbox) -> None:
    core, ex = sb.core, sb.core.exchange
    seller = sb.create_account({"XXBT": Decimal(10)})
    asks = [ex.add_order(seller, OrderRequest(pair="XXBTZUSD", side="sell", ordertype="limit",
                                              volume=Decimal("0.1"), price=Decimal(p)))
            for p in ("30000", "30010", "30020", "30030")]
    core.publish(ex.drain_events())
    await core.commit()
    assert all(o.status == "open" for o in asks)
    async with http_session() as http:
        rest = SignedRest(http, sb)
        token = await rest.token()
        async with ws_open(sb.ws_auth_v1_url) as live:
            await bounded(live.recv())  # systemStatus
            assert await _own_trades(live, token) == []
            # one pass over two levels, then (amended, at the same instant) one more pass
            txid = (await rest.ok("AddOrder", {
                "pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "30010",
                "volume": "0.25", "cl_ord_id": "sweeper"}))["txid"][0]
            await rest.ok("AmendOrder", {"txid": txid, "limit_price": "30020"})
            seen = await _live_trades(live, Decimal("0.25"))
        assert [Decimal(e["vol"]) for _, e in seen] == [Decimal("0.2"), Decimal("0.05")]
        assert all(e["ordertxid"] == txid for _, e in seen)
        assert len(ex.trades(sb.demo_account)) == 3  # three fills, shown as two entries
        async with ws_open(sb.ws_auth_v1_url) as again:
            await bounded(again.recv())
            snapshot = await _own_trades(again, token)
            assert _without_cl_ord_id(snapshot[::-1]) == _without_cl_ord_id(seen)
        async with ws_open(sb.ws_auth_v1_url) as each:
            await bounded(each.recv())
            fills = await _own_trades(each, token, consolidate_taker=False)
            assert [Decimal(e["vol"]) for _, e in fills[::-1]] == [
                Decimal("0.1"), Decimal("0.1"), Decimal("0.05")]
            assert fills[-1][0] == seen[0][0]  # a merged entry keeps its first fill's id


# --------------------------------------------------------------------------------------------
# the operation gate (shared: REST / v1 trading; exclusive: ticks, v2 trading)
# --------------------------------------------------------------------------------------------


async def test_gate_shares_among_operations_and_excludes_ticks_first_come_first_served(
        ) -> None:
    from krakenwire.sandbox.core import OperationGate

    gate = OperationGate()
    log: list[str] = []
    release = {name: asyncio.Event() for name in ("s1", "s2", "x", "s3")}
    entered = {name: asyncio.Event() for name in release}

    async def hold(name: str) -> None:
        side = gate.exclusive() if name == "x" else gate.shared()
        async with side:
            log.append(f"+{name}")
            entered[name].set()
            await release[name].wait()
            log.append(f"-{name}")

    s1 = asyncio.create_task(hold("s1"))
    s2 = asyncio.create_task(hold("s2"))
    await bounded(entered["s1"].wait())
    await bounded(entered["s2"].wait())  # two shared holders at once
    x = asyncio.create_task(hold("x"))
    s3 = asyncio.create_task(hold("s3"))  # comes after the waiting exclusive holder
    await until_true(lambda: len(gate._waiting) == 2)
    assert not entered["x"].is_set() and not entered["s3"].is_set()
    release["s1"].set()
    await bounded(s1)
    assert not entered["x"].is_set()  # s2 still holds it
    release["s2"].set()
    await bounded(entered["x"].wait())
    assert not entered["s3"].is_set()  # not alongside the exclusive holder
    release["x"].set()
    await bounded(entered["s3"].wait())
    release["s3"].set()
    await bounded(asyncio.gather(s2, x, s3))
    assert log == ["+s1", "+s2", "-s1", "-s2", "+x", "-x", "+s3", "-s3"]
    assert not gate.locked()

    # a waiter cancelled in the queue neither holds the gate nor blocks the next one
    async with gate.exclusive():
        waiting = asyncio.create_task(hold("x"))
        after = asyncio.create_task(gate.shared().__aenter__())
        await until_true(lambda: len(gate._waiting) == 2)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    await bounded(after)
    assert gate.locked()  # ``after`` holds it shared now
