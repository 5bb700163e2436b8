"""``Engine._next_due``: the earliest session timer due, against ``Phases._next_due``.

In the compiled build the engine's scan is engine/_core.pyx's, on C integers
with a fallback to Python's integers for an instant past 64 bits; the pure
method in engine/phases.py is the reference. Both are asked the same
questions along an xstocks flow (60 instruments, the close, a halt and its
call, volatility pauses and the reference going stale), at instants before,
at and long after each command, and with instants past 64 bits planted in a
session. Runs on both builds (on the pure one the two are the same method).
"""

from __future__ import annotations

import pytest

from bench.xstocks import xstocks
from engine.engine import Engine
from engine.phases import Phases

LATER = (0, 1, 10**9, 60 * 10**9, 3_600 * 10**9, 10**15, 2**63, 2**70)


@pytest.fixture(scope="module")
def flow() -> tuple[Engine, list[int]]:
    """The engine after the flow, each step's answers compared on the way."""
    cmds, make = xstocks(2_000, 2)
    engine = make()
    found = 0
    stamps = []
    for i, c in enumerate(cmds):
        engine.process(c)
        if i % 20 == 0:
            stamps.append(c.ts)
            for later in LATER:
                due = engine._next_due(c.ts + later)
                assert due == Phases._next_due(engine, c.ts + later)
                found += due is not None
    assert found > len(stamps)  # timers were due, not only None compared
    return engine, stamps


def test_the_scan_gives_the_reference_along_a_flow(flow: tuple[Engine, list[int]]) -> None:
    engine, stamps = flow
    assert len(stamps) == 100 and len(engine.sessions) == 60


@pytest.mark.parametrize("slot", ["until", "edge_since", "next_change"])
@pytest.mark.parametrize("value", [2**63 - 2, 2**63 - 1, 2**64, -(2**64)])
def test_instants_past_64_bits(flow: tuple[Engine, list[int]], slot: str, value: int) -> None:
    engine, stamps = flow
    session = list(engine.sessions.values())[7]
    kept = getattr(session, slot)
    setattr(session, slot, value)  # the value, or its sum with EDGE_NS, is past 64 bits
    try:
        for ts in (stamps[-1], 2**63 - 1, 2**63, 2**65):
            assert engine._next_due(ts) == Phases._next_due(engine, ts)
    finally:
        setattr(session, slot, kept)


# Around the in-place read of an instant (engine/_core.pyx, tokex_instant): two
# 30-bit digits end at 2**60, three at 2**90, a long long at 2**63; negative
# values and a bool (an int, not an exact one) go to the general read.
AROUND_THE_READ = (
    2**60 - 1,
    2**60,
    2**60 + 1,
    2**61 + 12_345,
    2**63 - 15 * 10**9 - 1,
    2**63 - 5 * 24 * 3_600 * 10**9,
    2**63 - 1,
    2**63,
    2**90 - 1,
    2**90,
    -(2**60),
    -(2**62),
    True,
)


@pytest.mark.parametrize("slot", ["until", "edge_since", "next_change", "reference_ts"])
@pytest.mark.parametrize("value", AROUND_THE_READ)
def test_instants_around_the_in_place_read(
    flow: tuple[Engine, list[int]], slot: str, value: int
) -> None:
    engine, stamps = flow
    sessions = list(engine.sessions.values())
    session = sessions[11]
    target = session.book if slot == "reference_ts" else session
    kept = getattr(target, slot)
    # A second session a little earlier or later, so that ties and order are asked too.
    other = sessions[3]
    other_kept = other.until
    setattr(target, slot, value)
    try:
        for near in (value - 1, value, value + 1):
            other.until = near
            for ts in (stamps[-1], value - 1, value, value + 1, 2**60, 2**63 - 1, 2**63, 2**90):
                assert engine._next_due(ts) == Phases._next_due(engine, ts)
        other.until = other_kept
        for ts in (stamps[-1], value - 1, value, value + 1, 2**63 - 1, 2**90):
            assert engine._next_due(ts) == Phases._next_due(engine, ts)
    finally:
        setattr(target, slot, kept)
        other.until = other_kept
