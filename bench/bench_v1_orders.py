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
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from krakenwire.auth import Credentials
from krakenwire.protocol import v1
from krakenwire.rest import AsyncKrakenClient
from krakenwire.ws.v1 import PrivateSocketV1
from krakenwire.ws.v2 import PrivateSocket

PlaceOne = Callable[[int], Awaitable[None]]
Settle = Callable[[], Awaitable[None]]
Client = tuple[PlaceOne, Settle]


async def _admin(session: aiohttp.ClientSession, url: str, path: str, body: Any) -> Any:
    async with session.post(url + path, json=body) as r:
        r.raise_for_status()
        return await r.json()


@contextlib.asynccontextmanager
async def client_v1(urls: dict[str, str], creds: Credentials) -> AsyncIterator[Client]:
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
async def client_raw(urls: dict[str, str], creds: Credentials) -> AsyncIterator[Client]:
    async with AsyncKrakenClient(creds, base_url=urls["rest_url"], rate_limit=None) as rest:
        token = (await rest.get_websockets_token()).token
    async with aiohttp.ClientSession() as session, session.ws_connect(
            urls["ws_auth_v1_url"], autoping=True, compress=0) as sock:
        await sock.send_bytes(v1.encode(v1.Subscribe(
            subscription=v1.Subscription(name="openOrders", token=token), reqid=1)))
        while True:
            msg = json.loads((await sock.receive()).data)
            if isinstance(msg, dict) and msg.get("event") == "subscriptionStatus":
                assert msg["status"] == "subscribed", msg
                break

        async def place(i: int) -> None:
            rid = i + 2
            await sock.send_frame(v1.encode(v1.AddOrder(
                ordertype="limit", type="buy", pair="XBT/USD", volume=Decimal("0.001"),
                price="1000", cl_ord_id=str(uuid.uuid4()), token=token, reqid=rid)),
                aiohttp.WSMsgType.TEXT)
            while True:
                msg = json.loads((await sock.receive()).data)
                if isinstance(msg, dict) and msg.get("reqid") == rid:
                    assert msg["status"] == "ok", msg
                    return

        async def settle() -> None:
            while True:
                msg = json.loads((await sock.receive()).data)
                if isinstance(msg, list) and any(
                        e.get("status") == "open" for item in msg[0] for e in item.values()):
                    return

        yield place, settle


@contextlib.asynccontextmanager
async def client_v2(urls: dict[str, str], creds: Credentials) -> AsyncIterator[Client]:
    async with PrivateSocket(credentials=creds, rest_url=urls["rest_url"],
                             url=urls["ws_auth_v2_url"], channels=("executions",),
                             snap_trades=False) as ws:
        last = [""]

        async def place(i: int) -> None:
            result = await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                                        order_qty=Decimal("0.001"), limit_price=Decimal(1000))
            last[0] = str(result.order_id)

        async def settle() -> None:
            feed = ws.executions()
            while last[0] not in ws.open_orders or ws.open_orders[last[0]].order_status != "new":
                await anext(feed)

        yield place, settle


def _stats(lat: list[float]) -> dict[str, float]:
    s = sorted(lat)
    return {"p50": statistics.median(s) * 1e6, "p99": s[max(0, int(len(s) * 0.99) - 1)] * 1e6,
            "mean": statistics.fmean(s) * 1e6}


async def main(orders: int, warmup: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kw-bench-v1-"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenwire.cli", "sandbox", "--port", "0", "--db",
         str(tmp / "bench.db")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        urls = json.loads(proc.stdout.readline())
        rest_url = urls["rest_url"]
        ws_base = rest_url.replace("http", "ws", 1)
        urls.setdefault("ws_auth_v1_url", ws_base + "/ws-auth")
        urls.setdefault("ws_auth_v2_url", ws_base + "/ws-auth/v2")
        async with aiohttp.ClientSession() as s:
            keys = []
            for _ in range(3):  # one account each: no client reads another's orders
                acct = (await _admin(s, rest_url, "/sandbox/accounts",
                                     {"balances": {"USD": "1000000000"}}))["account_id"]
                keys.append(await _admin(s, rest_url, "/sandbox/keys",
                                         {"account_id": acct, "tier": "unlimited"}))
        creds = [Credentials(k["api_key"], k["api_secret"]) for k in keys]
        clients = [("krakenwire PrivateSocketV1", client_v1),
                   ("raw aiohttp v1 (floor)", client_raw),
                   ("krakenwire PrivateSocket (v2)", client_v2)]
        lat: dict[str, list[float]] = {name: [] for name, _ in clients}
        async with contextlib.AsyncExitStack() as stack:
            opened = [(name, await stack.enter_async_context(factory(urls, cred)))
                      for (name, factory), cred in zip(clients, creds, strict=True)]
            for i in range(warmup + orders):
                for name, (place, settle) in opened:
                    t0 = time.perf_counter()
                    await place(i)
                    elapsed = time.perf_counter() - t0
                    await settle()
                    if i >= warmup:
                        lat[name].append(elapsed)
        results = {name: _stats(values) for name, values in lat.items()}
        floor = results["raw aiohttp v1 (floor)"]
        print(f"WS addOrder -> ack, {orders} orders per client after {warmup} warm-up, "
              "sequential, one sandbox in its own process")
        print(f"{'client':<32}{'p50 us':>9}{'p99 us':>9}{'mean us':>9}"
              f"{'p50/floor':>11}{'p99/floor':>11}")
        for name, r in results.items():
            print(f"{name:<32}{r['p50']:>9.0f}{r['p99']:>9.0f}{r['mean']:>9.0f}"
                  f"{r['p50'] / floor['p50']:>11.2f}{r['p99'] / floor['p99']:>11.2f}")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    ns = parser.parse_args()
    asyncio.run(main(ns.orders, ns.warmup))
