"""The compiled build's push and pop on a book side's heap of level keys.

engine/_core.pyx pushes and pops level keys (ints: a price times the side's
sign) comparing them as C integers instead of calling heapq. The heap must
come out exactly as heapq leaves it (the same objects in the same places), or
the pure and compiled books would walk stale keys in different orders. Here
random runs of pushes and pops go to both, with many equal keys (equal values
that are different objects, told apart by identity) and now and then a key
past 64 bits or a bool, which sends the operation to heapq.
"""

from __future__ import annotations

import heapq

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.engine  # noqa: F401  (loads the core's modules in their order)
from model.build import COMPILED

if COMPILED:
    from engine import _core

pytestmark = pytest.mark.skipif(not COMPILED, reason="engine/_core.pyx's key heap")

# Mostly small keys with many ties, some near the 64-bit edges, a few past them.
_keys = st.one_of(
    st.integers(-6, 6),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([2**63, -(2**63) - 1, 2**64, True]),
)
_ops = st.lists(st.one_of(st.tuples(st.just("push"), _keys), st.just(("pop", 0))), max_size=120)


def _fresh(v: int) -> int:
    """An int equal to ``v`` but a different object (where Python allows it)."""
    return v if isinstance(v, bool) else int(str(v))


@settings(max_examples=400, deadline=None)
@given(start=st.lists(_keys, max_size=60), ops=_ops)
def test_push_and_pop_leave_the_heap_as_heapq_does(
    start: list[int], ops: list[tuple[str, int]]
) -> None:
    theirs = [_fresh(v) for v in start]
    heapq.heapify(theirs)
    mine = list(theirs)
    for op, v in ops:
        if op == "push":
            key = _fresh(v)
            heapq.heappush(theirs, key)
            _core.push_key(mine, key)
        elif theirs:
            assert _core.pop_key(mine) is heapq.heappop(theirs)
        assert len(mine) == len(theirs)
        assert all(a is b for a, b in zip(mine, theirs, strict=True))


def test_a_long_run_of_ties_and_distinct_keys() -> None:
    theirs: list[int] = []
    mine: list[int] = []
    pops = 0
    for i in range(20_000):
        if i % 3 == 2 and theirs:
            assert _core.pop_key(mine) is heapq.heappop(theirs)
            pops += 1
        else:
            key = _fresh((i * 7919) % 257 - 128)
            heapq.heappush(theirs, key)
            _core.push_key(mine, key)
        assert mine == theirs
    while theirs:
        assert _core.pop_key(mine) is heapq.heappop(theirs)
        pops += 1
    assert pops > 10_000 and mine == []
