"""End-to-end REST tests: a real sandbox on 127.0.0.1 (port 0), driven with raw aiohttp
requests, with urllib3, and with krakenex (an unmodified third-party Kraken client)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import krakenex
import pytest
import urllib3

from helpers import WAIT, SignedRest, http_session, next_nonce, signed_rest
from krakenwire.auth import Credentials, Signer
from krakenwire.sandbox import Sandbox, SandboxThread

pytestmark = pytest.mark.timeout(60)

@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    async with Sandbox(manual_clock=True, seed=7) as sandbox:
        yield sandbox


raw = signed_rest


def _kraken(sb: Sandbox, creds: Credentials) -> krakenex.API:
    k = krakenex.API(creds.api_key, creds.api_secret)
    k.uri = sb.rest_url
    return k


_last_ms = [0]


def _kx(k: krakenex.API, method: str, data: dict[str, Any] | None = None) -> Any:
    """krakenex.query_private, never twice in one millisecond (its nonce is ms time: Kraken
    itself would refuse two calls in the same millisecond)."""
    while int(time.time() * 1000) <= _last_ms[0]:
        pass
    _last_ms[0] = int(time.time() * 1000)
    return k.query_private(method, data or {}, timeout=WAIT)


def _fails(reply: dict[str, Any], error: str) -> None:
    assert reply == {"error": [error]}


# --- public -------------------------------------------------------------------------------------
async def test_public_endpoints(sb: Sandbox) -> None:
    async with http_session() as s:
        async def get(path: str) -> Any:
            async with s.get(sb.rest_url + path) as r:
                assert r.status == 200
                return await r.json()

        t = (await get("/0/public/Time"))["result"]
        assert t["unixtime"] == int(sb.clock.now())
        assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \+0000",
                            t["rfc1123"])
        assert (await get("/0/public/SystemStatus"))["result"]["status"] == "online"
        pairs = (await get("/0/public/AssetPairs?pair=XBTUSD,ETH/BTC"))["result"]
        assert set(pairs) == {"XXBTZUSD", "XETHXXBT"}
        btc = pairs["XXBTZUSD"]
        assert btc["wsname"] == "XBT/USD" and btc["altname"] == "XBTUSD"
        assert (btc["pair_decimals"], btc["lot_decimals"], btc["cost_decimals"]) == (1, 8, 5)
        assert btc["ordermin"] == "0.00005" and btc["tick_size"] == "0.1"
        assert btc["status"] == "online" and btc["fees_maker"][0] == [0, 0.25]
        assets = (await get("/0/public/Assets?asset=XBT"))["result"]
        assert assets["XXBT"]["decimals"] == 10
        tick = (await get("/0/public/Ticker?pair=XBTUSD"))["result"]
        assert list(tick) == ["XXBTZUSD"]  # keyed by pair id even when asked by altname
        a = tick["XXBTZUSD"]
        assert Decimal(a["a"][0]) > Decimal(a["b"][0]) > 0
        assert re.fullmatch(r"\d+\.\d{5}", a["c"][0])  # cost_decimals, as Kraken's example
        depth = (await get("/0/public/Depth?pair=XXBTZUSD&count=5"))["result"]["XXBTZUSD"]
        assert 0 < len(depth["asks"]) <= 5 and 0 < len(depth["bids"]) <= 5
        assert Decimal(depth["asks"][0][0]) > Decimal(depth["bids"][0][0])
        assert await get("/0/public/Ticker?pair=NOPE") == {"error": ["EQuery:Unknown asset pair"]}
        assert await get("/0/public/Bogus") == {"error": ["EGeneral:Unknown method"]}
        async with s.post(sb.rest_url + "/0/public/Time") as r:
            assert r.status == 405
        async with s.get(sb.rest_url + "/0/private/Balance") as r:
            assert r.status == 405
        # some clients keep a path prefix: the same API answers under it
        assert "unixtime" in (await get("/api/0/public/Time"))["result"]


# --- auth with krakenex ---------------------------------------------------------------------------
async def test_krakenex_token_balance_and_auth_errors(sb: Sandbox) -> None:
    creds = sb.credentials

    def drive() -> None:
        k = _kraken(sb, creds)
        token = _kx(k, "GetWebSocketsToken")["result"]
        assert token["expires"] == 900
        assert re.fullmatch(r"[A-Za-z0-9+/]{43}", token["token"])
        bal = _kx(k, "Balance")["result"]
        assert bal["ZUSD"] == "100000.0000" and bal["XXBT"] == "10.0000000000"
        bad = krakenex.API(creds.api_key, Credentials("x", "A" * 88).api_secret)
        bad.uri = sb.rest_url
        _fails(_kx(bad, "Balance"), "EAPI:Invalid key")
        unknown = krakenex.API("Z" * 56, creds.api_secret)
        unknown.uri = sb.rest_url
        _fails(_kx(unknown, "Balance"), "EAPI:Invalid key")
        assert "Unknown method" in _kx(k, "NoSuchMethod")["error"][0]

    await asyncio.to_thread(drive)


async def test_krakenex_after_a_bigger_nonce_is_refused(sb: Sandbox, raw: SignedRest) -> None:
    """Nonces are per key and only go up: once a nanosecond nonce was used, krakenex's
    millisecond nonces are replays (Kraken's documented trap)."""
    acct = sb.create_account({"USD": "3"})
    creds = sb.create_key(acct)
    other = SignedRest(raw.session, sb, creds)
    assert await other.ok("Balance", nonce=time.time_ns()) == {"ZUSD": "3.0000"}

    def drive() -> None:
        _fails(_kx(_kraken(sb, creds), "Balance"), "EAPI:Invalid nonce")

    await asyncio.to_thread(drive)


async def test_replayed_nonce_and_signature_over_raw_bytes(raw: SignedRest) -> None:
    n = next_nonce()
    assert "ZUSD" in await raw.ok("Balance", nonce=n)
    _fails(await raw.post("Balance", nonce=n), "EAPI:Invalid nonce")
    _fails(await raw.post("Balance", nonce=n - 5), "EAPI:Invalid nonce")
    # JSON body: signed over the exact JSON text, nonce as a JSON number
    assert "ZUSD" in await raw.ok("Balance", as_json=True)
    # a body altered after signing is refused as an invalid key (§10)
    path = "/0/private/Balance"
    n = next_nonce()
    sig = Signer(raw.creds.api_secret).sign(path, n, f"nonce={n}")
    async with raw.session.post(raw.sb.rest_url + path, data=f"nonce={n}&x=1",
                                headers={"API-Key": raw.creds.api_key, "API-Sign": sig,
                                         "Content-Type": "application/x-www-form-urlencoded"}
                                ) as r:
        assert await r.json() == {"error": ["EAPI:Invalid key"]}


async def test_missing_permission(sb: Sandbox) -> None:
    acct = sb.create_account({"USD": "100"})
    creds = sb.create_key(acct, permissions=["query_funds"])

    def drive() -> None:
        k = _kraken(sb, creds)
        assert _kx(k, "Balance")["result"] == {"ZUSD": "100.0000"}
        _fails(_kx(k, "GetWebSocketsToken"), "EGeneral:Permission denied")
        _fails(_kx(k, "OpenOrders"), "EGeneral:Permission denied")
        _fails(_kx(k, "AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market",
                                    "volume": "0.001"}), "EGeneral:Permission denied")

    await asyncio.to_thread(drive)


async def test_rest_rate_limit_and_decay(sb: Sandbox, raw: SignedRest) -> None:
    acct = sb.create_account({"USD": "1"})
    limited = SignedRest(raw.session, sb, sb.create_key(acct, tier="starter"))  # max 15, 0.33/s
    for _ in range(15):
        await limited.ok("Balance")
    _fails(await limited.post("Balance"), "EAPI:Rate limit exceeded")
    await sb.advance(3.1)  # decays by ~1
    await limited.ok("Balance")
    _fails(await limited.post("Balance"), "EAPI:Rate limit exceeded")


async def test_lockout_after_burst_of_bad_signatures(sb: Sandbox, raw: SignedRest) -> None:
    acct = sb.create_account({"USD": "1"})
    victim = SignedRest(raw.session, sb, sb.create_key(acct))
    wrong = Credentials("x", "B" * 88).api_secret
    threshold = sb.core.gate.settings.lockout_threshold
    for _ in range(threshold):
        _fails(await victim.post("Balance", secret=wrong), "EAPI:Invalid key")
    _fails(await victim.post("Balance"), "EGeneral:Temporary lockout")
    await sb.advance(sb.core.gate.settings.lockout_duration + 1)
    assert await victim.ok("Balance") == {"ZUSD": "1.0000"}


# --- orders ---------------------------------------------------------------------------------------
async def test_krakenex_add_query_cancel_and_fill(sb: Sandbox) -> None:
    creds = sb.credentials

    def drive() -> dict[str, Any]:
        k = _kraken(sb, creds)
        added = _kx(k, "AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                     "price": "30000", "volume": "1.25", "userref": 42})
        assert added["error"] == []
        assert added["result"]["descr"] == {"order": "buy 1.25000000 XBTUSD @ limit 30000.0"}
        (txid,) = added["result"]["txid"]
        assert re.fullmatch(r"O[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}", txid)
        opened = _kx(k, "OpenOrders")["result"]["open"][txid]
        assert opened["status"] == "open" and opened["userref"] == 42
        assert opened["vol"] == "1.25000000" and opened["descr"]["price"] == "30000.0"
        assert isinstance(opened["opentm"], float)
        held = _kx(k, "BalanceEx")["result"]["ZUSD"]
        assert Decimal(held["hold_trade"]) >= Decimal("37500")
        queried = _kx(k, "QueryOrders", {"txid": txid})["result"]
        assert queried[txid]["descr"]["order"] == "buy 1.25000000 XBTUSD @ limit 30000.0"
        assert _kx(k, "CancelOrder", {"txid": "42"})["result"] == {"count": 1}  # by userref
        _fails(_kx(k, "CancelOrder", {"txid": txid}), "EOrder:Unknown order")
        closed = _kx(k, "ClosedOrders")["result"]
        assert closed["closed"][txid]["status"] == "canceled" and closed["count"] == 1
        assert _kx(k, "BalanceEx")["result"]["ZUSD"]["hold_trade"] == "0.0000"
        # a market buy fills against the simulated market
        before = _kx(k, "Balance")["result"]
        bought = _kx(k, "AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market",
                                      "volume": "0.5"})
        (mtx,) = bought["result"]["txid"]
        order = _kx(k, "QueryOrders", {"txid": mtx, "trades": True})["result"][mtx]
        assert order["status"] == "closed" and order["vol_exec"] == "0.50000000"
        trades = _kx(k, "TradesHistory")["result"]
        assert trades["count"] >= 1
        mine = [t for t in trades["trades"].values() if t["ordertxid"] == mtx]
        assert sum(Decimal(t["vol"]) for t in mine) == Decimal("0.5")
        assert set(order["trades"]) == {tid for tid, t in trades["trades"].items()
                                        if t["ordertxid"] == mtx}
        after = _kx(k, "Balance")["result"]
        cost = sum(Decimal(t["cost"]) for t in mine)
        fee = sum(Decimal(t["fee"]) for t in mine)
        assert Decimal(after["XXBT"]) - Decimal(before["XXBT"]) == Decimal("0.5")
        assert Decimal(before["ZUSD"]) - Decimal(after["ZUSD"]) == (cost + fee).quantize(
            Decimal("0.0001"))
        return {"cost": cost, "fee": fee}

    result = await asyncio.to_thread(drive)
    assert result["cost"] > 0 and result["fee"] > 0


async def test_order_errors_have_no_result(raw: SignedRest) -> None:
    base = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "1"}
    _fails(await raw.post("AddOrder", {**base, "pair": "NOPE", "price": "1"}),
           "EQuery:Unknown asset pair")
    _fails(await raw.post("AddOrder", {**base, "ordertype": "bogus", "price": "1"}),
           "EGeneral:Invalid arguments:ordertype")
    _fails(await raw.post("AddOrder", {**base, "volume": "0.00000001", "price": "30000"}),
           "EOrder:Order minimum not met")
    _fails(await raw.post("AddOrder", {**base, "price": "30000.05"}),
           "EOrder:Invalid price:XXBTZUSD price can only be specified up to 1 decimals.")
    _fails(await raw.post("AddOrder", {**base, "volume": "1000", "price": "30000"}),
           "EOrder:Insufficient funds")
    _fails(await raw.post("CancelOrder", {"txid": "OAAAAA-BBBBB-CCCCCC"}),
           "EOrder:Unknown order")
    valid = await raw.ok("AddOrder", {**base, "price": "30000", "validate": "true"})
    assert valid == {"descr": {"order": "buy 1.00000000 XBTUSD @ limit 30000.0"}}
    assert await raw.ok("OpenOrders") == {"open": {}}


async def test_json_batch_amend_edit_and_cancel_by_cl_ord_id(raw: SignedRest) -> None:
    batch = await raw.ok("AddOrderBatch", {"pair": "XBTUSD", "orders": [
        {"ordertype": "limit", "type": "buy", "volume": "0.1", "price": "40000",
         "cl_ord_id": "alpha"},
        {"ordertype": "limit", "type": "sell", "volume": "0.1", "price": "90000"},
        {"ordertype": "limit", "type": "buy", "volume": "999", "price": "40000"},
    ]}, as_json=True)
    orders = batch["orders"]
    assert orders[0]["descr"]["order"] == "buy 0.10000000 XBTUSD @ limit 40000.0"
    assert orders[2] == {"error": "EOrder:Insufficient funds"}
    buy_id, sell_id = orders[0]["txid"], orders[1]["txid"]
    amended = await raw.ok("AmendOrder", {"txid": buy_id, "limit_price": "41000"})
    assert set(amended) == {"amend_id"}
    info = (await raw.ok("QueryOrders", {"txid": f"{buy_id},{sell_id}"}))
    assert info[buy_id]["descr"]["price"] == "41000.0" and info[buy_id]["amended"] is True
    edited = await raw.ok("EditOrder", {"txid": sell_id, "pair": "XBTUSD", "price": "95000"})
    assert edited["originaltxid"] == sell_id and edited["txid"] != sell_id
    # Kraken's EditOrder example names the pair by id: "buy 0.00030000 XXBTZGBP @ limit ..."
    assert edited["descr"]["order"] == "sell 0.10000000 XXBTZUSD @ limit 95000.0"
    assert edited["status"] == "ok" and edited["price"] == "95000.0"
    assert await raw.ok("CancelOrder", {"cl_ord_id": "alpha"}) == {"count": 1}
    opened = (await raw.ok("OpenOrders"))["open"]
    assert list(opened) == [edited["txid"]]
    assert await raw.ok("CancelOrderBatch", {"orders": [edited["txid"]]},
                        as_json=True) == {"count": 1}
    assert await raw.ok("CancelAll") == {"count": 0}
    # a validation failure rejects the whole batch: nothing is placed
    _fails(await raw.post("AddOrderBatch", {"pair": "XBTUSD", "orders": [
        {"ordertype": "limit", "type": "buy", "volume": "0.1", "price": "40000"},
        {"ordertype": "limit", "type": "buy", "volume": "0.00000001", "price": "40000"},
    ]}, as_json=True), "EOrder:Order minimum not met")
    assert await raw.ok("OpenOrders") == {"open": {}}


async def test_resting_order_fills_when_market_moves(sb: Sandbox, raw: SignedRest) -> None:
    async with raw.session.get(sb.rest_url + "/0/public/Ticker?pair=XBTUSD") as r:
        ask = Decimal((await r.json())["result"]["XXBTZUSD"]["a"][0])
    placed = await raw.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                       "price": str(ask), "volume": "0.001"})
    (txid,) = placed["txid"]
    for _ in range(600):  # the market walks; a buy at the best ask fills soon
        order = (await raw.ok("QueryOrders", {"txid": txid}))[txid]
        if order["status"] == "closed":
            break
        await sb.advance(1)
    assert order["status"] == "closed" and order["vol_exec"] == "0.00100000"


async def test_cancel_all_orders_after_fires(sb: Sandbox, raw: SignedRest) -> None:
    await raw.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                              "price": "30000", "volume": "0.01"})
    res = await raw.ok("CancelAllOrdersAfter", {"timeout": 60})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", res["currentTime"])
    await sb.advance(59)
    assert len((await raw.ok("OpenOrders"))["open"]) == 1
    await sb.advance(2)
    assert (await raw.ok("OpenOrders"))["open"] == {}
    off = await raw.ok("CancelAllOrdersAfter", {"timeout": 0})
    assert off["triggerTime"] == "0"


async def test_trading_counter_and_open_order_cap(sb: Sandbox, raw: SignedRest) -> None:
    acct = sb.create_account({"USD": "1000000"})
    trader = SignedRest(raw.session, sb, sb.create_key(acct, tier="starter"))  # 60 max, 60 open
    order = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "10000",
             "volume": "0.001"}
    errors: list[str] = []
    for _ in range(61):
        reply = await trader.post("AddOrder", order)
        errors.extend(reply["error"])
    assert errors == ["EOrder:Rate limit exceeded"]  # the 61st add within the same second
    await sb.advance(30)
    _fails(await trader.post("AddOrder", order), "EOrder:Orders limit exceeded")
    assert len((await trader.ok("OpenOrders"))["open"]) == 60


# --- admin API, faults, secrets -------------------------------------------------------------------
async def test_admin_api(sb: Sandbox) -> None:
    async with http_session() as s:
        async def call(method: str, path: str, body: Any = None) -> Any:
            async with s.request(method, sb.rest_url + path, json=body) as r:
                return r.status, await r.json()

        status, made = await call("POST", "/sandbox/accounts",
                                  {"balances": {"BTC": "2", "USD": "5"}})
        assert status == 200
        acct = made["account_id"]
        status, key = await call("POST", "/sandbox/keys",
                                 {"account_id": acct, "permissions": ["query_funds"],
                                  "tier": "pro", "nonce_window": 5})
        assert status == 200 and len(key["api_key"]) == 56
        status, bal = await call("GET", f"/sandbox/accounts/{acct}")
        assert bal["balances"] == {"XXBT": "2.0000000000", "ZUSD": "5.0000"}
        status, faults = await call("POST", "/sandbox/faults", {"unavailable": True})
        assert faults["unavailable"] is True
        raw = SignedRest(s, sb, Credentials(key["api_key"], key["api_secret"]))
        _fails(await raw.post("Balance"), "EService:Unavailable")
        await call("POST", "/sandbox/faults", {"unavailable": False})
        assert await raw.ok("Balance") == {"XXBT": "2.0000000000", "ZUSD": "5.0000"}
        status, err = await call("POST", "/sandbox/faults", {"nope": 1})
        assert status == 400 and "nope" in err["error"]
        before = sb.clock.now()
        status, clock = await call("POST", "/sandbox/clock", {"seconds": 10})
        assert clock["now"] == before + 10
        status, orders = await call("GET", f"/sandbox/accounts/{acct}/orders?status=all")
        assert orders == {"orders": []}
        status, inv = await call("POST", "/sandbox/tokens/invalidate")
        assert status == 200 and inv["invalidated"] >= 0


async def test_secrets_never_logged_or_echoed(sb: Sandbox, raw: SignedRest,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = (await raw.ok("GetWebSocketsToken"))["token"]
    bad = await raw.post("Balance", secret=Credentials("x", "C" * 88).api_secret)
    text = caplog.text + json.dumps(bad) + repr(sb) + repr(sb.core.gate.key(
        raw.creds.api_key))
    assert raw.creds.api_secret not in text and token not in text
    assert raw.creds.api_secret not in repr(sb.credentials)


def test_sandbox_thread_with_urllib3() -> None:
    with SandboxThread(manual_clock=True) as sb:
        http = urllib3.PoolManager(timeout=urllib3.Timeout(total=WAIT))
        reply = json.loads(http.request("GET", sb.rest_url + "/0/public/Time").data)
        assert reply["result"]["unixtime"] == int(sb.clock.now())
        creds = sb.credentials
        acct = sb.create_account({"ETH": "3"})
        other = sb.create_key(acct)
        assert other.api_key != creds.api_key
        n = next_nonce()
        body = f"nonce={n}"
        sig = Signer(other.api_secret).sign("/0/private/Balance", n, body)
        reply = json.loads(http.request(
            "POST", sb.rest_url + "/0/private/Balance", body=body,
            headers={"API-Key": other.api_key, "API-Sign": sig,
                     "Content-Type": "application/x-www-form-urlencoded"}).data)
        assert reply == {"error": [], "result": {"XETH": "3.0000000000"}}
        assert sb.advance(5) == pytest.approx(sb.clock.now())


@pytest.mark.parametrize("encoding", ["form", "json"])
async def test_our_client_against_the_sandbox(sb: Sandbox, encoding: str) -> None:
    from krakenwire.errors import InvalidKey, UnknownOrder
    from krakenwire.rest import KrakenClient

    creds = sb.credentials

    def drive() -> None:
        with KrakenClient(creds, base_url=sb.rest_url, encoding=encoding,  # type: ignore
                          rate_limit=None) as client:
            assert client.server_time().unixtime == int(sb.clock.now())
            assert client.balance()["ZUSD"] == Decimal("100000")
            token = client.get_websockets_token()
            assert len(token.token) == 43
            placed = client.add_order("XBTUSD", "buy", "limit", "0.01", "25000")
            found = client.order_by_cl_ord_id(placed.cl_ord_id)
            assert found is not None
            assert client.cancel_order(cl_ord_id=placed.cl_ord_id) == 1
            with pytest.raises(UnknownOrder):
                client.cancel_order(cl_ord_id=placed.cl_ord_id)
        wrong = Credentials(creds.api_key, Credentials("x", "D" * 88).api_secret)
        with KrakenClient(wrong, base_url=sb.rest_url, rate_limit=None) as bad, \
                pytest.raises(InvalidKey):
            bad.balance()

    await asyncio.to_thread(drive)


def test_cli_admin_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from krakenwire.cli import main

    with SandboxThread(manual_clock=True) as sb:
        base = ["sandbox", "--url", sb.rest_url]
        assert main([*base, "account", "create", "--balance", "USD=12", "--balance",
                     "BTC=1"]) == 0
        acct = json.loads(capsys.readouterr().out)["account_id"]
        assert main([*base, "key", "create", acct, "--permissions", "query_funds",
                     "--tier", "pro"]) == 0
        key = json.loads(capsys.readouterr().out)
        assert key["permissions"] == ["query_funds"] and key["tier"] == "pro"
        assert main([*base, "balances", acct]) == 0
        assert json.loads(capsys.readouterr().out)["balances"]["ZUSD"] == "12.0000"
        before = sb.clock.now()
        assert main([*base, "advance", "30"]) == 0
        assert json.loads(capsys.readouterr().out)["now"] == before + 30
        assert main([*base, "faults", "busy=true"]) == 0
        assert json.loads(capsys.readouterr().out)["busy"] is True
        assert main([*base, "orders", acct, "--status", "all"]) == 0
        assert json.loads(capsys.readouterr().out) == {"orders": []}
        assert main([*base, "balances", "nope"]) == 1
        assert "EGeneral:Invalid arguments" in capsys.readouterr().err


async def test_admin_api_refuses_non_loopback_peers(sb: Sandbox) -> None:
    from unittest import mock

    from aiohttp.test_utils import make_mocked_request

    from krakenwire.sandbox.server import make_app

    app = make_app(sb.core)
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        ("10.1.2.3", 5555) if name == "peername" else default)
    probe = make_mocked_request("GET", "/sandbox/accounts", app=app)
    match = await app.router.resolve(probe)
    match.add_app(app)
    request = make_mocked_request("GET", "/sandbox/accounts", app=app, transport=transport,
                                  match_info=match)
    assert request.remote == "10.1.2.3"
    guard = app.middlewares[0]
    resp = await guard(request, match.handler)  # type: ignore[call-arg,arg-type]
    assert resp.status == 403
    transport.get_extra_info.side_effect = lambda name, default=None: (
        ("127.0.0.1", 5555) if name == "peername" else default)
    local = make_mocked_request("GET", "/sandbox/accounts", app=app, transport=transport,
                                match_info=match)
    resp = await guard(local, match.handler)  # type: ignore[call-arg,arg-type]
    assert resp.status == 200


async def test_python_kraken_sdk_against_the_sandbox(sb: Sandbox) -> None:
    """python-kraken-sdk (third party, unmodified, pointed at the sandbox with ``url=``): form
    bodies for single calls, JSON for the batch, and its error mapping."""
    from kraken.exceptions import KrakenInvalidAPIKeyError, KrakenPermissionDeniedError
    from kraken.spot import Trade, User

    creds = sb.credentials
    acct = sb.create_account({"USD": "50"})
    funds_only = sb.create_key(acct, permissions=["query_funds"])
    await sb.commit()

    def drive() -> None:
        url = sb.rest_url + "/"
        user = User(key=creds.api_key, secret=creds.api_secret, url=url)
        trade = Trade(key=creds.api_key, secret=creds.api_secret, url=url)
        assert user.get_account_balance()["ZUSD"] == "100000.0000"
        placed = trade.create_order(ordertype="limit", side="buy", volume="0.01",
                                    pair="XBTUSD", price="25000", userref=7)
        (txid,) = placed["txid"]
        batch = trade.create_order_batch(pair="XBTUSD", orders=[
            {"ordertype": "limit", "type": "sell", "volume": "0.01", "price": "99000"},
            {"ordertype": "limit", "type": "sell", "volume": "0.02", "price": "98000"},
        ])
        assert len(batch["orders"]) == 2 and all("txid" in o for o in batch["orders"])
        opened = user.get_open_orders()["open"]
        assert {txid, *(o["txid"] for o in batch["orders"])} <= set(opened)
        assert trade.cancel_order(txid=txid)["count"] == 1
        assert trade.cancel_all_orders()["count"] == 2
        wrong = User(key=creds.api_key, secret=Credentials("x", "E" * 88).api_secret, url=url)
        with pytest.raises(KrakenInvalidAPIKeyError):
            wrong.get_account_balance()
        limited = Trade(key=funds_only.api_key, secret=funds_only.api_secret, url=url)
        with pytest.raises(KrakenPermissionDeniedError):
            limited.cancel_all_orders()

    await asyncio.to_thread(drive)


async def test_gtd_expiry_and_relative_times(sb: Sandbox, raw: SignedRest) -> None:
    placed = await raw.ok("AddOrder", {"pair": "ETHUSD", "type": "sell", "ordertype": "limit",
                                       "price": "9000", "volume": "0.5", "timeinforce": "GTD",
                                       "expiretm": "+30"})
    (txid,) = placed["txid"]
    info = (await raw.ok("QueryOrders", {"txid": txid}))[txid]
    assert info["expiretm"] == pytest.approx(sb.clock.now() + 30)
    assert info["timeinforce"] == "GTD"
    await sb.advance(31)
    info = (await raw.ok("QueryOrders", {"txid": txid}))[txid]
    assert info["status"] == "expired"
    assert (await raw.ok("BalanceEx"))["XETH"]["hold_trade"] == "0.0000000000"
    _fails(await raw.post("AddOrder", {"pair": "ETHUSD", "type": "sell", "ordertype": "limit",
                                       "price": "9000", "volume": "0.5", "userref": 1,
                                       "cl_ord_id": "x"}),
           "EGeneral:Invalid arguments:cl_ord_id")


def _flat_params() -> Any:
    from hypothesis import strategies as st

    keys = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
    values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
    return st.dictionaries(keys, values, max_size=8)


def test_form_and_json_bodies_parse_to_the_same_params() -> None:
    from hypothesis import given

    from krakenwire.sandbox.server import parse_body

    @given(_flat_params())
    def check(params: dict[str, str]) -> None:
        form = urllib.parse.urlencode(params).encode()
        assert parse_body(form, "application/x-www-form-urlencoded") == params
        assert parse_body(json.dumps(params).encode(), "application/json") == params

    check()
    nested = b"pair=XBTUSD&orders[0][type]=buy&orders[1][type]=sell&orders[0][price]=1"
    assert parse_body(nested, "") == {"pair": "XBTUSD",
                                      "orders": [{"type": "buy", "price": "1"},
                                                 {"type": "sell"}]}
    assert parse_body(b"txid=a&txid=b", "")["txid"] == ["a", "b"]


async def test_relative_prices_and_escaped_slashes(sb: Sandbox, raw: SignedRest) -> None:
    last = sb.core.exchange.last_price("XXBTZUSD")
    placed = await raw.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                       "price": "-10%", "volume": "0.01", "validate": True})
    expected = (last * Decimal("0.9")).quantize(Decimal("0.1"))
    assert placed["descr"]["order"] == f"buy 0.01000000 XBTUSD @ limit {expected}"
    placed = await raw.ok("AddOrder", {"pair": "XBTUSD", "type": "sell",
                                       "ordertype": "stop-loss", "price": "#100",
                                       "volume": "0.01", "validate": True})
    assert placed["descr"]["order"] == (
        f"sell 0.01000000 XBTUSD @ stop loss {(last - 100).quantize(Decimal('0.1'))}")
    # Kraken writes "/" as "\/" inside JSON strings
    async with raw.session.get(sb.rest_url + "/0/public/AssetPairs?pair=XBTUSD") as r:
        text = await r.text()
    assert '"wsname":"XBT\\/USD"' in text and "XBT/USD" not in text
    assert json.loads(text)["result"]["XXBTZUSD"]["wsname"] == "XBT/USD"


async def test_ohlc_and_spread_after_trades(sb: Sandbox, raw: SignedRest) -> None:
    await raw.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market",
                              "volume": "0.01"})
    async with raw.session.get(sb.rest_url + "/0/public/OHLC?pair=XBTUSD") as r:
        ohlc = (await r.json())["result"]
    rows = ohlc["XXBTZUSD"]
    assert rows and len(rows[-1]) == 8 and rows[-1][0] % 60 == 0 and rows[-1][7] >= 1
    assert Decimal(rows[-1][2]) >= Decimal(rows[-1][3])  # high >= low
    async with raw.session.get(sb.rest_url + "/0/public/Spread?pair=XBTUSD") as r:
        spread = (await r.json())["result"]["XXBTZUSD"][0]
    assert Decimal(spread[2]) > Decimal(spread[1])


async def test_rest_faults_proxy_error_and_drop_before_reply(sb: Sandbox, raw: SignedRest) -> None:
    sb.core.faults.rest_http_status = 520
    async with raw.session.get(sb.rest_url + "/0/public/Time") as r:
        assert r.status == 520 and r.content_type == "text/html"
    sb.core.faults.rest_http_status = 0
    sb.core.faults.rest_drop_before_reply = True
    with pytest.raises(aiohttp.ClientError):
        await raw.post("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                    "price": "20000", "volume": "0.01", "cl_ord_id": "lost"})
    assert sb.core.faults.rest_drop_before_reply is False  # one-shot
    opened = (await raw.ok("OpenOrders", {"cl_ord_id": "lost"}))["open"]
    assert [o["cl_ord_id"] for o in opened.values()] == ["lost"]  # it was placed


async def test_trade_volume_open_positions_and_stats(sb: Sandbox, raw: SignedRest) -> None:
    await raw.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market",
                              "volume": "0.01"})
    vol = await raw.ok("TradeVolume", {"pair": "XBTUSD"})
    assert vol["currency"] == "ZUSD" and Decimal(vol["volume"]) > 0
    assert vol["fees"]["XXBTZUSD"]["fee"] == "0.4000"
    assert vol["fees_maker"]["XXBTZUSD"]["nextvolume"] == "10000.0000"
    assert await raw.ok("OpenPositions") == {}
    async with raw.session.get(sb.rest_url + "/sandbox/stats") as r:
        stats = await r.json()
    assert stats["store"]["batches"] >= stats["store"]["commits"] > 0
