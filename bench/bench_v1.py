"""WebSocket v1 side by side: the codec's decode cost, and the sandbox's order acks v1 vs v2.

1. Decoding one recorded-shape ``openOrders`` new-order frame: ``json.loads`` (floats as str,
   no types) vs ``protocol.v1.decode`` (msgspec, exact numbers) vs ``protocol.v1.parse_message``
   (typed structs with exact ``Decimal`` fields) — µs per frame and ratios to ``json.loads``.
2. ``addOrder`` → ``addOrderStatus`` on ``/ws-auth`` vs ``add_order`` → ack on ``/ws-auth/v2``,
   one sandbox (``krakenwire sandbox``, its own process, SQLite WAL, every ack after the order is
   durable), raw aiohttp clients on their own accounts (``unlimited`` tier), each subscribed to
   its private order feed so it also reads the frames around every ack; the two take turns, one
   order at a time. Prints p50 / p99 / mean in µs and the v1 / v2 ratios.

Usage: ``.venv/bin/python bench/bench_v1.py [--orders 500] [--warmup 50] [--frames 20000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from krakenwire.auth import Credentials
from krakenwire.protocol import v1

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common

FRAME = (
    b'[[{"OBA7Z7-XQVOQ-3NZRDS":{"avg_price":"0.00000","cost":"0.00000","descr":{"close":null,'
    b'"leverage":null,"order":"buy 5.00000000 XBT/USD @ limit 30000.00000","ordertype":"limit",'
    b'"pair":"XBT/USD","price":"30000.00000","price2":"0.00000","type":"buy"},"expiretm":null,'
    b'"fee":"0.00000","limitprice":"0.00000","misc":"","oflags":"fciq",'
    b'"opentm":"1698761179.336974","refid":null,"starttm":null,"status":"pending",'
    b'"stopprice":"0.00000","timeinforce":"GTC","userref":0,"vol":"5.00000000",'
    b'"vol_exec":"0.00000000"}}],"openOrders",{"sequence":2}]'
)


def bench_decode(frames: int) -> None:
    def per_call(fn: Callable[[bytes], Any]) -> float:
        return common.best_us_per_call(fn, FRAME, frames, 3)

    base = per_call(json.loads)
    rows = [("json.loads (untyped)", base), ("v1.decode (exact numbers)", per_call(v1.decode)),
            ("v1.parse_message (typed)", per_call(v1.parse_message))]
    print(f"decode one openOrders frame ({len(FRAME)} bytes), best of 3 x {frames}")
    print(f"{'decoder':<30}{'us/frame':>10}{'ratio':>8}")
    for name, us in rows:
        print(f"{name:<30}{us:>10.2f}{us / base:>8.2f}")


async def _token(session: aiohttp.ClientSession, rest_url: str, creds: Credentials) -> str:
    nonce = time.time_ns()
    body = urllib.parse.urlencode({"nonce": nonce})
    path = "/0/private/GetWebSocketsToken"
    sig = creds.signer.sign(path, nonce, body)
    async with session.post(rest_url + path, data=body.encode(), headers={
            "API-Key": creds.api_key, "API-Sign": sig,
            "Content-Type": "application/x-www-form-urlencoded"}) as r:
        token: str = (await r.json())["result"]["token"]
        return token


async def client_v1(sock: aiohttp.ClientWebSocketResponse, token: str) -> common.PlaceOne:
    await common.read_until(sock, lambda m: isinstance(m, dict)
                            and m.get("event") == "systemStatus")
    await sock.send_str(json.dumps({"event": "subscribe", "subscription": {
        "name": "openOrders", "token": token}}))
    await common.read_until(sock, lambda m: isinstance(m, list))  # the snapshot

    async def place(i: int) -> None:
        await sock.send_str(json.dumps({
            "event": "addOrder", "token": token, "ordertype": "limit", "type": "buy",
            "pair": "XBT/USD", "price": "1000", "volume": "0.001", "reqid": i + 1}))
        ack = await common.read_until(sock, lambda m: isinstance(m, dict)
                                      and m.get("event") == "addOrderStatus")
        assert ack["status"] == "ok", ack
    return place


async def client_v2(sock: aiohttp.ClientWebSocketResponse, token: str) -> common.PlaceOne:
    await sock.send_str(json.dumps({"method": "subscribe", "req_id": 0, "params": {
        "channel": "executions", "token": token, "snap_orders": False}}))
    await common.read_until(sock, lambda m: isinstance(m, dict) and m.get("method") == "subscribe")

    async def place(i: int) -> None:
        await sock.send_str(json.dumps({"method": "add_order", "req_id": i + 1, "params": {
            "order_type": "limit", "side": "buy", "symbol": "BTC/USD", "limit_price": 1000,
            "order_qty": 0.001, "token": token}}))
        ack = await common.read_until(sock, lambda m: isinstance(m, dict)
                                      and m.get("method") == "add_order")
        assert ack["success"], ack
    return place


async def bench_orders(orders: int, warmup: int) -> None:
    with common.sandbox_process("kw-bench-v1-") as urls:
        rest_url = urls["rest_url"]
        creds = await common.unlimited_credentials(rest_url, 2)
        async with aiohttp.ClientSession() as s:
            tokens = [await _token(s, rest_url, c) for c in creds]
            async with s.ws_connect(urls["ws_auth_v1_url"], compress=0) as s1, \
                    s.ws_connect(urls["ws_auth_v2_url"], compress=0) as s2:
                places = [("WS v1 addOrder", await client_v1(s1, tokens[0]), None),
                          ("WS v2 add_order", await client_v2(s2, tokens[1]), None)]
                lat = await common.run_in_turns(places, warmup, orders)
        res = {name: common.latency_stats(v) for name, v in lat.items()}
        print(f"\norder -> ack on the sandbox, {orders} orders each after {warmup} warm-up, "
              "raw aiohttp clients, taking turns")
        common.print_latency_table(res, "endpoint", 20)
        common.print_ratio("v1 / v2", res["WS v1 addOrder"], res["WS v2 add_order"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--frames", type=int, default=20000)
    ns = parser.parse_args()
    bench_decode(ns.frames)
    asyncio.run(bench_orders(ns.orders, ns.warmup))
