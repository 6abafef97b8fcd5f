"""``krakenwire token``: fetch a WebSocket token with signed REST and print it.

Prints only the token on stdout (so ``TOKEN=$(krakenwire token)`` works); ``--json`` prints
``{"token", "expires", "expires_at"}``. Credentials come from ``--credentials FILE`` or the
environment (``KRAKEN_API_KEY`` / ``KRAKEN_API_SECRET``); the REST URL from ``--rest-url``,
``KRAKEN_REST_URL``, the credentials file's ``rest_url``, or Kraken's; ``--sandbox`` uses an
embedded sandbox's demo account instead. Every failure prints one line to stderr, never a
secret, and exits non-zero (codes in :mod:`krakenwire.cli`).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from krakenwire.cli import EXIT_OK
from krakenwire.cli.common import add_connection_arguments, connect, describe_error, fail

HELP = "fetch a WebSocket token (GetWebSocketsToken) and print it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``token`` options."""
    add_connection_arguments(parser, json_help="print {token, expires, expires_at} as JSON")


def run(args: argparse.Namespace) -> int:
    """Fetch and print the token; return the exit code."""
    credentials = None
    try:
        with connect(args) as conn:
            credentials = conn.credentials
            token = conn.client.get_websockets_token()
    except Exception as exc:
        message, code = describe_error(exc, credentials, permission="WebSocket interface")
        return fail("token", message, code)

    if args.json:
        expires_at = datetime.fromtimestamp(token.expires_at, UTC)
        print(json.dumps({
            "token": token.token,
            "expires": round(token.lifetime),
            "expires_at": expires_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }))
    else:
        print(token.token)
    return EXIT_OK
