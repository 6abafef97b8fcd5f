"""python-kraken-sdk's ``SpotWSClient``, unmodified, against the sandbox's WebSocket v2.

The SDK fetches its token over signed REST (``rest_url``), appends ``/v2`` to ``auth_ws_url``
and hands every frame to our callback as a dict.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from kraken.spot import SpotWSClient

from krakenwire.sandbox import Sandbox

TIMEOUT = 10.0


class Inbox:
    """Frames the SDK delivered, with a wait-for-a-matching-one helper."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []

    async def callback(self, message: dict[str, Any]) -> None:
        await self.queue.put(message)

    async def wait(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            while True:
                msg = await self.queue.get()
                self.seen.append(msg)
                if pred(msg):
                    return msg

        return await asyncio.wait_for(find(), TIMEOUT)


def is_method(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("method") == name


def is_exec(exec_type: str, order_id: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def pred(m: dict[str, Any]) -> bool:
        if m.get("channel") != "executions" or m.get("type") != "update":
            return False
        d = m["data"][0]
        return d.get("exec_type") == exec_type and (order_id is None or
                                                     d.get("order_id") == order_id)
    return pred


@pytest.fixture
async def client() -> AsyncIterator[tuple[Sandbox, SpotWSClient, Inbox]]:
    async with Sandbox() as sb:
        inbox = Inbox()
        creds = sb.credentials
        base = sb.ws_auth_v2_url.removesuffix("/v2")
        ws = SpotWSClient(key=creds.api_key, secret=creds.api_secret, callback=inbox.callback,
                          no_public=True, rest_url=sb.rest_url, auth_ws_url=base)
        await ws.start()
        try:
            yield sb, ws, inbox
        finally:
            with contextlib.suppress(Exception):
                await ws.close()


async def test_pks_token_subscribe_order_cancel_balances(
        client: tuple[Sandbox, SpotWSClient, Inbox]) -> None:
    sb, ws, inbox = client
    status = await inbox.wait(lambda m: m.get("channel") == "status")
    assert status["data"][0]["api_version"] == "v2"

    await ws.subscribe(params={"channel": "executions", "snap_orders": True}, req_id=1)
    ack = await inbox.wait(is_method("subscribe"))
    assert ack["success"] is True and ack["result"]["channel"] == "executions"
    snap = await inbox.wait(lambda m: m.get("channel") == "executions")
    assert snap["type"] == "snapshot" and snap["data"] == []
    # the SDK keeps the subscription for reconnects
    assert any(s.get("channel") == "executions" for s in ws._priv_conn.subscriptions)

    await ws.subscribe(params={"channel": "balances"}, req_id=2)
    bal_ack = await inbox.wait(is_method("subscribe"))
    assert bal_ack["result"] == {"channel": "balances", "snapshot": True}
    bal = await inbox.wait(lambda m: m.get("channel") == "balances")
    assert {"BTC", "USD"} <= {b["asset"] for b in bal["data"]}

    # a resting limit order: ack, then pending_new and new
    await ws.send_message({"method": "add_order", "req_id": 3, "params": {
        "order_type": "limit", "side": "buy", "limit_price": 1000.0, "order_qty": 0.01,
        "symbol": "BTC/USD", "cl_ord_id": "pks-1"}})
    placed = await inbox.wait(is_method("add_order"))
    assert placed["success"] is True, placed
    order_id = placed["result"]["order_id"]
    assert placed["result"]["cl_ord_id"] == "pks-1" and placed["req_id"] == 3
    pending = await inbox.wait(is_exec("pending_new", order_id))
    assert pending["data"][0]["symbol"] == "BTC/USD"
    await inbox.wait(is_exec("new", order_id))

    # a market order fills: trade report, balances moved, filled
    await ws.send_message({"method": "add_order", "req_id": 4, "params": {
        "order_type": "market", "side": "sell", "order_qty": 0.01, "symbol": "BTC/USD"}})
    market = await inbox.wait(is_method("add_order"))
    market_id = market["result"]["order_id"]
    trade = await inbox.wait(is_exec("trade", market_id))
    t = trade["data"][0]
    assert t["last_qty"] == 0.01 and t["liquidity_ind"] == "t"
    assert t["fees"][0]["asset"] == "USD"
    await inbox.wait(lambda m: m.get("channel") == "balances" and m["type"] == "update"
                     and m["data"][0]["ref_id"] == t["exec_id"])
    await inbox.wait(is_exec("filled", market_id))

    # cancel the resting order
    await ws.send_message({"method": "cancel_order", "req_id": 5,
                           "params": {"order_id": [order_id]}})
    cancelled = await inbox.wait(is_method("cancel_order"))
    assert cancelled["success"] is True and cancelled["result"] == {"order_id": order_id}
    report = await inbox.wait(is_exec("canceled", order_id))
    assert report["data"][0]["order_status"] == "canceled"
    assert sb.core.exchange.open_orders(sb.demo_account) == []
    assert not ws.exception_occur


async def test_pks_public_ticker_and_book() -> None:
    async with Sandbox() as sb:
        inbox = Inbox()
        ws = SpotWSClient(callback=inbox.callback,
                          ws_url=sb.ws_public_v2_url.removesuffix("/v2"))
        await ws.start()
        try:
            await ws.subscribe(params={"channel": "ticker", "symbol": ["BTC/USD"]})
            ack = await inbox.wait(is_method("subscribe"))
            assert ack["success"] is True and ack["result"]["symbol"] == "BTC/USD"
            tick = await inbox.wait(lambda m: m.get("channel") == "ticker")
            assert tick["data"][0]["symbol"] == "BTC/USD" and tick["data"][0]["bid"] > 0
            await ws.subscribe(params={"channel": "book", "symbol": ["BTC/USD"], "depth": 10})
            book = await inbox.wait(lambda m: m.get("channel") == "book")
            assert book["type"] == "snapshot" and len(book["data"][0]["asks"]) == 10
            # the SDK stored both subscriptions in resubscribable form
            assert {s["channel"] for s in ws._pub_conn.subscriptions} == {"ticker", "book"}
            await ws.subscribe(params={"channel": "ticker", "symbol": ["XBT/USD"]})
            err = await inbox.wait(lambda m: m.get("method") == "subscribe"
                                   and m.get("success") is False)
            assert err["error"] == "Currency pair not supported XBT/USD"
        finally:
            with contextlib.suppress(Exception):
                await ws.close()
