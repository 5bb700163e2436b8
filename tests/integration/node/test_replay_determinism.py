"""Determinism, proved on real files: the journal replays to the live run's events and state.

A live run sequences a flow through the journal (real segment files, a
snapshot taken part-way), recording every event the engine emitted. Then:
replaying the whole journal from the genesis, twice, and replaying the tail
after the snapshot, each give exactly the live run's events (for the
commands they cover) and its state hash.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from engine.events import Event
from model.commands import Command
from node.demo import demo_flow, demo_genesis
from node.journal import JournalWriter, scan
from node.recovery import recover
from node.sequencer import Sequencer
from node.store import read_genesis, read_snapshot, write_genesis, write_snapshot


def _live_run(data: Path, flow: list[Command], snapshot_at: int) -> list[tuple[int, list[Event]]]:
    write_genesis(data, demo_genesis())
    engine = read_genesis(data).build()
    writer = JournalWriter(data / "journal", 1, "batch", segment_bytes=20_000)
    clock = itertools.count(1_763_650_800_000_000_000, 1_000_000)
    sequencer = Sequencer(engine, writer, lambda: next(clock))
    live: list[tuple[int, list[Event]]] = []
    for i in range(0, len(flow), 50):
        for command, events in sequencer.commit(flow[i : i + 50]):
            live.append((command.seq, events))
        if i == snapshot_at:
            write_snapshot(data, engine)
    writer.close()
    return live


def test_replays_give_the_live_events_and_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    flow = demo_flow(3_000, seed=11)
    live = _live_run(data, flow, snapshot_at=1_500)
    live_engine_hash = recover(data).engine.state_hash()
    assert len(list((data / "journal").glob("*.seg"))) > 3  # several segments were read

    def replay(after: int = 0) -> tuple[list[tuple[int, list[Event]]], str]:
        engine = read_genesis(data).build()
        events = []
        for command in scan(data / "journal").commands:
            out = engine.process(command)
            if command.seq > after:
                events.append((command.seq, out))
        return events, engine.state_hash()

    first, first_hash = replay()
    second, second_hash = replay()
    assert first == live and second == live
    assert first_hash == second_hash == live_engine_hash
    # From the snapshot plus the tail: the tail's events are the live ones.
    recovered = recover(data, repair=False)
    assert recovered.snapshot is not None and 0 < recovered.snapshot_seq < len(live)
    tail_engine = recovered.engine
    assert tail_engine.state_hash() == live_engine_hash
    # The snapshot's engine, replaying the tail itself, emits the live tail's events.
    engine = read_snapshot(recovered.snapshot)
    tail = [
        (c.seq, engine.process(c)) for c in scan(data / "journal", after=engine.last_seq).commands
    ]
    assert tail == [item for item in live if item[0] > recovered.snapshot_seq]
