"""``krakenwire watch orders|balances|executions``: a live view over the private WebSocket v2.

* ``orders`` — the open orders with their fill progress, redrawn on every change;
* ``balances`` — balances (from the ``balances`` channel) with what open orders hold and what
  is available (``BalanceEx`` over REST, re-read after each change);
* ``executions`` — one line per execution report, as they arrive.

Connection changes (connecting, subscribed, disconnected, reconnecting with attempt and delay,
resubscribed, token refreshed) are shown as they happen. ``--json`` prints one JSON object per
event instead (``{"type": "execution" | "balances" | "resync" | "lifecycle", ...}``, decimals
as exact strings). Ctrl-C (or SIGTERM) closes the session and exits 0. On a terminal the
``orders`` / ``balances`` views redraw in place; otherwise each redraw is printed after a
``--- HH:MM:SS`` line.

Credentials, ``--rest-url`` and ``--sandbox`` as for the other commands; the WebSocket URL from
``--ws-url``, ``$KRAKEN_WS_AUTH_URL``, the credentials file's ``ws_auth_v2_url``, or Kraken's.
Exit codes as in :mod:`krakenwire.cli`; a failure to connect is one line on stderr.
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
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

from krakenwire.cli import EXIT_OK, EXIT_USAGE
from krakenwire.cli.common import (
    add_connection_arguments,
    describe_error,
    fail,
    fmt_decimal,
    load_credentials,
    print_table,
    quiet_library_logs,
    resolve_rest_url,
)

if TYPE_CHECKING:
    from krakenwire.auth import Credentials
    from krakenwire.rest import AsyncKrakenClient
    from krakenwire.ws.v2 import PrivateSocket

HELP = "live view of open orders, balances or executions (private WebSocket v2)"

_VIEWS = ("orders", "balances", "executions")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``watch`` options."""
    parser.add_argument("view", choices=_VIEWS, help="what to watch")
    add_connection_arguments(parser, json_help="print one JSON object per event")
    parser.add_argument("--ws-url", metavar="URL",
                        help="authenticated WebSocket v2 URL (default: $KRAKEN_WS_AUTH_URL, "
                             "the credentials file's ws_auth_v2_url, or Kraken's)")
    parser.add_argument("--connect-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="give up if not subscribed within this time (default 30)")


# --- rendering ---------------------------------------------------------------------------------

def lifecycle_text(event: Any) -> str:
    """A short human line for a lifecycle event (none carries a secret)."""
    name = type(event).__name__
    if isinstance(event, _Note):
        return event.text
    if name == "Connecting":
        return f"connecting to {event.url} (attempt {event.attempt})"
    if name == "Authenticated":
        return "authenticated"
    if name == "Subscribed":
        return f"{'resubscribed' if event.resubscribed else 'subscribed'} to {event.channel}"
    if name == "Disconnected":
        return f"disconnected: {event.reason}"
    if name == "Reconnecting":
        return (f"reconnecting in {event.delay:.1f} s (attempt {event.attempt}): "
                f"{event.reason}")
    if name == "TokenRefreshed":
        return f"token refreshed ({event.reason})"
    if name == "Gap":
        return f"fell behind: missed {event.missed} {event.stream} event(s); view re-read"
    if name == "OrderOutcomeUnknownEvent":
        return f"{event.method}: outcome unknown (cl_ord_id {event.cl_ord_id})"
    if name == "RateLimitWarning":
        return f"rate limit: {event.error or f'{event.count} of {event.maximum}'}"
    if name == "Closed":
        return f"closed ({event.reason})"
    return name


def _jsonable(value: Any) -> Any:
    import msgspec

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return fmt_decimal(value)
    return msgspec.to_builtins(value)


def _progress(order: Any) -> str:
    qty = order.order_qty
    if not qty:
        return fmt_decimal(order.cum_qty)
    share = min(Decimal(1), order.cum_qty / qty)
    bar = "#" * int(share * 10) + "-" * (10 - int(share * 10))
    return f"[{bar}] {fmt_decimal(order.cum_qty)}/{fmt_decimal(qty)} ({share * 100:.0f}%)"


class Screen:
    """Where a view goes: redrawn in place on a terminal, appended otherwise; one JSON object
    per line with ``--json``."""

    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.tty = out.isatty() and not as_json
        self.status: list[str] = []
        self._last_table: str | None = None

    def emit(self, obj: dict[str, Any]) -> None:
        """Print one JSON object as one line."""
        self.out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self.out.flush()

    def line(self, text: str) -> None:
        """Print one time-stamped line."""
        self.out.write(f"{time.strftime('%H:%M:%S')}  {text}\n")
        self.out.flush()

    def lifecycle(self, event: Any, redraw: Callable[[], None] | None) -> None:
        """Show a lifecycle event: a JSON object, a line, or (on a terminal) a status line
        under the redrawn view."""
        text = lifecycle_text(event)
        if self.as_json:
            self.emit({"type": "lifecycle",
                       "event": "Note" if isinstance(event, _Note) else type(event).__name__,
                       **_jsonable(event), "text": text})
        elif self.tty and redraw is not None:
            self.status = [*self.status, f"{time.strftime('%H:%M:%S')}  {text}"][-4:]
            redraw()
        else:
            self.line(text)

    def table(self, title: str, headers: list[str], rows: list[list[Any]], *,
              right: list[str], empty: str) -> None:
        """Show the view's table: redrawn in place on a terminal, else appended when it
        changed."""
        import io

        body = io.StringIO()
        print_table(headers, rows, right=right, out=body, empty=empty)
        text = body.getvalue()
        if self.tty:
            self.out.write("\x1b[H\x1b[2J")
            self.out.write(f"{title}   (Ctrl-C to stop)\n\n{text}")
            if self.status:
                self.out.write("\n" + "\n".join(self.status) + "\n")
        elif text != self._last_table:  # appended output: only what changed
            self.out.write(f"--- {time.strftime('%H:%M:%S')} {title}\n{text}")
        self._last_table = text
        self.out.flush()


# --- the views ---------------------------------------------------------------------------------

class Watch:
    """One running view: consumes the session's streams and renders them."""

    def __init__(self, view: str, ws: PrivateSocket, screen: Screen,
                 rest: AsyncKrakenClient | None) -> None:
        self.view = view
        self.ws = ws
        self.screen = screen
        self.rest = rest
        self.holds: dict[str, Decimal] = {}
        self.last_event = ""
        self._holds_dirty = asyncio.Event()

    def redraw(self) -> None:
        """Render the ``orders`` or ``balances`` view from the session's current state."""
        if self.screen.as_json or self.view == "executions":
            return
        if self.view == "orders":
            rows = [[o.order_id, o.cl_ord_id or "", o.symbol or "", o.side or "",
                     o.order_type or "", fmt_decimal(o.limit_price), o.order_status,
                     _progress(o)] for o in self.ws.open_orders]
            self.screen.table("open orders", ["order_id", "cl_ord_id", "symbol", "side",
                                              "type", "price", "status", "filled"],
                              rows, right=["price"], empty="(no open orders)")
        else:
            rows = []
            for asset, balance in sorted(self.ws.account_balances.items()):
                held = self.holds.get(asset)
                rows.append([asset, fmt_decimal(balance),
                             "?" if held is None else fmt_decimal(held),
                             "?" if held is None else fmt_decimal(balance - held)])
            self.screen.table("balances", ["asset", "balance", "held", "available"], rows,
                              right=["balance", "held", "available"], empty="(no balances)")

    async def lifecycle(self) -> None:
        """Consume the session's lifecycle events."""
        async for event in self.ws.events():
            self.last_event = type(event).__name__
            self.screen.lifecycle(event, self.redraw)

    async def executions(self) -> None:
        """Consume the ``executions`` stream (reports, resyncs, gaps)."""
        from krakenwire.orders import OrdersResync
        from krakenwire.ws.events import Gap

        async for frame in self.ws.executions():
            if isinstance(frame, Gap):
                self.screen.lifecycle(frame, self.redraw)
            elif isinstance(frame, OrdersResync):
                if self.screen.as_json:
                    self.screen.emit({"type": "resync", **_jsonable(frame)})
                elif self.view == "executions" and frame:
                    self.screen.line(f"resynced after reconnect: {len(frame.appeared)} "
                                     f"appeared, {len(frame.vanished)} gone, "
                                     f"{len(frame.changed)} changed")
            elif self.screen.as_json and self.view in ("executions", "orders"):
                for report in frame.data:
                    self.screen.emit({"type": "execution", "snapshot": frame.type == "snapshot",
                                      **_jsonable(report)})
            elif self.view == "executions":
                for report in frame.data:
                    self.screen.line(self._report_text(report, frame.type == "snapshot"))
            self._holds_dirty.set()
            self.redraw()

    @staticmethod
    def _report_text(report: Any, snapshot: bool) -> str:
        import msgspec

        data = msgspec.to_builtins(report)
        parts = [("snapshot " if snapshot else "") + data.get("exec_type", "?"),
                 data.get("order_id", "")]
        for name in ("order_status", "symbol", "side", "order_qty", "limit_price",
                     "last_qty", "last_price", "cum_qty", "cl_ord_id"):
            if name in data:
                parts.append(f"{name}={data[name]}")
        return "  ".join(parts)

    async def balances(self) -> None:
        """Consume the ``balances`` stream."""
        from krakenwire.ws.events import Gap

        async for frame in self.ws.balances():
            if isinstance(frame, Gap):
                self.screen.lifecycle(frame, self.redraw)
                continue
            if self.screen.as_json and self.view == "balances":
                self.screen.emit({"type": "balances", "snapshot": frame.type == "snapshot",
                                  "data": _jsonable(frame.data)})
            self._holds_dirty.set()
            if self.view == "balances":
                self.redraw()

    async def refresh_holds(self) -> None:
        """Re-read BalanceEx after changes (coalesced), for the ``held`` column."""
        from krakenwire.errors import KrakenwireError

        if self.rest is None:
            return
        from krakenwire.protocol.naming import asset_by_any

        while True:
            await self._holds_dirty.wait()
            self._holds_dirty.clear()
            try:
                balances = await self.rest.balance_ex()
            except KrakenwireError as exc:
                self.screen.lifecycle(_Note(f"holds unavailable: {exc}"), self.redraw)
                return
            holds: dict[str, Decimal] = {}
            for asset_id, entry in balances.items():
                known = asset_by_any(asset_id)
                holds[known.v2 if known is not None else asset_id] = entry.hold_trade
            self.holds = holds
            self.redraw()


@dataclasses.dataclass(frozen=True)
class _Note:
    """A message of the watch command itself, shown like a lifecycle event."""

    text: str


def _settings(args: argparse.Namespace) -> tuple[Credentials, str | None, str | None]:
    credentials, settings = load_credentials(args)
    rest_url = resolve_rest_url(args, settings)
    ws_url = (args.ws_url or os.environ.get("KRAKEN_WS_AUTH_URL", "").strip()
              or settings.get("ws_auth_v2_url") or None)
    return credentials, rest_url, ws_url


async def _watch(args: argparse.Namespace, screen: Screen,
                 remote: tuple[Credentials, str | None, str | None] | None) -> int:
    from krakenwire.rest import AsyncKrakenClient
    from krakenwire.ws.v2 import PrivateSocket

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)

    async with contextlib.AsyncExitStack() as stack:
        if args.sandbox or args.sandbox_db:
            from krakenwire.sandbox import Sandbox

            sandbox = await stack.enter_async_context(Sandbox(db_path=args.sandbox_db))
            credentials = sandbox.credentials
            rest_url: str | None = sandbox.rest_url
            ws_url: str | None = sandbox.ws_auth_v2_url
            if not screen.as_json:
                screen.line(f"embedded sandbox: REST {rest_url}  WebSocket {ws_url}")
        else:
            assert remote is not None
            credentials, rest_url, ws_url = remote
        rest = AsyncKrakenClient(credentials, base_url=rest_url, timeout=args.timeout,
                                 allow_insecure=args.allow_insecure, max_retries=1)
        stack.push_async_callback(rest.close)
        ws = PrivateSocket(credentials=credentials, rest_url=rest_url, url=ws_url,
                           allow_insecure=args.allow_insecure)
        watch = Watch(args.view, ws, screen, rest if args.view == "balances" else None)
        tasks = [asyncio.create_task(coro) for coro in (
            watch.lifecycle(), watch.executions(), watch.balances(), watch.refresh_holds())]
        try:
            connecting = asyncio.create_task(ws.connect(timeout=args.connect_timeout))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if connecting.done():
                connecting.result()  # raise a connection failure
                watch.redraw()
                await stopping
            else:
                # Ctrl-C while connecting: stop the set-up where it is (close() below ends it)
                connecting.cancel()
                with contextlib.suppress(BaseException):
                    await connecting
        finally:
            await ws.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Watch until Ctrl-C; return the exit code."""
    if args.connect_timeout <= 0:
        return fail("watch", "--connect-timeout must be positive", EXIT_USAGE)
    screen = Screen(sys.stdout, as_json=args.json)
    quiet_library_logs()  # reconnects etc. are shown as lifecycle lines instead
    remote = None
    try:
        if not (args.sandbox or args.sandbox_db):
            remote = _settings(args)
        return asyncio.run(_watch(args, screen, remote))
    except KeyboardInterrupt:  # a second Ctrl-C while closing
        return EXIT_OK
    except Exception as exc:
        message, code = describe_error(exc, remote[0] if remote else None,
                                       permission="WebSocket interface")
        return fail("watch", message, code)
