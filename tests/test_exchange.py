"""The sandbox exchange core: orders, holds, matching, fees, events, errors, restart."""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest

from krakenwire.clock import ManualClock
from krakenwire.protocol import errors as E
from krakenwire.sandbox.exchange import (
    FEE_ACCOUNT,
    REASON_CANCEL_ALL_AFTER,
    REASON_EXPIRED,
    REASON_FOK,
    REASON_IOC,
    REASON_NO_LIQUIDITY,
    REASON_POST_ONLY,
    REASON_REPLACED,
    REASON_STP,
    REASON_USER,
    Exchange,
    ExchangeError,
)
from krakenwire.sandbox.model import BalanceEvent, Order, OrderEvent, OrderRequest

PAIR = "XXBTZUSD"
T0 = 1_700_000_000.0
ID_RE = re.compile(r"^[OTL][A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}$")


def make(seed: int = 0) -> tuple[Exchange, ManualClock]:
    clock = ManualClock(T0)
    ex = Exchange(clock, seed=seed, market=False)
    ex.create_account({"ZUSD": D(100_000), "XXBT": D(10)}, "alice")
    ex.create_account({"ZUSD": D(100_000), "XXBT": D(10)}, "bob")
    ex.drain_events()
    return ex, clock


def limit(side: str, vol: str, price: str, **kw: object) -> OrderRequest:
    return OrderRequest(pair=PAIR, side=side, ordertype="limit", volume=D(vol),  # type: ignore[arg-type]
                        price=D(price), **kw)  # type: ignore[arg-type]


def market(side: str, vol: str, **kw: object) -> OrderRequest:
    return OrderRequest(pair=PAIR, side=side, ordertype="market", volume=D(vol),  # type: ignore[arg-type]
                        **kw)  # type: ignore[arg-type]


def totals(ex: Exchange) -> dict[str, D]:
    out: dict[str, D] = {}
    for a in ex.accounts():
        for asset, amount in a.balances.items():
            out[asset] = out.get(asset, D(0)) + amount
    return out


def order_events(events: list[object], account: str | None = None) -> list[tuple[str, str]]:
    return [(e.exec_type, e.order.id) for e in events
            if isinstance(e, OrderEvent) and (account is None or e.order.account_id == account)]


def err(fn: object, *args: object, **kw: object) -> str:
    with pytest.raises(ExchangeError) as info:
        fn(*args, **kw)  # type: ignore[operator]
    return info.value.error


# --------------------------------------------------------------------------- accounts
def test_create_account_deposits_and_reads() -> None:
    ex, _ = make()
    acct = ex.account("alice")
    assert acct.balances == {"ZUSD": D(100_000), "XXBT": D(10)}
    assert ex.available("alice", "ZUSD") == D(100_000)
    assert [(e.type, e.asset, e.amount) for e in ex.ledger("alice")] == [
        ("deposit", "ZUSD", D(100_000)), ("deposit", "XXBT", D(10))]
    assert err(ex.account, "nobody") == E.INVALID_ARGUMENTS
    assert err(ex.create_account, {"NOPE": D(1)}) == E.UNKNOWN_ASSET
    assert err(ex.create_account, {}, "alice").startswith(E.INVALID_ARGUMENTS)
    generated = ex.create_account({"ZUSD": D(5)})
    assert generated.id.startswith("A") and generated.id != "alice"


# ------------------------------------------------------------------- limit + holds
def test_limit_buy_holds_cost_plus_taker_fee_and_cancel_releases() -> None:
    ex, _ = make()
    o = ex.add_order("alice", limit("buy", "1", "50000.0", userref=7))
    assert ID_RE.match(o.id) and o.id.startswith("O")
    assert o.status == "open"
    # 50,000 + 0.40 % taker fee held in USD
    assert o.hold_asset == "ZUSD" and o.hold_amount == D("50200.0000")
    assert ex.account("alice").holds["ZUSD"] == D("50200")
    assert ex.available("alice", "ZUSD") == D("49800")
    assert ex.open_orders("alice") == [o]
    assert ex.order("alice", o.id) is o and ex.order("bob", o.id) is None
    events = ex.drain_events()
    assert order_events(events) == [("pending_new", o.id), ("new", o.id)]
    assert events[0].order.status == "pending"  # type: ignore[union-attr]
    assert events[1].order.status == "open"  # type: ignore[union-attr]

    canceled = ex.cancel_order("alice", o.id)
    assert canceled == [o] and o.status == "canceled" and o.reason == REASON_USER
    assert ex.account("alice").holds["ZUSD"] == 0
    assert ex.available("alice", "ZUSD") == D(100_000)
    assert ex.closed_orders("alice") == [o] and ex.open_orders("alice") == []
    assert order_events(ex.drain_events()) == [("canceled", o.id)]
    assert err(ex.cancel_order, "alice", o.id) == E.UNKNOWN_ORDER


def test_sell_holds_base_volume() -> None:
    ex, _ = make()
    o = ex.add_order("alice", limit("sell", "2.5", "70000.0"))
    assert (o.hold_asset, o.hold_amount) == ("XXBT", D("2.5"))
    assert ex.available("alice", "XXBT") == D("7.5")
    assert err(ex.add_order, "alice", limit("sell", "7.6", "70000.0")) == E.INSUFFICIENT_FUNDS


def test_event_copies_do_not_change_later() -> None:
    ex, _ = make()
    o = ex.add_order("alice", limit("buy", "1", "50000.0"))
    first = ex.drain_events()[0]
    ex.cancel_order("alice", o.id)
    assert isinstance(first, OrderEvent)
    assert first.order.status == "pending" and o.status == "canceled"


# ------------------------------------------------------------------------ matching
def test_match_between_accounts_fees_balances_events_and_conservation() -> None:
    ex, clock = make()
    before = totals(ex)
    maker = ex.add_order("alice", limit("sell", "1", "60000.0"))
    clock.advance(1)
    ex.drain_events()
    taker = ex.add_order("bob", limit("buy", "0.4", "61000.0"))
    # executes at the maker's price
    assert taker.status == "closed" and taker.vol_exec == D("0.4")
    assert taker.cost == D("24000.0000") and taker.avg_price == D("60000")
    assert taker.fee == D("96.0000")  # 0.40 % taker
    assert maker.vol_exec == D("0.4") and maker.status == "open"
    assert maker.fee == D("60.0000")  # 0.25 % maker
    bob, alice = ex.account("bob"), ex.account("alice")
    assert bob.balances["ZUSD"] == D(100_000) - D(24_000) - D(96)
    assert bob.balances["XXBT"] == D("10.4")
    assert bob.holds["ZUSD"] == 0
    assert alice.balances["ZUSD"] == D(100_000) + D(24_000) - D(60)
    assert alice.balances["XXBT"] == D("9.6")
    assert alice.holds["XXBT"] == D("0.6") and maker.hold_amount == D("0.6")
    assert ex.account(FEE_ACCOUNT).balances["ZUSD"] == D(156)
    assert totals(ex) == before
    # trades on both sides share a public trade id
    (bt,) = ex.trades("bob")
    (at,) = ex.trades("alice")
    assert bt.trade_id == at.trade_id and not bt.maker and at.maker
    assert ID_RE.match(bt.id) and bt.id.startswith("T") and bt.id != at.id
    assert (bt.price, bt.volume, bt.cost, bt.fee, bt.fee_asset) == (
        D("60000.0"), D("0.4"), D("24000.0000"), D("96.0000"), "ZUSD")
    events = ex.drain_events()
    assert order_events(events) == [
        ("pending_new", taker.id), ("new", taker.id), ("trade", taker.id), ("trade", maker.id),
        ("filled", taker.id)]
    trade_events = [e for e in events if isinstance(e, OrderEvent) and e.exec_type == "trade"]
    assert trade_events[0].trade is not None and trade_events[0].trade.id == bt.id
    assert trade_events[0].order.status == "closed"
    balance = [e.entry for e in events if isinstance(e, BalanceEvent)]
    assert {(e.account_id, e.asset, e.amount, e.fee) for e in balance} == {
        ("bob", "ZUSD", D("-24000.0000"), D("96.0000")), ("bob", "XXBT", D("0.4"), D(0)),
        ("alice", "XXBT", D("-0.4"), D(0)), ("alice", "ZUSD", D("24000.0000"), D("60.0000"))}
    assert all(e.refid in (bt.id, at.id) for e in balance)
    assert ex.closed_orders("bob") == [taker]
    assert ex.last_price(PAIR) == D("60000.0")


def test_price_time_priority() -> None:
    ex, clock = make()
    ex.create_account({"XXBT": D(10)}, "carol")
    first = ex.add_order("alice", limit("sell", "1", "60000.0"))
    clock.advance(1)
    second = ex.add_order("carol", limit("sell", "1", "60000.0"))
    better = ex.add_order("carol", limit("sell", "1", "59990.0"))
    ex.add_order("bob", market("buy", "1.5"))
    assert better.status == "closed"
    assert first.vol_exec == D("0.5") and second.vol_exec == 0
    assert [t.price for t in ex.trades("bob")] == [D("59990.0"), D("60000.0")]


def test_book_depth_ticker_recent_trades() -> None:
    ex, clock = make()
    ex.add_order("alice", limit("sell", "1", "60010.0"))
    ex.add_order("alice", limit("sell", "2", "60010.0"))
    ex.add_order("alice", limit("sell", "1", "60020.0"))
    ex.add_order("bob", limit("buy", "0.1", "59990.0"))
    depth = ex.depth(PAIR, 10)
    assert [(p, v) for p, v, _ in depth["asks"]] == [(D("60010.0"), D(3)), (D("60020.0"), D(1))]
    assert [(p, v) for p, v, _ in depth["bids"]] == [(D("59990.0"), D("0.1"))]
    assert len(ex.depth(PAIR, 1)["asks"]) == 1
    clock.advance(5)
    ex.add_order("bob", market("buy", "1.5"))
    t = ex.ticker(PAIR)
    assert (t["ask"], t["ask_volume"], t["bid"], t["bid_volume"]) == (
        D("60010.0"), D("1.5"), D("59990.0"), D("0.1"))
    assert t["last"] == D("60010.0") and t["volume_24h"] == D("1.5")
    # two makers at the level: two matches
    assert t["trades_24h"] == 2 and t["high_today"] == t["low_today"] == D("60010.0")
    first, pub = ex.recent_trades(PAIR)
    assert (pub.price, pub.volume, pub.side, pub.ordertype) == (
        D("60010.0"), D("0.5"), "buy", "market")
    assert first.volume == 1 and first.trade_id + 1 == pub.trade_id
    assert ex.recent_trades(PAIR, since=pub.time) == []
    ((start, o, h, lo, c, vwap, vol, n),) = ex.candles(PAIR, 300)
    assert start == int(pub.time // 300) * 300 and n == 2 and vol == D("1.5")
    assert o == h == lo == c == vwap == D("60010.0")
    assert err(ex.ticker, "NOPE") == E.UNKNOWN_PAIR


def test_market_order_without_liquidity_is_canceled() -> None:
    ex, _ = make()
    o = ex.add_order("alice", market("sell", "1"))
    assert o.status == "canceled" and o.reason == REASON_NO_LIQUIDITY and o.vol_exec == 0
    assert ex.account("alice").holds["XXBT"] == 0


def test_market_buy_walks_book_and_releases_hold() -> None:
    ex, _ = make()
    ex.add_order("alice", limit("sell", "1", "60000.0"))
    ex.add_order("alice", limit("sell", "1", "61000.0"))
    o = ex.add_order("bob", market("buy", "1.5"))
    assert o.status == "closed" and o.cost == D("90500.0000")
    assert ex.account("bob").holds["ZUSD"] == 0
    assert ex.account("bob").balances["ZUSD"] == D(100_000) - D("90500") - D("362")


def test_market_buy_insufficient_funds_from_book_estimate() -> None:
    ex, _ = make()
    ex.add_order("alice", limit("sell", "5", "60000.0"))
    assert err(ex.add_order, "bob", market("buy", "2")) == E.INSUFFICIENT_FUNDS


def test_cash_order_qty_market_buy() -> None:
    ex, _ = make()
    ex.add_order("alice", limit("sell", "5", "50000.0"))
    o = ex.add_order("bob", OrderRequest(pair=PAIR, side="buy", ordertype="market",
                                         volume=D(0), cash_order_qty=D("10000")))
    assert o.vol_exec == D("0.2") and o.cost == D("10000.0000")


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(("req", "error"), [
    (OrderRequest(pair="NOPE", side="buy", ordertype="limit", volume=D(1), price=D(1)),
     E.UNKNOWN_PAIR),
    (limit("buy", "0.00001", "60000.0"), E.ORDER_MINIMUM),
    (limit("buy", "0.0001", "1000.0"), E.COST_MINIMUM),
    (OrderRequest(pair="XETHZUSD", side="buy", ordertype="limit", volume=D(1),
                  price=D("3000.005")),
     "EOrder:Invalid price:XETHZUSD price can only be specified up to 2 decimals."),
    (limit("buy", "1", "60000.15"),
     "EOrder:Invalid price:XXBTZUSD price can only be specified up to 1 decimals."),
    (OrderRequest(pair="XETHZUSD", side="buy", ordertype="limit", volume=D(1), price=D(0)),
     "EGeneral:Invalid arguments:price"),
    (limit("buy", "1.2", "90000.0"), E.INSUFFICIENT_FUNDS),
    (limit("buy", "0", "60000.0"), "EGeneral:Invalid arguments:volume"),
    (OrderRequest(pair=PAIR, side="buy", ordertype="limit", volume=D(1)),
     "EGeneral:Invalid arguments:price"),
    (OrderRequest(pair=PAIR, side="buy", ordertype="stop-loss-limit", volume=D(1),
                  price=D(60000)), "EGeneral:Invalid arguments:price2"),
    (limit("buy", "1", "50000.0", timeinforce="GTD"), "EGeneral:Invalid arguments:expiretm"),
    (limit("buy", "1", "50000.0", deadline=T0 - 1), E.DEADLINE_ELAPSED),
    (market("buy", "1", post_only=True), "EGeneral:Invalid arguments:post only order is "
     "only available when ordertype = limit"),
    (limit("buy", "1", "1E+30"), "EGeneral:Invalid arguments:price"),
    (limit("buy", "1E+30", "1"), "EGeneral:Invalid arguments:volume"),
    (limit("buy", "NaN", "1"), "EGeneral:Invalid arguments:volume"),
    (limit("buy", "1", "Infinity"), "EGeneral:Invalid arguments:price"),
    (limit("buy", "1", "-5"), "EGeneral:Invalid arguments:price"),
])
def test_add_order_errors(req: OrderRequest, error: str) -> None:
    ex, _ = make()
    before = ex.account("alice").holds.copy()
    assert err(ex.add_order, "alice", req) == error
    assert ex.account("alice").holds == before and ex.open_orders("alice") == []
    assert ex.drain_events() == []


def test_tick_size_check() -> None:
    from dataclasses import replace

    from krakenwire.protocol.naming import PAIRS

    pairs = {PAIR: replace(PAIRS[PAIR], tick_size=D("0.5"))}
    ex = Exchange(ManualClock(T0), market=False, pairs=pairs)
    ex.create_account({"ZUSD": D(100_000)}, "a")
    assert err(ex.add_order, "a", limit("buy", "1", "50000.3")) == E.TICK_SIZE
    assert ex.add_order("a", limit("buy", "1", "50000.5")).status == "open"


def test_volume_truncated_to_lot_decimals() -> None:
    ex, _ = make()
    o = ex.add_order("alice", limit("buy", "0.123456789", "50000.0"))
    assert o.volume == D("0.12345678")


def test_validate_does_not_store() -> None:
    ex, _ = make()
    o = ex.add_order("alice", limit("buy", "1", "50000.0", validate=True))
    assert o.id == "" and ex.open_orders("alice") == [] and ex.drain_events() == []
    assert ex.account("alice").holds.get("ZUSD", 0) == 0


def test_cl_ord_id_unique_among_open_orders() -> None:
    ex, _ = make()
    o = ex.add_order("alice", limit("buy", "1", "50000.0", cl_ord_id="abc"))
    assert ex.find_order_by_cl_ord_id("alice", "abc") is o
    assert err(ex.add_order, "alice", limit("buy", "0.5", "50000.0", cl_ord_id="abc")) == (
        E.DUPLICATE_CL_ORD_ID)
    # another account may use it; after cancel it is free again
    ex.add_order("bob", limit("buy", "1", "50000.0", cl_ord_id="abc"))
    ex.cancel_order("alice", "abc")
    assert ex.find_order_by_cl_ord_id("alice", "abc") is None
    ex.add_order("alice", limit("buy", "1", "50000.0", cl_ord_id="abc"))


# --------------------------------------------------------------- TIF / post / STP
def test_post_only_that_would_take_is_canceled() -> None:
    ex, _ = make()
    ex.add_order("alice", limit("sell", "1", "60000.0"))
    o = ex.add_order("bob", limit("buy", "1", "60000.0", post_only=True))
    assert o.status == "canceled" and o.reason == REASON_POST_ONLY and o.vol_exec == 0
    ok = ex.add_order("bob", limit("buy", "1", "59999.9", post_only=True))
    assert ok.status == "open"


def test_ioc_and_fok() -> None:
    ex, _ = make()
    ex.add_order("alice", limit("sell", "0.5", "60000.0"))
    fok = ex.add_order("bob", limit("buy", "1", "60000.0", timeinforce="FOK"))
    assert fok.status == "canceled" and fok.reason == REASON_FOK and fok.vol_exec == 0
    ioc = ex.add_order("bob", limit("buy", "1", "60000.0", timeinforce="IOC"))
    assert ioc.status == "canceled" and ioc.reason == REASON_IOC and ioc.vol_exec == D("0.5")
    ex.add_order("alice", limit("sell", "0.5", "60000.0"))
    fok2 = ex.add_order("bob", limit("buy", "0.5", "60000.0", timeinforce="FOK"))
    assert fok2.status == "closed"


@pytest.mark.parametrize(("stp", "taker_status", "maker_status"), [
    ("cancel-newest", "canceled", "open"),
    ("cancel-oldest", "open", "canceled"),
    ("cancel-both", "canceled", "canceled"),
])
def test_self_trade_prevention(stp: str, taker_status: str, maker_status: str) -> None:
    ex, _ = make()
    maker = ex.add_order("alice", limit("sell", "1", "60000.0"))
    taker = ex.add_order("alice", limit("buy", "1", "60000.0", stp_type=stp))
    assert (taker.status, maker.status) == (taker_status, maker_status)
    assert taker.vol_exec == maker.vol_exec == 0
    for o in (maker, taker):
        if o.status == "canceled":
            assert o.reason == REASON_STP
    assert ex.trades("alice") == []


# ---------------------------------------------------------------------- triggers
def test_stop_loss_triggers_on_last_trade_price() -> None:
    ex, _ = make()
    ex.create_account({"ZUSD": D(1_000_000), "XXBT": D(100)}, "mm")
    ex.add_order("mm", limit("buy", "5", "59000.0"))
    stop = ex.add_order("alice", OrderRequest(pair=PAIR, side="sell", ordertype="stop-loss",
                                              volume=D(1), price=D("59500.0")))
    assert stop.status == "open" and not stop.triggered
    assert stop.hold_asset == "XXBT" and stop.hold_amount == 1
    # a trade at 59,400 (below the stop) fires it
    ex.add_order("mm", limit("sell", "0.1", "59400.0"))
    ex.add_order("bob", market("buy", "0.1"))
    assert stop.triggered and stop.status == "closed"
    assert ex.trades("alice")[0].price == D("59000.0")
    kinds = order_events(ex.drain_events(), "alice")
    assert ("status", stop.id) in kinds and kinds[-1] == ("filled", stop.id)


def test_take_profit_limit_rests_after_trigger() -> None:
    ex, _ = make()
    ex.create_account({"ZUSD": D(1_000_000), "XXBT": D(100)}, "mm")
    tp = ex.add_order("alice", OrderRequest(
        pair=PAIR, side="sell", ordertype="take-profit-limit", volume=D(1),
        price=D("61000.0"), price2=D("61500.0")))
    ex.add_order("mm", limit("sell", "0.1", "61000.0"))
    ex.add_order("bob", market("buy", "0.1"))
    assert tp.triggered and tp.status == "open"
    assert ex.depth(PAIR, 5)["asks"][0][0] == D("61500.0")
    ex.add_order("bob", limit("buy", "1", "61500.0"))
    assert tp.status == "closed"


def test_trigger_already_crossed_fires_at_once() -> None:
    ex, _ = make()
    ex.add_order("bob", limit("buy", "1", "59000.0"))
    # last price is the start price 60,000: a sell stop at 61,000 is already through
    stop = ex.add_order("alice", OrderRequest(pair=PAIR, side="sell", ordertype="stop-loss",
                                              volume=D("0.5"), price=D("61000.0")))
    assert stop.triggered and stop.status == "closed"


# ------------------------------------------------------------------ amend / edit
def test_amend_quantity_down_keeps_priority() -> None:
    ex, _ = make()
    ex.create_account({"XXBT": D(10)}, "carol")
    first = ex.add_order("alice", limit("sell", "2", "60000.0"))
    second = ex.add_order("carol", limit("sell", "1", "60000.0"))
    ex.drain_events()
    o, amend_id = ex.amend_order("alice", order_id=first.id, volume=D("1"))
    assert o is first and o.volume == 1 and o.amended and ID_RE.match(amend_id)
    assert o.hold_amount == 1 and ex.account("alice").holds["XXBT"] == 1
    assert order_events(ex.drain_events()) == [("amended", first.id)]
    ex.add_order("bob", market("buy", "1"))
    assert first.status == "closed" and second.vol_exec == 0


def test_amend_price_loses_priority_and_may_execute() -> None:
    ex, _ = make()
    ex.create_account({"XXBT": D(10)}, "carol")
    first = ex.add_order("alice", limit("sell", "1", "60000.0"))
    second = ex.add_order("carol", limit("sell", "1", "60000.0"))
    ex.amend_order("alice", order_id=first.id, price=D("60001.0"))
    ex.amend_order("alice", order_id=first.id, price=D("60000.0"))
    ex.add_order("bob", market("buy", "1"))
    assert second.status == "closed" and first.vol_exec == 0
    bid = ex.add_order("bob", limit("buy", "0.5", "59000.0", cl_ord_id="b1"))
    ex.amend_order("bob", cl_ord_id="b1", price=D("60000.0"))
    assert bid.status == "closed" and bid.amended


def test_amend_errors_and_post_only() -> None:
    ex, _ = make()
    ex.add_order("alice", limit("sell", "1", "60000.0"))
    bid = ex.add_order("bob", limit("buy", "1", "59000.0", post_only=True))
    assert err(ex.amend_order, "bob", order_id=bid.id, price=D("60000.0")) == E.POST_ONLY_AMEND
    assert err(ex.amend_order, "bob", order_id="OXXXXX-XXXXX-XXXXXX") == E.UNKNOWN_ORDER
    assert err(ex.amend_order, "bob", order_id=bid.id, volume=D(10)) == E.INSUFFICIENT_FUNDS
    assert err(ex.amend_order, "bob", order_id=bid.id, price=D("59000.05")).startswith(
        E.INVALID_PRICE)
    assert bid.price == D("59000.0") and bid.volume == 1


def test_amend_below_executed_cancels_rest() -> None:
    ex, _ = make()
    o = ex.add_order("alice", limit("sell", "1", "60000.0"))
    ex.add_order("bob", market("buy", "0.4"))
    ex.amend_order("alice", order_id=o.id, volume=D("0.3"))
    assert o.status == "canceled" and o.vol_exec == D("0.4")
    assert ex.account("alice").holds["XXBT"] == 0


def test_edit_order_replaces_with_new_id() -> None:
    ex, _ = make()
    old = ex.add_order("alice", limit("buy", "1", "50000.0", userref=5))
    ex.drain_events()
    new, was = ex.edit_order("alice", old.id, volume=D("1.5"), price=D("51000.0"))
    assert was is old and old.status == "canceled" and old.reason == REASON_REPLACED
    assert new.id != old.id and new.refid == old.id and new.userref == 5
    assert new.volume == D("1.5") and new.price == D("51000.0") and new.status == "open"
    assert ex.account("alice").holds["ZUSD"] == new.hold_amount == D("76806.0000")
    assert order_events(ex.drain_events()) == [
        ("canceled", old.id), ("pending_new", new.id), ("new", new.id)]
    v, _ = ex.edit_order("alice", new.id, price=D("40000.0"), validate=True)
    assert v.id == "" and new.status == "open"
    assert err(ex.edit_order, "alice", old.id, volume=D(1)) == E.UNKNOWN_ORDER
    assert err(ex.edit_order, "alice", new.id, volume=D(10)) == E.INSUFFICIENT_FUNDS


# ------------------------------------------------------------------------- cancel
def test_cancel_by_userref_and_cancel_all() -> None:
    ex, _ = make()
    a = ex.add_order("alice", limit("buy", "0.1", "50000.0", userref=42))
    b = ex.add_order("alice", limit("buy", "0.1", "50001.0", userref=42))
    c = ex.add_order("alice", limit("sell", "0.1", "70000.0", userref=1))
    assert set(o.id for o in ex.cancel_order("alice", "42")) == {a.id, b.id}
    assert ex.cancel_order("alice", 1) == [c]
    assert err(ex.cancel_order, "alice", "42") == E.UNKNOWN_ORDER
    for _ in range(3):
        ex.add_order("alice", limit("buy", "0.1", "50000.0"))
    assert ex.cancel_all("alice") == 3 and ex.open_orders("alice") == []
    assert ex.cancel_all("alice") == 0
    assert ex.account("alice").holds["ZUSD"] == 0


def test_cancel_all_after_fires_on_tick() -> None:
    ex, clock = make()
    o = ex.add_order("alice", limit("buy", "0.1", "50000.0"))
    now, trigger = ex.cancel_all_after("alice", 60)
    assert (now, trigger) == (T0, T0 + 60)
    clock.advance(59)
    ex.tick()
    assert o.status == "open"
    clock.advance(1)
    ex.tick()
    assert o.status == "canceled" and o.reason == REASON_CANCEL_ALL_AFTER
    assert ex.account("alice").cancel_all_at is None
    # disabled with 0
    o2 = ex.add_order("alice", limit("buy", "0.1", "50000.0"))
    ex.cancel_all_after("alice", 10)
    assert ex.cancel_all_after("alice", 0)[1] is None
    clock.advance(100)
    ex.tick()
    assert o2.status == "open"
    assert err(ex.cancel_all_after, "alice", 86400).startswith(E.INVALID_ARGUMENTS)


def test_gtd_expires_on_tick() -> None:
    ex, clock = make()
    o = ex.add_order("alice", limit("buy", "0.1", "50000.0", timeinforce="GTD",
                                    expiretm=T0 + 30))
    clock.advance(29)
    ex.tick()
    assert o.status == "open"
    clock.advance(2)
    ex.tick()
    assert o.status == "expired" and o.reason == REASON_EXPIRED
    assert order_events(ex.drain_events())[-1] == ("expired", o.id)
    assert ex.account("alice").holds["ZUSD"] == 0


def test_scheduled_start() -> None:
    ex, clock = make()
    o = ex.add_order("alice", limit("buy", "0.1", "50000.0", starttm=T0 + 10))
    assert o.status == "pending" and ex.depth(PAIR)["bids"] == []
    assert o.hold_amount > 0
    clock.advance(10)
    ex.tick()
    assert o.status == "open" and ex.depth(PAIR)["bids"][0][0] == D("50000.0")


# ------------------------------------------------------------------------- fees
def test_fee_in_base() -> None:
    ex, _ = make()
    ex.add_order("alice", limit("sell", "1", "60000.0", fee_in_base=True))
    o = ex.add_order("bob", limit("buy", "1", "60000.0", fee_in_base=True))
    assert o.fee == D("0.004") and ex.trades("bob")[0].fee_asset == "XXBT"
    assert ex.account("bob").balances["XXBT"] == D("10.996")
    assert ex.account("bob").balances["ZUSD"] == D(40_000)
    assert ex.account("alice").balances["XXBT"] == D("8.9975")
    assert ex.account(FEE_ACCOUNT).balances["XXBT"] == D("0.0065")


def test_order_age() -> None:
    ex, clock = make()
    o = ex.add_order("alice", limit("buy", "0.1", "50000.0"))
    clock.advance(7)
    assert ex.order_age(o) == 7
    ex.amend_order("alice", order_id=o.id, volume=D("0.05"))
    clock.advance(2)
    assert ex.order_age(o) == 2


# ---------------------------------------------------------------- ids / restart
def test_ids_are_reproducible_per_seed() -> None:
    ids = []
    for _ in range(2):
        ex, _ = make(seed=3)
        ids.append(ex.add_order("alice", limit("buy", "0.1", "50000.0")).id)
    assert ids[0] == ids[1]
    ex, _ = make(seed=4)
    assert ex.add_order("alice", limit("buy", "0.1", "50000.0")).id != ids[0]


def test_drain_changes_and_load_rebuild() -> None:
    ex, clock = make()
    store_accounts: dict[str, object] = {}
    store_orders: dict[str, Order] = {}
    trades: list[object] = []
    ledger: list[object] = []
    counters: dict[str, object] = {}

    def persist() -> None:
        ch = ex.drain_changes()
        store_accounts.update(ch.accounts)
        for oid, o in ch.orders.items():
            store_orders[oid] = Order(**{f: getattr(o, f) for f in o.__dataclass_fields__})
        trades.extend(ch.trades)
        ledger.extend(ch.ledger)
        counters.clear()
        counters.update(ch.counters)

    persist()
    ex.add_order("alice", limit("sell", "1", "60000.0"))
    resting = ex.add_order("alice", limit("sell", "1", "60000.0", cl_ord_id="keep"))
    ex.add_order("bob", market("buy", "1.5"))
    stop = ex.add_order("bob", OrderRequest(pair=PAIR, side="sell", ordertype="stop-loss",
                                            volume=D(1), price=D("50000.0")))
    ex.cancel_all_after("bob", 100)
    ch = ex.drain_changes()
    assert ch and stop.id in ch.orders and ch.trades and ch.ledger
    assert ch.counters["seq"] >= 4
    # put it back and persist the rest through the helper
    store_accounts.update(ch.accounts)
    for oid, o in ch.orders.items():
        store_orders[oid] = Order(**{f: getattr(o, f) for f in o.__dataclass_fields__})
    trades.extend(ch.trades)
    ledger.extend(ch.ledger)
    counters.update(ch.counters)
    assert not ex.drain_changes()
    before_totals = totals(ex)

    ex2 = Exchange(clock, market=False)
    ex2.load(store_accounts.values(), store_orders.values(), trades, ledger,  # type: ignore[arg-type]
             counters)
    assert totals(ex2) == before_totals
    for name in ("alice", "bob"):
        assert {k: v for k, v in ex2.account(name).holds.items() if v} == {
            k: v for k, v in ex.account(name).holds.items() if v}
    assert [o.id for o in ex2.open_orders("alice")] == [o.id for o in ex.open_orders("alice")]
    assert ex2.find_order_by_cl_ord_id("alice", "keep") is not None
    assert len(ex2.trades("bob")) == 2 and ex2.last_price(PAIR) == D("60000.0")
    assert ex2.depth(PAIR)["asks"] == ex.depth(PAIR)["asks"]
    # the rebuilt book still matches; ids do not repeat
    o = ex2.add_order("bob", market("buy", "0.1"))
    assert o.status == "closed" and o.id not in store_orders
    again = ex2.order("alice", resting.id)
    assert again is not None and again.vol_exec == D("0.6") and again.status == "open"
    # the dead-man switch survived
    clock.advance(100)
    ex2.tick()
    assert ex2.order("bob", stop.id).status == "canceled"  # type: ignore[union-attr]


def test_deposit_and_withdrawal() -> None:
    ex, _ = make()
    e = ex.deposit("alice", "XETH", D("2.5"))
    assert e.type == "deposit" and e.balance == D("2.5")
    assert ex.account("alice").balances["XETH"] == D("2.5")
    assert err(ex.deposit, "alice", "XETH", D("-3")) == E.INSUFFICIENT_FUNDS
    assert ex.deposit("alice", "XETH", D("-1")).type == "withdrawal"
    assert err(ex.deposit, "alice", "NOPE", D(1)) == E.UNKNOWN_ASSET
