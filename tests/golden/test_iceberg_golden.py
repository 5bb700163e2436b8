"""Golden event streams: iceberg orders (docs/MATCHING.md, "iceberg")."""

from __future__ import annotations

from tests.builders import Driver
from tests.golden.test_matching_golden import accepted, cancelled, depth, refilled, trade

# ------------------------------------------------------------------ iceberg


def test_iceberg_shows_only_its_slice_and_refills_at_the_back() -> None:
    d = Driver()
    assert d.new("a", "sell", 10, 100, order_type="iceberg", display_qty=3) == [
        accepted(1, "a", "sell", 10, 100, order_type="iceberg", display_qty=3)
    ]
    assert depth(d) == ([], [(100, 3)])
    d.new("b", "sell", 4, 100)  # arrives after the iceberg
    assert depth(d) == ([], [(100, 7)])
    # The slice fills; the refill goes behind b, so b trades next.
    assert d.new("c", "buy", 5, 100) == [
        accepted(3, "c", "buy", 5, 100),
        trade(3, 1, 100, 3, "buy", taker=(3, "c", 2), maker=(1, "a", 7)),
        refilled(3, 1, "a", 3, 4),
        trade(3, 2, 100, 2, "buy", taker=(3, "c", 0), maker=(2, "b", 2)),
    ]
    assert depth(d) == ([], [(100, 5)])
    assert d.new("d", "buy", 4, 100) == [
        accepted(4, "d", "buy", 4, 100),
        trade(4, 3, 100, 2, "buy", taker=(4, "d", 2), maker=(2, "b", 0)),
        trade(4, 4, 100, 2, "buy", taker=(4, "d", 0), maker=(1, "a", 5)),
    ]
    assert depth(d) == ([], [(100, 1)])
    # Hidden quantity trades at its level, slice by slice.
    assert d.new("e", "buy", 6, 100) == [
        accepted(5, "e", "buy", 6, 100),
        trade(5, 5, 100, 1, "buy", taker=(5, "e", 5), maker=(1, "a", 4)),
        refilled(5, 1, "a", 3, 1),
        trade(5, 6, 100, 3, "buy", taker=(5, "e", 2), maker=(1, "a", 1)),
        refilled(5, 1, "a", 1, 0),
        trade(5, 7, 100, 1, "buy", taker=(5, "e", 1), maker=(1, "a", 0)),
    ]
    assert depth(d) == ([(100, 1)], [])


def test_iceberg_refill_queues_behind_orders_that_arrived_later() -> None:
    d = Driver()
    d.new("a", "buy", 6, 100, order_type="iceberg", display_qty=2)
    d.new("b", "buy", 1, 100)
    d.new("c", "buy", 1, 100)
    assert d.new("x", "sell", 5, 100) == [
        accepted(4, "x", "sell", 5, 100),
        trade(4, 1, 100, 2, "sell", taker=(4, "x", 3), maker=(1, "a", 4)),
        refilled(4, 1, "a", 2, 2),
        trade(4, 2, 100, 1, "sell", taker=(4, "x", 2), maker=(2, "b", 0)),
        trade(4, 3, 100, 1, "sell", taker=(4, "x", 1), maker=(3, "c", 0)),
        trade(4, 4, 100, 1, "sell", taker=(4, "x", 0), maker=(1, "a", 3)),
    ]
    assert depth(d) == ([(100, 1)], [])


def test_incoming_iceberg_matches_with_its_whole_quantity_then_rests_a_slice() -> None:
    d = Driver()
    d.new("a", "sell", 4, 100)
    d.new("b", "sell", 3, 101)
    assert d.new("c", "buy", 20, 101, order_type="iceberg", display_qty=5) == [
        accepted(3, "c", "buy", 20, 101, order_type="iceberg", display_qty=5),
        trade(3, 1, 100, 4, "buy", taker=(3, "c", 16), maker=(1, "a", 0)),
        trade(3, 2, 101, 3, "buy", taker=(3, "c", 13), maker=(2, "b", 0)),
    ]
    assert depth(d) == ([(101, 5)], [])
    assert d.new("d", "sell", 7, 101) == [
        accepted(4, "d", "sell", 7, 101),
        trade(4, 3, 101, 5, "sell", taker=(4, "d", 2), maker=(3, "c", 8)),
        refilled(4, 3, "c", 5, 3),
        trade(4, 4, 101, 2, "sell", taker=(4, "d", 0), maker=(3, "c", 6)),
    ]
    assert depth(d) == ([(101, 3)], [])


def test_fok_counts_iceberg_refills() -> None:
    d = Driver()
    d.new("a", "sell", 7, 100, order_type="iceberg", display_qty=2)
    d.new("b", "sell", 1, 100)
    assert d.new("c", "buy", 9, 100, tif="fok") == [
        accepted(3, "c", "buy", 9, 100, tif="fok"),
        cancelled(3, 3, "c", 9, "fok_unfillable"),
    ]
    assert d.new("c", "buy", 8, 100, tif="fok") == [
        accepted(4, "c", "buy", 8, 100, tif="fok"),
        trade(4, 1, 100, 2, "buy", taker=(4, "c", 6), maker=(1, "a", 5)),
        refilled(4, 1, "a", 2, 3),
        trade(4, 2, 100, 1, "buy", taker=(4, "c", 5), maker=(2, "b", 0)),
        trade(4, 3, 100, 2, "buy", taker=(4, "c", 3), maker=(1, "a", 3)),
        refilled(4, 1, "a", 2, 1),
        trade(4, 4, 100, 2, "buy", taker=(4, "c", 1), maker=(1, "a", 1)),
        refilled(4, 1, "a", 1, 0),
        trade(4, 5, 100, 1, "buy", taker=(4, "c", 0), maker=(1, "a", 0)),
    ]
    assert depth(d) == ([], [])
