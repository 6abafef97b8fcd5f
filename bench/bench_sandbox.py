"""Sandbox throughput: REST requests/s and AddOrder acks/s with 1 and 8 concurrent clients.

The sandbox runs as ``krakenwire sandbox`` in its own process (real SQLite file, group commit,
every reply sent only after its state is durable); the clients are aiohttp sessions in this
process, one API key each (``unlimited`` tier, so Kraken's rate limits do not cap the figures).

Usage: ``.venv/bin/python bench/bench_sandbox.py [--seconds 3] [--url URL]``. Prints, per
scenario, the rate, p50/p99 latency, the 8-client / 1-client ratio, and how many requests
shared one SQLite commit (group commit at work; ticks of the simulated market commit too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

import aiohttp

from krakenwire.auth import Signer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common


async def _client(session: aiohttp.ClientSession, url: str, key: dict[str, str], method: str,
                  params: dict[str, str], deadline: float, lat: list[float]) -> int:
    signer = Signer(key["api_secret"])
    nonce = time.time_ns()
    path = f"/0/private/{method}" if method != "Time" else "/0/public/Time"
    n = 0
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        if method == "Time":
            async with session.get(url + path) as r:
                reply = await r.json()
        else:
            nonce += 1
            body = urllib.parse.urlencode({"nonce": nonce, **params})
            headers = {"API-Key": key["api_key"], "API-Sign": signer.sign(path, nonce, body),
                       "Content-Type": "application/x-www-form-urlencoded"}
            async with session.post(url + path, data=body, headers=headers) as r:
                reply = await r.json()
        lat.append(time.perf_counter() - t0)
        if reply["error"]:
            raise RuntimeError(f"{method}: {reply['error']}")
        n += 1
    return n


async def _commits(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url + "/sandbox/stats") as r:
        return int((await r.json())["store"]["commits"])


async def _scenario(url: str, keys: list[dict[str, str]], method: str, params: dict[str, str],
                    clients: int, seconds: float) -> dict[str, float]:
    lat: list[float] = []
    conn = aiohttp.TCPConnector(limit=clients + 1)
    async with aiohttp.ClientSession(connector=conn) as session:
        # warm up the connections
        await asyncio.gather(*(_client(session, url, keys[i], method, params,
                                       time.perf_counter() + 0.2, [])
                               for i in range(clients)))
        commits0 = await _commits(session, url)
        start = time.perf_counter()
        deadline = start + seconds
        counts = await asyncio.gather(*(_client(session, url, keys[i], method, params,
                                                deadline, lat) for i in range(clients)))
        elapsed = time.perf_counter() - start
        commits = await _commits(session, url) - commits0
    lat.sort()
    return {"rate": sum(counts) / elapsed, "p50": statistics.median(lat) * 1e3,
            "p99": common.percentile(lat, 0.99) * 1e3,
            "per_commit": sum(counts) / commits if commits else 0.0}


async def main(seconds: float, url: str | None) -> None:
    with contextlib.ExitStack() as stack:
        if url is None:
            url = stack.enter_context(common.sandbox_process("kw-bench-"))["rest_url"]
        keys = await common.unlimited_keys(url, 8, balance_usd="1000000000000", shared_account=True)
        order = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "1000",
                 "volume": "0.001"}
        scenarios = [
            ("public Time (GET)", "Time", {}),
            ("private Balance", "Balance", {}),
            ("AddOrder (resting limit)", "AddOrder", order),
        ]
        print(f"sandbox bench: {seconds:g} s per run, server in its own process, "
              "SQLite WAL + group commit")
        print(f"{'scenario':<28}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'x vs 1':>8}{'req/commit':>12}")
        for name, method, params in scenarios:
            base = 0.0
            for clients in (1, 8):
                r = await _scenario(url, keys, method, params, clients, seconds)
                base = base or r["rate"]
                per_commit = f"{r['per_commit']:.1f}" if method != "Time" else "-"
                print(f"{name:<28}{clients:>8}{r['rate']:>10.0f}{r['p50']:>9.2f}"
                      f"{r['p99']:>9.2f}{r['rate'] / base:>8.2f}{per_commit:>12}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--url", help="bench an already running sandbox instead of starting one")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.url))
