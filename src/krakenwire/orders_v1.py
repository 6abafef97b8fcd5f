"""WebSocket v1 ``openOrders`` entries as reports for the :class:`~krakenwire.orders.OpenOrders`
view. Pure.

The view (:mod:`krakenwire.orders`) reads v2 execution-report names (``order_id``,
``order_status``, ``order_qty``, ``cum_qty`` ...). A v1 ``openOrders`` entry says the same things
in v1 words (``status``, ``vol``, ``vol_exec``, ``descr.price`` ...), and its updates are deltas.
The v1 session keeps each order's entry merged (:func:`krakenwire.protocol.v1.merge_order`) and
hands the view :func:`report_from_v1` of the merged entry, so one view serves both protocols.

Translation (kraken-protocol.md §5.3 → §6):

* ``status``: ``pending`` → ``pending_new``; ``open`` → ``new``; either becomes
  ``partially_filled`` once ``vol_exec`` > 0; ``closed`` → ``filled``; ``canceled`` and
  ``expired`` unchanged.
* ``vol`` → ``order_qty``, ``vol_exec`` → ``cum_qty``, ``cost`` → ``cum_cost``, ``avg_price``
  (only once something filled), ``userref`` → ``order_userref``, ``cl_ord_id``,
  ``timeinforce`` → ``time_in_force``, ``post`` in ``oflags`` → ``post_only``.
* ``descr``: ``pair`` → ``symbol`` (kept in v1 form, ``XBT/USD``), ``type`` → ``side``,
  ``ordertype`` → ``order_type``; the limit price is ``descr.price`` for ``limit`` orders and
  ``descr.price2`` for the ``*-limit`` trigger orders (``descr.price`` is their trigger there).
* ``lastupdated`` (else ``opentm``), Unix seconds → ``timestamp`` in RFC 3339 with microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

__all__ = ["V1_STATUS", "OrderReport", "report_from_v1", "v2_status"]

#: v1 ``status`` → the view's (v2) ``order_status``; ``pending``/``open`` become
#: ``partially_filled`` once part of the order has filled.
V1_STATUS: Final[dict[str, str]] = {
    "pending": "pending_new",
    "open": "new",
    "closed": "filled",
    "canceled": "canceled",
    "expired": "expired",
}

_LIMIT_IN_PRICE2: Final = frozenset({"stop-loss-limit", "take-profit-limit",
                                     "trailing-stop-limit"})
_LIMIT_IN_PRICE: Final = frozenset({"limit", "iceberg"})
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class OrderReport:
    """One order's state in the names :class:`~krakenwire.orders.OpenOrders` reads; ``None``
    means "not known from this entry"."""

    order_id: str
    order_status: str | None = None
    exec_type: str | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    time_in_force: str | None = None
    post_only: bool | None = None
    cum_qty: Decimal | None = None
    cum_cost: Decimal | None = None
    avg_price: Decimal | None = None
    timestamp: str | None = None


def v2_status(status: str | None, vol_exec: Decimal | None) -> str | None:
    """The view's ``order_status`` for a v1 ``status`` (None stays None; an unknown status is
    passed through unchanged)."""
    if status is None:
        return None
    if status in ("pending", "open") and vol_exec is not None and vol_exec > 0:
        return "partially_filled"
    return V1_STATUS.get(status, status)


def _rfc3339(seconds: Decimal | None) -> str | None:
    """Unix seconds (exact decimal) → ``2023-10-31T14:06:19.336974Z`` (None for None/0)."""
    if seconds is None or not seconds.is_finite() or seconds <= 0:
        return None
    micros = int((seconds * 1_000_000).to_integral_value(ROUND_HALF_EVEN))
    moment = _EPOCH + timedelta(microseconds=micros)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def report_from_v1(order_id: str, entry: Any) -> OrderReport:
    """Translate one v1 ``openOrders`` entry (a :class:`~krakenwire.protocol.v1.OpenOrderInfo`
    or anything with its attribute names; the merged entry for full state, a delta for just
    the changes) of order ``order_id`` into an :class:`OrderReport` (see the module docstring
    for the mapping). Never raises for missing fields: they become ``None``."""
    descr = getattr(entry, "descr", None)
    vol_exec: Decimal | None = getattr(entry, "vol_exec", None)
    ordertype = getattr(descr, "ordertype", None)
    limit: Decimal | None = None
    if ordertype in _LIMIT_IN_PRICE:
        limit = getattr(descr, "price", None)
    elif ordertype in _LIMIT_IN_PRICE2:
        limit = getattr(descr, "price2", None)
    oflags: str | None = getattr(entry, "oflags", None)
    post_only = None if oflags is None else "post" in oflags.split(",")
    avg = getattr(entry, "avg_price", None)
    if vol_exec is None or not vol_exec:
        avg = None  # v1 writes "0.00000" before the first fill: not a price
    return OrderReport(
        order_id=order_id,
        order_status=v2_status(getattr(entry, "status", None), vol_exec),
        cl_ord_id=getattr(entry, "cl_ord_id", None) or None,
        order_userref=getattr(entry, "userref", None),
        symbol=getattr(descr, "pair", None),
        side=getattr(descr, "type", None),
        order_type=ordertype,
        order_qty=getattr(entry, "vol", None),
        limit_price=limit,
        time_in_force=getattr(entry, "timeinforce", None),
        post_only=post_only,
        cum_qty=vol_exec,
        cum_cost=getattr(entry, "cost", None),
        avg_price=avg,
        timestamp=_rfc3339(getattr(entry, "lastupdated", None)
                           or getattr(entry, "opentm", None)),
    )
