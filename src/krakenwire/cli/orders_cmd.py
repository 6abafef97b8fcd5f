"""``krakenwire orders [open|closed]``: list open orders (default) or recently closed ones.

The table shows id, client order id, pair, side, type, limit price, volume, executed volume,
status and time; ``--json`` prints a list of objects with the same fields (exact decimal
strings, Unix times). ``--cl-ord-id ID`` looks one order up (e.g. after exit code 4, "outcome
unknown"). Exit codes as in :mod:`krakenwire.cli`; every failure is one line on stderr.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from krakenwire.cli import EXIT_OK
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

if TYPE_CHECKING:
    from krakenwire.protocol.rest_types import OrderInfo

HELP = "list open orders (default) or closed orders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``orders`` options."""
    parser.add_argument("which", nargs="?", choices=["open", "closed"], default="open",
                        help="open (default) or closed orders")
    add_connection_arguments(parser)
    parser.add_argument("--cl-ord-id", metavar="ID", help="only the order with this client id")


def order_json(order: OrderInfo) -> dict[str, Any]:
    """The JSON form of one order (Decimals as exact strings)."""
    return {"txid": order.txid, "status": order.status, "pair": order.pair,
            "side": order.side, "ordertype": order.ordertype, "price": order.price,
            "volume": order.volume, "volume_executed": order.volume_executed,
            "cost": order.cost, "avg_price": order.avg_price, "cl_ord_id": order.cl_ord_id,
            "userref": order.userref, "opentm": order.opentm, "closetm": order.closetm}


def run(args: argparse.Namespace) -> int:
    """List the orders; return the exit code."""
    params: dict[str, Any] = {}
    if args.cl_ord_id:
        params["cl_ord_id"] = args.cl_ord_id
    credentials = None
    try:
        with connect(args) as conn:
            credentials = conn.credentials
            if args.which == "open":
                orders = conn.client.open_orders(**params)
            else:
                orders = conn.client.closed_orders(**params)
    except Exception as exc:
        message, code = describe_error(exc, credentials,
                                       permission="Query Open Orders & Trades"
                                       if args.which == "open" else
                                       "Query Closed Orders & Trades")
        return fail("orders", message, code)
    listed = sorted(orders.values(), key=lambda o: o.opentm or 0, reverse=True)
    if args.json:
        print(to_json([order_json(o) for o in listed]))
        return EXIT_OK
    rows = [[o.txid, o.cl_ord_id or "", o.pair or "", o.side or "", o.ordertype or "",
             fmt_decimal(o.price) if o.ordertype != "market" else "",
             fmt_decimal(o.volume), fmt_decimal(o.volume_executed), o.status,
             fmt_time(o.opentm if args.which == "open" else o.closetm)]
            for o in listed]
    print_table(["txid", "cl_ord_id", "pair", "side", "type", "price", "volume", "filled",
                 "status", "opened" if args.which == "open" else "closed"], rows,
                right=["price", "volume", "filled"], empty=f"(no {args.which} orders)")
    return EXIT_OK
