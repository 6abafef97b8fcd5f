"""The private WebSocket v2 client session (krakenwire.ws) — pure parts and against the sandbox.

Pure parts: bounded streams with gap events, req_id allocation and reply futures, backoff and
watchdog. End to end: PrivateSocket against the in-process sandbox over real sockets, happy
path and the sandbox's fault switches.
"""

from __future__ import annotations

import asyncio
import random
import socket
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
    bounded,
    quiet_sandbox,
    sandbox_client,
    serving,
    until,
    until_true,
)
from krakenwire.errors import (
    InsufficientFunds,
    OrderOutcomeUnknown,
    TransportError,
    UnknownAssetPair,
    UnknownOrder,
)
from krakenwire.orders import OrdersResync
from krakenwire.protocol import v2
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
from krakenwire.ws.requests import INT32_MAX, PendingReplies, ReqIds
from krakenwire.ws.streams import EventStream
from krakenwire.ws.timing import Backoff, Watchdog
from krakenwire.ws.v2 import PrivateSocket

# --------------------------------------------------------------------------------------------
# pure parts
# --------------------------------------------------------------------------------------------


@given(st.integers(1, 20), st.lists(st.integers(0, 3), max_size=60))
def test_stream_never_loses_silently(maxsize: int, script: list[int]) -> None:
    """Whatever the interleaving of pushes and reads, every pushed item is either delivered
    in order or counted in a Gap placed where it was lost."""
    stream: EventStream[int] = EventStream("s", maxsize)
    pushed = 0
    delivered: list[int] = []
    missed = 0
    for step in script:
        if step == 0:  # the consumer reads one
            item = stream.get_nowait()
            if isinstance(item, Gap):
                missed += item.missed
            elif item is not None:
                delivered.append(item)
        else:
            for _ in range(step):
                stream.push(pushed)
                pushed += 1
    while (item := stream.get_nowait()) is not None:
        if isinstance(item, Gap):
            missed += item.missed
        else:
            delivered.append(item)
    assert delivered == sorted(delivered)
    assert len(delivered) + missed == pushed
    assert len(stream) == 0 and stream.missed == 0


async def test_stream_gap_sits_where_the_loss_was_and_close_ends_iteration() -> None:
    stream: EventStream[int] = EventStream("executions", 2)
    assert [stream.push(i) for i in range(5)] == [True, True, False, False, False]
    assert stream.get_nowait() == 0
    stream.push(5)  # room again: the gap marker goes in before it
    stream.close()
    assert not stream.push(6)
    got = [item async for item in stream]
    assert got == [1, Gap("executions", 3), 5]
    with pytest.raises(ValueError):
        EventStream("x", 0)


async def test_stream_wakes_a_waiting_consumer() -> None:
    stream: EventStream[str] = EventStream("e", 4)
    waiter = asyncio.ensure_future(stream.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    stream.push("a")
    assert await asyncio.wait_for(waiter, 1) == "a"


async def test_two_readers_of_one_stream_both_progress() -> None:
    stream: EventStream[int] = EventStream("e", 8)
    first = asyncio.ensure_future(stream.get())
    second = asyncio.ensure_future(stream.get())
    await asyncio.sleep(0)
    stream.push(1)
    stream.push(2)
    assert sorted(await asyncio.wait_for(asyncio.gather(first, second), 1)) == [1, 2]


def test_req_ids_are_int32_wrap_and_skip_ids_in_use() -> None:
    ids = ReqIds(start=INT32_MAX - 1)
    assert ids.next() == INT32_MAX - 1
    assert ids.next() == INT32_MAX
    assert ids.next({1, 2}) == 3  # wrapped to 1, skipped 1 and 2
    with pytest.raises(ValueError):
        ReqIds(start=0)


async def test_pending_replies_collect_and_fail() -> None:
    pending = PendingReplies()
    one = pending.open("cancel_order", expected=2)
    assert one.req_id in pending and len(pending) == 1
    assert pending.resolve(one.req_id, "a")
    assert not one.future.done()
    assert pending.resolve(one.req_id, "b")
    assert await bounded(one.future) == ["a", "b"]
    assert not pending.resolve(one.req_id, "late")  # unknown id: not an error, just False
    two = pending.open("cancel_order", expected=3)
    pending.resolve(two.req_id, "refused", final=True)  # whole request refused: answered once
    assert await bounded(two.future) == ["refused"]
    three = pending.open("add_order", context=("cl-1",))
    assert pending.only("add_order") is three
    failed = pending.fail_all(lambda p: ConnectionError(p.method))
    assert [p.context for p in failed] == [("cl-1",)]
    with pytest.raises(ConnectionError, match="add_order"):
        await bounded(three.future)
    assert len(pending) == 0


@given(st.integers(0, 2**32 - 1), st.floats(0.1, 2), st.floats(2, 100),
       st.floats(0, 1))
def test_backoff_grows_is_capped_and_jittered(seed: int, initial: float, maximum: float,
                                              jitter: float) -> None:
    backoff = Backoff(initial=initial, maximum=max(maximum, initial), jitter=jitter,
                      rng=random.Random(seed))
    cap = max(maximum, initial)
    for attempt in range(1, 40):
        delay = backoff.next_delay()
        base = min(cap, initial * 2 ** (attempt - 1))
        assert base * (1 - jitter) - 1e-9 <= delay <= base + 1e-9
        assert backoff.attempt == attempt
    assert not backoff.exhausted  # unlimited by default
    backoff.reset()
    assert backoff.attempt == 0


def test_backoff_limits_and_settings() -> None:
    backoff = Backoff(max_attempts=2)
    backoff.next_delay()
    assert not backoff.exhausted
    backoff.next_delay()
    assert backoff.exhausted
    with pytest.raises(ValueError):
        Backoff(initial=0)
    with pytest.raises(ValueError):
        Backoff(jitter=2)


def test_watchdog_pings_once_then_declares_stale() -> None:
    dog = Watchdog(ping_after=5, stale_after=12, last_seen=100)
    assert dog.check(104) == "ok"
    assert dog.next_check(104) == pytest.approx(1)
    assert dog.check(105) == "ping"
    assert dog.check(106) == "ok"  # one ping per silence
    assert dog.next_check(106) == pytest.approx(6)
    dog.feed(107)  # the pong (or anything) arrived
    assert dog.check(111) == "ok"
    assert dog.check(112) == "ping"
    assert dog.check(119) == "stale"
    with pytest.raises(ValueError):
        Watchdog(ping_after=5, stale_after=5)


# --------------------------------------------------------------------------------------------
# end to end against the sandbox
# --------------------------------------------------------------------------------------------

FAR_BELOW = Decimal("1000.0")  # a BTC/USD bid that never fills


sb = quiet_sandbox
rest = sandbox_client


def socket_for(sb: Sandbox, **kw: Any) -> PrivateSocket:
    kw.setdefault("settings", FAST)
    kw.setdefault("url", sb.ws_auth_v2_url)
    return PrivateSocket(credentials=sb.credentials, rest_url=sb.rest_url, **kw)


def reports_of(order_id: str) -> Callable[[Any], bool]:
    return lambda item: isinstance(item, v2.ExecutionsFrame) and any(
        r.order_id == order_id for r in item.data)


async def test_happy_path_trade_amend_cancel(sb: Sandbox, rest: AsyncKrakenClient) -> None:
    ws = socket_for(sb)
    assert not ws.ready and ws.connections == 0  # constructing did no I/O
    async with ws:
        assert ws.ready
        events = ws.events()
        assert isinstance(await until(events, lambda e: True), Connecting)
        await until(events, lambda e: isinstance(e, Authenticated))
        subscribed = [await until(events, lambda e: isinstance(e, Subscribed))
                      for _ in range(2)]
        assert {s.channel for s in subscribed} == {"executions", "balances"}
        snap = await until(ws.executions(), lambda f: isinstance(f, v2.ExecutionsFrame))
        assert snap.type == "snapshot" and snap.data == []
        bal = await until(ws.balances(), lambda f: isinstance(f, v2.BalancesSnapshotFrame))
        assert {b.asset for b in bal.data} >= {"USD", "BTC"}
        assert ws.account_balances["USD"] == Decimal(100000)

        result = await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                                    order_qty="0.01", limit_price=FAR_BELOW)
        assert isinstance(result, v2.AddOrderResult)
        oid = str(result.order_id)
        assert isinstance(result.cl_ord_id, str) and len(result.cl_ord_id) == 36
        await until(ws.executions(), reports_of(oid))
        await until_true(lambda: oid in ws.open_orders
                         and ws.open_orders[oid].order_status == "new")
        view = ws.open_orders[oid]
        assert view.symbol == "BTC/USD" and view.side == "buy"
        assert view.order_qty == Decimal("0.01") and view.limit_price == FAR_BELOW
        assert ws.open_orders.by_cl_ord_id(result.cl_ord_id) == view
        await assert_view_matches_rest(ws, rest)

        amended = await ws.amend_order(cl_ord_id=result.cl_ord_id, order_qty="0.02",
                                       limit_price="1001.0")
        assert amended.amend_id
        await until_true(lambda: ws.open_orders[oid].order_qty == Decimal("0.02"))
        assert ws.open_orders[oid].limit_price == Decimal("1001.0")
        await assert_view_matches_rest(ws, rest)

        cancelled = await ws.cancel_order(oid)
        assert [c.order_id for c in cancelled] == [oid]
        await until_true(lambda: oid not in ws.open_orders)
        closed = ws.open_orders.closed(oid)
        assert closed is not None and closed.status == "canceled"
        await assert_view_matches_rest(ws, rest)
        assert ws.sequence_gaps == 0
    assert not ws.ready


async def test_trading_methods_return_typed_results(sb: Sandbox,
                                                    rest: AsyncKrakenClient) -> None:
    async with socket_for(sb) as ws:
        batch = await ws.batch_add([
            {"order_type": "limit", "side": "buy", "order_qty": "0.01", "limit_price": "1000"},
            {"order_type": "limit", "side": "buy", "order_qty": "0.02", "limit_price": "1100"},
        ], symbol="BTC/USD")
        assert len(batch) == 2 and all(isinstance(r, v2.AddOrderResult) for r in batch)
        ids = [str(r.order_id) for r in batch]
        await until_true(lambda: ws.open_orders.ids() == set(ids))
        assert all(ws.open_orders[i].cl_ord_id for i in ids)  # filled in by the client

        edited = await ws.edit_order(order_id=ids[0], symbol="BTC/USD", order_qty="0.03")
        assert edited.original_order_id == ids[0] and edited.order_id != ids[0]
        await until_true(lambda: ws.open_orders.ids() == {edited.order_id, ids[1]})

        two = await ws.cancel_order([edited.order_id, ids[1]])
        assert sorted(str(c.order_id) for c in two) == sorted([edited.order_id, ids[1]])
        await until_true(lambda: len(ws.open_orders) == 0)

        more = await ws.batch_add([
            {"order_type": "limit", "side": "buy", "order_qty": "0.01", "limit_price": "1000",
             "cl_ord_id": "mine-1"},
            {"order_type": "limit", "side": "buy", "order_qty": "0.01", "limit_price": "1000",
             "cl_ord_id": "mine-2"},
        ], symbol="BTC/USD")
        assert [r.cl_ord_id for r in more] == ["mine-1", "mine-2"]
        counted = await ws.batch_cancel(cl_ord_id=["mine-1", "mine-2"])
        assert counted.count == 2

        await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                           order_qty="0.01", limit_price="1000")
        assert (await ws.cancel_all()).count == 1
        armed = await ws.cancel_all_orders_after(60)
        assert armed.triggerTime != "0" and armed.currentTime
        disarmed = await ws.cancel_all_orders_after(0)
        assert isinstance(disarmed, v2.CancelAfterResult)
        await until_true(lambda: len(ws.open_orders) == 0)
        await assert_view_matches_rest(ws, rest)


async def test_the_connection_opens_on_first_use(sb: Sandbox) -> None:
    ws = socket_for(sb)
    try:
        result = await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                                    order_qty="0.01", limit_price="1000")
        assert ws.connections == 1 and result.order_id
    finally:
        await ws.close()


async def test_refusals_are_typed_errors_and_bad_arguments_are_not_sent(sb: Sandbox) -> None:
    async with socket_for(sb) as ws:
        with pytest.raises(InsufficientFunds) as funds:
            await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                               order_qty="1000", limit_price="60000")
        assert funds.value.error == "EOrder:Insufficient funds"
        assert funds.value.method == "add_order"
        with pytest.raises(UnknownOrder):
            await ws.cancel_order("OAAAAA-BBBBB-CCCCCC")
        with pytest.raises(UnknownAssetPair):
            await ws.add_order(symbol="XBT/USD", side="buy", order_type="limit",
                               order_qty="0.01", limit_price="1000")
        with pytest.raises(TypeError, match="float"):
            await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                               order_qty=0.01, limit_price="1000")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="cl_ord_id"):
            await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                               order_qty="0.01", limit_price="1000", order_userref=5)
        assert len(ws.open_orders) == 0  # nothing slipped through


async def test_rest_orders_show_in_the_view(sb: Sandbox, rest: AsyncKrakenClient) -> None:
    async with socket_for(sb) as ws:
        placed = await rest.add_order("XBTUSD", "buy", "limit", "0.01", price="1000",
                                      cl_ord_id="from-rest")
        txid = placed.txid
        await until_true(lambda: ws.open_orders.by_cl_ord_id("from-rest") is not None)
        assert ws.open_orders.by_cl_ord_id("from-rest").order_id == txid  # type: ignore[union-attr]
        await assert_view_matches_rest(ws, rest)


async def test_slow_reader_gets_a_gap_but_the_view_stays_right(sb: Sandbox,
                                                               rest: AsyncKrakenClient) -> None:
    async with socket_for(sb, queue_size=2) as ws:
        for i in range(4):
            await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                               order_qty="0.01", limit_price=str(1000 + i))
        await until_true(lambda: len(ws.open_orders) == 4)
        await until_true(lambda: ws._executions.missed > 0)
        items = [await anext(ws.executions()) for _ in range(3)]
        gaps = [i for i in items if isinstance(i, Gap)]
        assert gaps and gaps[0].stream == "executions" and gaps[0].missed > 0
        await assert_view_matches_rest(ws, rest)


async def test_a_high_trading_rate_counter_is_a_warning_event(sb: Sandbox) -> None:
    async with socket_for(sb, rate_warning_fraction=0.04) as ws:
        assert isinstance(ws.max_rate_count, int) and ws.max_rate_count > 0
        placed = await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                                    order_qty="0.01", limit_price="1000")
        await ws.cancel_order(str(placed.order_id))  # cancelling a young order costs most
        warning = await until(ws.events(), lambda e: isinstance(e, RateLimitWarning))
        assert warning.maximum == ws.max_rate_count
        assert warning.count is not None and warning.count >= 0.04 * ws.max_rate_count
        assert ws.rate_count is not None and float(ws.rate_count) == warning.count


# --- faults ---------------------------------------------------------------------------------


async def test_drop_midstream_reconnects_and_resyncs_the_view(
        sb: Sandbox, rest: AsyncKrakenClient) -> None:
    async with socket_for(sb) as ws:
        await until(ws.executions(), lambda f: isinstance(f, v2.ExecutionsFrame))
        sb.core.faults.ws_drop_midstream = True  # the next executions frame is lost
        await rest.add_order("XBTUSD", "buy", "limit", "0.01", price="1000",
                             cl_ord_id="while-away")
        await assert_resynced_after_a_drop(ws, rest, ws.executions(), "while-away")
        # and the session works on the new socket
        await ws.cancel_all()
        await until_true(lambda: len(ws.open_orders) == 0)
        await assert_view_matches_rest(ws, rest)


async def test_drop_before_reply_is_outcome_unknown_then_reconciled(
        sb: Sandbox, rest: AsyncKrakenClient) -> None:
    async with socket_for(sb) as ws:
        sb.core.faults.ws_drop_before_reply = True
        with pytest.raises(OrderOutcomeUnknown) as unknown:
            await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                               order_qty="0.01", limit_price="1000", cl_ord_id="maybe")
        assert unknown.value.cl_ord_id == "maybe" and unknown.value.method == "add_order"
        await assert_lost_reply_reconciled(ws, rest, "maybe")


async def test_a_market_order_lost_before_its_reply_is_found_closed(
        sb: Sandbox, rest: AsyncKrakenClient) -> None:
    seller = sb.create_key(sb.create_account({"XXBT": "1"}))
    async with AsyncKrakenClient(seller, base_url=sb.rest_url, rate_limit=None) as other:
        await other.add_order("XBTUSD", "sell", "limit", "0.5", price="50000")
    async with socket_for(sb) as ws:
        sb.core.faults.ws_drop_before_reply = True
        with pytest.raises(OrderOutcomeUnknown):
            await ws.add_order(symbol="BTC/USD", side="buy", order_type="market",
                               order_qty="0.01", cl_ord_id="gone-fast")
        found = await ws.reconcile("gone-fast")
        assert found.status == "closed"  # it filled at once: not open, but it exists
        closed = await rest.closed_orders()
        assert [o.cl_ord_id for o in closed.values()].count("gone-fast") == 1
        await assert_view_matches_rest(ws, rest)


async def test_invalidated_tokens_refresh_on_the_same_socket(sb: Sandbox,
                                                             rest: AsyncKrakenClient) -> None:
    provider = TokenProvider(rest)
    async with PrivateSocket(token_provider=provider, url=sb.ws_auth_v2_url,
                             settings=FAST) as ws:
        first = provider.current
        assert first is not None
        assert sb.core.gate.invalidate_tokens() >= 1
        await assert_token_refreshed_in_place(ws, provider, first)
        result = await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                                    order_qty="0.01", limit_price="1000")
        await until_true(lambda: str(result.order_id) in ws.open_orders)
        await assert_view_matches_rest(ws, rest)


async def test_no_heartbeats_the_watchdog_pings_and_the_session_lives(
        sb: Sandbox, rest: AsyncKrakenClient) -> None:
    sb.core.faults.ws_no_heartbeat = True
    quick = ConnectionSettings(ping_after=0.05, stale_after=5.0, backoff_initial=0.05,
                               backoff_max=0.2)
    async with socket_for(sb, settings=quick) as ws:
        # pings go out every ping_after of silence (~0.15 s for three), not once per
        # stale_after (which would take ~10 s)
        await until_true(lambda: ws.pongs >= 3, timeout=2.5)
        assert ws.connections == 1
        await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                           order_qty="0.01", limit_price="1000")
        await until_true(lambda: len(ws.open_orders) == 1)
        await assert_view_matches_rest(ws, rest)


async def test_dead_man_switch_is_kept_armed_and_disarmed_on_close(sb: Sandbox) -> None:
    account = sb.core.exchange.account(sb.demo_account)
    async with socket_for(sb) as ws:
        ws.enable_dead_man_switch(60, every=0.05)
        await until_true(lambda: ws.dead_man_switch_armed)
        first = account.cancel_all_at
        assert first is not None
        with pytest.raises(ValueError):
            ws.enable_dead_man_switch(60, every=60)
    assert account.cancel_all_at is None and not ws.dead_man_switch_armed


async def test_dead_man_switch_stays_armed_when_the_program_fails(sb: Sandbox) -> None:
    account = sb.core.exchange.account(sb.demo_account)
    with pytest.raises(RuntimeError, match="bot crashed"):
        async with socket_for(sb) as ws:
            ws.enable_dead_man_switch(60, every=0.05)
            await until_true(lambda: ws.dead_man_switch_armed)
            raise RuntimeError("bot crashed")
    assert account.cancel_all_at is not None  # left armed: Kraken cancels the orders


async def test_connect_to_nothing_fails_in_time() -> None:
    with socket.socket() as probe:  # a free port that nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ws = PrivateSocket(token_provider=TokenProvider(object()),
                       url=f"ws://127.0.0.1:{port}/ws-auth/v2", settings=FAST)
    with pytest.raises(TransportError, match="could not open"):
        await ws.connect(timeout=0.5)
    with pytest.raises(TransportError):  # a closed session refuses at once
        await ws.cancel_all()


# --- a server that goes quiet (a fault the sandbox has no switch for) ------------------------




def subscribe_ack(req: dict[str, Any]) -> bytes:
    """A fake server's success reply to the v2 ``subscribe`` request ``req``."""
    return v2.encode({"method": "subscribe", "req_id": req["req_id"], "success": True,
                      "result": {"channel": req["params"]["channel"]}})


@pytest.fixture
async def quiet_server() -> AsyncIterator[tuple[str, list[int]]]:
    """Acknowledges subscriptions, then answers nothing (no heartbeat, no pong, no reply)."""
    connections: list[int] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connections.append(1)
        async for msg in ws:
            req = v2.decode_any(msg.data)
            if req.get("method") == "subscribe":
                await ws.send_bytes(subscribe_ack(req))
        return ws

    async with serving("/v2", handler) as url:
        yield url, connections


async def test_a_silent_connection_is_dropped_by_the_watchdog(
        quiet_server: tuple[str, list[int]]) -> None:
    url, connections = quiet_server
    dog = ConnectionSettings(ping_after=0.05, stale_after=0.3, backoff_initial=0.05,
                             backoff_max=0.1)
    async with PrivateSocket(token_provider=TokenProvider(StaticTokens()), url=url,
                             settings=dog) as ws:
        rec = await until(ws.events(), lambda e: isinstance(e, Reconnecting))
        assert "no data, heartbeat or pong" in rec.reason
        await until(ws.events(), lambda e: isinstance(e, Subscribed) and e.resubscribed)
        assert len(connections) >= 2


async def test_every_await_ends_even_when_replies_never_come(
        quiet_server: tuple[str, list[int]]) -> None:
    url, _ = quiet_server
    async with PrivateSocket(token_provider=TokenProvider(StaticTokens()), url=url,
                             settings=FAST) as ws:
        with pytest.raises(OrderOutcomeUnknown) as unknown:
            await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                               order_qty="0.01", limit_price="1000", reply_timeout=0.2)
        assert unknown.value.cl_ord_id  # generated, reported
        event = await until(ws.events(), lambda e: isinstance(e, OrderOutcomeUnknownEvent))
        assert event.cl_ord_id == unknown.value.cl_ord_id and "no reply" in event.reason
        with pytest.raises(TransportError, match="no reply"):
            await ws.cancel_all(reply_timeout=0.2)
        assert len(ws._pending) == 0  # nothing left waiting


# --- secrets ------------------------------------------------------------------------------


async def test_no_token_or_secret_in_logs_reprs_events_or_errors(
        sb: Sandbox, rest: AsyncKrakenClient, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    provider = RecordingProvider(rest)
    shown: list[str] = []
    async with PrivateSocket(token_provider=provider, url=sb.ws_auth_v2_url,
                             settings=FAST) as ws:
        sb.core.gate.invalidate_tokens()
        await until(ws.events(), lambda e: isinstance(e, Subscribed) and e.resubscribed)
        sb.core.faults.ws_drop_before_reply = True
        with pytest.raises(OrderOutcomeUnknown) as unknown:
            await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                               order_qty="0.01", limit_price="1000")
        shown += [str(unknown.value), repr(unknown.value), str(unknown.value.cause)]
        await ws.reconcile(unknown.value.cl_ord_id)
        shown += [repr(ws), repr(ws.open_orders), repr(provider.current)]
    shown += [repr(e) for e in [e async for e in ws.events()]]
    text = caplog.text + "\n".join(shown)
    assert "reconnecting" in caplog.text.lower()  # the log did record the story
    assert_no_secret_in(text, provider, sb)


# --- more faults: timeouts, refusals, restarts, unreadable frames, flapping, bursts --------


async def test_reply_timeout_on_a_live_socket_is_reconciled_from_a_fresh_snapshot(
        sb: Sandbox, rest: AsyncKrakenClient) -> None:
    async with socket_for(sb) as ws:
        with pytest.raises(OrderOutcomeUnknown):  # sent, but we stopped waiting at once
            await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                               order_qty="0.01", limit_price="1000", cl_ord_id="impatient",
                               reply_timeout=0)
        found = await ws.reconcile("impatient")
        assert found.status == "open" and found.order is not None
        assert ws.connections == 1 and ws.open_orders.snapshots == 2  # a new snapshot, same socket
        await assert_view_matches_rest(ws, rest)


async def test_first_connect_reports_a_refusal_instead_of_retrying(sb: Sandbox) -> None:
    from krakenwire.errors import WrongEndpoint

    public = sb.ws_auth_v2_url.replace("/ws-auth/v2", "/ws/v2")  # private channels refused here
    ws = socket_for(sb, url=public)
    with pytest.raises(WrongEndpoint, match=r"Try ws-auth\.kraken\.com"):
        await ws.connect(timeout=5)
    assert ws.connections == 1  # told at once, not after a storm of reconnects


async def test_reports_before_the_ack_are_handled_the_same(sb: Sandbox,
                                                           rest: AsyncKrakenClient) -> None:
    sb.core.faults.ws_ack_after_events = True  # the other interleaving (§6.7)
    async with socket_for(sb) as ws:
        result = await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                                    order_qty="0.01", limit_price="1000")
        # the reports came first, so the view already has the order when the ack returns
        assert str(result.order_id) in ws.open_orders
        assert ws.open_orders[str(result.order_id)].cl_ord_id == result.cl_ord_id
        await ws.cancel_order(str(result.order_id))
        assert str(result.order_id) not in ws.open_orders
        await assert_view_matches_rest(ws, rest)


async def test_server_restart_backs_off_then_resumes_with_the_same_orders(tmp_path: Any) -> None:
    db = str(tmp_path / "sandbox.db")
    first = Sandbox(settings=Settings(db_path=db, market=False))
    await first.start()
    port, creds, rest_url = first.port, first.credentials, first.rest_url
    # the first reconnect waits >= 0.25 s: time enough for the old server to go away
    slow = ConnectionSettings(backoff_initial=0.5, backoff_max=1.0)
    ws = PrivateSocket(credentials=creds, rest_url=rest_url, url=first.ws_auth_v2_url,
                       settings=slow)
    try:
        await ws.connect()
        placed = await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                                    order_qty="0.01", limit_price="1000")
        # the sandbox's stop() waits for open WebSocket handlers to end (aiohttp shutdown
        # does not close them), so our socket goes first; the server is gone from then on
        ws.drop_connection("server going away")
        await until(ws.events(), lambda e: isinstance(e, Reconnecting))
        await asyncio.wait_for(first.stop(), 10)
        delays = []
        for attempt in (2, 3):  # attempts against a closed port, backing off
            rec = await until(ws.events(), lambda e: isinstance(e, Reconnecting))
            assert rec.attempt == attempt and "connect failed" in rec.reason
            delays.append(rec.delay)
        assert 0.5 <= delays[0] <= 1.0 and delays[1] <= 1.0  # doubled, then capped
        with pytest.raises(TransportError, match="not connected"):
            await ws.cancel_all(reply_timeout=0.2)  # ends, and was not sent
        second = Sandbox(settings=Settings(db_path=db, port=port, market=False))
        await second.start()
        try:
            await until(ws.events(), lambda e: isinstance(e, Subscribed) and e.resubscribed,
                        timeout=10)
            await until_true(lambda: ws.ready)
            assert str(placed.order_id) in ws.open_orders  # durable, and in the new snapshot
            async with AsyncKrakenClient(creds, base_url=rest_url, rate_limit=None) as rest:
                await assert_view_matches_rest(ws, rest)
        finally:
            await ws.close()
            await second.stop()
    finally:
        await ws.close()
        await first.stop()


@pytest.fixture
async def garbling_server() -> AsyncIterator[str]:
    """Like Kraken, but the first executions update it sends is unreadable (a number field
    holding text); every executions snapshot lists the orders subscribed so far."""
    subscriptions = 0

    async def handler(request: web.Request) -> web.WebSocketResponse:
        nonlocal subscriptions
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        async for msg in ws:
            req = v2.decode_any(msg.data)
            method, rid = req.get("method"), req.get("req_id")
            channel = (req.get("params") or {}).get("channel")
            reply = {"method": method, "req_id": rid, "success": True,
                     "result": {"channel": channel}}
            await ws.send_bytes(v2.encode(reply))
            if method == "subscribe" and channel == "executions":
                subscriptions += 1
                orders = [{"order_id": f"OSNAP{i}-AAAAA-BBBBBB", "exec_type": "new",
                           "order_status": "new", "symbol": "BTC/USD", "side": "buy",
                           "order_qty": Decimal("0.01"), "limit_price": Decimal(1000 + i)}
                          for i in range(subscriptions)]
                await ws.send_bytes(v2.encode({"channel": "executions", "type": "snapshot",
                                               "data": orders, "sequence": 1}))
                if subscriptions == 1:
                    await ws.send_bytes(
                        b'{"channel":"executions","type":"update","sequence":2,"data":'
                        b'[{"order_id":"OSNAP0-AAAAA-BBBBBB","exec_type":"trade",'
                        b'"order_status":"filled","cum_qty":"garbled"}]}')
        return ws

    async with serving("/v2", handler) as url:
        yield url


async def test_an_unreadable_execution_report_brings_a_fresh_snapshot(
        garbling_server: str) -> None:
    async with PrivateSocket(token_provider=TokenProvider(StaticTokens()),
                             url=garbling_server, channels=("executions",),
                             settings=FAST) as ws:
        await until_true(lambda: ws.open_orders.snapshots == 2)
        assert ws.open_orders.ids() == {"OSNAP0-AAAAA-BBBBBB", "OSNAP1-AAAAA-BBBBBB"}
        resync = await until(ws.executions(), lambda f: isinstance(f, OrdersResync))
        assert [o.order_id for o in resync.appeared] == ["OSNAP1-AAAAA-BBBBBB"]
        assert ws.connections == 1


async def test_giving_up_ends_the_streams_and_says_why() -> None:
    from krakenwire.ws.events import Closed

    sandbox = Sandbox(settings=Settings(market=False))
    await sandbox.start()
    limited = ConnectionSettings(backoff_initial=0.5, backoff_max=0.5, max_attempts=2)
    ws = socket_for(sandbox, settings=limited)
    try:
        await ws.connect()
        ws.drop_connection("server going away")
        await until(ws.events(), lambda e: isinstance(e, Reconnecting))
        await asyncio.wait_for(sandbox.stop(), 10)
        closed = await until(ws.events(), lambda e: isinstance(e, Closed), timeout=10)
        assert closed.reason == "stopped: NotConnectedError"
        assert [item async for item in ws.executions()  # ends instead of waiting forever
                if isinstance(item, OrdersResync)] == []
        with pytest.raises(TransportError, match="not connected"):
            await ws.cancel_all(reply_timeout=1)
    finally:
        await ws.close()
        await sandbox.stop()


async def test_a_cancelled_add_order_is_reported_as_outcome_unknown(
        quiet_server: tuple[str, list[int]]) -> None:
    url, _ = quiet_server
    async with PrivateSocket(token_provider=TokenProvider(StaticTokens()), url=url,
                             settings=FAST) as ws:
        task = asyncio.ensure_future(ws.add_order(
            symbol="BTC/USD", side="buy", order_type="limit", order_qty="0.01",
            limit_price="1000", cl_ord_id="abandoned"))
        await until_true(lambda: len(ws._pending) == 1)  # sent, waiting for the reply
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        event = await until(ws.events(), lambda e: isinstance(e, OrderOutcomeUnknownEvent))
        assert event.cl_ord_id == "abandoned" and len(ws._pending) == 0


@pytest.fixture
async def flapping_server() -> AsyncIterator[str]:
    """Acknowledges the subscriptions, then hangs up at once."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        acked = 0
        async for msg in ws:
            req = v2.decode_any(msg.data)
            if req.get("method") == "subscribe":
                await ws.send_bytes(subscribe_ack(req))
                acked += 1
                if acked == 2:
                    await ws.close()
        return ws

    async with serving("/v2", handler) as url:
        yield url


async def test_connections_that_keep_dropping_keep_backing_off(flapping_server: str) -> None:
    flappy = ConnectionSettings(backoff_initial=0.02, backoff_max=5.0, healthy_after=10.0)
    async with PrivateSocket(token_provider=TokenProvider(StaticTokens()),
                             url=flapping_server, settings=flappy) as ws:
        seen = [await until(ws.events(), lambda e: isinstance(e, Reconnecting))
                for _ in range(4)]
        # each connection worked (subscribed) but not for long: no reset to short delays
        assert [r.attempt for r in seen] == [1, 2, 3, 4]
        for r in seen:
            base = 0.02 * 2 ** (r.attempt - 1)
            assert base * 0.5 - 1e-9 <= r.delay <= base + 1e-9
        assert ws.connections >= 4


async def test_many_orders_in_flight_when_the_socket_drops(sb: Sandbox) -> None:
    """100 concurrent add_orders, the socket dropped under them: every await ends, each order
    is either acknowledged or of unknown outcome, reconcile tells which exist, none twice."""
    creds = sb.create_key(sb.create_account({"ZUSD": "1000000"}), tier="unlimited")
    # reconcile asks REST about orders it cannot see: no client-side REST limiter here
    async with AsyncKrakenClient(creds, base_url=sb.rest_url, rate_limit=None) as rest, \
            PrivateSocket(token_provider=TokenProvider(rest), url=sb.ws_auth_v2_url,
                          settings=FAST) as ws:
        ids = [f"burst-{i}" for i in range(100)]

        async def place(cl: str) -> str:
            if cl == "burst-50":
                sb.core.faults.ws_drop_before_reply = True  # the next add_order loses its reply
            try:
                await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                                   order_qty="0.001", limit_price="1000", cl_ord_id=cl)
            except OrderOutcomeUnknown:
                return "unknown"
            except TransportError:
                return "not sent"
            return "acked"

        outcomes = dict(zip(ids, await asyncio.gather(*(place(cl) for cl in ids)),
                            strict=True))
        assert "unknown" in outcomes.values()
        exists = {cl for cl, o in outcomes.items() if o == "acked"}
        for cl, outcome in outcomes.items():
            if outcome == "unknown":
                found = await ws.reconcile(cl)
                assert found.status in ("open", "not_found")
                if found.status == "open":
                    exists.add(cl)
        remote = [o.cl_ord_id for o in (await rest.open_orders()).values()]
        assert sorted(remote) == sorted(exists)  # each order at most once, and all accounted
        await assert_view_matches_rest(ws, rest)
