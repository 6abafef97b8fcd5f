"""The ``krakenwire`` command.

Each subcommand lives in its own module ``krakenwire.cli.<name>_cmd`` exposing
``HELP: str``, ``add_arguments(parser)`` and ``run(args) -> int``. Only the module of the
command being run is imported, so ``krakenwire --help`` and ``krakenwire token`` start quickly.

Exit codes: 0 success; 1 a Kraken or sandbox error; 2 bad usage or configuration (missing or
malformed credentials, or an order not confirmed); 3 network / transport failure; 4 an order's
outcome is unknown (it may or may not have been placed: the message names its ``cl_ord_id``);
130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

__all__ = ["main"]

#: name -> (module, one-line help). Keep this table static: it is read without imports.
COMMANDS: dict[str, tuple[str, str]] = {
    "token": ("krakenwire.cli.token_cmd", "print a WebSocket token (GetWebSocketsToken)"),
    "demo": ("krakenwire.cli.demo_cmd", "run the whole story on an embedded sandbox"),
    "sandbox": ("krakenwire.cli.sandbox_cmd", "run or administer the local Kraken sandbox"),
    "balance": ("krakenwire.cli.balance_cmd", "show balances and what open orders hold"),
    "orders": ("krakenwire.cli.orders_cmd", "list open or closed orders"),
    "trades": ("krakenwire.cli.trades_cmd", "list your trades (fills)"),
    "order": ("krakenwire.cli.order_cmd", "add, amend or cancel orders"),
    "watch": ("krakenwire.cli.watch_cmd", "live view of open orders, balances or executions"),
}

EXIT_OK = 0
EXIT_KRAKEN = 1
EXIT_USAGE = 2
EXIT_TRANSPORT = 3
EXIT_OUTCOME_UNKNOWN = 4
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit codes: 0 ok; 1 Kraken (or the sandbox) refused; 2 bad usage, credentials or settings, or an
order not confirmed; 3 network or transport failure; 4 an order's outcome is unknown (look it up
by the cl_ord_id the message names); 130 interrupted. Every failure prints one line on stderr.
Credentials: KRAKEN_API_KEY / KRAKEN_API_SECRET or --credentials FILE; `krakenwire COMMAND -h`."""


class _Command(Protocol):
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(name: str) -> _Command:
    return cast(_Command, importlib.import_module(COMMANDS[name][0]))


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="krakenwire",
        description="Authenticated Kraken client and local Kraken-compatible sandbox.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] not in COMMANDS:
        parser = _top_parser()
        if not args_list or args_list[0] in ("-h", "--help"):
            parser.print_help()
            return EXIT_OK if args_list else EXIT_USAGE
        parser.error(f"unknown command {args_list[0]!r}")
    name = args_list[0]
    command = _load(name)
    parser = argparse.ArgumentParser(prog=f"krakenwire {name}", description=command.HELP,
                                     epilog=EXIT_CODES_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_arguments(parser)
    args = parser.parse_args(args_list[1:])
    try:
        return command.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
