"""Edge cases of the session rules, found by review: pauses, delistings and splits interacting.

Monday 2026-11-23, regular hours unless said; whole-share lots at $0.01
ticks, reference $100.00 (band 95.00-105.00). Each test names the rule it
holds the engine to (docs/SESSIONS.md).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine.calendar import eastern_to_utc_ns
from engine.events import (
    Event,
    OrderCancelled,
    OrderRejected,
    PhaseChanged,
    ReferencePriceSet,
    TradeExecuted,
)
from model.commands import CorporateAction
from model.instrument import Instrument
from tests.builders import SYMBOL, Driver, instrument, risk_for

S = SYMBOL
SECOND = 10**9
ELEVEN = eastern_to_utc_ns(date(2026, 11, 23), 11, 0)


def make(start: int = ELEVEN, insts: list[Instrument] | None = None) -> Driver:
    if insts is None:
        insts = [instrument(qty_increment=Decimal("1"), reference_price=10_000)]
    d = Driver(risk=risk_for(insts), instruments=insts, start_ts=start)
    for account in ("a", "b", "c"):
        d.deposit(account, "USD", 100_000_000)
        for inst in insts:
            d.deposit(account, inst.base, 10_000 * 10**8)
    return d


def act(
    d: Driver, symbol: str, kind: str, num: int = 1, den: int = 1, at: int | None = None
) -> list[Event]:
    seq, ts = d._stamp()
    return d.apply(CorporateAction(seq, ts, "ops", symbol, kind, num, den, at))  # type: ignore[arg-type]


def pause(d: Driver) -> None:
    """A volatility pause: an offer left below the band by a new reference, then a bid for it."""
    d.new("b", "sell", 5, 9_600)
    d.reference(10_200)
    d.new("a", "buy", 2, 9_700)
    assert d.engine.sessions[S].phase == "halted" and d.engine.sessions[S].until is not None


def test_after_a_pause_nothing_trades_in_the_same_command() -> None:
    """Halted is cancels only: stops triggered in the command that paused trading rest."""
    d = make()
    d.halt()
    d.resume()
    end = d.engine.sessions[S].until
    assert end is not None
    d.new("b", "sell", 10, 9_000)
    d.new("c", "buy", 5, 10_000)
    d.new("a", "buy", 1, 9_600, order_type="stop-loss-limit", trigger_price=10_000)
    d.new("c", "sell", 1, 9_550, order_type="stop-loss-limit", trigger_price=10_000)
    events = d.run_until(end)
    paused = next(
        i for i, e in enumerate(events) if isinstance(e, PhaseChanged) and e.reason == "volatility"
    )
    assert not [e for e in events[paused:] if isinstance(e, TradeExecuted)]
    assert d.engine.sessions[S].phase == "halted"


def test_no_volatility_pause_outside_regular_hours() -> None:
    """A bid at the band edge just before the close does not pause the extended session."""
    d = make(start=eastern_to_utc_ns(date(2026, 11, 23), 15, 59) + 50 * SECOND)
    d.new("a", "buy", 1, 11_000)  # the doubled closing band's upper edge
    close = eastern_to_utc_ns(date(2026, 11, 23), 16, 0)
    assert d.run_until(close + 30 * SECOND) == [
        PhaseChanged(8, close, S, "extended", 1_000, "schedule")
    ]
    assert d.engine.sessions[S].edge_since is None


def test_a_delisting_announced_during_a_pause_keeps_the_instrument_cancel_only() -> None:
    d = make()
    pause(d)
    seq, ts = d._stamp()
    d.apply(CorporateAction(seq, ts, "ops", S, "delist", effective_ts=ts + 3_600 * SECOND))
    session = d.engine.sessions[S]
    assert session.phase == "halted" and session.until is None  # the pause's end is gone
    assert d.engine.next_timer() == ts + 3_600 * SECOND
    [refusal] = d.new("c", "buy", 1, 9_800)
    assert isinstance(refusal, OrderRejected) and refusal.reason == "halted"


def test_a_split_leaves_a_delisted_instrument_on_the_same_token_closed() -> None:
    other = "AAPLx/USD2"
    insts = [
        instrument(qty_increment=Decimal("1"), reference_price=10_000),
        instrument(other, base="AAPLx", qty_increment=Decimal("1"), reference_price=10_000),
    ]
    d = make(insts=insts)
    act(d, other, "delist")
    act(d, S, "split", 2, 1)
    assert d.engine.sessions[other].phase == "closed"
    assert d.engine.sessions[S].phase == "auction"
    [refusal] = d.new("a", "buy", 1, 5_000, symbol=other)
    assert isinstance(refusal, OrderRejected) and refusal.reason == "market_closed"
    [refusal] = d.halt(other)
    assert isinstance(refusal, OrderRejected) and refusal.text == f"symbol {other}: delisted"


def test_a_split_cancels_orders_quoted_in_the_token_and_rescales_their_price() -> None:
    quoted = "TSLAx/AAPLx"
    insts = [
        instrument(qty_increment=Decimal("1"), reference_price=10_000),
        instrument(
            quoted,
            base="TSLAx",
            quote="AAPLx",
            qty_increment=Decimal("1"),
            price_increment=Decimal("0.0001"),
            reference_price=10_000,
        ),
    ]
    d = make(insts=insts)
    order_id = d.next_seq
    d.new("a", "buy", 9_000, 10_000, symbol=quoted)  # holds AAPLx
    seq, at = d.next_seq, d.now
    events = act(d, S, "split", 1, 10)  # 1-for-10: an AAPLx is worth 10 old ones
    assert OrderCancelled(seq, at, order_id, "a", quoted, 9_000, "corporate_action") in events
    # TSLAx priced in AAPLx: 1.0000 old AAPLx is 0.1000 new.
    assert [e for e in events if isinstance(e, ReferencePriceSet) and e.symbol == quoted] == [
        ReferencePriceSet(seq, at, quoted, 1_000, 950, 1_050)
    ]
    risk = d.engine.risk
    assert risk is not None
    assert risk.accounts["a"].balance["AAPLx"] == 1_000 * 10**8
    assert risk.accounts["a"].held["AAPLx"] == 0


def test_an_operator_halt_during_a_pause_holds_it_until_resumed() -> None:
    d = make()
    pause(d)
    now = d.now
    seq = d.next_seq
    assert d.halt(reason="news") == [PhaseChanged(seq, now, S, "halted", None, "news", None)]
    assert d.engine.sessions[S].until is None  # no end of its own: the operator resumes it
    assert [e.phase for e in d.resume(auction_ns=0) if isinstance(e, PhaseChanged)] == [
        "auction",
        "regular",
    ]
