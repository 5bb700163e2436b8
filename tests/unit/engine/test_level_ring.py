"""The compiled build's price level (model/_order.pyx ``Level``) against a plain model.

The compiled level keeps its queue as a ring of order references inside the
object (four of them) and in a block of its own past that, and its total as
a 128-bit integer. Random sequences of the operations the engine uses (the
queue view's ``append``, ``extend``, ``popleft``, ``clear``, indexing,
``len`` and iteration; ``qty`` read and written; ``live()`` and ``compact()``
with tombstones) are run on it and on a list and an int: every read must
agree, through growth past the inline ring, wrap-around and compaction, and
with totals past 64 bits. Compiled build only (the pure level is a deque).
"""

from __future__ import annotations

import gc
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.book import Level
from model.build import COMPILED
from model.order import Order

pytestmark = pytest.mark.skipif(not COMPILED, reason="the compiled build's own level")

ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 3)),
        st.tuples(st.just("extend"), st.integers(0, 6)),
        st.tuples(st.just("popleft"), st.just(0)),
        st.tuples(st.just("kill"), st.integers(0, 40)),
        st.tuples(st.just("compact"), st.just(0)),
        st.tuples(st.just("clear"), st.just(0)),
        st.tuples(st.just("qty"), st.integers(-(2**100), 2**100)),
    ),
    max_size=80,
)


def _order(n: int, shown: int) -> Order:
    return Order(n, "acct", "AAPLx/USD", "buy", 100, shown + 1, shown)


@settings(max_examples=300, deadline=None)
@given(ops=ops)
def test_the_level_is_a_deque_with_a_total(ops: list[tuple[str, int]]) -> None:
    level = Level(100)
    model: list[Order] = []
    total = 0
    made = 0
    for op, arg in ops:
        if op == "append":
            made += 1
            o = _order(made, arg)
            level.queue.append(o)
            model.append(o)
        elif op == "extend":
            batch = [_order(made + i + 1, 1 + i % 3) for i in range(arg)]
            made += arg
            level.queue.extend(batch)
            model.extend(batch)
        elif op == "popleft":
            if model:
                assert level.queue.popleft() is model.pop(0)
            else:
                with pytest.raises(IndexError):
                    level.queue.popleft()
        elif op == "kill" and model:
            model[arg % len(model)].shown = 0  # a tombstone
        elif op == "compact":
            level.compact()
            model = [o for o in model if o.shown]
            assert level.dead == 0
        elif op == "clear":
            level.queue.clear()
            model.clear()
        elif op == "qty":
            level.qty = arg
            total = arg
        assert len(level.queue) == len(model)
        assert bool(level.queue) == bool(model)
        assert list(level.queue) == model
        assert [o.order_id for o in level.live()] == [o.order_id for o in model if o.shown]
        assert level.qty == total
        if model:
            assert level.queue[0] is model[0]
            assert level.queue[-1] is model[-1]
        for i in (len(model), -len(model) - 1):
            with pytest.raises(IndexError):
                level.queue[i]
    assert level.price == 100


def test_the_level_holds_and_lets_go_of_its_orders() -> None:
    """A reference per queued order: taken when queued, dropped when popped, cleared,
    compacted away or when the level goes."""
    o = _order(1, 5)
    base = sys.getrefcount(o)
    level = Level(7)
    for _ in range(9):  # past the inline ring: a block of its own
        level.queue.append(o)
    assert sys.getrefcount(o) == base + 9
    level.queue.popleft()
    assert sys.getrefcount(o) == base + 8
    o.shown = 0
    level.dead = 8
    level.compact()
    assert sys.getrefcount(o) == base and len(level.queue) == 0
    level.queue.extend([o, o, o])
    del level
    gc.collect()
    assert sys.getrefcount(o) == base


def test_a_total_past_128_bits_is_refused() -> None:
    level = Level(1)
    level.qty = 2**126
    assert level.qty == 2**126
    with pytest.raises(OverflowError):
        level.qty = 2**130
    with pytest.raises(TypeError):
        level.queue.append("not an order")
    assert not gc.is_tracked(level) and not gc.is_tracked(level.queue)
