"""The private WebSocket v1 client session (``krakenwire.PrivateSocketV1``).

Pure: v1 ``openOrders`` entries translated for the OpenOrders view (krakenwire.orders_v1).
End to end: the session against the in-process sandbox's ``/ws-auth`` over real sockets —
subscriptions, trading, fills, cancel replies per txid, the dead-man switch, orders shared
with v2 and REST — and the sandbox's fault switches plus a silent server for the watchdog:
no await hangs, no order is placed twice, the view equals REST ``OpenOrders`` afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from helpers import (
    FAST,
    RecordingProvider,
    StaticTokens,
    assert_lost_reply_reconciled,
    assert_no_secret_in,
    assert_resynced_after_a_drop,
    assert_token_refreshed_in_place,
    assert_view_matches_rest,
    quiet_sandbox,
    sandbox_client,
    serving,
    until,
    until_true,
)
from krakenwire import PrivateSocketV1
from krakenwire.errors import (
    InsufficientFunds,
    OrderOutcomeUnknown,
    TransportError,
    UnknownAssetPair,
    UnknownOrder,
)
from krakenwire.orders import OpenOrders, OrdersResync
from krakenwire.orders_v1 import report_from_v1, v2_status
from krakenwire.protocol import v1
from krakenwire.rest import AsyncKrakenClient
from krakenwire.sandbox import Sandbox, Settings
from krakenwire.token import TokenProvider
from krakenwire.ws.connection import ConnectionSettings
from krakenwire.ws.events import (
    Authenticated,
    Connecting,
    Gap,
    OrderOutcomeUnknownEvent,
    RateLimitWarning,
    Reconnecting,
    Subscribed,
)
from krakenwire.ws.v1 import CancelResult, default_v1_url
from krakenwire.ws.v2 import PrivateSocket

pytestmark = pytest.mark.timeout(60)


# --------------------------------------------------------------------------------------------
# pure: v1 entries for the view
# --------------------------------------------------------------------------------------------

_PENDING = (b'{"avg_price":"0.00000","cost":"0.00000","descr":{"close":null,"leverage":null,'
            b'"order":"buy 0.01250000 XBT/USD @ limit 30000.00000","ordertype":"limit",'
            b'"pair":"XBT/USD","price":"30000.00000","price2":"0.00000","type":"buy"},'
            b'"expiretm":null,"fee":"0.00000","limitprice":"0.00000","misc":"",'
            b'"oflags":"fciq,post","opentm":"1698761179.336974","refid":null,"starttm":null,'
            b'"status":"pending","stopprice":"0.00000","timeinforce":"GTC","userref":0,'
            b'"cl_ord_id":"cl-7","vol":"0.01250000","vol_exec":"0.00000000"}')


def _entry(raw: bytes) -> v1.OpenOrderInfo:
    return v1.parse_message(b'[[{"OID":' + raw + b'}],"openOrders",{"sequence":2}]'
                            ).orders[0][1]  # type: ignore[union-attr]


def test_a_recorded_pending_entry_becomes_a_full_report() -> None:
    report = report_from_v1("OID", _entry(_PENDING))
    assert report.order_status == "pending_new"
    assert (report.symbol, report.side, report.order_type) == ("XBT/USD", "buy", "limit")
    assert report.order_qty == Decimal("0.01250000") and report.cum_qty == Decimal(0)
    assert report.limit_price == Decimal("30000.00000")
    assert report.avg_price is None  # "0.00000" before a fill is not a price
    assert report.post_only is True and report.time_in_force == "GTC"
    assert report.cl_ord_id == "cl-7" and report.order_userref == 0
    assert report.timestamp == "2023-10-31T14:06:19.336974Z"


@pytest.mark.parametrize(("ordertype", "price", "price2", "limit"), [
    ("limit", "10", "0", Decimal(10)),
    ("stop-loss-limit", "10", "11", Decimal(11)),  # descr.price is the trigger there
    ("market", "0", "0", None),
    ("stop-loss", "10", "0", None),
])
def test_the_limit_price_comes_from_the_right_descr_field(ordertype: str, price: str,
                                                          price2: str,
                                                          limit: Decimal | None) -> None:
    entry = v1.OpenOrderInfo(descr=v1.OpenOrderDescr(ordertype=ordertype, price=Decimal(price),
                                                     price2=Decimal(price2)))
    assert report_from_v1("O", entry).limit_price == limit


_DELTAS = st.lists(st.one_of(
    st.builds(lambda s: v1.OpenOrderInfo(status=s, userref=0), st.sampled_from(["open"])),
    st.builds(lambda n: v1.OpenOrderInfo(vol_exec=Decimal(n) / 1000, cost=Decimal(n),
                                         avg_price=Decimal(30000), userref=0),
              st.integers(1, 12)),
), max_size=8)


@given(_DELTAS, st.sampled_from(["closed", "canceled", "expired", None]))
def test_deltas_through_merge_keep_the_view_equal_to_the_merged_entry(
        deltas: list[v1.OpenOrderInfo], end: str | None) -> None:
    """Feeding the view the merged entry after each delta leaves it where the final merged
    entry alone would: every field ever sent survives, and a final status closes it."""
    view = OpenOrders()
    merged = _entry(_PENDING)
    view.load_snapshot([])
    view.apply(report_from_v1("OID", merged))
    steps = [*deltas, *([v1.OpenOrderInfo(status=end)] if end else [])]
    for delta in steps:
        merged = v1.merge_order(merged, delta)
        view.apply(report_from_v1("OID", merged))
    expected = report_from_v1("OID", merged)
    if end is None:
        order = view["OID"]
        assert order.order_status == expected.order_status
        assert order.cum_qty == merged.vol_exec and order.order_qty == Decimal("0.0125")
        assert order.cl_ord_id == "cl-7" and order.limit_price == Decimal("30000.00000")
        fills = [d for d in deltas if d.vol_exec is not None]
        if fills:
            assert order.order_status == "partially_filled"
    else:
        assert "OID" not in view
        closed = view.closed("cl-7")
        assert closed is not None and closed.status == v2_status(end, None)


def test_the_v1_url_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRAKEN_WS_AUTH_URL", raising=False)
    assert default_v1_url() == "wss://ws-auth.kraken.com"
    monkeypatch.setenv("KRAKEN_WS_AUTH_URL", "ws://127.0.0.1:9/ws-auth/v2")
    assert default_v1_url() == "ws://127.0.0.1:9/ws-auth"
    with pytest.raises(ValueError):
        PrivateSocketV1(token_provider=None)  # neither credentials nor provider
    with pytest.raises(ValueError, match="channel"):
        PrivateSocketV1(token_provider=TokenProvider(object()), channels=("executions",))


def test_cancel_replies_go_to_their_ids_in_order_or_by_name() -> None:
    ws = PrivateSocketV1(token_provider=TokenProvider(object()), url="ws://127.0.0.1:9/ws-auth")
    ok = v1.RequestStatus(event="cancelOrderStatus", status="ok")
    bad = v1.RequestStatus(event="cancelOrderStatus", status="error",
                           error_message="EOrder:Unknown order")
    # Kraken's replies name no id: the n-th reply is the n-th id's
    assert ws._cancel_results(["A", "B", "C"], [ok, bad, ok]) == [
        CancelResult("A", True), CancelResult("B", False, "EOrder:Unknown order"),
        CancelResult("C", True)]
    # a reply that names its txid goes to it, whatever its place
    named = v1.RequestStatus(event="cancelOrderStatus", status="ok", txid="C")
    assert ws._cancel_results(["A", "B", "C"], [named, bad, ok]) == [
        CancelResult("A", False, "EOrder:Unknown order"), CancelResult("B", True),
        CancelResult("C", True)]


# --------------------------------------------------------------------------------------------
# end to end against the sandbox
# --------------------------------------------------------------------------------------------


sb = quiet_sandbox
rest = sandbox_client


def socket_for(sb: Sandbox, **kw: Any) -> PrivateSocketV1:
    kw.setdefault("settings", FAST)
    kw.setdefault("url", sb.ws_auth_v1_url)
    return PrivateSocketV1(credentials=sb.credentials, rest_url=sb.rest_url, **kw)


def entries_of(txid: str) -> Callable[[Any], bool]:
    return lambda f: isinstance(f, v1.OpenOrders) and any(oid == txid for oid, _ in f.orders)


async def test_subscribe_place_amend_cancel(sb: Sandbox, rest: AsyncKrakenClient) -> None:
    ws = socket_for(sb)
    assert not ws.ready and ws.connections == 0  # constructing did no I/O
    async with ws:
        assert ws.ready and ws.system_status == "online"
        assert isinstance(ws.connection_id, int)
        events = ws.events()
        assert isinstance(await until(events, lambda e: True), Connecting)
        await until(events, lambda e: isinstance(e, Authenticated))
        subs = [await until(events, lambda e: isinstance(e, Subscribed)) for _ in range(2)]
        assert [s.channel for s in subs] == ["openOrders", "ownTrades"]
        assert not any(s.resubscribed for s in subs)
        snap = await until(ws.open_orders_feed(), lambda f: True)
        assert isinstance(snap, v1.OpenOrders) and snap.orders == [] and snap.sequence == 1
        trades = await until(ws.own_trades_feed(), lambda f: True)
        assert isinstance(trades, v1.OwnTrades) and trades.trades == []
        assert isinstance(ws.max_rate_count, int) and ws.max_rate_count > 0

        ack = await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                                 volume="0.0125", price=Decimal("30000"))
        assert isinstance(ack, v1.RequestStatus) and ack.ok and ack.event == "addOrderStatus"
        txid = str(ack.txid)
        assert ack.descr == "buy 0.01250000 XBTUSD @ limit 30000"
        assert isinstance(ack.cl_ord_id, str) and len(ack.cl_ord_id) == 36  # generated
        pending = await until(ws.open_orders_feed(), entries_of(txid))
        (_, entry), = pending.orders
        assert entry.status == "pending" and entry.vol == Decimal("0.01250000")
        assert entry.descr.price == Decimal("30000.00000")  # exact, from the string
        opened = await until(ws.open_orders_feed(), entries_of(txid))
        assert opened.orders[0][1].status == "open" and opened.sequence == 3
        view = ws.open_orders[txid]
        assert view.order_status == "new" and view.symbol == "XBT/USD" and view.side == "buy"
        assert view.order_qty == Decimal("0.0125") and view.limit_price == Decimal(30000)
        assert ws.open_orders.by_cl_ord_id(ack.cl_ord_id) == view
        await assert_view_matches_rest(ws, rest)

        amended = await ws.amend_order(cl_ord_id=ack.cl_ord_id, limit_price="30500",
                                       volume="0.02")
        assert amended.ok and amended.amend_id and amended.cl_ord_id == ack.cl_ord_id
        await until_true(lambda: ws.open_orders[txid].limit_price == Decimal(30500))
        await until_true(lambda: ws.open_orders[txid].order_qty == Decimal("0.02"))
        await assert_view_matches_rest(ws, rest)

        edited = await ws.edit_order(orderid=txid, pair="XBT/USD", price="29000",
                                     volume="0.03")
        assert edited.originaltxid == txid and edited.txid and edited.txid != txid
        new_id = str(edited.txid)
        await until_true(lambda: ws.open_orders.ids() == {new_id})
        assert ws.open_orders[new_id].limit_price == Decimal(29000)

        cancelled = await ws.cancel_order(new_id)
        assert cancelled == [CancelResult(new_id, True)]
        await until_true(lambda: new_id not in ws.open_orders)
        closed = ws.open_orders.closed(new_id)
        assert closed is not None and closed.status == "canceled"
        await assert_view_matches_rest(ws, rest)
        assert ws.sequence_gaps == 0
    assert not ws.ready


async def test_fills_update_the_view_and_own_trades(sb: Sandbox,
                                                    rest: AsyncKrakenClient) -> None:
    seller = sb.create_key(sb.create_account({"XXBT": "1"}))
    async with AsyncKrakenClient(seller, base_url=sb.rest_url, rate_limit=None) as other:
        await other.add_order("XBTUSD", "sell", "limit", "0.005", price="50000")
        await other.add_order("XBTUSD", "sell", "limit", "0.5", price="50001.5")
    async with socket_for(sb) as ws:
        ack = await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                                 volume="0.02", price="50001.5", cl_ord_id="taker-1")
        txid = str(ack.txid)
        trade = await until(ws.own_trades_feed(), lambda f: isinstance(f, v1.OwnTrades)
                            and bool(f.trades))
        (trade_id, info), = trade.trades
        assert trade_id.startswith("T") and info.ordertxid == txid
        assert info.pair == "XBT/USD" and info.type == "buy"
        assert info.vol == Decimal("0.02") and isinstance(info.cost, Decimal)
        assert info.cost == Decimal("0.005") * 50000 + Decimal("0.015") * Decimal("50001.5")
        await until_true(lambda: txid not in ws.open_orders)
        closed = ws.open_orders.closed("taker-1")
        assert closed is not None and closed.status == "filled"
        assert closed.order.cum_qty == Decimal("0.02")
        assert closed.order.cum_cost == info.cost
        found = await ws.reconcile("taker-1")  # never unknown: answered from the view
        assert found.status == "closed" and found.order == closed.order
        await assert_view_matches_rest(ws, rest)
        # after a reconnect the ownTrades snapshot does not deliver the fill a second time
        ws.drop_connection("test")
        await until(ws.events(), lambda e: isinstance(e, Subscribed) and e.resubscribed
                    and e.channel == "ownTrades")
        again = await until(ws.own_trades_feed(), lambda f: isinstance(f, v1.OwnTrades))
        assert again.trades == [] and again.sequence == 1
    async with socket_for(sb) as fresh:  # a new session's snapshot does have it (by fill)
        snap = await until(fresh.own_trades_feed(), lambda f: isinstance(f, v1.OwnTrades))
        assert trade_id in [tid for tid, _ in snap.trades]
        assert sum(t.vol for _, t in snap.trades) == Decimal("0.02")
        assert sum(t.cost for _, t in snap.trades) == info.cost


async def test_cancel_answers_once_per_txid_and_names_the_unknown_one(
        sb: Sandbox, rest: AsyncKrakenClient) -> None:
    async with socket_for(sb) as ws:
        ids = [str((await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                                       volume="0.01", price=str(1000 + i))).txid)
               for i in range(3)]
        unknown = "OAAAAA-BBBBB-CCCCCC"
        with pytest.raises(UnknownOrder) as refused:
            await ws.cancel_order([ids[0], unknown, ids[1]])
        assert refused.value.error == "EOrder:Unknown order"
        assert refused.value.txid == unknown  # type: ignore[attr-defined]
        assert refused.value.results == [  # type: ignore[attr-defined]
            CancelResult(ids[0], True), CancelResult(unknown, False, "EOrder:Unknown order"),
            CancelResult(ids[1], True)]
        await until_true(lambda: ws.open_orders.ids() == {ids[2]})
        with pytest.raises(UnknownOrder) as alone:
            await ws.cancel_order(unknown)
        assert alone.value.results == [  # type: ignore[attr-defined]
            CancelResult(unknown, False, "EOrder:Unknown order")]
        await assert_view_matches_rest(ws, rest)
        assert len(ws._pending) == 0  # every reply was consumed, none left waiting

        again = [str((await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                                         volume="0.01", price="1000")).txid) for _ in range(2)]
        assert (await ws.cancel_all()).count == 3
        await until_true(lambda: len(ws.open_orders) == 0)
        assert all(ws.open_orders.closed(i) is not None for i in again)
        await assert_view_matches_rest(ws, rest)


async def test_refusals_are_typed_and_bad_arguments_are_not_sent(sb: Sandbox) -> None:
    async with socket_for(sb) as ws:
        with pytest.raises(InsufficientFunds) as funds:
            await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                               volume="1000", price="60000")
        assert funds.value.error == "EOrder:Insufficient funds"
        assert funds.value.method == "addOrder"
        with pytest.raises(UnknownAssetPair):
            await ws.add_order(pair="FOO/BAR", type="buy", ordertype="limit",
                               volume="0.01", price="1000")
        with pytest.raises(TypeError, match="float"):
            await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                               volume=0.01, price="1000")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="cl_ord_id"):
            await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                               volume="0.01", price="1000", userref="5")
        with pytest.raises(ValueError):
            await ws.cancel_order()
        assert len(ws.open_orders) == 0  # nothing slipped through


async def test_dead_man_switch_cancels_when_not_renewed() -> None:
    async with Sandbox(settings=Settings(market=False, manual_clock=True)) as sb, \
            AsyncKrakenClient(sb.credentials, base_url=sb.rest_url, rate_limit=None) as rest, \
            socket_for(sb) as ws:
        ack = await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                                 volume="0.01", price="1000")
        armed = await ws.cancel_all_orders_after(60)
        assert armed.trigger_time not in (None, "0") and ws.dead_man_switch_armed
        assert str(armed.trigger_time) > str(armed.current_time)
        disarmed = await ws.cancel_all_orders_after(0)
        assert disarmed.trigger_time == "0" and not ws.dead_man_switch_armed
        await sb.advance(61)
        assert str(ack.txid) in await rest.open_orders()  # disarmed: nothing happened
        assert str(ack.txid) in ws.open_orders
        await ws.cancel_all_orders_after(10)
        await sb.advance(11)
        await until_true(lambda: str(ack.txid) not in ws.open_orders)
        closed = ws.open_orders.closed(str(ack.txid))
        assert closed is not None and closed.status == "canceled"
        await assert_view_matches_rest(ws, rest)
        with pytest.raises(ValueError):
            await ws.cancel_all_orders_after(86400)


async def test_orders_cross_between_v1_v2_and_rest(sb: Sandbox,
                                                   rest: AsyncKrakenClient) -> None:
    async with socket_for(sb) as one, PrivateSocket(
            credentials=sb.credentials, rest_url=sb.rest_url, url=sb.ws_auth_v2_url,
            settings=FAST) as two:
        ack = await one.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                                  volume="0.01", price="30000", cl_ord_id="via-v1")
        await until_true(lambda: str(ack.txid) in two.open_orders)
        seen = two.open_orders[str(ack.txid)]
        assert seen.cl_ord_id == "via-v1" and seen.symbol == "BTC/USD"
        assert seen.order_qty == Decimal("0.01") and seen.limit_price == Decimal(30000)

        placed = await two.add_order(symbol="BTC/USD", side="sell", order_type="limit",
                                     order_qty="0.004", limit_price="99000",
                                     cl_ord_id="via-v2")
        oid = str(placed.order_id)
        await until_true(lambda: oid in one.open_orders)
        mine = one.open_orders[oid]
        assert mine.cl_ord_id == "via-v2" and mine.symbol == "XBT/USD" and mine.side == "sell"
        assert mine.limit_price == Decimal(99000)

        by_rest = await rest.add_order("XBTUSD", "buy", "limit", "0.002", price="2000",
                                       cl_ord_id="via-rest")
        await until_true(lambda: one.open_orders.by_cl_ord_id("via-rest") is not None)
        assert one.open_orders.by_cl_ord_id("via-rest").order_id == by_rest.txid  # type: ignore[union-attr]
        for ws in (one, two):
            await until_true(lambda ws=ws: len(ws.open_orders) == 3)  # type: ignore[misc]
            await assert_view_matches_rest(ws, rest)

        await one.cancel_order(oid)  # a v2 order cancelled over v1
        await until_true(lambda: oid not in two.open_orders)
        await assert_view_matches_rest(two, rest)


async def test_a_high_rate_counter_is_a_warning_event(sb: Sandbox) -> None:
    async with socket_for(sb, rate_warning_fraction=0.04) as ws:
        ack = await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                                 volume="0.01", price="1000")
        await ws.cancel_order(str(ack.txid))  # cancelling a young order costs most
        warning = await until(ws.events(), lambda e: isinstance(e, RateLimitWarning))
        assert warning.maximum == ws.max_rate_count
        assert ws.rate_count is not None and float(ws.rate_count) == warning.count


# --- faults ---------------------------------------------------------------------------------


async def test_drop_midstream_reconnects_and_resyncs_the_view(
        sb: Sandbox, rest: AsyncKrakenClient) -> None:
    async with socket_for(sb) as ws:
        sb.core.faults.ws_drop_midstream = True  # the next live frame is lost with the socket
        await rest.add_order("XBTUSD", "buy", "limit", "0.01", price="1000",
                             cl_ord_id="while-away")
        await assert_resynced_after_a_drop(ws, rest, ws.open_orders_feed(), "while-away")
        assert (await ws.cancel_all()).count == 1  # and the new socket trades
        await until_true(lambda: len(ws.open_orders) == 0)
        await assert_view_matches_rest(ws, rest)


async def test_drop_before_reply_is_outcome_unknown_then_reconciled(
        sb: Sandbox, rest: AsyncKrakenClient) -> None:
    async with socket_for(sb) as ws:
        sb.core.faults.ws_drop_before_reply = True
        with pytest.raises(OrderOutcomeUnknown) as unknown:
            await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                               volume="0.01", price="1000", cl_ord_id="maybe")
        assert unknown.value.cl_ord_id == "maybe" and unknown.value.method == "addOrder"
        await assert_lost_reply_reconciled(ws, rest, "maybe")


async def test_reply_timeout_on_a_live_socket_is_reconciled_from_a_fresh_snapshot(
        sb: Sandbox, rest: AsyncKrakenClient) -> None:
    async with socket_for(sb) as ws:
        with pytest.raises(OrderOutcomeUnknown):  # sent, but we stopped waiting at once
            await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                               volume="0.01", price="1000", cl_ord_id="impatient",
                               reply_timeout=0)
        found = await ws.reconcile("impatient")
        assert found.status == "open" and found.order is not None
        assert ws.connections == 1 and ws.open_orders.snapshots == 2  # same socket
        await assert_view_matches_rest(ws, rest)


async def test_invalidated_tokens_resubscribe_on_the_same_socket(
        sb: Sandbox, rest: AsyncKrakenClient) -> None:
    provider = TokenProvider(rest)
    async with PrivateSocketV1(token_provider=provider, url=sb.ws_auth_v1_url,
                               settings=FAST) as ws:
        first = provider.current
        assert first is not None
        assert sb.core.gate.invalidate_tokens() >= 1
        await assert_token_refreshed_in_place(ws, provider, first)
        ack = await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                                 volume="0.01", price="1000")
        await until_true(lambda: str(ack.txid) in ws.open_orders)
        await assert_view_matches_rest(ws, rest)


async def test_no_heartbeats_the_watchdog_pings_and_the_session_lives(
        sb: Sandbox, rest: AsyncKrakenClient) -> None:
    sb.core.faults.ws_no_heartbeat = True
    quick = ConnectionSettings(ping_after=0.1, stale_after=2.0, backoff_initial=0.05,
                               backoff_max=0.2)
    async with socket_for(sb, settings=quick) as ws:
        await until_true(lambda: ws.pongs >= 3)
        assert ws.connections == 1 and ws.ready
        ack = await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                                 volume="0.01", price="1000")
        await until_true(lambda: str(ack.txid) in ws.open_orders)
        await assert_view_matches_rest(ws, rest)


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A v1 server that acknowledges subscriptions (with an empty snapshot) and then never
    says anything again: no heartbeat, no pong, no reply to trading requests."""
    connections: list[int] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connections.append(len(connections) + 1)
        await ws.send_bytes(v1.encode(v1.system_status(len(connections))))
        async for msg in ws:
            req = v1.decode(msg.data)
            if req.get("event") == "subscribe":
                name = req["subscription"]["name"]
                await ws.send_bytes(v1.encode(v1.subscription_status(
                    name, "subscribed", reqid=req.get("reqid"))))
                await ws.send_bytes(v1.encode(v1.data_frame(name, [], 1)))
        return ws

    async with serving("/ws-auth", handler) as url:
        yield url, connections


async def test_a_silent_connection_is_dropped_by_the_watchdog(
        silent_server: tuple[str, list[int]]) -> None:
    url, connections = silent_server
    dog = ConnectionSettings(ping_after=0.05, stale_after=0.3, backoff_initial=0.05,
                             backoff_max=0.1)
    provider = TokenProvider(StaticTokens())
    async with PrivateSocketV1(token_provider=provider, url=url, settings=dog) as ws:
        rec = await until(ws.events(), lambda e: isinstance(e, Reconnecting))
        assert "no data, heartbeat or pong" in rec.reason
        await until(ws.events(), lambda e: isinstance(e, Subscribed) and e.resubscribed)
        assert len(connections) >= 2
        assert len(provider.client.issued) >= 2  # a fresh token for the new socket


async def test_every_await_ends_even_when_replies_never_come(
        silent_server: tuple[str, list[int]]) -> None:
    url, _ = silent_server
    async with PrivateSocketV1(token_provider=TokenProvider(StaticTokens()), url=url,
                               settings=FAST) as ws:
        with pytest.raises(OrderOutcomeUnknown) as unknown:
            await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                               volume="0.01", price="1000", reply_timeout=0.2)
        assert unknown.value.cl_ord_id  # generated, reported
        event = await until(ws.events(), lambda e: isinstance(e, OrderOutcomeUnknownEvent))
        assert event.cl_ord_id == unknown.value.cl_ord_id and "no reply" in event.reason
        for call in (ws.cancel_all(reply_timeout=0.2),
                     ws.cancel_order(["OA", "OB"], reply_timeout=0.2),
                     ws.amend_order(txid="OA", volume="1", reply_timeout=0.2)):
            with pytest.raises(TransportError, match="no reply"):
                await call
        assert len(ws._pending) == 0  # nothing left waiting
    with pytest.raises(TransportError, match="closed"):
        await ws.cancel_all()


# --- secrets --------------------------------------------------------------------------------


async def test_no_token_or_secret_in_logs_reprs_events_or_errors(
        sb: Sandbox, rest: AsyncKrakenClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    provider = RecordingProvider(rest)
    shown: list[str] = []
    async with PrivateSocketV1(token_provider=provider, url=sb.ws_auth_v1_url,
                               settings=FAST) as ws:
        sb.core.gate.invalidate_tokens()
        await until(ws.events(), lambda e: isinstance(e, Subscribed) and e.resubscribed)
        with pytest.raises(UnknownOrder) as refused:
            await ws.cancel_order("OAAAAA-BBBBB-CCCCCC")
        shown += [str(refused.value), repr(refused.value)]
        sb.core.faults.ws_drop_before_reply = True
        with pytest.raises(OrderOutcomeUnknown) as unknown:
            await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                               volume="0.01", price="1000")
        shown += [str(unknown.value), repr(unknown.value), str(unknown.value.cause)]
        await ws.reconcile(unknown.value.cl_ord_id)
        shown += [repr(ws), repr(ws.open_orders), repr(provider.current),
                  repr(v1.AddOrder(ordertype="limit", type="buy", pair="XBT/USD",
                                   token=provider.seen[-1]))]
    shown += [repr(e) for e in [e async for e in ws.events()]]
    text = caplog.text + "\n".join(shown)
    assert "reconnecting" in text.lower()  # the log did record the story
    assert_no_secret_in(text, provider, sb)


# --- more orderings and failures ------------------------------------------------------------


async def test_updates_before_the_ack_are_handled_the_same(sb: Sandbox,
                                                           rest: AsyncKrakenClient) -> None:
    sb.core.faults.ws_ack_after_events = True  # the other interleaving (§5.6)
    async with socket_for(sb) as ws:
        ack = await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                                 volume="0.01", price="1000")
        # the updates came first, so the view already has the open order when the ack returns
        order = ws.open_orders[str(ack.txid)]
        assert order.order_status == "new" and order.cl_ord_id == ack.cl_ord_id
        await ws.cancel_order(str(ack.txid))
        assert str(ack.txid) not in ws.open_orders
        await assert_view_matches_rest(ws, rest)


async def test_a_market_order_lost_before_its_reply_is_found_closed(
        sb: Sandbox, rest: AsyncKrakenClient) -> None:
    seller = sb.create_key(sb.create_account({"XXBT": "1"}))
    async with AsyncKrakenClient(seller, base_url=sb.rest_url, rate_limit=None) as other:
        await other.add_order("XBTUSD", "sell", "limit", "0.5", price="50000")
    async with socket_for(sb) as ws:
        sb.core.faults.ws_drop_before_reply = True
        with pytest.raises(OrderOutcomeUnknown):
            await ws.add_order(pair="XBT/USD", type="buy", ordertype="market",
                               volume="0.01", cl_ord_id="gone-fast")
        found = await ws.reconcile("gone-fast")
        assert found.status == "closed"  # it filled at once: not open, but it exists
        assert found.rest_order is not None and found.rest_order.status == "closed"
        closed = await rest.closed_orders()
        assert [o.cl_ord_id for o in closed.values()].count("gone-fast") == 1
        await assert_view_matches_rest(ws, rest)


async def test_the_public_path_is_refused_at_once(sb: Sandbox) -> None:
    from krakenwire.errors import WrongEndpoint

    ws = socket_for(sb, url=sb.ws_public_v1_url)
    with pytest.raises(WrongEndpoint, match=r"Try ws-auth\.kraken\.com"):
        await ws.connect(timeout=5)
    assert ws.connections == 1  # told at once, not after a storm of reconnects


async def test_slow_reader_gets_a_gap_but_the_view_stays_right(
        sb: Sandbox, rest: AsyncKrakenClient) -> None:
    async with socket_for(sb, queue_size=2) as ws:
        for i in range(4):
            await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                               volume="0.01", price=str(1000 + i))
        await until_true(lambda: len(ws.open_orders) == 4)
        items = [await anext(ws.open_orders_feed()) for _ in range(3)]
        gaps = [i for i in items if isinstance(i, Gap)]
        assert gaps and gaps[0].stream == "openOrders" and gaps[0].missed > 0
        await assert_view_matches_rest(ws, rest)


async def test_a_cancelled_add_order_is_reported_as_outcome_unknown(
        silent_server: tuple[str, list[int]]) -> None:
    url, _ = silent_server
    async with PrivateSocketV1(token_provider=TokenProvider(StaticTokens()), url=url,
                               settings=FAST) as ws:
        task = asyncio.ensure_future(ws.add_order(
            pair="XBT/USD", type="buy", ordertype="limit", volume="0.01", price="1000",
            cl_ord_id="abandoned"))
        await until_true(lambda: len(ws._pending) == 1)  # sent, waiting for the reply
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        event = await until(ws.events(), lambda e: isinstance(e, OrderOutcomeUnknownEvent))
        assert event.cl_ord_id == "abandoned" and len(ws._pending) == 0


@pytest.fixture
async def recording_server() -> AsyncIterator[tuple[str, list[Any]]]:
    """Answers like Kraken and records what the client sent. Its first ``openOrders``
    subscription gets a snapshot with one order and then an unreadable delta (a number
    field holding text); later snapshots list two orders."""
    frames: list[Any] = []
    snapshots = 0

    def entry(i: int) -> dict[str, Any]:
        return {"avg_price": "0.00000", "cost": "0.00000", "descr": {
            "ordertype": "limit", "pair": "XBT/USD", "price": f"{1000 + i}.00000",
            "price2": "0.00000", "type": "buy"}, "opentm": "1698761179.336974",
            "status": "open", "userref": 0, "vol": "0.01000000", "vol_exec": "0.00000000"}

    async def handler(request: web.Request) -> web.WebSocketResponse:
        nonlocal snapshots
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_bytes(v1.encode(v1.system_status(2**64 - 1)))
        async for msg in ws:
            frames.append(msg.data)
            req = v1.decode(msg.data)
            event, reqid = req.get("event"), req.get("reqid")
            if event == "subscribe":
                name = req["subscription"]["name"]
                await ws.send_bytes(v1.encode(v1.subscription_status(name, "subscribed",
                                                                     reqid=reqid)))
                if name == "openOrders":
                    snapshots += 1
                    orders = [{f"OSNAP{i}-AAAAA-BBBBBB": entry(i)}
                              for i in range(min(snapshots, 2))]
                    await ws.send_bytes(v1.encode(v1.data_frame(name, orders, 1)))
                    if snapshots == 1:
                        await ws.send_bytes(b'[[{"OSNAP0-AAAAA-BBBBBB":{"vol_exec":"lots"}}],'
                                            b'"openOrders",{"sequence":2}]')
            elif event == "unsubscribe":
                await ws.send_bytes(v1.encode(v1.subscription_status(
                    req["subscription"]["name"], "unsubscribed", reqid=reqid)))
            elif event == "addOrder":
                await ws.send_bytes(v1.encode(v1.request_status(
                    "addOrderStatus", reqid=reqid, txid="ONEW00-AAAAA-BBBBBB",
                    descr="buy 0.01000000 XBTUSD @ limit 1000")))
        return ws

    async with serving("/ws-auth", handler) as url:
        yield url, frames


async def test_frames_sent_follow_kraken_and_an_unreadable_update_brings_a_snapshot(
        recording_server: tuple[str, list[Any]]) -> None:
    url, frames = recording_server
    tokens = StaticTokens()
    async with PrivateSocketV1(token_provider=TokenProvider(tokens), url=url,
                               settings=FAST) as ws:
        assert ws.connection_id == 2**64 - 1  # a uint64, not squeezed through a float
        await until_true(lambda: ws.open_orders.snapshots == 2)
        assert ws.open_orders.ids() == {"OSNAP0-AAAAA-BBBBBB", "OSNAP1-AAAAA-BBBBBB"}
        resync = await until(ws.open_orders_feed(), lambda f: isinstance(f, OrdersResync))
        assert [o.order_id for o in resync.appeared] == ["OSNAP1-AAAAA-BBBBBB"]
        assert ws.connections == 1
        await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                           volume=Decimal("0.0100"), price=Decimal("1E+3"), cl_ord_id="c-1")
    sent = [v1.decode(f) for f in frames]
    token = tokens.issued[0]
    assert sent[0] == {"event": "subscribe", "subscription": {
        "name": "openOrders", "token": token, "ratecounter": True}, "reqid": sent[0]["reqid"]}
    assert sent[1] == {"event": "subscribe", "subscription": {
        "name": "ownTrades", "token": token, "snapshot": True, "consolidate_taker": True},
        "reqid": sent[1]["reqid"]}
    assert [s["event"] for s in sent[2:4]] == ["unsubscribe", "subscribe"]
    add = sent[-1]
    assert add == {"event": "addOrder", "token": token, "reqid": add["reqid"],
                   "ordertype": "limit", "type": "buy", "pair": "XBT/USD",
                   "volume": "0.0100", "price": "1000", "cl_ord_id": "c-1"}
    assert all(isinstance(s["reqid"], int) and 0 < s["reqid"] < 2**31 for s in sent)


async def test_giving_up_ends_the_feeds_and_every_await() -> None:
    from krakenwire.ws.events import Closed

    sandbox = Sandbox(settings=Settings(market=False))
    await sandbox.start()
    limited = ConnectionSettings(backoff_initial=0.3, backoff_max=0.3, max_attempts=2)
    ws = socket_for(sandbox, settings=limited)
    try:
        await ws.connect()
        ws.drop_connection("server going away")
        await until(ws.events(), lambda e: isinstance(e, Reconnecting))
        await asyncio.wait_for(sandbox.stop(), 10)
        closed = await until(ws.events(), lambda e: isinstance(e, Closed), timeout=10)
        assert closed.reason == "stopped: NotConnectedError"
        async with asyncio.timeout(5):  # the feeds end instead of waiting forever
            assert [f async for f in ws.open_orders_feed() if isinstance(f, OrdersResync)] == []
            assert [f async for f in ws.own_trades_feed() if isinstance(f, Gap)] == []
        with pytest.raises(TransportError, match="not connected"):
            await ws.cancel_all(reply_timeout=1)
        with pytest.raises(TransportError, match="not connected"):
            await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit", volume="0.01",
                               price="1000")  # not sent: not an unknown outcome
    finally:
        await ws.close()
        await sandbox.stop()
