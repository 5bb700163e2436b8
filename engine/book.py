"""The order book of one instrument: price levels best first, FIFO within a level.

Layout
------
Each side keys its levels so that the best level has the smallest key: the
price for asks, the negated price for bids. "Does this level cross a limit"
is then ``key <= limit_key`` on both sides and the matcher never branches on
side inside its loop.

* ``levels``: ``dict[key, Level]``: O(1) lookup of a level by price (in the
  compiled build a table keyed by C integers, :data:`LevelIndex`).
* ``heap``: a binary heap (``heapq``, in C) of level keys, smallest first,
  so the best price is ``heap[0]``. A level that empties while it is not at
  the top is not dug out of the heap; its key is put in ``stale`` and dropped
  when it surfaces (or reused if the price comes back first). Every key is in
  the heap at most once: ``set(heap) == set(levels) | stale``, disjoint.
  The top is never stale: when the top level empties, its key is popped and
  so is every stale key that surfaces under it (:meth:`BookSide.drop_level`).
  So ``heap[0]`` is the best level's key, read with no look-up: the band-edge
  watch after every command and the matcher's "does it cross" read it as is.
* A level's queue is a ``deque`` of :class:`~model.order.Order` (in the
  compiled build a ring inside the level with the same methods). Cancel does
  not search the queue: it zeroes the order's ``shown`` (a tombstone) and
  fixes the level's totals; the matcher pops tombstones when they reach the
  head. A queue is compacted once tombstones outnumber live orders, so the
  memory a tombstone holds is bounded and the cost is amortised O(1).

Why not a sorted list and a linked list: ``heapq`` and ``deque`` run in C and
need no back pointers, so orders hold no reference cycles and can be
``gc=False`` structs; a sorted container or intrusive list costs several
Python-level operations per insert and delete on the hot path.

=====================================  ==================
Operation                              Complexity
=====================================  ==================
Add to an existing level               O(1)
Add at a new price level               O(log L)
Cancel                                 O(1) amortised
Best price                             O(1) amortised
Fill against the head of best level    O(1) amortised
Top ``n`` levels (depth)               O(L log n)
=====================================  ==================

``L`` is the number of price levels on one side.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from heapq import heapify, heappop, heappush, nsmallest
from typing import TYPE_CHECKING

from model import build
from model.order import Order

from engine.reference import ReferenceWindow
from engine.stops import StopBook

__all__ = ["COMPACT_SLACK", "BookSide", "Level", "LevelIndex", "OrderBook"]

# A queue is rebuilt without its tombstones once they are more than half of
# it and more than this slack (which keeps small levels from compacting on
# every cancel).
COMPACT_SLACK = 16


class Level:
    """All resting orders at one price, in time priority.

    ``qty`` is the visible quantity of the live orders (what depth shows).
    Every live order shows at least one lot, so the level is empty exactly
    when ``qty`` is 0. ``dead`` counts the tombstones still in ``queue``.
    """

    __slots__ = ("dead", "price", "qty", "queue")

    def __init__(self, price: int) -> None:
        self.price = price
        self.qty = 0
        self.dead = 0
        self.queue: deque[Order] = deque()

    def live(self) -> Iterator[Order]:
        """The live orders, oldest first. O(queue length)."""
        for order in self.queue:
            if order.shown:
                yield order

    def compact(self) -> None:
        """Drop every tombstone from the queue, in place. O(queue length)."""
        queue = self.queue
        live = [o for o in queue if o.shown]
        queue.clear()
        queue.extend(live)
        self.dead = 0


LevelIndex = dict
"""A side's levels by key: a dict in the pure build; in the compiled build the
table of model/_order.pyx keyed by C integers, a mapping with the dict
methods used here, in the snapshots and the checks, iterating in the order
the keys entered, as a dict does."""


class BookSide:
    """One side of a book. See the module docstring for keys and the heap."""

    __slots__ = ("heap", "levels", "side", "sign", "stale")

    def __init__(self, side: str) -> None:
        self.side = side
        self.sign = -1 if side == "buy" else 1
        self.levels: dict[int, Level] = LevelIndex()
        self.heap: list[int] = []
        self.stale: set[int] = set()

    def add(self, order: Order) -> None:
        """Append ``order`` to the back of its price level. O(1), or O(log L) for a new level."""
        key = order.price * self.sign
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = Level(order.price)
            if key in self.stale:
                self.stale.discard(key)
            else:
                heappush(self.heap, key)
        level.queue.append(order)
        level.qty += order.shown

    def remove(self, order: Order) -> None:
        """Take a live order out of its level, leaving a tombstone. Amortised O(1).

        Zeroes ``order.shown``: read the order's leaves before calling.
        """
        key = order.price * self.sign
        level = self.levels[key]
        level.qty -= order.shown
        order.shown = 0
        if not level.qty:
            self.drop_level(key)
        else:
            level.dead += 1
            if level.dead > COMPACT_SLACK and 2 * level.dead > len(level.queue):
                level.compact()

    def drop_level(self, key: int) -> None:
        """Forget an empty level; its heap entry goes stale (or is popped if on top,
        with the stale keys that surface under it)."""
        del self.levels[key]
        heap = self.heap
        if heap[0] == key:
            heappop(heap)
            self.surface()
        else:
            self.stale.add(key)
            if len(self.stale) > len(self.levels) + COMPACT_SLACK:
                heap[:] = self.levels
                heapify(heap)
                self.stale.clear()

    def surface(self) -> None:
        """Pop stale keys off the top until a live level's key (or nothing) is there.

        Amortised O(log L) a key: each stale key is popped once. Called when
        the top level empties, and on a snapshot's heap as loaded."""
        heap = self.heap
        stale = self.stale
        while heap and heap[0] in stale:
            stale.discard(heappop(heap))

    def best(self) -> Level | None:
        """The best level, or None if the side is empty. O(1): the top is never stale."""
        heap = self.heap
        return self.levels[heap[0]] if heap else None

    def best_price(self) -> int | None:
        """The best price in ticks, or None."""
        level = self.best()
        return None if level is None else level.price

    def keys_best_first(self, n: int | None = None) -> list[int]:
        """Level keys best first, all of them or the top ``n``. O(L log L) or O(L log n)."""
        if n is None:
            return sorted(self.levels)
        return nsmallest(n, self.levels)

    def levels_best_first(self, n: int | None = None) -> list[Level]:
        """Levels best first, all of them or the top ``n``."""
        levels = self.levels
        return [levels[k] for k in self.keys_best_first(n)]

    def depth(self, n: int | None = None) -> list[tuple[int, int]]:
        """``(price, visible qty)`` per level, best first (hidden quantity never shows)."""
        return [(lvl.price, lvl.qty) for lvl in self.levels_best_first(n)]

    def orders(self) -> Iterator[Order]:
        """Live orders in priority order: best level first, oldest first."""
        for level in self.levels_best_first():
            yield from level.live()

    def __len__(self) -> int:
        return sum(1 for level in self.levels.values() for _ in level.live())


class OrderBook:
    """Both sides of one instrument's book, its waiting stops and its last trade price.

    Knows nothing of accounts' money or of matching rules; the engine does
    the matching on these structures.
    """

    __slots__ = (
        "_market",
        "_markets",
        "asks",
        "bids",
        "fast",
        "hi",
        "last_price",
        "lo",
        "open",
        "reference_ts",
        "stops",
        "symbol",
        "window",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        # Continuous trading: new orders match as they arrive. False while the
        # instrument is halted, closed or in an auction call (engine.phases).
        self.open = True
        # The engine's plain-limit fast path may run: open, and a reference
        # price to check bands against (without one only resting orders pass).
        self.fast = True
        # Regular hours with a schedule: the trades the reference follows.
        self.window: ReferenceWindow | None = None
        # When the reference price was last set (on a schedule; None: never).
        self.reference_ts: int | None = None
        self.bids = BookSide("buy")
        self.asks = BookSide("sell")
        self.stops = StopBook()
        self.last_price: int | None = None
        # The lowest and highest trade price printed since stops were last
        # checked (None: nothing printed). Stops trigger on any print that
        # reaches them, not only on the last one.
        self.lo: int | None = None
        self.hi: int | None = None
        # The compiled build's shortcut to this book's risk market
        # (engine/_core.pyx _book_market): the market, and the risk's table of
        # markets it was found in. Not state: never saved or compared.
        self._market: object = None
        self._markets: object = None

    def note_prints(self, a: int, b: int) -> None:
        """Widen the range of prints not yet checked against stops to cover ``a`` and ``b``."""
        if a > b:
            a, b = b, a
        if self.lo is None or a < self.lo:
            self.lo = a
        if self.hi is None or b > self.hi:
            self.hi = b

    def side(self, side: str) -> BookSide:
        """The side an order of ``side`` rests on."""
        return self.bids if side == "buy" else self.asks

    def opposite(self, side: str) -> BookSide:
        """The side an order of ``side`` trades against."""
        return self.asks if side == "buy" else self.bids

    def best_bid(self) -> int | None:
        """Best bid price in ticks, or None."""
        return self.bids.best_price()

    def best_ask(self) -> int | None:
        """Best ask price in ticks, or None."""
        return self.asks.best_price()

    def depth(self, n: int | None = None) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """``(bids, asks)`` as ``(price, visible qty)`` lists, best first."""
        return self.bids.depth(n), self.asks.depth(n)


if build.COMPILED and not TYPE_CHECKING:
    # The compiled build's level (model/_order.pyx): one object with the price,
    # the total and the queue as C data, and the same fields and queue methods
    # for the code here and everywhere else; the compiled core reads it in
    # place.
    Level = build.compiled_order().Level  # type: ignore[misc]
    LevelIndex = build.compiled_order().LevelIndex
