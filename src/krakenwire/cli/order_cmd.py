"""``krakenwire order add|amend|cancel|cancel-all``: place, change and cancel orders over REST.

* ``order add PAIR buy|sell VOLUME [--limit PRICE] [--post-only] [--tif GTC|IOC|GTD|FOK]
  [--expiretm T] [--cl-ord-id ID] [--validate]`` — a market order, or a limit order with
  ``--limit``. Every order carries a ``cl_ord_id`` (generated if not given) and is never
  retried; if its outcome is unknown the command exits 4 and names the ``cl_ord_id`` to look
  up. ``--validate`` asks Kraken to check the order without placing it.
* ``order amend ID|--cl-ord-id ID [--volume V] [--limit PRICE] [--trigger PRICE]
  [--post-only]`` — change an open order in place (AmendOrder; keeps its id and queue
  priority where Kraken does).
* ``order cancel [ID...] [--cl-ord-id ID]...`` — cancel orders by id and/or client order id;
  one stderr line for each that could not be cancelled (exit 1 then).
* ``order cancel-all`` — cancel every open order.

Against a server that is not on this machine (real Kraken) ``add`` and ``amend`` ask for
confirmation on the terminal unless ``--yes``; with stdin not a terminal and no ``--yes`` they
refuse (exit 2) and send nothing. Output is a short table, or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

from krakenwire.cli import EXIT_OK, EXIT_USAGE
from krakenwire.cli.common import (
    CommandError,
    add_connection_arguments,
    confirm_trading,
    connect,
    describe_error,
    fail,
    fmt_decimal,
    print_table,
    to_json,
)

HELP = "add, amend or cancel orders (REST)"

_TIFS = ("GTC", "IOC", "GTD", "FOK")


def _decimal(name: str) -> Any:
    def parse(text: str) -> Decimal:
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not value.is_finite() or value <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be a positive number, got {text!r}")
        return value

    parse.__name__ = name  # argparse shows it in "invalid <name> value" messages
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``order`` actions and their options."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="place an order (market, or limit with --limit)")
    add.add_argument("pair", help="pair, e.g. XBTUSD or BTC/USD")
    add.add_argument("side", choices=["buy", "sell"])
    add.add_argument("volume", type=_decimal("volume"), help="order volume in base units")
    add.add_argument("--limit", type=_decimal("price"), metavar="PRICE",
                     help="limit price (without it: a market order)")
    add.add_argument("--post-only", action="store_true",
                     help="limit orders: only add liquidity (oflags=post)")
    add.add_argument("--tif", type=str.upper, choices=_TIFS, metavar="GTC|IOC|GTD|FOK",
                     help="time in force (default GTC)")
    add.add_argument("--expiretm", metavar="T",
                     help="with --tif GTD: expiry, Unix time or +SECONDS from now")
    add.add_argument("--cl-ord-id", metavar="ID", help="client order id (default: a new UUID)")
    add.add_argument("--validate", action="store_true",
                     help="let Kraken check the order without placing it")
    _common(add)

    amend = sub.add_parser("amend", help="change an open order in place (AmendOrder)")
    amend.add_argument("txid", nargs="?", help="the order id (or use --cl-ord-id)")
    amend.add_argument("--cl-ord-id", metavar="ID", help="the order's client order id")
    amend.add_argument("--volume", type=_decimal("volume"), metavar="V", help="new volume")
    amend.add_argument("--limit", type=_decimal("price"), metavar="PRICE",
                       help="new limit price")
    amend.add_argument("--trigger", type=_decimal("price"), metavar="PRICE",
                       help="new trigger price (stop / take-profit orders)")
    amend.add_argument("--post-only", action="store_true",
                       help="reject the amend if the new price would take liquidity")
    _common(amend)

    cancel = sub.add_parser("cancel", help="cancel orders by id or client order id")
    cancel.add_argument("ids", nargs="*", metavar="ID", help="order ids (txid)")
    cancel.add_argument("--cl-ord-id", action="append", default=[], metavar="ID",
                        help="a client order id to cancel (repeatable)")
    _common(cancel, trading=False)

    cancel_all = sub.add_parser("cancel-all", help="cancel every open order")
    _common(cancel_all, trading=False)


def _common(parser: argparse.ArgumentParser, *, trading: bool = True) -> None:
    add_connection_arguments(parser)
    if trading:
        parser.add_argument("--yes", "-y", action="store_true",
                            help="do not ask for confirmation on real Kraken")


def run(args: argparse.Namespace) -> int:
    """Run one order action; return the exit code."""
    name = f"order {args.action}"
    try:
        params = _params(args)
    except CommandError as exc:
        return fail(name, str(exc), exc.code)
    credentials = None
    try:
        with connect(args) as conn:
            credentials = conn.credentials
            if args.action == "add":
                if not args.validate:
                    confirm_trading(name, conn, _summary(args), yes=args.yes)
                return _add(conn.client, params, args)
            if args.action == "amend":
                confirm_trading(name, conn, f"amend order {args.txid or args.cl_ord_id}",
                                yes=args.yes)
                return _amend(conn.client, params, args)
            if args.action == "cancel":
                return _cancel(conn.client, args, credentials)
            count = int(conn.client.cancel_all())
    except Exception as exc:
        permission = ("Cancel/Close Orders" if args.action.startswith("cancel")
                      else "Create & Modify Orders")
        message, code = describe_error(exc, credentials, permission=permission)
        return fail(name, message, code)
    if args.json:
        print(to_json({"count": count}))
    else:
        print(f"cancelled {count} order(s)")
    return EXIT_OK


def _params(args: argparse.Namespace) -> dict[str, Any]:
    """Kraken's parameters for the action; raises CommandError (exit 2) for bad usage."""
    if args.action == "add":
        params: dict[str, Any] = {}
        if args.limit is None and args.post_only:
            raise CommandError("--post-only needs a limit order (--limit PRICE)", EXIT_USAGE)
        if args.post_only:
            params["oflags"] = "post"
        if args.tif:
            params["timeinforce"] = args.tif
        if args.expiretm is not None:
            if args.tif != "GTD":
                raise CommandError("--expiretm needs --tif GTD", EXIT_USAGE)
            params["expiretm"] = args.expiretm
        elif args.tif == "GTD":
            raise CommandError("--tif GTD needs --expiretm (Unix time or +SECONDS)",
                               EXIT_USAGE)
        if args.validate:
            params["validate"] = True
        return params
    if args.action == "amend":
        if (args.txid is None) == (args.cl_ord_id is None):
            raise CommandError("name the order: give its id or --cl-ord-id (one of them)",
                               EXIT_USAGE)
        params = {"order_qty": args.volume, "limit_price": args.limit,
                  "trigger_price": args.trigger}
        if not any(v is not None for v in params.values()):
            raise CommandError("nothing to amend: give --volume, --limit or --trigger",
                               EXIT_USAGE)
        params = {k: v for k, v in params.items() if v is not None}
        if args.post_only:
            params["post_only"] = True
        if args.txid is not None:
            params["txid"] = args.txid
        else:
            params["cl_ord_id"] = args.cl_ord_id
        return params
    if args.action == "cancel" and not (args.ids or args.cl_ord_id):
        raise CommandError("name the orders to cancel: IDs and/or --cl-ord-id ID", EXIT_USAGE)
    return {}


def _summary(args: argparse.Namespace) -> str:
    price = f" limit {fmt_decimal(args.limit)}" if args.limit is not None else " at market"
    return f"{args.side} {fmt_decimal(args.volume)} {args.pair}{price}"


def _add(client: Any, params: dict[str, Any], args: argparse.Namespace) -> int:
    ordertype = "limit" if args.limit is not None else "market"
    result = client.add_order(args.pair, args.side, ordertype, args.volume, args.limit,
                              cl_ord_id=args.cl_ord_id, **params)
    if args.json:
        print(to_json({"txid": list(result.txids), "descr": result.description,
                       "cl_ord_id": result.cl_ord_id, "validated_only": bool(args.validate)}))
        return EXIT_OK
    if args.validate:
        print(f"valid, not placed: {result.description or ''}".rstrip())
        return EXIT_OK
    print_table(["txid", "cl_ord_id", "order"],
                [[txid, result.cl_ord_id or "", result.description or ""]
                 for txid in result.txids])
    return EXIT_OK


def _amend(client: Any, params: dict[str, Any], args: argparse.Namespace) -> int:
    result = client.private("AmendOrder", **params)
    amend_id = str(result.get("amend_id", "")) if isinstance(result, dict) else ""
    if args.json:
        print(to_json({"amend_id": amend_id, "txid": args.txid, "cl_ord_id": args.cl_ord_id}))
    else:
        print(f"amended {args.txid or args.cl_ord_id} (amend_id {amend_id})")
    return EXIT_OK


def _cancel(client: Any, args: argparse.Namespace, credentials: Any) -> int:
    """Cancel each id in turn; one stderr line per id that failed; exit 1 if any did."""
    results: list[dict[str, Any]] = []
    code = EXIT_OK
    targets = [(ident, False) for ident in args.ids] + [(c, True) for c in args.cl_ord_id]
    for ident, by_cl_ord_id in targets:
        try:
            if by_cl_ord_id:
                count = client.cancel_order(cl_ord_id=ident)
            else:
                count = client.cancel_order(ident)
        except Exception as exc:
            message, exc_code = describe_error(exc, credentials,
                                               permission="Cancel/Close Orders")
            fail("order cancel", f"{ident}: {message}", exc_code)
            code = code or exc_code
            results.append({"id": ident, "count": 0, "error": message})
            continue
        results.append({"id": ident, "count": count})
    if args.json:
        print(to_json(results))
    else:
        print_table(["id", "cancelled", "error"],
                    [[r["id"], r["count"], r.get("error", "")] for r in results],
                    right=["cancelled"])
    sys.stdout.flush()
    return code
