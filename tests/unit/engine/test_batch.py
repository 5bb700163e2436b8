"""All-or-nothing batches (``batch_add``) and the dry run (``validate``) in the engine.

WS_API.md: "batch_add is validated as a whole: if one order fails, none is
placed"; "validate: true runs every check and places nothing". Each refusal
is shown with the engine's canonical state unchanged but for the parts it
received, and each success with every order placed under its own seq.
"""

from __future__ import annotations

from typing import Any

from engine.events import OrderAccepted, OrderRejected, TradeExecuted
from model.commands import BatchOrder, NewOrder
from tests.builders import SYMBOL, Driver, instrument, risk_for

REF = 23_000  # $230.00
LOT = 10**4  # AAPLx units per lot


def funded(**limits: Any) -> Driver:
    d = Driver(risk=risk_for([instrument(reference_price=REF)], **limits), reference_price=REF)
    d.deposit("a", "USD", 10_000)  # $100.00
    d.deposit("a", "AAPLx", 10**8)  # one share
    d.deposit("b", "AAPLx", 10**8)
    return d


def buy(qty: int, price: int, **fields: Any) -> dict[str, Any]:
    return {"side": "buy", "qty": qty, "price": price, **fields}


def sell(qty: int, price: int, **fields: Any) -> dict[str, Any]:
    return {"side": "sell", "qty": qty, "price": price, **fields}


def without_batch(d: Driver) -> list[object]:
    """The canonical state without the (emptied) batch buffer and the last seq."""
    return d.engine.canonical_state()[1:-1]


def test_a_batch_places_every_order_under_its_own_seq() -> None:
    d = funded()
    events = d.batch("a", [buy(100, 22_000), sell(50, 24_000, cl_ord_id="s"), buy(10, 21_000)])
    accepted = [e for e in events if isinstance(e, OrderAccepted)]
    assert [e.order_id for e in accepted] == [4, 5, 6]
    assert sorted(d.engine.orders) == [4, 5, 6]
    assert d.engine.orders[5].cl_ord_id == "s"
    assert d.engine.batch == []


def test_funds_are_judged_for_the_batch_as_a_whole() -> None:
    d = funded()
    # $100.00 buys one order of 0.4 shares at $230 (about $92 with fees), not two.
    alone = buy(4_000, REF)
    assert d.engine.check_orders([NewOrder(9, 9_000, "a", SYMBOL, "buy", 4_000, REF)]) is None
    before = without_batch(d)
    events = d.batch("a", [alone, alone])
    assert len(events) == 1 and isinstance(events[0], OrderRejected)
    assert events[0].reason == "insufficient_funds"
    assert events[0].seq == 5 and events[0].text.startswith("orders[1]: USD")
    assert without_batch(d) == before  # nothing placed, nothing held
    assert d.engine.risk is not None and d.engine.risk.accounts["a"].held["USD"] == 0


def test_a_cl_ord_id_twice_in_a_batch_or_already_open_refuses_it() -> None:
    d = funded()
    events = d.batch("a", [sell(1, 24_000, cl_ord_id="x"), sell(1, 24_100, cl_ord_id="x")])
    assert isinstance(events[0], OrderRejected)
    assert events[0].reason == "duplicate_cl_ord_id" and "orders[1]" in events[0].text
    d.new("a", "sell", 1, 24_500, cl_ord_id="y")
    events = d.batch("a", [sell(1, 24_000, cl_ord_id="y"), sell(1, 24_100)])
    assert isinstance(events[0], OrderRejected) and events[0].text.startswith("orders[0]")
    assert sorted(d.engine.orders) == [6]


def test_the_open_order_limit_counts_the_orders_ahead_in_the_batch() -> None:
    d = funded(max_open_orders=3)
    d.new("a", "sell", 1, 25_000)
    events = d.batch("a", [sell(1, 24_000), sell(1, 24_100), sell(1, 24_200)])
    assert isinstance(events[0], OrderRejected)
    assert events[0].reason == "orders_limit" and "orders[2]" in events[0].text
    assert len(d.engine.orders) == 1
    events = d.batch("a", [sell(1, 24_000), sell(1, 24_100)])
    assert sum(isinstance(e, OrderAccepted) for e in events) == 2


def test_orders_of_a_batch_match_one_after_the_other() -> None:
    d = funded()
    d.new("b", "sell", 10, REF)  # 4
    events = d.batch("a", [buy(10, REF), buy(10, REF)])  # 5, 6
    trades = [e for e in events if isinstance(e, TradeExecuted)]
    assert [(t.taker_order_id, t.maker_order_id, t.qty) for t in trades] == [(5, 4, 10)]
    assert sorted(d.engine.orders) == [6]  # the second rests where the first traded


def test_a_halted_book_refuses_the_whole_batch() -> None:
    d = funded()
    d.halt()
    events = d.batch("a", [sell(1, 24_000), sell(1, 24_100)])
    assert isinstance(events[0], OrderRejected) and events[0].reason == "halted"
    assert d.engine.orders == {}


def test_a_batch_cut_short_is_dropped_when_the_next_begins() -> None:
    d = funded()
    seq = d.next_seq
    first = BatchOrder(seq, seq * 1000, "a", SYMBOL, "sell", 1, 24_000, part=0, parts=3)
    second = BatchOrder(seq + 1, seq * 1000, "a", SYMBOL, "sell", 1, 24_100, part=1, parts=3)
    d.next_seq += 2
    assert d.apply(first) == [] and d.apply(second) == []
    assert len(d.engine.batch) == 2  # waiting for a part that never comes (a crash)
    d.new("a", "sell", 1, 25_000)  # other commands pass by
    events = d.batch("a", [sell(1, 24_200), sell(1, 24_300)])
    assert [e.order_id for e in events if isinstance(e, OrderAccepted)] == [seq + 3, seq + 4]
    assert sorted(d.engine.orders) == [seq + 2, seq + 3, seq + 4]


def test_a_part_that_does_not_continue_its_batch_is_dropped() -> None:
    d = funded()
    seq = d.next_seq
    d.next_seq += 1
    orphan = BatchOrder(seq, seq * 1000, "a", SYMBOL, "sell", 1, 24_000, part=1, parts=2)
    assert d.apply(orphan) == []
    assert d.engine.orders == {} and d.engine.batch == []


def test_a_dry_run_changes_nothing_and_agrees_with_the_batch() -> None:
    d = funded()
    orders = [
        NewOrder(0, 0, "a", SYMBOL, "buy", 4_000, REF),
        NewOrder(0, 0, "a", SYMBOL, "buy", 4_000, REF),
    ]
    hash_before = d.engine.state_hash()
    assert d.engine.check_orders(orders) == (
        1,
        "insufficient_funds",
        d.engine.check_orders(orders)[2],  # type: ignore[index]
    )
    assert d.engine.check_orders(orders[:1]) is None
    assert d.engine.state_hash() == hash_before
    events = d.batch("a", [buy(4_000, REF), buy(4_000, REF)])
    assert isinstance(events[0], OrderRejected) and events[0].reason == "insufficient_funds"


def test_replaying_batches_gives_the_same_state() -> None:
    d = funded()
    d.new("b", "sell", 10, REF)
    d.batch("a", [buy(10, REF), buy(10, 22_000), sell(5, 24_000)])
    d.batch("a", [buy(4_000, REF), buy(4_000, REF)])
    again = Driver(risk=risk_for([instrument(reference_price=REF)]), reference_price=REF)
    for command in d.log:
        again.apply(command)
    assert again.engine.state_hash() == d.engine.state_hash()
