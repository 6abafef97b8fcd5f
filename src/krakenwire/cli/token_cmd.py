"""``krakenwire token``: fetch a WebSocket token with signed REST and print it.

Prints only the token on stdout (so ``TOKEN=$(krakenwire token)`` works); ``--json`` prints
``{"token", "expires", "expires_at"}``. Credentials come from ``--credentials FILE`` or the
environment (``KRAKEN_API_KEY`` / ``KRAKEN_API_SECRET``); the REST URL from ``--rest-url``,
``KRAKEN_REST_URL``, the credentials file's ``rest_url``, or Kraken's. Every failure prints one
line to stderr, never a secret, and exits non-zero (codes in :mod:`krakenwire.cli`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from krakenwire.cli import EXIT_KRAKEN, EXIT_OK, EXIT_TRANSPORT, EXIT_USAGE

HELP = "fetch a WebSocket token (GetWebSocketsToken) and print it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``token`` options."""
    parser.add_argument("--json", action="store_true",
                        help="print {token, expires, expires_at} as JSON")
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


def _fail(message: str, code: int) -> int:
    print(f"krakenwire token: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    """Fetch and print the token; return the exit code."""
    from krakenwire.auth import Credentials, CredentialsError, load_credentials_file
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
    from krakenwire.rest import ENV_REST_URL, KrakenClient

    settings: dict[str, str] = {}
    try:
        if args.credentials:
            credentials, settings = load_credentials_file(args.credentials)
        else:
            credentials = Credentials.from_env()
    except CredentialsError as exc:
        hint = "" if args.credentials else " (or pass --credentials FILE)"
        return _fail(f"{exc}{hint}", EXIT_USAGE)

    rest_url = (args.rest_url or os.environ.get(ENV_REST_URL, "").strip()
                or settings.get("rest_url") or None)
    try:
        client = KrakenClient(credentials, base_url=rest_url, timeout=args.timeout,
                              allow_insecure=args.allow_insecure, max_retries=1)
    except (InsecureURLError, ValueError) as exc:
        return _fail(str(exc), EXIT_USAGE)

    try:
        with client:
            token = client.get_websockets_token()
    except PermissionDenied as exc:
        return _fail(f"{exc.error}: the API key lacks the 'WebSocket interface' permission "
                     "(enable it for this key)", EXIT_KRAKEN)
    except (InvalidKey, InvalidSignature) as exc:
        return _fail(f"{exc.error}: Kraken refused the API key or its signature; check that the "
                     f"key {credentials.redacted_key} and its secret belong together",
                     EXIT_KRAKEN)
    except InvalidNonce as exc:
        return _fail(f"{exc.error}: {InvalidNonce.hint}", EXIT_KRAKEN)
    except TemporaryLockout as exc:
        return _fail(f"{exc.error}: too many failed calls; wait (about 15 minutes) and retry",
                     EXIT_KRAKEN)
    except KrakenError as exc:
        return _fail(str(exc), EXIT_KRAKEN)
    except (TransportError, ProtocolError, OrderOutcomeUnknown) as exc:
        return _fail(str(exc), EXIT_TRANSPORT)

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
