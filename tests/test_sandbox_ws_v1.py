"""The sandbox's WebSocket API v1 endpoints (``/ws-auth``, ``/ws``) and the v1 codec.

End to end: a raw ``websockets`` connection to the in-process sandbox sends Kraken's documented
v1 messages and compares the replies byte for byte (kraken-protocol.md §5); orders placed over
v1, v2 and REST are the same orders and show on every feed. Pure: the codec's number
formatting, request parsing and message decoding, with Kraken's recorded frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
import websockets
from hypothesis import given
from hypothesis import strategies as st

from helpers import SignedRest, bounded, signed_rest, ws_open
from krakenwire.protocol import v1
from krakenwire.sandbox import Sandbox

pytestmark = pytest.mark.timeout(60)

HEARTBEAT = '{"event":"heartbeat"}'


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    async with Sandbox(manual_clock=True, seed=3) as sandbox:
        yield sandbox


rest = signed_rest


class Conn:
    """A raw websockets connection that skips heartbeats when reading."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self, timeout: float = 5.0) -> str:
        while True:
            text = await asyncio.wait_for(self.ws.recv(), timeout)
            assert isinstance(text, str)
            if text != HEARTBEAT:
                return text

    async def recv_json(self, timeout: float = 5.0) -> Any:
        return json.loads(await self.recv(timeout))

    async def until(self, pred: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        """Read (and drop) frames until one satisfies ``pred``; return it."""
        async def scan() -> Any:
            while True:
                msg = json.loads(await self.recv(timeout))
                if pred(msg):
                    return msg
        return await asyncio.wait_for(scan(), timeout)


@contextlib.asynccontextmanager
async def opened(url: str) -> AsyncIterator[Conn]:
    """``async with opened(url) as conn``: a raw websockets connection wrapped in Conn."""
    async with ws_open(url) as ws:
        yield Conn(ws)


async def subscribed(conn: Conn, name: str, token: str, **options: Any) -> Any:
    """Subscribe, check the ack, return the snapshot frame (parsed)."""
    await conn.send({"event": "subscribe", "subscription": {"name": name, "token": token,
                                                            **options}})
    ack = await conn.recv_json()
    assert ack["status"] == "subscribed" and ack["channelName"] == name, ack
    return await conn.recv_json()


def t6(seconds: float) -> str:
    return f"{seconds:.6f}"


def is_channel(name: str) -> Callable[[Any], bool]:
    return lambda m: isinstance(m, list) and m[-2] == name


# --------------------------------------------------------------------------------------------
# connection basics
# --------------------------------------------------------------------------------------------


async def test_greeting_ping_and_heartbeat(sb: Sandbox, rest: SignedRest) -> None:
    token = await rest.token()
    async with ws_open(sb.ws_auth_v1_url) as ws:
        greeting = await bounded(ws.recv())
        status = v1.parse_message(greeting)
        assert isinstance(status, v1.SystemStatus)
        assert 0 <= status.connection_id < 2**64
        assert greeting == (f'{{"connectionID":{status.connection_id},"event":"systemStatus",'
                            f'"status":"online","version":"1.9.1"}}')
        await ws.send('{"event":"ping","reqid":42}')
        assert await bounded(ws.recv()) == '{"event":"pong","reqid":42}'
        await ws.send('{"event":"ping"}')
        assert await bounded(ws.recv()) == '{"event":"pong"}'
        # not JSON / unknown event
        await ws.send("hello")
        assert await bounded(ws.recv()) == '{"errorMessage":"Malformed request","event":"error"}'
        await ws.send('{"event":"shout"}')
        assert await bounded(ws.recv()) == '{"errorMessage":"Unsupported event","event":"error"}'
        # once subscribed, a quiet connection gets heartbeats (~1 s of real time)
        await ws.send(json.dumps({"event": "subscribe",
                                  "subscription": {"name": "openOrders", "token": token}}))
        await bounded(ws.recv())  # ack
        await bounded(ws.recv())  # snapshot
        assert await asyncio.wait_for(ws.recv(), 5) == HEARTBEAT


async def test_engine_status_change_is_announced(sb: Sandbox, rest: SignedRest) -> None:
    token = await rest.token()
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        sb.core.faults.system_status = "cancel_only"
        msg = await conn.until(lambda m: isinstance(m, dict)
                               and m.get("event") == "systemStatus")
        assert msg["status"] == "cancel_only"
        await conn.send({"event": "addOrder", "token": token, "ordertype": "limit",
                         "type": "buy", "pair": "XBT/USD", "price": "30000", "volume": "0.01"})
        assert await conn.recv() == ('{"errorMessage":"EService:Market in cancel_only mode",'
                                     '"event":"addOrderStatus","status":"error"}')


# --------------------------------------------------------------------------------------------
# Kraken's documented lifecycle, byte for byte
# --------------------------------------------------------------------------------------------


async def test_documented_open_orders_lifecycle_byte_for_byte(sb: Sandbox,
                                                              rest: SignedRest) -> None:
    token = await rest.token()
    now = sb.clock.now()
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()  # systemStatus
        await conn.send({"event": "subscribe", "reqid": 1,
                         "subscription": {"name": "openOrders", "token": token}})
        demo_key = sb.core.demo_key
        assert demo_key is not None
        maxrate = int(sb.core.gate.max_rate_count(demo_key))  # the tier's threshold
        assert await conn.recv() == (
            '{"channelName":"openOrders","event":"subscriptionStatus","reqid":1,'
            f'"status":"subscribed","subscription":{{"maxratecount":{maxrate},'
            '"name":"openOrders"}}')
        assert await conn.recv() == '[[],"openOrders",{"sequence":1}]'

        await conn.send({"event": "addOrder", "ordertype": "limit", "pair": "XBT/USD",
                         "price": "30000", "token": token, "type": "buy", "volume": "0.0125",
                         "reqid": 7})
        pending = await conn.recv()
        txid = next(iter(json.loads(pending)[0][0]))
        assert pending == (
            f'[[{{"{txid}":{{"avg_price":"0.00000","cost":"0.00000","descr":{{"close":null,'
            f'"leverage":null,"order":"buy 0.01250000 XBT/USD @ limit 30000.00000",'
            f'"ordertype":"limit","pair":"XBT/USD","price":"30000.00000","price2":"0.00000",'
            f'"type":"buy"}},"expiretm":null,"fee":"0.00000","limitprice":"0.00000","misc":"",'
            f'"oflags":"fciq","opentm":"{t6(now)}","refid":null,"starttm":null,'
            f'"status":"pending","stopprice":"0.00000","timeinforce":"GTC","userref":0,'
            f'"vol":"0.01250000","vol_exec":"0.00000000"}}}}],"openOrders",{{"sequence":2}}]')
        assert await conn.recv() == (
            f'{{"descr":"buy 0.01250000 XBTUSD @ limit 30000","event":"addOrderStatus",'
            f'"reqid":7,"status":"ok","txid":"{txid}"}}')
        assert await conn.recv() == (
            f'[[{{"{txid}":{{"status":"open","userref":0}}}}],"openOrders",{{"sequence":3}}]')

        await sb.advance(7)
        await conn.send({"event": "cancelOrder", "token": token, "txid": [txid]})
        assert await conn.recv() == '{"event":"cancelOrderStatus","status":"ok"}'
        assert await conn.recv() == (
            f'[[{{"{txid}":{{"lastupdated":"{t6(now + 7)}","status":"canceled",'
            f'"vol_exec":"0.00000000","cost":"0.00000","fee":"0.00000","avg_price":"0.00000",'
            f'"userref":0,"cancel_reason":"User requested"}}}}],"openOrders",{{"sequence":4}}]')

        await conn.send({"event": "unsubscribe",
                         "subscription": {"name": "openOrders", "token": token}})
        assert await conn.recv() == (
            '{"channelName":"openOrders","event":"subscriptionStatus",'
            '"status":"unsubscribed","subscription":{"name":"openOrders"}}')
        await conn.send({"event": "unsubscribe",
                         "subscription": {"name": "openOrders", "token": token}})
        assert await conn.recv() == (
            '{"errorMessage":"Subscription Not Found","event":"subscriptionStatus",'
            f'"status":"error","subscription":{{"name":"openOrders","token":"{token}"}}}}')


async def test_market_order_fills_on_open_orders_and_own_trades(sb: Sandbox,
                                                                rest: SignedRest) -> None:
    token = await rest.token()
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        await subscribed(conn, "openOrders", token, ratecounter=True)
        assert await subscribed(conn, "ownTrades", token) == [[], "ownTrades", {"sequence": 1}]
        await conn.send({"event": "addOrder", "token": token, "ordertype": "market",
                         "type": "buy", "pair": "XBT/USD", "volume": "0.02",
                         "userref": "99"})
        frames = []
        while True:
            msg = await conn.recv_json()
            frames.append(msg)
            if is_channel("ownTrades")(msg):
                break
        kinds = [m.get("event") if isinstance(m, dict) else m[-2] for m in frames]
        assert kinds[:3] == ["openOrders", "addOrderStatus", "openOrders"]
        pending = frames[0][0][0]
        (txid, entry), = pending.items()
        assert entry["status"] == "pending" and entry["userref"] == 99
        assert entry["ratecount"] == 1
        assert frames[1]["txid"] == txid
        orders = [m[0][0][txid] for m in frames if is_channel("openOrders")(m)]
        fills = [o for o in orders if "vol_exec" in o and "status" not in o]
        closed = [o for o in orders if o.get("status") == "closed"]
        assert fills and closed
        assert list(closed[-1]) == ["lastupdated", "status", "vol_exec", "cost", "fee",
                                    "avg_price", "userref", "ratecount"]
        assert closed[-1]["vol_exec"] == "0.02000000"
        (trade_id, trade), = frames[-1][0][0].items()
        assert trade_id.startswith("T") and trade["ordertxid"] == txid
        assert list(trade) == ["cost", "fee", "margin", "ordertxid", "ordertype", "pair",
                               "postxid", "price", "time", "type", "vol"]
        assert trade["pair"] == "XBT/USD" and trade["vol"] == "0.02000000"
        assert Decimal(trade["cost"]) == Decimal(closed[-1]["cost"])
        # sequences count per subscription
        seqs = [m[-1]["sequence"] for m in frames if is_channel("openOrders")(m)]
        assert seqs == list(range(2, 2 + len(seqs)))
    # a new connection's ownTrades snapshot has the trade; snapshot=false has no snapshot
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        snap = await subscribed(conn, "ownTrades", token)
        assert [next(iter(e)) for e in snap[0]] == [trade_id]
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        await conn.send({"event": "subscribe", "subscription": {
            "name": "ownTrades", "token": token, "snapshot": False}})
        assert (await conn.recv_json())["status"] == "subscribed"
        await conn.send({"event": "ping", "reqid": 1})
        assert await conn.recv_json() == {"event": "pong", "reqid": 1}


async def test_ack_after_events_setting_reverses_the_order(sb: Sandbox, rest: SignedRest) -> None:
    token = await rest.token()
    sb.core.faults.ws_ack_after_events = True
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        await subscribed(conn, "openOrders", token)
        await conn.send({"event": "addOrder", "token": token, "ordertype": "limit",
                         "type": "sell", "pair": "XBT/USD", "price": "90000",
                         "volume": "0.01"})
        first, second, third = [await conn.recv_json() for _ in range(3)]
        (txid,) = first[0][0]
        assert first[0][0][txid]["status"] == "pending"
        assert second[0][0] == {txid: {"status": "open", "userref": 0}}
        assert third["event"] == "addOrderStatus" and third["txid"] == txid


# --------------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------------


async def test_bad_token_and_public_path_refusals(sb: Sandbox, rest: SignedRest) -> None:
    bogus = "nmc39wCfFqn0mirRrpHMFOu0xfq4VVghFy+UPzpVcJo"
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        await conn.send({"event": "subscribe",
                         "subscription": {"name": "openOrders", "token": bogus}})
        assert await conn.recv() == (
            '{"errorMessage":"ESession:Invalid session","event":"subscriptionStatus",'
            f'"status":"error","subscription":{{"name":"openOrders","token":"{bogus}"}}}}')
        await conn.send({"event": "addOrder", "token": bogus, "ordertype": "limit",
                         "type": "buy", "pair": "XBT/USD", "price": "30000",
                         "volume": "0.01", "reqid": 5})
        assert await conn.recv() == ('{"errorMessage":"ESession:Invalid session",'
                                     '"event":"addOrderStatus","reqid":5,"status":"error"}')
        await conn.send({"event": "subscribe", "subscription": {"name": "ticker"},
                         "pair": ["XBT/USD"]})
        assert json.loads(await conn.recv())["errorMessage"] == (
            "Public market data subscriptions are unavailable on this endpoint. "
            "Try ws.kraken.com")
    token = await rest.token()
    async with opened(sb.ws_public_v1_url) as conn:
        greeting = await conn.recv_json()
        assert greeting["event"] == "systemStatus"
        await conn.send({"event": "subscribe",
                         "subscription": {"name": "ownTrades", "token": token}})
        assert await conn.recv() == (
            '{"errorMessage":"Private data and trading are unavailable on this endpoint. '
            'Try ws-auth.kraken.com","event":"subscriptionStatus","status":"error",'
            f'"subscription":{{"name":"ownTrades","token":"{token}"}}}}')
        await conn.send({"event": "cancelAll", "token": token})
        assert await conn.recv() == (
            '{"errorMessage":"Private data and trading are unavailable on this endpoint. '
            'Try ws-auth.kraken.com","event":"cancelAllStatus","status":"error"}')


async def test_order_validation_errors(sb: Sandbox, rest: SignedRest) -> None:
    token = await rest.token()
    base = {"event": "addOrder", "token": token, "type": "buy", "pair": "XBT/USD",
            "ordertype": "limit", "price": "30000", "volume": "0.01"}
    cases = [
        ({"volume": "0.000001"}, "EOrder:Order minimum not met"),
        ({"ordertype": "moon"}, "EGeneral:Invalid arguments:ordertype"),
        ({"pair": "DOGE/XYZ"}, "EQuery:Unknown asset pair"),
        ({"volume": "lots"}, "EGeneral:Invalid arguments:volume"),
        ({"volume": "1000"}, "EOrder:Insufficient funds"),
    ]
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        for i, (change, error) in enumerate(cases):
            await conn.send({**base, **change, "reqid": i})
            assert await conn.recv_json() == {"errorMessage": error, "event": "addOrderStatus",
                                              "reqid": i, "status": "error"}
        # a key without the trade permission
        acct = sb.create_account({"USD": "1000"})
        viewer = SignedRest(rest.session, sb, sb.create_key(acct, permissions=(
            "websocket", "query_orders", "query_funds")))
        vtoken = await viewer.token()
        await conn.send({**base, "token": vtoken})
        assert (await conn.recv_json())["errorMessage"] == "EGeneral:Permission denied"
        await conn.send({"event": "cancelOrder", "token": token,
                         "txid": ["OAAAAA-BBBBB-CCCCCC", "1234"]})
        for _ in range(2):
            assert await conn.recv() == ('{"errorMessage":"EOrder:Unknown order",'
                                         '"event":"cancelOrderStatus","status":"error"}')


# --------------------------------------------------------------------------------------------
# the other trading requests
# --------------------------------------------------------------------------------------------


async def test_amend_edit_cancel_all_and_dead_man_switch(sb: Sandbox, rest: SignedRest) -> None:
    token = await rest.token()
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        await subscribed(conn, "openOrders", token)
        ids = []
        for price, cl in (("30000", "a-1"), ("31000", None)):
            msg: dict[str, Any] = {"event": "addOrder", "token": token, "ordertype": "limit",
                                   "type": "buy", "pair": "XBT/USD", "price": price,
                                   "volume": "0.01"}
            if cl:
                msg["cl_ord_id"] = cl
            await conn.send(msg)
            ack = await conn.until(lambda m: isinstance(m, dict)
                                   and m.get("event") == "addOrderStatus")
            assert ack.get("cl_ord_id") == cl
            ids.append(ack["txid"])
        await conn.send({"event": "amendOrder", "token": token, "cl_ord_id": "a-1",
                         "limit_price": "30500", "reqid": 11})
        ack = await conn.until(lambda m: isinstance(m, dict)
                               and m.get("event") == "amendOrderStatus")
        assert ack["status"] == "ok" and ack["reqid"] == 11 and ack["cl_ord_id"] == "a-1"
        assert ack["amend_id"]
        amended = await conn.until(lambda m: is_channel("openOrders")(m)
                                   and m[0][0].get(ids[0], {}).get("amended"))
        assert amended[0][0][ids[0]]["descr"]["price"] == "30500.00000"

        await conn.send({"event": "editOrder", "token": token, "orderid": ids[1],
                         "pair": "XBT/USD", "price": "29000", "volume": "0.02", "reqid": 3})
        ack = await conn.until(lambda m: isinstance(m, dict)
                               and m.get("event") == "editOrderStatus")
        assert ack["status"] == "ok" and ack["originaltxid"] == ids[1]
        # Kraken's editOrderStatus example: "descr":"order edited price = 9000.00000000"
        assert ack["txid"] != ids[1] and ack["descr"] == "order edited price = 29000.00000000"
        open_now = await rest.ok("OpenOrders")
        assert set(open_now["open"]) == {ids[0], ack["txid"]}

        await conn.send({"event": "cancelAllOrdersAfter", "token": token, "timeout": 60,
                         "reqid": 1608543428050})
        ack = await conn.until(lambda m: isinstance(m, dict) and m.get("event") ==
                               "cancelAllOrdersAfterStatus")
        assert list(ack) == ["currentTime", "event", "reqid", "status", "triggerTime"]
        assert ack["reqid"] == 1608543428050
        assert ack["triggerTime"] > ack["currentTime"]
        await conn.send({"event": "cancelAllOrdersAfter", "token": token, "timeout": 0})
        ack = await conn.until(lambda m: isinstance(m, dict) and m.get("event") ==
                               "cancelAllOrdersAfterStatus")
        assert ack["triggerTime"] == "0"

        await conn.send({"event": "cancelAll", "token": token})
        ack = await conn.until(lambda m: isinstance(m, dict)
                               and m.get("event") == "cancelAllStatus")
        assert ack == {"count": 2, "event": "cancelAllStatus", "status": "ok"}
        assert (await rest.ok("OpenOrders"))["open"] == {}


# --------------------------------------------------------------------------------------------
# one exchange: v1, v2 and REST see the same orders
# --------------------------------------------------------------------------------------------


async def test_v1_order_shows_in_rest_and_rest_order_on_v1(sb: Sandbox, rest: SignedRest) -> None:
    token = await rest.token()
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        await subscribed(conn, "openOrders", token)
        await conn.send({"event": "addOrder", "token": token, "ordertype": "limit",
                         "type": "buy", "pair": "XBT/USD", "price": "30000", "volume": "0.01",
                         "userref": "42"})
        ack = await conn.until(lambda m: isinstance(m, dict)
                               and m.get("event") == "addOrderStatus")
        txid = ack["txid"]
        listed = (await rest.ok("OpenOrders"))["open"]
        assert listed[txid]["userref"] == 42 and listed[txid]["vol"] == "0.01000000"

        placed = await rest.ok("AddOrder", {"pair": "XBTUSD", "type": "sell",
                                            "ordertype": "limit", "price": "95000",
                                            "volume": "0.003"})
        (rest_txid,) = placed["txid"]
        pending = await conn.until(lambda m: is_channel("openOrders")(m)
                                   and rest_txid in m[0][0])
        entry = pending[0][0][rest_txid]
        assert entry["status"] == "pending" and entry["descr"]["type"] == "sell"
        assert entry["descr"]["pair"] == "XBT/USD" and entry["vol"] == "0.00300000"
        opened_ = await conn.until(lambda m: is_channel("openOrders")(m)
                                   and rest_txid in m[0][0])
        assert opened_[0][0][rest_txid] == {"status": "open", "userref": 0}
        await rest.ok("CancelOrder", {"txid": rest_txid})
        gone = await conn.until(lambda m: is_channel("openOrders")(m) and rest_txid in m[0][0])
        assert gone[0][0][rest_txid]["status"] == "canceled"


async def test_v1_order_on_v2_executions_and_v2_order_on_v1(sb: Sandbox, rest: SignedRest) -> None:
    token = await rest.token()
    async with opened(sb.ws_auth_v2_url) as v2, opened(sb.ws_auth_v1_url) as conn:
        await v2.recv()  # status greeting
        await v2.send({"method": "subscribe", "params": {"channel": "executions",
                                                         "token": token}})
        await v2.until(lambda m: isinstance(m, dict) and m.get("method") == "subscribe")
        await conn.recv()
        await subscribed(conn, "openOrders", token)

        await conn.send({"event": "addOrder", "token": token, "ordertype": "limit",
                         "type": "buy", "pair": "XBT/USD", "price": "30000",
                         "volume": "0.01"})
        ack = await conn.until(lambda m: isinstance(m, dict)
                               and m.get("event") == "addOrderStatus")
        seen = await v2.until(lambda m: isinstance(m, dict) and m.get("channel") ==
                              "executions" and m.get("type") == "update"
                              and any(d.get("order_id") == ack["txid"] for d in m["data"]))
        report = next(d for d in seen["data"] if d["order_id"] == ack["txid"])
        assert report["symbol"] == "BTC/USD" and report["side"] == "buy"

        await v2.send({"method": "add_order", "req_id": 9, "params": {
            "order_type": "limit", "side": "sell", "order_qty": 0.004, "symbol": "BTC/USD",
            "limit_price": 99000, "token": token}})
        reply = await v2.until(lambda m: isinstance(m, dict)
                               and m.get("method") == "add_order")
        assert reply["success"] is True, reply
        v2_id = reply["result"]["order_id"]
        on_v1 = await conn.until(lambda m: is_channel("openOrders")(m) and v2_id in m[0][0])
        entry = on_v1[0][0][v2_id]
        assert entry["descr"]["order"] == "sell 0.00400000 XBT/USD @ limit 99000.00000"


async def test_token_binding_follows_subscriptions(sb: Sandbox, rest: SignedRest) -> None:
    token = await rest.token()
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        await subscribed(conn, "openOrders", token)
        await sb.advance(1000)  # past the 900 s first-use window: the binding keeps it alive
        await conn.send({"event": "cancelAll", "token": token})
        assert (await conn.until(lambda m: isinstance(m, dict) and m.get("event") ==
                                 "cancelAllStatus"))["status"] == "ok"
        await conn.send({"event": "unsubscribe",
                         "subscription": {"name": "openOrders", "token": token}})
        assert (await conn.recv_json())["status"] == "unsubscribed"
        await conn.send({"event": "cancelAll", "token": token})
        assert (await conn.recv_json())["errorMessage"] == "ESession:Invalid session"


async def test_invalidated_tokens_end_subscriptions(sb: Sandbox, rest: SignedRest) -> None:
    token = await rest.token()
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        await subscribed(conn, "ownTrades", token)
        sb.core.gate.invalidate_tokens()
        msg = await conn.until(lambda m: isinstance(m, dict)
                               and m.get("event") == "subscriptionStatus")
        assert msg == {"errorMessage": "ESession:Invalid session",
                       "event": "subscriptionStatus", "status": "error",
                       "subscription": {"name": "ownTrades"}}


async def test_token_never_logged(sb: Sandbox, rest: SignedRest,
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = await rest.token()
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        await subscribed(conn, "openOrders", token)
        await conn.send({"event": "addOrder", "token": token, "ordertype": "limit",
                         "type": "buy", "pair": "XBT/USD", "price": "30000", "volume": "0.01"})
        await conn.until(lambda m: isinstance(m, dict) and m.get("event") == "addOrderStatus")
    assert token not in caplog.text
    parsed = v1.parse_request(v1.decode(json.dumps({"event": "cancelAll", "token": token})))
    assert token not in repr(parsed)
    sub = v1.Subscription(name="openOrders", token=token)
    assert token not in repr(sub) and token not in str(sub)


# --------------------------------------------------------------------------------------------
# the codec, pure
# --------------------------------------------------------------------------------------------

_decimals = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"),
                        allow_nan=False, allow_infinity=False, places=12)


@given(_decimals, st.integers(0, 10))
def test_fmt_decimal_is_exact_and_padded(value: Decimal, places: int) -> None:
    text = v1.fmt_decimal(value, places)
    assert Decimal(text) == value
    frac = text.partition(".")[2]
    assert len(frac) >= places
    assert "E" not in text and "e" not in text
    assert not text.startswith("-") or value < 0


def test_fmt_examples() -> None:
    assert v1.fmt_decimal(Decimal("25"), 5) == "25.00000"
    assert v1.fmt_decimal(Decimal("0.123456789"), 8) == "0.123456789"
    assert v1.fmt_decimal(Decimal("-0.0"), 2) == "0.00"
    assert v1.fmt_decimal(Decimal("1E+3"), 1) == "1000.0"
    assert v1.fmt_time(1700220661.98502) == "1700220661.985020"
    with pytest.raises(ValueError):
        v1.fmt_decimal(Decimal("NaN"), 2)
    with pytest.raises(ValueError):
        v1.system_status(2**64)


@given(st.builds(
    v1.AddOrder,
    ordertype=st.sampled_from(["limit", "market"]), type=st.sampled_from(["buy", "sell"]),
    pair=st.sampled_from(["XBT/USD", "ETH/USD"]),
    volume=st.decimals(min_value=0, max_value=10**6, allow_nan=False, places=8),
    price=st.none() | st.decimals(min_value=0, max_value=10**6, places=2).map(str),
    userref=st.none() | st.integers(-(2**31), 2**31 - 1).map(str),
    reqid=st.none() | st.integers(0, 2**31 - 1), token=st.text(min_size=1, max_size=43),
))
def test_requests_round_trip(req: v1.AddOrder) -> None:
    wire = v1.encode(req)
    assert json.loads(wire)["event"] == "addOrder"
    assert v1.parse_request(v1.decode(wire)) == req


def test_bad_requests_get_kraken_shaped_replies() -> None:
    def reply(text: str) -> bytes:
        with pytest.raises(v1.RequestError) as info:
            v1.parse_request(v1.decode(text))
        return v1.encode(info.value.reply)

    assert reply('{"event":"addOrder","type":"buy","ordertype":"limit","reqid":3}') == (
        b'{"errorMessage":"EGeneral:Invalid arguments:pair","event":"addOrderStatus",'
        b'"reqid":3,"status":"error"}')
    assert reply('{"event":"cancelAllOrdersAfter","token":"t","timeout":"x"}') == (
        b'{"errorMessage":"EGeneral:Invalid arguments:timeout",'
        b'"event":"cancelAllOrdersAfterStatus","status":"error"}')
    assert reply('[1,2]') == b'{"errorMessage":"Malformed request","event":"error"}'
    assert reply('{"event":"subscribe"}') == (
        b'{"errorMessage":"Malformed request","event":"subscriptionStatus","status":"error"}')
    with pytest.raises(v1.DecodeError):
        v1.decode(b"{nope")


# Frames recorded from Kraken by a public client's test suite (kraken-protocol.md §5.3, §5.4).
RECORDED = [
    '{"connectionID":8917087679770238719,"event":"systemStatus","status":"online",'
    '"version":"1.9.1"}',
    '{"channelName":"openOrders","event":"subscriptionStatus","reqid":0,"status":"subscribed",'
    '"subscription":{"maxratecount":125,"name":"openOrders"}}',
    '[[{"O7AIWV-HEBBH-COCEUU":{"status":"open","userref":0}}],"openOrders",{"sequence":3}]',
    '[[{"OX6J4U-3FWTH-NPST2W":{"vol_exec":"0.01000000","cost":"19.67680","fee":"0.03148",'
    '"avg_price":"1967.68000","userref":0}}],"openOrders",{"sequence":10}]',
    '[[{"TROWH4-DD6XR-2O7DPH":{"cost":"19.67680","fee":"0.03148","margin":"0.00000",'
    '"ordertxid":"OX6J4U-3FWTH-NPST2W","ordertype":"limit","pair":"ETH/USD",'
    '"postxid":"TKH2SE-M7IF5-CFI7LT","price":"1967.68000","time":"1700220761.062896",'
    '"type":"buy","vol":"0.01000000"}}],"ownTrades",{"sequence":2}]',
    '{"descr":"buy 10.00000000 USDCUSD @ limit 0.9000","event":"addOrderStatus",'
    '"status":"ok","txid":"OA7JUX-OKLO3-M6IEVL"}',
    '{"errorMessage":"EOrder:Unknown order","event":"cancelOrderStatus","status":"error"}',
    '{"event":"heartbeat"}',
]


def test_recorded_kraken_frames_decode() -> None:
    msgs = [v1.parse_message(text) for text in RECORDED]
    status = msgs[0]
    assert isinstance(status, v1.SystemStatus)
    assert status.connection_id == 8917087679770238719  # exact: no float on the way
    sub = msgs[1]
    assert isinstance(sub, v1.SubscriptionStatus)
    assert sub.name == "openOrders" and sub.subscription["maxratecount"] == 125
    delta = msgs[2]
    assert isinstance(delta, v1.OpenOrders) and delta.sequence == 3
    assert delta.orders[0][0] == "O7AIWV-HEBBH-COCEUU" and delta.orders[0][1].status == "open"
    fill = msgs[3]
    assert isinstance(fill, v1.OpenOrders)
    assert fill.orders[0][1].cost == Decimal("19.67680") and fill.orders[0][1].status is None
    trades = msgs[4]
    assert isinstance(trades, v1.OwnTrades)
    assert trades.trades[0][1].time == Decimal("1700220761.062896")
    ack = msgs[5]
    assert isinstance(ack, v1.RequestStatus) and ack.ok and ack.txid == "OA7JUX-OKLO3-M6IEVL"
    err = msgs[6]
    assert isinstance(err, v1.RequestStatus) and not err.ok
    assert err.error_message == "EOrder:Unknown order"
    assert isinstance(msgs[7], v1.Heartbeat)
    with pytest.raises(v1.DecodeError):
        v1.parse_message('[[],"book-10",{"sequence":1}]')


def test_builders_match_recorded_shapes() -> None:
    assert v1.encode(v1.subscription_status("openOrders", "subscribed", reqid=0,
                                            maxratecount=125)) == RECORDED[1].encode()
    assert v1.encode(v1.request_status("addOrderStatus", descr="buy 10.00000000 USDCUSD @ "
                                       "limit 0.9000", txid="OA7JUX-OKLO3-M6IEVL")) == \
        RECORDED[5].encode()
    assert v1.encode(v1.request_status("cancelOrderStatus", error="EOrder:Unknown order")) \
        == RECORDED[6].encode()
    assert v1.encode(v1.system_status(8917087679770238719)) == RECORDED[0].encode()


async def test_consolidate_taker_merges_one_orders_fills(sb: Sandbox, rest: SignedRest) -> None:
    token = await rest.token()
    async with opened(sb.ws_auth_v1_url) as merged, opened(sb.ws_auth_v1_url) as each:
        for conn, options in ((merged, {}), (each, {"consolidate_taker": False})):
            await conn.recv()
            await subscribed(conn, "ownTrades", token, **options)
        await merged.send({"event": "addOrder", "token": token, "ordertype": "market",
                           "type": "buy", "pair": "XBT/USD", "volume": "0.2"})
        frame = await merged.until(is_channel("ownTrades"))
        (tid, trade), = frame[0][0].items()
        assert tid.startswith("T")
        assert trade["vol"] == "0.20000000"
        parts: list[dict[str, str]] = []
        while sum((Decimal(t["vol"]) for t in parts), Decimal(0)) < Decimal("0.2"):
            got = await each.until(is_channel("ownTrades"))
            parts.extend(got[0][0].values())
        assert len(parts) > 1  # the order swept several price levels
        assert sum(Decimal(t["cost"]) for t in parts) == Decimal(trade["cost"])
        assert sum(Decimal(t["fee"]) for t in parts) == Decimal(trade["fee"])
        assert {t["ordertxid"] for t in parts} == {trade["ordertxid"]}


_trade_parts = st.lists(st.tuples(st.sampled_from(["OA", "OB"]), st.booleans(),
                                  st.integers(1, 10**6), st.integers(1, 10**4)),
                        max_size=12)


@given(_trade_parts)
def test_consolidate_taker_keeps_totals(parts: list[tuple[str, bool, int, int]]) -> None:
    from krakenwire.sandbox.model import Trade
    from krakenwire.sandbox.v1_frames import consolidate_taker

    trades = [Trade(id=f"T{i}", order_id=oid, account_id="A", pair="XXBTZUSD", side="buy",
                    ordertype="market", price=Decimal(60000), volume=Decimal(vol) / 10**8,
                    cost=Decimal(vol) * 6 / 10**4, fee=Decimal(fee) / 10**5, fee_asset="ZUSD",
                    time=1.0, maker=maker, trade_id=i)
              for i, (oid, maker, vol, fee) in enumerate(parts)]
    out = consolidate_taker(trades)
    for attr in ("volume", "cost", "fee"):
        assert sum(getattr(t, attr) for t in out) == sum(getattr(t, attr) for t in trades)
    assert [t for t in out if t.maker] == [t for t in trades if t.maker]
    assert {t.id for t in out} <= {t.id for t in trades}
    for a, b in itertools.pairwise(out):  # nothing mergeable is left side by side
        assert a.maker or b.maker or a.order_id != b.order_id


async def test_idle_private_connection_is_closed(sb: Sandbox, rest: SignedRest) -> None:
    async with ws_open(sb.ws_auth_v1_url) as ws:
        await bounded(ws.recv())
        await sb.advance(61)  # a minute of the sandbox clock without a private subscription
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 5)


async def test_drop_before_reply_fault_keeps_the_order(sb: Sandbox, rest: SignedRest) -> None:
    token = await rest.token()
    sb.core.faults.ws_drop_before_reply = True
    async with ws_open(sb.ws_auth_v1_url) as ws:
        await bounded(ws.recv())
        await ws.send(json.dumps({"event": "addOrder", "token": token, "ordertype": "limit",
                                  "type": "buy", "pair": "XBT/USD", "price": "30000",
                                  "volume": "0.01", "cl_ord_id": "lost-reply"}))
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                msg = await asyncio.wait_for(ws.recv(), 5)
                assert "addOrderStatus" not in str(msg)
    assert sb.core.faults.ws_drop_before_reply is False  # one-shot
    listed = (await rest.ok("OpenOrders"))["open"]
    assert [o["cl_ord_id"] for o in listed.values()] == ["lost-reply"]


_amounts = st.decimals(min_value=0, max_value=10**7, places=8, allow_nan=False,
                       allow_infinity=False)


@given(st.sampled_from(["limit", "market", "stop-loss-limit", "take-profit"]),
       st.sampled_from(["XXBTZUSD", "XETHZUSD", "USDTZUSD"]), _amounts, _amounts, _amounts,
       st.none() | st.integers(-(2**31), 2**31 - 1), st.floats(1e9, 2e9))
def test_rendered_entries_decode_exactly(ordertype: str, pair: str, volume: Decimal,
                                         cost: Decimal, fee: Decimal, userref: int | None,
                                         opentm: float) -> None:
    """What the sandbox renders, the v1 codec reads back to the same exact numbers."""
    from krakenwire.sandbox.model import Order, OrderEvent
    from krakenwire.sandbox.v1_frames import order_delta, order_entry

    order = Order(id="OUF4EM-FRGI2-MQMWZD", account_id="A", pair=pair, side="buy",
                  ordertype=ordertype,  # type: ignore[arg-type]
                  volume=volume, price=Decimal("123.45"), price2=Decimal("120"),
                  status="open", opentm=opentm, seq=1, userref=userref, vol_exec=volume / 2,
                  cost=cost, fee=fee)
    wire = v1.encode(v1.data_frame("openOrders", [{order.id: order_entry(order)}], 5))
    msg = v1.parse_message(wire)
    assert isinstance(msg, v1.OpenOrders) and msg.sequence == 5
    (oid, info), = msg.orders
    assert oid == order.id and info.status == "open"
    assert (info.vol, info.vol_exec, info.cost, info.fee) == (volume, volume / 2, cost, fee)
    assert info.userref == (userref or 0)
    assert info.opentm == Decimal(f"{opentm:.6f}")
    assert info.descr is not None and info.descr.pair is not None and "/" in info.descr.pair
    trade = OrderEvent(exec_type="trade", order=order, time=opentm)
    body = order_delta(trade)
    assert body is not None and list(body) == ["vol_exec", "cost", "fee", "avg_price",
                                               "userref"]


async def test_validate_only_order_is_not_placed(sb: Sandbox, rest: SignedRest) -> None:
    token = await rest.token()
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        await conn.send({"event": "addOrder", "token": token, "ordertype": "limit",
                         "type": "buy", "pair": "XBT/USD", "price": "30000", "volume": "0.01",
                         "validate": "true", "reqid": 2})
        assert await conn.recv() == ('{"descr":"buy 0.01000000 XBTUSD @ limit 30000",'
                                     '"event":"addOrderStatus","reqid":2,"status":"ok"}')
        last = sb.core.exchange.ticker("XXBTZUSD")["last"]
        await conn.send({"event": "addOrder", "token": token, "ordertype": "limit",
                         "type": "buy", "pair": "XBT/USD", "price": "-50%", "volume": "0.01",
                         "validate": True})
        reply = await conn.recv_json()
        assert reply["status"] == "ok"
        assert Decimal(reply["descr"].rsplit(" ", 1)[1]) == (last / 2).quantize(Decimal("0.1"))
    assert (await rest.ok("OpenOrders"))["open"] == {}


def test_order_request_follows_rest_rules() -> None:
    from krakenwire.sandbox.ws_common import TradeError
    from krakenwire.sandbox.ws_v1 import order_request

    def parse(**fields: Any) -> Any:
        base = {"event": "addOrder", "token": "t", "ordertype": "limit", "type": "sell",
                "pair": "ETH/USD", "price": "3000.5", "volume": "1.25"}
        req = v1.parse_request({**base, **fields})
        assert isinstance(req, v1.AddOrder)
        return order_request(req, 1_000_000.0)

    r = parse(stp_type="cancel_both", oflags="post,fcib", userref="-7", expiretm="+60",
              timeinforce="GTD")
    assert (r.pair, r.side, r.volume, r.price) == ("XETHZUSD", "sell", Decimal("1.25"),
                                                   Decimal("3000.5"))
    assert r.stp_type == "cancel-both" and r.post_only and r.fee_in_base and r.userref == -7
    assert r.expiretm == 1_000_060.0 and r.timeinforce == "GTD"
    last = {"XETHZUSD": Decimal("3000.00")}
    req = v1.parse_request({"event": "addOrder", "ordertype": "limit", "type": "buy",
                            "pair": "ETH/USD", "volume": "1", "price": "#1.5%"})
    assert isinstance(req, v1.AddOrder)
    assert order_request(req, 0.0, last.__getitem__).price == Decimal("2955.00")
    req.price, req.type = "+12.345", "sell"
    assert order_request(req, 0.0, last.__getitem__).price == Decimal("3012.34")
    for bad, error in ((dict(price="+5"), "EGeneral:Invalid arguments:price"),
                       (dict(stp_type="cancel-both"), "EGeneral:Invalid arguments:stp_type"),
                       (dict(oflags="moon"), "EGeneral:Invalid arguments:oflags"),
                       (dict(pair="XBT/ZZZ"), "EQuery:Unknown asset pair")):
        with pytest.raises(TradeError) as info:
            parse(**bad)
        assert info.value.error == error


async def test_amend_with_relative_price(sb: Sandbox, rest: SignedRest) -> None:
    token = await rest.token()
    async with opened(sb.ws_auth_v1_url) as conn:
        await conn.recv()
        await subscribed(conn, "openOrders", token)
        await conn.send({"event": "addOrder", "token": token, "ordertype": "limit",
                         "type": "buy", "pair": "XBT/USD", "price": "30000", "volume": "0.01"})
        txid = (await conn.until(lambda m: isinstance(m, dict)
                                 and m.get("event") == "addOrderStatus"))["txid"]
        last = sb.core.exchange.ticker("XXBTZUSD")["last"]
        await conn.send({"event": "amendOrder", "token": token, "txid": txid,
                         "limit_price": "#10%"})
        ack = await conn.until(lambda m: isinstance(m, dict)
                               and m.get("event") == "amendOrderStatus")
        assert ack["status"] == "ok" and ack["txid"] == txid
        amended = await conn.until(lambda m: is_channel("openOrders")(m)
                                   and m[0][0].get(txid, {}).get("amended"))
        expected = (last * Decimal("0.9")).quantize(Decimal("0.1"))
        assert Decimal(amended[0][0][txid]["descr"]["price"]) == expected


def test_merge_order_applies_kraken_deltas_in_turn() -> None:
    """Snapshot entry, then Kraken's recorded deltas: open, a fill, the close."""
    frames = [
        '[[{"O7AIWV-HEBBH-COCEUU":{"avg_price":"0.00000","cost":"0.00000","descr":{"close":null,'
        '"leverage":null,"order":"buy 1.00000000 SOL/USD @ limit 25.00000","ordertype":"limit",'
        '"pair":"SOL/USD","price":"25.00000","price2":"0.00000","type":"buy"},"expiretm":null,'
        '"fee":"0.00000","limitprice":"0.00000","misc":"","oflags":"fciq",'
        '"opentm":"1700220661.985020","refid":null,"starttm":null,"status":"pending",'
        '"stopprice":"0.00000","timeinforce":"GTC","userref":0,"vol":"1.00000000",'
        '"vol_exec":"0.00000000"}}],"openOrders",{"sequence":2}]',
        '[[{"O7AIWV-HEBBH-COCEUU":{"status":"open","userref":0}}],"openOrders",{"sequence":3}]',
        '[[{"O7AIWV-HEBBH-COCEUU":{"vol_exec":"0.40000000","cost":"10.00000","fee":"0.02600",'
        '"avg_price":"25.00000","userref":0}}],"openOrders",{"sequence":4}]',
        '[[{"O7AIWV-HEBBH-COCEUU":{"lastupdated":"1700220675.012776","status":"canceled",'
        '"vol_exec":"0.40000000","cost":"10.00000","fee":"0.02600","avg_price":"25.00000",'
        '"userref":0,"cancel_reason":"User requested"}}],"openOrders",{"sequence":5}]',
    ]
    state: v1.OpenOrderInfo | None = None
    statuses = []
    for text in frames:
        msg = v1.parse_message(text)
        assert isinstance(msg, v1.OpenOrders)
        ((_, delta),) = msg.orders
        state = v1.merge_order(state, delta)
        statuses.append(state.status)
    assert statuses == ["pending", "open", "open", "canceled"]
    assert state is not None and state.descr is not None
    assert state.descr.price == Decimal("25.00000") and state.vol == Decimal(1)
    assert state.vol_exec == Decimal("0.4") and state.cancel_reason == "User requested"
    assert state.opentm == Decimal("1700220661.985020")
