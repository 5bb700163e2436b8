"""Snapshots (engine/snapshot.py): an engine restored mid-flow goes on exactly as the original.

Three ways:

* the engine-against-reference state machine with one more rule, a
  snapshot: the engine is replaced by the one its snapshot decodes to, and
  every later command is still checked against the reference engine;
* long random flows touching every part of the state (schedules, halts and
  calls, batches cut by the snapshot, expiries, dead man's and kill switches,
  corporate actions pending: tests/property/snapshot_flow.py), snapshotted
  at random points: the restored engine's state hash equals the original's
  and every later command gives the same events;
* across builds: a snapshot written by the compiled build and read by the
  pure one, and the other way round, each in its own process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule

from engine import snapshot
from engine.engine import Engine
from model.build import PURE_ENV
from tests.property.snapshot_flow import flow, make_engine
from tests.property.test_engine_vs_reference import EngineVsReference

ROOT = Path(__file__).resolve().parents[2]
COUNT = 1_500


def restored(engine: Engine) -> Engine:
    """``engine`` through its snapshot bytes; the same state hash, invariants hold."""
    copy = snapshot.decode(snapshot.encode(engine))
    assert copy is not engine
    assert copy.state_hash() == engine.state_hash()
    copy.check_invariants()
    return copy


class SnapshotVsReference(EngineVsReference):
    """The reference state machine, with the engine swapped for its snapshot now and then."""

    @rule()
    def snapshot(self) -> None:
        self.h.engine = restored(self.h.engine)


TestSnapshotVsReference = SnapshotVsReference.TestCase
TestSnapshotVsReference.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(1, 10**6),
    cuts=st.lists(st.integers(1, COUNT - 1), min_size=1, max_size=4, unique=True),
)
def test_a_restored_engine_goes_on_as_the_original(seed: int, cuts: list[int]) -> None:
    commands = flow(seed, COUNT)
    original = make_engine()
    engine = make_engine()
    cut_at = set(cuts)
    for i, command in enumerate(commands):
        if i in cut_at:
            engine = restored(engine)
        want = original.process(command)
        got = engine.process(command)
        assert got == want, f"seed {seed}, cuts {sorted(cuts)}: command {i + 1} {command!r}"
    assert engine.state_hash() == original.state_hash()
    engine.check_invariants()


def test_the_flow_reaches_every_part_of_the_state() -> None:
    """The flows above snapshot the state the schema is for, not an empty engine."""
    seen: set[str] = set()
    engine = make_engine()
    for command in flow(1, 3_000):
        engine.process(command)
        checks = {
            "batch": bool(engine.batch),
            "actions": bool(engine.actions),
            "armed": bool(engine.armed),
            "calls": bool(engine.calls),
            "halted": any(x.phase == "halted" for x in engine.sessions.values()),
            "window": any(b.window for b in engine.books.values()),
            "stops": any(o.stop for o in engine.orders.values()),
            "expiries": bool(engine.expiries),
            "stale": any(b.bids.stale or b.asks.stale for b in engine.books.values()),
            "iceberg": any(o.hidden for o in engine.orders.values()),
        }
        seen |= {name for name, on in checks.items() if on}
    assert seen == {
        "batch",
        "actions",
        "armed",
        "calls",
        "halted",
        "window",
        "stops",
        "expiries",
        "stale",
        "iceberg",
    }


def _run(mode: str, seed: int, cut: int, path: Path, pure: bool) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop(PURE_ENV, None)
    if pure:
        env[PURE_ENV] = "1"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.property.snapshot_flow",
            mode,
            str(seed),
            str(COUNT),
            str(cut),
            str(path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert doc["build"] == ("pure" if pure else "compiled"), (
        "the compiled core is not built: make install needs a C compiler and Python's headers"
    )
    return doc


@pytest.mark.parametrize(
    ("seed", "cut", "writer_pure"),
    [(1, 700, False), (2, 1_100, True), (3, 333, False), (4, 900, True)],
)
def test_a_snapshot_loads_in_the_other_build(
    tmp_path: Path, seed: int, cut: int, writer_pure: bool
) -> None:
    path = tmp_path / "engine.snap"
    written = _run("write", seed, cut, path, pure=writer_pure)
    read = _run("read", seed, cut, path, pure=not writer_pure)
    assert read["at_cut"] == written["at_cut"]
    if read["events"] != written["events"]:
        at = next(
            i
            for i, (a, b) in enumerate(zip(read["events"], written["events"], strict=True))
            if a != b
        )
        pytest.fail(f"seed {seed}: events differ first at command {cut + at + 1}")
    assert read["state_hash"] == written["state_hash"]
