"""The pure open-orders view (krakenwire.orders) against a model of an account's orders.

Reports are built as the v2 codec's ExecutionReport structs, shaped as Kraken sends them:
a full ``pending_new`` report, then deltas (``new`` without symbol/side, ``trade`` with
cumulative quantities, ``canceled``, ``amended``), optionally a trailing ``filled`` report.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from krakenwire.orders import OpenOrders, OrdersResync
from krakenwire.protocol import v2
from krakenwire.protocol.v2 import ExecutionReport, decode_message


@dataclass
class ModelOrder:
    order_id: str
    cl_ord_id: str
    order_qty: Decimal
    limit_price: Decimal
    cum_qty: Decimal = Decimal(0)
    status: str = "new"


def full_report(o: ModelOrder, exec_type: str = "pending_new") -> ExecutionReport:
    return ExecutionReport(
        order_id=o.order_id, exec_type=exec_type, order_status=o.status if exec_type != (
            "pending_new") else "pending_new", cl_ord_id=o.cl_ord_id, symbol="BTC/USD",
        side="buy", order_type="limit", order_qty=o.order_qty, limit_price=o.limit_price,
        cum_qty=o.cum_qty, time_in_force="GTC", timestamp="2026-01-01T00:00:00.000000Z")


OPS = st.lists(
    st.tuples(st.sampled_from(["add", "fill", "fill_all", "cancel", "amend", "add"]),
              st.integers(0, 20), st.integers(1, 50)),
    max_size=40)


class Model:
    """The truth: which orders are open and in what state; emits Kraken-shaped reports."""

    def __init__(self) -> None:
        self.orders: dict[str, ModelOrder] = {}
        self.counter = 0

    def open_ids(self) -> set[str]:
        return set(self.orders)

    def step(self, kind: str, index: int, amount: int,
             trailing_filled: bool) -> list[ExecutionReport]:
        if kind == "add" or not self.orders:
            self.counter += 1
            o = ModelOrder(f"O{self.counter:05d}-AAAAA-BBBBBB", f"cl-{self.counter}",
                           Decimal(amount) / 10, Decimal(1000 + amount))
            self.orders[o.order_id] = o
            return [full_report(o), ExecutionReport(
                order_id=o.order_id, exec_type="new", order_status="new",
                timestamp="2026-01-01T00:00:00.000001Z")]
        o = list(self.orders.values())[index % len(self.orders)]
        if kind == "fill":
            remaining = o.order_qty - o.cum_qty
            qty = min(remaining, Decimal(amount) / 100)
            o.cum_qty += qty
            o.status = "filled" if o.cum_qty == o.order_qty else "partially_filled"
        elif kind == "fill_all":
            o.cum_qty = o.order_qty
            o.status = "filled"
        if kind in ("fill", "fill_all"):
            reports = [ExecutionReport(
                order_id=o.order_id, exec_type="trade", order_status=o.status,
                last_qty=Decimal(1), last_price=o.limit_price, cum_qty=o.cum_qty,
                cum_cost=o.cum_qty * o.limit_price, exec_id="TXXXXX-XXXXX-XXXXXX")]
            if o.status == "filled":
                del self.orders[o.order_id]
                if trailing_filled:
                    reports.append(ExecutionReport(order_id=o.order_id, exec_type="filled",
                                                   order_status="filled"))
            return reports
        if kind == "cancel":
            del self.orders[o.order_id]
            return [ExecutionReport(order_id=o.order_id, exec_type="canceled",
                                    order_status="canceled", reason="User requested")]
        # amend: new quantity (never below what is filled) and price
        o.order_qty = max(o.cum_qty + Decimal(1) / 10, Decimal(amount) / 10)
        o.limit_price = Decimal(2000 + amount)
        return [ExecutionReport(order_id=o.order_id, exec_type="amended",
                                order_status=o.status, order_qty=o.order_qty,
                                limit_price=o.limit_price, amended=True)]

    def snapshot(self) -> list[ExecutionReport]:
        return [full_report(o, exec_type="new") for o in self.orders.values()]


def assert_matches(view: OpenOrders, model: Model) -> None:
    assert view.ids() == model.open_ids()
    for oid, mo in model.orders.items():
        got = view[oid]
        assert got.cum_qty == mo.cum_qty
        assert got.order_qty == mo.order_qty
        assert got.limit_price == mo.limit_price
        assert got.order_status == mo.status
        assert got.symbol == "BTC/USD" and got.side == "buy"  # kept from the first report
        assert view.by_cl_ord_id(mo.cl_ord_id) == got


@settings(max_examples=200, deadline=None)
@given(OPS, st.booleans())
def test_view_follows_updates(ops: list[tuple[str, int, int]], trailing: bool) -> None:
    model, view = Model(), OpenOrders()
    assert not view.load_snapshot(model.snapshot())
    for kind, index, amount in ops:
        for report in model.step(kind, index, amount, trailing):
            view.apply(report)
        assert_matches(view, model)


@settings(max_examples=200, deadline=None)
@given(OPS, OPS, st.booleans())
def test_snapshot_after_reconnect_rebuilds_and_names_differences(
        before: list[tuple[str, int, int]], missed: list[tuple[str, int, int]],
        trailing: bool) -> None:
    model, view = Model(), OpenOrders()
    view.load_snapshot(model.snapshot())
    for kind, index, amount in before:
        for report in model.step(kind, index, amount, trailing):
            view.apply(report)
    old = view.as_dict()
    for kind, index, amount in missed:  # happened while disconnected: the view never saw it
        model.step(kind, index, amount, trailing)
    resync = view.load_snapshot(model.snapshot())
    assert_matches(view, model)
    new_ids = model.open_ids()
    assert {o.order_id for o in resync.appeared} == new_ids - set(old)
    assert {o.order_id for o in resync.vanished} == set(old) - new_ids
    changed = {a.order_id for a, _ in resync.changed}
    expected = {oid for oid in new_ids & set(old) if not old[oid].same_state(view[oid])}
    assert changed == expected
    assert bool(resync) == bool(resync.appeared or resync.vanished or resync.changed)
    for order in resync.vanished:  # remembered as closed, findable by cl_ord_id
        closed = view.closed(order.cl_ord_id or "")
        assert closed is not None and closed.order.order_id == order.order_id


def test_decoded_frames_feed_the_view() -> None:
    """Kraken's documented lifecycle frames, decoded by the codec, build the right order."""
    frames = [
        b'{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5",'
        b'"order_userref":3,"symbol":"BTC/USD","order_qty":0.005,"cum_cost":0.0,'
        b'"time_in_force":"GTC","exec_type":"pending_new","side":"sell","order_type":"limit",'
        b'"limit_price_type":"static","limit_price":26500.0,"stop_price":0.0,'
        b'"order_status":"pending_new","fee_usd_equiv":0.0,"fee_ccy_pref":"fciq",'
        b'"timestamp":"2023-09-22T10:33:05.709950Z"}],"sequence":8}',
        b'{"channel":"executions","type":"update","data":[{"timestamp":'
        b'"2023-09-22T10:33:05.709982Z","order_status":"new","exec_type":"new",'
        b'"order_userref":3,"order_id":"OK4GJX-KSTLS-7DZZO5"}],"sequence":9}',
    ]
    view = OpenOrders()
    for raw in frames:
        msg = decode_message(raw)
        assert isinstance(msg, v2.ExecutionsFrame)
        for report in msg.data:
            view.apply(report)
    order = view["OK4GJX-KSTLS-7DZZO5"]
    assert order.order_status == "new"
    assert order.symbol == "BTC/USD" and order.side == "sell"
    assert order.order_qty == Decimal("0.005") and order.limit_price == Decimal("26500.0")
    assert order.order_userref == 3
    trade = decode_message(
        b'{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5",'
        b'"exec_type":"trade","order_status":"filled","cum_qty":0.005,"cum_cost":132.9995,'
        b'"avg_price":26599.9,"last_qty":0.005,"last_price":26599.9}],"sequence":10}')
    assert isinstance(trade, v2.ExecutionsFrame)
    state = view.apply(trade.data[0])
    assert "OK4GJX-KSTLS-7DZZO5" not in view and len(view) == 0
    closed = view.closed("OK4GJX-KSTLS-7DZZO5")
    assert closed is not None and closed is state and closed.status == "filled"
    assert closed.order.cum_cost == Decimal("132.9995") and closed.order.symbol == "BTC/USD"
    # a trailing ``filled`` report keeps what was known
    view.apply(ExecutionReport(order_id="OK4GJX-KSTLS-7DZZO5", exec_type="filled",
                               order_status="filled"))
    again = view.closed("OK4GJX-KSTLS-7DZZO5")
    assert again is not None and again.order.symbol == "BTC/USD"


def test_snapshot_trades_are_not_orders() -> None:
    view = OpenOrders()
    resync = view.load_snapshot([
        ExecutionReport(order_id="OA", exec_type="new", order_status="new", cl_ord_id="a",
                        order_qty=Decimal(1)),
        ExecutionReport(order_id="OB", exec_type="trade", order_status="filled",
                        cl_ord_id="b", last_qty=Decimal(1)),
    ])
    assert view.ids() == {"OA"}
    assert [o.order_id for o in resync.appeared] == ["OA"]
    assert view.by_cl_ord_id("a") is not None and view.by_cl_ord_id("b") is None
    hit = view.closed("b")
    assert hit is not None and hit.status == "filled"


def test_repr_and_resync_truthiness() -> None:
    view = OpenOrders()
    assert repr(view) == "OpenOrders(0 open, 0 recently closed)"
    assert not OrdersResync()
    assert view.apply(object()) is None  # no order_id: ignored
