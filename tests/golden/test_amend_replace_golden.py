"""Golden event streams: amend in place and cancel-and-replace (docs/MATCHING.md)."""

from __future__ import annotations

from engine.events import OrderAccepted, OrderCancelled, OrderRejected
from tests.builders import SYMBOL, Driver
from tests.golden.test_matching_golden import (
    POST_ONLY_TEXT,
    accepted,
    amended,
    cancelled,
    depth,
    rejected,
    trade,
)

AMEND_POST_ONLY_TEXT = "post_only: the amended order would take liquidity"

# ------------------------------------------------------------------ amend


def test_amend_quantity_down_keeps_priority() -> None:
    d = Driver()
    d.new("a", "sell", 10, 100)
    d.new("b", "sell", 5, 100)
    assert d.amend("a", order_id=1, qty=6) == [amended(3, 1, "a", 6, 100, 6, kept=True)]
    assert depth(d) == ([], [(100, 11)])
    assert d.new("c", "buy", 7, 100) == [
        accepted(4, "c", "buy", 7, 100),
        trade(4, 1, 100, 6, "buy", taker=(4, "c", 1), maker=(1, "a", 0)),
        trade(4, 2, 100, 1, "buy", taker=(4, "c", 0), maker=(2, "b", 4)),
    ]


def test_amend_quantity_up_loses_priority() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100)
    d.new("b", "sell", 5, 100)
    assert d.amend("a", order_id=1, qty=8) == [amended(3, 1, "a", 8, 100, 8, kept=False)]
    assert depth(d) == ([], [(100, 13)])
    assert d.new("c", "buy", 6, 100) == [
        accepted(4, "c", "buy", 6, 100),
        trade(4, 1, 100, 5, "buy", taker=(4, "c", 1), maker=(2, "b", 0)),
        trade(4, 2, 100, 1, "buy", taker=(4, "c", 0), maker=(1, "a", 7)),
    ]


def test_amend_price_loses_priority_even_to_an_existing_level() -> None:
    d = Driver()
    d.new("a", "sell", 5, 101)
    d.new("b", "sell", 5, 100)
    assert d.amend("a", order_id=1, price=100) == [amended(3, 1, "a", 5, 100, 5, kept=False)]
    assert depth(d) == ([], [(100, 10)])
    assert d.new("c", "buy", 6, 100) == [
        accepted(4, "c", "buy", 6, 100),
        trade(4, 1, 100, 5, "buy", taker=(4, "c", 1), maker=(2, "b", 0)),
        trade(4, 2, 100, 1, "buy", taker=(4, "c", 0), maker=(1, "a", 4)),
    ]


def test_amend_counts_the_filled_part_and_rejects_at_or_below_it() -> None:
    d = Driver()
    d.new("a", "sell", 10, 100, cl_ord_id="x")
    d.new("b", "buy", 4, 100)
    assert d.amend("a", order_id=1, qty=6) == [amended(3, 1, "a", 6, 100, 2, kept=True)]
    assert depth(d) == ([], [(100, 2)])
    before = d.engine.canonical_state()
    text = "order_qty {}: at or below the filled 4"
    assert d.amend("a", order_id=1, qty=4) == [
        rejected(4, "a", "invalid_arguments", text.format(4), order_id=1, cl_ord_id="x")
    ]
    assert d.amend("a", cl_ord_id="x", qty=3) == [
        rejected(5, "a", "invalid_arguments", text.format(3), order_id=1, cl_ord_id="x")
    ]
    assert d.engine.canonical_state()[1:] == before[1:]


def test_amend_to_a_crossing_price_trades_as_an_incoming_order() -> None:
    d = Driver()
    d.new("a", "buy", 5, 99)
    d.new("b", "sell", 3, 101)
    assert d.amend("b", order_id=2, price=98) == [
        amended(3, 2, "b", 3, 98, 3, kept=False),
        trade(3, 1, 99, 3, "sell", taker=(2, "b", 0), maker=(1, "a", 2)),
    ]
    assert depth(d) == ([(99, 2)], [])
    assert set(d.engine.orders) == {1}


def test_amend_to_a_crossing_price_rests_what_is_left() -> None:
    d = Driver()
    d.new("a", "buy", 2, 99)
    d.new("b", "sell", 5, 101, cl_ord_id="s")
    assert d.amend("b", cl_ord_id="s", price=99, qty=6) == [
        amended(3, 2, "b", 6, 99, 6, kept=False),
        trade(3, 1, 99, 2, "sell", taker=(2, "b", 4), maker=(1, "a", 0)),
    ]
    assert depth(d) == ([], [(99, 4)])
    # The order kept its id and cl_ord_id; its filled part counts from now on.
    assert d.amend("b", cl_ord_id="s", qty=2) == [
        rejected(4, "b", "invalid_arguments", "order_qty 2: at or below the filled 2", 2, "s")
    ]


def test_amend_unknown_order_is_rejected() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100, cl_ord_id="x")
    before = d.engine.canonical_state()
    assert d.amend("b", order_id=1, qty=3) == [rejected(2, "b", "unknown_order", order_id=1)]
    assert d.amend("a", order_id=99, qty=3) == [rejected(3, "a", "unknown_order", order_id=99)]
    assert d.amend("b", cl_ord_id="x", qty=3) == [rejected(4, "b", "unknown_order", cl_ord_id="x")]
    assert d.engine.canonical_state()[1:] == before[1:]
    d.new("c", "buy", 5, 100)  # fills order 1: no longer open
    assert d.amend("a", order_id=1, qty=3) == [rejected(6, "a", "unknown_order", order_id=1)]
    assert d.amend("a", cl_ord_id="x", qty=3) == [rejected(7, "a", "unknown_order", cl_ord_id="x")]


def test_post_only_amend_that_would_cross_is_rejected() -> None:
    d = Driver()
    d.new("a", "sell", 5, 101)
    d.new("b", "buy", 5, 99, post_only=True)
    d.new("c", "buy", 5, 98)
    before = d.engine.canonical_state()
    assert d.amend("b", order_id=2, price=101) == [
        rejected(4, "b", "post_only", AMEND_POST_ONLY_TEXT, order_id=2)
    ]
    assert d.amend("c", order_id=3, price=102, post_only=True) == [
        rejected(5, "c", "post_only", AMEND_POST_ONLY_TEXT, order_id=3)
    ]
    assert d.engine.canonical_state()[1:] == before[1:]
    # A post-only amend that does not cross is fine.
    assert d.amend("b", order_id=2, price=100) == [amended(6, 2, "b", 5, 100, 5, kept=False)]
    assert depth(d) == ([(100, 5), (98, 5)], [(101, 5)])


def test_amend_iceberg_shrinks_hidden_first() -> None:
    d = Driver()
    d.new("a", "sell", 10, 100, order_type="iceberg", display_qty=4)
    assert d.amend("a", order_id=1, qty=7) == [
        amended(2, 1, "a", 7, 100, 7, kept=True, display_qty=4)
    ]
    assert depth(d) == ([], [(100, 4)])
    assert d.amend("a", order_id=1, qty=3) == [
        amended(3, 1, "a", 3, 100, 3, kept=True, display_qty=4)
    ]
    assert depth(d) == ([], [(100, 3)])
    assert d.new("b", "buy", 3, 100) == [
        accepted(4, "b", "buy", 3, 100),
        trade(4, 1, 100, 3, "buy", taker=(4, "b", 0), maker=(1, "a", 0)),
    ]
    assert depth(d) == ([], [])


def test_amend_iceberg_display_qty() -> None:
    d = Driver()
    d.new("a", "sell", 10, 100, order_type="iceberg", display_qty=4)
    d.new("b", "sell", 1, 100)
    assert d.amend("a", order_id=1, display_qty=2) == [
        amended(3, 1, "a", 10, 100, 10, kept=True, display_qty=2)
    ]
    assert depth(d) == ([], [(100, 3)])
    assert d.amend("a", order_id=1, display_qty=10) == [
        rejected(
            4,
            "a",
            "invalid_arguments",
            "display_qty 10: must be above 0 and below the open quantity",
            order_id=1,
        )
    ]
    assert d.amend("b", order_id=2, display_qty=1) == [
        rejected(
            5,
            "b",
            "invalid_arguments",
            "display_qty 1: must be above 0 and below the open quantity",
            order_id=2,
        )
    ]


# ------------------------------------------------------------------ replace


def test_replace_cancels_the_old_order_and_places_qty_minus_filled() -> None:
    d = Driver()
    d.new("a", "sell", 10, 100, cl_ord_id="x", userref=7)
    d.new("b", "buy", 4, 100)
    assert d.replace("a", order_id=1, qty=8, price=101) == [
        cancelled(3, 1, "a", 6, "replaced"),
        accepted(3, "a", "sell", 4, 101, cl_ord_id="x", userref=7, replaces=1),
    ]
    assert depth(d) == ([], [(101, 4)])
    assert set(d.engine.orders) == {3}
    # The cl_ord_id now names the new order.
    assert d.cancel("a", cl_ord_id="x") == [cancelled(4, 3, "a", 4)]


def test_replace_loses_priority_and_copies_unset_fields() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100, tif="gtd", expire_ts=10**6, stp="cancel_both", userref=3)
    d.new("b", "sell", 5, 100)
    assert d.replace("a", order_id=1, new_cl_ord_id="n") == [
        cancelled(3, 1, "a", 5, "replaced"),
        accepted(
            3,
            "a",
            "sell",
            5,
            100,
            tif="gtd",
            expire_ts=10**6,
            cl_ord_id="n",
            userref=3,
            stp="cancel_both",
            replaces=1,
        ),
    ]
    assert d.new("c", "buy", 6, 100) == [
        accepted(4, "c", "buy", 6, 100),
        trade(4, 1, 100, 5, "buy", taker=(4, "c", 1), maker=(2, "b", 0)),
        trade(4, 2, 100, 1, "buy", taker=(4, "c", 0), maker=(3, "a", 4)),
    ]
    assert d.engine.orders[3].stp == "cancel_both"
    assert d.engine.next_timer() == 10**6


def test_replace_to_a_crossing_price_trades() -> None:
    d = Driver()
    d.new("a", "buy", 3, 100)
    d.new("b", "sell", 5, 102, cl_ord_id="s")
    assert d.replace("b", cl_ord_id="s", price=99) == [
        cancelled(3, 2, "b", 5, "replaced"),
        accepted(3, "b", "sell", 5, 99, cl_ord_id="s", replaces=2),
        trade(3, 1, 100, 3, "sell", taker=(3, "b", 2), maker=(1, "a", 0)),
    ]
    assert depth(d) == ([], [(99, 2)])


def test_replace_with_a_duplicate_new_cl_ord_id_changes_nothing() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100, cl_ord_id="x")
    d.new("a", "sell", 5, 102, cl_ord_id="y")
    before = d.engine.canonical_state()
    assert d.replace("a", order_id=1, new_cl_ord_id="y", price=101) == [
        rejected(3, "a", "duplicate_cl_ord_id", "cl_ord_id 'y': already open", 1, "x")
    ]
    assert d.engine.canonical_state()[1:] == before[1:]
    # Keeping its own cl_ord_id is no duplicate.
    assert d.replace("a", order_id=1, new_cl_ord_id="x", price=101) == [
        cancelled(4, 1, "a", 5, "replaced"),
        accepted(4, "a", "sell", 5, 101, cl_ord_id="x", replaces=1),
    ]


def test_replace_rejects_change_nothing() -> None:
    d = Driver()
    d.new("a", "sell", 10, 101, post_only=True)
    d.new("b", "buy", 5, 100)
    d.new("c", "buy", 4, 101, tif="ioc", cl_ord_id="i")  # fills 4 of order 1
    before = d.engine.canonical_state()
    assert d.replace("a", order_id=1, price=100) == [
        rejected(4, "a", "post_only", POST_ONLY_TEXT, order_id=1)
    ]
    assert d.replace("a", order_id=1, qty=4) == [
        rejected(5, "a", "invalid_arguments", "order_qty 4: at or below the filled 4", order_id=1)
    ]
    assert d.replace("b", order_id=1, qty=9) == [rejected(6, "b", "unknown_order", order_id=1)]
    assert d.replace("a", cl_ord_id="zz", qty=9) == [
        rejected(7, "a", "unknown_order", cl_ord_id="zz")
    ]
    assert d.engine.canonical_state()[1:] == before[1:]
    assert depth(d) == ([(100, 5)], [(101, 6)])


def test_replace_partly_filled_iceberg_does_not_raise() -> None:
    d = Driver()
    d.new("a", "sell", 10, 100, order_type="iceberg", display_qty=4)
    d.new("b", "buy", 7, 100)
    events = d.replace("a", order_id=1, price=101)
    # 3 lots are left, less than one 4-lot slice: the replacement is a plain
    # limit order showing all of it (docs/MATCHING.md, cancel-and-replace).
    assert [type(e).__name__ for e in events] == ["OrderCancelled", "OrderAccepted"]
    cancelled, accepted_ = events
    assert isinstance(cancelled, OrderCancelled) and cancelled.reason == "replaced"
    assert isinstance(accepted_, OrderAccepted)
    new = accepted_.order
    assert (new.order_type, new.qty, new.price, new.display_qty) == (
        "limit",
        3,
        101,
        None,
    )
    assert d.engine.books[SYMBOL].depth() == ([], [(101, 3)])


def test_replace_with_a_field_the_order_cannot_carry_is_rejected() -> None:
    d = Driver()
    d.new("a", "sell", 10, 100)
    before = d.engine.canonical_state()
    [event] = d.replace("a", order_id=1, display_qty=3)
    assert isinstance(event, OrderRejected)
    assert event.reason == "invalid_arguments"
    assert d.engine.canonical_state()[1:] == before[1:]
