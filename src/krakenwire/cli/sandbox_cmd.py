"""``krakenwire sandbox``: run the local Kraken-compatible sandbox, or administer a running one.

``krakenwire sandbox [--host 127.0.0.1] [--port 8080] [--db PATH] [--credentials-file PATH]
[--seed N] [--manual-clock]`` serves until Ctrl-C / SIGTERM. Once it is ready it writes the demo
credentials and URLs as JSON (``api_key``, ``api_secret``, ``rest_url``, ``ws_auth_v2_url``,
``ws_public_v2_url``, ``ws_auth_v1_url``, ``ws_public_v1_url``) to ``--credentials-file``
(mode 0600) and prints the same JSON line on stdout — these are sandbox-only credentials.

Admin subcommands talk to a running sandbox's admin API (``--url``, or the ``rest_url`` of
``--credentials-file``, or http://127.0.0.1:8080)::

    krakenwire sandbox account create --balance USD=1000 --balance BTC=1
    krakenwire sandbox key create ACCOUNT [--permissions query_funds,trade] [--tier pro]
    krakenwire sandbox balances ACCOUNT | orders ACCOUNT [--status all]
    krakenwire sandbox advance SECONDS | price PAIR PRICE | faults [NAME=VALUE ...]
    krakenwire sandbox invalidate-tokens
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from krakenwire.cli import EXIT_INTERRUPTED, EXIT_KRAKEN, EXIT_OK, EXIT_TRANSPORT, EXIT_USAGE

HELP = "run the local Kraken sandbox, or administer a running one"
DEFAULT_URL = "http://127.0.0.1:8080"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the serve options and the admin subcommands."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    parser.add_argument("--db", metavar="PATH", help="SQLite database (default: a temp file)")
    parser.add_argument("--credentials-file", metavar="PATH",
                        help="write the demo credentials + URLs here (0600) when ready; "
                             "admin commands read rest_url from it")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated market")
    parser.add_argument("--manual-clock", action="store_true",
                        help="time moves only with `krakenwire sandbox advance`")
    parser.add_argument("--volatility-bps", type=float, default=None,
                        help="simulated market: std-dev of the mid per sqrt(second), in bp")
    parser.add_argument("--trades-per-s", type=float, default=None,
                        help="simulated market: mean rate of background market orders")
    parser.add_argument("--url", help="admin commands: the sandbox's base URL")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    acc = sub.add_parser("account", help="create an account").add_subparsers(
        dest="sub", required=True)
    create = acc.add_parser("create", help="create a funded account")
    create.add_argument("--balance", action="append", default=[], metavar="ASSET=AMOUNT")
    key = sub.add_parser("key", help="create an API key").add_subparsers(dest="sub",
                                                                         required=True)
    kc = key.add_parser("create", help="create an API key for an account")
    kc.add_argument("account")
    kc.add_argument("--permissions", default="query_funds,query_orders,trade,websocket")
    kc.add_argument("--tier", default="starter",
                    choices=["starter", "intermediate", "pro", "unlimited"])
    kc.add_argument("--nonce-window", type=int, default=0)
    bal = sub.add_parser("balances", help="show an account's balances and holds")
    bal.add_argument("account")
    orders = sub.add_parser("orders", help="list an account's orders")
    orders.add_argument("account")
    orders.add_argument("--status", default="open", choices=["open", "closed", "all"])
    adv = sub.add_parser("advance", help="advance the manual clock")
    adv.add_argument("seconds", type=float)
    price = sub.add_parser("price", help="set a pair's price")
    price.add_argument("pair")
    price.add_argument("price")
    faults = sub.add_parser("faults", help="show or set fault switches")
    faults.add_argument("settings", nargs="*", metavar="NAME=VALUE")
    sub.add_parser("invalidate-tokens", help="invalidate every WebSocket token")


def _fail(message: str, code: int) -> int:
    print(f"krakenwire sandbox: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Serve, or run one admin command; return the exit code."""
    if args.action is None:
        try:
            return asyncio.run(_serve(args))
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
    return _admin(args)


# --- serving ---------------------------------------------------------------------------------
def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


async def _serve(args: argparse.Namespace) -> int:
    from krakenwire.sandbox import MarketSettings, Sandbox, Settings
    from krakenwire.sandbox.store import StoreError

    market: MarketSettings | None = None
    if args.volatility_bps is not None or args.trades_per_s is not None:
        market = MarketSettings()
        if args.volatility_bps is not None:
            market = dataclasses.replace(market, volatility_bps=args.volatility_bps)
        if args.trades_per_s is not None:
            market = dataclasses.replace(market, trades_per_s=args.trades_per_s)
    settings = Settings(host=args.host, port=args.port, db_path=args.db, seed=args.seed,
                        manual_clock=args.manual_clock,
                        market_settings=market)
    try:
        sandbox = Sandbox(settings=settings)
        await sandbox.start()
    except (OSError, StoreError) as exc:
        return _fail(f"cannot start: {exc}", EXIT_USAGE)
    try:
        creds = sandbox.credentials
        info = {"api_key": creds.api_key, "api_secret": creds.api_secret, **sandbox.urls()}
        text = json.dumps(info)
        if args.credentials_file:
            _write_private(Path(args.credentials_file), text + "\n")
        print(text, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await sandbox.stop()
    return EXIT_OK


# --- admin -----------------------------------------------------------------------------------
def _base_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url).rstrip("/")
    if args.credentials_file:
        try:
            data = json.loads(Path(args.credentials_file).read_text())
            return str(data["rest_url"]).rstrip("/")
        except (OSError, ValueError, KeyError):
            pass
    return DEFAULT_URL


def _parse_pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{what} must look like NAME=VALUE, got {item!r}")
        out[name] = value
    return out


def _fault_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return float(text)
    except ValueError:
        return text


def _admin(args: argparse.Namespace) -> int:
    import urllib3

    base = _base_url(args)
    method, path = "GET", ""
    body: dict[str, Any] | None = None
    try:
        if args.action == "account":
            method, path = "POST", "/sandbox/accounts"
            body = {"balances": _parse_pairs(args.balance, "--balance")}
        elif args.action == "key":
            method, path = "POST", "/sandbox/keys"
            body = {"account_id": args.account, "tier": args.tier,
                    "nonce_window": args.nonce_window,
                    "permissions": [p for p in args.permissions.split(",") if p]}
        elif args.action == "balances":
            path = f"/sandbox/accounts/{args.account}"
        elif args.action == "orders":
            path = f"/sandbox/accounts/{args.account}/orders?status={args.status}"
        elif args.action == "advance":
            method, path, body = "POST", "/sandbox/clock", {"seconds": args.seconds}
        elif args.action == "price":
            method, path, body = "POST", "/sandbox/price", {"pair": args.pair,
                                                             "price": args.price}
        elif args.action == "faults":
            path = "/sandbox/faults"
            if args.settings:
                method = "POST"
                body = {k: _fault_value(v)
                        for k, v in _parse_pairs(args.settings, "a fault").items()}
        else:
            method, path = "POST", "/sandbox/tokens/invalidate"
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))
    try:
        resp = http.request(method, base + path,
                            body=None if body is None else json.dumps(body).encode(),
                            headers={"Content-Type": "application/json"})
    except urllib3.exceptions.HTTPError as exc:
        return _fail(f"cannot reach the sandbox at {base}: {type(exc).__name__}",
                     EXIT_TRANSPORT)
    try:
        data = json.loads(resp.data)
    except ValueError:
        return _fail(f"unexpected HTTP {resp.status} from {base}", EXIT_TRANSPORT)
    if resp.status != 200:
        return _fail(str(data.get("error", data)), EXIT_KRAKEN)
    print(json.dumps(data, indent=2))
    return EXIT_OK
