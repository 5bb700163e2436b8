"""Golden event streams of corporate actions: split, reverse split, dividend, delisting.

No schedule (the instrument is ``regular`` until something halts it); whole
shares at $0.01 ticks; one share is 10**8 AAPLx units. Every expectation is
worked out by hand from MARKET_RULES.md section 5 and docs/SESSIONS.md.
"""

from __future__ import annotations

from decimal import Decimal

from engine.events import (
    AuctionIndicated,
    AuctionUncrossed,
    BalanceRebased,
    CorporateActionAnnounced,
    CorporateActionApplied,
    Event,
    OrderCancelled,
    OrderRejected,
    PhaseChanged,
    ReferencePriceSet,
)
from model.commands import CorporateAction
from tests.builders import SYMBOL, Driver, instrument, risk_for
from tests.golden.test_matching_golden import ts

S = SYMBOL
SHARE = 10**8
CALL = 300 * 10**9


def funded() -> Driver:
    """a: $100,000 and 3 shares and 1 unit; b: $100,000 and 10 shares (commands 1-4)."""
    inst = instrument(qty_increment=Decimal("1"), reference_price=10_000)
    d = Driver(risk=risk_for([inst]), instruments=[inst])
    d.deposit("a", "USD", 10_000_000)
    d.deposit("a", "AAPLx", 3 * SHARE + 1)
    d.deposit("b", "USD", 10_000_000)
    d.deposit("b", "AAPLx", 10 * SHARE)
    return d


def act(d: Driver, kind: str, num: int = 1, den: int = 1, at: int | None = None) -> list[Event]:
    seq, stamp = d._stamp()
    return d.apply(CorporateAction(seq, stamp, "ops", S, kind, num, den, at))  # type: ignore[arg-type]


def aapl(d: Driver) -> dict[str, int]:
    assert d.engine.risk is not None
    return {a.id: a.balance["AAPLx"] for a in d.engine.risk.accounts.values() if a.balance["AAPLx"]}


def test_a_3_for_2_split_cancels_orders_rebases_balances_and_reopens_by_auction() -> None:
    d = funded()
    d.new("a", "sell", 2, 10_100)  # 5
    d.new("b", "buy", 1, 9_900)  # 6
    end = ts(7) + CALL
    # 3 x (3 shares + 1 unit) / 2 = 4.5 shares + 1.5 units: 450_000_001 and half a
    # unit of dust; 10 shares become 15. The reference 100.00 x 2/3 = 66.666...
    # -> 66.67, band 5%: 63.34 to 70.00.
    assert act(d, "split", 3, 2) == [
        CorporateActionAnnounced(7, ts(7), S, "split", 3, 2, ts(7)),
        PhaseChanged(7, ts(7), S, "halted", None, "corporate_action", None),
        OrderCancelled(7, ts(7), 5, "a", S, 2, "corporate_action"),
        OrderCancelled(7, ts(7), 6, "b", S, 1, "corporate_action"),
        BalanceRebased(7, ts(7), "a", "AAPLx", 3 * SHARE + 1, 450_000_001),
        BalanceRebased(7, ts(7), "b", "AAPLx", 10 * SHARE, 15 * SHARE),
        CorporateActionApplied(7, ts(7), S, "split", "AAPLx", 3, 2, 1, 2),
        ReferencePriceSet(7, ts(7), S, 6_667, 6_334, 7_000),
        PhaseChanged(7, ts(7), S, "auction", 2_000, "resume", end),
        AuctionIndicated(7, ts(7), S, None, 0, 0),
    ]
    assert d.engine.books[S].depth() == ([], [])
    # The call: 1 new share at 66.70 against a bid at 67.00 uncrosses at 66.70
    # (nearest the reference 66.67 of the prices trading 1).
    d.new("a", "sell", 1, 6_670)  # 8
    d.new("b", "buy", 1, 6_700)  # 9
    events = d.run_until(end)
    assert events[-2:] == [
        AuctionUncrossed(10, end, S, 6_670, 1),
        PhaseChanged(10, end, S, "regular", 500, "uncross", None),
    ]
    assert aapl(d) == {"a": 350_000_001, "b": 16 * SHARE}


def test_a_1_for_10_reverse_split_at_an_effective_time() -> None:
    d = funded()
    later = ts(5) + 60 * 10**9
    assert act(d, "split", 1, 10, later) == [
        CorporateActionAnnounced(5, ts(5), S, "split", 1, 10, later)
    ]
    assert d.engine.next_timer() == later
    # 300_000_001 / 10 = 30_000_000 and a tenth of a unit of dust; the price
    # x 10: 1000.00, band 950.00 to 1050.00.
    events = d.run_until(later)
    assert events == [
        PhaseChanged(6, later, S, "halted", None, "corporate_action", None),
        BalanceRebased(6, later, "a", "AAPLx", 3 * SHARE + 1, 30_000_000),
        BalanceRebased(6, later, "b", "AAPLx", 10 * SHARE, SHARE),
        CorporateActionApplied(6, later, S, "split", "AAPLx", 1, 10, 1, 10),
        ReferencePriceSet(6, later, S, 100_000, 95_000, 105_000),
        PhaseChanged(6, later, S, "auction", 2_000, "resume", later + CALL),
        AuctionIndicated(6, later, S, None, 0, 0),
    ]


def test_a_dividend_rebases_balances_and_leaves_orders_alone() -> None:
    d = funded()
    d.new("a", "sell", 2, 10_100)  # 5: holds 2 shares
    # x 51/50 (2%): 3 shares + 1 unit -> 306_000_001 and 1/50 of a unit of dust;
    # 10 shares -> 10.2 shares exactly. No halt, no cancel, no price change.
    assert act(d, "dividend", 51, 50) == [
        CorporateActionAnnounced(6, ts(6), S, "dividend", 51, 50, ts(6)),
        BalanceRebased(6, ts(6), "a", "AAPLx", 3 * SHARE + 1, 306_000_001),
        BalanceRebased(6, ts(6), "b", "AAPLx", 10 * SHARE, 1_020_000_000),
        CorporateActionApplied(6, ts(6), S, "dividend", "AAPLx", 51, 50, 1, 50),
    ]
    assert d.engine.books[S].depth() == ([], [(10_100, 2)])
    assert d.engine.sessions[S].phase == "regular"


def test_a_delisting_is_cancel_only_then_closed_for_good() -> None:
    d = funded()
    d.new("a", "sell", 2, 10_100)  # 5
    d.new("b", "buy", 1, 9_900)  # 6
    later = ts(7) + 3_600 * 10**9
    assert act(d, "delist", at=later) == [
        CorporateActionAnnounced(7, ts(7), S, "delist", 1, 1, later),
        PhaseChanged(7, ts(7), S, "halted", None, "delisting", None),
    ]
    halted = f"symbol {S}: trading halted, cancels only"
    assert d.new("b", "buy", 1, 9_950) == [
        OrderRejected(8, ts(8), "b", "halted", halted, None, None)
    ]
    assert d.cancel("b", order_id=6) == [OrderCancelled(9, ts(9), 6, "b", S, 1, "user")]
    assert d.resume() == [
        OrderRejected(
            10,
            ts(10),
            "ops",
            "invalid_arguments",
            f"symbol {S}: delisting pending, cancel-only until it is closed",
        )
    ]
    assert d.run_until(later) == [
        OrderCancelled(11, later, 5, "a", S, 2, "corporate_action"),
        PhaseChanged(11, later, S, "closed", None, "delisted", None),
    ]
    closed = f"symbol {S}: market closed, cancels only"
    assert d.new("a", "sell", 1, 10_000) == [
        OrderRejected(12, ts(12), "a", "market_closed", closed, None, None)
    ]
    assert act(d, "dividend", 2, 1) == [
        OrderRejected(13, ts(13), "ops", "invalid_arguments", f"symbol {S}: delisted")
    ]
    assert d.engine.next_timer() is None
