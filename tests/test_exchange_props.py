"""Property tests of the exchange core over random order streams (hypothesis).

Invariants checked after every step: no asset created or destroyed (the sum over all
accounts, fee account included, is constant), no balance negative, holds never negative nor
above the balance and equal to what the open orders hold, no order filled beyond its volume,
fills add up to each order's executed volume, the book never crossed after matching.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal as D

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from krakenwire.clock import ManualClock
from krakenwire.sandbox.exchange import Exchange, ExchangeError
from krakenwire.sandbox.market import MarketSettings
from krakenwire.sandbox.model import Account, LedgerEntry, Order, OrderEvent, OrderRequest, Trade

T0 = 1_700_000_000.0
PAIRS = ["XXBTZUSD", "XETHXXBT"]
ACCOUNTS = ["a", "b", "c"]

accounts = st.sampled_from(ACCOUNTS)
pairs = st.sampled_from(PAIRS)
sides = st.sampled_from(["buy", "sell"])
# offsets in ticks from the pair's start price, and volumes in multiples of ordermin
offsets = st.integers(min_value=-40, max_value=40)
lots = st.integers(min_value=1, max_value=4000)
odd_lots = st.integers(min_value=100_000, max_value=4_000_000_000)  # 8-decimal volumes


class ExchangeMachine(RuleBasedStateMachine):
    """Random streams of orders, cancels, amends, edits and ticks over a few accounts."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(T0)
        self.ex: Exchange
        self.start: dict[str, D] = {}
        self.known: list[Order] = []
        self.history: dict[str, list[str]] = {}
        self.stored_accounts: dict[str, Account] = {}
        self.stored_orders: dict[str, Order] = {}
        self.stored_trades: list[Trade] = []
        self.stored_ledger: list[LedgerEntry] = []
        self.stored_counters: dict[str, object] = {}

    @initialize(with_market=st.booleans(), seed=st.integers(0, 3),
                tight=st.booleans())
    def setup(self, with_market: bool, seed: int, tight: bool) -> None:
        self.ex = Exchange(self.clock, seed=seed, market=with_market,
                           market_settings=MarketSettings(levels=4, volatility_bps=20.0))
        for name in ACCOUNTS:
            if tight:  # small balances: exercises insufficient funds and rounding at the edge
                self.ex.create_account({"ZUSD": D("1234.5678"), "XXBT": D("0.0312345678"),
                                        "XETH": D("0.7")}, name)
            else:
                self.ex.create_account({"ZUSD": D(200_000), "XXBT": D(5), "XETH": D(60)}, name)
        self.start = self._totals()
        self.persist()

    def _totals(self) -> dict[str, D]:
        out: dict[str, D] = {}
        for a in self.ex.accounts():
            for asset, amount in a.balances.items():
                out[asset] = out.get(asset, D(0)) + amount
        return {k: v for k, v in out.items() if v}

    def _price(self, pair_id: str, offset: int) -> D:
        p = self.ex.pairs[pair_id]
        base = self.ex.last_price(pair_id)
        return max(base.quantize(p.tick_size) + offset * p.tick_size * 10, p.tick_size)

    def _add(self, account: str, req: OrderRequest) -> None:
        try:
            o = self.ex.add_order(account, req)
        except ExchangeError:
            return
        self.known.append(o)

    @rule(account=accounts, pair=pairs, side=sides, offset=offsets, n=lots,
          post=st.booleans(), fcib=st.booleans(),
          tif=st.sampled_from(["GTC", "GTC", "IOC", "FOK"]),
          stp=st.sampled_from(["cancel-newest", "cancel-oldest", "cancel-both"]))
    def limit(self, account: str, pair: str, side: str, offset: int, n: int, post: bool,
              fcib: bool, tif: str, stp: str) -> None:
        p = self.ex.pairs[pair]
        self._add(account, OrderRequest(
            pair=pair, side=side, ordertype="limit", volume=p.ordermin * n,  # type: ignore[arg-type]
            price=self._price(pair, offset), post_only=post and tif == "GTC",
            fee_in_base=fcib, timeinforce=tif, stp_type=stp))  # type: ignore[arg-type]

    @rule(account=accounts, pair=pairs, side=sides, v=odd_lots, fcib=st.booleans())
    def market(self, account: str, pair: str, side: str, v: int, fcib: bool) -> None:
        vol = D(v).scaleb(-8) / 100
        self._add(account, OrderRequest(pair=pair, side=side, ordertype="market",  # type: ignore[arg-type]
                                        volume=vol, fee_in_base=fcib))

    @rule(account=accounts, side=sides, offset=offsets, n=lots,
          kind=st.sampled_from(["stop-loss", "take-profit", "stop-loss-limit",
                                "take-profit-limit"]))
    def trigger(self, account: str, side: str, offset: int, n: int, kind: str) -> None:
        pair = "XXBTZUSD"
        p = self.ex.pairs[pair]
        self._add(account, OrderRequest(
            pair=pair, side=side, ordertype=kind, volume=p.ordermin * n,  # type: ignore[arg-type]
            price=self._price(pair, offset), price2=self._price(pair, offset // 2)))

    @rule(account=accounts, i=st.integers(0, 200))
    def cancel(self, account: str, i: int) -> None:
        open_ = self.ex.open_orders(account)
        if open_:
            self.ex.cancel_order(account, open_[i % len(open_)].id)

    @rule(account=accounts, i=st.integers(0, 200), n=st.integers(0, 4000),
          offset=st.one_of(st.none(), offsets))
    def amend(self, account: str, i: int, n: int, offset: int | None) -> None:
        open_ = self.ex.open_orders(account)
        if not open_:
            return
        o = open_[i % len(open_)]
        p = self.ex.pairs[o.pair]
        price = None
        if offset is not None and o.ordertype == "limit":
            price = self._price(o.pair, offset)
        with contextlib.suppress(ExchangeError):
            self.ex.amend_order(account, order_id=o.id, volume=p.ordermin * n if n else None,
                                price=price)

    @rule(account=accounts, i=st.integers(0, 200), n=st.integers(1, 4000), offset=offsets)
    def edit(self, account: str, i: int, n: int, offset: int) -> None:
        open_ = [o for o in self.ex.open_orders(account) if o.ordertype == "limit"]
        if not open_:
            return
        o = open_[i % len(open_)]
        p = self.ex.pairs[o.pair]
        try:
            new, _ = self.ex.edit_order(account, o.id, volume=o.vol_exec + p.ordermin * n,
                                        price=self._price(o.pair, offset))
        except ExchangeError:
            return
        self.known.append(new)

    @rule(account=accounts)
    def cancel_all(self, account: str) -> None:
        self.ex.cancel_all(account)

    @rule(seconds=st.sampled_from([0.25, 1.0, 5.0, 30.0]))
    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.ex.tick()

    @rule(pair=pairs, move=st.integers(-300, 300))
    def set_price(self, pair: str, move: int) -> None:
        if self.ex.market is None:
            return
        p = self.ex.pairs[pair]
        price = self.ex.last_price(pair) * (1 + D(move) / 10_000)
        self.ex.set_price(pair, price.quantize(p.tick_size))

    @rule()
    def persist(self) -> None:
        """What the store does: keep copies of everything drain_changes reports."""
        ch = self.ex.drain_changes()
        self.stored_accounts.update(ch.accounts)
        for oid, o in ch.orders.items():
            self.stored_orders[oid] = Order(**{f: getattr(o, f) for f in o.__dataclass_fields__})
        self.stored_trades.extend(ch.trades)
        self.stored_ledger.extend(ch.ledger)
        self.stored_counters = dict(ch.counters)

    @rule()
    def restart(self) -> None:
        """Persist, then rebuild a new exchange from the stored state only. The persist is not
        ``full``: like a kill -9 right after the last acknowledged operation, the simulated
        market's progress since its last persisted snapshot is lost, nothing else."""
        self.persist()
        self._record_events()
        before = self._totals()
        open_before = {a: sorted(o.id for o in self.ex.open_orders(a)) for a in ACCOUNTS}
        market = self.ex.market is not None
        self.ex = Exchange(self.clock, seed=self.ex.seed, market=market,
                           market_settings=MarketSettings(levels=4, volatility_bps=20.0))
        self.ex.drain_events()
        self.ex.load(self.stored_accounts.values(), self.stored_orders.values(),
                     self.stored_trades, self.stored_ledger, self.stored_counters)
        assert self._totals() == before
        for a in ACCOUNTS:
            if not market:  # with a market, restore may fill a user order at once
                assert sorted(o.id for o in self.ex.open_orders(a)) == open_before[a]
        self.known = [self.ex.order(o.account_id, o.id) or o for o in self.known]

    def _record_events(self) -> None:
        for e in self.ex.drain_events():
            if isinstance(e, OrderEvent):
                self.history.setdefault(e.order.id, []).append(e.exec_type)

    # ----------------------------------------------------------------- invariants
    @invariant()
    def conserved(self) -> None:
        if self.start:
            assert self._totals() == self.start

    @invariant()
    def conserved_on_disk(self) -> None:
        """The persisted image conserves every asset at all times (kill -9 at any moment)."""
        if self.start:
            out: dict[str, D] = {}
            for a in self.stored_accounts.values():
                for asset, amount in a.balances.items():
                    out[asset] = out.get(asset, D(0)) + amount
            assert {k: v for k, v in out.items() if v} == self.start

    @invariant()
    def balances_and_holds(self) -> None:
        if not self.start:
            return
        for a in self.ex.accounts():
            held: dict[str, D] = {}
            for o in self.ex.open_orders(a.id):
                if o.hold_asset is not None:
                    held[o.hold_asset] = held.get(o.hold_asset, D(0)) + o.hold_amount
            for asset, amount in a.balances.items():
                assert amount >= 0, (a.id, asset, amount)
            for asset, h in a.holds.items():
                assert 0 <= h <= a.balances.get(asset, D(0)), (a.id, asset, h)
                assert h == held.get(asset, D(0)), (a.id, asset, h, held)

    @invariant()
    def orders_never_overfill(self) -> None:
        for o in self.known:
            assert D(0) <= o.vol_exec <= o.volume, o
            if o.status == "closed":
                assert o.vol_exec == o.volume
            if o.id:
                fills = sum((t.volume for t in self.ex.trades(o.account_id)
                             if t.order_id == o.id), D(0))
                assert fills == o.vol_exec, o

    @invariant()
    def events_well_formed(self) -> None:
        """Per order: pending_new, then new, then trades / amends / trigger status, then at
        most one final filled / canceled / expired, nothing after it."""
        if not self.start:
            return
        self._record_events()
        final = {"filled", "canceled", "expired"}
        for oid, kinds in self.history.items():
            assert kinds[0] == "pending_new", (oid, kinds)
            body = kinds[1:]
            if body and body[0] == "new":
                body = body[1:]
            else:
                assert all(k in final for k in body), (oid, kinds)  # scheduled, then canceled
            for i, k in enumerate(body):
                assert k in ("trade", "amended", "status") or (k in final and i == len(body) - 1), (
                    oid, kinds)
            if body and body[-1] == "filled":
                assert "trade" in body, (oid, kinds)

    @invariant()
    def ledger_matches_balances(self) -> None:
        if not self.start:
            return
        for name in ACCOUNTS:
            sums: dict[str, D] = {}
            for e in self.ex.ledger(name):
                sums[e.asset] = sums.get(e.asset, D(0)) + e.amount - e.fee
                assert e.balance == sums[e.asset], e
            acct = self.ex.account(name)
            assert {k: v for k, v in sums.items() if v} == {
                k: v for k, v in acct.balances.items() if v}

    @invariant()
    def open_counts_exact(self) -> None:
        """The per-(account, pair) open-order count equals a scan of the open orders."""
        if not self.start:
            return
        for a in self.ex.accounts():
            for pid in self.ex.pairs:
                assert self.ex.open_count(a.id, pid) == sum(
                    1 for o in self.ex.open_orders(a.id) if o.pair == pid), (a.id, pid)

    @invariant()
    def book_not_crossed(self) -> None:
        if not self.start:
            return
        for pid in PAIRS:
            bid, ask = self.ex.best_bid_ask(pid)
            assert bid is None or ask is None or bid < ask, (pid, bid, ask)
            depth = self.ex.depth(pid, 0)
            for _, vol, _ in depth["bids"] + depth["asks"]:
                assert vol > 0


ExchangeMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestExchangeStreams = ExchangeMachine.TestCase
