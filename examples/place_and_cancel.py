"""Place a limit order over REST, find it among the open orders, cancel it.

The order is a small buy 20 % below the best bid, so it rests on the book; it carries a
``cl_ord_id`` so it can be found again even if the answer to ``AddOrder`` is lost. Without
``KRAKEN_API_KEY`` / ``KRAKEN_API_SECRET`` it runs against an embedded sandbox. Against real
Kraken it places a real order — it asks first::

    python examples/place_and_cancel.py
"""

import os
import sys
import uuid
from decimal import Decimal

from krakenwire import KrakenClient, OrderOutcomeUnknown, SandboxThread


def place_and_cancel(client: KrakenClient, pair: str = "XBTUSD",
                     volume: Decimal = Decimal("0.0001")) -> None:
    (quote,) = client.ticker(pair).values()
    price = (quote.bid * Decimal("0.8")).quantize(Decimal("1"))
    cl_ord_id = str(uuid.uuid4())
    try:
        txid = client.add_order(pair, "buy", "limit", volume, price, cl_ord_id=cl_ord_id).txid
    except OrderOutcomeUnknown:  # the request may have reached Kraken: look it up, never resend
        found = client.order_by_cl_ord_id(cl_ord_id)
        if found is None:
            sys.exit("the order was not placed")
        txid = found.txid
    assert txid is not None
    print(f"placed {txid} (cl_ord_id {cl_ord_id})")
    order = client.open_orders()[txid]
    print(f"open: {order.side} {order.volume} {order.pair} @ {order.price} ({order.status})")
    print(f"cancelled {client.cancel_order(txid)} order")
    print(f"status now: {client.query_orders(txid)[txid].status}")


if __name__ == "__main__":
    if os.environ.get("KRAKEN_API_KEY"):
        if input("place (and cancel) a real order on Kraken? [y/N] ").strip().lower() != "y":
            sys.exit("nothing done")
        with KrakenClient() as client:
            place_and_cancel(client)
    else:
        with SandboxThread() as sandbox, KrakenClient(sandbox.credentials,
                                                      base_url=sandbox.rest_url) as client:
            place_and_cancel(client)
