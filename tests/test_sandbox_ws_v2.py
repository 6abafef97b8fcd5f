"""The sandbox's WebSocket v2 endpoints over real sockets, with a raw aiohttp client.

Every frame is read as JSON text, exactly as a third-party client would see it.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import get_token, http_session, rest_private
from krakenwire.protocol.naming import PAIRS
from krakenwire.sandbox import Sandbox

TIMEOUT = 5.0
LIMIT_FAR = 1000.0  # a BTC/USD buy price far below the sandbox market (rests, never fills)


# --------------------------------------------------------------------------------------------
# helpers


class Conn:
    """A raw client socket: send dicts, receive parsed frames (skipping heartbeats)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.raw: list[str] = []

    async def send(self, msg: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(msg))

    async def send_raw(self, text: str) -> None:
        await self.ws.send_str(text)

    async def recv(self, *, heartbeats: bool = False, timeout: float = TIMEOUT) -> Any:
        """The next frame (heartbeats skipped unless asked for) within ``timeout``."""

        async def next_frame() -> Any:
            while True:
                msg = await self.ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"socket closed: {msg.type!r}")
                self.raw.append(msg.data)
                frame = json.loads(msg.data)
                if not heartbeats and frame.get("channel") == "heartbeat":
                    continue
                return frame

        return await asyncio.wait_for(next_frame(), timeout)

    async def recv_n(self, n: int) -> list[Any]:
        return [await self.recv() for _ in range(n)]

    async def until(self, pred: Any, limit: int = 50) -> Any:
        for _ in range(limit):
            frame = await self.recv()
            if pred(frame):
                return frame
        raise AssertionError("frame not seen")

    async def closed(self, timeout: float = TIMEOUT) -> bool:
        """Wait until the server closes the socket (True), reading and dropping frames."""

        async def drain() -> bool:
            while True:
                msg = await self.ws.receive()
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                    return True
                self.raw.append(msg.data)

        return await asyncio.wait_for(drain(), timeout)


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    async with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with http_session() as session:
        yield session


async def connect(http: aiohttp.ClientSession, url: str) -> Conn:
    ws = await http.ws_connect(url, autoping=True)
    conn = Conn(ws)
    greeting = await conn.recv()
    assert greeting["channel"] == "status"
    return conn


async def subscribed(http: aiohttp.ClientSession, sb: Sandbox, token: str,
                     *channels: str) -> Conn:
    conn = await connect(http, sb.ws_auth_v2_url)
    for i, channel in enumerate(channels):
        await conn.send({"method": "subscribe", "params": {"channel": channel, "token": token},
                         "req_id": 900 + i})
        ack = await conn.recv()
        assert ack["success"] is True, ack
        snap = await conn.recv()
        assert snap["channel"] == channel and snap["type"] == "snapshot"
    return conn


def limit_order(token: str, **extra: Any) -> dict[str, Any]:
    params = {"order_type": "limit", "side": "buy", "limit_price": LIMIT_FAR,
              "order_qty": 0.01, "symbol": "BTC/USD", "token": token}
    params.update(extra)
    return params


# --------------------------------------------------------------------------------------------
# greeting, ping, errors of the envelope


@pytest.mark.parametrize("path", ["ws_auth_v2_url", "ws_public_v2_url"])
async def test_status_greeting(sb: Sandbox, http: aiohttp.ClientSession, path: str) -> None:
    async with http.ws_connect(getattr(sb, path)) as ws:
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        frame = json.loads(msg.data)
        assert frame["channel"] == "status" and frame["type"] == "update"
        (status,) = frame["data"]
        assert status["api_version"] == "v2" and status["system"] == "online"
        assert isinstance(status["connection_id"], int) and 0 <= status["connection_id"] < 2**64
        assert set(status) == {"api_version", "connection_id", "system", "version"}


async def test_ping_pong_and_refusals(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    conn = await connect(http, sb.ws_auth_v2_url)
    await conn.send({"method": "ping", "req_id": 101})
    pong = await conn.recv()
    assert pong["method"] == "pong" and pong["req_id"] == 101
    assert set(pong) == {"method", "req_id", "time_in", "time_out"}
    assert pong["time_in"].endswith("Z") and len(pong["time_in"]) == 27
    await conn.send({"method": "ping"})
    assert "req_id" not in await conn.recv()
    await conn.send({"method": "ping", "params": {}, "req_id": 5})
    err = await conn.recv()
    assert err["error"] == "Unsupported field: 'params' for the given msg type: ping"
    assert err["success"] is False and err["req_id"] == 5
    await conn.send({"method": "frobnicate", "req_id": 6})
    assert (await conn.recv())["error"] == "Unsupported event"


# --------------------------------------------------------------------------------------------
# subscriptions


async def test_subscribe_without_or_with_bad_token(sb: Sandbox,
                                                   http: aiohttp.ClientSession) -> None:
    conn = await connect(http, sb.ws_auth_v2_url)
    await conn.send({"method": "subscribe", "params": {"channel": "executions"}})
    err = await conn.recv()
    assert err["error"] == "ESession:Invalid session"
    assert set(err) == {"channel", "error", "method", "status", "success", "time_in",
                        "time_out"}
    assert err["status"] == "error" and err["channel"] == "executions"
    assert err["method"] == "subscribe" and err["success"] is False
    await conn.send({"method": "subscribe", "req_id": 42,
                     "params": {"channel": "balances", "token": "A" * 43}})
    err = await conn.recv()
    assert err["error"] == "ESession:Invalid session" and err["req_id"] == 42
    # the socket stays usable
    await conn.send({"method": "ping", "req_id": 1})
    assert (await conn.recv())["method"] == "pong"


async def test_executions_ack_and_snapshot_with_rest_order(
        sb: Sandbox, http: aiohttp.ClientSession) -> None:
    env = await rest_private(http, sb, "AddOrder", pair="XBTUSD", type="buy",
                             ordertype="limit", price="1000", volume="0.01", userref="77")
    assert env["error"] == [], env
    rest_id = env["result"]["txid"][0]
    token = await get_token(http, sb)
    conn = await connect(http, sb.ws_auth_v2_url)
    await conn.send({"method": "subscribe", "req_id": 1, "params": {
        "channel": "executions", "token": token, "snap_orders": True, "snap_trades": True}})
    ack = await conn.recv()
    assert ack["success"] is True and ack["req_id"] == 1
    assert ack["result"]["channel"] == "executions"
    assert ack["result"]["snap_orders"] is True and ack["result"]["snap_trades"] is True
    key = sb.core.demo_key
    assert key is not None
    assert ack["result"]["maxratecount"] == int(sb.core.gate.max_rate_count(key))
    snap = await conn.recv()
    assert snap["channel"] == "executions" and snap["type"] == "snapshot"
    assert snap["sequence"] == 1
    (entry,) = snap["data"]
    assert entry["order_id"] == rest_id and entry["order_userref"] == 77
    assert entry["symbol"] == "BTC/USD" and entry["side"] == "buy"
    assert entry["order_status"] == "new" and entry["time_in_force"] == "GTC"
    assert entry["limit_price"] == 1000.0 and entry["order_qty"] == 0.01
    # numbers are JSON numbers, never strings
    assert '"limit_price":1000.0' in conn.raw[-1]


async def test_balances_snapshot_uses_v2_asset_codes(sb: Sandbox,
                                                     http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await connect(http, sb.ws_auth_v2_url)
    await conn.send({"method": "subscribe", "params": {"channel": "balances", "token": token}})
    ack = await conn.recv()
    assert ack["result"] == {"channel": "balances", "snapshot": True}
    snap = await conn.recv()
    assert snap["type"] == "snapshot" and snap["sequence"] == 1
    by_asset = {b["asset"]: b for b in snap["data"]}
    assert {"BTC", "USD", "ETH"} <= set(by_asset) and "XXBT" not in by_asset
    usd = by_asset["USD"]
    assert Decimal(str(usd["balance"])) == Decimal(100_000)
    assert usd["wallets"] == [{"type": "spot", "id": "main", "balance": usd["balance"]}]
    assert usd["asset_class"] == "currency"


async def test_wrong_path_refusals(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    pub = await connect(http, sb.ws_public_v2_url)
    await pub.send({"method": "subscribe", "params": {"channel": "executions", "token": token}})
    err = await pub.recv()
    assert err["error"] == ("Private data and trading are unavailable on this endpoint. "
                            "Try ws-auth.kraken.com")
    await pub.send({"method": "add_order", "params": limit_order(token), "req_id": 3})
    err = await pub.recv()
    assert err["error"].startswith("Private data and trading are unavailable")
    assert err["method"] == "add_order" and err["req_id"] == 3
    priv = await connect(http, sb.ws_auth_v2_url)
    await priv.send({"method": "subscribe",
                     "params": {"channel": "ticker", "symbol": ["BTC/USD"]}})
    err = await priv.recv()
    assert err["error"] == ("Public market data subscriptions are unavailable on this "
                            "endpoint. Try ws.kraken.com")


async def test_unsubscribe(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await subscribed(http, sb, token, "executions")
    await conn.send({"method": "unsubscribe", "req_id": 4,
                     "params": {"channel": "executions", "token": token}})
    ack = await conn.recv()
    assert ack["method"] == "unsubscribe" and ack["success"] is True
    assert ack["result"] == {"channel": "executions"}
    await conn.send({"method": "unsubscribe", "req_id": 5,
                     "params": {"channel": "executions", "token": token}})
    err = await conn.recv()
    assert err["error"] == "Subscription Not Found" and err["req_id"] == 5


# --------------------------------------------------------------------------------------------
# trading


async def test_add_order_ack_then_reports_in_order(sb: Sandbox,
                                                   http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await subscribed(http, sb, token, "executions")
    await conn.send({"method": "add_order", "req_id": 11,
                     "params": limit_order(token, order_userref=100054)})
    ack, pending, new = await conn.recv_n(3)
    assert ack["method"] == "add_order" and ack["success"] is True and ack["req_id"] == 11
    order_id = ack["result"]["order_id"]
    assert ack["result"] == {"order_id": order_id, "order_userref": 100054}
    assert set(ack) == {"method", "req_id", "result", "success", "time_in", "time_out"}
    (p,) = pending["data"]
    assert p["exec_type"] == "pending_new" and p["order_status"] == "pending_new"
    assert p["order_id"] == order_id and p["symbol"] == "BTC/USD"
    assert p["order_type"] == "limit" and p["time_in_force"] == "GTC"
    assert p["fee_ccy_pref"] == "fciq" and p["limit_price_type"] == "static"
    (n,) = new["data"]
    assert n["exec_type"] == "new" and n["order_status"] == "new" and "symbol" not in n
    assert n["order_userref"] == 100054
    assert new["sequence"] == pending["sequence"] + 1 == 3
    # the WS order is a REST order too
    env = await rest_private(http, sb, "OpenOrders")
    assert order_id in env["result"]["open"]


async def test_market_order_trade_and_filled_reports_and_balances(
        sb: Sandbox, http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await subscribed(http, sb, token, "executions", "balances")
    await conn.send({"method": "add_order", "req_id": 12, "params": {
        "order_type": "market", "side": "buy", "order_qty": 0.01, "symbol": "BTC/USD",
        "token": token, "cl_ord_id": "mkt-1"}})
    ack = await conn.recv()
    assert ack["result"]["cl_ord_id"] == "mkt-1"
    order_id = ack["result"]["order_id"]
    frames = [await conn.recv() for _ in range(6)]
    kinds = [(f["channel"], f["data"][0].get("exec_type") or f["data"][0]["type"])
             for f in frames]
    assert kinds == [("executions", "pending_new"), ("executions", "new"),
                     ("executions", "trade"), ("balances", "trade"), ("balances", "trade"),
                     ("executions", "filled")]
    trade = frames[2]["data"][0]
    assert trade["order_id"] == order_id and trade["cl_ord_id"] == "mkt-1"
    assert trade["exec_id"].startswith("T") and isinstance(trade["trade_id"], int)
    assert trade["liquidity_ind"] == "t" and trade["last_qty"] == 0.01
    assert trade["fees"][0]["asset"] == "USD" and trade["fees"][0]["qty"] > 0
    assert Decimal(str(trade["cost"])) == (Decimal(str(trade["last_price"]))
                                           * Decimal("0.01"))
    ledgers = [frames[3]["data"][0], frames[4]["data"][0]]
    assert {e["ref_id"] for e in ledgers} == {trade["exec_id"]}
    assert {e["asset"] for e in ledgers} == {"USD", "BTC"}
    filled = frames[5]["data"][0]
    assert filled["order_status"] == "filled" and filled["cum_qty"] == 0.01
    assert [frames[i]["sequence"] for i in (3, 4)] == [2, 3]  # balances' own sequence


async def test_ack_after_events_switch(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    sb.core.faults.ws_ack_after_events = True
    token = await get_token(http, sb)
    conn = await subscribed(http, sb, token, "executions")
    await conn.send({"method": "add_order", "req_id": 13, "params": limit_order(token)})
    first, second, third = await conn.recv_n(3)
    assert first["data"][0]["exec_type"] == "pending_new"
    assert second["data"][0]["exec_type"] == "new"
    assert third["method"] == "add_order"
    assert third["result"]["order_id"] == first["data"][0]["order_id"]


async def test_cancel_order_one_reply_per_order(sb: Sandbox,
                                                http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await subscribed(http, sb, token, "executions")
    ids = []
    for i in range(2):
        await conn.send({"method": "add_order", "req_id": 20 + i, "params": limit_order(token)})
        ack = await conn.recv()
        ids.append(ack["result"]["order_id"])
        await conn.recv_n(2)
    await conn.send({"method": "cancel_order", "req_id": 30,
                     "params": {"order_id": ids, "token": token}})
    replies, reports = [], []
    while len(replies) < 2 or len(reports) < 2:
        frame = await conn.recv()
        (replies if "method" in frame else reports).append(frame)
    assert {r["result"]["order_id"] for r in replies} == set(ids)
    assert all(r["req_id"] == 30 and r["success"] for r in replies)
    for rep in reports:
        (d,) = rep["data"]
        assert d["exec_type"] == "canceled" and d["order_status"] == "canceled"
        assert d["reason"] == "User requested" and "symbol" not in d
    await conn.send({"method": "cancel_order", "req_id": 31,
                     "params": {"order_id": [ids[0]], "token": token}})
    err = await conn.recv()
    assert err["error"] == "EOrder:Unknown order" and err["req_id"] == 31


async def test_amend_edit_batch_and_cancel_all(sb: Sandbox,
                                               http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await connect(http, sb.ws_auth_v2_url)
    await conn.send({"method": "add_order", "req_id": 1,
                     "params": limit_order(token, cl_ord_id="amend-me")})
    order_id = (await conn.recv())["result"]["order_id"]
    await conn.send({"method": "amend_order", "req_id": 2, "params": {
        "cl_ord_id": "amend-me", "order_qty": 0.02, "limit_price": 1001.0, "token": token}})
    amend = await conn.recv()
    assert amend["success"] is True, amend
    assert amend["result"]["cl_ord_id"] == "amend-me"
    assert amend["result"]["amend_id"].startswith("T")
    await conn.send({"method": "edit_order", "req_id": 3, "params": {
        "order_id": order_id, "symbol": "BTC/USD", "order_qty": 0.03, "token": token}})
    edit = await conn.recv()
    assert edit["result"]["original_order_id"] == order_id
    assert edit["result"]["order_id"] != order_id
    await conn.send({"method": "batch_add", "req_id": 4, "params": {
        "symbol": "BTC/USD", "token": token, "orders": [
            {"order_type": "limit", "side": "buy", "limit_price": 1000.0, "order_qty": 0.01,
             "order_userref": 1},
            {"order_type": "limit", "side": "buy", "limit_price": 1002.0, "order_qty": 0.01,
             "order_userref": 2}]}})
    batch = await conn.recv()
    assert [r["order_userref"] for r in batch["result"]] == [1, 2]
    batch_ids = [r["order_id"] for r in batch["result"]]
    await conn.send({"method": "batch_cancel", "req_id": 5,
                     "params": {"orders": batch_ids, "token": token}})
    assert (await conn.recv())["result"] == {"count": 2}
    await conn.send({"method": "cancel_all_orders_after", "req_id": 6,
                     "params": {"timeout": 100, "token": token}})
    cao = await conn.recv()
    now = cao["result"]["currentTime"]
    assert len(now) == 20 and now.endswith("Z") and cao["result"]["triggerTime"] > now
    await conn.send({"method": "cancel_all", "req_id": 7, "params": {"token": token}})
    assert (await conn.recv())["result"] == {"count": 1}  # the edited order


async def test_trading_refusals(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await connect(http, sb.ws_auth_v2_url)
    await conn.send_raw('{"method":"add_order","req_id":1,"params":{"order_type":"limit",'
                        '"side":"buy","limit_price":"1000.0","order_qty":0.01,'
                        f'"symbol":"BTC/USD","token":"{token}"}}}}')
    assert (await conn.recv())["error"] == "Limit_price field must be a number_float"
    await conn.send({"method": "add_order", "req_id": 2,
                     "params": {**limit_order(token), "price": 1000.0}})
    assert (await conn.recv())["error"] == (
        "Unsupported field: 'price' for the given msg type: add order")
    await conn.send({"method": "add_order", "req_id": 3,
                     "params": limit_order(token, symbol="XBT/USD")})
    err = await conn.recv()
    assert err["error"] == "Currency pair not supported XBT/USD" and err["symbol"] == "XBT/USD"
    no_token = limit_order(token)
    del no_token["token"]
    await conn.send({"method": "add_order", "req_id": 4, "params": no_token})
    err = await conn.recv()
    assert err["error"] == "Token(s) not found" and err["method"] == "add_order"
    await conn.send({"method": "add_order", "req_id": 5, "params": limit_order("B" * 43)})
    assert (await conn.recv())["error"] == "ESession:Invalid session"
    await conn.send({"method": "add_order", "req_id": 6,
                     "params": limit_order(token, order_qty=100000.0)})
    assert (await conn.recv())["error"] == "EOrder:Insufficient funds"
    await conn.send({"method": "add_order", "req_id": 7,
                     "params": limit_order(token, no_mpp=True)})
    assert (await conn.recv())["error"] == ("EGeneral:Invalid arguments:no_mpp order option "
                                            "is only available when ordertype = market")
    env = await rest_private(http, sb, "OpenOrders")
    assert env["result"]["open"] == {}  # nothing refused was placed


# --------------------------------------------------------------------------------------------
# liveness, idleness and fault switches


async def test_heartbeat_when_idle_after_subscription(sb: Sandbox,
                                                      http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await subscribed(http, sb, token, "balances")
    frame = await conn.recv(heartbeats=True, timeout=3.0)
    assert frame == {"channel": "heartbeat"}


async def test_no_heartbeat_switch(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    sb.core.faults.ws_no_heartbeat = True
    token = await get_token(http, sb)
    conn = await subscribed(http, sb, token, "balances")
    with pytest.raises(TimeoutError):
        await conn.recv(heartbeats=True, timeout=1.6)


async def test_idle_connection_closed_after_a_minute() -> None:
    async with Sandbox(manual_clock=True) as sb, http_session() as http:
        token = await get_token(http, sb)
        idle = await connect(http, sb.ws_auth_v2_url)
        busy = await subscribed(http, sb, token, "executions")
        await sb.advance(30)
        await idle.send({"method": "ping", "req_id": 1})
        assert (await idle.recv())["method"] == "pong"
        await sb.advance(31)
        assert await idle.closed()
        await busy.send({"method": "ping", "req_id": 2})
        assert (await busy.recv())["method"] == "pong"


async def test_drop_between_add_order_and_reply(sb: Sandbox,
                                                http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await connect(http, sb.ws_auth_v2_url)
    sb.core.faults.ws_drop_before_reply = True
    await conn.send({"method": "add_order", "req_id": 1,
                     "params": limit_order(token, cl_ord_id="lost-reply")})
    assert await conn.closed()
    assert sb.core.faults.ws_drop_before_reply is False  # one-shot
    env = await rest_private(http, sb, "OpenOrders")
    (order,) = env["result"]["open"].values()
    assert order["cl_ord_id"] == "lost-reply"


async def test_drop_midstream(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await subscribed(http, sb, token, "executions")
    sb.core.faults.ws_drop_midstream = True
    await conn.send({"method": "add_order", "req_id": 1, "params": limit_order(token)})
    ack = await conn.recv()
    assert ack["method"] == "add_order" and ack["success"] is True
    assert await conn.closed()
    assert not any("pending_new" in text for text in conn.raw)  # dropped instead
    # a new connection sees the order in its snapshot
    again = await connect(http, sb.ws_auth_v2_url)
    await again.send({"method": "subscribe",
                      "params": {"channel": "executions", "token": token}})
    await again.recv()
    snap = await again.recv()
    assert [d["order_id"] for d in snap["data"]] == [ack["result"]["order_id"]]


async def test_invalidated_token_ends_subscription(sb: Sandbox,
                                                   http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await subscribed(http, sb, token, "executions")
    async with http.post(sb.rest_url + "/sandbox/tokens/invalidate") as resp:
        assert (await resp.json())["invalidated"] >= 1
    err = await conn.recv()
    assert err["error"] == "ESession:Invalid session" and err["channel"] == "executions"
    assert err["status"] == "error"
    fresh = await get_token(http, sb)
    await conn.send({"method": "subscribe",
                     "params": {"channel": "executions", "token": fresh}})
    assert (await conn.recv())["success"] is True


# --------------------------------------------------------------------------------------------
# public channels


def kraken_checksum(book: dict[str, Any], price_dp: int, qty_dp: int) -> int:
    """Kraken's v2 book checksum, written from its documentation for the test."""
    text = ""
    for level in book["asks"][:10] + book["bids"][:10]:
        for value, dp in ((level["price"], price_dp), (level["qty"], qty_dp)):
            text += f"{Decimal(str(value)):.{dp}f}".replace(".", "").lstrip("0")
    return zlib.crc32(text.encode())


async def test_public_ticker_and_book(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    conn = await connect(http, sb.ws_public_v2_url)
    await conn.send({"method": "subscribe", "req_id": 1,
                     "params": {"channel": "ticker", "symbol": ["BTC/USD", "XBT/USD"]}})
    frames = await conn.recv_n(3)
    acks = [f for f in frames if "method" in f]
    assert {a.get("symbol") or a["result"]["symbol"] for a in acks} == {"BTC/USD", "XBT/USD"}
    bad = next(a for a in acks if not a["success"])
    assert bad["error"] == "Currency pair not supported XBT/USD"
    snap = next(f for f in frames if f.get("channel") == "ticker")
    (tick,) = snap["data"]
    assert tick["symbol"] == "BTC/USD" and tick["ask"] >= tick["bid"] > 0
    await conn.send({"method": "subscribe", "req_id": 2,
                     "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 10}})
    ack, book = await conn.recv_n(2)
    assert ack["result"] == {"channel": "book", "depth": 10, "snapshot": True,
                             "symbol": "BTC/USD"}
    (data,) = book["data"]
    assert 0 < len(data["bids"]) <= 10 and 0 < len(data["asks"]) <= 10
    assert data["bids"][0]["price"] < data["asks"][0]["price"]
    pair = PAIRS["XXBTZUSD"]
    assert data["checksum"] == kraken_checksum(data, pair.pair_decimals, pair.lot_decimals)


def test_book_checksum_matches_krakens_published_vector() -> None:
    """The example snapshot of Kraken's "book checksum v2" guide has checksum 3310070434."""
    from krakenwire.protocol.v2 import BookLevel
    from krakenwire.sandbox.ws_v2 import book_checksum

    bids = [("45283.5", "0.10000000"), ("45283.4", "1.54582015"), ("45282.1", "0.10000000"),
            ("45281.0", "0.10000000"), ("45280.3", "1.54592586"), ("45279.0", "0.07990000"),
            ("45277.6", "0.03310103"), ("45277.5", "0.30000000"), ("45277.3", "1.54602737"),
            ("45276.6", "0.15445238")]
    asks = [("45285.2", "0.00100000"), ("45286.4", "1.54571953"), ("45286.6", "1.54571109"),
            ("45289.6", "1.54560911"), ("45290.2", "0.15890660"), ("45291.8", "1.54553491"),
            ("45294.7", "0.04454749"), ("45296.1", "0.35380000"), ("45297.5", "0.09945542"),
            ("45299.5", "0.18772827")]

    def levels(rows: list[tuple[str, str]]) -> list[BookLevel]:
        return [BookLevel(Decimal(p), Decimal(q)) for p, q in rows]

    assert book_checksum(levels(bids), levels(asks), PAIRS["XXBTZUSD"]) == 3310070434


async def test_instrument_channel(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    conn = await connect(http, sb.ws_public_v2_url)
    await conn.send({"method": "subscribe", "req_id": 1, "params": {"channel": "instrument"}})
    ack, snap = await conn.recv_n(2)
    assert ack["result"] == {"channel": "instrument", "snapshot": True}
    pairs = {p["symbol"]: p for p in snap["data"]["pairs"]}
    btc = pairs["BTC/USD"]
    assert (btc["base"], btc["quote"], btc["price_precision"], btc["qty_precision"]) == (
        "BTC", "USD", 1, 8)
    assert btc["price_increment"] == 0.1 and btc["qty_min"] == 0.00005
    assert "BTC" in {a["id"] for a in snap["data"]["assets"]}


async def test_amended_report_and_order_status_false(sb: Sandbox,
                                                     http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await connect(http, sb.ws_auth_v2_url)
    await conn.send({"method": "subscribe", "params": {
        "channel": "executions", "token": token, "order_status": False}})
    ack, _snap = await conn.recv_n(2)
    assert ack["result"]["order_status"] is False
    await conn.send({"method": "add_order", "req_id": 1, "params": limit_order(token)})
    ack, new = await conn.recv_n(2)  # no pending_new with order_status: false
    order_id = ack["result"]["order_id"]
    assert new["data"][0]["exec_type"] == "new" and new["sequence"] == 2
    await conn.send({"method": "amend_order", "req_id": 2, "params": {
        "order_id": order_id, "order_qty": 0.02, "limit_price": 999.5, "token": token}})
    assert (await conn.recv())["result"]["order_id"] == order_id
    # amended is a status transition: filtered out too; now with the default subscription
    await conn.send({"method": "unsubscribe",
                     "params": {"channel": "executions", "token": token}})
    await conn.recv()
    await conn.send({"method": "subscribe",
                     "params": {"channel": "executions", "token": token}})
    await conn.recv_n(2)
    await conn.send({"method": "amend_order", "req_id": 3, "params": {
        "order_id": order_id, "order_qty": 0.03, "limit_price": 999.0, "token": token}})
    reply, report = await conn.recv_n(2)
    assert reply["success"] is True
    (d,) = report["data"]
    assert d["exec_type"] == "amended" and d["amended"] is True
    assert d["order_qty"] == 0.03 and d["limit_price"] == 999.0
    assert d["order_status"] == "new" and "symbol" not in d


async def test_stop_loss_trigger_reports_and_public_updates() -> None:
    async with Sandbox(manual_clock=True) as sb, http_session() as http:
        token = await get_token(http, sb)
        conn = await subscribed(http, sb, token, "executions")
        pub = await connect(http, sb.ws_public_v2_url)
        await pub.send({"method": "subscribe",
                        "params": {"channel": "ticker", "symbol": ["BTC/USD"]}})
        await pub.recv_n(2)
        await pub.send({"method": "subscribe",
                        "params": {"channel": "book", "symbol": ["BTC/USD"]}})
        _, book_snap = await pub.recv_n(2)
        await pub.send({"method": "subscribe",
                        "params": {"channel": "trade", "symbol": ["BTC/USD"]}})
        trade_ack, trade_snap = await pub.recv_n(2)
        assert trade_ack["result"] == {"channel": "trade", "snapshot": True,
                                       "symbol": "BTC/USD"}
        assert trade_snap["channel"] == "trade" and trade_snap["type"] == "snapshot"
        seen_ids = {t["trade_id"] for t in trade_snap["data"]}
        await conn.send({"method": "add_order", "req_id": 1, "params": {
            "order_type": "stop-loss", "side": "sell", "order_qty": 0.01, "symbol": "BTC/USD",
            "triggers": {"reference": "last", "price": 50000.0}, "token": token}})
        ack, pending, new = await conn.recv_n(3)
        order_id = ack["result"]["order_id"]
        p = pending["data"][0]
        assert p["order_type"] == "stop-loss" and p["stop_price"] == 50000.0
        assert p["triggers"] == {"reference": "last", "price": 50000.0, "price_type": "static",
                                 "status": "untriggered"}
        assert new["data"][0]["exec_type"] == "new"
        sb.core.exchange.set_price("XXBTZUSD", Decimal(49000))
        await sb.core.tick()
        status = await conn.until(lambda f: f["data"][0]["order_id"] == order_id)
        assert status["data"][0]["exec_type"] == "status"
        assert status["data"][0]["triggers"]["status"] == "triggered"
        trade = await conn.until(lambda f: f["data"][0]["exec_type"] == "trade")
        assert trade["data"][0]["order_id"] == order_id
        assert trade["data"][0]["last_price"] < 50000
        await conn.until(lambda f: f["data"][0]["exec_type"] == "filled")
        # the public feeds follow the market (updates come on the next housekeeping pass)
        updates: dict[str, Any] = {}
        while len(updates) < 3:
            frame = await pub.recv()
            updates.setdefault(frame["channel"], frame)
        prints, tick, book = updates["trade"], updates["ticker"], updates["book"]
        assert prints["type"] == "update"
        assert {t["trade_id"] for t in prints["data"]}.isdisjoint(seen_ids)
        assert {t["symbol"] for t in prints["data"]} == {"BTC/USD"}
        assert all(t["side"] in ("buy", "sell") and t["qty"] > 0 for t in prints["data"])
        assert tick["type"] == "update" and tick["data"][0]["last"] < 50000
        assert book["type"] == "update" and "timestamp" in book["data"][0]
        # apply the update to the snapshot: the checksum must match the resulting book
        levels = {side: {lv["price"]: lv["qty"] for lv in book_snap["data"][0][side]}
                  for side in ("bids", "asks")}
        for side in ("bids", "asks"):
            for lv in book["data"][0][side]:
                if lv["qty"] == 0:
                    levels[side].pop(lv["price"], None)
                else:
                    levels[side][lv["price"]] = lv["qty"]
        view = {"bids": [{"price": p, "qty": q}
                         for p, q in sorted(levels["bids"].items(), reverse=True)][:10],
                "asks": [{"price": p, "qty": q} for p, q in sorted(levels["asks"].items())][:10]}
        assert book["data"][0]["checksum"] == kraken_checksum(view, 1, 8)


async def test_engine_status_change_is_pushed_and_enforced(
        sb: Sandbox, http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await connect(http, sb.ws_auth_v2_url)
    sb.core.faults.system_status = "cancel_only"
    status = await conn.until(lambda f: f.get("channel") == "status")
    assert status["data"][0]["system"] == "cancel_only"
    await conn.send({"method": "add_order", "req_id": 1, "params": limit_order(token)})
    assert (await conn.recv())["error"] == "EService:Market in cancel_only mode"
    sb.core.faults.system_status = "online"
    status = await conn.until(lambda f: f.get("channel") == "status")
    assert status["data"][0]["system"] == "online"


async def test_tokens_never_logged(sb: Sandbox, http: aiohttp.ClientSession,
                                   caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    token = await get_token(http, sb)
    conn = await subscribed(http, sb, token, "executions", "balances")
    await conn.send({"method": "add_order", "req_id": 1, "params": limit_order(token)})
    await conn.recv_n(3)
    await conn.send({"method": "add_order", "req_id": 2, "params": limit_order(token[::-1])})
    assert (await conn.recv())["error"] == "ESession:Invalid session"
    async with http.post(sb.rest_url + "/sandbox/tokens/invalidate"):
        pass
    await conn.until(lambda f: f.get("error") == "ESession:Invalid session")
    await conn.ws.close()
    assert token not in caplog.text and token[::-1] not in caplog.text
    assert sb.credentials.api_secret not in caplog.text


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("-1e15"),
                   max_value=Decimal("1e15")))
def test_wire_numbers_keep_their_value_and_stay_json_numbers(value: Decimal) -> None:
    from krakenwire.protocol.v2 import encode
    from krakenwire.sandbox.ws_v2 import wire

    out = wire(value)
    assert out == value
    text = encode({"x": out}).decode()
    assert "E+" not in text and '"x":"' not in text
    assert json.loads(text, parse_float=Decimal, parse_int=Decimal)["x"] == value


async def test_sandbox_stop_closes_sockets_going_away(http: aiohttp.ClientSession) -> None:
    sb = Sandbox()
    await sb.start()
    try:
        token = await get_token(http, sb)
        conn = await subscribed(http, sb, token, "executions")
        stopping = asyncio.create_task(sb.stop())
        assert await conn.closed()
        assert conn.ws.close_code == 1001
        await asyncio.wait_for(stopping, TIMEOUT)
    finally:
        await sb.stop()


async def test_rest_orders_stream_on_executions(sb: Sandbox,
                                                http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await subscribed(http, sb, token, "executions")
    env = await rest_private(http, sb, "AddOrder", pair="XBTUSD", type="buy",
                             ordertype="limit", price="1000.5", volume="0.01")
    txid = env["result"]["txid"][0]
    pending, new = await conn.recv_n(2)
    assert pending["data"][0]["order_id"] == txid
    assert pending["data"][0]["exec_type"] == "pending_new"
    assert pending["data"][0]["limit_price"] == 1000.5
    assert new["data"][0] == {**new["data"][0], "order_id": txid, "exec_type": "new"}
    env = await rest_private(http, sb, "CancelOrder", txid=txid)
    assert env["result"]["count"] == 1
    cancelled = await conn.recv()
    assert cancelled["data"][0]["exec_type"] == "canceled"
    assert cancelled["sequence"] == new["sequence"] + 1


async def test_token_first_use_window_and_kept_alive_by_subscription() -> None:
    async with Sandbox(manual_clock=True) as sb, http_session() as http:
        unused = await get_token(http, sb)
        used = await get_token(http, sb)
        holder = await subscribed(http, sb, used, "executions")
        await sb.advance(901)
        conn = await connect(http, sb.ws_auth_v2_url)
        await conn.send({"method": "subscribe", "req_id": 1,
                         "params": {"channel": "balances", "token": unused}})
        assert (await conn.recv())["error"] == "ESession:Invalid session"
        await conn.send({"method": "subscribe", "req_id": 2,
                         "params": {"channel": "balances", "token": used}})
        assert (await conn.recv())["success"] is True  # held by `holder`'s subscription
        await holder.send({"method": "ping", "req_id": 3})
        assert (await holder.recv())["method"] == "pong"


async def test_more_trading_refusals_and_permissions(sb: Sandbox,
                                                     http: aiohttp.ClientSession) -> None:
    token = await get_token(http, sb)
    conn = await connect(http, sb.ws_auth_v2_url)
    await conn.send({"method": "batch_add", "req_id": 1, "params": {
        "symbol": "BTC/USD", "token": token, "orders": [
            {"order_type": "limit", "side": "buy", "limit_price": 1000.0, "order_qty": 0.01}]}})
    assert (await conn.recv())["error"] == "EGeneral:Invalid arguments:orders"
    await conn.send({"method": "edit_order", "req_id": 2, "params": {
        "order_id": "OAAAAA-BBBBB-CCCCCC", "symbol": "BTC/USD", "order_qty": 0.1,
        "token": token}})
    assert (await conn.recv())["error"] == "EOrder:Unknown order"
    await conn.send({"method": "amend_order", "req_id": 3, "params": {
        "cl_ord_id": "nobody", "order_qty": 0.1, "token": token}})
    assert (await conn.recv())["error"] == "EOrder:Unknown order"
    await conn.send({"method": "cancel_all_orders_after", "req_id": 4,
                     "params": {"timeout": 0, "token": token}})
    assert (await conn.recv())["result"]["triggerTime"] == "0"
    await conn.send({"method": "cancel_all_orders_after", "req_id": 5,
                     "params": {"timeout": "60", "token": token}})
    assert (await conn.recv())["error"] == "EGeneral:Invalid arguments:timeout"
    # a key that may query but not trade
    creds = sb.create_key(sb.demo_account, permissions={"query_funds", "query_orders",
                                                        "websocket"})
    rec = sb.core.gate.key(creds.api_key)
    assert rec is not None
    weak, _ = sb.core.gate.issue_token(rec)
    await conn.send({"method": "add_order", "req_id": 6, "params": limit_order(weak)})
    assert (await conn.recv())["error"] == "EGeneral:Permission denied"
    await conn.send({"method": "subscribe", "req_id": 7,
                     "params": {"channel": "executions", "token": weak}})
    assert (await conn.recv())["success"] is True
