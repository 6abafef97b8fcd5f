"""``krakenwire trades``: your most recent trades (fills), newest first (TradesHistory).

The table shows trade id, time, pair, side, order type, price, volume, cost, fee and the order
id; ``--json`` prints a list of objects with the same fields (exact decimal strings, Unix
times). ``--ofs N`` pages further back (Kraken returns 50 per page). Exit codes as in
:mod:`krakenwire.cli`; every failure is one line on stderr.
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

from krakenwire.cli import EXIT_OK, EXIT_TRANSPORT
from krakenwire.cli.common import (
    add_connection_arguments,
    connect,
    describe_error,
    fail,
    fmt_decimal,
    fmt_time,
    print_table,
    to_json,
)

HELP = "list your trades (fills), newest first"

_DECIMALS = ("price", "cost", "fee", "vol")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``trades`` options."""
    add_connection_arguments(parser)
    parser.add_argument("--ofs", type=int, default=0, metavar="N",
                        help="skip the N most recent trades (paging)")


def _trade(txid: str, raw: Any) -> dict[str, Any]:
    """One trade as JSON-ready values; raises ValueError/KeyError/TypeError if malformed."""
    out: dict[str, Any] = {"txid": txid, "ordertxid": raw.get("ordertxid"),
                           "pair": raw.get("pair"), "time": Decimal(str(raw["time"])),
                           "type": raw.get("type"), "ordertype": raw.get("ordertype")}
    for name in _DECIMALS:
        out[name] = Decimal(str(raw[name]))
    return out


def run(args: argparse.Namespace) -> int:
    """List the trades; return the exit code."""
    credentials = None
    try:
        with connect(args) as conn:
            credentials = conn.credentials
            result = conn.client.private("TradesHistory", ofs=args.ofs or None)
    except Exception as exc:
        message, code = describe_error(exc, credentials,
                                       permission="Query Closed Orders & Trades")
        return fail("trades", message, code)
    try:
        raw_trades = dict(result.get("trades") or {})
        trades = [_trade(txid, raw) for txid, raw in raw_trades.items()]
    except (ArithmeticError, AttributeError, KeyError, TypeError, ValueError):
        return fail("trades", "TradesHistory: malformed answer from the server", EXIT_TRANSPORT)
    trades.sort(key=lambda t: t["time"], reverse=True)
    if args.json:
        print(to_json(trades))
        return EXIT_OK
    rows = [[t["txid"], fmt_time(t["time"]), t["pair"] or "", t["type"] or "",
             t["ordertype"] or "", fmt_decimal(t["price"]), fmt_decimal(t["vol"]),
             fmt_decimal(t["cost"]), fmt_decimal(t["fee"]), t["ordertxid"] or ""]
            for t in trades]
    print_table(["txid", "time", "pair", "side", "type", "price", "volume", "cost", "fee",
                 "order"], rows, right=["price", "volume", "cost", "fee"],
                empty="(no trades)")
    return EXIT_OK
