"""Client costs side by side: signing, and REST round trips against a local server.

    .venv/bin/python bench/bench_client.py [--calls N]

Prints, in one run:
* sign cost: naive ``sign()`` (decodes the secret and builds the HMAC key every call) vs
  ``Signer`` (key schedule precomputed once);
* sequential REST round trips (public ``Time`` and private signed ``Balance``) against one local
  aiohttp server (in its own process): our ``KrakenClient`` vs raw urllib3, and our
  ``AsyncKrakenClient`` vs raw aiohttp — µs per call and the ratio ours / raw.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import statistics
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

SECRET = base64.b64encode(os.urandom(64)).decode()
KEY = "K" * 56
BODY_TIME = (b'{"error":[],"result":{"unixtime":1700000000,'
             b'"rfc1123":"Tue, 14 Nov 23 22:13:20 +0000"}}')
BODY_BALANCE = b'{"error":[],"result":{"ZUSD":"100000.0000","XXBT":"10.0000000000"}}'


def serve(port_queue: Any) -> None:
    from aiohttp import web

    async def time_handler(_: web.Request) -> web.Response:
        return web.Response(body=BODY_TIME, content_type="application/json")

    async def balance_handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=BODY_BALANCE, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/0/public/Time", time_handler)
        app.router.add_post("/0/private/Balance", balance_handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


def _timed(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def compare(ours: Callable[[], Any], raw: Callable[[], Any], n: int,
            rounds: int = 5) -> tuple[float, float]:
    """Median µs per call of each, measured in alternating rounds (fair under load)."""
    for fn in (ours, raw):
        _timed(fn, min(50, n))
    a, b = [], []
    for _ in range(rounds):
        a.append(_timed(ours, n // rounds))
        b.append(_timed(raw, n // rounds))
    return statistics.median(a), statistics.median(b)


async def _atimed(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await fn()
    return (time.perf_counter() - start) / n * 1e6


async def acompare(ours: Callable[[], Awaitable[Any]], raw: Callable[[], Awaitable[Any]],
                   n: int, rounds: int = 5) -> tuple[float, float]:
    """Async :func:`compare`."""
    for fn in (ours, raw):
        await _atimed(fn, min(50, n))
    a, b = [], []
    for _ in range(rounds):
        a.append(await _atimed(ours, n // rounds))
        b.append(await _atimed(raw, n // rounds))
    return statistics.median(a), statistics.median(b)


def naive_headers(nonce: int, body: str) -> dict[str, str]:
    """What a hand-written client does (Kraken's docs example): decode and key every call."""
    inner = hashlib.sha256((str(nonce) + body).encode()).digest()
    mac = hmac.new(base64.b64decode(SECRET), b"/0/private/Balance" + inner, hashlib.sha512)
    return {"API-Key": KEY, "API-Sign": base64.b64encode(mac.digest()).decode(),
            "Content-Type": "application/x-www-form-urlencoded"}


def row(name: str, times: tuple[float, float], raw_name: str) -> None:
    ours, raw = times
    print(f"  {name:<34} ours {ours:8.1f} µs   {raw_name} {raw:8.1f} µs   "
          f"ratio ours/raw {ours / raw:5.2f}")


def bench_sign(n: int) -> None:
    from krakenwire.auth import Signer, sign

    body = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    signer = Signer(SECRET)
    ours, naive = compare(lambda: signer.sign("/0/private/AddOrder", 1616492376594, body),
                          lambda: sign(SECRET, "/0/private/AddOrder", 1616492376594, body), n)
    print("sign (API-Sign of an AddOrder body)")
    print(f"  naive sign()  {naive:6.2f} µs   Signer.sign()  {ours:6.2f} µs   "
          f"speed-up {naive / ours:4.2f}x")


def bench_sync(url: str, n: int) -> None:
    import urllib3

    from krakenwire.auth import Credentials
    from krakenwire.rest import KrakenClient

    client = KrakenClient(Credentials(KEY, SECRET), base_url=url, rate_limit=None, environ={})
    pool = urllib3.PoolManager(retries=False)
    counter = [time.time_ns()]

    def raw_time() -> Any:
        return json.loads(pool.request("GET", f"{url}/0/public/Time").data)

    def raw_balance() -> Any:
        counter[0] += 1
        body = urllib.parse.urlencode({"nonce": counter[0]})
        resp = pool.request("POST", f"{url}/0/private/Balance", body=body,
                            headers=naive_headers(counter[0], body))
        return json.loads(resp.data)

    print("sync REST round trip (sequential, keep-alive)")
    row("public Time", compare(lambda: client.public("Time"), raw_time, n), "urllib3")
    row("private Balance (signed)", compare(client.balance, raw_balance, n), "urllib3")
    client.close()


async def bench_async(url: str, n: int) -> None:
    import aiohttp

    from krakenwire.auth import Credentials
    from krakenwire.rest import AsyncKrakenClient

    counter = [time.time_ns()]
    async with AsyncKrakenClient(Credentials(KEY, SECRET), base_url=url, rate_limit=None,
                                 environ={}) as client, aiohttp.ClientSession() as session:

        async def raw_time() -> Any:
            async with session.get(f"{url}/0/public/Time") as resp:
                return json.loads(await resp.read())

        async def raw_balance() -> Any:
            counter[0] += 1
            body = urllib.parse.urlencode({"nonce": counter[0]})
            async with session.post(f"{url}/0/private/Balance", data=body,
                                    headers=naive_headers(counter[0], body)) as resp:
                return json.loads(await resp.read())

        print("async REST round trip (sequential, keep-alive)")
        row("public Time", await acompare(lambda: client.public("Time"), raw_time, n),
            "aiohttp")
        row("private Balance (signed)", await acompare(client.balance, raw_balance, n),
            "aiohttp")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per measurement")
    args = parser.parse_args()
    bench_sign(20_000)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=serve, args=(queue,), daemon=True)
    proc.start()
    try:
        url = f"http://127.0.0.1:{queue.get(timeout=30)}"
        bench_sync(url, args.calls)
        asyncio.run(bench_async(url, args.calls))
    finally:
        proc.terminate()
        proc.join(5)


if __name__ == "__main__":
    main()
