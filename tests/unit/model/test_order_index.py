"""``model.order.OrderIndex``: the open orders by id, a dict to whoever reads it.

In the compiled build it is model/_order.pyx's open-addressing table; in the
pure build it is ``dict`` itself. Either way every operation the engine, the
snapshots and the node use must give what a dict of the same orders gives,
iteration order included (a dict of open orders iterates in increasing id,
which the table reproduces: see its docstring). Runs on both builds.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.build import COMPILED
from model.order import Order, OrderIndex


def _order(order_id: int) -> Order:
    return Order(order_id, "a", "S", "buy", 1, 1, 1)


# The engine's use: a new order's id is above every id given before (its
# command's seq); an amend puts a new record under an id already there; a
# cancel or a fill takes one out; look-ups name any id. Gaps between ids are
# small or large (the table's home slot is the id's low bits).
OPS = st.lists(
    st.tuples(
        st.sampled_from(["new", "replace", "del", "get", "pop"]),
        st.one_of(st.integers(1, 8), st.integers(1, 2**20), st.just(2**40)),
    ),
    max_size=400,
)


def _check_same(index: Any, ref: dict[int, Order]) -> None:
    assert len(index) == len(ref)
    assert list(index) == list(ref) == sorted(ref)
    assert list(index.keys()) == list(ref)
    assert index.keys() == ref.keys()
    assert list(index.values()) == list(ref.values())
    assert list(index.items()) == list(ref.items())
    assert index == ref and ref == index
    assert (index != ref) is False
    for key in ref:
        assert key in index and index[key] is ref[key] and index.get(key) is ref.get(key)


@settings(max_examples=300)
@given(OPS)
def test_every_operation_gives_what_a_dict_gives(ops: list[tuple[str, int]]) -> None:
    index: Any = OrderIndex()
    ref: dict[int, Order] = {}
    last = 0
    for op, n in ops:
        live = list(ref)
        if op == "new":
            last += n
            order = _order(last)
            index[last] = order
            ref[last] = order
        elif op == "replace" and live:
            key = live[n % len(live)]
            order = _order(key)
            index[key] = order
            ref[key] = order
        elif op == "del":
            if live and n % 3:
                key = live[n % len(live)]
                del index[key]
                del ref[key]
            else:
                with pytest.raises(KeyError):
                    del index[last + n]
        elif op == "get":
            key = n if n % 2 else (live[n % len(live)] if live else n)
            assert index.get(key) is ref.get(key)
            assert (key in index) == (key in ref)
        elif op == "pop":
            key = live[n % len(live)] if live and n % 2 else last + n
            assert index.pop(key, None) is ref.pop(key, None)
        if len(ref) < 20:
            _check_same(index, ref)
    _check_same(index, ref)


def test_misses_and_the_default() -> None:
    index: Any = OrderIndex()
    index[5] = _order(5)
    assert index.get(6) is None and index.get("5") is None and "5" not in index
    sentinel = object()
    assert index.get(6, sentinel) is sentinel
    with pytest.raises(KeyError):
        index[6]
    with pytest.raises(KeyError):
        index.pop(6)
    assert index.pop(5) is not None and len(index) == 0 and not index


@pytest.mark.skipif(not COMPILED, reason="a dict's views are live: this is the table's copies")
def test_views_are_copies_the_table_may_change_under() -> None:
    index: Any = OrderIndex()
    for k in range(1, 101):
        index[k] = _order(k)
    for order in index.values():
        if order.order_id % 2:
            del index[order.order_id]
    assert list(index) == list(range(2, 101, 2))


def test_update_clear_and_pickle() -> None:
    index: Any = OrderIndex()
    index.update({k: _order(k) for k in (1, 2, 3)})
    index.update([(9, _order(9))])
    assert list(index) == [1, 2, 3, 9]
    again = pickle.loads(pickle.dumps(index))
    assert type(again) is type(index) and again == index
    index.clear()
    assert len(index) == 0 and index == {}


@pytest.mark.skipif(not COMPILED, reason="the compiled table's own behaviour")
def test_only_orders_and_64_bit_ids_go_in() -> None:
    index: Any = OrderIndex()
    with pytest.raises(TypeError):
        index[1] = object()
    with pytest.raises(TypeError):
        index["1"] = _order(1)
    with pytest.raises(TypeError):
        index[2**63] = _order(1)


@pytest.mark.skipif(not COMPILED, reason="the compiled table's own behaviour")
def test_the_table_grows_and_gives_memory_back() -> None:
    index: Any = OrderIndex()
    assert index.capacity == 8
    for k in range(1, 100_001):
        index[k] = _order(k)
    assert index.capacity == 262_144  # at most half full
    for k in range(1, 99_991):
        del index[k]
    assert len(index) == 10 and list(index) == list(range(99_991, 100_001))
    assert index.capacity <= 128  # below an eighth full it halves
    for k in range(99_991, 100_001):
        assert index[k].order_id == k
