"""Pieces every bench script shares: a sandbox in its own process, unlimited-tier keys, the
latency maths and the side-by-side tables.

Not a benchmark itself (``run_all.py`` runs only ``bench_*.py``). The scripts run as
``python bench/<name>.py``; each puts this folder on ``sys.path`` before importing
``_common``, so they work from any working directory.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from krakenwire.auth import Credentials
from krakenwire.rest import AsyncKrakenClient
from krakenwire.ws.v2 import PrivateSocket

PlaceOne = Callable[[int], Awaitable[None]]
"""Send order ``i`` and return once its ack arrived (the timed part)."""
Settle = Callable[[], Awaitable[None]]
"""Wait, untimed, until the order just placed shows as open (so the server is idle)."""
Client = tuple[PlaceOne, Settle]

Stats = dict[str, float]


@contextlib.contextmanager
def sandbox_process(prefix: str = "kw-bench-") -> Iterator[dict[str, str]]:
    """Run ``krakenwire sandbox`` (port 0, SQLite file in a fresh temp dir) in its own process.

    Yields the URLs the sandbox prints on its first stdout line, with ``ws_auth_v1_url``,
    ``ws_auth_v2_url`` and ``ws_public_v2_url`` filled in from ``rest_url`` if missing.
    Terminates the process on exit. Raises ``json.JSONDecodeError`` if the sandbox fails to
    start (its first line is not JSON).
    """
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    proc = subprocess.Popen(
        [sys.executable, "-m", "krakenwire.cli", "sandbox", "--port", "0", "--db",
         str(tmp / "bench.db")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        urls: dict[str, str] = json.loads(proc.stdout.readline())
        ws_base = urls["rest_url"].replace("http", "ws", 1)
        urls.setdefault("ws_auth_v1_url", ws_base + "/ws-auth")
        urls.setdefault("ws_auth_v2_url", ws_base + "/ws-auth/v2")
        urls.setdefault("ws_public_v2_url", ws_base + "/ws/v2")
        yield urls
    finally:
        proc.terminate()
        proc.wait(10)


async def admin(session: aiohttp.ClientSession, url: str, path: str, body: Any) -> Any:
    """POST ``body`` as JSON to the sandbox admin endpoint ``url + path``; the decoded reply.

    Raises ``aiohttp.ClientResponseError`` on a non-2xx status.
    """
    async with session.post(url + path, json=body) as r:
        r.raise_for_status()
        return await r.json()


async def unlimited_keys(rest_url: str, count: int, *, balance_usd: str = "1000000000",
                         shared_account: bool = False) -> list[dict[str, str]]:
    """Create ``count`` ``unlimited``-tier API keys (the sandbox's key dicts, with
    ``api_key`` / ``api_secret``), each on a fresh account funded with ``balance_usd`` USD —
    or all on one such account if ``shared_account``."""
    async with aiohttp.ClientSession() as s:
        async def account() -> str:
            reply = await admin(s, rest_url, "/sandbox/accounts",
                                {"balances": {"USD": balance_usd}})
            return str(reply["account_id"])

        shared = await account() if shared_account else None
        keys = []
        for _ in range(count):
            acct = shared if shared is not None else await account()
            keys.append(await admin(s, rest_url, "/sandbox/keys",
                                    {"account_id": acct, "tier": "unlimited"}))
        return keys


async def unlimited_credentials(rest_url: str, count: int) -> list[Credentials]:
    """:func:`unlimited_keys` (one account each) as :class:`Credentials`."""
    return [Credentials(k["api_key"], k["api_secret"])
            for k in await unlimited_keys(rest_url, count)]


async def ws_token(rest_url: str, creds: Credentials) -> str:
    """A WebSocket token for ``creds`` from ``GetWebSocketsToken`` (krakenwire's REST client).

    Raises krakenwire's REST errors if the sandbox refuses.
    """
    async with AsyncKrakenClient(creds, base_url=rest_url, rate_limit=None) as rest:
        return (await rest.get_websockets_token()).token


async def read_until(sock: aiohttp.ClientWebSocketResponse, match: Callable[[Any], bool]) -> Any:
    """Read frames (``json.loads`` only) until one satisfies ``match``; return it.

    Raises whatever ``json.loads`` raises on a non-JSON frame (e.g. the socket closing).
    """
    while True:
        msg = json.loads((await sock.receive()).data)
        if match(msg):
            return msg


@contextlib.asynccontextmanager
async def krakenwire_v2_client(urls: dict[str, str],
                               creds: Credentials) -> AsyncIterator[Client]:
    """krakenwire's ``PrivateSocket`` on ``executions``: ``place`` buys 0.001 BTC/USD at 1000
    with ``add_order``; ``settle`` reads the feed (no busy wait) until the open-orders view
    shows that order as ``new``."""
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


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 < q <= 1) of already sorted values, nearest rank below."""
    return sorted_values[max(0, int(len(sorted_values) * q) - 1)]


def latency_stats(seconds: Sequence[float], scale: float = 1e6) -> Stats:
    """p50 / p99 / mean of latencies given in seconds, multiplied by ``scale`` (µs default).

    Raises ``statistics.StatisticsError`` / ``IndexError`` on an empty sequence.
    """
    s = sorted(seconds)
    return {"p50": statistics.median(s) * scale, "p99": percentile(s, 0.99) * scale,
            "mean": statistics.fmean(s) * scale}


def best_us_per_call(fn: Callable[[Any], Any], arg: Any, calls: int, rounds: int) -> float:
    """Best of ``rounds`` runs of ``calls`` calls ``fn(arg)``: µs per call."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(arg)
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


async def run_in_turns(opened: Sequence[tuple[str, PlaceOne, Settle | None]], warmup: int,
                       orders: int) -> dict[str, list[float]]:
    """Let the clients take turns, one order at a time, ``warmup`` unmeasured rounds first.

    Only ``place`` is timed; ``settle`` (if any) runs after it, untimed. Returns the measured
    latencies in seconds per client name. Whatever ``place``/``settle`` raise propagates.
    """
    lat: dict[str, list[float]] = {name: [] for name, _, _ in opened}
    for i in range(warmup + orders):
        for name, place, settle in opened:
            t0 = time.perf_counter()
            await place(i)
            elapsed = time.perf_counter() - t0
            if settle is not None:
                await settle()
            if i >= warmup:
                lat[name].append(elapsed)
    return lat


ClientFactory = Callable[[dict[str, str], Credentials],
                         contextlib.AbstractAsyncContextManager[Client]]
"""Opens one client on the sandbox at ``urls`` with ``creds``, yielding its place / settle."""


async def race_clients(urls: dict[str, str], clients: Sequence[tuple[str, ClientFactory]],
                       warmup: int, orders: int) -> dict[str, Stats]:
    """Open every client on its own fresh account (so nobody reads another's orders), let them
    take turns with :func:`run_in_turns` (each order settled before the next client sends, so
    every client sees the same idle server) and return :func:`latency_stats` per name (µs).
    """
    creds = await unlimited_credentials(urls["rest_url"], len(clients))
    async with contextlib.AsyncExitStack() as stack:
        opened = [(name, *await stack.enter_async_context(factory(urls, cred)))
                  for (name, factory), cred in zip(clients, creds, strict=True)]
        lat = await run_in_turns(opened, warmup, orders)
    return {name: latency_stats(values) for name, values in lat.items()}


def print_latency_table(results: Mapping[str, Stats], first: str, width: int,
                        floor: str | None = None) -> None:
    """Print p50 / p99 / mean (µs) per client; with ``floor``, also p50 and p99 ratios to it."""
    head = f"{first:<{width}}{'p50 us':>9}{'p99 us':>9}{'mean us':>9}"
    if floor is not None:
        head += f"{'p50/floor':>11}{'p99/floor':>11}"
    print(head)
    for name, r in results.items():
        line = f"{name:<{width}}{r['p50']:>9.0f}{r['p99']:>9.0f}{r['mean']:>9.0f}"
        if floor is not None:
            f = results[floor]
            line += f"{r['p50'] / f['p50']:>11.2f}{r['p99'] / f['p99']:>11.2f}"
        print(line)


def print_ratio(label: str, a: Stats, b: Stats) -> None:
    """Print ``label: p50 a/b x, p99 a/b x, mean a/b x``."""
    print(f"{label}: p50 {a['p50'] / b['p50']:.2f}x, p99 {a['p99'] / b['p99']:.2f}x, "
          f"mean {a['mean'] / b['mean']:.2f}x")
