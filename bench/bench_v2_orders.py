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
from krakenwire.protocol import v2
from krakenwire.rest import AsyncKrakenClient
from krakenwire.ws.v2 import PrivateSocket

QTY = Decimal("0.001")
PRICE = Decimal("1000")
SYMBOL = "BTC/USD"

PlaceOne = Callable[[int], Awaitable[None]]
Settle = Callable[[], Awaitable[None]]
Client = tuple[PlaceOne, Settle]


async def _admin(session: aiohttp.ClientSession, url: str, path: str, body: Any) -> Any:
    async with session.post(url + path, json=body) as r:
        r.raise_for_status()
        return await r.json()


# --- the three clients -------------------------------------------------------------------
# Each yields ``place(i)`` (timed: send add_order, return on its ack) and ``settle()`` (not
# timed: wait for the order's ``new`` report, so the server is idle before the next client).


@contextlib.asynccontextmanager
async def client_ours(urls: dict[str, str], creds: Credentials) -> AsyncIterator[Client]:
    async with PrivateSocket(credentials=creds, rest_url=urls["rest_url"],
                             url=urls["ws_auth_v2_url"], channels=("executions",),
                             snap_trades=False) as ws:
        last: list[str] = [""]

        async def place(i: int) -> None:
            result = await ws.add_order(symbol=SYMBOL, side="buy", order_type="limit",
                                        order_qty=QTY, limit_price=PRICE)
            last[0] = str(result.order_id)

        async def settle() -> None:
            # the reader keeps the open-orders view; wait until it shows the order as new
            while True:
                order = ws.open_orders.get(last[0])
                if order is not None and order.order_status == "new":
                    return
                await asyncio.sleep(0)

        yield place, settle


@contextlib.asynccontextmanager
async def client_sdk(urls: dict[str, str], creds: Credentials) -> AsyncIterator[Client]:
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
async def client_raw(urls: dict[str, str], creds: Credentials) -> AsyncIterator[Client]:
    async with AsyncKrakenClient(creds, base_url=urls["rest_url"], rate_limit=None) as rest:
        token = (await rest.get_websockets_token()).token
    async with aiohttp.ClientSession() as session, session.ws_connect(
            urls["ws_auth_v2_url"], autoping=True, compress=0) as sock:
        await sock.send_bytes(v2.encode(v2.Request(
            method="subscribe", req_id=1,
            params=v2.SubscribeParams(channel="executions", token=token, snap_orders=False))))
        while True:
            msg = json.loads((await sock.receive()).data)
            if msg.get("method") == "subscribe":
                assert msg["success"], msg
                break

        async def place(i: int) -> None:
            rid = i + 2
            params = v2.AddOrderParams(order_type="limit", side="buy", symbol=SYMBOL,
                                       token=token, order_qty=QTY, limit_price=PRICE,
                                       cl_ord_id=str(uuid.uuid4()))
            await sock.send_frame(v2.encode(v2.Request(method="add_order", params=params,
                                                       req_id=rid)), aiohttp.WSMsgType.TEXT)
            while True:
                msg = json.loads((await sock.receive()).data)
                if msg.get("req_id") == rid:
                    assert msg["success"], msg
                    return

        async def settle() -> None:
            while True:
                msg = json.loads((await sock.receive()).data)
                if msg.get("channel") == "executions" and any(
                        r.get("exec_type") == "new" for r in msg["data"]):
                    return

        yield place, settle


# --- main -----------------------------------------------------------------------------------


def _stats(lat: list[float]) -> dict[str, float]:
    s = sorted(lat)
    return {"p50": statistics.median(s) * 1e6, "p99": s[max(0, int(len(s) * 0.99) - 1)] * 1e6,
            "mean": statistics.fmean(s) * 1e6}


async def main(orders: int, warmup: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kw-bench-v2-"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenwire.cli", "sandbox", "--port", "0", "--db",
         str(tmp / "bench.db")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        urls = json.loads(proc.stdout.readline())
        rest_url = urls["rest_url"]
        urls.setdefault("ws_auth_v2_url", rest_url.replace("http", "ws", 1) + "/ws-auth/v2")
        urls.setdefault("ws_public_v2_url", rest_url.replace("http", "ws", 1) + "/ws/v2")
        async with aiohttp.ClientSession() as s:
            keys = []
            for _ in range(3):  # one account each: no client reads another's executions
                acct = (await _admin(s, rest_url, "/sandbox/accounts",
                                     {"balances": {"USD": "1000000000"}}))["account_id"]
                keys.append(await _admin(s, rest_url, "/sandbox/keys",
                                         {"account_id": acct, "tier": "unlimited"}))
        creds = [Credentials(k["api_key"], k["api_secret"]) for k in keys]
        clients = [("krakenwire PrivateSocket", client_ours),
                   ("python-kraken-sdk SpotWSClient", client_sdk),
                   ("raw aiohttp (floor)", client_raw)]
        lat: dict[str, list[float]] = {name: [] for name, _ in clients}
        async with contextlib.AsyncExitStack() as stack:
            opened = [(name, await stack.enter_async_context(factory(urls, cred)))
                      for (name, factory), cred in zip(clients, creds, strict=True)]
            # interleaved, one order at a time, each settled before the next client sends:
            # every client sees the same, idle server
            for i in range(warmup + orders):
                for name, (place, settle) in opened:
                    t0 = time.perf_counter()
                    await place(i)
                    elapsed = time.perf_counter() - t0
                    await settle()
                    if i >= warmup:
                        lat[name].append(elapsed)
        results = {name: _stats(values) for name, values in lat.items()}
        floor = results["raw aiohttp (floor)"]
        print(f"WS v2 add_order -> ack, {orders} orders per client after {warmup} warm-up, "
              "sequential, one sandbox in its own process")
        print(f"{'client':<32}{'p50 us':>9}{'p99 us':>9}{'mean us':>9}"
              f"{'p50/floor':>11}{'p99/floor':>11}")
        for name, r in results.items():
            print(f"{name:<32}{r['p50']:>9.0f}{r['p99']:>9.0f}{r['mean']:>9.0f}"
                  f"{r['p50'] / floor['p50']:>11.2f}{r['p99'] / floor['p99']:>11.2f}")
        ours = results["krakenwire PrivateSocket"]
        sdk = results["python-kraken-sdk SpotWSClient"]
        print(f"python-kraken-sdk / krakenwire: p50 {sdk['p50'] / ours['p50']:.2f}x, "
              f"p99 {sdk['p99'] / ours['p99']:.2f}x, mean {sdk['mean'] / ours['mean']:.2f}x")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    ns = parser.parse_args()
    asyncio.run(main(ns.orders, ns.warmup))
