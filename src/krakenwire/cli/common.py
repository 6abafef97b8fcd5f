"""What every account command of ``krakenwire`` shares: connection options, credentials, the
embedded ``--sandbox``, error lines, confirmation before trading on real Kraken, and tables.

Only the standard library is imported at module level, so importing this module keeps
``krakenwire token`` quick; the client (and, for ``--sandbox``, the sandbox) is imported when a
command runs.

Settings resolve as: option > environment (``KRAKEN_API_KEY`` / ``KRAKEN_API_SECRET``,
``KRAKEN_REST_URL``) > the credentials file's ``rest_url`` > Kraken's URL.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

from krakenwire.cli import (
    EXIT_KRAKEN,
    EXIT_OUTCOME_UNKNOWN,
    EXIT_TRANSPORT,
    EXIT_USAGE,
)

if TYPE_CHECKING:
    from krakenwire.auth import Credentials
    from krakenwire.rest import KrakenClient

__all__ = [
    "CommandError",
    "Connection",
    "add_connection_arguments",
    "confirm_trading",
    "connect",
    "describe_error",
    "fail",
    "fmt_decimal",
    "fmt_time",
    "load_credentials",
    "print_table",
    "quiet_library_logs",
    "resolve_rest_url",
]


class CommandError(Exception):
    """A failure a command reports as one stderr line with an exit code.

    ``str(exc)`` is the message (never a secret); ``exc.code`` the exit code.
    """

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def quiet_library_logs() -> None:
    """Keep krakenwire's own log lines (warnings about retries, reconnects, unknown outcomes)
    off the terminal: a command reports each failure itself, as one line."""
    import logging

    logger = logging.getLogger("krakenwire")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def fail(command: str, message: str, code: int) -> int:
    """Print ``krakenwire COMMAND: MESSAGE`` as one line on stderr and return ``code``."""
    line = " ".join(message.split())  # one line, whatever the message held
    print(f"krakenwire {command}: {line}", file=sys.stderr)
    return code


def add_connection_arguments(parser: argparse.ArgumentParser, *, sandbox: bool = True,
                             json_help: str = "print JSON instead of a table") -> None:
    """Add ``--json``, ``--credentials``, ``--rest-url``, ``--timeout``, ``--allow-insecure``
    and (with ``sandbox=True``) ``--sandbox`` / ``--sandbox-db``."""
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument("--credentials", metavar="FILE",
                        help="read api_key/api_secret from FILE (JSON or KEY=VALUE lines); "
                             "default: KRAKEN_API_KEY / KRAKEN_API_SECRET")
    parser.add_argument("--rest-url", metavar="URL",
                        help="REST base URL (default: $KRAKEN_REST_URL, the credentials "
                             "file's rest_url, or https://api.kraken.com)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                        help="per-request timeout (default 10)")
    parser.add_argument("--allow-insecure", action="store_true",
                        help="allow plain http:// to a non-loopback host")
    if sandbox:
        parser.add_argument("--sandbox", action="store_true",
                            help="start an embedded sandbox for this command and use its "
                                 "funded demo account (ignores credentials and URLs)")
        parser.add_argument("--sandbox-db", metavar="PATH",
                            help="with --sandbox: keep the sandbox's state in PATH, so that "
                                 "later commands with the same PATH see it")


def load_credentials(args: argparse.Namespace) -> tuple[Credentials, dict[str, str]]:
    """Credentials from ``--credentials FILE`` or the environment, plus the file's settings.

    Raises:
        CommandError: (exit 2) if they are missing or malformed; the message never holds the
            secret.
    """
    from krakenwire.auth import Credentials, CredentialsError, load_credentials_file

    try:
        if getattr(args, "credentials", None):
            return load_credentials_file(args.credentials)
        return Credentials.from_env(), {}
    except CredentialsError as exc:
        hint = "" if getattr(args, "credentials", None) else " (or pass --credentials FILE)"
        raise CommandError(f"{exc}{hint}", EXIT_USAGE) from None


def resolve_rest_url(args: argparse.Namespace, settings: dict[str, str]) -> str | None:
    """``--rest-url`` > ``$KRAKEN_REST_URL`` > the credentials file's ``rest_url`` > None
    (the client's default, Kraken)."""
    return (getattr(args, "rest_url", None) or os.environ.get("KRAKEN_REST_URL", "").strip()
            or settings.get("rest_url") or None)


def describe_error(exc: BaseException, credentials: Credentials | None, *,
                   permission: str = "") -> tuple[str, int]:
    """Map an exception from a client call to ``(one-line message, exit code)``.

    ``permission`` names the Kraken key permission the call needs (used in the hint for
    ``EGeneral:Permission denied``). Anything else is reported as unexpected (exit 1); no
    krakenwire exception carries a secret.
    """
    from krakenwire.auth import CredentialsError
    from krakenwire.errors import (
        InsecureURLError,
        InvalidKey,
        InvalidNonce,
        InvalidSignature,
        KrakenError,
        OrderOutcomeUnknown,
        PermissionDenied,
        ProtocolError,
        TemporaryLockout,
        TransportError,
    )

    if isinstance(exc, CommandError):
        return str(exc), exc.code
    if isinstance(exc, PermissionDenied):
        what = f"the {permission!r} permission" if permission else "the permission this needs"
        return (f"{exc.error}: the API key lacks {what} (enable it for this key)",
                EXIT_KRAKEN)
    if isinstance(exc, InvalidKey | InvalidSignature):
        key = credentials.redacted_key if credentials is not None else "?"
        return (f"{exc.error}: Kraken refused the API key or its signature; check that the "
                f"key {key} and its secret belong together", EXIT_KRAKEN)
    if isinstance(exc, InvalidNonce):
        return f"{exc.error}: {InvalidNonce.hint}", EXIT_KRAKEN
    if isinstance(exc, TemporaryLockout):
        return (f"{exc.error}: too many failed calls; wait (about 15 minutes) and retry",
                EXIT_KRAKEN)
    if isinstance(exc, KrakenError):
        return str(exc), EXIT_KRAKEN
    if isinstance(exc, OrderOutcomeUnknown):
        return (f"{exc}: `krakenwire orders open --cl-ord-id {exc.cl_ord_id}` (then "
                f"`orders closed`)", EXIT_OUTCOME_UNKNOWN)
    if isinstance(exc, TransportError | ProtocolError):
        return str(exc), EXIT_TRANSPORT
    if isinstance(exc, CredentialsError | InsecureURLError):
        return str(exc), EXIT_USAGE
    return f"unexpected {type(exc).__name__}: {exc}", EXIT_KRAKEN


@dataclass
class Connection:
    """A ready client for one command: ``client``, its ``credentials``, the REST URL, and
    whether it is an embedded sandbox (``embedded``)."""

    client: KrakenClient
    credentials: Credentials
    rest_url: str
    embedded: bool
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def loopback(self) -> bool:
        """True if the REST server is on this machine (a sandbox), not real Kraken."""
        from urllib.parse import urlsplit

        from krakenwire.protocol.rest import is_loopback_host

        return is_loopback_host(urlsplit(self.rest_url).hostname or "")


@contextmanager
def connect(args: argparse.Namespace) -> Iterator[Connection]:
    """Open what the options ask for: an embedded sandbox (``--sandbox``) or the configured
    server, and a :class:`~krakenwire.rest.KrakenClient` for it; close both on exit.

    Raises:
        CommandError: (exit 2) bad credentials, URL or settings; (exit 3) the embedded sandbox
            could not start.
    """
    from krakenwire.errors import InsecureURLError
    from krakenwire.rest import KrakenClient

    quiet_library_logs()

    def make(credentials: Credentials, rest_url: str | None) -> KrakenClient:
        try:
            return KrakenClient(credentials, base_url=rest_url, timeout=args.timeout,
                                allow_insecure=args.allow_insecure, max_retries=1)
        except (InsecureURLError, ValueError) as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None

    if getattr(args, "sandbox", False) or getattr(args, "sandbox_db", None):
        from krakenwire.sandbox import SandboxThread

        try:
            sandbox = SandboxThread(db_path=args.sandbox_db)
            sandbox.start()
        except Exception as exc:  # StoreError, OSError: one line, no traceback
            raise CommandError(f"cannot start the embedded sandbox: {exc}",
                               EXIT_TRANSPORT) from None
        try:
            credentials = sandbox.credentials
            with make(credentials, sandbox.rest_url) as client:
                yield Connection(client, credentials, sandbox.rest_url, True)
        finally:
            sandbox.stop()
        return
    credentials, settings = load_credentials(args)
    with make(credentials, resolve_rest_url(args, settings)) as client:
        yield Connection(client, credentials, client.base_url, False, settings)


def confirm_trading(command: str, conn: Connection, summary: str, *, yes: bool,
                    stdin: TextIO | None = None, stderr: TextIO | None = None) -> None:
    """Ask before an order is placed or changed on a non-loopback server (real Kraken).

    Nothing is asked for a loopback server (a sandbox) or with ``yes``. Otherwise the question
    goes to stderr and the answer is read from stdin; only ``y`` / ``yes`` goes on.

    Raises:
        CommandError: (exit 2) if stdin is not a terminal (pass ``--yes`` in scripts) or the
            answer was not yes; nothing was sent.
    """
    if yes or conn.loopback:
        return
    stdin = sys.stdin if stdin is None else stdin
    stderr = sys.stderr if stderr is None else stderr
    if not stdin.isatty():
        raise CommandError(f"refusing to {summary} on {conn.rest_url} without confirmation: "
                           "stdin is not a terminal (pass --yes to confirm)", EXIT_USAGE)
    stderr.write(f"krakenwire {command}: {summary} on {conn.rest_url} with key "
                 f"{conn.credentials.redacted_key}? [y/N] ")
    stderr.flush()
    answer = stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise CommandError("not confirmed; nothing was sent", EXIT_USAGE)


# --- formatting --------------------------------------------------------------------------------

def fmt_decimal(value: Decimal | None) -> str:
    """A Decimal without exponent or trailing zeros (``'0'`` for zero, ``''`` for None)."""
    if value is None:
        return ""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def fmt_time(value: Decimal | float | str | None) -> str:
    """Unix seconds as ``YYYY-MM-DD HH:MM:SS`` UTC (``''`` for None or 0)."""
    if value in (None, "", 0):
        return ""
    try:
        stamp = float(value)
    except (TypeError, ValueError):
        return str(value)
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *,
                right: Sequence[str] = (), out: TextIO | None = None,
                empty: str = "(none)") -> None:
    """Print an aligned plain-text table; columns named in ``right`` are right-aligned."""
    out = sys.stdout if out is None else out
    if not rows:
        out.write(empty + "\n")
        return
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    align_right = [h in right for h in headers]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if r else v.ljust(w)
                 for v, w, r in zip(values, widths, align_right, strict=True)]
        return "  ".join(parts).rstrip()

    out.write(line(list(headers)) + "\n")
    for row in cells:
        out.write(line(row) + "\n")


def to_json(value: Any) -> str:
    """JSON text with Decimals as exact strings."""
    import json

    def default(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return fmt_decimal(obj)
        raise TypeError(f"cannot encode {type(obj).__name__}")

    return json.dumps(value, default=default, indent=None)
