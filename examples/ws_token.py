"""Fetch a WebSocket token — the whole program is the three lines inside ``token()``.

Run against real Kraken with ``KRAKEN_API_KEY`` / ``KRAKEN_API_SECRET`` set (the key needs the
"WebSocket interface" permission); without them it starts an embedded sandbox and uses its
funded demo account, so it runs with no account and no network::

    python examples/ws_token.py
"""

import os

from krakenwire import Credentials, KrakenClient, SandboxThread


def token(credentials: Credentials | None = None, rest_url: str | None = None) -> str:
    with KrakenClient(credentials, base_url=rest_url) as client:  # env vars when None
        ws_token = client.get_websockets_token()
    return ws_token.token


if __name__ == "__main__":
    if os.environ.get("KRAKEN_API_KEY"):
        print(token())
    else:
        with SandboxThread() as sandbox:
            print(token(sandbox.credentials, sandbox.rest_url))
