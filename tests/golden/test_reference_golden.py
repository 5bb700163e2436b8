"""The reference price: a rolling five-minute average of trades in regular hours, frozen outside.

An instrument on a schedule, whole-share lots at $0.01 ticks (one tick x one
lot is one cent), reference $100.00 to start, tier 1. Expectations are worked
out by hand: the average is the volume-weighted price of the prints in the
five minutes up to the trade, rounded to the nearest tick; band edges are
``ceil(ref x (1 - w))`` and ``floor(ref x (1 + w))``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine.calendar import eastern_to_utc_ns
from engine.events import Event, OrderRejected, ReferencePriceSet, ReferencePriceStale
from tests.builders import SYMBOL, Driver, instrument, risk_for

S = SYMBOL
MINUTE = 60 * 10**9
MONDAY = date(2026, 11, 23)


def at(hour: int, minute: int, day: date = MONDAY) -> int:
    return eastern_to_utc_ns(day, hour, minute)


def make(start: int, reference: int = 10_000) -> Driver:
    inst = instrument(qty_increment=Decimal("1"), reference_price=reference)
    d = Driver(risk=risk_for([inst]), instruments=[inst], start_ts=start)
    for account in ("a", "b", "c"):
        d.deposit(account, "USD", 100_000_000)
        d.deposit(account, "AAPLx", 10_000 * 10**8)
    return d


def references(events: list[Event]) -> list[tuple[int, int, int]]:
    """(price, low, high) of each ReferencePriceSet among ``events``."""
    return [(e.price, e.low, e.high) for e in events if isinstance(e, ReferencePriceSet)]


def test_the_reference_follows_five_minutes_of_trades_in_regular_hours() -> None:
    d = make(at(10, 0))
    assert d.engine.sessions[S].phase == "regular"
    d.new("b", "sell", 10, 10_100)
    # 4 lots at 101.00: the average is 101.00; band 5%: 95.95 to 106.05.
    assert references(d.new("a", "buy", 4, 10_100)) == [(10_100, 9_595, 10_605)]
    d.run_until(at(10, 2))
    # 6 more at 101.00: the average does not move, nothing is published.
    assert references(d.new("a", "buy", 6, 10_100)) == []
    d.new("b", "sell", 10, 10_400)
    d.run_until(at(10, 3))
    # 10 at 104.00: (4 x 101 + 6 x 101 + 10 x 104) / 20 = 102.50; 5%: 97.375 -> 97.38
    # (rounded inward, up) to 107.625 -> 107.62.
    assert references(d.new("c", "buy", 10, 10_400)) == [(10_250, 9_738, 10_762)]
    # At 10:06 the prints of 10:00 have left the window, those of 10:02 and
    # 10:03 have not: (6 x 101 + 10 x 104 + 10 x 103) / 26 = 102.923... -> 102.92.
    d.run_until(at(10, 6))
    d.new("b", "sell", 10, 10_300)
    assert references(d.new("a", "buy", 10, 10_300)) == [(10_292, 9_778, 10_806)]
    # Nothing traded for a while: the reference stays where the last average left it.
    d.run_until(at(11, 0))
    assert d.engine.risk is not None
    assert d.engine.risk.band(S) == (9_778, 10_806)


def test_outside_regular_hours_the_reference_is_frozen() -> None:
    d = make(at(15, 58))
    d.new("b", "sell", 5, 10_200)
    # 15:58 is in the doubled closing window: 10% around 102.00.
    assert references(d.new("a", "buy", 5, 10_200)) == [(10_200, 9_180, 11_220)]
    # 16:00: extended, band 10% of the frozen 102.00: 91.80 to 112.20.
    d.run_until(at(16, 0))
    d.new("b", "sell", 5, 11_000)
    assert references(d.new("a", "buy", 5, 11_000)) == []
    assert d.engine.risk is not None
    assert d.engine.risk.band(S) == (9_180, 11_220)
    # 09:30 next day: the doubled opening band (10%) around 102.00 until a trade.
    tuesday = date(2026, 11, 24)
    d.run_until(at(9, 31, tuesday))
    assert d.engine.risk.band(S) == (9_180, 11_220)
    # The first regular trade alone is the new average: 5 at 108.00; 10%: 97.20-118.80.
    d.new("b", "sell", 5, 10_800)
    assert references(d.new("a", "buy", 5, 10_800)) == [(10_800, 9_720, 11_880)]


def test_the_reopening_uncross_print_counts_in_regular_hours() -> None:
    d = make(at(11, 0))
    d.halt()
    d.resume(auction_ns=MINUTE)
    d.new("a", "buy", 3, 10_150)
    d.new("b", "sell", 3, 10_150)
    # The call ends at 11:01: 3 lots at 101.50 (the only price that trades).
    events = d.run_until(at(11, 2))
    assert references(events) == [(10_150, 9_643, 10_657)]


def test_with_no_reference_only_resting_orders_are_accepted() -> None:
    d = make(at(11, 0), reference=0)
    assert d.new("b", "sell", 5, 10_000)[0].__class__.__name__ == "OrderAccepted"
    [refusal] = d.new("a", "buy", 5, 10_000)
    assert isinstance(refusal, OrderRejected)
    assert refusal.reason == "price_band"
    [refusal] = d.new("a", "buy", 5, None, order_type="market")
    assert isinstance(refusal, OrderRejected)
    assert refusal.reason == "price_band"
    # A bid below the offer rests.
    assert d.new("a", "buy", 5, 9_000)[0].__class__.__name__ == "OrderAccepted"


def test_a_reference_not_renewed_for_five_days_goes_stale() -> None:
    start = at(10, 0)
    d = make(start)  # the configured close counts as set at the start
    day = 24 * 60 * MINUTE
    assert d.engine.next_timer() == at(15, 35)  # the closing band window comes first
    d.new("b", "sell", 5, 10_000)  # 7: rests (nothing to cross)
    # No trade all week (the schedule moves on underneath): Saturday 10:00 it is stale.
    stale = start + 5 * day
    events = d.run_until(stale)
    assert [e for e in events if isinstance(e, ReferencePriceStale)] == [
        ReferencePriceStale(events[-1].seq, stale, S, 10_000)
    ]
    # Only orders that rest are accepted now; the one that would trade is refused.
    [refusal] = d.new("a", "buy", 5, 10_000)
    assert isinstance(refusal, OrderRejected) and refusal.reason == "price_band"
    assert d.new("a", "buy", 5, 9_000)[0].__class__.__name__ == "OrderAccepted"
    # The operator sets a new one: trading resumes, and the five days start again.
    d.reference(10_000)
    assert references(d.new("a", "buy", 5, 10_000)) == []  # weekend: frozen, no average
    assert d.engine.books[S].reference_ts == d.now - 2_000
