"""A RunTimers and the band-edge watch in the compiled build, against the pure methods.

In the compiled build ``Engine._on_timers`` is engine/_core.pyx's: the
expiries and the sessions' timers without the pure chain of
CorporateActions', Phases' and Operations' ``_on_timers``, which it hands a
RunTimers to while a dead man's switch is armed or a corporate action is
pending. Here two engines run the same xstocks flow, with switches armed and
disarmed and corporate actions announced along the way: one with the
engine's own ``_on_timers``, the other with the pure chain in its handler
table. Every command's events and the state hash must be equal, and both of
the compiled method's branches must have run.

``Engine._check_edge`` (engine/_core.pyx's ``_check_edge_c``, which reads the
best price from the heap's top when that key is not stale) is compared with
``Phases._check_edge`` the same way, on two engines in the same state, with
the band moved onto the best bid or offer and stale keys on top of the heap.

On the pure build both engines run the same methods; the tests still run.
"""

from __future__ import annotations

import heapq
import random
import types

import msgspec
import pytest

from bench.xstocks import xstocks
from engine.corporate import CorporateActions
from engine.engine import Engine
from engine.events import (
    AuctionUncrossed,
    CorporateActionApplied,
    DeadManSwitchSet,
    OrderExpired,
    PhaseChanged,
)
from engine.phases import Phases
from model.build import COMPILED
from model.commands import (
    CancelAllAfter,
    Command,
    CorporateAction,
    NewOrder,
    RunTimers,
    SetReferencePrice,
)

if COMPILED:
    from engine import _core


def _flow(count: int, seed: int) -> tuple[list[Command], Engine, Engine]:
    """xstocks' commands with switches and corporate actions put in, renumbered."""
    cmds, make = xstocks(count, seed)
    rng = random.Random(seed)
    symbols = sorted({c.symbol for c in cmds if isinstance(c, NewOrder)})
    accounts: list[str] = []
    out: list[Command] = []
    actions = [
        (count // 5, "dividend", 11, 10),
        (count // 2, "split", 2, 1),
        (3 * count // 4, "delist", 1, 1),
    ]
    last_ts = 0
    for i, c in enumerate(cmds):
        ts = c.ts
        step = max(1, ts - last_ts)
        last_ts = ts
        if isinstance(c, NewOrder):
            accounts.append(c.account)
        if accounts and i % 40 == 7 and (i // 500) % 2 == 0:
            # Arm (or now and then disarm) a trading account's switch, due a few
            # commands on; none in every other 500 commands.
            timeout = 0 if rng.random() < 0.2 else step * rng.randint(1, 30)
            out.append(CancelAllAfter(0, ts, rng.choice(accounts[-50:]), timeout))
        for at, kind, num, den in actions:
            if i == at:
                symbol = symbols[(at * 7) % len(symbols)]
                effective = ts + step * rng.randint(5, 60)
                out.append(CorporateAction(0, ts, "ops", symbol, kind, num, den, effective))
        if i % 97 == 13:
            out.append(RunTimers(0, ts))  # nothing or little due: the common case
        out.append(c)
    renumbered = [msgspec.structs.replace(c, seq=n + 1) for n, c in enumerate(out)]
    return renumbered, make(), make()


def test_on_timers_gives_the_pure_chains_events_and_state() -> None:
    cmds, compiled, pure = _flow(4_000, 3)
    pure._handlers[RunTimers] = types.MethodType(CorporateActions._on_timers, pure)
    fast = handed_over = 0
    fired: set[type] = set()
    for i, c in enumerate(cmds):
        if type(c) is RunTimers:
            if compiled.actions or (compiled.armed and compiled.risk is not None):
                handed_over += 1
            else:
                fast += 1
        got = compiled.process(c)
        assert got == pure.process(c), (i, c)
        if type(c) is RunTimers:
            fired.update(type(e) for e in got)
        if i % 250 == 0:
            assert compiled.state_hash() == pure.state_hash(), i
    assert compiled.state_hash() == pure.state_hash()
    assert fast > 30 and handed_over > 30, (fast, handed_over)
    assert {
        OrderExpired,
        PhaseChanged,
        AuctionUncrossed,
        DeadManSwitchSet,
        CorporateActionApplied,
    } <= fired, fired


def _edges(engine: Engine) -> list[object]:
    """What the watch reads and changes: each session's clock, each side's heap and stale keys."""
    return [
        [s.edge_since, s.book.bids.heap, s.book.bids.stale, s.book.asks.heap, s.book.asks.stale]
        for s in engine.sessions.values()
    ]


def test_check_edge_gives_the_pure_watchs_answer() -> None:
    cmds, make = xstocks(3_000, 4)
    compiled, pure = make(), make()
    rng = random.Random(4)
    at_edge = stale_below = clear_stale = 0
    seq = 0
    for i, c in enumerate(cmds):
        seq += 1
        c = msgspec.structs.replace(c, seq=seq)
        assert compiled.process(c) == pure.process(c)
        if i % 10:
            continue
        # Move one band onto the best bid or offer now and then (on both engines):
        # the reference a step lower (or higher) at a time until an edge reaches it.
        session = rng.choice(list(compiled.sessions.values()))
        book = session.book
        m = compiled.risk.markets[book.symbol]  # type: ignore[union-attr]
        if i % 30 == 0 and book.window is not None and book.bids.levels and book.asks.levels:
            bid, ask = book.best_bid(), book.best_ask()
            assert bid is not None and ask is not None
            up = rng.random() < 0.5
            for k in range(10, 2_000, 10):
                near = ask if up else bid
                seq += 1
                ref = near * (10_000 + k) // 10_000 if up else near * (10_000 - k) // 10_000
                move = SetReferencePrice(seq, c.ts, "ops", book.symbol, ref)
                assert compiled.process(move) == pure.process(move)
                if (m.high is not None and m.high <= bid) or (m.low is not None and m.low >= ask):
                    break
        # A stale key just under the top of a side now and then (a worse price
        # with no level, in the heap and the stale set, as BookSide.drop_level
        # leaves one): it surfaces when the levels above it empty.
        if i % 20 == 0:
            for engine in (compiled, pure):
                side = engine.sessions[book.symbol].book.bids
                if side.heap:
                    key = side.heap[0] + 1 + i % 3
                    if key not in side.levels and key not in side.stale:
                        heapq.heappush(side.heap, key)
                        side.stale.add(key)
        for a, b in zip(compiled.sessions.values(), pure.sessions.values(), strict=True):
            for side in (b.book.bids, b.book.asks):
                # The top is never stale (book.py), in either build.
                assert not side.heap or side.heap[0] in side.levels, (i, side.side)
            for side in (a.book.bids, a.book.asks):
                assert not side.heap or side.heap[0] in side.levels, (i, side.side)
                if side.stale:
                    stale_below += 1
                elif side.heap:
                    clear_stale += 1
            ts = c.ts + rng.choice((0, 1, 10**9))
            Engine._check_edge(compiled, a, ts)
            Phases._check_edge(pure, b, ts)
            at_edge += a.edge_since is not None
        assert _edges(compiled) == _edges(pure), i
    assert compiled.state_hash() == pure.state_hash()
    assert at_edge > 20 and stale_below > 100 and clear_stale > 100, (
        at_edge,
        stale_below,
        clear_stale,
    )


@pytest.mark.parametrize("edge", ["low", "high"])
@pytest.mark.parametrize("value", [2**63, 2**64 + 5, -(2**64)])
def test_check_edge_with_a_band_past_64_bits(edge: str, value: int) -> None:
    cmds, make = xstocks(1_000, 5)
    cmds = cmds[:300]  # regular hours (the close is at 40% of the flow)
    compiled, pure = make(), make()
    for c in cmds:
        assert compiled.process(c) == pure.process(c)
    checked = 0
    for a, b in zip(compiled.sessions.values(), pure.sessions.values(), strict=True):
        if a.book.window is None or compiled.risk is None or pure.risk is None:
            continue
        for engine in (compiled, pure):
            setattr(engine.risk.markets[a.book.symbol], edge, value)  # type: ignore[union-attr]
        Engine._check_edge(compiled, a, cmds[-1].ts)
        Phases._check_edge(pure, b, cmds[-1].ts)
        checked += 1
    assert checked > 10
    assert _edges(compiled) == _edges(pure)


def _entries(rng: random.Random, n: int) -> list[object]:
    """Expiry entries with many equal instants and equal pairs, now and then one
    past 64 bits or not a pair of ints (which heapq orders as well)."""
    out: list[object] = []
    for _ in range(n):
        ts = rng.choice((10**18, 10**18 + 1, 10**18 + 2, 2**62, 7, 2**61 + rng.randint(0, 3)))
        out.append((ts, rng.randint(1, 6)))
    if rng.random() < 0.2:
        out.append((rng.choice((2**63, 2**64, -(2**63) - 1)), 3))
    if rng.random() < 0.1:
        out.append((10**18, True))
    return out


@pytest.mark.skipif(not COMPILED, reason="engine/_core.pyx's heap pop (the compiled build's)")
def test_pop_expiry_leaves_the_heap_as_heapq_does() -> None:
    rng = random.Random(7)
    sizes = 0
    for _ in range(3_000):
        heap = _entries(rng, rng.randint(1, 70))
        heapq.heapify(heap)
        mine = list(heap)
        while heap:
            # The same objects in the same places (equal pairs are told apart).
            assert _core.pop_expiry(mine) is heapq.heappop(heap)
            assert len(mine) == len(heap)
            assert all(a is b for a, b in zip(mine, heap, strict=True))
            sizes += 1
    assert sizes > 50_000


@pytest.mark.skipif(not COMPILED, reason="engine/_core.pyx's heap push (the compiled build's)")
def test_push_expiry_leaves_the_heap_as_heapq_does() -> None:
    rng = random.Random(11)
    pushes = 0
    for _ in range(1_500):
        heap = _entries(rng, rng.randint(0, 40))
        heapq.heapify(heap)
        mine = list(heap)
        for entry in _entries(rng, rng.randint(1, 40)):
            heapq.heappush(heap, entry)
            _core.push_expiry(mine, entry)
            assert all(a is b for a, b in zip(mine, heap, strict=True))
            pushes += 1
        # and popped in the same order from there
        while heap:
            assert _core.pop_expiry(mine) is heapq.heappop(heap)
    assert pushes > 20_000


def test_next_due_reads_the_listed_sessions_as_the_pure_scan_does() -> None:
    # The compiled scan walks Phases._session_list (the sessions in listing
    # order, made with the dict); it must find what the pure scan finds in
    # the dict, at every instant, and fall back to the dict when the list is
    # not the dict's length.
    cmds, make = xstocks(3_000, 5)
    engine = make()
    assert engine._session_list == tuple(engine.sessions.values())
    instants = [c.ts for c in cmds[::50]] + [cmds[-1].ts + 10**15]
    for c in cmds:
        engine.process(c)
    due = [(ts, Phases._next_due(engine, ts)) for ts in instants]
    assert any(d is not None for _, d in due)
    for ts, want in due:
        assert engine._next_due(ts) == want, ts
    engine._session_list = ()
    for ts, want in due:
        assert engine._next_due(ts) == want, ts
