"""Re-deriving the queue from the journal: what a crash kept from reaching the queue.

The queue is fed by the node's listener after each batch is durable, so a
crash can leave the journal ahead of the queue (by the batches in flight,
or by everything since the queue's backend went away). On start the node
asks the queue for its highest seq ``q`` and, if the journal goes further,
rebuilds the engine as it was at ``q`` (the newest snapshot at or before
``q``, else the genesis) and replays the journal after it through that
engine, taking the messages of every command after ``q``: the engine is
deterministic, so these are exactly the messages the listener would have
made. The node keeps such a snapshot and the segments after it (a retention
floor on pruning, see :meth:`node.exchange.Exchange.add_retention`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from engine.engine import Engine
from engine.events import Event
from model.commands import Command
from node.journal import JournalError, scan
from node.store import SnapshotError, read_genesis, read_snapshot, snapshots
from settlement.extract import Extractor
from settlement.records import Message

__all__ = ["BackfillError", "Replay", "rederive", "replay"]


class BackfillError(Exception):
    """The journal cannot give back the state at the seq asked for."""


Replay = Iterator[tuple[Command, list[Event]]]


def _start(data: Path, seq: int) -> Engine:
    for found, path in snapshots(data):
        if found > seq:
            continue
        try:
            return read_snapshot(path)
        except SnapshotError:
            continue
    try:
        return read_genesis(data).build()
    except SnapshotError as e:
        raise BackfillError(str(e)) from None


def replay(data: Path, seq: int) -> tuple[Engine, Replay]:
    """An engine of ``data`` at or before ``seq``, and the journal applied to it from there.

    The engine comes from the newest snapshot that loads at or before ``seq``
    (else the genesis); the iterator applies each journaled command after it
    in turn and yields it with its events (the engine then holds the state
    right after that command). Raises BackfillError if the segments needed
    were pruned or the journal cannot be read.
    """
    engine = _start(data, seq)
    start = engine.last_seq
    try:
        found = scan(data / "journal", after=start)
    except JournalError as e:
        raise BackfillError(f"{data}: {e}") from None
    if found.first_seq is not None and found.first_seq > start + 1:
        raise BackfillError(
            f"{data / 'journal'}: starts at seq {found.first_seq}, the replay needs {start + 1}"
            " (older segments were pruned)"
        )

    def run() -> Replay:
        process = engine.process
        for command in found.commands:
            yield command, process(command)

    return engine, run()


def rederive(data: Path, after: int, upto: int, extractor: Extractor) -> list[Message]:
    """The messages of every command in (``after``, ``upto``], chained on from ``after``.

    Each message's checks are the engine's balances right after its own
    command. Raises BackfillError if the journal cannot be replayed from a
    point at or before ``after``.
    """
    engine, applied = replay(data, after)
    risk = engine.risk
    assert risk is not None

    def balance_of(account: str, asset: str) -> int:
        assert risk is not None
        return risk.accounts[account].balance[asset]

    out: list[Message] = []
    prev = after
    now = time.time_ns()
    extract = extractor.batch
    for command, events in applied:
        if command.seq <= after:
            continue
        made = extract([(command, events)], prev, balance_of, now)
        if made:
            out += made
            prev = made[-1].seq
        if command.seq >= upto:
            break
    if engine.last_seq < upto:
        raise BackfillError(f"{data / 'journal'}: ends at seq {engine.last_seq}, not {upto}")
    return out
