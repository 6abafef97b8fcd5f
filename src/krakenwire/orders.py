"""The account's open orders, kept from an ``executions`` snapshot plus its updates. Pure.

Kraken's v2 ``executions`` channel sends a snapshot of the open orders, then one execution
report per change; update reports carry only the fields that changed (a ``new`` report has no
``symbol`` or ``side``), so the full picture of an order exists only if someone keeps it.
:class:`OpenOrders` is that someone: feed it the snapshot (:meth:`OpenOrders.load_snapshot`)
and every update report (:meth:`OpenOrders.apply`), and it holds every open order with all
its fields merged. After a reconnect, loading the new snapshot returns an
:class:`OrdersResync` naming the orders that appeared, vanished or changed meanwhile, so the
view never diverges silently.

Reports are read by attribute name (``order_id``, ``exec_type``, ``order_status``, ...), so
the typed structs of :mod:`krakenwire.protocol.v2` and plain objects both work; a missing
attribute, ``None`` and msgspec's ``UNSET`` all mean "not in this report".
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from msgspec import UNSET

__all__ = ["OPEN_STATUSES", "ClosedOrder", "OpenOrder", "OpenOrders", "OrdersResync",
           "Reconciliation"]

#: ``order_status`` values of an order that can still trade.
OPEN_STATUSES = frozenset({"pending_new", "new", "partially_filled"})
_FINAL_STATUSES = frozenset({"filled", "canceled", "expired"})
_FINAL_EXEC = frozenset({"filled", "canceled", "expired"})


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """One open order with every field seen so far merged (``None`` where never reported)."""

    order_id: str
    order_status: str
    cl_ord_id: str | None = None
    order_userref: int | None = None
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    time_in_force: str | None = None
    post_only: bool | None = None
    cum_qty: Decimal = Decimal(0)
    cum_cost: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    timestamp: str | None = None

    @property
    def remaining(self) -> Decimal | None:
        """Quantity still to fill, when the order quantity is known."""
        return None if self.order_qty is None else self.order_qty - self.cum_qty

    def same_state(self, other: OpenOrder) -> bool:
        """True when ``other`` has the same trading state (status, quantities, price); the
        timestamp and fields one side never saw are ignored."""
        return (self.order_status == other.order_status and self.cum_qty == other.cum_qty
                and _same(self.order_qty, other.order_qty)
                and _same(self.limit_price, other.limit_price))


@dataclass(frozen=True, slots=True)
class ClosedOrder:
    """An order this view saw leave the book: its last state and why (``filled``,
    ``canceled``, ``expired``)."""

    order: OpenOrder
    status: str


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What a session's ``reconcile(cl_ord_id)`` found out about an order.

    ``status``: ``"open"`` (in the open-orders view; ``order`` is it), ``"closed"`` (seen
    filled, cancelled or expired; ``order`` is its last state, or ``rest_order`` when REST
    knew it) or ``"not_found"`` (neither open nor closed anywhere: it was not placed).
    """

    cl_ord_id: str
    status: Literal["open", "closed", "not_found"]
    order: OpenOrder | None = None
    #: the REST ``OrderInfo`` when the answer came from REST (``order_by_cl_ord_id``)
    rest_order: Any = None


@dataclass(frozen=True, slots=True)
class OrdersResync:
    """What a new snapshot changed in the view: orders that ``appeared`` (open now, unknown
    before), ``vanished`` (open before, not in the snapshot: filled, cancelled or expired
    meanwhile) and ``changed`` (``(before, after)`` pairs with a different state)."""

    appeared: tuple[OpenOrder, ...] = ()
    vanished: tuple[OpenOrder, ...] = ()
    changed: tuple[tuple[OpenOrder, OpenOrder], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.appeared or self.vanished or self.changed)


# the fields copied from a report into an OpenOrder when present
_MERGED = tuple(f.name for f in dataclasses.fields(OpenOrder)
                if f.name not in ("order_id", "order_status"))


def _same(a: Decimal | None, b: Decimal | None) -> bool:
    return a is None or b is None or a == b


def _field(report: Any, name: str) -> Any:
    value = getattr(report, name, None)
    return None if value is UNSET else value


class OpenOrders:
    """A live view of the account's open orders, keyed by ``order_id``.

    Read it with ``len(view)``, ``order_id in view``, ``view[order_id]``, iteration (orders in
    the order they were first seen), :meth:`get`, :meth:`by_cl_ord_id`; it is updated only by
    :meth:`load_snapshot` and :meth:`apply`. Recently closed orders are remembered
    (:meth:`closed`, up to ``remember_closed`` of them) so that a lookup by ``cl_ord_id`` can
    tell "filled or cancelled" from "never seen".
    """

    __slots__ = ("_by_cl", "_closed", "_orders", "_remember", "snapshots")

    def __init__(self, remember_closed: int = 1000) -> None:
        self._orders: dict[str, OpenOrder] = {}
        self._by_cl: dict[str, str] = {}
        self._closed: OrderedDict[str, ClosedOrder] = OrderedDict()
        self._remember = remember_closed
        #: how many snapshots were loaded (0 until the first)
        self.snapshots = 0

    # -- reading ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def __getitem__(self, order_id: str) -> OpenOrder:
        return self._orders[order_id]

    def __iter__(self) -> Iterator[OpenOrder]:
        return iter(list(self._orders.values()))

    def get(self, order_id: str) -> OpenOrder | None:
        """The open order ``order_id``, or None."""
        return self._orders.get(order_id)

    def by_cl_ord_id(self, cl_ord_id: str) -> OpenOrder | None:
        """The open order carrying ``cl_ord_id``, or None."""
        oid = self._by_cl.get(cl_ord_id)
        return None if oid is None else self._orders.get(oid)

    def closed(self, ident: str) -> ClosedOrder | None:
        """A recently closed order by ``order_id`` or ``cl_ord_id``, or None."""
        hit = self._closed.get(ident)
        if hit is not None:
            return hit
        for item in reversed(self._closed.values()):
            if item.order.cl_ord_id == ident:
                return item
        return None

    def ids(self) -> set[str]:
        """The ids of all open orders."""
        return set(self._orders)

    def as_dict(self) -> dict[str, OpenOrder]:
        """A copy of the view: ``order_id -> OpenOrder``."""
        return dict(self._orders)

    # -- updating ---------------------------------------------------------------------------
    def load_snapshot(self, reports: Iterable[Any]) -> OrdersResync:
        """Replace the view with the open orders of an ``executions`` snapshot and return
        what differs from before (all ``appeared`` on the first snapshot).

        Trade reports in the snapshot (``snap_trades``) are not orders; they are remembered as
        fills of their orders when those are not open.
        """
        new: dict[str, OpenOrder] = {}
        fills: list[Any] = []
        for report in reports:
            oid = _field(report, "order_id")
            if oid is None:
                continue
            if _field(report, "exec_type") == "trade":
                fills.append(report)
                continue
            status = _field(report, "order_status") or "new"
            if status not in OPEN_STATUSES:
                continue
            new[oid] = self._merge(new.get(oid), oid, status, report)
        old = self._orders
        appeared = tuple(o for oid, o in new.items() if oid not in old)
        vanished = tuple(o for oid, o in old.items() if oid not in new)
        changed = tuple((old[oid], o) for oid, o in new.items()
                        if oid in old and not old[oid].same_state(o))
        # keep the fields the snapshot did not repeat (e.g. cl_ord_id seen only in updates)
        for oid, order in new.items():
            before = old.get(oid)
            if before is not None:
                new[oid] = self._fill_gaps(order, before)
        self._orders = new
        self._by_cl = {o.cl_ord_id: oid for oid, o in new.items() if o.cl_ord_id}
        for order in vanished:
            self._remember_closed(order, "closed")
        for report in fills:
            oid = _field(report, "order_id")
            if oid not in new and oid not in self._closed:
                self._remember_closed(self._merge(None, oid, "filled", report), "filled")
        self.snapshots += 1
        return OrdersResync(appeared, vanished, changed)

    def apply(self, report: Any) -> OpenOrder | ClosedOrder | None:
        """Apply one update report; return the order's new state (:class:`ClosedOrder` when it
        left the book), or None when the report names no order."""
        oid = _field(report, "order_id")
        if oid is None:
            return None
        exec_type = _field(report, "exec_type")
        status = _field(report, "order_status")
        before = self._orders.get(oid)
        if before is None and (status in _FINAL_STATUSES or exec_type in _FINAL_EXEC):
            gone = self._closed.get(oid)  # e.g. ``filled`` after a ``trade`` that filled it
            before = gone.order if gone is not None else None
        if status is None:
            status = exec_type if exec_type in _FINAL_EXEC else (
                before.order_status if before is not None else "new")
        order = self._merge(before, oid, status, report)
        if status in _FINAL_STATUSES or exec_type in _FINAL_EXEC:
            final = status if status in _FINAL_STATUSES else str(exec_type)
            self._orders.pop(oid, None)
            if order.cl_ord_id and self._by_cl.get(order.cl_ord_id) == oid:
                del self._by_cl[order.cl_ord_id]
            return self._remember_closed(dataclasses.replace(order, order_status=final), final)
        self._orders[oid] = order
        if order.cl_ord_id:
            self._by_cl[order.cl_ord_id] = oid
        return order

    def clear(self) -> None:
        """Forget every order (the next snapshot then reports them all as appeared)."""
        self._orders = {}
        self._by_cl = {}

    # -- internals --------------------------------------------------------------------------
    @staticmethod
    def _merge(before: OpenOrder | None, oid: str, status: str, report: Any) -> OpenOrder:
        values: dict[str, Any] = {}
        for name in _MERGED:
            value = _field(report, name)
            if value is not None:
                values[name] = value
        if before is None:
            return OpenOrder(order_id=oid, order_status=status, **values)
        return dataclasses.replace(before, order_status=status, **values)

    @staticmethod
    def _fill_gaps(order: OpenOrder, before: OpenOrder) -> OpenOrder:
        missing = {name: getattr(before, name) for name in _MERGED
                   if getattr(order, name) is None and getattr(before, name) is not None}
        return dataclasses.replace(order, **missing) if missing else order

    def _remember_closed(self, order: OpenOrder, status: str) -> ClosedOrder:
        item = ClosedOrder(order, status)
        self._closed[order.order_id] = item
        self._closed.move_to_end(order.order_id)
        while len(self._closed) > self._remember:
            self._closed.popitem(last=False)
        return item

    def __repr__(self) -> str:
        return f"OpenOrders({len(self._orders)} open, {len(self._closed)} recently closed)"
