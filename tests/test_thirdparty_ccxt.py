"""ccxt (the most widely used third-party exchange library), unmodified, against the sandbox.

ccxt is configured only the way a user would point it at another host: its ``urls['api']``
entries (public/private REST, and the four WebSocket URLs for ``ccxt.pro``) and the key's
credentials; ``enableRateLimit`` is off so that ccxt's client-side throttle (1 request/s for
Kraken) does not slow the suite down. Everything else is ccxt's own code path: its signing, its
parsers (``parse_market``, ``parse_order``, ``parse_trade``, ``parse_balance``...) and its
exception map (Kraken's error strings → ``InsufficientFunds``, ``AuthenticationError``,
``InvalidNonce``, ``OrderNotFound``...), so every assertion here is also an assertion that the
sandbox speaks Kraken's wire format. ccxt.pro's Kraken speaks WebSocket v2 for everything
(public ``/ws/v2``, private ``/ws-auth/v2``); it only builds a client object for the v1 URL.

One sandbox (manual clock) serves the module; every test trades on its own fresh account and
key, far from the simulated market's prices unless it means to fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krakenwire.auth import Credentials
from krakenwire.protocol.naming import ASSETS, PAIRS
from krakenwire.sandbox import SandboxThread
from krakenwire.sandbox.model import PublicTrade
from krakenwire.sandbox.ws_v2 import OHLC_INTERVALS, ohlc_candles

TIMEOUT = 10.0
FUNDS: dict[str, Decimal | str | int] = {"ZUSD": 20_000, "XXBT": 2, "XETH": 10}


# --- fixtures and helpers ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxThread]:
    with SandboxThread(manual_clock=True, seed=7) as sandbox:
        for _ in range(3):  # let the simulated market print a few public trades
            sandbox.advance(1)
        yield sandbox


def new_key(sb: SandboxThread, funds: dict[str, Decimal | str | int] | None = None,
            **key_options: Any) -> Credentials:
    """A fresh funded account and a key for it (unlimited tier unless told otherwise)."""
    account = sb.create_account(FUNDS if funds is None else funds)
    key_options.setdefault("tier", "unlimited")
    return sb.create_key(account, **key_options)


def point_at(ex: Any, sb: SandboxThread) -> Any:
    """Point a ccxt Kraken instance at the sandbox, as a user would (URLs only)."""
    ex.urls["api"]["public"] = sb.rest_url
    ex.urls["api"]["private"] = sb.rest_url
    if "ws" in ex.urls["api"]:
        ex.urls["api"]["ws"] = {
            "public": sb.ws_public_v1_url, "private": sb.ws_auth_v1_url,
            "publicV2": sb.ws_public_v2_url, "privateV2": sb.ws_auth_v2_url,
        }
    return ex


def sync_client(sb: SandboxThread, creds: Credentials | None = None) -> ccxt.kraken:
    config: dict[str, Any] = {"enableRateLimit": False, "timeout": 10_000}
    if creds is not None:
        config.update(apiKey=creds.api_key, secret=creds.api_secret)
    ex = point_at(ccxt.kraken(config), sb)
    assert isinstance(ex, ccxt.kraken)
    return ex


def far_bid(ex: Any, symbol: str = "BTC/USD") -> float:
    """A buy price well below the market (never fills), on the pair's tick."""
    mid = float(PAIRS[ex.market(symbol)["id"]].start_price)
    return float(ex.price_to_precision(symbol, mid * 0.5))


def D(value: Any) -> Decimal:
    return Decimal(str(value))


# --- markets and public data (sync) ------------------------------------------------------------
def test_load_markets_parses_asset_pairs_and_assets(sb: SandboxThread) -> None:
    ex = sync_client(sb)
    markets = ex.load_markets()

    by_id = {m["id"]: m for m in markets.values()}
    assert set(by_id) == set(PAIRS)  # every sandbox pair, none lost or invented
    for pair in PAIRS.values():
        m = by_id[pair.id]
        assert m["symbol"] == pair.symbol  # ccxt's symbol is Kraken's v2 symbol
        assert m["spot"] and m["active"] and m["type"] == "spot"
        assert m["wsId"] == pair.wsname
        assert m["altname"] == pair.altname
        assert D(m["precision"]["price"]) == Decimal(1).scaleb(-pair.pair_decimals)
        assert D(m["limits"]["amount"]["min"]) == pair.ordermin
        assert D(m["limits"]["cost"]["min"]) == pair.costmin
        assert D(m["taker"]) == pair.fees[0][1] / 100
        assert D(m["maker"]) == pair.fees_maker[0][1] / 100

    btc = markets["BTC/USD"]
    assert (btc["id"], btc["base"], btc["quote"]) == ("XXBTZUSD", "BTC", "USD")
    assert (btc["baseId"], btc["quoteId"]) == ("BTC", "USD")
    assert btc["precision"] == {"amount": 1e-08, "price": 0.1}
    assert btc["limits"]["amount"]["min"] == 0.00005
    assert btc["limits"]["cost"]["min"] == 0.5
    assert markets["ETH/BTC"]["id"] == "XETHXXBT"

    # Assets → currencies: Kraken's X/Z ids map to the common codes
    currencies = ex.currencies
    assert currencies["BTC"]["id"] == "XXBT"
    assert currencies["USD"]["id"] == "ZUSD"
    assert currencies["SOL"]["id"] == "SOL"
    assert D(currencies["BTC"]["precision"]) == Decimal(1).scaleb(-ASSETS["XXBT"].decimals)
    assert all(c["active"] for c in currencies.values())


def test_public_market_data(sb: SandboxThread) -> None:
    ex = sync_client(sb)
    ex.load_markets()

    assert abs(ex.fetch_time() - sb.clock.now() * 1000) < 2000
    assert ex.fetch_status()["status"] == "ok"

    ticker = ex.fetch_ticker("BTC/USD")
    assert ticker["symbol"] == "BTC/USD"
    assert 0 < ticker["bid"] < ticker["ask"]
    assert ticker["last"] > 0 and ticker["bidVolume"] > 0 and ticker["askVolume"] > 0
    assert ticker["low"] <= ticker["high"]

    tickers = ex.fetch_tickers(["BTC/USD", "ETH/USD"])
    assert set(tickers) == {"BTC/USD", "ETH/USD"}

    book = ex.fetch_order_book("BTC/USD", 5)
    assert book["symbol"] == "BTC/USD"
    assert 0 < len(book["bids"]) <= 5 and 0 < len(book["asks"]) <= 5
    bids = [level[0] for level in book["bids"]]
    asks = [level[0] for level in book["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]  # never crossed
    assert all(level[1] > 0 for level in book["bids"] + book["asks"])

    for _ in range(12):  # the simulated market trades as the clock moves (a tick per step)
        sb.advance(1)
    trades = ex.fetch_trades("BTC/USD")
    assert trades, "the simulated market printed no public trades"
    assert all(t["symbol"] == "BTC/USD" and t["side"] in ("buy", "sell") for t in trades)
    assert all(t["price"] > 0 and t["amount"] > 0 for t in trades)
    stamps = [t["timestamp"] for t in trades]
    assert stamps == sorted(stamps)
    recent = ex.fetch_trades("BTC/USD", limit=2)
    assert [t["id"] for t in recent] == [t["id"] for t in trades[-2:]]
    # since (ccxt sends Unix seconds) + limit: the oldest trades after it, to page forward
    assert len(trades) >= 5
    since = trades[1]["timestamp"]
    after = [t for t in trades if t["timestamp"] / 1000 > since // 1000]
    page = ex.fetch_trades("BTC/USD", since=since, limit=2)
    assert [t["id"] for t in page] == [t["id"] for t in after[:2]]

    candles = ex.fetch_ohlcv("BTC/USD", "1m")
    assert candles
    for ts, o, h, lo, c, v in candles:
        assert ts % 60_000 == 0
        assert lo <= min(o, c) <= max(o, c) <= h
        assert v > 0


# --- private REST (sync) -----------------------------------------------------------------------
def test_balance_limit_order_lifecycle(sb: SandboxThread) -> None:
    ex = sync_client(sb, new_key(sb))
    ex.load_markets()

    bal = ex.fetch_balance()
    assert bal["USD"] == {"free": 20_000.0, "used": 0.0, "total": 20_000.0}
    assert bal["BTC"]["total"] == 2.0 and bal["ETH"]["total"] == 10.0

    price = far_bid(ex)
    placed = ex.create_order("BTC/USD", "limit", "buy", 0.01, price)
    oid = placed["id"]
    assert oid and placed["symbol"] == "BTC/USD" and placed["side"] == "buy"
    assert placed["amount"] == 0.01 and placed["price"] == price  # parsed from descr.order

    held = ex.fetch_balance()["USD"]  # BalanceEx hold_trade: cost plus the taker fee
    assert held["used"] == pytest.approx(0.01 * price * (1 + ex.market("BTC/USD")["taker"]))
    assert held["free"] + held["used"] == pytest.approx(20_000.0)

    opens = ex.fetch_open_orders("BTC/USD")
    assert [o["id"] for o in opens] == [oid]
    o = opens[0]
    assert (o["status"], o["type"], o["side"]) == ("open", "limit", "buy")
    assert (o["amount"], o["filled"], o["remaining"], o["price"]) == (0.01, 0.0, 0.01, price)
    assert abs(o["timestamp"] - sb.clock.now() * 1000) < 2000

    fetched = ex.fetch_order(oid)
    assert fetched["id"] == oid and fetched["status"] == "open"

    ex.cancel_order(oid)
    gone = ex.fetch_order(oid)
    assert gone["status"] == "canceled"
    assert ex.fetch_open_orders() == []
    closed = ex.fetch_closed_orders("BTC/USD")
    assert [(c["id"], c["status"]) for c in closed] == [(oid, "canceled")]
    assert ex.fetch_balance()["USD"] == {"free": 20_000.0, "used": 0.0, "total": 20_000.0}


def test_market_order_fills_with_trades_and_fees(sb: SandboxThread) -> None:
    ex = sync_client(sb, new_key(sb))
    ex.load_markets()
    taker = D(ex.market("BTC/USD")["taker"])

    placed = ex.create_order("BTC/USD", "market", "buy", 0.01)
    done = ex.fetch_order(placed["id"])
    assert done["status"] == "closed"
    assert done["filled"] == 0.01 and done["remaining"] == 0.0
    assert done["average"] > 0
    assert D(done["cost"]) == pytest.approx(D(done["average"]) * D("0.01"))
    assert done["fee"]["currency"] == "USD"

    trades = ex.fetch_my_trades("BTC/USD")
    assert len(trades) >= 1
    mine = [t for t in trades if t["order"] == placed["id"]]
    assert mine and all(t["side"] == "buy" and t["takerOrMaker"] == "taker" for t in mine)
    assert sum(D(t["amount"]) for t in mine) == Decimal("0.01")
    cost = sum(D(t["cost"]) for t in mine)
    fee = sum(D(t["fee"]["cost"]) for t in mine)
    assert all(t["fee"]["currency"] == "USD" for t in mine)
    assert fee == pytest.approx(cost * taker, abs=Decimal("0.0001"))

    bal = ex.fetch_balance()
    assert D(bal["BTC"]["total"]) == Decimal("2.01")
    assert D(bal["USD"]["total"]) == pytest.approx(Decimal(20_000) - cost - fee,
                                                    abs=Decimal("0.0001"))
    closed = ex.fetch_closed_orders("BTC/USD")
    assert closed[0]["id"] == placed["id"] and closed[0]["status"] == "closed"

    # the trade ids also resolve through QueryTrades
    ids = [t["id"] for t in mine]
    again = ex.fetch_order_trades(placed["id"], "BTC/USD", params={"trades": ids})
    assert sorted(t["id"] for t in again) == sorted(ids)

    fee_info = ex.fetch_trading_fee("BTC/USD")
    assert D(fee_info["taker"]) == taker
    assert D(fee_info["maker"]) == D(ex.market("BTC/USD")["maker"])


def test_client_ids_batches_amend_and_cancel_all(sb: SandboxThread) -> None:
    ex = sync_client(sb, new_key(sb))
    ex.load_markets()
    price = far_bid(ex)

    cl = "ccxt-order-1"
    o = ex.create_order("BTC/USD", "limit", "buy", 0.01, price, {"clientOrderId": cl})
    assert ex.fetch_order(o["id"])["clientOrderId"] == cl
    ex.cancel_order(None, params={"clientOrderId": cl})  # CancelOrder by cl_ord_id
    assert ex.fetch_order(o["id"])["status"] == "canceled"

    # userref: ccxt passes it through on AddOrder and cancels with it as the txid
    o = ex.create_order("BTC/USD", "limit", "buy", 0.01, price, {"userref": 77})
    assert ex.fetch_order(o["id"])["clientOrderId"] == "77"
    assert ex.cancel_order(None, params={"userref": 77})["info"]["result"]["count"] == 1
    assert ex.fetch_order(o["id"])["status"] == "canceled"

    # AddOrderBatch / CancelOrderBatch (ccxt sends both as JSON bodies)
    batch = ex.create_orders([
        {"symbol": "BTC/USD", "type": "limit", "side": "buy", "amount": 0.01, "price": price},
        {"symbol": "BTC/USD", "type": "limit", "side": "buy", "amount": 0.02,
         "price": price - 1},
    ])
    ids = [b["id"] for b in batch]
    assert len(set(ids)) == 2
    assert {o["id"] for o in ex.fetch_open_orders()} == set(ids)
    ex.cancel_orders(ids)
    assert ex.fetch_open_orders() == []

    # AmendOrder: same id, new quantity and price
    o = ex.create_order("BTC/USD", "limit", "buy", 0.01, price)
    ex.edit_order(o["id"], "BTC/USD", "limit", "buy", 0.02, price + 1)
    amended = ex.fetch_order(o["id"])
    assert (amended["amount"], amended["price"], amended["status"]) == (0.02, price + 1, "open")

    # post-only, IOC, stop-loss: the flags land in the order Kraken reports back
    post = ex.create_order("BTC/USD", "limit", "buy", 0.01, price, {"postOnly": True})
    assert ex.fetch_order(post["id"])["postOnly"] is True
    ioc = ex.create_order("BTC/USD", "limit", "buy", 0.01, price, {"timeInForce": "IOC"})
    assert ex.fetch_order(ioc["id"])["status"] == "canceled"  # nothing to fill against
    stop = ex.create_order("BTC/USD", "market", "sell", 0.01, None, {"stopLossPrice": price})
    assert stop["triggerPrice"] == price
    assert ex.fetch_order(stop["id"])["status"] == "open"

    ex.cancel_all_orders()
    assert ex.fetch_open_orders() == []
    after = ex.cancel_all_orders_after(60_000)  # dead-man switch, then off again
    assert after["result"]["triggerTime"] != "0"
    ex.cancel_all_orders_after(0)


def test_ledger_and_positions(sb: SandboxThread) -> None:
    ex = sync_client(sb, new_key(sb, {"ZUSD": 5_000}))
    ex.load_markets()
    ex.create_order("BTC/USD", "market", "buy", 0.001)
    entries = ex.fetch_ledger()
    kinds = {(e["currency"], e["type"]) for e in entries}
    assert ("USD", "trade") in kinds and ("BTC", "trade") in kinds
    btc = next(e for e in entries if e["currency"] == "BTC" and e["type"] == "trade")
    assert btc["direction"] == "in" and btc["amount"] == 0.001
    assert ex.fetch_positions() == []  # spot only: no margin positions


# --- error mapping (sync) ----------------------------------------------------------------------
def test_kraken_errors_map_to_ccxt_exceptions(sb: SandboxThread) -> None:
    ex = sync_client(sb, new_key(sb, {"ZUSD": 100}))
    ex.load_markets()
    price = far_bid(ex)

    with pytest.raises(ccxt.InsufficientFunds, match="EOrder:Insufficient funds"):
        ex.create_order("BTC/USD", "limit", "buy", 1, price)
    with pytest.raises(ccxt.InvalidOrder, match="EOrder:Order minimum not met"):
        ex.create_order("BTC/USD", "limit", "buy", 0.00001, price)
    with pytest.raises(ccxt.OrderNotFound, match="EOrder:Unknown order"):
        ex.cancel_order("OAAAAA-BBBBB-CCCCCC")
    with pytest.raises(ccxt.InvalidOrder, match="EOrder:Invalid order"):
        ex.fetch_order("OAAAAA-BBBBB-CCCCCC")
    # Kraken's string; ccxt's exact map only knows "EQuery:Invalid asset pair"
    with pytest.raises(ccxt.ExchangeError, match="EQuery:Unknown asset pair"):
        ex.publicGetTicker({"pair": "NOPEUSD"})

    creds = new_key(sb)
    bad_secret = Credentials(creds.api_key, "A" * 86 + "==")
    with pytest.raises(ccxt.AuthenticationError, match="EAPI:Invalid key"):
        sync_client(sb, bad_secret).fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="EAPI:Invalid key"):
        sync_client(sb, Credentials("K" * 56, creds.api_secret)).fetch_balance()

    # a second instance whose clock runs behind reuses old nonces: Kraken's nonce rule
    first = sync_client(sb, creds)
    first.fetch_balance()
    behind = sync_client(sb, creds)
    behind.options["timeDifference"] = 3_600_000
    with pytest.raises(ccxt.InvalidNonce, match="EAPI:Invalid nonce"):
        behind.fetch_balance()

    read_only = sync_client(sb, new_key(sb, permissions={"query_funds", "query_orders"}))
    read_only.load_markets()
    assert read_only.fetch_balance()["USD"]["total"] == 20_000.0
    with pytest.raises(ccxt.PermissionDenied, match="EGeneral:Permission denied"):
        read_only.create_order("BTC/USD", "limit", "buy", 0.01, price)


def test_rest_rate_limit_maps_to_ddos_protection(sb: SandboxThread) -> None:
    ex = sync_client(sb, new_key(sb, tier="starter"))  # 15 calls, slow decay, clock stopped
    with pytest.raises(ccxt.DDoSProtection, match="EAPI:Rate limit exceeded"):
        for _ in range(40):
            ex.fetch_balance()


# --- async REST --------------------------------------------------------------------------------
async def test_async_support_client(sb: SandboxThread) -> None:
    creds = await asyncio.to_thread(new_key, sb, None, nonce_window=10_000)
    ex = point_at(ccxt_async.kraken({"apiKey": creds.api_key, "secret": creds.api_secret,
                                     "enableRateLimit": False, "timeout": 10_000}), sb)
    try:
        await ex.load_markets()
        price = far_bid(ex)
        # concurrent private calls: nonces may arrive out of order, the key's window allows it
        placed = await asyncio.gather(*(
            ex.create_order("BTC/USD", "limit", "buy", 0.01, price - i) for i in range(4)))
        opens, bal = await asyncio.gather(ex.fetch_open_orders("BTC/USD"), ex.fetch_balance())
        assert {o["id"] for o in opens} == {p["id"] for p in placed}
        taker = ex.market("BTC/USD")["taker"]
        assert bal["USD"]["used"] == pytest.approx(
            sum(0.01 * (price - i) * (1 + taker) for i in range(4)))
        await ex.cancel_all_orders()
        assert await ex.fetch_open_orders() == []
        with pytest.raises(ccxt.InsufficientFunds):
            await ex.create_order("BTC/USD", "limit", "buy", 100, price)
    finally:
        await ex.close()


# --- ccxt.pro (WebSocket v2) -------------------------------------------------------------------
def pro_client(sb: SandboxThread, creds: Credentials | None = None) -> Any:
    config: dict[str, Any] = {"enableRateLimit": False, "timeout": 10_000}
    if creds is not None:
        config.update(apiKey=creds.api_key, secret=creds.api_secret)
    return point_at(ccxt_pro.kraken(config), sb)


async def wait_until(watch: Callable[[], Awaitable[Any]], done: Callable[[], bool]) -> None:
    """Watch a ccxt.pro stream until ``done()`` holds for ccxt's own cache.

    Each watch is bounded by a short timeout so that an update ccxt cached just before the
    watch started (ccxt resolves only futures that exist) is seen on the next check.
    """
    deadline = time.monotonic() + TIMEOUT
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("condition not reached in time")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch(), min(left, 1.0))


def order_in(ex: Any, oid: str, status: str) -> bool:
    return any(o["id"] == oid and o["status"] == status for o in (ex.orders or []))


async def test_pro_public_ticker_book_trades(sb: SandboxThread) -> None:
    ex = pro_client(sb)
    try:
        await ex.load_markets()
        ticker = await asyncio.wait_for(ex.watch_ticker("BTC/USD"), TIMEOUT)
        assert ticker["symbol"] == "BTC/USD"
        assert 0 < ticker["bid"] < ticker["ask"] and ticker["last"] > 0

        book = await asyncio.wait_for(ex.watch_order_book("BTC/USD", 10), TIMEOUT)
        bids = [level[0] for level in book["bids"]]
        asks = [level[0] for level in book["asks"]]
        assert 0 < len(bids) <= 10 and 0 < len(asks) <= 10
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        assert bids[0] < asks[0]

        # the market trades as the clock moves; advance until ccxt has seen a trade
        deadline = time.monotonic() + TIMEOUT
        trades: list[Any] = []
        while not trades and time.monotonic() < deadline:
            task = asyncio.ensure_future(ex.watch_trades("BTC/USD"))
            await asyncio.to_thread(sb.advance, 1)
            with contextlib.suppress(TimeoutError):
                trades = await asyncio.wait_for(task, 1.0)
        assert trades and all(t["symbol"] == "BTC/USD" and t["amount"] > 0 for t in trades)
        assert all(t["side"] in ("buy", "sell") and t["price"] > 0 for t in trades)
        book = await asyncio.wait_for(ex.watch_order_book("BTC/USD", 10), TIMEOUT)
        assert book["bids"][0][0] < book["asks"][0][0]

        # ohlc channel: snapshot of the candles so far, then the running candle per trade
        candles = await asyncio.wait_for(ex.watch_ohlcv("BTC/USD", "1m"), TIMEOUT)
        assert candles
        for ts, o, h, lo, c, v in candles:
            assert ts % 60_000 == 0 and lo <= min(o, c) <= max(o, c) <= h and v > 0
        rest = sync_client(sb)
        rest_candles = await asyncio.to_thread(rest.fetch_ohlcv, "BTC/USD", "1m")
        assert candles[-1][0] == rest_candles[-1][0]
        assert candles[-1][1:5] == rest_candles[-1][1:5]  # same candle over REST and WS

        with pytest.raises(ccxt.BadSymbol):
            await ex.watch_ticker("BTC/XYZ")
    finally:
        await ex.close()


async def test_pro_private_orders_trades_balance(sb: SandboxThread) -> None:
    creds = await asyncio.to_thread(new_key, sb)
    ex = pro_client(sb, creds)
    try:
        await ex.load_markets()
        price = far_bid(ex)

        bal = await asyncio.wait_for(ex.watch_balance(), TIMEOUT)
        assert bal["USD"]["total"] == 20_000.0 and bal["BTC"]["total"] == 2.0

        orders_task = asyncio.ensure_future(ex.watch_orders())
        await asyncio.sleep(0)
        placed = await asyncio.wait_for(
            ex.create_order_ws("BTC/USD", "limit", "buy", 0.01, price,
                               {"clientOrderId": "pro-1"}), TIMEOUT)
        oid = placed["id"]
        assert oid and placed["clientOrderId"] == "pro-1"
        await asyncio.wait_for(orders_task, TIMEOUT)
        await wait_until(ex.watch_orders, lambda: order_in(ex, oid, "open"))
        live = next(o for o in ex.orders if o["id"] == oid)
        assert (live["symbol"], live["side"], live["type"]) == ("BTC/USD", "buy", "limit")
        assert (live["amount"], live["price"]) == (0.01, price)

        # the same order over REST: one order book, one set of orders
        rest = ccxt_async.kraken({"apiKey": creds.api_key, "secret": creds.api_secret,
                                  "enableRateLimit": False})
        point_at(rest, sb)
        try:
            assert [o["id"] for o in await rest.fetch_open_orders()] == [oid]
        finally:
            await rest.close()

        amended = await asyncio.wait_for(
            ex.edit_order_ws(oid, "BTC/USD", "limit", "buy", 0.02, price + 1), TIMEOUT)
        assert amended["id"] == oid
        # the "amended" execution report carries the new quantity and price
        await wait_until(ex.watch_orders, lambda: any(
            o["id"] == oid and o["amount"] == 0.02 and o["price"] == price + 1
            for o in ex.orders))
        await asyncio.wait_for(ex.cancel_order_ws(oid), TIMEOUT)
        await wait_until(ex.watch_orders, lambda: order_in(ex, oid, "canceled"))

        trades_task = asyncio.ensure_future(ex.watch_my_trades())
        await asyncio.sleep(0)
        mkt = await asyncio.wait_for(ex.create_order_ws("BTC/USD", "market", "buy", 0.01),
                                     TIMEOUT)
        await asyncio.wait_for(trades_task, TIMEOUT)
        await wait_until(ex.watch_my_trades,
                         lambda: any(t["order"] == mkt["id"] for t in (ex.myTrades or [])))
        fills = [t for t in ex.myTrades if t["order"] == mkt["id"]]
        assert sum(D(t["amount"]) for t in fills) == Decimal("0.01")
        assert all(t["side"] == "buy" and t["takerOrMaker"] == "taker" for t in fills)
        assert all(t["fee"]["currency"] == "USD" and t["fee"]["cost"] > 0 for t in fills)

        await wait_until(ex.watch_balance,
                         lambda: ex.balance.get("spot", {}).get("BTC", {}).get("total") == 2.01)

        second = await asyncio.wait_for(
            ex.create_order_ws("BTC/USD", "limit", "buy", 0.01, price), TIMEOUT)
        cancelled = await asyncio.wait_for(ex.cancel_all_orders_ws(), TIMEOUT)
        assert cancelled["result"]["count"] == 1
        await wait_until(ex.watch_orders, lambda: order_in(ex, second["id"], "canceled"))
    finally:
        await ex.close()


async def test_pro_errors(sb: SandboxThread) -> None:
    creds = await asyncio.to_thread(new_key, sb, {"ZUSD": 100})
    ex = pro_client(sb, creds)
    try:
        await ex.load_markets()
        price = far_bid(ex)
        # ccxt's v2 map holds longer strings as "broad" keys, so Kraken's exact
        # "EOrder:Insufficient funds" surfaces as an ExchangeError carrying that string
        with pytest.raises(ccxt.ExchangeError, match=r"^EOrder:Insufficient funds$"):
            await asyncio.wait_for(ex.create_order_ws("BTC/USD", "limit", "buy", 1, price),
                                   TIMEOUT)
        with pytest.raises(ccxt.OrderNotFound, match="EOrder:Unknown order"):
            await asyncio.wait_for(ex.cancel_order_ws("OAAAAA-BBBBB-CCCCCC"), TIMEOUT)
    finally:
        await ex.close()

    bad = pro_client(sb, Credentials(creds.api_key, "A" * 86 + "=="))
    try:
        with pytest.raises(ccxt.AuthenticationError, match="EAPI:Invalid key"):
            await asyncio.wait_for(bad.watch_orders(), TIMEOUT)
    finally:
        await bad.close()


# --- the ohlc candles behind ccxt.pro's watch_ohlcv (pure helper, property-tested) -----------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 100_000), st.integers(1, 10_000), st.integers(0, 900)),
                min_size=1, max_size=40),
       st.sampled_from(OHLC_INTERVALS), st.integers(0, 40))
def test_ohlc_candles_partition_the_tape(rows: list[tuple[int, int, int]], interval: int,
                                         after: int) -> None:
    pair = PAIRS["XXBTZUSD"]
    t0 = 1_700_000_000.0
    tape = [PublicTrade(price=Decimal(p) / 10, volume=Decimal(v) / 1000, time=t0 + dt * 7.3,
                        side="buy", ordertype="market", trade_id=i + 1)
            for i, (p, v, dt) in enumerate(sorted(rows, key=lambda r: r[2]))]
    candles = ohlc_candles(pair, tape, interval, "2023-11-14T22:13:20.000000Z")
    assert sum(c.trades for c in candles) == len(tape)
    assert sum(c.volume for c in candles) == sum(t.volume for t in tape)
    begins = [c.interval_begin for c in candles]
    assert begins == sorted(set(begins))
    for c in candles:
        assert c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high
        assert c.low <= c.vwap <= c.high and c.interval == interval
        start = datetime.strptime(c.interval_begin[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=UTC).timestamp()
        assert start % (interval * 60) == 0
    # an update carries exactly the candles holding trades newer than the last one sent
    newer = ohlc_candles(pair, tape, interval, "x", after_id=after)
    want = {int(t.time) // (interval * 60) for t in tape if t.trade_id > after}
    assert len(newer) == len(want)
    assert all(c in candles for c in
               (msgspec.structs.replace(n, timestamp=candles[0].timestamp) for n in newer))


def test_engine_modes_map_to_on_maintenance(sb: SandboxThread) -> None:
    ex = sync_client(sb, new_key(sb))
    ex.load_markets()
    price = far_bid(ex)
    faults = sb.core.faults
    try:
        faults.system_status = "cancel_only"
        assert ex.fetch_status()["status"] == "maintenance"
        with pytest.raises(ccxt.OnMaintenance, match="EService:Market in cancel_only mode"):
            ex.create_order("BTC/USD", "limit", "buy", 0.01, price)
        faults.system_status = "post_only"
        with pytest.raises(ccxt.OnMaintenance, match="EService:Market in post_only mode"):
            ex.create_order("BTC/USD", "limit", "buy", 0.01, price)
        posted = ex.create_order("BTC/USD", "limit", "buy", 0.01, price, {"postOnly": True})
        assert ex.fetch_order(posted["id"])["postOnly"] is True
        faults.system_status = "maintenance"
        with pytest.raises(ccxt.ExchangeNotAvailable, match="EService:Unavailable"):
            ex.fetch_balance()
    finally:
        faults.system_status = "online"
    assert ex.fetch_status()["status"] == "ok"
    ex.cancel_all_orders()
