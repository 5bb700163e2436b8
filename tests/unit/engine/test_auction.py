"""The call auction's uncross price: rulebook cases by hand, and the rules as properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.auction import Uncross, uncross_price
from model.build import COMPILED

if COMPILED:
    import engine.engine  # noqa: F401  (binds the compiled core first)
    from engine import _core

Side = list[tuple[int, int]]

# (case, bids, asks, reference, expected) with every expectation worked out by hand.
CASES: list[tuple[str, Side, Side, int, Uncross | None]] = [
    ("empty", [], [], 100, None),
    ("one side only", [(101, 5)], [], 100, None),
    ("not crossed", [(99, 5)], [(100, 5)], 100, None),
    # Volume 5 at 100 and nowhere else.
    ("touching", [(100, 5)], [(100, 5)], 0, Uncross(100, 5, 0)),
    # Volume: 98 -> min(10, 4)=4, 99 -> min(10, 4)=4, 100 -> min(6, 10)=6,
    # 101 -> min(6, 10)=6, 102 -> min(2, 10)=2. 100 and 101 tie at 6; imbalance
    # there is 6-10 = -4 at both; reference 100 is nearest: 100.
    (
        "max volume then nearest the reference",
        [(102, 2), (101, 4), (98, 4)],
        [(98, 4), (100, 6)],
        100,
        Uncross(100, 6, -4),
    ),
    # Same book, reference 104: 101 is nearer.
    (
        "reference above the range",
        [(102, 2), (101, 4), (98, 4)],
        [(98, 4), (100, 6)],
        104,
        Uncross(101, 6, -4),
    ),
    # Volume 5 at 100..105 (bids 5 at 105, asks 5 at 100); imbalance 0 everywhere;
    # the reference 103 lies inside: it is the price even with no order at it.
    ("reference inside the tie", [(105, 5)], [(100, 5)], 103, Uncross(103, 5, 0)),
    # Tie at 100 and 104, equally far from the reference 102, which trades as
    # much with as little imbalance: the reference itself.
    ("ties go to the reference", [(104, 5)], [(100, 5)], 102, Uncross(102, 5, 0)),
    # No reference: the lower of the tied prices.
    ("no reference: lower price", [(104, 5)], [(100, 5)], 0, Uncross(100, 5, 0)),
    # Volume 1 at 90, 91 and 92; imbalance 1 at 90, -1 at 92 and 0 at 91, where
    # no order is: the imbalance changes sign between two limit prices.
    ("a tick between limit prices", [(90, 1), (92, 1)], [(90, 1), (92, 1)], 0, Uncross(91, 1, 0)),
    # Volume 10 at 99, 100 and 101; imbalance 12-10 = 2 at 99 and 100, 10-11 = -1
    # at 101: the smaller imbalance wins over the reference 100.
    (
        "imbalance before the reference",
        [(101, 10), (100, 2)],
        [(99, 10), (101, 1)],
        100,
        Uncross(101, 10, -1),
    ),
    # Orders at the same price add up.
    (
        "orders at one price add up",
        [(100, 3), (100, 4)],
        [(100, 2), (99, 1)],
        0,
        Uncross(100, 3, 4),
    ),
]


@pytest.mark.parametrize(
    ("bids", "asks", "reference", "expected"),
    [pytest.param(b, a, r, e, id=case) for case, b, a, r, e in CASES],
)
def test_uncross_cases(bids: Side, asks: Side, reference: int, expected: Uncross | None) -> None:
    assert uncross_price(bids, asks, reference) == expected


def _at(bids: Side, asks: Side, price: int) -> tuple[int, int]:
    """(executable volume, imbalance) at ``price``, by brute force."""
    buy = sum(q for p, q in bids if p >= price)
    sell = sum(q for p, q in asks if p <= price)
    return min(buy, sell), buy - sell


side = st.lists(st.tuples(st.integers(90, 110), st.integers(1, 20)), max_size=8)


@settings(max_examples=400, deadline=None)
@given(bids=side, asks=side, reference=st.integers(0, 115))
def test_uncross_price_follows_the_rules_in_order(bids: Side, asks: Side, reference: int) -> None:
    """Over every tick: the most volume, then the least imbalance, then the nearest the
    reference, then the lowest."""
    found = uncross_price(bids, asks, reference)
    prices = range(80, 121)  # every tick in and around the book
    best = max(_at(bids, asks, p)[0] for p in prices)
    if best == 0:
        assert found is None
        return
    assert found is not None
    volume, imbalance = _at(bids, asks, found.price)
    assert (found.volume, found.imbalance) == (volume, imbalance)
    # 1. no price trades more
    assert volume == best
    tied = [p for p in prices if _at(bids, asks, p)[0] == best]
    # 2. no max-volume price has a smaller imbalance
    least = min(abs(_at(bids, asks, p)[1]) for p in tied)
    assert abs(imbalance) == least
    tied = [p for p in tied if abs(_at(bids, asks, p)[1]) == least]
    # 3. nearest the reference among the prices still tied; 4. then the lower.
    distance = [abs(p - reference) if reference else 0 for p in tied]
    nearest = min(distance)
    assert found.price == min(p for p, d in zip(tied, distance, strict=True) if d == nearest)


# The compiled build's indication chooses the price on C integers
# (engine/_core.pyx ``_uncross_c``); it must answer as uncross_price does.
compiled_only = pytest.mark.skipif(not COMPILED, reason="the compiled core's own function")


@compiled_only
@pytest.mark.parametrize(
    ("bids", "asks", "reference", "expected"),
    [pytest.param(b, a, r, e, id=case) for case, b, a, r, e in CASES],
)
def test_compiled_uncross_cases(
    bids: Side, asks: Side, reference: int, expected: Uncross | None
) -> None:
    assert _core.uncross_price_c(bids, asks, reference) == expected


INT64 = 2**63 - 1
prices = st.one_of(st.integers(90, 110), st.integers(-INT64 - 1, INT64))
lots = st.one_of(st.integers(0, 20), st.integers(0, INT64))
wide_side = st.lists(st.tuples(prices, lots), max_size=12)


@compiled_only
@settings(max_examples=600, deadline=None)
@given(
    bids=st.one_of(side, wide_side),
    asks=st.one_of(side, wide_side),
    reference=st.one_of(st.integers(0, 115), st.integers(-INT64 - 1, INT64)),
)
def test_compiled_uncross_is_the_pure_one(bids: Side, asks: Side, reference: int) -> None:
    """Narrow books (ties, gaps, repeated prices) and prices, lots and references
    anywhere in 64 bits, where sums and distances pass 64 bits."""
    assert _core.uncross_price_c(bids, asks, reference) == uncross_price(bids, asks, reference)
