"""Fidelity of the sandbox's REST answers to Kraken's documented shapes (docs.kraken.com REST
reference examples): key names and presence, strings vs numbers, decimals, error strings.

Each test names the Kraken example it follows. A real sandbox on 127.0.0.1 (port 0) is driven
with signed requests over aiohttp.
"""

from __future__ import annotations

import itertools
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from helpers import http_session
from krakenwire.auth import Signer
from krakenwire.sandbox import Sandbox
from krakenwire.sandbox import rest_render as rr

pytestmark = pytest.mark.timeout(60)

_nonces = itertools.count(int(time.time() * 1000) * 1000 + 500_000)
_DEC = r"-?\d+\.\d+"


class Api:
    """Public GETs and signed private POSTs against one sandbox."""

    def __init__(self, session: aiohttp.ClientSession, sb: Sandbox) -> None:
        self.session, self.sb = session, sb
        self.signer = Signer(sb.credentials.api_secret)

    async def get(self, method: str, query: str = "") -> dict[str, Any]:
        url = f"{self.sb.rest_url}/0/public/{method}" + (f"?{query}" if query else "")
        async with self.session.get(url) as r:
            assert r.status == 200
            out: dict[str, Any] = await r.json()
            return out

    async def post(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        data = {"nonce": next(_nonces), **(params or {})}
        body = urllib.parse.urlencode(data)
        path = f"/0/private/{method}"
        headers = {"API-Key": self.sb.credentials.api_key,
                   "API-Sign": self.signer.sign(path, data["nonce"], body),
                   "Content-Type": "application/x-www-form-urlencoded"}
        async with self.session.post(self.sb.rest_url + path, data=body.encode(),
                                     headers=headers) as r:
            assert r.status == 200
            out: dict[str, Any] = await r.json()
            return out

    async def ok(self, method: str, params: dict[str, Any] | None = None) -> Any:
        reply = await self.post(method, params)
        assert reply["error"] == [], reply
        return reply["result"]


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with Sandbox(manual_clock=True, seed=11) as sb, http_session() as s:
        await sb.advance(5)
        yield Api(s, sb)


def test_rfc1123_is_kraken_example_byte_for_byte() -> None:
    # Get Server Time example: {"unixtime":1688669448,"rfc1123":"Thu, 06 Jul 23 18:50:48 +0000"}
    assert rr.rfc1123(1688669448) == "Thu, 06 Jul 23 18:50:48 +0000"
    assert rr.rfc1123(1617831335).startswith("Wed, 07 Apr 21 ")  # day zero-padded


async def test_time_and_system_status(api: Api) -> None:
    t = await api.get("Time")
    assert set(t) == {"error", "result"} and t["error"] == []
    assert isinstance(t["result"]["unixtime"], int)
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \+0000",
                        t["result"]["rfc1123"])
    s = (await api.get("SystemStatus"))["result"]
    assert set(s) == {"status", "timestamp"} and s["status"] == "online"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s["timestamp"])


async def test_market_data_price_decimals_follow_kraken_examples(api: Api) -> None:
    # Ticker "a":["30300.10000","1","1.000"], Depth ["30384.10000","2.059",1688671659],
    # Trades ["30243.40000","0.34507674",1688669597.8277369,"b","m","",61044952],
    # Spread [1688671834,"30292.10000","30297.50000"]: XBTUSD prices with 5 decimals;
    # OHLC [1688671200,"30306.1",...,"3.39243896",23]: prices with pair_decimals (1).
    await api.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market",
                              "volume": "0.01"})
    tick = (await api.get("Ticker", "pair=XBTUSD"))["result"]["XXBTZUSD"]
    assert list(tick) == ["a", "b", "c", "v", "p", "t", "l", "h", "o"]
    assert re.fullmatch(r"\d+\.\d{5}", tick["a"][0]) and re.fullmatch(r"\d+", tick["a"][1])
    assert re.fullmatch(r"\d+\.\d{3}", tick["a"][2])
    assert re.fullmatch(r"\d+\.\d{5}", tick["c"][0]) and re.fullmatch(r"\d+\.\d{8}", tick["c"][1])
    assert re.fullmatch(r"\d+\.\d{8}", tick["v"][1]) and isinstance(tick["t"][0], int)
    assert re.fullmatch(r"\d+\.\d{5}", tick["o"])
    depth = (await api.get("Depth", "pair=XBTUSD&count=3"))["result"]["XXBTZUSD"]
    assert set(depth) == {"asks", "bids"}
    level = depth["asks"][0]
    assert re.fullmatch(r"\d+\.\d{5}", level[0]) and isinstance(level[2], int)
    assert re.fullmatch(r"\d+\.\d{3}", level[1])  # "2.059"
    trades = (await api.get("Trades", "pair=XBTUSD"))["result"]
    assert set(trades) == {"XXBTZUSD", "last"} and isinstance(trades["last"], str)
    row = trades["XXBTZUSD"][-1]
    assert re.fullmatch(r"\d+\.\d{5}", row[0]) and re.fullmatch(r"\d+\.\d{8}", row[1])
    assert isinstance(row[2], float) and row[3] in "bs" and row[4] in "ml"
    assert row[5] == "" and isinstance(row[6], int)
    spread = (await api.get("Spread", "pair=XBTUSD"))["result"]
    assert isinstance(spread["last"], int)
    assert re.fullmatch(r"\d+\.\d{5}", spread["XXBTZUSD"][0][1])
    ohlc = (await api.get("OHLC", "pair=XBTUSD"))["result"]
    candle = ohlc["XXBTZUSD"][-1]
    assert isinstance(ohlc["last"], int) and isinstance(candle[0], int)
    assert all(re.fullmatch(r"\d+\.\d", v) for v in candle[1:6])
    assert re.fullmatch(r"\d+\.\d{8}", candle[6]) and isinstance(candle[7], int)


async def test_assets_and_asset_pairs_shapes(api: Api) -> None:
    assets = (await api.get("Assets", "asset=XBT"))["result"]
    assert set(assets["XXBT"]) >= {"aclass", "altname", "decimals", "display_decimals",
                                   "status"}
    pair = (await api.get("AssetPairs", "pair=XBTUSD"))["result"]["XXBTZUSD"]
    for key in ("altname", "wsname", "aclass_base", "base", "aclass_quote", "quote", "lot",
                "cost_decimals", "pair_decimals", "lot_decimals", "lot_multiplier",
                "leverage_buy", "leverage_sell", "fees", "fees_maker", "fee_volume_currency",
                "margin_call", "margin_stop", "ordermin", "costmin", "tick_size", "status"):
        assert key in pair, key
    assert isinstance(pair["ordermin"], str) and isinstance(pair["costmin"], str)
    assert isinstance(pair["tick_size"], str) and isinstance(pair["pair_decimals"], int)


async def test_balances_are_decimal_strings(api: Api) -> None:
    # Balance {"ZUSD":"171288.6158",...}; BalanceEx {"ZUSD":{"balance":"...","hold_trade":"..."}}
    bal = await api.ok("Balance")
    assert all(isinstance(v, str) and re.fullmatch(_DEC, v) for v in bal.values())
    assert re.fullmatch(r"\d+\.\d{4}", bal["ZUSD"]) and re.fullmatch(r"\d+\.\d{10}", bal["XXBT"])
    await api.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                              "price": "1000", "volume": "0.01"})
    ex = await api.ok("BalanceEx")
    assert set(ex["ZUSD"]) >= {"balance", "hold_trade"}
    assert Decimal(ex["ZUSD"]["hold_trade"]) > 0 and isinstance(ex["ZUSD"]["balance"], str)
    tb = await api.ok("TradeBalance")
    assert set(tb) >= {"eb", "tb", "m", "n", "c", "v", "e", "mf"}
    assert all(isinstance(v, str) for v in tb.values())


async def test_add_order_descr_and_order_objects(api: Api) -> None:
    # AddOrder: {"descr":{"order":"buy 2.12340000 XBTUSD @ limit 25000.1"},"txid":["OUF4EM-..."]}
    res = await api.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                    "price": "25000.1", "volume": "2.1234", "userref": 5})
    assert res["descr"] == {"order": "buy 2.12340000 XBTUSD @ limit 25000.1"}
    assert isinstance(res["txid"], list) and len(res["txid"]) == 1
    txid = res["txid"][0]
    assert re.fullmatch(r"O[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}", txid)
    checked = await api.ok("AddOrder", {"pair": "XBTUSD", "type": "sell",
                                        "ordertype": "stop-loss-limit", "price": "22000",
                                        "price2": "21000", "volume": "0.01",
                                        "validate": "true"})
    assert checked == {"descr": {"order":
                                 "sell 0.01000000 XBTUSD @ stop loss 22000.0 -> limit 21000.0"}}
    opens = (await api.ok("OpenOrders"))["open"]
    o = opens[txid]
    assert o["refid"] is None and o["userref"] == 5 and o["status"] == "open"
    assert isinstance(o["opentm"], float) and o["starttm"] == 0 and o["expiretm"] == 0
    assert o["descr"] == {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                          "price": "25000.1", "price2": "0", "leverage": "none",
                          "order": "buy 2.12340000 XBTUSD @ limit 25000.1", "close": ""}
    for key in ("vol", "vol_exec", "cost", "fee", "price", "stopprice", "limitprice"):
        assert isinstance(o[key], str) and re.fullmatch(_DEC, o[key]), key
    assert o["vol"] == "2.12340000" and o["misc"] == "" and o["oflags"] == "fciq"
    assert "trigger" not in o
    stop = (await api.ok("AddOrder", {"pair": "XBTUSD", "type": "sell", "ordertype": "stop-loss",
                                      "price": "1000", "volume": "0.01",
                                      "trigger": "index"}))["txid"][0]
    # ClosedOrders example: trigger order types carry "trigger": "index" (or "last")
    assert (await api.ok("QueryOrders", {"txid": stop}))[stop]["trigger"] == "index"
    queried = await api.ok("QueryOrders", {"txid": txid})
    assert list(queried) == [txid] and queried[txid]["descr"] == o["descr"]
    assert await api.post("QueryOrders", {"txid": "OAAAAA-AAAAA-AAAAAA"}) == {
        "error": ["EOrder:Invalid order"]}


async def test_closed_orders_and_trades_history_with_count(api: Api) -> None:
    await api.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market",
                              "volume": "0.01"})
    res = await api.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                    "price": "1000", "volume": "0.01"})
    assert await api.ok("CancelOrder", {"txid": res["txid"][0]}) == {"count": 1}
    closed = await api.ok("ClosedOrders")
    assert set(closed) == {"closed", "count"} and closed["count"] == 2
    canceled = closed["closed"][res["txid"][0]]
    assert canceled["status"] == "canceled" and canceled["reason"] == "User requested"
    assert isinstance(canceled["closetm"], float)
    filled = next(o for o in closed["closed"].values() if o["status"] == "closed")
    assert Decimal(filled["vol_exec"]) == Decimal("0.01") and Decimal(filled["price"]) > 0
    hist = await api.ok("TradesHistory")
    assert set(hist) == {"trades", "count"} and hist["count"] == 1
    tid, trade = next(iter(hist["trades"].items()))
    for key in ("ordertxid", "postxid", "pair", "time", "type", "ordertype", "price", "cost",
                "fee", "vol", "margin", "misc", "trade_id", "maker"):
        assert key in trade, key
    assert trade["pair"] == "XXBTZUSD" and isinstance(trade["time"], float)
    assert trade["postxid"] == "TKH2SE-M7IF5-CFI7LT"  # as every spot trade in Kraken's example
    assert isinstance(trade["trade_id"], int) and trade["maker"] is False
    assert re.fullmatch(r"\d+\.\d{5}", trade["price"]) and re.fullmatch(r"\d+\.\d{8}",
                                                                        trade["vol"])
    assert (await api.ok("QueryTrades", {"txid": tid}))[tid] == trade
    # TradesHistory ledgers=true: "ledgers":["LXXURB-ITI7S-CXVERS","LTCMN2-5DZHX-6CPRC4"]
    with_ledgers = (await api.ok("TradesHistory", {"ledgers": "true"}))["trades"][tid]
    assert len(with_ledgers["ledgers"]) == 2 and "ledgers" not in trade
    ledger = await api.ok("Ledgers")
    assert set(ledger) == {"ledger", "count"}
    trades_only = await api.ok("Ledgers", {"type": "trade"})
    assert trades_only["count"] == 2 < ledger["count"]  # the deposits are left out
    assert {e["type"] for e in trades_only["ledger"].values()} == {"trade"}
    first_id = next(iter(trades_only["ledger"]))
    assert first_id not in (await api.ok("Ledgers", {"start": first_id}))["ledger"]
    entry = next(iter(ledger["ledger"].values()))
    assert set(entry) >= {"refid", "time", "type", "subtype", "aclass", "asset", "amount",
                          "fee", "balance"}


async def test_trading_method_result_shapes(api: Api) -> None:
    res = await api.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                    "price": "1000", "volume": "0.01"})
    txid = res["txid"][0]
    amended = await api.ok("AmendOrder", {"txid": txid, "order_qty": "0.02"})
    assert list(amended) == ["amend_id"]
    edited = await api.ok("EditOrder", {"txid": txid, "pair": "XBTUSD", "price": "1100"})
    assert set(edited) == {"status", "txid", "originaltxid", "volume", "price", "price2",
                           "orders_cancelled", "descr"}
    assert edited["status"] == "ok" and edited["originaltxid"] == txid
    # EditOrder example: "descr":{"order":"buy 0.00030000 XXBTZGBP @ limit 19500.0"}
    assert edited["descr"] == {"order": "buy 0.02000000 XXBTZUSD @ limit 1100.0"}
    assert edited["volume"] == "0.02000000" and edited["price"] == "1100.0"
    batch = await api.ok("AddOrderBatch", {
        "pair": "XBTUSD",
        "orders[0][type]": "buy", "orders[0][ordertype]": "limit",
        "orders[0][price]": "1000", "orders[0][volume]": "0.01",
        "orders[1][type]": "buy", "orders[1][ordertype]": "limit",
        "orders[1][price]": "1001", "orders[1][volume]": "0.01"})
    assert [set(o) for o in batch["orders"]] == [{"descr", "txid"}] * 2
    assert isinstance(batch["orders"][0]["txid"], str)
    ids = [o["txid"] for o in batch["orders"]]
    assert await api.ok("CancelOrderBatch", {"orders[0]": ids[0], "orders[1]": ids[1]}) == {
        "count": 2}
    assert await api.ok("CancelAll") == {"count": 1}
    armed = await api.ok("CancelAllOrdersAfter", {"timeout": 60})
    assert set(armed) == {"currentTime", "triggerTime"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", armed["triggerTime"])
    assert (await api.ok("CancelAllOrdersAfter", {"timeout": 0}))["triggerTime"] == "0"
    token = await api.ok("GetWebSocketsToken")
    assert set(token) == {"token", "expires"} and token["expires"] == 900
    assert len(token["token"]) == 43


async def test_error_strings(api: Api) -> None:
    async def err(method: str, params: dict[str, Any]) -> list[str]:
        reply = await api.post(method, params)
        assert "result" not in reply
        errs: list[str] = reply["error"]
        return errs

    assert await err("CancelOrder", {"txid": "OAAAAA-AAAAA-AAAAAA"}) == ["EOrder:Unknown order"]
    assert await err("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                  "price": "1000", "volume": "0.00001"}) == [
        "EOrder:Order minimum not met"]
    assert await err("AddOrder", {"pair": "NOPE", "type": "buy", "ordertype": "limit",
                                  "price": "1", "volume": "1"}) == ["EQuery:Unknown asset pair"]
    assert await err("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "nope",
                                  "volume": "1"}) == ["EGeneral:Invalid arguments:ordertype"]
    assert await err("Bogus", {}) == ["EGeneral:Unknown method"]


async def test_history_bounds_take_ids_and_trades_since_takes_seconds(api: Api) -> None:
    # ClosedOrders / TradesHistory: "start"/"end" = "Starting unix timestamp or order (trade)
    # tx ID of results (exclusive)"; Trades: "since" example 1616663618 (Unix seconds)
    first = (await api.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market",
                                       "volume": "0.01"}))["txid"][0]
    await api.sb.advance(10)
    second = (await api.ok("AddOrder", {"pair": "XBTUSD", "type": "buy",
                                        "ordertype": "market", "volume": "0.01"}))["txid"][0]
    after_first = await api.ok("ClosedOrders", {"start": first})
    assert list(after_first["closed"]) == [second] and after_first["count"] == 1
    up_to_first = await api.ok("ClosedOrders", {"end": first})
    assert list(up_to_first["closed"]) == [first]
    hist = await api.ok("TradesHistory")
    by_order = {t["ordertxid"]: tid for tid, t in hist["trades"].items()}
    later = await api.ok("TradesHistory", {"start": by_order[first]})
    assert list(later["trades"]) == [by_order[second]]
    assert (await api.post("TradesHistory", {"start": "TAAAAA-AAAAA-AAAAAA"}))["error"] == [
        "EGeneral:Invalid arguments:start"]
    trades = (await api.get("Trades", "pair=XBTUSD"))["result"]
    recent = [row[2] for row in trades["XXBTZUSD"]]
    cut = int(max(recent)) - 5  # Unix seconds, between the two market orders' trades
    since = (await api.get("Trades", f"pair=XBTUSD&since={cut}"))["result"]["XXBTZUSD"]
    assert since and all(row[2] > cut for row in since) and len(since) < len(recent)
    as_ns = (await api.get("Trades", f"pair=XBTUSD&since={cut * 10**9}"))["result"]
    assert as_ns["XXBTZUSD"] == since
    future = str(int(max(recent) + 3600) * 10**9)
    empty = (await api.get("Trades", f"pair=XBTUSD&since={future}"))["result"]
    assert empty == {"XXBTZUSD": [], "last": future}
