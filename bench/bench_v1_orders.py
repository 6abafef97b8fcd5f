"""WebSocket v1 ``addOrder`` -> ``addOrderStatus`` round trip: krakenwire ``PrivateSocketV1`` vs
a raw aiohttp v1 client (the floor) vs krakenwire's v2 ``PrivateSocket`` on the same server.

One sandbox (``krakenwire sandbox``, its own process, SQLite WAL + group commit, every ack sent
after the order is durable) serves three clients in turn, each on its own API key
(``unlimited`` tier) and account, each subscribed to its order feed (v1 ``openOrders``, v2
``executions``), so every client also reads the pending/open frames that follow each ack:

* **krakenwire v1** — ``PrivateSocketV1.add_order`` (typed request, msgspec codec, reader task
  resolving a future by ``reqid``, the open-orders view kept from every ``openOrders`` delta);
* **raw aiohttp v1** — the floor: the same bytes written on a bare aiohttp socket, the reply
  found by reading frames inline until the ``reqid`` matches (``json.loads`` only);
* **krakenwire v2** — ``PrivateSocket.add_order`` for comparison across protocol versions.

Each client places ``--orders`` resting limit orders (buy 0.001 BTC at 1000) after ``--warmup``
unmeasured ones, one at a time in turn, each waiting (untimed, reading its feed — no busy
wait) for its order to show as open before the next client sends. No Python v1 client is
maintained any more (python-kraken-sdk 3.x speaks only v2), so there is no third-party v1 peer.

Usage: ``.venv/bin/python bench/bench_v1_orders.py [--orders 500] [--warmup 50]``.
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

import aiohttp

from krakenwire.auth import Credentials
from krakenwire.protocol import v1
from krakenwire.ws.v1 import PrivateSocketV1

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common


@contextlib.asynccontextmanager
async def client_v1(urls: dict[str, str], creds: Credentials) -> AsyncIterator[common.Client]:
    async with PrivateSocketV1(credentials=creds, rest_url=urls["rest_url"],
                               url=urls["ws_auth_v1_url"], channels=("openOrders",)) as ws:
        last = [""]

        async def place(i: int) -> None:
            ack = await ws.add_order(pair="XBT/USD", type="buy", ordertype="limit",
                                     volume=Decimal("0.001"), price=Decimal(1000))
            last[0] = str(ack.txid)

        async def settle() -> None:
            # the reader keeps the view; read the feed (no busy wait) until the order is open
            feed = ws.open_orders_feed()
            while last[0] not in ws.open_orders or ws.open_orders[last[0]].order_status != "new":
                await anext(feed)

        yield place, settle


@contextlib.asynccontextmanager
async def client_raw(urls: dict[str, str], creds: Credentials) -> AsyncIterator[common.Client]:
    token = await common.ws_token(urls["rest_url"], creds)
    async with aiohttp.ClientSession() as session, session.ws_connect(
            urls["ws_auth_v1_url"], autoping=True, compress=0) as sock:
        await sock.send_bytes(v1.encode(v1.Subscribe(
            subscription=v1.Subscription(name="openOrders", token=token), reqid=1)))
        msg = await common.read_until(sock, lambda m: isinstance(m, dict)
                                      and m.get("event") == "subscriptionStatus")
        assert msg["status"] == "subscribed", msg

        async def place(i: int) -> None:
            rid = i + 2
            await sock.send_frame(v1.encode(v1.AddOrder(
                ordertype="limit", type="buy", pair="XBT/USD", volume=Decimal("0.001"),
                price="1000", cl_ord_id=str(uuid.uuid4()), token=token, reqid=rid)),
                aiohttp.WSMsgType.TEXT)
            msg = await common.read_until(sock, lambda m: isinstance(m, dict)
                                          and m.get("reqid") == rid)
            assert msg["status"] == "ok", msg

        async def settle() -> None:
            await common.read_until(sock, lambda m: isinstance(m, list) and any(
                e.get("status") == "open" for item in m[0] for e in item.values()))

        yield place, settle


async def main(orders: int, warmup: int) -> None:
    with common.sandbox_process("kw-bench-v1-") as urls:
        results = await common.race_clients(urls, [
            ("krakenwire PrivateSocketV1", client_v1),
            ("raw aiohttp v1 (floor)", client_raw),
            ("krakenwire PrivateSocket (v2)", common.krakenwire_v2_client)], warmup, orders)
        print(f"WS addOrder -> ack, {orders} orders per client after {warmup} warm-up, "
              "sequential, one sandbox in its own process")
        common.print_latency_table(results, "client", 32, floor="raw aiohttp v1 (floor)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    ns = parser.parse_args()
    asyncio.run(main(ns.orders, ns.warmup))
