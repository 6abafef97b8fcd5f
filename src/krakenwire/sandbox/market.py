"""The sandbox's simulated market: seeded liquidity around a random-walk price. Pure.

Two real accounts of the exchange trade here, so every asset stays conserved:

* :data:`MAKER_ACCOUNT` keeps a ladder of resting limit orders on both sides of a mid price
  (``levels`` a side, the first ``half_spread_bps`` from the mid, then every
  ``level_step_bps``), on a fixed price grid so that a small move only replaces the levels that
  left the ladder. When the mid moves down, its new asks cross resting user bids, which fill
  (the user is the maker); the same the other way round.
* :data:`TAKER_ACCOUNT` sends small market orders at random (``trades_per_s`` a pair), so the
  tape moves, the last price follows the mid and stop / take-profit orders trigger.

The mid follows a seeded geometric random walk: every :meth:`Market.tick` multiplies it by
``exp(σ·√dt·z)`` with σ = ``volatility_bps`` / 10 000 per √second (dt capped at
``max_step_s``). The default speed (4 bp/√s, about four times a busy real BTC/USD) lets a
demo see a limit order placed at the best bid fill within a few seconds on the ~4 Hz real
clock. :meth:`Market.set_price` moves the mid at once (tests, demos).
"""

from __future__ import annotations

import contextlib
import math
import random
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from krakenwire.protocol.naming import ASSETS, Pair
from krakenwire.sandbox.exchange import ExchangeError
from krakenwire.sandbox.model import OrderRequest, Side

if TYPE_CHECKING:
    from krakenwire.sandbox.exchange import Exchange

__all__ = ["MAKER_ACCOUNT", "TAKER_ACCOUNT", "Market", "MarketSettings"]

MAKER_ACCOUNT = "market-maker"
"""Id of the simulated liquidity provider's account."""
TAKER_ACCOUNT = "market-taker"
"""Id of the simulated noise trader's account."""

_FUNDING = Decimal(1_000_000_000)


@dataclass(slots=True)
class MarketSettings:
    """How the simulated market behaves (all per pair).

    ``volatility_bps``: standard deviation of the mid's move per √second, in basis points.
    ``half_spread_bps`` / ``level_step_bps`` / ``levels``: the maker's ladder.
    ``level_lots``: volume of the best ladder level in multiples of the pair's ``ordermin``
    (randomised ±50 %); each further level holds ``level_growth`` times more (so the default
    book holds ~14 BTC a side on BTC/USD and a large market order still finds a price).
    ``trades_per_s``: mean rate of the noise trader's market orders;
    ``trade_lots`` their largest size in ``ordermin`` multiples. ``max_step_s``: the longest
    time step the walk takes at once (a long pause does not make a huge jump).
    """

    volatility_bps: float = 4.0
    half_spread_bps: float = 2.0
    level_step_bps: float = 3.0
    levels: int = 12
    level_lots: int = 2000
    level_growth: float = 1.4
    trades_per_s: float = 2.0
    trade_lots: int = 1000
    max_step_s: float = 5.0


class Market:
    """Drives :data:`MAKER_ACCOUNT` and :data:`TAKER_ACCOUNT` in ``exchange``.

    Created by :class:`~krakenwire.sandbox.exchange.Exchange` when it runs with ``market=True``;
    it places the first ladders at once, so market orders find a price before the first tick.
    """

    def __init__(self, exchange: Exchange, settings: MarketSettings | None = None) -> None:
        self.exchange = exchange
        self.settings = settings or MarketSettings()
        self._rng = random.Random(f"krakenwire-market:{exchange.seed}")
        self.mid: dict[str, Decimal] = {p.id: p.start_price for p in exchange.pairs.values()}
        self._last_tick: float | None = None
        self._setup_accounts()
        self.refresh_all()

    # ------------------------------------------------------------------ setup
    def _setup_accounts(self) -> None:
        ex = self.exchange
        for aid in (MAKER_ACCOUNT, TAKER_ACCOUNT):
            ex.keep_no_history(aid)
            if aid not in {a.id for a in ex.accounts()}:
                assets = {p.base for p in ex.pairs.values()} | {p.quote for p in ex.pairs.values()}
                ex.create_account({a: _FUNDING for a in sorted(assets) if a in ASSETS}, aid)

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state (the mids) for :meth:`restore` after a restart."""
        return {"mid": {k: str(v) for k, v in self.mid.items()}}

    def restore(self, state: Any) -> None:
        """Take the mids back from :meth:`state` output (or the last prices when there is
        none), make sure the market's accounts exist, and rebuild the ladders."""
        ex = self.exchange
        mids = state.get("mid", {}) if isinstance(state, dict) else {}
        for pid in ex.pairs:
            if pid in mids:
                self.mid[pid] = Decimal(mids[pid])
            else:
                self.mid[pid] = ex.last_price(pid)
        self._rng = random.Random(f"krakenwire-market:{ex.seed}:{sorted(mids.items())}")
        self._setup_accounts()
        self._last_tick = None
        self.refresh_all()

    # ------------------------------------------------------------------ moves
    def set_price(self, pair_id: str, price: Decimal, *, trade: bool = True) -> None:
        """Move the mid of ``pair_id`` to ``price`` now and rebuild its ladder (so crossed
        user orders fill at once); with ``trade`` a small trade prints near the new price so
        the last price follows (stop / take-profit triggers)."""
        pair = self.exchange.pairs[pair_id]
        self.mid[pair_id] = price
        self.refresh(pair)
        if trade:
            self._noise_trade(pair)

    def tick(self, now: float) -> None:
        """Advance the walk to ``now``, refresh every ladder and let the noise trader trade."""
        last = self._last_tick
        self._last_tick = now
        if last is None:
            self.refresh_all()
            return
        dt = min(max(now - last, 0.0), self.settings.max_step_s)
        if dt <= 0:
            return
        sigma = self.settings.volatility_bps / 10_000.0 * math.sqrt(dt)
        for pair in self.exchange.pairs.values():
            z = self._rng.gauss(0.0, 1.0)
            factor = Decimal(repr(round(math.exp(sigma * z), 12)))
            self.mid[pair.id] = max(self.mid[pair.id] * factor, pair.tick_size * 100)
            self.refresh(pair)
            if self._rng.random() < self.settings.trades_per_s * dt:
                self._noise_trade(pair)

    # ----------------------------------------------------------------- ladder
    def _ladder(self, pair: Pair) -> tuple[list[Decimal], list[Decimal]]:
        """Desired bid and ask prices, on the grid, best first."""
        s = self.settings
        mid = self.mid[pair.id]
        tick = pair.tick_size
        step = max((mid * Decimal(repr(s.level_step_bps)) / 10_000 / tick)
                   .to_integral_value(ROUND_CEILING), Decimal(1)) * tick
        hs = mid * Decimal(repr(s.half_spread_bps)) / 10_000
        top_bid = ((mid - hs) / step).to_integral_value(ROUND_FLOOR) * step
        top_ask = ((mid + hs) / step).to_integral_value(ROUND_CEILING) * step
        if top_ask <= top_bid:
            top_ask = top_bid + step
        bids = [top_bid - i * step for i in range(s.levels) if top_bid - i * step > 0]
        asks = [top_ask + i * step for i in range(s.levels)]
        q = Decimal(1).scaleb(-pair.pair_decimals)
        return ([b.quantize(q, ROUND_HALF_EVEN) for b in bids],
                [a.quantize(q, ROUND_HALF_EVEN) for a in asks])

    def refresh_all(self) -> None:
        """Rebuild every pair's ladder around its current mid."""
        for pair in self.exchange.pairs.values():
            self.refresh(pair)

    def refresh(self, pair: Pair) -> None:
        """Cancel the maker's orders of ``pair`` that left the ladder, then place the missing
        levels (cancels first, so no new order meets a stale one)."""
        ex = self.exchange
        bids, asks = self._ladder(pair)
        want = {("buy", p) for p in bids} | {("sell", p) for p in asks}
        have: set[tuple[str, Decimal]] = set()
        stale = []
        for o in ex.open_orders(MAKER_ACCOUNT):
            if o.pair != pair.id:
                continue
            key = (o.side, o.price if o.price is not None else Decimal(0))
            if key in want and key not in have:
                have.add(key)
            else:
                stale.append(o)
        for o in stale:
            ex.cancel_order(MAKER_ACCOUNT, o.id)
        lot = Decimal(1).scaleb(-pair.lot_decimals)
        sides: tuple[tuple[Side, list[Decimal]], ...] = (("sell", asks), ("buy", bids))
        growth = Decimal(repr(self.settings.level_growth))
        for side, prices in sides:
            for i, price in enumerate(prices):
                if (side, price) in have:
                    continue
                size = pair.ordermin * self.settings.level_lots * growth ** i
                vol = (size * Decimal(repr(0.5 + self._rng.random()))).quantize(
                    lot, ROUND_HALF_EVEN)
                vol = max(vol, pair.ordermin)
                if vol * price < pair.costmin:
                    vol = (pair.costmin / price).quantize(lot, ROUND_CEILING) + lot
                try:
                    ex.add_order(MAKER_ACCOUNT, OrderRequest(
                        pair=pair.id, side=side, ordertype="limit",
                        volume=vol, price=price, stp_type="cancel-oldest"))
                except ExchangeError:  # e.g. out of funds after a huge move: skip the level
                    continue

    def _noise_trade(self, pair: Pair) -> None:
        """One small market order by the noise trader (random side)."""
        s = self.settings
        lot = Decimal(1).scaleb(-pair.lot_decimals)
        side: Side = "buy" if self._rng.random() < 0.5 else "sell"
        vol = (pair.ordermin * self._rng.randint(1, max(1, s.trade_lots))).quantize(
            lot, ROUND_HALF_EVEN)
        price = self.exchange.last_price(pair.id)
        if vol * price < pair.costmin:
            vol = (pair.costmin / price).quantize(lot, ROUND_CEILING) * 2
        with contextlib.suppress(ExchangeError):  # an empty book side: no trade this time
            self.exchange.add_order(TAKER_ACCOUNT, OrderRequest(
                pair=pair.id, side=side, ordertype="market", volume=vol))
