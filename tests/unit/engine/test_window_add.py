"""The compiled rolling reference window against ``ReferenceWindow.add``.

engine/_core.pyx ``_window_add`` keeps the window's sums on 128-bit C
integers while they and the new print fit 64 bits, and on Python's integers
otherwise (from the start, or from the first print leaving the window that
does not fit). Every path must give the same average, the same sums and the
same prints as the pure method. Compiled build only (the pure build has no
compiled window).
"""

from __future__ import annotations

import random

import pytest

import engine.engine  # noqa: F401  (loads the core's modules in their order)
from engine.reference import WINDOW_NS, ReferenceWindow
from model.build import COMPILED

if COMPILED:
    from engine import _core

pytestmark = pytest.mark.skipif(not COMPILED, reason="engine/_core.pyx's window")

T0 = 1_760_000_000 * 10**9


def _same(a: ReferenceWindow, b: ReferenceWindow) -> None:
    assert (a.notional, a.lots, list(a.prints)) == (b.notional, b.lots, list(b.prints))


def _run(prints: list[tuple[int, int, int]], start: ReferenceWindow | None = None) -> int:
    pure, compiled = ReferenceWindow(), ReferenceWindow()
    if start is not None:
        for w in (pure, compiled):
            w.prints.extend(start.prints)
            w.notional, w.lots = start.notional, start.lots
    checked = 0
    for ts, notional, lots in prints:
        assert _core.window_add(compiled, ts, notional, lots) == pure.add(ts, notional, lots)
        _same(compiled, pure)
        checked += 1
    return checked


def test_random_prints_on_c_integers() -> None:
    rng = random.Random(7)
    ts = T0
    prints = []
    for _ in range(3_000):
        ts += rng.choice((0, 1, 10**6, 10**9, 40 * 10**9, WINDOW_NS, WINDOW_NS + 1))
        lots = rng.randint(1, 10**9)
        prints.append((ts, lots * rng.randint(1, 10**6), lots))
    assert _run(prints) == 3_000


@pytest.mark.parametrize("big", [2**63 - 1, 2**63, 2**64 + 3, 2**80])
def test_sums_past_64_bits_give_the_pure_answer(big: int) -> None:
    # A window whose sums are at or past 64 bits, then prints that push them
    # over, and the big print leaving the window.
    prints = [
        (T0, big, 3),
        (T0 + 1, big, 2**40),
        (T0 + WINDOW_NS, 5 * 10**6, 7),
        (T0 + WINDOW_NS + 1, 10**6, 1),
        (T0 + 3 * WINDOW_NS, 10**6, 1),
    ]
    assert _run(prints) == 5


def test_a_stored_print_past_64_bits_leaves_on_pythons_integers() -> None:
    # Sums that fit 64 bits but a print in the deque that does not (only a
    # window built by hand can hold one): the prints leave on Python's integers.
    start = ReferenceWindow()
    start.prints.append((T0, 2**70, 5))
    start.notional, start.lots = 10**6, 5
    assert _run([(T0 + WINDOW_NS, 10**6, 2), (T0 + WINDOW_NS + 5, 2 * 10**6, 1)], start) == 2
