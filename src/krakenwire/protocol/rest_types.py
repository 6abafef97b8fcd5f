"""Typed views of Kraken REST results (kraken-protocol.md §1.7, §7), money as Decimal.

Each type is built from the raw result with ``from_raw`` and keeps the raw dict in ``raw``
(hidden from ``repr``) so nothing Kraken sent is lost. Pure.

Raises (every ``from_raw``): :class:`~krakenwire.errors.ProtocolError` when a required field is
missing or not a number where a number is expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from krakenwire.errors import ProtocolError

__all__ = [
    "AddOrderResult",
    "BalanceEx",
    "CancelAllAfterResult",
    "OrderInfo",
    "ServerTime",
    "SystemStatus",
    "Ticker",
    "to_decimal",
]


def to_decimal(value: Any, what: str = "value") -> Decimal:
    """Convert Kraken's decimal string (or JSON number) to :class:`Decimal` exactly.

    Raises:
        ProtocolError: if ``value`` is not a decimal number.
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ProtocolError(f"{what} is not a decimal number")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise ProtocolError(f"{what} is not a decimal number") from None
    if not result.is_finite():
        raise ProtocolError(f"{what} is not a finite number")
    return result


def _opt_decimal(value: Any, what: str) -> Decimal | None:
    return None if value is None or value == "" else to_decimal(value, what)


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ProtocolError(f"{what} is not an object")
    return value


@dataclass(frozen=True, slots=True)
class ServerTime:
    """``Time``: server time as Unix seconds and Kraken's RFC 1123 text."""

    unixtime: int
    rfc1123: str

    @classmethod
    def from_raw(cls, raw: Any) -> ServerTime:
        """Build from the ``Time`` result."""
        data = _mapping(raw, "Time result")
        try:
            return cls(int(data["unixtime"]), str(data.get("rfc1123", "")))
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("Time result has no integer unixtime") from None


@dataclass(frozen=True, slots=True)
class SystemStatus:
    """``SystemStatus``: ``online|maintenance|cancel_only|post_only`` and its timestamp."""

    status: str
    timestamp: str

    @classmethod
    def from_raw(cls, raw: Any) -> SystemStatus:
        """Build from the ``SystemStatus`` result."""
        data = _mapping(raw, "SystemStatus result")
        if "status" not in data:
            raise ProtocolError("SystemStatus result has no status")
        return cls(str(data["status"]), str(data.get("timestamp", "")))


@dataclass(frozen=True, slots=True)
class Ticker:
    """One pair of a ``Ticker`` result: best ask/bid, last trade price, volumes (Decimal)."""

    pair: str
    ask: Decimal
    bid: Decimal
    last: Decimal
    volume_today: Decimal
    volume_24h: Decimal
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, pair: str, raw: Any) -> Ticker:
        """Build from one entry of the ``Ticker`` result."""
        data = _mapping(raw, f"Ticker {pair}")
        try:
            return cls(pair, to_decimal(data["a"][0], "ask"), to_decimal(data["b"][0], "bid"),
                       to_decimal(data["c"][0], "last"), to_decimal(data["v"][0], "volume"),
                       to_decimal(data["v"][1], "volume"), data)
        except (KeyError, IndexError, TypeError):
            raise ProtocolError(f"Ticker {pair} lacks a, b, c or v") from None


@dataclass(frozen=True, slots=True)
class BalanceEx:
    """One asset of ``BalanceEx``: total balance and the amount held by open orders."""

    balance: Decimal
    hold_trade: Decimal
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def available(self) -> Decimal:
        """``balance - hold_trade``."""
        return self.balance - self.hold_trade

    @classmethod
    def from_raw(cls, raw: Any) -> BalanceEx:
        """Build from one entry of the ``BalanceEx`` result."""
        data = _mapping(raw, "BalanceEx entry")
        if "balance" not in data:
            raise ProtocolError("BalanceEx entry has no balance")
        return cls(to_decimal(data["balance"], "balance"),
                   to_decimal(data.get("hold_trade", "0"), "hold_trade"), data)


@dataclass(frozen=True, slots=True)
class OrderInfo:
    """One order of ``OpenOrders`` / ``ClosedOrders`` / ``QueryOrders``.

    ``price`` is the order's limit price from ``descr`` (None for market orders); ``avg_price``
    the average fill price (``price`` field); volumes and cost are Decimal.
    """

    txid: str
    status: str
    pair: str | None
    side: str | None
    ordertype: str | None
    price: Decimal | None
    volume: Decimal
    volume_executed: Decimal
    cost: Decimal | None
    avg_price: Decimal | None
    cl_ord_id: str | None
    userref: int | None
    opentm: Decimal | None
    closetm: Decimal | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, txid: str, raw: Any) -> OrderInfo:
        """Build from one ``txid -> order`` entry."""
        data = _mapping(raw, f"order {txid}")
        descr = data.get("descr") or {}
        if not isinstance(descr, Mapping):
            descr = {}
        userref = data.get("userref")
        try:
            return cls(
                txid=txid,
                status=str(data["status"]),
                pair=descr.get("pair"),
                side=descr.get("type"),
                ordertype=descr.get("ordertype"),
                price=_opt_decimal(descr.get("price"), "descr.price"),
                volume=to_decimal(data["vol"], "vol"),
                volume_executed=to_decimal(data.get("vol_exec", "0"), "vol_exec"),
                cost=_opt_decimal(data.get("cost"), "cost"),
                avg_price=_opt_decimal(data.get("price"), "price"),
                cl_ord_id=data.get("cl_ord_id") or None,
                userref=int(userref) if userref not in (None, "") else None,
                opentm=_opt_decimal(data.get("opentm"), "opentm"),
                closetm=_opt_decimal(data.get("closetm"), "closetm"),
                raw=data,
            )
        except KeyError as exc:
            raise ProtocolError(f"order {txid} has no {exc.args[0]}") from None
        except (TypeError, ValueError):
            raise ProtocolError(f"order {txid} has a malformed userref") from None


@dataclass(frozen=True, slots=True)
class AddOrderResult:
    """``AddOrder``: the new order ids (empty with ``validate``), description and cl_ord_id."""

    txids: tuple[str, ...]
    description: str | None
    cl_ord_id: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def txid(self) -> str | None:
        """The first (usually only) order id, or None."""
        return self.txids[0] if self.txids else None

    @classmethod
    def from_raw(cls, raw: Any, cl_ord_id: str | None) -> AddOrderResult:
        """Build from the ``AddOrder`` result."""
        data = _mapping(raw, "AddOrder result")
        txids = data.get("txid") or []
        if isinstance(txids, str):
            txids = [txids]
        descr = data.get("descr") or {}
        order = descr.get("order") if isinstance(descr, Mapping) else None
        return cls(tuple(str(t) for t in txids), order, cl_ord_id, data)


@dataclass(frozen=True, slots=True)
class CancelAllAfterResult:
    """``CancelAllOrdersAfter``: server time now and when the switch fires (``"0"``: off)."""

    current_time: str
    trigger_time: str

    @classmethod
    def from_raw(cls, raw: Any) -> CancelAllAfterResult:
        """Build from the ``CancelAllOrdersAfter`` result."""
        data = _mapping(raw, "CancelAllOrdersAfter result")
        if "currentTime" not in data:
            raise ProtocolError("CancelAllOrdersAfter result has no currentTime")
        return cls(str(data["currentTime"]), str(data.get("triggerTime", "")))
