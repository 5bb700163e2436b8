"""Price levels and their queues, out of the garbage collector's sight.

The compiled build's level (model/_order.pyx) is never tracked by the cyclic
garbage collector, nor is the view of its queue: they can be part of no
reference cycle, so reference counting alone frees them, and the collections
do not walk every order of every young queue (docs/MATCHING.md, "xstocks,
the eighth round" and "the ninth round"). The first tests hold the facts that
make that safe, on both builds; the last one the untracking itself, on the
compiled build.
"""

from __future__ import annotations

import gc

import pytest

from engine.book import Level
from model.build import COMPILED
from tests.builders import Driver


def _rested() -> Driver:
    d = Driver()
    d.new("a", "buy", 5, 100)
    d.new("b", "buy", 3, 100)
    d.new("a", "buy", 2, 99)
    d.new("b", "sell", 4, 105)
    return d


def _levels(d: Driver) -> list[Level]:
    book = d.engine.books["AAPLx/USD"]
    return [lv for side in (book.bids, book.asks) for lv in side.levels.values()]


def test_a_level_refers_only_to_ints_and_its_queue() -> None:
    # Untracking is safe only while a level holds nothing that could lead back
    # to it: a new slot here must be thought through against engine/_core.pyx.
    if COMPILED:
        # model/_order.pyx: C integers and a ring of order references, and
        # nothing can be added to it.
        with pytest.raises(AttributeError):
            _levels(_rested())[0].note = "x"  # type: ignore[attr-defined]
    else:
        assert Level.__slots__ == ("dead", "price", "qty", "queue")
    for level in _levels(_rested()):
        assert all(type(getattr(level, s)) is int for s in ("dead", "price", "qty"))


def test_a_queue_holds_only_untracked_order_records() -> None:
    d = _rested()
    d.cancel("a", order_id=1)  # a tombstone stays in the queue
    levels = _levels(d)
    assert len(levels) == 3
    for level in levels:
        assert level.queue
        for order in level.queue:
            assert not gc.is_tracked(order)
            assert all(
                not gc.is_tracked(v)
                for v in (order.account, order.symbol, order.side, order.priority)
            )


def test_collecting_keeps_the_book_whole() -> None:
    d = _rested()
    before = [(lv.price, lv.qty, [o.order_id for o in lv.queue]) for lv in _levels(d)]
    gc.collect()
    assert [(lv.price, lv.qty, [o.order_id for o in lv.queue]) for lv in _levels(d)] == before
    fills = d.new("c", "sell", 8, 99)
    assert [e.qty for e in fills if type(e).__name__ == "TradeExecuted"] == [5, 3]
    d.cancel("a", order_id=3)
    assert [lv.price for lv in _levels(d)] == [105]


@pytest.mark.skipif(not COMPILED, reason="the compiled core's own step")
def test_the_compiled_levels_are_never_tracked() -> None:
    levels = _levels(_rested())
    assert len(levels) == 3
    for level in levels:
        assert not gc.is_tracked(level)
        assert not gc.is_tracked(level.queue)
