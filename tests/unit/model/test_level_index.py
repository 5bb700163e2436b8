"""``engine.book.LevelIndex``: a book side's levels by key, a dict to whoever reads it.

In the compiled build it is model/_order.pyx's table keyed by C integers; in
the pure build it is ``dict`` itself. Every operation the engine, the
snapshots and the checks use must give what a dict of the same levels gives,
iteration order included: the order the keys entered (a snapshot lists a
side's levels in it and a compacted heap is rebuilt from it). Runs on both
builds.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.book import Level, LevelIndex
from model.build import COMPILED

# The engine's use: a key is a price in ticks, negated on the bid side, so
# keys of one side sit a few ticks apart around the mid and come and go as
# levels open and empty, often coming back; far keys (a stray price) and
# keys that share their low bits with others (the table's home slot) too.
KEYS = st.one_of(
    st.integers(-40, 40),
    st.integers(-(2**20), 2**20),
    st.sampled_from([2**40, -(2**40), 2**40 + 8, 2**62, -(2**63)]),
)
OPS = st.lists(
    st.tuples(st.sampled_from(["set", "replace", "del", "get", "pop"]), KEYS), max_size=400
)


def _check_same(index: Any, ref: dict[int, Level]) -> None:
    assert len(index) == len(ref) and bool(index) == bool(ref)
    assert list(index) == list(ref)
    assert list(index.keys()) == list(ref)
    assert index.keys() == ref.keys()
    assert index.keys() | {1} == ref.keys() | {1}
    assert list(index.values()) == list(ref.values())
    assert list(index.items()) == list(ref.items())
    assert index == ref and ref == index
    assert (index != ref) is False
    for key in ref:
        assert key in index and index[key] is ref[key] and index.get(key) is ref.get(key)


@settings(max_examples=300)
@given(OPS)
def test_every_operation_gives_what_a_dict_gives(ops: list[tuple[str, int]]) -> None:
    index: Any = LevelIndex()
    ref: dict[int, Level] = {}
    for op, key in ops:
        live = list(ref)
        if op == "set":
            level = Level(abs(key) % 2**63)
            index[key] = level
            ref[key] = level
        elif op == "replace" and live:
            # A new level under a key that is there keeps the key's place.
            key = live[key % len(live)]
            level = Level(abs(key) % 2**63)
            index[key] = level
            ref[key] = level
        elif op == "del":
            if live and key % 3:
                key = live[key % len(live)]
                del index[key]
                del ref[key]
            elif key not in ref:
                with pytest.raises(KeyError):
                    del index[key]
        elif op == "get":
            if live and key % 2:
                key = live[key % len(live)]
            assert index.get(key) is ref.get(key)
            assert (key in index) == (key in ref)
        elif op == "pop":
            if live and key % 2:
                key = live[key % len(live)]
            assert index.pop(key, None) is ref.pop(key, None)
        if len(ref) < 20:
            _check_same(index, ref)
    _check_same(index, ref)


def test_a_key_that_comes_back_goes_last() -> None:
    index: Any = LevelIndex()
    for key in (5, -3, 7, 12):
        index[key] = Level(abs(key))
    del index[-3]
    index[-3] = Level(3)
    index[7] = Level(7)  # replaced in place: keeps its place
    assert list(index) == [5, 7, 12, -3]
    assert [level.price for level in index.values()] == [5, 7, 12, 3]


def test_misses_and_the_default() -> None:
    index: Any = LevelIndex()
    index[5] = Level(5)
    assert index.get(6) is None and index.get("5") is None and "5" not in index
    sentinel = object()
    assert index.get(6, sentinel) is sentinel
    with pytest.raises(KeyError):
        index[6]
    with pytest.raises(KeyError):
        index.pop(6)
    assert index.pop(5) is not None and len(index) == 0 and not index


def test_update_and_clear() -> None:
    index: Any = LevelIndex()
    index.update({k: Level(k) for k in (3, 1, 2)})
    index.update([(9, Level(9))])
    assert list(index) == [3, 1, 2, 9]
    index.clear()
    assert len(index) == 0 and index == {}
    index[4] = Level(4)
    assert list(index) == [4]


@pytest.mark.skipif(not COMPILED, reason="the compiled table's own behaviour")
def test_only_levels_and_64_bit_keys_go_in() -> None:
    index: Any = LevelIndex()
    with pytest.raises(TypeError):
        index[1] = object()
    with pytest.raises(TypeError):
        index["1"] = Level(1)
    with pytest.raises(TypeError):
        index[2**63] = Level(1)


@pytest.mark.skipif(not COMPILED, reason="the compiled table's own behaviour")
def test_the_table_grows_and_shrinks_and_keeps_the_order() -> None:
    index: Any = LevelIndex()
    # Bid keys: negated prices, entered best (highest price) first, then
    # every other one taken out and half of those put back.
    keys = [-p for p in range(50_000, 0, -1)]
    for k in keys:
        index[k] = Level(-k)
    gone = keys[::2]
    for k in gone:
        del index[k]
    back = gone[::2]
    for k in back:
        index[k] = Level(-k)
    assert list(index) == keys[1::2] + back
    assert index.capacity == 131_072  # at most half full
    for k in keys[1::2] + back[:12_490]:
        del index[k]
    assert list(index) == back[12_490:]
    assert index.capacity <= 128  # below an eighth full it halves
    for k in back[12_490:]:
        assert index[k].price == -k
