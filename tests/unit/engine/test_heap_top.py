"""A book side's heap never has a stale key on top (engine/book.py).

A level that empties below the top leaves its key in the heap and the stale
set; when the top level empties, its key is popped and so is every stale key
that surfaces under it. Both builds keep this (the compiled ``_drop`` and
``BookSide.drop_level``), and a snapshot written while a stale key could sit on
top loads with it popped.
"""

from __future__ import annotations

import heapq

import msgspec

from engine import snapshot
from engine.book import BookSide
from engine.events import Event, OrderAccepted
from tests.builders import SYMBOL, Driver

REF = 10_000


def _id(events: list[Event]) -> int:
    return next(e.order_id for e in events if isinstance(e, OrderAccepted))


def _three_bids() -> tuple[Driver, list[int]]:
    d = Driver(reference_price=REF)
    ids = [_id(d.new("a", "buy", 100, REF - k)) for k in (1, 2, 3, 4)]
    return d, ids


def test_stale_keys_under_the_top_are_popped_when_it_empties() -> None:
    d, ids = _three_bids()
    bids = d.engine.books[SYMBOL].bids
    d.cancel("a", order_id=ids[1])  # REF - 2: below the top, goes stale
    d.cancel("a", order_id=ids[2])  # REF - 3: the same
    assert bids.stale == {-(REF - 2), -(REF - 3)}
    assert bids.heap[0] == -(REF - 1)
    d.cancel("a", order_id=ids[0])  # the top empties: both stale keys surface
    assert bids.heap == [-(REF - 4)] and not bids.stale
    assert bids.best_price() == REF - 4
    d.engine.check_invariants()


def test_a_stale_key_left_deeper_stays_until_it_surfaces() -> None:
    d, ids = _three_bids()
    bids = d.engine.books[SYMBOL].bids
    d.cancel("a", order_id=ids[2])  # REF - 3
    d.cancel("a", order_id=ids[0])  # the top: REF - 2 is live under it
    assert bids.heap[0] == -(REF - 2) and bids.stale == {-(REF - 3)}
    d.new("b", "sell", 100, REF - 2)  # takes the REF - 2 level: REF - 3 surfaces
    assert bids.heap == [-(REF - 4)] and not bids.stale
    d.engine.check_invariants()


def test_a_snapshot_with_a_stale_key_on_top_loads_with_it_popped() -> None:
    d, ids = _three_bids()
    d.cancel("a", order_id=ids[1])
    snap = snapshot.capture(d.engine)
    # As an older build could write it: a better bid's key, stale, on top.
    book = snap.books[0]
    bids = book.bids
    heap = list(bids.heap)
    heapq.heappush(heap, -(REF + 5))
    bad = msgspec.structs.replace(bids, heap=heap, stale=sorted([*bids.stale, -(REF + 5)]))
    assert bad.heap[0] == -(REF + 5)
    books = [msgspec.structs.replace(book, bids=bad), *snap.books[1:]]
    restored = snapshot.restore(msgspec.structs.replace(snap, books=books))
    side: BookSide = restored.books[SYMBOL].bids
    assert side.heap[0] == -(REF - 1) and side.stale == {-(REF - 2)}
    assert restored.state_hash() == d.engine.state_hash()
    restored.check_invariants()
    d.engine.check_invariants()
