"""Volatility pauses (limit up-limit down) in regular hours, worked out by hand.

An instrument on a schedule at Monday 11:00 ET (regular, tier 1: a 5% band),
whole-share lots at $0.01 ticks, reference $100.00, 10 bps maker / 25 bps
taker. A pause halts trading for 5 minutes; a 5-minute call then reopens it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine.calendar import eastern_to_utc_ns
from engine.events import (
    AuctionIndicated,
    AuctionUncrossed,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    PhaseChanged,
    ReferencePriceSet,
    TradeExecuted,
)
from model.commands import NewOrder
from tests.builders import SYMBOL, Driver, instrument, risk_for

S = SYMBOL
SECOND = 10**9
FIVE_MINUTES = 300 * SECOND
START = eastern_to_utc_ns(date(2026, 11, 23), 11, 0)
HALTED = f"symbol {S}: trading halted, cancels only"


def make() -> Driver:
    inst = instrument(qty_increment=Decimal("1"), reference_price=10_000)
    d = Driver(risk=risk_for([inst]), instruments=[inst], start_ts=START)
    for account in ("a", "b", "c"):
        d.deposit(account, "USD", 100_000_000)  # commands 1-6
        d.deposit(account, "AAPLx", 10_000 * 10**8)
    return d


def stamp(seq: int) -> int:
    """The time the Driver gives command ``seq`` when no timer intervened: 1 us apart."""
    return START + (seq - 1) * 1_000


def test_a_trade_that_would_print_below_the_band_pauses_trading() -> None:
    d = make()
    d.new("b", "sell", 5, 9_600)  # 7: inside the band of 100.00 (95.00-105.00)
    # The reference moves to 102.00: band 96.90-107.10, and the offer is now below it.
    assert d.reference(10_200) == [ReferencePriceSet(8, stamp(8), S, 10_200, 9_690, 10_710)]
    t = stamp(9)
    # A buy at 97.00 would trade at 96.00, outside the band: trading pauses before
    # the trade, and the buy (it can wait) rests for the reopening auction.
    order = NewOrder(9, t, "a", S, "buy", 2, 9_700)
    assert d.new("a", "buy", 2, 9_700) == [
        OrderAccepted(9, t, 9, order),
        PhaseChanged(9, t, S, "halted", None, "volatility", t + FIVE_MINUTES),
    ]
    assert d.engine.books[S].depth() == ([(9_700, 2)], [(9_600, 5)])
    assert d.new("c", "buy", 1, 9_650) == [
        OrderRejected(10, stamp(10), "c", "halted", HALTED, None, None)
    ]
    # Five minutes later a 5-minute call starts. 2 lots trade at 96.00, 96.99 or
    # 97.00 with 3 more offered; 97.00 is nearest the reference 102.00.
    call = t + FIVE_MINUTES
    assert d.run_until(call) == [
        PhaseChanged(11, call, S, "auction", 2_000, "resume", call + FIVE_MINUTES),
        AuctionIndicated(11, call, S, 9_700, 2, -3),
    ]
    # The uncross: order 9 (later) takes 2 from order 7 at 97.00. $194.00: the
    # buyer pays 0.25% = 48.5 -> 49 cents; the seller 0.10% = 19.4 -> 20. The
    # print is the first trade of the new window: the reference becomes 97.00.
    end = call + FIVE_MINUTES
    assert d.run_until(end) == [
        TradeExecuted(12, end, 1, S, 9_700, 2, "buy", 9, "a", 0, 7, "b", 3, 19_400, 49, 20),
        AuctionUncrossed(12, end, S, 9_700, 2),
        PhaseChanged(12, end, S, "regular", 500, "uncross", None),
        ReferencePriceSet(12, end, S, 9_700, 9_215, 10_185),
    ]


def test_a_market_order_that_would_print_outside_the_band_is_cancelled() -> None:
    d = make()
    d.new("b", "sell", 5, 9_600)  # 7
    d.reference(10_200)  # 8
    t = stamp(9)
    order = NewOrder(9, t, "a", S, "buy", 2, None, "market")
    assert d.new("a", "buy", 2, None, order_type="market") == [
        OrderAccepted(9, t, 9, order),
        PhaseChanged(9, t, S, "halted", None, "volatility", t + FIVE_MINUTES),
        OrderCancelled(9, t, 9, "a", S, 2, "halted"),
    ]
    assert d.engine.books[S].depth() == ([], [(9_600, 5)])


def test_a_bid_at_the_band_edge_for_15_seconds_pauses_trading() -> None:
    d = make()
    t = stamp(7)
    d.new("a", "buy", 2, 10_500)  # 7: exactly at the upper edge
    assert d.engine.next_timer() == t + 15 * SECOND
    assert d.run_until(t + 15 * SECOND) == [
        PhaseChanged(
            8, t + 15 * SECOND, S, "halted", None, "volatility", t + 15 * SECOND + FIVE_MINUTES
        )
    ]


def test_leaving_the_edge_stops_the_clock() -> None:
    d = make()
    t = stamp(7)
    d.new("a", "buy", 2, 10_500)  # 7
    d.run_until(t + 10 * SECOND)
    d.cancel("a", order_id=7)  # 8: the best bid leaves the edge
    # An offer at the lower edge starts a clock of its own, from now.
    now = d.now
    d.new("b", "sell", 1, 9_500)  # 9
    assert d.run_until(t + 20 * SECOND) == []
    assert d.engine.sessions[S].phase == "regular"
    assert d.engine.next_timer() == now + 15 * SECOND
