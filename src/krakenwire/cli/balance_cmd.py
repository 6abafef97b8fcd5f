"""``krakenwire balance``: balances, what open orders hold, and what is available (BalanceEx).

The table shows every asset with a non-zero balance (``--all``: every asset Kraken lists);
``--json`` prints ``{"ASSET": {"balance", "hold_trade", "available"}}`` with exact decimal
strings. Exit codes as in :mod:`krakenwire.cli`; every failure is one line on stderr.
"""

from __future__ import annotations

import argparse

from krakenwire.cli import EXIT_OK
from krakenwire.cli.common import (
    add_connection_arguments,
    connect,
    describe_error,
    fail,
    fmt_decimal,
    print_table,
    to_json,
)

HELP = "show balances, the amounts open orders hold, and what is available"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``balance`` options."""
    add_connection_arguments(parser)
    parser.add_argument("--all", action="store_true", help="include zero balances")


def run(args: argparse.Namespace) -> int:
    """Print the balances; return the exit code."""
    from krakenwire.protocol.naming import asset_by_any

    credentials = None
    try:
        with connect(args) as conn:
            credentials = conn.credentials
            balances = conn.client.balance_ex()
    except Exception as exc:
        message, code = describe_error(exc, credentials, permission="Query Funds")
        return fail("balance", message, code)
    shown = {asset: b for asset, b in sorted(balances.items()) if args.all or b.balance != 0}
    if args.json:
        print(to_json({asset: {"balance": b.balance, "hold_trade": b.hold_trade,
                               "available": b.available} for asset, b in shown.items()}))
        return EXIT_OK
    rows = []
    for asset, b in shown.items():
        known = asset_by_any(asset)
        name = known.v2 if known is not None and known.v2 != asset else ""
        rows.append([asset, name, fmt_decimal(b.balance), fmt_decimal(b.hold_trade),
                     fmt_decimal(b.available)])
    print_table(["asset", "name", "balance", "held", "available"], rows,
                right=["balance", "held", "available"], empty="(no balances)")
    return EXIT_OK
