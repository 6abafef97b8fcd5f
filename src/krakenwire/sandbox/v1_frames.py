"""The sandbox's orders and trades as WebSocket v1 entries, pure (kraken-protocol.md §5.3–5.6).

Turns :mod:`krakenwire.sandbox.model` objects into the bodies of ``openOrders`` and ``ownTrades``
frames, in the field order and number formatting of Kraken's recorded frames:

* a new order (``pending_new``) and every snapshot entry get the **full entry**, keys
  alphabetical (``avg_price``, ``cost``, ``descr``, …, ``vol``, ``vol_exec``), absent times as
  ``null``;
* later changes are **deltas** in Kraken's own order: ``{"status":"open","userref":0}``;
  a fill ``{"vol_exec","cost","fee","avg_price","userref"}``; the end of an order
  ``{"lastupdated","status","vol_exec","cost","fee","avg_price","userref"[,"cancel_reason"]}``;
* volumes have 8 decimals; prices, costs and fees have the pair's ``cost_decimals`` (Kraken's
  frames show 5 for ``SOL/USD`` and ``ETH/USD``, and 8 for the stablecoin pairs); digits beyond
  that are kept, never rounded away; times are Unix seconds with 6 decimals.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from krakenwire.protocol.naming import PAIRS, Pair
from krakenwire.protocol.v1 import fmt_decimal, fmt_time
from krakenwire.sandbox.model import ZERO, Order, OrderEvent, Trade

__all__ = [
    "POSITION_PLACEHOLDER",
    "VOLUME_PLACES",
    "add_order_descr",
    "consolidate_taker",
    "edit_order_descr",
    "merge_fills",
    "oflags",
    "order_delta",
    "order_descr",
    "order_entry",
    "pair_of",
    "taker_groups",
    "trade_entry",
]

#: Volumes are written with 8 decimals.
VOLUME_PLACES: Final = 8

#: Kraken's ``postxid`` on spot (non-margin) trades: every recorded spot ``ownTrades`` entry
#: carries this same id.
POSITION_PLACEHOLDER: Final = "TKH2SE-M7IF5-CFI7LT"

_TRIGGER_TYPES: Final = frozenset(
    {"stop-loss", "take-profit", "stop-loss-limit", "take-profit-limit"}
)


def pair_of(pair_id: str) -> Pair:
    """The pair for a REST pair id.

    Raises:
        KeyError: for an unknown pair id.
    """
    return PAIRS[pair_id]


def _vol(value: Decimal) -> str:
    return fmt_decimal(value, VOLUME_PLACES)


def _px(value: Decimal | None, pair: Pair) -> str:
    return fmt_decimal(ZERO if value is None else value, pair.cost_decimals)


def _avg(value: Decimal, pair: Pair) -> str:
    """An average price (a quotient): rounded to the pair's cost decimals."""
    exp = Decimal(1).scaleb(-pair.cost_decimals)
    return fmt_decimal(value.quantize(exp, ROUND_HALF_EVEN), pair.cost_decimals)


def _tm(value: float | None) -> str | None:
    return None if value is None else fmt_time(value)


def oflags(order: Order) -> str:
    """The order's flags as v1 writes them: fee currency first (``fcib``/``fciq``), then
    ``post`` and ``viqc`` when they apply (e.g. ``"fcib,post"``)."""
    flags = ["fcib" if order.fee_in_base else "fciq"]
    if order.post_only:
        flags.append("post")
    if order.cash_order_qty is not None:
        flags.append("viqc")
    return ",".join(flags)


def _descr_prices(order: Order, pair: Pair) -> tuple[str, str]:
    if order.ordertype == "market":
        return _px(ZERO, pair), _px(ZERO, pair)
    if order.ordertype in ("stop-loss-limit", "take-profit-limit"):
        return _px(order.price, pair), _px(order.price2, pair)
    return _px(order.price, pair), _px(ZERO, pair)


def order_descr(order: Order, pair: Pair | None = None) -> dict[str, Any]:
    """The ``descr`` object of a full entry, e.g. ``{"close":null,"leverage":null,"order":"buy
    1.00000000 SOL/USD @ limit 25.00000","ordertype":"limit","pair":"SOL/USD","price":"25.00000",
    "price2":"0.00000","type":"buy"}``."""
    pair = pair or pair_of(order.pair)
    price, price2 = _descr_prices(order, pair)
    text = f"{order.side} {_vol(order.volume)} {pair.wsname} @ {order.ordertype}"
    if order.ordertype != "market":
        text += f" {price}"
        if order.ordertype in ("stop-loss-limit", "take-profit-limit"):
            text += f", limit {price2}"
    return {"close": None, "leverage": None, "order": text, "ordertype": order.ordertype,
            "pair": pair.wsname, "price": price, "price2": price2, "type": order.side}


def order_entry(order: Order, *, status: str | None = None,
                ratecount: int | None = None) -> dict[str, Any]:
    """The full ``openOrders`` entry body of ``order`` (snapshot entries and new orders).

    ``status`` overrides the order's status (a new order is shown as ``pending``);
    ``ratecount`` is added for subscriptions made with ``ratecounter``.
    """
    pair = pair_of(order.pair)
    body: dict[str, Any] = {"avg_price": _avg(order.avg_price, pair)}
    if order.cl_ord_id is not None:
        body["cl_ord_id"] = order.cl_ord_id
    body["cost"] = _px(order.cost, pair)
    body["descr"] = order_descr(order, pair)
    if order.display_qty is not None:
        body["display_volume"] = _vol(order.display_qty)
    body["expiretm"] = _tm(order.expiretm)
    body["fee"] = _px(order.fee, pair)
    body["limitprice"] = _px(ZERO, pair)
    body["misc"] = ""
    body["oflags"] = oflags(order)
    body["opentm"] = fmt_time(order.opentm)
    if ratecount is not None:
        body["ratecount"] = ratecount
    body["refid"] = order.refid
    body["starttm"] = _tm(order.starttm)
    body["status"] = status or order.status
    body["stopprice"] = _px(ZERO, pair)
    body["timeinforce"] = order.timeinforce
    if order.ordertype in _TRIGGER_TYPES:
        body["trigger"] = order.trigger
    body["userref"] = order.userref or 0
    body["vol"] = _vol(order.volume)
    body["vol_exec"] = _vol(order.vol_exec)
    return body


def _totals(order: Order, pair: Pair) -> dict[str, Any]:
    return {"vol_exec": _vol(order.vol_exec), "cost": _px(order.cost, pair),
            "fee": _px(order.fee, pair), "avg_price": _avg(order.avg_price, pair)}


def order_delta(event: OrderEvent, *, ratecount: int | None = None) -> dict[str, Any] | None:
    """The ``openOrders`` entry body for one order event, or None if v1 shows nothing for it.

    * ``pending_new`` → the full entry with ``status:"pending"``;
    * ``new`` → ``{"status":"open","userref":0}``;
    * ``trade`` → ``{"vol_exec","cost","fee","avg_price","userref"}``;
    * ``filled`` → ``{"lastupdated","status":"closed",<totals>,"userref"}``;
    * ``canceled`` → as filled with ``status:"canceled"`` and ``cancel_reason``;
    * ``expired`` → as filled with ``status:"expired"``;
    * ``amended`` → ``{"amended":true,"descr":{…},"lastupdated","userref","vol"}``;
    * ``restated``/``status`` → ``{"status":…,"userref"}``.
    """
    order = event.order
    pair = pair_of(order.pair)
    userref = order.userref or 0
    kind = event.exec_type
    body: dict[str, Any]
    if kind == "pending_new":
        body = order_entry(order, status="pending", ratecount=ratecount)
        return body
    if kind == "new":
        body = {"status": "open", "userref": userref}
    elif kind == "trade":
        body = _totals(order, pair)
        body["userref"] = userref
    elif kind in ("filled", "canceled", "expired"):
        status = {"filled": "closed", "canceled": "canceled", "expired": "expired"}[kind]
        body = {"lastupdated": fmt_time(order.lastupdated or event.time), "status": status}
        body.update(_totals(order, pair))
        body["userref"] = userref
        if kind == "canceled":
            body["cancel_reason"] = order.reason or "User requested"
    elif kind == "amended":
        body = {"amended": True, "descr": order_descr(order, pair),
                "lastupdated": fmt_time(order.lastupdated or event.time), "userref": userref,
                "vol": _vol(order.volume)}
    elif kind in ("restated", "status"):
        body = {"status": order.status, "userref": userref}
    else:  # pragma: no cover - exhaustive over ExecType
        return None
    if ratecount is not None:
        body["ratecount"] = ratecount
    return body


def trade_entry(trade: Trade, order: Order | None = None) -> dict[str, Any]:
    """The ``ownTrades`` entry body of one fill, keys alphabetical as Kraken sends them.

    ``order`` (given for live updates, not for snapshot entries) adds the order's
    ``cl_ord_id`` when it has one.
    """
    pair = pair_of(trade.pair)
    body: dict[str, Any] = {}
    if order is not None and order.cl_ord_id is not None:
        body["cl_ord_id"] = order.cl_ord_id
    body.update({
        "cost": _px(trade.cost, pair),
        "fee": _px(trade.fee, pair),
        "margin": _px(ZERO, pair),
        "ordertxid": trade.order_id,
        "ordertype": trade.ordertype,
        "pair": pair.wsname,
        "postxid": trade.postxid or POSITION_PLACEHOLDER,
        "price": _avg(trade.price, pair),
        "time": fmt_time(trade.time),
        "type": trade.side,
        "vol": _vol(trade.volume),
    })
    return dict(sorted(body.items()))


def _same_pass(a: Trade, b: Trade) -> bool:
    """True when taker fills ``a`` then ``b`` come from one matching pass of one order (the
    exchange's ``sweep`` id; fills stored without one: same order at the same time)."""
    if a.maker or b.maker or a.order_id != b.order_id:
        return False
    if a.sweep or b.sweep:
        return a.sweep == b.sweep
    return a.time == b.time


def taker_groups(trades: list[Trade]) -> list[list[Trade]]:
    """``trades`` (oldest first) cut into what ``consolidate_taker`` shows as one entry each:
    the consecutive fills one taker order made in one matching pass form a group, every other
    fill is a group of its own. The same fills always give the same groups, whether they come
    in one list (a snapshot) or as the events of the operations that made them (live)."""
    groups: list[list[Trade]] = []
    for trade in trades:
        if groups and _same_pass(groups[-1][-1], trade):
            groups[-1].append(trade)
        else:
            groups.append([trade])
    return groups


def merge_fills(group: list[Trade]) -> Trade:
    """One trade for a group of :func:`taker_groups`: volumes, costs and fees add up, the price
    is the volume-weighted average, and the merged trade keeps the first fill's id and time."""
    first = group[0]
    if len(group) == 1:
        return first
    volume = sum((t.volume for t in group), ZERO)
    cost = sum((t.cost for t in group), ZERO)
    return Trade(
        id=first.id, order_id=first.order_id, account_id=first.account_id, pair=first.pair,
        side=first.side, ordertype=first.ordertype,
        price=cost / volume if volume else first.price, volume=volume, cost=cost,
        fee=sum((t.fee for t in group), ZERO), fee_asset=first.fee_asset, time=first.time,
        maker=False, trade_id=first.trade_id, postxid=first.postxid, sweep=first.sweep)


def consolidate_taker(trades: list[Trade]) -> list[Trade]:
    """Merge the fills one taker order made in one matching pass into one trade
    (``consolidate_taker``, see :func:`taker_groups` and :func:`merge_fills`). Maker fills
    pass through unchanged."""
    return [merge_fills(group) for group in taker_groups(trades)]


def edit_order_descr(order: Order, price_given: bool) -> str:
    """``descr`` of an ``editOrderStatus`` reply. Kraken's documented reply to an edit of the
    price is ``"order edited price = 9000.00000000"`` (the new price with 8 decimals); edits
    that leave the price alone (Kraken shows no example) describe the new order as
    :func:`add_order_descr` does."""
    if price_given and order.price is not None:
        return f"order edited price = {fmt_decimal(order.price, VOLUME_PLACES)}"
    return add_order_descr(order, None)


def add_order_descr(order: Order, price_text: str | None) -> str:
    """``descr`` of an ``addOrderStatus`` reply, as Kraken writes it: REST altname and the
    price as the client gave it, e.g. ``"buy 0.01770000 XBTUSD @ limit 4000"``."""
    pair = pair_of(order.pair)
    text = f"{order.side} {_vol(order.volume)} {pair.altname} @ {order.ordertype}"
    if order.ordertype != "market":
        shown = price_text if price_text else _px(order.price, pair)
        text += f" {shown}"
    return text
