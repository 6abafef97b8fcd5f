"""``krakenwire demo``: the whole story, end to end, on an embedded sandbox.

With no options it starts a Kraken sandbox inside the process (no account, no network), then:
creates credentials, fetches a WebSocket token over signed REST and prints it, opens the
private WebSocket v2, subscribes to ``executions`` and ``balances``, places a market order and
a limit order at the best bid, shows the acknowledgements and execution reports as they
arrive (the limit order filling as the simulated market moves; if it does not fill within
``--fill-timeout`` seconds the demo says so), cancels what is left, prints the final balances
and exits 0.

``--rest-url`` / ``--ws-url`` with credentials (``--credentials FILE`` or ``KRAKEN_API_KEY`` /
``KRAKEN_API_SECRET``) run the same flow against another Kraken-compatible server. Orders are
never placed on real Kraken (``*.kraken.com``) unless ``--i-mean-it`` is given; without it the
demo stops after showing the snapshot and balances. Only the demo's own orders are cancelled.
Outside the embedded sandbox the token is shown shortened unless ``--show-token``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import sys
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from krakenwire.cli import EXIT_KRAKEN, EXIT_OK, EXIT_TRANSPORT, EXIT_USAGE

if TYPE_CHECKING:
    from krakenwire.orders import OrdersResync
    from krakenwire.protocol.v2 import (
        BalancesSnapshotFrame,
        BalancesUpdateFrame,
        ExecutionReport,
        ExecutionsFrame,
    )
    from krakenwire.ws.events import Gap, LifecycleEvent
    from krakenwire.ws.v2 import PrivateSocket

HELP = "run the whole story on an embedded sandbox (token, private WS v2, orders, balances)"

_REAL_KRAKEN_SUFFIX = "kraken.com"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``demo`` options."""
    parser.add_argument("--rest-url", metavar="URL",
                        help="run against this REST server instead of an embedded sandbox")
    parser.add_argument("--ws-url", metavar="URL",
                        help="its authenticated WebSocket v2 URL (e.g. wss://HOST/v2)")
    parser.add_argument("--credentials", metavar="FILE",
                        help="api_key/api_secret file for --rest-url (default: "
                             "KRAKEN_API_KEY / KRAKEN_API_SECRET)")
    parser.add_argument("--symbol", default="BTC/USD", help="v2 symbol to trade (BTC/USD)")
    parser.add_argument("--qty", default="0.001", help="order quantity in base units (0.001)")
    parser.add_argument("--fill-timeout", type=float, default=20.0, metavar="SECONDS",
                        help="how long to wait for the limit order to fill (default 20)")
    parser.add_argument("--i-mean-it", action="store_true",
                        help="allow placing orders on real Kraken (*.kraken.com)")
    parser.add_argument("--show-token", action="store_true",
                        help="print the whole token also outside the embedded sandbox")
    parser.add_argument("--allow-insecure", action="store_true",
                        help="allow plain http:// / ws:// to a non-loopback host")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also log the library's and the sandbox's steps to stderr")


class _Out:
    """Human-readable, line-at-a-time output with the elapsed time."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.t0 = time.monotonic()

    def line(self, label: str, text: str) -> None:
        elapsed = time.monotonic() - self.t0
        print(f"[{elapsed:5.2f}s] {label:<13} {text}", file=self.stream, flush=True)

    def note(self, text: str) -> None:
        print(f"{'':8} {'':<13} {text}", file=self.stream, flush=True)


def _is_real_kraken(url: str | None) -> bool:
    if not url:
        return False
    host = (urlsplit(url).hostname or "").lower()
    return host == _REAL_KRAKEN_SUFFIX or host.endswith("." + _REAL_KRAKEN_SUFFIX)


def _fmt(value: Any) -> str:
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    return str(value)


def _is_set(value: Any) -> bool:
    return value is not None and type(value).__name__ != "UnsetType"


def _describe_report(r: ExecutionReport) -> str:
    parts = [r.order_id, r.exec_type]
    if _is_set(r.side) and _is_set(r.order_type):
        parts.append(f"{r.side} {r.order_type}")
    if _is_set(r.order_qty) and _is_set(r.symbol):
        parts.append(f"{_fmt(r.order_qty)} {r.symbol}")
    if _is_set(r.limit_price) and r.order_type != "market":
        parts.append(f"@ {_fmt(r.limit_price)}")
    if r.exec_type == "trade" and _is_set(r.last_qty):
        price = _fmt(r.last_price) if _is_set(r.last_price) else "?"
        parts.append(f"filled {_fmt(r.last_qty)} @ {price}")
    if _is_set(r.order_status) and r.order_status != r.exec_type:
        parts.append(f"[{r.order_status}]")
    if _is_set(r.reason):
        parts.append(f"({r.reason})")
    return "  ".join(parts)


def _describe_event(ev: LifecycleEvent) -> str:
    name = type(ev).__name__
    fields = {f.name: getattr(ev, f.name) for f in dataclasses.fields(ev)}
    detail = ", ".join(f"{k}={_fmt(v) if not isinstance(v, float) else f'{v:.2f}'}"
                       for k, v in fields.items())
    return f"{name}({detail})"


class _Watcher:
    """Consumes the session's streams and prints them; records which orders closed."""

    def __init__(self, out: _Out, ws: PrivateSocket) -> None:
        self.out = out
        self.ws = ws
        self.closed: dict[str, str] = {}
        self.changed = asyncio.Event()
        self.executions_snapshot = asyncio.Event()
        self.balances_snapshot = asyncio.Event()

    async def executions(self) -> None:
        async for item in self.ws.executions():
            self._on_execution(item)

    def _on_execution(self, item: ExecutionsFrame | OrdersResync | Gap) -> None:
        from krakenwire.orders import OrdersResync
        from krakenwire.protocol.v2 import ExecutionsFrame
        from krakenwire.ws.events import Gap

        if isinstance(item, ExecutionsFrame):
            if item.type == "snapshot":
                orders = [r for r in item.data if r.exec_type != "trade"]
                trades = len(item.data) - len(orders)
                self.out.line("executions", f"snapshot: {len(orders)} open order(s), "
                                            f"{trades} recent fill(s)")
                self.executions_snapshot.set()
                return
            for r in item.data:
                self.out.line("executions", _describe_report(r))
                if _is_set(r.order_status) and r.order_status in ("filled", "canceled",
                                                                  "expired"):
                    self.closed[r.order_id] = str(r.order_status)
            self.changed.set()
        elif isinstance(item, OrdersResync):
            self.out.line("executions", f"resynchronised: {len(item.appeared)} appeared, "
                                        f"{len(item.vanished)} vanished, "
                                        f"{len(item.changed)} changed")
        elif isinstance(item, Gap):
            self.out.line("executions", f"missed {item.missed} frame(s) (slow reader)")

    async def balances(self) -> None:
        async for item in self.ws.balances():
            self._on_balances(item)

    def _on_balances(self, item: BalancesSnapshotFrame | BalancesUpdateFrame | Gap) -> None:
        from krakenwire.protocol.v2 import BalancesSnapshotFrame, BalancesUpdateFrame

        if isinstance(item, BalancesSnapshotFrame):
            shown = ", ".join(f"{b.asset} {_fmt(b.balance)}" for b in item.data)
            self.out.line("balances", f"snapshot: {shown or 'empty'}")
            self.balances_snapshot.set()
        elif isinstance(item, BalancesUpdateFrame):
            for e in item.data:
                sign = "+" if e.amount >= 0 else ""
                fee = f", fee {_fmt(e.fee)}" if e.fee else ""
                self.out.line("balances", f"{e.asset} {sign}{_fmt(e.amount)}{fee} -> "
                                          f"{_fmt(e.balance)}  ({e.type} {e.ref_id})")

    async def events(self) -> None:
        async for ev in self.ws.events():
            self.out.line("session", _describe_event(ev))

    async def wait_closed(self, order_id: str, timeout: float) -> str | None:
        """Wait until ``order_id`` is reported filled / cancelled / expired."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while order_id not in self.closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        return self.closed[order_id]


async def _story(out: _Out, args: argparse.Namespace, *, rest_url: str, ws_url: str,
                 credentials: Any, embedded: bool) -> int:
    from krakenwire.protocol.naming import pair_by_any
    from krakenwire.rest import AsyncKrakenClient
    from krakenwire.token import TokenProvider
    from krakenwire.ws.v2 import PrivateSocket

    real = _is_real_kraken(rest_url) or _is_real_kraken(ws_url)
    trade = not real or args.i_mean_it
    qty = Decimal(args.qty)
    async with AsyncKrakenClient(credentials, base_url=rest_url,
                                 allow_insecure=args.allow_insecure) as client:
        provider = TokenProvider(client)
        out.line("token", "POST /0/private/GetWebSocketsToken (signed) ...")
        token = await provider.aget()
        shown = token.token if (embedded or args.show_token) else token.token[:4] + "…"
        out.line("token", f"{shown}  (use within {token.lifetime:.0f} s)")

        ws = PrivateSocket(token_provider=provider, url=ws_url,
                           allow_insecure=args.allow_insecure)
        watcher = _Watcher(out, ws)
        tasks = [asyncio.create_task(coro) for coro in
                 (watcher.events(), watcher.executions(), watcher.balances())]
        try:
            out.line("websocket", f"opening {ws_url}")
            async with ws:
                out.line("websocket", "authenticated; subscribed to executions and balances")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(watcher.executions_snapshot.wait(),
                                                          watcher.balances_snapshot.wait()), 5)
                if not trade:
                    out.line("orders", "not placing orders on real Kraken without "
                                       "--i-mean-it; stopping here")
                    return EXIT_OK
                pair = pair_by_any(args.symbol)
                # REST names the pair differently (XBTUSD); unknown pairs: drop the slash
                rest_pair = pair.altname if pair is not None else args.symbol.replace("/", "")
                code = await _trade(out, args, ws, client, watcher, qty, rest_pair)
                _print_balances(out, ws.account_balances)
                rest_open = await client.open_orders()
                out.line("check", f"open orders: WebSocket view {len(ws.open_orders)}, "
                                  f"REST OpenOrders {len(rest_open)}")
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
    return code


async def _trade(out: _Out, args: argparse.Namespace, ws: PrivateSocket, client: Any,
                 watcher: _Watcher, qty: Decimal, rest_pair: str) -> int:
    symbol = args.symbol
    tick = await client.ticker(rest_pair)
    quote = next(iter(tick.values()))
    out.line("market", f"{symbol}: bid {_fmt(quote.bid)}  ask {_fmt(quote.ask)}  "
                       f"last {_fmt(quote.last)}")

    out.line("order", f"add_order: sell {_fmt(qty)} {symbol} at market")
    market = await ws.add_order(symbol=symbol, side="sell", order_type="market", order_qty=qty)
    out.line("ack", f"order_id {market.order_id}  cl_ord_id {market.cl_ord_id}")
    status = await watcher.wait_closed(str(market.order_id), 10.0)
    out.line("order", f"market order {market.order_id}: {status or 'not done within 10 s'}")

    tick = await client.ticker(rest_pair)
    bid = next(iter(tick.values())).bid
    out.line("order", f"add_order: buy {_fmt(qty)} {symbol} limit @ {_fmt(bid)} (the best bid)")
    limit = await ws.add_order(symbol=symbol, side="buy", order_type="limit", order_qty=qty,
                               limit_price=bid)
    limit_id = str(limit.order_id)
    out.line("ack", f"order_id {limit_id}  cl_ord_id {limit.cl_ord_id}")
    out.line("waiting", f"up to {args.fill_timeout:g} s for the market to come down to "
                        f"{_fmt(bid)} ...")
    status = await watcher.wait_closed(limit_id, args.fill_timeout)
    if status == "filled":
        out.line("order", f"limit order {limit_id} filled")
    elif status is None:
        left = ws.open_orders.get(limit_id)
        done = _fmt(left.cum_qty) if left is not None else "?"
        out.line("order", f"limit order {limit_id} not filled within {args.fill_timeout:g} s "
                          f"({done} of {_fmt(qty)} filled); the market did not reach it")
    else:
        out.line("order", f"limit order {limit_id}: {status}")

    mine = [o.order_id for o in ws.open_orders if o.order_id in (limit_id, market.order_id)]
    if mine:
        from krakenwire.errors import UnknownOrder

        out.line("cancel", f"cancel_order {', '.join(mine)}")
        try:
            results = await ws.cancel_order(mine)
        except UnknownOrder:  # it filled in the meantime
            out.line("ack", "nothing to cancel any more: the order closed meanwhile")
        else:
            out.line("ack", f"cancelled {len(results)} order(s)")
        for oid in mine:
            await watcher.wait_closed(oid, 5.0)
    else:
        out.line("cancel", "nothing left to cancel")
    return EXIT_OK


def _print_balances(out: _Out, balances: dict[str, Decimal]) -> None:
    shown = ", ".join(f"{asset} {_fmt(amount)}" for asset, amount in sorted(balances.items()))
    out.line("balances", f"final: {shown or 'none reported'}")


async def _embedded(out: _Out, args: argparse.Namespace) -> int:
    from krakenwire.sandbox import Sandbox

    async with Sandbox() as sb:
        out.line("sandbox", f"started in-process: REST {sb.rest_url}  WebSocket v2 "
                            f"{sb.ws_auth_v2_url}")
        out.line("credentials", f"created API key {sb.credentials.redacted_key} "
                                "(secret hidden)")
        return await _story(out, args, rest_url=sb.rest_url, ws_url=sb.ws_auth_v2_url,
                            credentials=sb.credentials, embedded=True)


async def _remote(out: _Out, args: argparse.Namespace) -> int:
    from krakenwire.auth import Credentials, load_credentials_file

    settings: dict[str, str] = {}
    if args.credentials:
        credentials, settings = load_credentials_file(args.credentials)
    else:
        credentials = Credentials.from_env()
    rest_url = (args.rest_url or os.environ.get("KRAKEN_REST_URL") or settings.get("rest_url")
                or "https://api.kraken.com")
    ws_url = (args.ws_url or os.environ.get("KRAKEN_WS_AUTH_URL")
              or settings.get("ws_auth_v2_url") or "wss://ws-auth.kraken.com/v2")
    out.line("server", f"REST {rest_url}  WebSocket v2 {ws_url}")
    out.line("credentials", f"API key {credentials.redacted_key} (secret hidden)")
    return await _story(out, args, rest_url=rest_url, ws_url=ws_url, credentials=credentials,
                        embedded=False)


def run(args: argparse.Namespace) -> int:
    """Run the demo; return the exit code (0 on success)."""
    from krakenwire.auth import CredentialsError
    from krakenwire.errors import (
        InsecureURLError,
        KrakenError,
        OrderOutcomeUnknown,
        ProtocolError,
        TransportError,
    )

    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    out = _Out(sys.stdout)
    try:
        Decimal(args.qty)
    except ArithmeticError:
        print(f"krakenwire demo: --qty is not a number: {args.qty!r}", file=sys.stderr)
        return EXIT_USAGE
    if "/" not in args.symbol:
        print(f"krakenwire demo: --symbol takes a WebSocket v2 symbol like BTC/USD, not "
              f"{args.symbol!r}", file=sys.stderr)
        return EXIT_USAGE
    remote = bool(args.rest_url or args.ws_url)
    print("krakenwire demo — " + ("against " + (args.rest_url or args.ws_url) if remote else
                                  "an embedded Kraken sandbox: no account, no network"),
          flush=True)
    try:
        code = asyncio.run(_remote(out, args) if remote else _embedded(out, args))
    except (CredentialsError, InsecureURLError, ValueError) as exc:
        print(f"krakenwire demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KrakenError as exc:
        print(f"krakenwire demo: Kraken refused: {exc}", file=sys.stderr)
        return EXIT_KRAKEN
    except (TransportError, ProtocolError, OrderOutcomeUnknown) as exc:
        print(f"krakenwire demo: {exc}", file=sys.stderr)
        return EXIT_TRANSPORT
    elapsed = time.monotonic() - out.t0
    print(f"done in {elapsed:.1f} s" if code == EXIT_OK else f"failed (exit {code})",
          flush=True)
    return code
