"""Golden event streams of halts, call auctions and the uncross, with risk on.

The instrument trades whole shares at $0.01 ticks, so one tick x one lot is
one cent and the money is easy to follow by hand: 10 bps maker, 25 bps
taker, the reference $100.00 (10_000 ticks). No schedule (the engine runs
without a start time): the instrument is ``regular`` until halted. Every
command's complete event list is asserted; the Driver checks the engine's
invariants (an auction book may be crossed; nothing else changes) after
each command.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from engine.events import (
    AuctionIndicated,
    AuctionUncrossed,
    Event,
    IcebergRefilled,
    OrderCancelled,
    OrderRejected,
    OrderTriggered,
    PhaseChanged,
)
from tests.builders import SYMBOL, Driver, instrument, risk_for
from tests.golden.test_matching_golden import accepted, ts
from tests.golden.test_risk_golden import balances, fill

S = SYMBOL
REF = 10_000
CALL = 300 * 10**9
SHARE = 10**8  # AAPLx units in one lot (one share)


def funded() -> Driver:
    """Accounts a, b, c with $100,000 and 100 shares each (commands 1-6)."""
    inst = instrument(qty_increment=Decimal("1"), reference_price=REF)
    d = Driver(risk=risk_for([inst]), instruments=[inst])
    for account in ("a", "b", "c"):
        d.deposit(account, "USD", 10_000_000)
        d.deposit(account, "AAPLx", 100 * SHARE)
    return d


def fill_at(at: int, *args: Any) -> Event:
    """:func:`fill` of a command stamped ``at`` (a timer) instead of ``ts(seq)``."""
    return msgspec.structs.replace(fill(*args), ts=at)


def phase(seq: int, name: str, band: int | None, reason: str, until: int | None = None) -> Event:
    return PhaseChanged(seq, ts(seq), S, name, band, reason, until)


def indicated(seq: int, price: int | None, volume: int, imbalance: int) -> Event:
    return AuctionIndicated(seq, ts(seq), S, price, volume, imbalance)


def refused(seq: int, account: str, reason: str, text: str, order_id: int | None = None) -> Event:
    return OrderRejected(seq, ts(seq), account, reason, text, order_id, None)


HALTED_TEXT = f"symbol {S}: trading halted, cancels only"


def test_halt_collects_nothing_then_the_call_uncrosses_at_one_price() -> None:
    d = funded()
    assert d.new("a", "buy", 10, 9_900) == [accepted(7, "a", "buy", 10, 9_900)]
    assert d.new("b", "sell", 5, 10_100) == [accepted(8, "b", "sell", 5, 10_100)]
    assert d.halt() == [phase(9, "halted", None, "operator")]
    # Halted: cancels only.
    assert d.new("c", "buy", 3, 10_000) == [refused(10, "c", "halted", HALTED_TEXT)]
    assert d.amend("a", order_id=7, price=9_950) == [refused(11, "a", "halted", HALTED_TEXT, 7)]
    end = ts(12) + CALL
    assert d.resume() == [phase(12, "auction", 2_000, "resume", end), indicated(12, None, 0, 0)]
    # c's sell crosses a's bid: it waits. At 9_800, 9_899 and 9_900 four lots
    # trade with 6 more bid; 9_900 is nearest the reference 10_000.
    assert d.new("c", "sell", 4, 9_800) == [
        accepted(13, "c", "sell", 4, 9_800),
        indicated(13, 9_900, 4, 6),
    ]
    # A bid at 10_200 adds 2 lots willing at every price up to it; 9_900 still
    # trades the most (4), now with 8 bid over.
    assert d.new("a", "buy", 2, 10_200) == [
        accepted(14, "a", "buy", 2, 10_200),
        indicated(14, 9_900, 4, 8),
    ]
    assert d.engine.books[S].depth() == ([(10_200, 2), (9_900, 10)], [(9_800, 4), (10_100, 5)])
    # The call ends: bids in price-time priority (14 at 10_200, then 7) meet the
    # ask at 9_800; every trade prints at 9_900. The later order of each pair is
    # the taker: 14 (after 13), then 13 (after 7).
    #   14 buys 2: $198.00, taker fee 0.25% = 49.5 -> 50 cents, c's maker fee 19.8 -> 20.
    #   13 sells 2 more: its net over both fills is 396.00 less 0.10% of 198 and
    #   0.25% of 198 = 395.307 -> 395.30, so this fill pays 19_800 - 19_750 = 50;
    #   a (order 7) pays 198.198 -> 198.20, a maker fee of 20.
    assert d.run_until(end) == [
        fill_at(end, 15, 1, 9_900, 2, "buy", (14, "a", 0), (13, "c", 2), (19_800, 50, 20)),
        fill_at(end, 15, 2, 9_900, 2, "sell", (13, "c", 0), (7, "a", 8), (19_800, 50, 20)),
        AuctionUncrossed(15, end, S, 9_900, 4),
        PhaseChanged(15, end, S, "regular", 500, "uncross", None),
    ]
    assert d.engine.books[S].depth() == ([(9_900, 8)], [(10_100, 5)])
    assert balances(d)["fees"] == 140
    assert balances(d)["a"] == 10_000_000 - 19_850 - 19_820
    assert balances(d)["c"] == 10_000_000 + 19_780 + 19_750
    # Continuous trading again: a crossing order matches at once.
    assert d.new("c", "sell", 1, 9_900)[1] == fill(
        16, 3, 9_900, 1, "sell", (16, "c", 0), (7, "a", 7), (9_900, 25, 10)
    )


def test_operator_mistakes_are_refused() -> None:
    d = funded()
    assert d.resume() == [
        OrderRejected(7, ts(7), "ops", "invalid_arguments", f"symbol {S}: not halted")
    ]
    assert d.halt() == [phase(8, "halted", None, "operator")]
    assert d.halt(reason="again") == [
        OrderRejected(9, ts(9), "ops", "invalid_arguments", f"symbol {S}: already halted")
    ]
    assert d.halt(symbol="NOPE/USD") == [
        OrderRejected(10, ts(10), "ops", "unknown_symbol", "symbol 'NOPE/USD': not listed")
    ]


def test_the_call_takes_limit_orders_only_and_cancels_and_amends_change_the_indication() -> None:
    d = funded()
    d.halt()  # 7
    end = ts(8) + CALL
    assert d.resume()[0] == phase(8, "auction", 2_000, "resume", end)
    text = "only limit orders in the auction phase"
    assert d.new("a", "buy", 1, None, order_type="market") == [
        refused(9, "a", "limit_only", f"order_type market: {text}")
    ]
    assert d.new("a", "buy", 1, 10_000, tif="ioc") == [
        refused(10, "a", "limit_only", "time_in_force ioc: nothing matches during an auction call")
    ]
    assert d.new("a", "buy", 3, 10_050) == [
        accepted(11, "a", "buy", 3, 10_050)
    ]  # nothing to cross: the indication stays "nothing"
    assert d.new("b", "sell", 2, 10_000) == [
        accepted(12, "b", "sell", 2, 10_000),
        indicated(12, 10_000, 2, 1),
    ]
    # Amending the bid below the ask uncrosses the book: nothing would trade.
    assert d.amend("a", order_id=11, price=9_990)[1:] == [indicated(13, None, 0, 0)]
    # Back above; then the ask is cancelled.
    assert d.amend("a", order_id=11, price=10_020)[1:] == [indicated(14, 10_000, 2, 1)]
    assert d.cancel("b", order_id=12) == [
        OrderCancelled(15, ts(15), 12, "b", S, 2, "user"),
        indicated(15, None, 0, 0),
    ]
    # Nothing crosses at the end: the call closes with no trade.
    assert d.run_until(end) == [
        AuctionUncrossed(16, end, S, None, 0),
        PhaseChanged(16, end, S, "regular", 500, "uncross", None),
    ]


def test_resume_with_no_call_uncrosses_at_once_and_a_halt_suspends_a_call() -> None:
    d = funded()
    d.new("a", "buy", 2, 10_000)  # 7
    d.halt()  # 8
    d.resume()  # 9: a call
    assert d.new("b", "sell", 2, 10_000) == [
        accepted(10, "b", "sell", 2, 10_000),
        indicated(10, 10_000, 2, 0),
    ]
    # A halt during the call suspends it; nothing trades.
    assert d.halt(reason="news") == [phase(11, "halted", None, "news")]
    assert d.resume(auction_ns=0) == [
        phase(12, "auction", 2_000, "resume", ts(12)),
        fill(12, 1, 10_000, 2, "sell", (10, "b", 0), (7, "a", 0), (20_000, 50, 20)),
        AuctionUncrossed(12, ts(12), S, 10_000, 2),
        phase(12, "regular", 500, "uncross"),
    ]
    assert d.engine.next_timer() is None  # the suspended call's end is gone


def test_self_trade_prevention_and_icebergs_in_the_uncross() -> None:
    d = funded()
    d.halt()  # 7
    d.resume()  # 8
    end = ts(8) + CALL
    # An iceberg shows 2 of 6; all 6 count for the uncross.
    assert d.new("a", "buy", 6, 10_000, order_type="iceberg", display_qty=2) == [
        accepted(9, "a", "buy", 6, 10_000, order_type="iceberg", display_qty=2)
    ]
    assert d.new("b", "sell", 5, 10_000) == [
        accepted(10, "b", "sell", 5, 10_000),
        indicated(10, 10_000, 5, 1),
    ]
    # a also offers 1 at 9_990 (cancel_newest): it would meet its own bid first.
    assert d.new("a", "sell", 1, 9_990) == [
        accepted(11, "a", "sell", 1, 9_990),
        indicated(11, 10_000, 6, 0),
    ]
    # The uncross at 10_000: a's own ask (11) is the best ask and meets a's
    # iceberg (9): the later of the two (11) is cancelled. Then b's 5 lots fill
    # the iceberg slice by slice, each refill going to the back of the level.
    assert d.run_until(end) == [
        OrderCancelled(12, end, 11, "a", S, 1, "self_trade"),
        fill_at(end, 12, 1, 10_000, 2, "sell", (10, "b", 3), (9, "a", 4), (20_000, 50, 20)),
        IcebergRefilled(12, end, 9, "a", S, 2, 2),
        fill_at(end, 12, 2, 10_000, 2, "sell", (10, "b", 1), (9, "a", 2), (20_000, 50, 20)),
        IcebergRefilled(12, end, 9, "a", S, 2, 0),
        fill_at(end, 12, 3, 10_000, 1, "sell", (10, "b", 0), (9, "a", 1), (10_000, 25, 10)),
        AuctionUncrossed(12, end, S, 10_000, 5),
        PhaseChanged(12, end, S, "regular", 500, "uncross", None),
    ]
    assert d.engine.books[S].depth() == ([(10_000, 1)], [])


def test_stops_wait_through_the_call_and_trigger_on_the_uncross_print() -> None:
    d = funded()
    assert d.new("c", "sell", 1, 9_600, order_type="stop-loss-limit", trigger_price=9_950) == [
        accepted(7, "c", "sell", 1, 9_600, order_type="stop-loss-limit", trigger_price=9_950)
    ]
    d.new("a", "buy", 3, 9_800)  # 8: rests below the uncross
    d.halt()  # 9
    end = ts(10) + CALL
    d.resume()  # 10
    d.new("a", "buy", 1, 9_950)  # 11
    assert d.new("b", "sell", 1, 9_900)[1:] == [indicated(12, 9_950, 1, 0)]
    # 1 lot at 9_950 (the bid 11 is the only one at or above it; nearest the
    # reference among the prices trading 1 lot with no imbalance). That print
    # reaches the stop's trigger: it becomes a limit sell at 9_600 and takes
    # a's bid at 9_800, in continuous trading.
    assert d.run_until(end) == [
        fill_at(end, 13, 1, 9_950, 1, "sell", (12, "b", 0), (11, "a", 0), (9_950, 25, 10)),
        AuctionUncrossed(13, end, S, 9_950, 1),
        PhaseChanged(13, end, S, "regular", 500, "uncross", None),
        OrderTriggered(13, end, 7, "c", S, 9_950, 9_950),
        fill_at(end, 13, 2, 9_800, 1, "sell", (7, "c", 0), (8, "a", 2), (9_800, 25, 10)),
    ]
