"""A private WebSocket v2 session: place a limit order, watch its execution reports, cancel it.

``PrivateSocket`` fetches a token over REST, connects, subscribes to ``executions`` and
``balances`` and keeps that up across reconnects. Without ``KRAKEN_API_KEY`` /
``KRAKEN_API_SECRET`` it runs against an embedded sandbox; against real Kraken (the variables
set) it places a real order far below the market — it asks first::

    python examples/private_session.py
"""

import asyncio
import os
import sys
from decimal import Decimal

from krakenwire import Credentials, PrivateSocket, Sandbox
from krakenwire.protocol.v2 import ExecutionsFrame


async def session(credentials: Credentials, rest_url: str | None, ws_url: str | None) -> None:
    async with PrivateSocket(credentials=credentials, rest_url=rest_url, url=ws_url) as ws:
        print(f"subscribed; {len(ws.open_orders)} open order(s), "
              f"USD {ws.account_balances.get('USD')}")
        placed = await ws.add_order(symbol="BTC/USD", side="buy", order_type="limit",
                                    order_qty=Decimal("0.001"), limit_price=Decimal("1000"))
        print(f"ack: order {placed.order_id}")
        cancelled = False
        async for frame in ws.executions():
            if not isinstance(frame, ExecutionsFrame) or frame.type != "update":
                continue
            for report in frame.data:
                if report.order_id != placed.order_id:
                    continue
                print(f"execution: {report.exec_type} ({report.order_status})")
                if report.exec_type == "new" and not cancelled:
                    await ws.cancel_order(placed.order_id)
                    cancelled = True
                if report.exec_type == "canceled":
                    return


async def main() -> None:
    if os.environ.get("KRAKEN_API_KEY"):
        if input("place (and cancel) a real order on Kraken? [y/N] ").strip().lower() != "y":
            sys.exit("nothing done")
        await session(Credentials.from_env(), None, None)
    else:
        async with Sandbox() as sandbox:
            await session(sandbox.credentials, sandbox.rest_url, sandbox.ws_auth_v2_url)


if __name__ == "__main__":
    asyncio.run(main())
