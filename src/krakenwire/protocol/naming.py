"""Pairs and assets in each of Kraken's spellings (kraken-protocol.md §7, §8.7).

* REST: pair id ``XXBTZUSD`` or altname ``XBTUSD``; asset ids ``XXBT``, ``ZUSD``, ``SOL``.
* WS v1: ``wsname`` ``XBT/USD``.
* WS v2: symbol ``BTC/USD``; assets ``BTC``, ``USD``.

The table here is the sandbox's market and the client's name converter. Values follow Kraken's
published AssetPairs as closely as known (XBTUSD, ETHUSD, ETHXBT and SOLUSD decimals, ordermin,
costmin and tick_size as recorded from the live venue in 2026; XBTEUR mirrors XBTUSD; USDTUSD is
best knowledge); fees are Kraken's entry tier (0.40 % taker, 0.25 % maker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

__all__ = ["ASSETS", "PAIRS", "Asset", "Pair", "asset_by_any", "pair_by_any"]


@dataclass(frozen=True, slots=True)
class Asset:
    """One asset: REST id (``XXBT``), altname (``XBT``), WS v2 code (``BTC``) and decimals."""

    id: str
    altname: str
    v2: str
    decimals: int
    display_decimals: int
    aclass: str = "currency"


@dataclass(frozen=True, slots=True)
class Pair:
    """One tradable pair with its names and trading rules."""

    id: str  # REST pair id, e.g. XXBTZUSD
    altname: str  # REST altname, e.g. XBTUSD
    wsname: str  # WS v1 name, e.g. XBT/USD
    symbol: str  # WS v2 symbol, e.g. BTC/USD
    base: str  # base asset REST id
    quote: str  # quote asset REST id
    pair_decimals: int
    lot_decimals: int
    cost_decimals: int
    ordermin: Decimal
    costmin: Decimal
    tick_size: Decimal
    start_price: Decimal  # the sandbox market's starting mid price
    fees: tuple[tuple[int, Decimal], ...] = field(
        default=((0, Decimal("0.40")), (10000, Decimal("0.35")), (50000, Decimal("0.24")))
    )
    fees_maker: tuple[tuple[int, Decimal], ...] = field(
        default=((0, Decimal("0.25")), (10000, Decimal("0.20")), (50000, Decimal("0.14")))
    )
    status: str = "online"

    @property
    def taker_fee_pct(self) -> Decimal:
        """Entry-tier taker fee in percent."""
        return self.fees[0][1]

    @property
    def maker_fee_pct(self) -> Decimal:
        """Entry-tier maker fee in percent."""
        return self.fees_maker[0][1]


def _a(id: str, altname: str, v2: str, decimals: int, display: int) -> Asset:
    return Asset(id, altname, v2, decimals, display)


ASSETS: Final[dict[str, Asset]] = {
    a.id: a
    for a in (
        _a("XXBT", "XBT", "BTC", 10, 5),
        _a("XETH", "ETH", "ETH", 10, 5),
        _a("SOL", "SOL", "SOL", 10, 5),
        _a("USDT", "USDT", "USDT", 8, 4),
        _a("ZUSD", "USD", "USD", 4, 2),
        _a("ZEUR", "EUR", "EUR", 4, 2),
    )
}

D = Decimal

PAIRS: Final[dict[str, Pair]] = {
    p.id: p
    for p in (
        Pair("XXBTZUSD", "XBTUSD", "XBT/USD", "BTC/USD", "XXBT", "ZUSD", 1, 8, 5,
             D("0.00005"), D("0.5"), D("0.1"), D("60000.0")),
        Pair("XETHZUSD", "ETHUSD", "ETH/USD", "ETH/USD", "XETH", "ZUSD", 2, 8, 5,
             D("0.002"), D("0.5"), D("0.01"), D("3000.00")),
        Pair("XETHXXBT", "ETHXBT", "ETH/XBT", "ETH/BTC", "XETH", "XXBT", 6, 8, 10,
             D("0.001"), D("0.00002"), D("0.000001"), D("0.050000")),
        Pair("SOLUSD", "SOLUSD", "SOL/USD", "SOL/USD", "SOL", "ZUSD", 2, 8, 5,
             D("0.06"), D("0.5"), D("0.01"), D("150.00")),
        Pair("XXBTZEUR", "XBTEUR", "XBT/EUR", "BTC/EUR", "XXBT", "ZEUR", 1, 8, 5,
             D("0.00005"), D("0.5"), D("0.1"), D("55000.0")),
        Pair("USDTZUSD", "USDTUSD", "USDT/USD", "USDT/USD", "USDT", "ZUSD", 4, 8, 5,
             D("5"), D("0.5"), D("0.0001"), D("1.0000")),
    )
}

_PAIR_INDEX: Final[dict[str, Pair]] = {}
for _p in PAIRS.values():
    for _name in (_p.id, _p.altname, _p.wsname, _p.symbol):
        _PAIR_INDEX[_name.upper()] = _p

_ASSET_INDEX: Final[dict[str, Asset]] = {}
for _asset in ASSETS.values():
    for _name in (_asset.id, _asset.altname, _asset.v2):
        _ASSET_INDEX[_name.upper()] = _asset


def pair_by_any(name: str) -> Pair | None:
    """Look a pair up by REST id, altname, v1 wsname or v2 symbol (case-insensitive)."""
    return _PAIR_INDEX.get(name.upper())


def asset_by_any(name: str) -> Asset | None:
    """Look an asset up by REST id, altname or v2 code (case-insensitive)."""
    return _ASSET_INDEX.get(name.upper())
