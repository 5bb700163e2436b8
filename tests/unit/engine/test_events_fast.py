"""The compiled core builds its commonest events in place: the same objects as calling the class.

``engine/_core.pyx`` makes OrderAccepted, OrderCancelled, OrderRejected,
TradeExecuted and OrderAmended by writing their fields into a block it
allocates (``model/_slots.h``, ``tokex_shape_new``) rather than through
msgspec's constructor. These tests hold that such an event is equal to,
encodes as, hashes and prints as the one the class builds, that no
reference is leaked or lost, and that a class of any other shape is left to
its constructor. The pure build has no such path (these tests skip there).
"""

from __future__ import annotations

import sys

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderRejected,
    TradeExecuted,
)
from model.build import COMPILED
from model.commands import NewOrder

pytestmark = pytest.mark.skipif(not COMPILED, reason="the compiled core's own path")

CLASSES = (OrderAccepted, OrderCancelled, OrderRejected, TradeExecuted, OrderAmended)

# Values of every kind an event's field holds: ints past 64 bits, texts,
# None, booleans and a command.
_ORDER = NewOrder(1, 2, "acct1", "AAPLx/USD", "buy", 5, 23_000, "limit", "gtc")
VALUES = st.one_of(
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.text(max_size=12),
    st.none(),
    st.booleans(),
    st.just(_ORDER),
)


def _outcome(encode, event: object) -> object:  # type: ignore[no-untyped-def]
    """What encoding ``event`` gives: its bytes, or the error (ints past 64 bits)."""
    try:
        return encode(event)
    except (OverflowError, TypeError) as e:
        return (type(e), str(e))


def _core():  # type: ignore[no-untyped-def]
    import engine.engine  # noqa: F401  (imports the compiled core in its order)
    from engine import _core  # type: ignore[attr-defined]

    return _core


def test_every_class_is_built_in_place_with_this_msgspec() -> None:
    # If a msgspec release laid these classes out otherwise the core would
    # fall back to calling them (correct, slower): this says so.
    assert {cls.__name__ for cls in CLASSES} == _core().FAST_EVENTS


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@given(data=st.data())
def test_built_in_place_is_what_the_class_builds(cls: type, data: st.DataObject) -> None:
    fields = tuple(data.draw(VALUES) for _ in cls.__struct_fields__)  # type: ignore[attr-defined]
    made = _core()._build_event(cls, fields)
    want = cls(*fields)
    assert type(made) is cls
    assert made == want
    assert msgspec.structs.astuple(made) == fields
    assert repr(made) == repr(want)
    for encode in (msgspec.msgpack.encode, msgspec.json.encode):
        assert _outcome(encode, made) == _outcome(encode, want)
    assert hash(made) == hash(want)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_no_reference_is_leaked_or_lost(cls: type) -> None:
    core = _core()
    value = object.__new__(type("Marker", (), {}))
    fields = tuple(value for _ in cls.__struct_fields__)  # type: ignore[attr-defined]
    before_value = sys.getrefcount(value)
    before_cls = sys.getrefcount(cls)
    made = [core._build_event(cls, fields) for _ in range(1_000)]
    per_event = len(fields)
    assert sys.getrefcount(value) == before_value + 1_000 * per_event
    assert sys.getrefcount(cls) == before_cls + 1_000
    del made
    assert sys.getrefcount(value) == before_value
    assert sys.getrefcount(cls) == before_cls


class _Plain(msgspec.Struct, frozen=True, gc=False):
    a: int
    b: str = ""


class _Tracked(msgspec.Struct, frozen=True):
    a: int


class _WithPostInit(msgspec.Struct, gc=False):
    a: int

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("a: negative")


class _Wide(msgspec.Struct, gc=False):
    f0: int
    f1: int
    f2: int
    f3: int
    f4: int
    f5: int
    f6: int
    f7: int
    f8: int
    f9: int
    f10: int
    f11: int
    f12: int
    f13: int
    f14: int
    f15: int
    f16: int


@pytest.mark.parametrize(
    ("cls", "fast"),
    [
        (_Plain, True),
        (_Tracked, False),  # the collector tracks it: its block has a GC header (so do
        # the classes with a __dict__ or weak references, which msgspec allows only so)
        (_WithPostInit, False),  # its checks must run
        (_Wide, False),  # more fields than the shape holds
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_only_the_plain_shape_is_built_in_place(cls: type, fast: bool) -> None:
    assert _core()._shape_fast(cls) is fast


def test_a_class_that_is_not_one_is_refused() -> None:
    with pytest.raises(TypeError, match="not a class"):
        _core()._shape_fast(42)
