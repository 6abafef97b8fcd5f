"""Kraken REST result shapes for sandbox objects (pure): numbers as strings with Kraken's
decimals, order ``descr`` strings, order / trade / pair / asset objects.

Formats follow kraken-protocol.md §1.7 and §7: volumes with the pair's ``lot_decimals``, prices
in ``descr`` with ``pair_decimals``, amounts (cost, fee, average price) with ``cost_decimals``,
balances with the asset's ``decimals``, ``opentm``/``closetm``/trade ``time`` as JSON numbers.
"""

from __future__ import annotations

import math
import time as _time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from krakenwire.protocol.naming import ASSETS, PAIRS, Asset, Pair
from krakenwire.sandbox.model import Order, PublicTrade, Trade
from krakenwire.sandbox.v1_frames import POSITION_PLACEHOLDER

__all__ = [
    "asset_info",
    "fmt",
    "iso_seconds",
    "order_descr",
    "order_info",
    "pair_info",
    "public_trade_row",
    "rfc1123",
    "trade_info",
]

ZERO: Final = Decimal(0)
_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                  "Dec")
_TYPE_WORDS: Final = {
    "stop-loss": "stop loss",
    "take-profit": "take profit",
    "stop-loss-limit": "stop loss",
    "take-profit-limit": "take profit",
}


def fmt(value: Decimal | None, places: int) -> str:
    """``value`` with exactly ``places`` decimals (None counts as 0)."""
    return f"{(ZERO if value is None else value):.{places}f}"


def price_str(pair: Pair, value: Decimal | None) -> str:
    """A price as ``descr`` shows it: the pair's decimals, or ``"0"`` when there is none."""
    return "0" if value is None else fmt(value, pair.pair_decimals)


def rfc1123(now: float) -> str:
    """Kraken's ``Time.rfc1123``: 2-digit year, zero-padded day, as Kraken's Get Server Time
    example shows (``"Thu, 06 Jul 23 18:50:48 +0000"``)."""
    t = _time.gmtime(now)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year % 100:02d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000")


def iso_seconds(when: float, *, round_up: bool = False) -> str:
    """``2023-03-24T17:41:56Z`` (second precision, optionally rounded up)."""
    secs = math.ceil(when) if round_up else math.floor(when)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_micro(when: float) -> str:
    """``2021-03-22T17:18:03.123456Z``."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def order_descr(order: Order, pair: Pair, *, by_id: bool = False) -> str:
    """Kraken's order description, e.g. ``buy 1.25000000 XBTUSD @ limit 37500.0``: the pair's
    altname, or with ``by_id`` its REST id (EditOrder's example: ``buy 0.00030000 XXBTZGBP @
    limit 19500.0``)."""
    name = pair.id if by_id else pair.altname
    head = f"{order.side} {fmt(order.volume, pair.lot_decimals)} {name} @ "
    if order.ordertype == "market":
        return head + "market"
    if order.ordertype == "limit":
        return head + f"limit {price_str(pair, order.price)}"
    words = _TYPE_WORDS[order.ordertype]
    text = head + f"{words} {price_str(pair, order.price)}"
    if order.ordertype.endswith("-limit"):
        text += f" -> limit {price_str(pair, order.price2)}"
    return text


def oflags(order: Order) -> str:
    """The order's ``oflags`` string (``post,fciq``, ``fcib``, ...)."""
    flags = []
    if order.post_only:
        flags.append("post")
    flags.append("fcib" if order.fee_in_base else "fciq")
    if order.cash_order_qty is not None:
        flags.append("viqc")
    return ",".join(flags)


def _num(value: float | None) -> float | int:
    return 0 if value is None else round(value, 4)


def order_info(order: Order, trade_ids: list[str] | None = None) -> dict[str, Any]:
    """The REST order object of OpenOrders / ClosedOrders / QueryOrders."""
    pair = PAIRS[order.pair]
    cd = pair.cost_decimals
    info: dict[str, Any] = {
        "refid": order.refid,
        # Kraken: 0 when the order has no reference, null when it carries a cl_ord_id instead
        # (ccxt's recorded OpenOrders entry of an order placed with cl_ord_id "1234")
        "userref": (order.userref if order.userref is not None
                    else None if order.cl_ord_id is not None else 0),
        "cl_ord_id": order.cl_ord_id,
        "status": order.status,
        "opentm": _num(order.opentm),
        "starttm": _num(order.starttm),
        "expiretm": _num(order.expiretm),
        "descr": {
            "pair": pair.altname,
            "type": order.side,
            "ordertype": order.ordertype,
            "price": price_str(pair, order.price),
            "price2": price_str(pair, order.price2),
            "leverage": "none",
            "order": order_descr(order, pair),
            "close": "",
        },
        "vol": fmt(order.volume, pair.lot_decimals),
        "vol_exec": fmt(order.vol_exec, pair.lot_decimals),
        "cost": fmt(order.cost, cd),
        "fee": fmt(order.fee, cd),
        "price": fmt(order.avg_price, cd),
        "stopprice": fmt(order.price if order.ordertype not in ("market", "limit") else None, cd),
        "limitprice": fmt(order.price2 if order.ordertype.endswith("-limit") else None, cd),
        "misc": "stopped" if order.triggered else "",
        "oflags": oflags(order),
        "timeinforce": order.timeinforce,
    }
    if order.ordertype not in ("market", "limit"):
        info["trigger"] = order.trigger  # Kraken's ClosedOrders example: "trigger": "index"
    if order.amended:
        info["amended"] = True
    if order.status in ("closed", "canceled", "expired"):
        info["closetm"] = _num(order.closetm)
        info["reason"] = order.reason
    if trade_ids:
        info["trades"] = trade_ids
    return info


def trade_info(trade: Trade) -> dict[str, Any]:
    """The REST trade object of TradesHistory / QueryTrades."""
    pair = PAIRS[trade.pair]
    cd = pair.cost_decimals
    return {
        "ordertxid": trade.order_id,
        # Kraken's TradesHistory example: spot trades carry "postxid": "TKH2SE-M7IF5-CFI7LT"
        "postxid": trade.postxid or POSITION_PLACEHOLDER,
        "pair": trade.pair,
        "time": trade.time,
        "type": trade.side,
        "ordertype": trade.ordertype,
        "price": fmt(trade.price, cd),
        "cost": fmt(trade.cost, cd),
        "fee": fmt(trade.fee, cd),
        "vol": fmt(trade.volume, pair.lot_decimals),
        "margin": fmt(ZERO, cd),
        "leverage": "0",
        "misc": "",
        "trade_id": trade.trade_id,
        "maker": trade.maker,
    }


def public_trade_row(pair: Pair, t: PublicTrade) -> list[Any]:
    """One row of public ``Trades``: ``[price, volume, time, "b"|"s", "m"|"l", misc, id]``,
    the price with the pair's ``cost_decimals`` as Kraken's example (``"30243.40000"``)."""
    return [fmt(t.price, pair.cost_decimals), fmt(t.volume, pair.lot_decimals), t.time,
            "b" if t.side == "buy" else "s", "m" if t.ordertype == "market" else "l", t.misc,
            t.trade_id]


def _fee_table(table: tuple[tuple[int, Decimal], ...]) -> list[list[float | int]]:
    return [[volume, float(pct)] for volume, pct in table]


def pair_info(pair: Pair, info: str = "info") -> dict[str, Any]:
    """The AssetPairs object of ``pair`` (``info`` = info | leverage | fees | margin)."""
    fees = {"fees": _fee_table(pair.fees), "fees_maker": _fee_table(pair.fees_maker),
            "fee_volume_currency": "ZUSD"}
    if info == "fees":
        return fees
    if info == "leverage":
        return {"leverage_buy": [], "leverage_sell": []}
    if info == "margin":
        return {"margin_call": 80, "margin_stop": 40}
    return {
        "altname": pair.altname,
        "wsname": pair.wsname,
        "aclass_base": ASSETS[pair.base].aclass,
        "base": pair.base,
        "aclass_quote": ASSETS[pair.quote].aclass,
        "quote": pair.quote,
        "lot": "unit",
        "cost_decimals": pair.cost_decimals,
        "pair_decimals": pair.pair_decimals,
        "lot_decimals": pair.lot_decimals,
        "lot_multiplier": 1,
        "leverage_buy": [],
        "leverage_sell": [],
        **fees,
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": str(pair.ordermin),
        "costmin": str(pair.costmin),
        "tick_size": str(pair.tick_size),
        "status": pair.status,
    }


def asset_info(asset: Asset) -> dict[str, Any]:
    """The Assets object of ``asset``."""
    return {
        "aclass": asset.aclass,
        "altname": asset.altname,
        "decimals": asset.decimals,
        "display_decimals": asset.display_decimals,
        "collateral_value": 1.0,
        "status": "enabled",
    }
