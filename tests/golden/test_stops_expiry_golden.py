"""Golden event streams: stop orders and GTD/DAY expiry (docs/MATCHING.md)."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from engine.events import Event, OrderAmended
from tests.builders import Driver
from tests.golden.test_matching_golden import (
    S,
    accepted,
    amended,
    cancelled,
    depth,
    expired,
    rejected,
    trade,
    triggered,
)


def print_trade(d: Driver, price: int) -> list[Event]:
    """Make the last price ``price``: m bids 1 lot, n sells it; return n's events."""
    d.new("m", "buy", 1, price)
    return d.new("n", "sell", 1, price)


def printed(seq: int, trade_id: int, price: int) -> list[Event]:
    """The events of the n half of :func:`print_trade` at ``seq``."""
    return [
        accepted(seq, "n", "sell", 1, price),
        trade(seq, trade_id, price, 1, "sell", taker=(seq, "n", 0), maker=(seq - 1, "m", 0)),
    ]


class StopCase(NamedTuple):
    kind: str
    side: str
    trigger: int
    price: int | None  # the limit of a -limit kind; market kinds have no protection here
    away: int  # a last price moving away from the trigger
    miss: int  # a last price moving towards the trigger, not reaching it
    hit: int


STOP_CASES = [
    StopCase("stop-loss", "buy", 105, None, 96, 104, 105),
    StopCase("stop-loss-limit", "buy", 105, 111, 96, 104, 106),
    StopCase("take-profit", "buy", 95, None, 104, 96, 95),
    StopCase("take-profit-limit", "buy", 95, 111, 104, 96, 94),
    StopCase("stop-loss", "sell", 95, None, 104, 96, 95),
    StopCase("stop-loss-limit", "sell", 95, 89, 104, 96, 94),
    StopCase("take-profit", "sell", 105, None, 96, 104, 105),
    StopCase("take-profit-limit", "sell", 105, 89, 96, 104, 106),
]


@pytest.mark.parametrize("case", STOP_CASES, ids=[f"{c.kind}-{c.side}" for c in STOP_CASES])
def test_each_stop_kind_triggers_on_its_side_of_the_trigger(case: StopCase) -> None:
    d = Driver()
    # Liquidity for the triggered stop: an ask at 110 for a buy, a bid at 90 for a sell.
    buy = case.side == "buy"
    liquidity = 110 if buy else 90
    d.new("L", "sell" if buy else "buy", 10, liquidity)
    print_trade(d, 100)  # seqs 2, 3; trade 1
    fields = {"order_type": case.kind, "trigger_price": case.trigger}
    assert d.new("s", case.side, 2, case.price, **fields) == [
        accepted(4, "s", case.side, 2, case.price, **fields)
    ]
    assert depth(d) == (([], [(110, 10)]) if buy else ([(90, 10)], []))  # a stop is invisible
    assert print_trade(d, case.away) == printed(6, 2, case.away)
    assert print_trade(d, case.miss) == printed(8, 3, case.miss)
    assert d.engine.orders[4].stop
    assert print_trade(d, case.hit) == [
        *printed(10, 4, case.hit),
        triggered(10, 4, "s", case.trigger, case.hit),
        trade(10, 5, liquidity, 2, case.side, taker=(4, "s", 0), maker=(1, "L", 8)),
    ]
    assert 4 not in d.engine.orders
    assert depth(d) == (([], [(110, 8)]) if buy else ([(90, 8)], []))
    assert d.engine.books[S].last_price == liquidity


def test_stop_triggers_on_acceptance_when_the_last_price_is_already_past_it() -> None:
    d = Driver()
    d.new("L", "sell", 10, 110)
    print_trade(d, 100)
    assert d.new("s", "buy", 2, 112, order_type="stop-loss", trigger_price=99) == [
        accepted(4, "s", "buy", 2, 112, order_type="stop-loss", trigger_price=99),
        triggered(4, 4, "s", 99, 100),
        trade(4, 2, 110, 2, "buy", taker=(4, "s", 0), maker=(1, "L", 8)),
    ]


def test_no_trade_yet_triggers_nothing() -> None:
    d = Driver()
    d.new("L", "sell", 10, 110)
    assert d.new("s", "buy", 2, order_type="stop-loss", trigger_price=1) == [
        accepted(2, "s", "buy", 2, order_type="stop-loss", trigger_price=1)
    ]
    assert d.engine.orders[2].stop
    # Trades in another symbol do not count either.
    d2 = Driver(S, "TSLAx/USD")
    d2.new("s", "sell", 2, order_type="take-profit", trigger_price=1, symbol="TSLAx/USD")
    print_trade(d2, 100)
    assert d2.engine.orders[1].stop


def test_stop_cascade_and_a_stop_limit_resting_after_its_trigger() -> None:
    d = Driver()
    d.new("L", "sell", 1, 101)
    d.new("L", "sell", 2, 102)
    d.new("L", "sell", 5, 105)
    print_trade(d, 100)  # seqs 4, 5; trade 1
    d.new("s", "buy", 3, order_type="stop-loss", trigger_price=101)  # 6
    d.new("t", "buy", 2, order_type="stop-loss", trigger_price=102)  # 7
    d.new("u", "buy", 1, 104, order_type="stop-loss-limit", trigger_price=104)  # 8
    assert d.new("x", "buy", 1, 101) == [
        accepted(9, "x", "buy", 1, 101),
        trade(9, 2, 101, 1, "buy", taker=(9, "x", 0), maker=(1, "L", 0)),
        triggered(9, 6, "s", 101, 101),
        trade(9, 3, 102, 2, "buy", taker=(6, "s", 1), maker=(2, "L", 0)),
        trade(9, 4, 105, 1, "buy", taker=(6, "s", 0), maker=(3, "L", 4)),
        # Both due at 105: oldest acceptance first.
        triggered(9, 7, "t", 102, 105),
        trade(9, 5, 105, 2, "buy", taker=(7, "t", 0), maker=(3, "L", 2)),
        triggered(9, 8, "u", 104, 105),
    ]
    # The triggered stop-limit could not trade at 104 and rests there as a limit order.
    assert depth(d) == ([(104, 1)], [(105, 2)])
    assert not d.engine.orders[8].stop
    assert set(d.engine.orders) == {3, 8}
    assert d.cancel("u", order_id=8) == [cancelled(10, 8, "u", 1)]


def test_amended_trigger_counts_as_a_new_acceptance() -> None:
    d = Driver()
    d.new("L", "buy", 10, 90)
    print_trade(d, 100)
    d.new("s", "sell", 1, order_type="stop-loss", trigger_price=95)  # 4
    d.new("t", "sell", 1, order_type="stop-loss", trigger_price=95)  # 5
    [event] = d.amend("s", order_id=4, trigger_price=96, qty=2)
    assert isinstance(event, OrderAmended)
    assert (event.seq, event.order_id, event.qty, event.leaves, event.trigger_price) == (
        6,
        4,
        2,
        2,
        96,
    )
    assert event.priority_kept is False  # a new trigger is a new acceptance
    assert print_trade(d, 95) == [
        *printed(8, 2, 95),
        triggered(8, 5, "t", 95, 95),
        trade(8, 3, 90, 1, "sell", taker=(5, "t", 0), maker=(1, "L", 9)),
        # Due at the 95 print too; it fires after t, when the last price is t's 90.
        triggered(8, 4, "s", 96, 90),
        trade(8, 4, 90, 2, "sell", taker=(4, "s", 0), maker=(1, "L", 7)),
    ]


def test_stop_quantity_amend_keeps_trigger_order_and_can_trigger_at_once() -> None:
    d = Driver()
    d.new("L", "buy", 10, 90)
    print_trade(d, 100)
    d.new("s", "sell", 3, 91, order_type="stop-loss-limit", trigger_price=95)  # 4
    assert d.amend("s", order_id=4, qty=2) == [
        amended(5, 4, "s", 2, 91, 2, kept=True, trigger_price=95)
    ]
    assert d.engine.orders[4].stop
    # A trigger the last price has already reached fires as part of the amend; the
    # stop-limit then rests at 91 (the bid is 90).
    [event, *rest] = d.amend("s", order_id=4, trigger_price=100)
    assert isinstance(event, OrderAmended)
    assert (event.order_id, event.qty, event.price, event.trigger_price) == (4, 2, 91, 100)
    assert rest == [triggered(6, 4, "s", 100, 100)]
    assert depth(d) == ([(90, 10)], [(91, 2)])


def test_cancel_an_untriggered_stop() -> None:
    d = Driver()
    assert d.new("s", "sell", 3, order_type="take-profit", trigger_price=120) == [
        accepted(1, "s", "sell", 3, order_type="take-profit", trigger_price=120)
    ]
    assert d.cancel("s", order_id=1) == [cancelled(2, 1, "s", 3)]
    assert d.engine.orders == {}
    d.new("L", "buy", 5, 120)
    assert print_trade(d, 121) == [
        accepted(5, "n", "sell", 1, 121),
        trade(5, 1, 121, 1, "sell", taker=(5, "n", 0), maker=(4, "m", 0)),
    ]


# ------------------------------------------------------------------ expiry


def test_gtd_and_day_expiry() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100, tif="gtd", expire_ts=50_000)  # 1
    d.new("b", "sell", 5, 101, tif="day", expire_ts=40_000)  # 2
    d.new(
        "c",
        "sell",
        2,
        90,
        order_type="stop-loss-limit",
        trigger_price=80,
        tif="gtd",
        expire_ts=40_000,
    )  # 3
    d.new("e", "buy", 1, 95, tif="gtd", expire_ts=60_000)  # 4
    d.new("f", "buy", 3, 100, tif="gtd", expire_ts=30_000)  # 5: fills at once, never rests
    assert d.engine.next_timer() == 40_000
    d.new("g", "buy", 1, 95)  # 6
    assert d.expire(39_999) == []  # 7: not before
    assert d.engine.next_timer() == 40_000
    # Exactly at: both due, in order of expiry time then order id; the stop expires too.
    assert d.expire(40_000) == [expired(8, 40_000, 2, "b", 5), expired(8, 40_000, 3, "c", 2)]
    assert d.engine.next_timer() == 50_000
    # After: a partly filled order reports its leaves.
    assert d.expire(55_000) == [expired(9, 55_000, 1, "a", 2)]
    assert d.engine.next_timer() == 60_000
    assert d.expire(55_001) == []
    assert depth(d) == ([(95, 2)], [])
    assert d.expire(10**9) == [expired(11, 10**9, 4, "e", 1)]
    assert d.engine.next_timer() is None
    assert depth(d) == ([(95, 1)], [])
    assert set(d.engine.orders) == {6}


def test_next_timer_skips_orders_no_longer_open() -> None:
    d = Driver()
    assert d.engine.next_timer() is None
    d.new("a", "sell", 5, 100, tif="gtd", expire_ts=20_000)
    d.new("b", "sell", 5, 100, tif="day", expire_ts=30_000)
    d.cancel("a", order_id=1)
    assert d.engine.next_timer() == 30_000
    d.new("c", "buy", 5, 100)
    assert d.engine.next_timer() is None
    assert d.expire(40_000) == []


def test_amended_and_replaced_orders_keep_their_expiry() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100, tif="gtd", expire_ts=50_000)  # 1
    d.new("b", "sell", 5, 101, tif="gtd", expire_ts=40_000)  # 2
    assert d.amend("a", order_id=1, price=102) == [amended(3, 1, "a", 5, 102, 5, kept=False)]
    assert d.replace("b", order_id=2, price=103) == [
        cancelled(4, 2, "b", 5, "replaced"),
        accepted(4, "b", "sell", 5, 103, tif="gtd", expire_ts=40_000, replaces=2),
    ]
    assert d.engine.next_timer() == 40_000
    assert d.expire(50_000) == [expired(5, 50_000, 4, "b", 5), expired(5, 50_000, 1, "a", 5)]
    assert depth(d) == ([], [])


def test_replacing_a_triggered_stop_limit_keeps_it_in_the_book() -> None:
    d = Driver()
    print_trade(d, 100)
    d.new("s", "buy", 2, 98, order_type="stop-loss-limit", trigger_price=100)  # 3: triggers
    assert depth(d) == ([(98, 2)], [])
    d.new("m", "sell", 1, 99)
    d.new("n", "buy", 1, 99)  # last 99: below the trigger again
    events = d.replace("s", order_id=3, price=97)
    assert events[0] == cancelled(6, 3, "s", 2, "replaced")
    assert depth(d) == ([(97, 2)], [])


def test_a_stop_reached_by_any_print_of_a_sweep_triggers() -> None:
    """A sweep prints 100 then 102: a sell stop at 100 was reached, though the last is 102."""
    d = Driver()
    d.new("L", "buy", 5, 90)  # 1: where the triggered stop will sell
    print_trade(d, 101)  # 2, 3: last 101
    d.new("s", "sell", 1, order_type="stop-loss", trigger_price=100)  # 4: not yet due
    d.new("a", "sell", 1, 100)  # 5
    d.new("b", "sell", 1, 102)  # 6
    assert d.new("t", "buy", 2, 102) == [
        accepted(7, "t", "buy", 2, 102),
        trade(7, 2, 100, 1, "buy", taker=(7, "t", 1), maker=(5, "a", 0)),
        trade(7, 3, 102, 1, "buy", taker=(7, "t", 0), maker=(6, "b", 0)),
        triggered(7, 4, "s", 100, 102),
        trade(7, 4, 90, 1, "sell", taker=(4, "s", 0), maker=(1, "L", 4)),
    ]


def test_replacing_a_triggered_stop_limit_with_a_trigger_is_rejected() -> None:
    d = Driver()
    print_trade(d, 100)  # 1, 2
    d.new("s", "buy", 2, 98, order_type="stop-loss-limit", trigger_price=100)  # 3: fires, rests
    assert not d.engine.orders[3].stop
    before = d.engine.canonical_state()
    assert d.replace("s", order_id=3, price=97, trigger_price=99) == [
        rejected(
            4,
            "s",
            "invalid_arguments",
            "triggers 99: only a waiting stop has a trigger",
            order_id=3,
        )
    ]
    assert d.engine.canonical_state()[1:] == before[1:]
