"""Pre-trade risk through the engine: every check and every hold transition.

MARKET_RULES.md sections 4 and 6, WS_API.md "Trading methods". Each check is
shown with its reject reason and with nothing changed (the engine's canonical
state, risk included, equal before and after, the sequence number aside).
Amounts are recomputed here with :class:`fractions.Fraction`: on the test
instrument one tick x one lot ($0.01 x 0.0001 share) is 1/10000 of a cent.

"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

import pytest

from engine.events import (
    DeadManSwitchSet,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    KillSwitchSet,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    ReferencePriceSet,
    TradeExecuted,
)
from model.commands import CommandError, Deposit, Withdraw
from risk.accounts import AccountSpec, FeeTier
from risk.risk import Risk
from tests.builders import ASSETS, SYMBOL, TIER, Driver, instrument, risk_for

S = SYMBOL
T = "TSLAx/USD"
BPS = 10_000
LOT = 10**4  # AAPLx units in one lot (0.0001 of a 10**8-unit token)
REF = 23_000  # $230.00
LOW, HIGH = 21_850, 24_150  # tier 1: 5% around REF, rounded inward

# ------------------------------------------------------------------ helpers


def make(limits: dict[str, Any] | None = None, fees: FeeTier = TIER, **inst: Any) -> Driver:
    """An engine with risk over one AAPLx/USD instrument (the same one for engine and risk)."""
    return Driver(risk=risk_for([instrument(**inst)], tier=fees, **(limits or {})), **inst)


def risk(d: Driver) -> Risk:
    assert d.engine.risk is not None
    return d.engine.risk


def bal(d: Driver, account: str, asset: str = "USD") -> int:
    return risk(d).accounts[account].balance.get(asset, 0)


def held(d: Driver, account: str, asset: str = "USD") -> int:
    return risk(d).accounts[account].held.get(asset, 0)


def cents(price: int, qty: int) -> Fraction:
    """Exact cents of ``qty`` lots at ``price`` ticks."""
    return Fraction(price * qty, BPS)


def hold_for(price: int, qty: int, bps: int = 25) -> int:
    """A new buy's hold: price x qty x (1 + max bps), rounded up to the cent."""
    return math.ceil(cents(price, qty) * Fraction(BPS + bps, BPS))


def paid(fills: Iterable[tuple[int, int, int]]) -> int:
    """What one buy order has paid in all for fills (price, qty, bps): rounded up."""
    return math.ceil(sum(cents(p, q) * Fraction(BPS + bps, BPS) for p, q, bps in fills))


def received(fills: Iterable[tuple[int, int, int]]) -> int:
    """What one sell order has received in all for fills (price, qty, bps): rounded down."""
    return math.floor(sum(cents(p, q) * Fraction(BPS - bps, BPS) for p, q, bps in fills))


def state(d: Driver) -> list[object]:
    """Everything but the sequence number."""
    return d.engine.canonical_state()[1:]


def refused(d: Driver, action: Callable[[], list[Event]], reason: str) -> OrderRejected:
    """Run ``action``; it must be refused with ``reason`` and change nothing."""
    before = state(d)
    events = action()
    assert state(d) == before
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, OrderRejected)
    assert event.reason == reason, event.text
    return event


def accepted(events: list[Event]) -> OrderAccepted:
    assert events, "no events"
    event = events[0]
    assert isinstance(event, OrderAccepted), events
    return event


def trades(events: list[Event]) -> list[TradeExecuted]:
    return [e for e in events if isinstance(e, TradeExecuted)]


def cancels(events: list[Event]) -> list[tuple[int, int, str]]:
    return [(e.order_id, e.leaves, e.reason) for e in events if isinstance(e, OrderCancelled)]


def funded(**inst: Any) -> Driver:
    """Accounts a, b, c with $10,000 and 100 AAPLx each; reference $230.00 unless given."""
    inst.setdefault("reference_price", REF)
    d = make(**inst)
    for account in "abc":
        d.deposit(account, "USD", 1_000_000)
        d.deposit(account, "AAPLx", 100 * 10**8)
    return d


def no_holds(d: Driver) -> bool:
    return all(not any(a.held.values()) for a in risk(d).accounts.values())


# ------------------------------------------------------------------ accounts


def test_unknown_account_is_rejected() -> None:
    d = funded()
    event = refused(d, lambda: d.new("zzz", "buy", 1, REF), "unknown_account")
    assert event.text == "account 'zzz': not known"
    assert event.order_id is None


def test_the_fee_account_cannot_trade() -> None:
    d = funded()
    d.deposit("fees", "USD", 10**6)
    event = refused(d, lambda: d.new("fees", "buy", 1, REF), "account_disabled")
    assert event.text == "account 'fees': trading disabled"


def test_disabled_account_is_rejected_and_may_still_be_funded() -> None:
    specs = [AccountSpec(id="a", fee_tier=TIER), AccountSpec(id="d", enabled=False)]
    d = Driver(risk=Risk(ASSETS, [instrument(reference_price=REF)], specs, fee_account="fees"))
    assert d.deposit("d", "USD", 10**6)[0] == FundsDeposited(1, 1000, "d", "USD", 10**6, 10**6)
    event = refused(d, lambda: d.new("d", "buy", 1, REF), "account_disabled")
    assert event.text == "account 'd': trading disabled"
    # A disabled account stays disabled: the kill switch going off does not enable it.
    d.kill("d", False)
    refused(d, lambda: d.new("d", "buy", 1, REF), "account_disabled")


def test_kill_switch_cancels_everything_rejects_new_orders_until_lifted() -> None:
    d = make(reference_price=REF)
    d.deposit("a", "USD", 1_000_000)
    d.deposit("a", "AAPLx", 10**8)
    d.deposit("b", "USD", 1_000_000)
    d.new("a", "buy", 100, 22_000)  # 4
    d.new("a", "sell", 100, 24_000)  # 5
    d.new("a", "buy", 100, 23_500, order_type="stop-loss-limit", trigger_price=23_500)  # 6
    d.new("b", "buy", 100, 22_500)  # 7
    assert held(d, "a") > 0 and held(d, "a", "AAPLx") == 100 * LOT
    events = d.kill("a")
    assert events == [
        KillSwitchSet(8, 8000, "a", True),
        OrderCancelled(8, 8000, 4, "a", S, 100, "kill_switch"),
        OrderCancelled(8, 8000, 5, "a", S, 100, "kill_switch"),
        OrderCancelled(8, 8000, 6, "a", S, 100, "kill_switch"),
    ]
    assert held(d, "a") == 0 and held(d, "a", "AAPLx") == 0
    assert set(d.engine.orders) == {7}  # b's order is untouched
    assert held(d, "b") == hold_for(22_500, 100)
    event = refused(d, lambda: d.new("a", "buy", 1, REF), "account_disabled")
    assert event.text == "account 'a': kill switch on"
    assert risk(d).accounts["a"].killed
    assert d.kill("a", False) == [KillSwitchSet(10, 10_000, "a", False)]
    assert not risk(d).accounts["a"].killed
    accepted(d.new("a", "buy", 1, REF))


def test_kill_switch_for_an_unknown_account_is_rejected() -> None:
    d = funded()
    refused(d, lambda: d.kill("zzz"), "unknown_account")


# ------------------------------------------------------------------ size and cost


def test_qty_above_qty_max_is_invalid_arguments() -> None:
    d = funded(qty_max=10_000)
    event = refused(d, lambda: d.new("a", "buy", 10_001, REF), "invalid_arguments")
    assert event.text == "order_qty 10001: above qty_max 10000"
    refused(d, lambda: d.new("b", "sell", 10_001, REF), "invalid_arguments")
    accepted(d.new("a", "buy", 10_000, REF))


def test_qty_below_qty_min_is_order_minimum() -> None:
    d = funded(qty_min=10)
    event = refused(d, lambda: d.new("a", "buy", 9, REF), "order_minimum")
    assert event.text == "order_qty 9: below qty_min 10"
    refused(d, lambda: d.new("a", "sell", 9, None, order_type="market"), "order_minimum")
    accepted(d.new("a", "buy", 10, REF))


def test_cost_min_for_limit_orders() -> None:
    # $10.00 minimum: 435 lots at $230 is $10.005, 434 lots $9.982.
    d = funded(cost_min=1_000)
    assert cents(REF, 434) < 1_000 <= cents(REF, 435)
    event = refused(d, lambda: d.new("a", "buy", 434, REF), "cost_minimum")
    assert event.text == "order cost below cost_min 1000"
    refused(d, lambda: d.new("b", "sell", 434, REF), "cost_minimum")
    accepted(d.new("a", "buy", 435, REF))
    # Exactly the minimum is enough: 500 lots at $200.00 is $10.00.
    accepted(d.new("a", "buy", 500, 20_000))


def test_cost_min_for_market_orders_uses_the_reference_price() -> None:
    # Reference $200.00: 500 lots is exactly $10.00; 499 lots is short even though the
    # band edge the order would be capped at ($210.00) would make it $10.48.
    d = funded(cost_min=1_000, reference_price=20_000)
    assert cents(21_000, 499) >= 1_000 > cents(20_000, 499)
    refused(d, lambda: d.new("a", "buy", 499, None, order_type="market"), "cost_minimum")
    refused(d, lambda: d.new("a", "sell", 499, None, order_type="market"), "cost_minimum")
    events = d.new("a", "buy", 500, None, order_type="market")
    accepted(events)
    assert cancels(events) == [(events[0].order_id, 500, "ioc_remainder")]  # empty book


# ------------------------------------------------------------------ price band


def test_band_edges_from_the_reference() -> None:
    d = funded()
    assert risk(d).band(S) == (LOW, HIGH)
    assert math.ceil(REF * Fraction(95, 100)) == LOW
    assert math.floor(REF * Fraction(105, 100)) == HIGH


def test_aggressive_limits_beyond_the_band_are_rejected_the_edge_accepted() -> None:
    d = funded()
    event = refused(d, lambda: d.new("a", "buy", 100, HIGH + 1), "price_band")
    assert event.text == f"limit_price {HIGH + 1}: above the band edge {HIGH}"
    event = refused(d, lambda: d.new("b", "sell", 100, LOW - 1), "price_band")
    assert event.text == f"limit_price {LOW - 1}: below the band edge {LOW}"
    accepted(d.new("a", "buy", 100, HIGH))
    d.cancel("a", order_id=d.next_seq - 1)
    accepted(d.new("b", "sell", 100, LOW))


def test_passive_orders_far_from_the_reference_rest() -> None:
    d = funded()
    accepted(d.new("a", "buy", 100, 1_000))  # $10: far below the band, passive
    accepted(d.new("b", "sell", 100, 99_000))  # $990: far above, passive
    assert d.engine.books[S].depth() == ([(1_000, 100)], [(99_000, 100)])


def test_market_buy_is_capped_at_the_band_edge_and_the_rest_cancelled_price_band() -> None:
    d = funded()
    d.new("b", "sell", 100, 23_000)  # 7
    d.new("b", "sell", 100, HIGH)  # 8
    d.new("c", "sell", 100, HIGH + 1)  # 9: beyond the band
    events = d.new("a", "buy", 500, None, order_type="market")
    assert accepted(events).order.price is None
    assert [(t.price, t.qty, t.maker_order_id) for t in trades(events)] == [
        (23_000, 100, 7),
        (HIGH, 100, 8),
    ]
    assert cancels(events) == [(10, 300, "price_band")]
    assert d.engine.books[S].depth() == ([], [(HIGH + 1, 100)])
    assert held(d, "a") == 0


def test_market_sell_is_capped_at_the_lower_edge() -> None:
    d = funded()
    d.new("b", "buy", 100, LOW)  # 7
    d.new("c", "buy", 100, LOW - 1)  # 8: below the band
    events = d.new("a", "sell", 300, None, order_type="market")
    assert [(t.price, t.qty) for t in trades(events)] == [(LOW, 100)]
    assert cancels(events) == [(9, 200, "price_band")]
    assert held(d, "a", "AAPLx") == 0


def test_market_remainder_with_no_liquidity_beyond_is_an_ioc_remainder() -> None:
    d = funded()
    d.new("b", "sell", 100, 23_000)
    events = d.new("a", "buy", 300, None, order_type="market")
    assert cancels(events) == [(8, 200, "ioc_remainder")]


def test_market_order_with_a_tighter_protection_price_keeps_it() -> None:
    d = funded()
    d.new("b", "sell", 100, 23_000)
    d.new("b", "sell", 100, 23_100)
    events = d.new("a", "buy", 300, 23_000, order_type="market")
    assert [(t.price, t.qty) for t in trades(events)] == [(23_000, 100)]
    assert cancels(events) == [(9, 200, "price_band")]


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_without_a_reference_price_only_resting_orders_are_accepted(side: str) -> None:
    d = funded(reference_price=0)
    assert risk(d).band(S) is None
    d.new("c", "sell" if side == "buy" else "buy", 100, 23_000)
    event = refused(d, lambda: d.new("a", side, 100, None, order_type="market"), "price_band")
    assert event.text == "limit_price: no reference price to cap a market order"
    # Without a reference there is no band: a limit order that would trade is
    # refused, one that rests is accepted, however far away.
    event = refused(d, lambda: d.new("a", side, 100, 23_000), "price_band")
    assert event.text == "limit_price: no reference price, so only an order that rests is accepted"
    if side == "buy":
        accepted(d.new("a", "sell", 100, 90_000))
    else:
        accepted(d.new("a", "buy", 100, 10))
    # With a reference the same crossing order trades.
    d.reference(23_000)
    accepted(d.new("a", side, 100, 23_000))


# ------------------------------------------------------------------ notional, order count, ids


def test_max_order_notional() -> None:
    # $1000.00 per order: 43478 lots at $230 is $999.994, 43479 lots $1000.017.
    d = make({"max_order_notional": 100_000}, reference_price=REF)
    d.deposit("a", "USD", 10**8)
    event = refused(d, lambda: d.new("a", "buy", 43_479, REF), "max_notional")
    assert event.text == "order notional above the account limit 100000"
    accepted(d.new("a", "buy", 43_478, REF))
    accepted(d.new("a", "buy", 50_000, 20_000))  # exactly $1000.00
    # A market order is measured at the reference price.
    refused(d, lambda: d.new("a", "buy", 43_479, None, order_type="market"), "max_notional")


def test_max_open_orders_counts_stops_and_every_symbol() -> None:
    d = Driver(S, T, risk=risk_for([instrument(S), instrument(T)], max_open_orders=3))
    d.deposit("a", "USD", 10**8)
    d.new("a", "buy", 100, 20_000)  # 2
    d.new("a", "buy", 100, 25_000, symbol=T, order_type="stop-loss-limit", trigger_price=25_000)
    d.new("a", "buy", 100, 20_000, symbol=T)  # 4
    assert len(d.engine.by_account["a"]) == 3
    event = refused(d, lambda: d.new("a", "buy", 100, 20_000), "orders_limit")
    assert event.text == "open orders: at the limit of 3"
    refused(d, lambda: d.new("a", "buy", 100, 20_000, symbol=T), "orders_limit")
    # A replace does not count the order it replaces.
    events = d.replace("a", order_id=2, price=20_001)
    assert cancels(events) == [(2, 100, "replaced")]
    assert accepted(events[1:]).replaces == 2
    d.cancel("a", order_id=4)
    accepted(d.new("a", "buy", 100, 20_000, symbol=T))


def test_duplicate_cl_ord_id_across_symbols() -> None:
    d = Driver(S, T, risk=risk_for([instrument(S), instrument(T)]))
    d.deposit("a", "USD", 10**8)
    d.deposit("b", "USD", 10**8)
    d.new("a", "buy", 100, 20_000, cl_ord_id="x")  # 3
    event = refused(
        d, lambda: d.new("a", "buy", 100, 20_000, symbol=T, cl_ord_id="x"), "duplicate_cl_ord_id"
    )
    assert (event.text, event.cl_ord_id) == ("cl_ord_id 'x': already open", "x")
    accepted(d.new("b", "buy", 100, 20_000, cl_ord_id="x"))  # another account's ids are its own
    d.cancel("a", cl_ord_id="x")
    accepted(d.new("a", "buy", 100, 20_000, symbol=T, cl_ord_id="x"))


# ------------------------------------------------------------------ funds and post-only


def test_insufficient_funds_for_a_buy() -> None:
    d = make(reference_price=REF)
    need = hold_for(23_010, 3_333)
    assert need == 7_689
    d.deposit("a", "USD", need - 1)
    event = refused(d, lambda: d.new("a", "buy", 3_333, 23_010), "insufficient_funds")
    assert event.text == f"USD: available below the {need} needed"
    d.deposit("a", "USD", 1)
    accepted(d.new("a", "buy", 3_333, 23_010))
    assert held(d, "a") == need
    # Nothing is left for a second order.
    refused(d, lambda: d.new("a", "buy", 1, 1), "insufficient_funds")


def test_insufficient_funds_for_a_sell() -> None:
    d = make(reference_price=REF)
    d.deposit("b", "AAPLx", 5_000 * LOT - 1)
    event = refused(d, lambda: d.new("b", "sell", 5_000, REF), "insufficient_funds")
    assert event.text == f"AAPLx: available below the {5_000 * LOT} needed"
    d.deposit("b", "AAPLx", 1)
    accepted(d.new("b", "sell", 5_000, REF))
    assert held(d, "b", "AAPLx") == 5_000 * LOT == bal(d, "b", "AAPLx")


def test_post_only_is_checked_after_funds_and_counts_own_orders() -> None:
    d = make(reference_price=REF)
    d.deposit("b", "AAPLx", 10**8)
    d.new("b", "sell", 100, REF)  # 2
    # No funds: the funds check answers first.
    refused(d, lambda: d.new("a", "buy", 100, REF, post_only=True), "insufficient_funds")
    d.deposit("a", "USD", 10**6)
    event = refused(d, lambda: d.new("a", "buy", 100, REF, post_only=True), "post_only")
    assert event.text == "post_only: order would take liquidity"
    # The account's own resting order counts too.
    d.deposit("b", "USD", 10**6)
    refused(d, lambda: d.new("b", "buy", 100, REF, post_only=True), "post_only")
    accepted(d.new("a", "buy", 100, REF - 1, post_only=True))


@pytest.mark.parametrize(
    ("inst", "limits", "fields", "reason"),
    [
        # qty_max before funds
        ({"qty_max": 10}, {}, {"qty": 11}, "invalid_arguments"),
        # qty_min before cost_min
        ({"qty_min": 10, "cost_min": 10**9}, {}, {"qty": 9}, "order_minimum"),
        # cost_min before max notional and funds
        ({"cost_min": 10**9}, {"max_order_notional": 1}, {}, "cost_minimum"),
        # price band before max notional
        ({}, {"max_order_notional": 1}, {"price": HIGH + 1}, "price_band"),
        # max notional before the open-order limit
        ({}, {"max_order_notional": 1, "max_open_orders": 0}, {}, "max_notional"),
        # the open-order limit before funds
        ({}, {"max_open_orders": 0}, {}, "orders_limit"),
    ],
)
def test_the_first_failing_check_is_the_answer(
    inst: dict[str, Any], limits: dict[str, Any], fields: dict[str, Any], reason: str
) -> None:
    d = make(limits, reference_price=REF, **inst)  # account "a" has no funds at all
    order = {"qty": 100, "price": REF} | fields
    refused(d, lambda: d.new("a", "buy", order["qty"], order["price"]), reason)


def test_duplicate_cl_ord_id_is_checked_before_funds() -> None:
    d = make(reference_price=REF)
    d.deposit("a", "USD", hold_for(REF, 100))
    d.new("a", "buy", 100, REF, cl_ord_id="x")
    refused(d, lambda: d.new("a", "buy", 100, REF, cl_ord_id="x"), "duplicate_cl_ord_id")


def test_cost_min_is_checked_before_the_price_band() -> None:
    # MARKET_RULES 6 and docs/RISK.md: cost_min (5) comes before the band (6).
    d = funded(cost_min=100_000)
    refused(d, lambda: d.new("a", "buy", 1, HIGH + 1), "cost_minimum")
    refused(d, lambda: d.new("a", "sell", 1, LOW - 1), "cost_minimum")


# ------------------------------------------------------------------ holds


@pytest.mark.parametrize(
    ("tier", "bps"),
    [(TIER, 25), (FeeTier("maker-dear", 40, 5), 40), (FeeTier("free", 0, 0), 0)],
)
def test_new_buy_holds_price_qty_and_the_larger_fee_rounded_up(tier: FeeTier, bps: int) -> None:
    d = make(fees=tier, reference_price=REF)
    d.deposit("a", "USD", 10**6)
    d.new("a", "buy", 3_333, 23_010)  # $230.10 x 0.3333 = $76.69233
    expected = math.ceil(Fraction(23_010 * 3_333, 10_000) * (1 + Fraction(bps, 10_000)))
    assert held(d, "a") == expected == d.engine.orders[2].hold
    assert bal(d, "a") == 10**6


def test_sell_holds_the_base_units() -> None:
    d = funded()
    d.new("b", "sell", 5_000, REF)
    assert held(d, "b", "AAPLx") == 5_000 * LOT == 50_000_000
    assert held(d, "b") == 0


def test_cancel_releases_the_hold() -> None:
    d = funded()
    d.new("a", "buy", 1_000, REF)  # 7
    d.new("b", "sell", 1_000, 24_000)  # 8
    d.cancel("a", order_id=7)
    d.cancel("b", order_id=8)
    assert no_holds(d)
    assert (bal(d, "a"), bal(d, "b", "AAPLx")) == (1_000_000, 100 * 10**8)


def test_brief_example_fill_with_fees_and_price_improvement() -> None:
    d = make(reference_price=REF)
    d.deposit("a", "USD", 1_000_000)
    d.deposit("b", "AAPLx", 10 * 10**8)
    d.new("b", "sell", 5_000, 23_000)
    events = d.new("a", "buy", 3_333, 23_010)
    fills_a = [(23_000, 3_333, 25)]
    fills_b = [(23_000, 3_333, 10)]
    quote = math.ceil(cents(23_000, 3_333))
    assert (quote, paid(fills_a), received(fills_b)) == (7_666, 7_686, 7_658)
    assert trades(events) == [
        TradeExecuted(4, 4000, 1, S, 23_000, 3_333, "buy", 4, "a", 0, 3, "b", 1_667, 7_666, 20, 8)
    ]
    assert bal(d, "a") == 1_000_000 - 7_686 == 992_314
    assert bal(d, "a", "AAPLx") == 3_333 * LOT == 33_330_000
    assert bal(d, "b") == 7_658
    assert bal(d, "fees") == 7_686 - 7_658 == 28
    # a held 7689 at its limit and paid 7686: the price improvement is released.
    assert held(d, "a") == 0
    assert held(d, "b", "AAPLx") == 1_667 * LOT


def test_partial_fill_shrinks_the_buy_hold_to_what_the_rest_can_cost() -> None:
    d = funded()
    d.new("b", "sell", 1_000, 22_990)  # 7
    d.new("a", "buy", 3_333, 23_000)  # 8: takes 1000 at 22990, rests 2333 at 23000
    done = [(22_990, 1_000, 25)]
    assert bal(d, "a") == 1_000_000 - paid(done)
    rest_worst = math.ceil(
        cents(22_990, 1_000) * Fraction(10_025, 10_000)
        + cents(23_000, 2_333) * Fraction(10_025, 10_000)
    )
    assert held(d, "a") == rest_worst - paid(done) == d.engine.orders[8].hold
    # The resting rest fills as a maker at its limit; what is left is released.
    events = d.new("c", "sell", 2_333, 23_000)
    assert [t.maker_leaves for t in trades(events)] == [0]
    both = [*done, (23_000, 2_333, 10)]
    assert bal(d, "a") == 1_000_000 - paid(both)
    assert held(d, "a") == 0
    assert bal(d, "a", "AAPLx") == 100 * 10**8 + 3_333 * LOT


def test_maker_sell_hold_is_consumed_by_partial_fills() -> None:
    d = funded()
    d.new("b", "sell", 5_000, REF)  # 7
    d.new("a", "buy", 1_000, REF)
    assert held(d, "b", "AAPLx") == 4_000 * LOT
    assert bal(d, "b", "AAPLx") == 100 * 10**8 - 1_000 * LOT
    assert bal(d, "b") == 1_000_000 + received([(REF, 1_000, 10)])


def test_amend_adjusts_the_buy_hold_and_refuses_an_unfundable_increase() -> None:
    d = make(reference_price=REF)
    d.deposit("a", "USD", hold_for(REF, 10_000))
    d.new("a", "buy", 10_000, REF)  # 2: holds all of a's money
    assert held(d, "a") == bal(d, "a") == hold_for(REF, 10_000)
    assert isinstance(d.amend("a", order_id=2, qty=5_000)[0], OrderAmended)
    assert held(d, "a") == hold_for(REF, 5_000)
    assert isinstance(d.amend("a", order_id=2, price=22_000)[0], OrderAmended)
    assert held(d, "a") == hold_for(22_000, 5_000)
    # At $220.00 the money held for 10000 lots at $230.00 covers 10454 lots, not 10455.
    assert hold_for(22_000, 10_454) <= bal(d, "a") < hold_for(22_000, 10_455)
    event = refused(d, lambda: d.amend("a", order_id=2, qty=10_455), "insufficient_funds")
    assert event.order_id == 2
    assert isinstance(d.amend("a", order_id=2, qty=10_454)[0], OrderAmended)
    assert held(d, "a") == hold_for(22_000, 10_454)
    assert hold_for(22_010, 10_454) > bal(d, "a")
    refused(d, lambda: d.amend("a", order_id=2, price=22_010), "insufficient_funds")
    assert isinstance(d.amend("a", order_id=2, qty=10_000, price=REF)[0], OrderAmended)
    assert held(d, "a") == bal(d, "a")


def test_amend_adjusts_a_sell_hold() -> None:
    d = make(reference_price=REF)
    d.deposit("b", "AAPLx", 1_000 * LOT)
    d.new("b", "sell", 600, REF)  # 2
    d.amend("b", order_id=2, qty=400)
    assert held(d, "b", "AAPLx") == 400 * LOT
    d.amend("b", order_id=2, qty=1_000)
    assert held(d, "b", "AAPLx") == 1_000 * LOT
    refused(d, lambda: d.amend("b", order_id=2, qty=1_001), "insufficient_funds")


def test_amend_of_a_partly_filled_buy_keeps_what_it_paid() -> None:
    d = funded()
    d.new("a", "buy", 3_000, 22_000)  # 7
    d.new("b", "sell", 1_000, 22_000)
    d.amend("a", order_id=7, price=22_500)
    done = [(22_000, 1_000, 10)]
    worst = cents(22_000, 1_000) * Fraction(10_010, 10_000) + cents(22_500, 2_000) * Fraction(
        10_025, 10_000
    )
    assert held(d, "a") == math.ceil(worst) - paid(done)


def test_replace_may_use_the_old_orders_hold() -> None:
    d = make(reference_price=REF)
    d.deposit("a", "USD", hold_for(REF, 10_000))
    d.new("a", "buy", 10_000, REF)  # 2: all of a's money is held
    events = d.replace("a", order_id=2, price=22_990)
    assert isinstance(events[0], OrderCancelled) and events[0].reason == "replaced"
    assert accepted(events[1:]).replaces == 2
    assert held(d, "a") == hold_for(22_990, 10_000)
    # Asking for more than the old hold plus what is free changes nothing.
    refused(d, lambda: d.replace("a", order_id=3, price=REF + 1), "insufficient_funds")
    assert held(d, "a") == hold_for(22_990, 10_000) == d.engine.orders[3].hold
    accepted(d.replace("a", order_id=3, price=REF)[1:])
    assert held(d, "a") == bal(d, "a")


def test_expiry_releases_the_hold() -> None:
    d = funded()
    d.new("a", "buy", 1_000, REF, tif="gtd", expire_ts=50_000)  # 7
    d.new("b", "sell", 1_000, 24_000, tif="gtd", expire_ts=50_000)  # 8
    assert d.engine.next_timer() == 50_000
    assert d.expire(50_000) == [
        OrderExpired(9, 50_000, 7, "a", S, 1_000),
        OrderExpired(9, 50_000, 8, "b", S, 1_000),
    ]
    assert no_holds(d)


def test_ioc_remainder_releases_the_hold() -> None:
    d = funded()
    d.new("b", "sell", 1_000, 23_000)
    events = d.new("a", "buy", 3_333, 23_010, tif="ioc")
    assert cancels(events) == [(8, 2_333, "ioc_remainder")]
    assert held(d, "a") == 0
    assert bal(d, "a") == 1_000_000 - paid([(23_000, 1_000, 25)]) == 1_000_000 - 2_306


def test_fok_that_cannot_fill_releases_the_hold() -> None:
    d = funded()
    d.new("b", "sell", 1_000, 23_000)
    events = d.new("a", "buy", 3_333, 23_010, tif="fok")
    assert cancels(events) == [(8, 3_333, "fok_unfillable")]
    assert held(d, "a") == 0 and bal(d, "a") == 1_000_000


def test_market_buy_is_held_at_the_band_edge_and_the_rest_released() -> None:
    d = make(reference_price=REF)
    d.deposit("b", "AAPLx", 10**8)
    d.new("b", "sell", 1_000, 23_000)  # 2
    need = hold_for(HIGH, 1_000)  # $241.50 x 0.1 x 1.0025 = 24.210375 -> 2422 cents
    assert need == 2_422
    d.deposit("a", "USD", need - 1)
    # It would only pay 2306 at 23000, but it must be able to pay up to the band edge.
    refused(d, lambda: d.new("a", "buy", 1_000, None, order_type="market"), "insufficient_funds")
    d.deposit("a", "USD", 1)
    events = d.new("a", "buy", 1_000, None, order_type="market")
    assert [(t.price, t.qty, t.taker_fee) for t in trades(events)] == [(23_000, 1_000, 6)]
    assert held(d, "a") == 0
    assert bal(d, "a") == need - paid([(23_000, 1_000, 25)]) == 2_422 - 2_306


def cash_lots(levels: list[tuple[int, int]], budget: int, bps: int) -> list[tuple[int, int]]:
    """The fills a cash-sized market buy gets: whole lots while the rounded-up total fits."""
    fills: list[tuple[int, int]] = []
    spent = Fraction(0)
    for price, qty in levels:
        lot = cents(price, 1) * Fraction(BPS + bps, BPS)
        q = 0
        while q < qty and math.ceil(spent + lot * (q + 1)) <= budget:
            q += 1
        if q:
            fills.append((price, q))
        spent += lot * q
        if q < qty:
            break
    return fills


def test_cash_qty_market_buy_spends_at_most_its_budget_fees_included() -> None:
    d = funded()
    d.new("b", "sell", 300, 23_000)  # 7
    d.new("c", "sell", 300, 23_100)  # 8
    expected = cash_lots([(23_000, 300), (23_100, 300)], 1_000, 25)
    assert expected == [(23_000, 300), (23_100, 133)]
    events = d.new("a", "buy", 10_000, None, order_type="market", cash_qty=1_000)
    assert [(t.price, t.qty) for t in trades(events)] == expected
    spent = 1_000_000 - bal(d, "a")
    assert spent == paid([(p, q, 25) for p, q in expected]) <= 1_000
    # One lot more would have gone over the budget.
    assert paid([(p, q, 25) for p, q in [*expected, (23_100, 1)]]) > 1_000
    assert held(d, "a") == 0
    assert d.engine.books[S].depth() == ([], [(23_100, 167)])


def test_cash_qty_market_buy_needs_its_budget_available() -> None:
    d = funded()
    d.new("b", "sell", 300, 23_000)
    d.withdraw("a", "USD", 1_000_000 - 999)
    refused(
        d,
        lambda: d.new("a", "buy", 100, None, order_type="market", cash_qty=1_000),
        "insufficient_funds",
    )


def test_cash_qty_that_affords_nothing_is_cancelled_whole() -> None:
    d = funded()
    d.new("b", "sell", 300, 23_000)
    # Two cents buy nothing: one lot costs 2.30575 cents.
    events = d.new("a", "buy", 100, None, order_type="market", cash_qty=2)
    assert trades(events) == []
    assert cancels(events) == [(8, 100, "ioc_remainder")]
    assert bal(d, "a") == 1_000_000 and held(d, "a") == 0


def test_cash_qty_market_buy_remainder_is_cancelled_when_liquidity_runs_out() -> None:
    d = funded()
    d.new("b", "sell", 300, 23_000)  # 7
    events = d.new("a", "buy", 1_000, None, order_type="market", cash_qty=100_000)
    assert [(t.qty, t.taker_leaves) for t in trades(events)] == [(300, 700)]
    assert cancels(events) == [(8, 700, "ioc_remainder")]


# ------------------------------------------------------------------ deposits and withdrawals


def test_deposit_and_withdraw_events_carry_the_new_balance() -> None:
    d = make()
    assert d.deposit("a", "USD", 500) == [FundsDeposited(1, 1000, "a", "USD", 500, 500)]
    assert d.deposit("a", "USD", 250) == [FundsDeposited(2, 2000, "a", "USD", 250, 750)]
    assert d.withdraw("a", "USD", 700) == [FundsWithdrawn(3, 3000, "a", "USD", 700, 50)]
    assert risk(d).net_in["USD"] == 50


@pytest.mark.parametrize(
    ("account", "asset", "amount", "reason"),
    [
        ("zzz", "USD", 1, "unknown_account"),
        ("a", "EUR", 1, "invalid_arguments"),
    ],
)
def test_bad_deposits_and_withdrawals_change_nothing(
    account: str, asset: str, amount: int, reason: str
) -> None:
    d = make()
    d.deposit("a", "USD", 100)
    refused(d, lambda: d.deposit(account, asset, amount), reason)
    refused(d, lambda: d.withdraw(account, asset, amount), reason)


@pytest.mark.parametrize("amount", [0, -5])
def test_non_positive_funding_amounts_are_refused_at_the_edge(amount: int) -> None:
    with pytest.raises(CommandError, match="amount"):
        Deposit(1, 1, "a", "USD", amount)
    with pytest.raises(CommandError, match="amount"):
        Withdraw(1, 1, "a", "USD", amount)


def test_withdraw_cannot_take_held_funds() -> None:
    d = make(reference_price=REF)
    d.deposit("a", "USD", 10_000)
    d.new("a", "buy", 3_333, 23_010)  # holds 7689
    free = 10_000 - 7_689
    event = refused(d, lambda: d.withdraw("a", "USD", free + 1), "insufficient_funds")
    assert event.text == f"amount {free + 1}: above the available {free}"
    assert d.withdraw("a", "USD", free) == [FundsWithdrawn(4, 4000, "a", "USD", free, 7_689)]
    refused(d, lambda: d.withdraw("a", "USD", 1), "insufficient_funds")
    d.deposit("b", "AAPLx", 100 * LOT)
    d.new("b", "sell", 60, 24_000)
    refused(d, lambda: d.withdraw("b", "AAPLx", 40 * LOT + 1), "insufficient_funds")


def test_fee_account_cannot_be_driven_negative_by_a_withdrawal() -> None:
    d = make(fees=FeeTier("zero", 0, 0), reference_price=5_000)
    d.deposit("a", "USD", 100)
    d.deposit("c", "USD", 100)
    d.deposit("b", "AAPLx", 3 * LOT)
    d.new("b", "sell", 2, 5_000)  # 4: one lot at $50.00 is half a cent
    d.new("c", "buy", 1, 5_000)  # c pays 1 (0.5 up), b's order 4 gets 0 (0.5 down)
    d.new("a", "buy", 2, 4_999)  # 6
    d.new("b", "sell", 1, 4_999)  # a's order 6 pays 1 (0.4999 up), b gets 0
    assert bal(d, "fees") == 2
    # Orders 4 and 6 have traded and are open: the fee account keeps 2 units
    # for each, so the operator cannot take the 2 it holds.
    [refusal] = d.withdraw("fees", "USD", 2)
    assert isinstance(refusal, OrderRejected) and refusal.reason == "insufficient_funds"
    assert bal(d, "fees") == 2
    # Order 6 has paid 1 for 0.4999 and order 4 got 0 for 0.5: this fill of 0.5 costs
    # order 6 nothing more (0.9999 up is 1) and pays order 4 one cent (1.0 down is 1).
    d.amend("a", order_id=6, price=5_000)
    assert bal(d, "fees") == 1


# ------------------------------------------------------------------ reference price


def test_set_reference_price_moves_the_band_rounded_inward() -> None:
    d = funded()
    events = d.reference(23_001)
    # 23001 x 0.95 = 21850.95 -> 21851; 23001 x 1.05 = 24151.05 -> 24151.
    assert events == [ReferencePriceSet(7, 7000, S, 23_001, 21_851, 24_151)]
    assert risk(d).band(S) == (21_851, 24_151)
    refused(d, lambda: d.new("a", "buy", 100, 24_152), "price_band")
    refused(d, lambda: d.new("a", "sell", 100, 21_850), "price_band")
    accepted(d.new("a", "buy", 100, 24_151))
    accepted(d.new("b", "sell", 100, 24_152))


def test_reference_on_a_tier_two_instrument_has_a_ten_percent_band() -> None:
    d = make(tier=2)
    assert risk(d).band(S) is None
    assert d.reference(23_001) == [ReferencePriceSet(1, 1000, S, 23_001, 20_701, 25_301)]
    assert math.ceil(23_001 * Fraction(9, 10)) == 20_701
    assert math.floor(23_001 * Fraction(11, 10)) == 25_301


def test_reference_moves_the_cap_of_market_orders() -> None:
    d = funded()
    d.new("b", "sell", 100, 25_000)  # 7: beyond the band of 23000
    events = d.new("a", "buy", 100, None, order_type="market")
    assert cancels(events) == [(8, 100, "price_band")]
    assert d.reference(24_000) == [ReferencePriceSet(9, 9000, S, 24_000, 22_800, 25_200)]
    events = d.new("a", "buy", 100, None, order_type="market")
    assert [(t.price, t.qty) for t in trades(events)] == [(25_000, 100)]


def test_reference_for_an_unknown_symbol_is_rejected() -> None:
    d = funded()
    refused(d, lambda: d.reference(23_000, symbol="NOPEx/USD"), "unknown_symbol")


# ------------------------------------------------------------------ dead man's switch


def test_dead_man_switch_cancels_at_the_deadline_and_not_before() -> None:
    d = funded()
    d.new("a", "buy", 100, 22_000)  # 7
    d.new("a", "sell", 100, 24_000)  # 8
    d.new("b", "buy", 100, 22_000)  # 9
    assert d.cancel_after("a", 60_000) == [DeadManSwitchSet(10, 10_000, "a", 70_000)]
    assert d.engine.next_timer() == 70_000
    assert d.expire(69_999) == []
    assert set(d.engine.orders) == {7, 8, 9}
    assert d.expire(70_000) == [
        DeadManSwitchSet(12, 70_000, "a", None),
        OrderCancelled(12, 70_000, 7, "a", S, 100, "dead_man_switch"),
        OrderCancelled(12, 70_000, 8, "a", S, 100, "dead_man_switch"),
    ]
    assert set(d.engine.orders) == {9}
    assert held(d, "a") == held(d, "a", "AAPLx") == 0
    assert d.engine.next_timer() is None
    assert d.expire(80_000) == []


def test_dead_man_switch_fires_when_timers_run_after_the_deadline() -> None:
    d = funded()
    d.new("a", "buy", 100, 22_000)  # 7
    d.cancel_after("a", 1_000)  # deadline 9000
    assert [type(e) for e in d.expire(50_000)] == [DeadManSwitchSet, OrderCancelled]
    assert not d.engine.orders


def test_dead_man_switch_refresh_moves_and_zero_disarms() -> None:
    d = funded()
    d.new("a", "buy", 100, 22_000)  # 7
    d.cancel_after("a", 5_000)  # 8: deadline 13000
    assert d.cancel_after("a", 5_000) == [DeadManSwitchSet(9, 9000, "a", 14_000)]
    assert d.engine.next_timer() == 14_000
    assert d.cancel_after("a", 0) == [DeadManSwitchSet(10, 10_000, "a", None)]
    assert d.engine.next_timer() is None
    assert d.expire(100_000) == []
    assert set(d.engine.orders) == {7}


def test_next_timer_is_the_earliest_of_expiries_and_deadlines() -> None:
    d = funded()
    d.new("a", "buy", 100, 22_000, tif="gtd", expire_ts=90_000)  # 7
    d.cancel_after("b", 50_000)  # 8: deadline 58000
    assert d.engine.next_timer() == 58_000
    d.cancel_after("b", 0)
    assert d.engine.next_timer() == 90_000


def test_dead_man_switch_for_an_unknown_account_is_rejected() -> None:
    d = funded()
    refused(d, lambda: d.cancel_after("zzz", 1_000), "unknown_account")


# ------------------------------------------------------------------ gaps on amend


def test_amend_cannot_exceed_the_max_order_notional() -> None:
    d = make({"max_order_notional": 100_000}, reference_price=REF)
    d.deposit("a", "USD", 10**9)
    d.new("a", "buy", 40_000, REF)  # 2: $920.00
    refused(d, lambda: d.amend("a", order_id=2, qty=400_000), "max_notional")


def test_a_waiting_stops_new_price_re_sizes_its_hold_and_keeps_its_trigger() -> None:
    # The compiled build amends a waiting stop's price in C (engine/_core.pyx
    # _amend_stop_price); the pure build in Engine._amend. Both must do this.
    d = make(reference_price=REF)
    d.deposit("a", "USD", 10**9)
    d.new("a", "buy", 1_000, 23_500, order_type="stop-loss-limit", trigger_price=23_400)
    limit_stop = d.engine.last_seq
    assert held(d, "a") == hold_for(23_500, 1_000)
    events = d.amend("a", order_id=limit_stop, price=23_600)
    seq = d.engine.last_seq
    assert events == [
        OrderAmended(seq, seq * 1000, limit_stop, "a", S, 1_000, 23_600, 1_000, None, 23_400, True)
    ]
    assert held(d, "a") == hold_for(23_600, 1_000)
    order = d.engine.orders[limit_stop]
    assert (order.stop, order.price, order.shown, order.trigger_price) == (
        True,
        23_600,
        1_000,
        23_400,
    )
    # A market stop's protection price: the hold follows it too.
    d.new("a", "buy", 1_000, 24_000, order_type="stop-loss", trigger_price=23_400)
    market_stop = d.engine.last_seq
    assert isinstance(d.amend("a", order_id=market_stop, price=24_100)[0], OrderAmended)
    assert held(d, "a") == hold_for(23_600, 1_000) + hold_for(24_100, 1_000)
    # Beyond the band is no refusal for a stop (it is judged when it triggers).
    assert isinstance(d.amend("a", order_id=limit_stop, price=HIGH + 500)[0], OrderAmended)
    assert held(d, "a") == hold_for(HIGH + 500, 1_000) + hold_for(24_100, 1_000)
    # The triggers and the stops' order are kept: a print at 23,400 fires both.
    d.deposit("b", "AAPLx", 10 * LOT)
    d.deposit("c", "USD", 10**9)
    d.new("b", "sell", 1, 23_400)
    fired = d.new("c", "buy", 1, 23_400)
    assert [e.order_id for e in fired if isinstance(e, OrderTriggered)] == [
        limit_stop,
        market_stop,
    ]


def test_a_waiting_stops_new_price_is_judged_as_a_stop() -> None:
    # check_amend for a stop: a market stop's worth is taken at the reference,
    # a stop-limit's at its new price, and neither meets the band check.
    d = make({"max_order_notional": 100_000}, reference_price=REF)
    d.deposit("a", "USD", 10**9)
    # $1000.00: 43478 lots at the reference ($230.00) is within, 43479 above.
    d.new("a", "buy", 43_479, 20_000, order_type="stop-loss", trigger_price=23_400)
    refused_new = d.engine.last_seq
    assert not d.engine.orders.get(refused_new)  # refused at the reference's worth
    d.new("a", "buy", 43_478, 20_000, order_type="stop-loss", trigger_price=23_400)  # open
    market_stop = d.engine.last_seq
    # A lower protection price leaves the worth at the reference: still within.
    assert isinstance(d.amend("a", order_id=market_stop, price=10_000)[0], OrderAmended)
    # With the reference moved up, 43478 lots are worth $1004.34: any new
    # protection price, however low, is refused.
    d.reference(23_100)
    refused(d, lambda: d.amend("a", order_id=market_stop, price=9_000), "max_notional")
    d.reference(REF)
    d.new("a", "buy", 40_000, 20_000, order_type="stop-loss-limit", trigger_price=23_400)
    limit_stop = d.engine.last_seq  # $800.00 at its limit
    refused(d, lambda: d.amend("a", order_id=limit_stop, price=25_001), "max_notional")
    assert isinstance(d.amend("a", order_id=limit_stop, price=25_000)[0], OrderAmended)


def test_amend_below_qty_min_or_cost_min_is_refused() -> None:
    d = funded(qty_min=100, cost_min=100_000)  # $1,000.00 minimum
    d.new("a", "buy", 50_000, REF)  # 7: $1,150.00
    refused(d, lambda: d.amend("a", order_id=7, qty=99), "order_minimum")
    refused(d, lambda: d.amend("a", order_id=7, qty=40_000), "cost_minimum")
    assert d.amend("a", order_id=7, qty=45_000)[0].qty == 45_000  # type: ignore[union-attr]


def test_cash_sized_buy_is_judged_by_its_cash() -> None:
    d = funded(cost_min=500)  # $5.00 minimum
    d.new("b", "sell", 10_000, REF)
    # Judged by reference x qty this order would be worth $2,300,000.
    refused(
        d,
        lambda: d.new("a", "buy", 10**8, None, order_type="market", cash_qty=499),
        "cost_minimum",
    )
    accepted(d.new("a", "buy", 10**8, None, order_type="market", cash_qty=500))


def test_cash_sized_buy_under_an_account_limit_is_judged_by_its_cash() -> None:
    d = make({"max_order_notional": 100_000}, reference_price=REF)
    d.deposit("a", "USD", 10**6)
    # A $10.00 budget with a large quantity cap is well under the $1,000.00 limit.
    accepted(d.new("a", "buy", 10**6, None, order_type="market", cash_qty=1_000))


def test_market_order_without_reference_is_refused_for_the_band_first() -> None:
    d = make(cost_min=1)  # no reference price
    d.deposit("a", "USD", 10**6)
    refused(d, lambda: d.new("a", "buy", 100, None, order_type="market"), "price_band")


def test_deposits_stop_at_the_64_bit_unit_limit() -> None:
    d = make()
    d.deposit("a", "USD", (1 << 63) - 2)
    refused(d, lambda: d.deposit("a", "USD", 2), "invalid_arguments")
    d.deposit("a", "USD", 1)
    assert bal(d, "a") == (1 << 63) - 1
    d.engine.state_hash()  # still encodable
