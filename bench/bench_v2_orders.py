"""WebSocket v2 ``add_order`` -> ack round trip: krakenwire vs python-kraken-sdk vs raw aiohttp.

One sandbox (``krakenwire sandbox``, its own process, SQLite WAL + group commit, every ack sent
after the order is durable) serves three clients in turn, each on its own API key (``unlimited``
tier, so Kraken's trading counters do not cap the figures) and each subscribed to
``executions`` (so every client also reads the ``pending_new`` / ``new`` frames that follow each
ack, as a real trading program does):

* **krakenwire** — ``PrivateSocket.add_order`` (typed params, msgspec codec, reader task that
  resolves a future, the open-orders view updated from every execution report);
* **python-kraken-sdk** — ``SpotWSClient.send_message`` with a ``req_id``, the reply matched in
  its ``on_message`` callback;
* **raw aiohttp** — the floor: the same bytes krakenwire sends, written on a bare aiohttp socket
  and the reply found by reading frames inline until the matching ``req_id`` (no reader task,
  no decoding beyond ``json.loads``).

Each client places ``--orders`` resting limit orders (buy 0.001 BTC/USD at 1000) after
``--warmup`` unmeasured ones; the three take turns, one order at a time, and after each ack
the client waits (untimed) for the order's ``new`` report, so every measurement starts on an
idle server (each client has its own account, so nobody reads another's executions).
Prints p50 / p99 / mean in microseconds and the ratios to the floor and between the libraries.

Usage: ``.venv/bin/python bench/bench_v2_orders.py [--orders 1000] [--warmup 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from krakenwire.auth import Credentials
from krakenwire.protocol import v2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common

QTY = Decimal("0.001")
PRICE = Decimal("1000")
SYMBOL = "BTC/USD"

# --- the three clients -------------------------------------------------------------------
# Each yields ``place(i)`` (timed: send add_order, return on its ack) and ``settle()`` (not
# timed: wait for the order's ``new`` report, so the server is idle before the next client).
# krakenwire's own is ``common.krakenwire_v2_client`` (shared with bench_v1_orders.py).


@contextlib.asynccontextmanager
async def client_sdk(urls: dict[str, str], creds: Credentials) -> AsyncIterator[common.Client]:
    from kraken.spot import SpotWSClient

    loop = asyncio.get_running_loop()
    waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
    subscribed: asyncio.Future[dict[str, Any]] = loop.create_future()
    new_orders: asyncio.Queue[str] = asyncio.Queue()

    async def on_message(message: Any) -> None:
        if not isinstance(message, dict):
            return
        method = message.get("method")
        if method == "subscribe" and not subscribed.done():
            subscribed.set_result(message)
        elif method == "add_order":
            fut = waiting.pop(message.get("req_id", -1), None)
            if fut is not None:
                fut.set_result(message)
        elif message.get("channel") == "executions":
            for report in message.get("data", []):
                if report.get("exec_type") == "new":
                    new_orders.put_nowait(report["order_id"])

    auth_base = urls["ws_auth_v2_url"].removesuffix("/v2")
    public_base = urls["ws_public_v2_url"].removesuffix("/v2")
    client = SpotWSClient(key=creds.api_key, secret=creds.api_secret, callback=on_message,
                          no_public=True, rest_url=urls["rest_url"], ws_url=public_base,
                          auth_ws_url=auth_base)
    await client.start()
    try:
        await client.subscribe(params={"channel": "executions", "snap_orders": False})
        reply = await asyncio.wait_for(subscribed, 10)
        assert reply.get("success"), reply

        async def place(i: int) -> None:
            rid = i + 1
            fut: asyncio.Future[dict[str, Any]] = loop.create_future()
            waiting[rid] = fut
            await client.send_message({"method": "add_order", "req_id": rid, "params": {
                "order_type": "limit", "side": "buy", "order_qty": float(QTY),
                "limit_price": float(PRICE), "symbol": SYMBOL,
                "cl_ord_id": str(uuid.uuid4())}})
            answer = await asyncio.wait_for(fut, 10)
            assert answer.get("success"), answer

        async def settle() -> None:
            await asyncio.wait_for(new_orders.get(), 10)

        yield place, settle
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def client_raw(urls: dict[str, str], creds: Credentials) -> AsyncIterator[common.Client]:
    token = await common.ws_token(urls["rest_url"], creds)
    async with aiohttp.ClientSession() as session, session.ws_connect(
            urls["ws_auth_v2_url"], autoping=True, compress=0) as sock:
        await sock.send_bytes(v2.encode(v2.Request(
            method="subscribe", req_id=1,
            params=v2.SubscribeParams(channel="executions", token=token, snap_orders=False))))
        msg = await common.read_until(sock, lambda m: m.get("method") == "subscribe")
        assert msg["success"], msg

        async def place(i: int) -> None:
            rid = i + 2
            params = v2.AddOrderParams(order_type="limit", side="buy", symbol=SYMBOL,
                                       token=token, order_qty=QTY, limit_price=PRICE,
                                       cl_ord_id=str(uuid.uuid4()))
            await sock.send_frame(v2.encode(v2.Request(method="add_order", params=params,
                                                       req_id=rid)), aiohttp.WSMsgType.TEXT)
            msg = await common.read_until(sock, lambda m: m.get("req_id") == rid)
            assert msg["success"], msg

        async def settle() -> None:
            await common.read_until(sock, lambda m: m.get("channel") == "executions" and any(
                r.get("exec_type") == "new" for r in m["data"]))

        yield place, settle


# --- main -----------------------------------------------------------------------------------


async def main(orders: int, warmup: int) -> None:
    with common.sandbox_process("kw-bench-v2-") as urls:
        results = await common.race_clients(urls, [
            ("krakenwire PrivateSocket", common.krakenwire_v2_client),
            ("python-kraken-sdk SpotWSClient", client_sdk),
            ("raw aiohttp (floor)", client_raw)], warmup, orders)
        print(f"WS v2 add_order -> ack, {orders} orders per client after {warmup} warm-up, "
              "sequential, one sandbox in its own process")
        common.print_latency_table(results, "client", 32, floor="raw aiohttp (floor)")
        common.print_ratio("python-kraken-sdk / krakenwire",
                           results["python-kraken-sdk SpotWSClient"],
                           results["krakenwire PrivateSocket"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    ns = parser.parse_args()
    asyncio.run(main(ns.orders, ns.warmup))
