"""The simulated market: ladders, random walk, fills over time, set_price, restart."""

from __future__ import annotations

from decimal import Decimal as D

from krakenwire.clock import ManualClock
from krakenwire.sandbox.exchange import Exchange
from krakenwire.sandbox.market import MAKER_ACCOUNT, TAKER_ACCOUNT, MarketSettings
from krakenwire.sandbox.model import Order, OrderRequest

T0 = 1_700_000_000.0
PAIR = "XXBTZUSD"


def make(seed: int = 1, settings: MarketSettings | None = None) -> tuple[Exchange, ManualClock]:
    clock = ManualClock(T0)
    ex = Exchange(clock, seed=seed, market_settings=settings)
    ex.create_account({"ZUSD": D(1_000_000), "XXBT": D(100), "XETH": D(1000), "SOL": D(10_000),
                       "ZEUR": D(1_000_000), "USDT": D(1_000_000)}, "user")
    ex.drain_events()
    ex.drain_changes()
    return ex, clock


def totals(ex: Exchange) -> dict[str, D]:
    out: dict[str, D] = {}
    for a in ex.accounts():
        for asset, amount in a.balances.items():
            out[asset] = out.get(asset, D(0)) + amount
    return out


def check_invariants(ex: Exchange) -> None:
    for a in ex.accounts():
        for asset, amount in a.balances.items():
            assert amount >= 0, (a.id, asset, amount)
            assert a.holds.get(asset, D(0)) <= amount, (a.id, asset)
        for asset, held in a.holds.items():
            assert held >= 0, (a.id, asset, held)
    for pid in ex.pairs:
        bid, ask = ex.best_bid_ask(pid)
        assert bid is None or ask is None or bid < ask, pid


def run(ex: Exchange, clock: ManualClock, seconds: float, until: Order | None = None) -> int:
    ticks = int(seconds * 4)
    for i in range(ticks):
        clock.advance(0.25)
        ex.tick()
        if until is not None and not until.is_open:
            return i + 1
    return ticks


def test_ladders_on_both_sides_of_every_pair() -> None:
    ex, _ = make()
    for pid, pair in ex.pairs.items():
        depth = ex.depth(pid, 0)
        assert len(depth["bids"]) == len(depth["asks"]) == 12, pid
        bid, ask = ex.best_bid_ask(pid)
        assert bid is not None and ask is not None and bid < pair.start_price < ask
        assert ask - bid <= pair.start_price * D("0.001")
    assert all(o.account_id == MAKER_ACCOUNT for o in ex.open_orders(MAKER_ACCOUNT))


def test_market_orders_always_find_a_price() -> None:
    ex, clock = make()
    for pid, pair in ex.pairs.items():
        vol = pair.ordermin * 10
        buy = ex.add_order("user", OrderRequest(pair=pid, side="buy", ordertype="market",
                                                volume=vol))
        sell = ex.add_order("user", OrderRequest(pair=pid, side="sell", ordertype="market",
                                                 volume=vol))
        assert buy.status == sell.status == "closed", pid
        assert buy.avg_price > sell.avg_price
    run(ex, clock, 5)
    check_invariants(ex)


def test_limit_order_at_the_best_bid_fills_within_seconds() -> None:
    fills = []
    for seed in range(1, 11):
        ex, clock = make(seed)
        bid, _ = ex.best_bid_ask(PAIR)
        assert bid is not None
        o = ex.add_order("user", OrderRequest(pair=PAIR, side="buy", ordertype="limit",
                                              volume=D("0.01"), price=bid))
        ticks = run(ex, clock, 60, until=o)
        if o.status == "closed":
            assert o.avg_price == bid  # the user is the maker at their own price
            assert ex.trades("user")[0].maker
            fills.append(ticks / 4)
    # at the default speed most demo orders fill within a few seconds (a random walk can
    # also wander off for a minute)
    assert len(fills) >= 6, fills
    assert sorted(fills)[len(fills) // 2] <= 10, fills


def test_walk_is_reproducible_per_seed_and_speed_is_a_setting() -> None:
    paths = []
    for seed in (7, 7, 8):
        ex, clock = make(seed)
        run(ex, clock, 20)
        paths.append(ex.market.mid[PAIR] if ex.market else None)
    assert paths[0] == paths[1] != paths[2]
    still, clock = make(7, MarketSettings(volatility_bps=0.0, trades_per_s=0.0))
    run(still, clock, 20)
    assert still.market is not None and still.market.mid[PAIR] == D("60000.0")
    fast, clock = make(7, MarketSettings(volatility_bps=40.0))
    run(fast, clock, 20)
    assert fast.market is not None
    slow_move = abs(paths[0] - D("60000.0")) if paths[0] is not None else D(0)
    assert abs(fast.market.mid[PAIR] - D("60000.0")) > slow_move


def test_set_price_fills_crossed_orders_and_triggers_stops() -> None:
    ex, _ = make(settings=MarketSettings(trades_per_s=0.0))
    sell = ex.add_order("user", OrderRequest(pair=PAIR, side="sell", ordertype="limit",
                                             volume=D("0.5"), price=D("61000.0")))
    stop = ex.add_order("user", OrderRequest(pair=PAIR, side="sell", ordertype="stop-loss",
                                             volume=D("0.2"), price=D("59000.0")))
    assert sell.status == "open" and stop.status == "open"
    ex.set_price(PAIR, D("62000"))
    assert sell.status == "closed" and sell.avg_price == D("61000.0")
    assert stop.status == "open"
    ex.set_price(PAIR, D("58000"))
    assert stop.triggered and stop.status == "closed"
    assert ex.last_price(PAIR) < D("59000")
    assert abs(stop.avg_price - D("58000")) < D("100")
    check_invariants(ex)


def test_conservation_over_a_long_run_with_user_orders() -> None:
    ex, clock = make(3)
    start = totals(ex)
    for i in range(40):
        side = "buy" if i % 2 else "sell"
        bid, ask = ex.best_bid_ask(PAIR)
        assert bid is not None and ask is not None
        price = (bid - 10 * (i % 5)) if side == "buy" else (ask + 10 * (i % 5))
        ex.add_order("user", OrderRequest(pair=PAIR, side=side, ordertype="limit",  # type: ignore[arg-type]
                                          volume=D("0.01"), price=price))
        run(ex, clock, 3)
        check_invariants(ex)
    assert totals(ex) == start
    assert ex.trades("user"), "some user orders filled"
    assert ex.trades(MAKER_ACCOUNT) == [] and ex.closed_orders(TAKER_ACCOUNT) == []
    assert ex.ticker(PAIR)["trades_24h"] > 50


def test_restart_restores_market() -> None:
    clock = ManualClock(T0)
    ex = Exchange(clock, seed=5)
    ex.create_account({"ZUSD": D(100_000), "XXBT": D(10)}, "user")
    ex.add_order("user", OrderRequest(pair=PAIR, side="sell", ordertype="limit",
                                      volume=D("0.5"), price=D("60100.0")))
    kept: dict[str, Order] = {}
    accounts = {}
    trades: list[object] = []
    ledger: list[object] = []
    counters: dict[str, object] = {}
    for _ in range(3):
        run(ex, clock, 2)
        ch = ex.drain_changes()
        accounts.update(ch.accounts)
        for oid, o in ch.orders.items():
            kept[oid] = Order(**{f: getattr(o, f) for f in o.__dataclass_fields__})
        trades.extend(ch.trades)
        ledger.extend(ch.ledger)
        counters = dict(ch.counters)
    before = totals(ex)
    mid = ex.market.mid[PAIR] if ex.market else None
    ex2 = Exchange(clock, seed=5)
    ex2.load(accounts.values(), kept.values(), trades, ledger, counters)  # type: ignore[arg-type]
    assert totals(ex2) == before
    assert ex2.market is not None and ex2.market.mid[PAIR] == mid
    # the maker's resting ladder came back (restore may add levels a fill had taken)
    for side in ("bids", "asks"):
        assert {p for p, _, _ in ex.depth(PAIR, 0)[side]} <= {
            p for p, _, _ in ex2.depth(PAIR, 0)[side]}
    run(ex2, clock, 5)
    check_invariants(ex2)
    assert totals(ex2) == before
