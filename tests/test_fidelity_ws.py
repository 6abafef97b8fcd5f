"""Fidelity of the sandbox's WebSocket frames (v2 ``/ws-auth/v2`` and v1 ``/ws-auth``) to
Kraken's documented messages and recorded frames: key names and presence, numbers vs strings,
replies of every trading method, error strings.

Raw aiohttp sockets against a real sandbox on 127.0.0.1 (port 0); every wait is on a frame.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from helpers import get_token, http_session
from krakenwire.sandbox import Sandbox

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 5.0
_RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"


class Sock:
    """A raw socket: send dicts, take the first frame (received or still unread) matching a
    predicate; frames not taken stay in the backlog, so arrival order does not matter."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.backlog: list[Any] = []

    async def send(self, msg: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(msg))

    async def until(self, match: Callable[[Any], bool]) -> Any:
        for i, frame in enumerate(self.backlog):
            if match(frame):
                return self.backlog.pop(i)

        async def loop() -> Any:
            while True:
                msg = await self.ws.receive()
                assert msg.type == aiohttp.WSMsgType.TEXT, msg
                frame = json.loads(msg.data)
                if match(frame):
                    return frame
                self.backlog.append(frame)
        return await asyncio.wait_for(loop(), TIMEOUT)


def _method(name: str) -> Callable[[Any], bool]:
    return lambda f: isinstance(f, dict) and f.get("method") == name


def _exec(order_id: str, exec_type: str) -> Callable[[Any], bool]:
    def match(f: Any) -> bool:
        return (isinstance(f, dict) and f.get("channel") == "executions"
                and any(d.get("order_id") == order_id and d.get("exec_type") == exec_type
                        for d in f.get("data", [])))
    return match


def _entry(frame: dict[str, Any], order_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in frame["data"] if d["order_id"] == order_id)
    return found


@pytest.fixture
async def env() -> AsyncIterator[tuple[Sandbox, aiohttp.ClientSession, str]]:
    async with Sandbox(manual_clock=True, seed=5) as sb, http_session() as http:
        yield sb, http, await get_token(http, sb)


# --- v2 ---------------------------------------------------------------------------------------
async def _v2(env: tuple[Sandbox, aiohttp.ClientSession, str]) -> tuple[Sock, str]:
    sb, http, token = env
    ws = await http.ws_connect(sb.ws_auth_v2_url)
    sock = Sock(ws)
    status = await sock.until(lambda f: f.get("channel") == "status")
    # {"channel":"status","data":[{"api_version":"v2","connection_id":...,"system":"online",
    #  "version":"2.0.0"}],"type":"update"}
    assert status["type"] == "update" and set(status["data"][0]) == {
        "api_version", "connection_id", "system", "version"}
    assert isinstance(status["data"][0]["connection_id"], int)
    await sock.send({"method": "subscribe", "req_id": 1,
                     "params": {"channel": "executions", "token": token}})
    ack = await sock.until(_method("subscribe"))
    assert ack["success"] is True and ack["req_id"] == 1
    assert ack["result"] == {"channel": "executions", "maxratecount": ack["result"]["maxratecount"],
                             "snap_orders": True, "snap_trades": False}
    assert re.fullmatch(_RFC3339, ack["time_in"]) and re.fullmatch(_RFC3339, ack["time_out"])
    snap = await sock.until(lambda f: f.get("channel") == "executions")
    assert snap["type"] == "snapshot" and snap["sequence"] == 1
    return sock, token


async def test_v2_trigger_reference_defaults_to_last(
        env: tuple[Sandbox, aiohttp.ClientSession, str]) -> None:
    # add_order docs: triggers.reference "One of: index, last  Default: last"
    sock, token = await _v2(env)
    await sock.send({"method": "add_order", "req_id": 2, "params": {
        "order_type": "stop-loss", "side": "sell", "order_qty": 0.01, "symbol": "BTC/USD",
        "triggers": {"price": 1000}, "token": token}})
    ack = await sock.until(_method("add_order"))
    oid = ack["result"]["order_id"]
    pending = _entry(await sock.until(_exec(oid, "pending_new")), oid)
    assert pending["triggers"] == {"reference": "last", "price": 1000.0,
                                   "price_type": "static", "status": "untriggered"}
    assert pending["stop_price"] == 1000.0 and pending["order_type"] == "stop-loss"
    await sock.ws.close()


async def test_v2_amended_report_carries_kraken_fields(
        env: tuple[Sandbox, aiohttp.ClientSession, str]) -> None:
    # recorded amend report: {"timestamp":...,"exec_type":"amended","order_status":"new",
    # "cum_qty":0.00000000,"reason":"User requested","amended":true,"order_qty":5.10000000,
    # "limit_price":0.9600,"limit_price_type":"static","order_userref":0,"order_id":...}
    sock, token = await _v2(env)
    await sock.send({"method": "add_order", "req_id": 2, "params": {
        "order_type": "limit", "side": "buy", "limit_price": 1000, "order_qty": 0.01,
        "symbol": "BTC/USD", "token": token}})
    oid = (await sock.until(_method("add_order")))["result"]["order_id"]
    await sock.until(_exec(oid, "new"))
    await sock.send({"method": "amend_order", "req_id": 3, "params": {
        "order_id": oid, "order_qty": 0.02, "limit_price": 1001, "token": token}})
    ack = await sock.until(_method("amend_order"))
    assert set(ack["result"]) == {"amend_id", "order_id"} and ack["result"]["order_id"] == oid
    rep = _entry(await sock.until(_exec(oid, "amended")), oid)
    assert rep["order_status"] == "new" and rep["amended"] is True
    assert rep["cum_qty"] == 0 and rep["reason"] == "User requested"
    assert rep["order_qty"] == 0.02 and rep["limit_price"] == 1001.0
    assert rep["limit_price_type"] == "static" and rep["order_userref"] == 0
    assert "symbol" not in rep  # update frames carry only what changed
    await sock.ws.close()


async def test_v2_lifecycle_and_method_replies(
        env: tuple[Sandbox, aiohttp.ClientSession, str]) -> None:
    sock, token = await _v2(env)
    # pending_new / new as the executions doc examples
    await sock.send({"method": "add_order", "req_id": 2, "params": {
        "order_type": "limit", "side": "buy", "limit_price": 1000, "order_qty": 0.01,
        "order_userref": 7, "symbol": "BTC/USD", "token": token}})
    ack = await sock.until(_method("add_order"))
    assert ack["result"] == {"order_id": ack["result"]["order_id"], "order_userref": 7}
    oid = ack["result"]["order_id"]
    pending = _entry(await sock.until(_exec(oid, "pending_new")), oid)
    assert {"order_id", "symbol", "order_qty", "cum_cost", "time_in_force", "exec_type",
            "side", "order_type", "order_userref", "limit_price_type", "limit_price",
            "stop_price", "order_status", "fee_usd_equiv", "fee_ccy_pref",
            "timestamp"} <= set(pending)
    assert pending["fee_ccy_pref"] == "fciq" and pending["time_in_force"] == "GTC"
    assert re.fullmatch(_RFC3339, pending["timestamp"])
    new = _entry(await sock.until(_exec(oid, "new")), oid)
    assert set(new) == {"timestamp", "order_status", "exec_type", "order_userref", "order_id"}
    # edit_order: {"order_id": new, "original_order_id": old}
    await sock.send({"method": "edit_order", "req_id": 3, "params": {
        "order_id": oid, "symbol": "BTC/USD", "order_qty": 0.03, "token": token}})
    edit = await sock.until(_method("edit_order"))
    assert edit["result"]["original_order_id"] == oid and set(edit["result"]) == {
        "order_id", "original_order_id"}
    new_id = edit["result"]["order_id"]
    # cancel_order: one reply per order, {"order_id": ...}
    await sock.send({"method": "cancel_order", "req_id": 4,
                     "params": {"order_id": [new_id], "token": token}})
    cancel = await sock.until(_method("cancel_order"))
    assert cancel["result"] == {"order_id": new_id} and cancel["req_id"] == 4
    rep = _entry(await sock.until(_exec(new_id, "canceled")), new_id)
    assert rep["reason"] == "User requested" and rep["cancel_reason"] == "User requested"
    assert {"cum_qty", "cum_cost", "avg_price", "fee_usd_equiv"} <= set(rep)
    # market order: trade report then filled report
    await sock.send({"method": "add_order", "req_id": 5, "params": {
        "order_type": "market", "side": "buy", "order_qty": 0.01, "symbol": "BTC/USD",
        "token": token}})
    mid = (await sock.until(_method("add_order")))["result"]["order_id"]
    trade = _entry(await sock.until(_exec(mid, "trade")), mid)
    assert {"exec_id", "trade_id", "last_qty", "last_price", "liquidity_ind", "cost",
            "fees", "fee_usd_equiv", "cum_qty", "cum_cost", "avg_price"} <= set(trade)
    assert trade["liquidity_ind"] == "t" and trade["fees"][0]["asset"] == "USD"
    assert isinstance(trade["trade_id"], int) and isinstance(trade["last_qty"], float)
    await sock.until(_exec(mid, "filled"))
    # cancel_all / cancel_all_orders_after (camelCase even in v2)
    await sock.send({"method": "cancel_all", "req_id": 6, "params": {"token": token}})
    assert (await sock.until(_method("cancel_all")))["result"] == {"count": 0}
    await sock.send({"method": "cancel_all_orders_after", "req_id": 7,
                     "params": {"timeout": 60, "token": token}})
    caoa = await sock.until(_method("cancel_all_orders_after"))
    assert set(caoa["result"]) == {"currentTime", "triggerTime"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", caoa["result"]["triggerTime"])
    # errors: REST strings, v2 envelope
    await sock.send({"method": "add_order", "req_id": 8, "params": {
        "order_type": "limit", "side": "buy", "limit_price": 1000, "order_qty": 0.00001,
        "symbol": "BTC/USD", "token": token}})
    err = await sock.until(_method("add_order"))
    assert err["success"] is False and err["error"] == "EOrder:Order minimum not met"
    assert "result" not in err and err["req_id"] == 8
    await sock.send({"method": "ping", "req_id": 9})
    pong = await sock.until(_method("pong"))
    assert set(pong) == {"method", "req_id", "time_in", "time_out"}
    await sock.ws.close()


async def test_v2_balances_snapshot_and_token_errors(
        env: tuple[Sandbox, aiohttp.ClientSession, str]) -> None:
    sock, token = await _v2(env)
    await sock.send({"method": "subscribe", "params": {"channel": "balances", "token": token}})
    ack = await sock.until(lambda f: f.get("method") == "subscribe")
    assert ack["result"] == {"channel": "balances", "snapshot": True}
    snap = await sock.until(lambda f: f.get("channel") == "balances")
    assert snap["type"] == "snapshot" and snap["sequence"] == 1
    usd = next(b for b in snap["data"] if b["asset"] == "USD")
    assert usd["asset_class"] == "currency" and isinstance(usd["balance"], float)
    assert usd["wallets"] == [{"type": "spot", "id": "main", "balance": usd["balance"]}]
    await sock.send({"method": "subscribe", "req_id": 5,
                     "params": {"channel": "executions", "token": "nope"}})
    bad = await sock.until(lambda f: f.get("req_id") == 5)
    assert bad["error"] == "ESession:Invalid session" and bad["success"] is False
    await sock.send({"method": "cancel_all", "req_id": 6, "params": {}})
    missing = await sock.until(lambda f: f.get("req_id") == 6)
    assert missing["error"] == "Token(s) not found" and missing["success"] is False
    await sock.ws.close()


# --- v1 ---------------------------------------------------------------------------------------
def _oo(order_id: str, key: str | None = None) -> Callable[[Any], bool]:
    def match(f: Any) -> bool:
        return (isinstance(f, list) and f[1] == "openOrders"
                and any(order_id in e and (key is None or key in e[order_id]) for e in f[0]))
    return match


async def _v1(env: tuple[Sandbox, aiohttp.ClientSession, str]) -> tuple[Sock, str]:
    sb, http, token = env
    sock = Sock(await http.ws_connect(sb.ws_auth_v1_url))
    status = await sock.until(lambda f: isinstance(f, dict) and f.get("event") == "systemStatus")
    assert set(status) == {"connectionID", "event", "status", "version"}
    await sock.send({"event": "subscribe", "reqid": 1,
                     "subscription": {"name": "openOrders", "token": token}})
    ack = await sock.until(lambda f: isinstance(f, dict) and f.get("event") ==
                           "subscriptionStatus")
    assert ack == {"channelName": "openOrders", "event": "subscriptionStatus", "reqid": 1,
                   "status": "subscribed",
                   "subscription": {"maxratecount": ack["subscription"]["maxratecount"],
                                    "name": "openOrders"}}
    snap = await sock.until(lambda f: isinstance(f, list) and f[1] == "openOrders")
    assert snap == [[], "openOrders", {"sequence": 1}]
    return sock, token


def _event(name: str) -> Callable[[Any], bool]:
    return lambda f: isinstance(f, dict) and f.get("event") == name


async def test_v1_add_amend_edit_cancel_replies(
        env: tuple[Sandbox, aiohttp.ClientSession, str]) -> None:
    sock, token = await _v1(env)
    await sock.send({"event": "addOrder", "token": token, "reqid": 2, "pair": "XBT/USD",
                     "type": "buy", "ordertype": "limit", "price": "4000", "volume": "0.0177"})
    ack = await sock.until(_event("addOrderStatus"))
    # {"descr":"buy 0.01770000 XBTUSD @ limit 4000","event":"addOrderStatus","status":"ok",
    #  "txid":"ONPNXH-KMKMU-F4MR5V"}
    assert ack == {"descr": "buy 0.01770000 XBTUSD @ limit 4000", "event": "addOrderStatus",
                   "reqid": 2, "status": "ok", "txid": ack["txid"]}
    oid = ack["txid"]
    full = await sock.until(_oo(oid, "descr"))
    entry = full[0][0][oid]
    assert all(isinstance(entry[k], str) for k in ("avg_price", "cost", "fee", "vol",
                                                   "vol_exec", "opentm", "stopprice"))
    assert entry["descr"]["pair"] == "XBT/USD" and entry["status"] == "pending"
    assert isinstance(entry["userref"], int)
    await sock.until(_oo(oid, "status"))
    # amendOrder uses "volume" (string); the update carries the new volume
    await sock.send({"event": "amendOrder", "token": token, "reqid": 3, "txid": oid,
                     "volume": "0.02"})
    amend = await sock.until(_event("amendOrderStatus"))
    assert amend["status"] == "ok" and amend["txid"] == oid and "amend_id" in amend
    upd = await sock.until(_oo(oid, "amended"))
    assert upd[0][0][oid]["vol"] == "0.02000000"
    # editOrder: {"descr":"order edited price = 9000.00000000","event":"editOrderStatus",
    #  "originaltxid":...,"reqid":3,"status":"ok","txid":...}
    await sock.send({"event": "editOrder", "token": token, "reqid": 4, "orderid": oid,
                     "pair": "XBT/USD", "price": "9000", "volume": "0.02"})
    edit = await sock.until(_event("editOrderStatus"))
    assert edit["status"] == "ok" and edit["originaltxid"] == oid and edit["reqid"] == 4
    assert edit["descr"] == "order edited price = 9000.00000000"
    new_id = edit["txid"]
    await sock.send({"event": "cancelOrder", "token": token, "reqid": 5,
                     "txid": [new_id, "OAAAAA-AAAAA-AAAAAA"]})
    first = await sock.until(_event("cancelOrderStatus"))
    second = await sock.until(_event("cancelOrderStatus"))
    replies = sorted([first, second], key=lambda r: r["status"])
    assert replies[0] == {"errorMessage": "EOrder:Unknown order", "event": "cancelOrderStatus",
                          "reqid": 5, "status": "error"}
    assert replies[1]["status"] == "ok" and replies[1]["reqid"] == 5
    await sock.send({"event": "cancelAll", "token": token, "reqid": 6})
    assert await sock.until(_event("cancelAllStatus")) == {
        "count": 0, "event": "cancelAllStatus", "reqid": 6, "status": "ok"}
    await sock.send({"event": "cancelAllOrdersAfter", "token": token, "reqid": 7,
                     "timeout": 0})
    caoa = await sock.until(_event("cancelAllOrdersAfterStatus"))
    assert caoa["triggerTime"] == "0" and caoa["status"] == "ok"
    await sock.send({"event": "addOrder", "token": token, "reqid": 8, "pair": "XBT/USD",
                     "type": "buy", "ordertype": "limit", "price": "4000",
                     "volume": "0.00001"})
    assert await sock.until(_event("addOrderStatus")) == {
        "errorMessage": "EOrder:Order minimum not met", "event": "addOrderStatus",
        "reqid": 8, "status": "error"}
    await sock.ws.close()


async def test_v1_own_trades_and_bad_token(
        env: tuple[Sandbox, aiohttp.ClientSession, str]) -> None:
    sock, token = await _v1(env)
    await sock.send({"event": "subscribe", "subscription": {"name": "ownTrades",
                                                             "token": token}})
    ack = await sock.until(lambda f: isinstance(f, dict) and f.get("channelName") ==
                           "ownTrades")
    assert ack == {"channelName": "ownTrades", "event": "subscriptionStatus",
                   "status": "subscribed", "subscription": {"name": "ownTrades"}}
    await sock.until(lambda f: isinstance(f, list) and f[1] == "ownTrades")
    await sock.send({"event": "addOrder", "token": token, "pair": "XBT/USD", "type": "buy",
                     "ordertype": "market", "volume": "0.01"})
    frame = await sock.until(lambda f: isinstance(f, list) and f[1] == "ownTrades" and f[0])
    tid, trade = next(iter(frame[0][0].items()))
    assert tid.startswith("T") and trade["ordertxid"].startswith("O")
    assert {"cost", "fee", "margin", "ordertxid", "ordertype", "pair", "postxid", "price",
            "time", "type", "vol"} <= set(trade)
    assert trade["pair"] == "XBT/USD" and all(
        isinstance(trade[k], str) for k in ("cost", "fee", "price", "time", "vol"))
    await sock.send({"event": "subscribe", "subscription": {"name": "openOrders",
                                                             "token": "nope"}})
    bad = await sock.until(lambda f: isinstance(f, dict) and f.get("status") == "error")
    assert bad == {"errorMessage": "ESession:Invalid session", "event": "subscriptionStatus",
                   "status": "error", "subscription": {"name": "openOrders", "token": "nope"}}
    await sock.ws.close()


async def test_v2_instrument_assets_agree_with_rest_assets(
        env: tuple[Sandbox, aiohttp.ClientSession, str]) -> None:
    # recorded instrument asset: {"borrowable":true,"collateral_value":1.0,"id":"BTC",...,
    # "precision":10,"precision_display":5,"status":"enabled"}; REST Assets says the same
    sb, http, _ = env
    sock = Sock(await http.ws_connect(sb.ws_auth_v2_url.replace("/ws-auth/v2", "/ws/v2")))
    await sock.send({"method": "subscribe", "req_id": 1, "params": {"channel": "instrument"}})
    snap = await sock.until(lambda f: f.get("channel") == "instrument")
    btc = next(a for a in snap["data"]["assets"] if a["id"] == "BTC")
    async with http.get(sb.rest_url + "/0/public/Assets?asset=XBT") as r:
        rest = (await r.json())["result"]["XXBT"]
    assert btc["collateral_value"] == rest["collateral_value"] == 1.0
    assert (btc["precision"], btc["precision_display"]) == (rest["decimals"],
                                                           rest["display_decimals"])
    assert btc["status"] == rest["status"] == "enabled"
    await sock.ws.close()
