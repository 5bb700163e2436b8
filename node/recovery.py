"""Recovery: the newest valid snapshot plus the journal's tail rebuild the engine exactly.

:func:`recover` is what a restarting server runs; :func:`verify` is the
read-only report of ``tokex verify``. ``verify`` checks the whole journal,
``recover`` every segment from the one its snapshot ends in (see
:func:`node.journal.scan`): a torn last record is reported and, when
recovering, cut off; corruption anywhere else, a missing segment or a gap in
the sequence stops with a :class:`~node.journal.JournalError` naming the
file and offset, never skipped silently.

:func:`prune` deletes what later snapshots make unnecessary, keeping the two
newest snapshots and every segment the older of them does not cover, so a
damaged newest snapshot still leaves a way back.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.engine import Engine
from engine.events import Event
from model.commands import Command
from node.journal import JournalError, TornTail, cut_torn_tail, marks_path, scan
from node.store import SnapshotError, read_genesis, read_snapshot, snapshots

__all__ = ["Recovered", "prune", "recover", "verify"]

KEEP_SNAPSHOTS = 2


@dataclass
class Recovered:
    """An engine rebuilt from a data directory, and how."""

    engine: Engine
    snapshot: Path | None
    snapshot_seq: int
    replayed: int
    first_seq: int | None
    last_seq: int
    torn: TornTail | None
    skipped: list[str] = field(default_factory=list)
    """Snapshots that failed their checks, with the reason (older ones were tried)."""
    events: Counter[str] = field(default_factory=Counter)

    @property
    def next_seq(self) -> int:
        return self.last_seq + 1

    def report(self) -> str:
        """The human-readable summary ``tokex verify`` and ``tokex replay`` print."""
        lines = []
        if self.snapshot is None:
            lines.append("snapshot: none used (rebuilt from the genesis)")
        else:
            lines.append(f"snapshot: {self.snapshot} (seq {self.snapshot_seq})")
        lines += [f"snapshot skipped: {why}" for why in self.skipped]
        span = "none" if self.first_seq is None else f"seq {self.first_seq} to {self.last_seq}"
        lines.append(f"journal: {span}; {self.replayed:,} records replayed after the snapshot")
        if self.torn is None:
            lines.append("torn tail: none")
        else:
            t = self.torn
            lines.append(f"torn tail: {t.length} bytes at offset {t.offset} of {t.path}")
        lines.append(f"last seq: {self.last_seq}")
        lines.append(f"open orders: {len(self.engine.orders):,}")
        lines.append(f"trades: {self.engine.next_trade_id - 1:,}")
        lines.append(f"state hash: {self.engine.state_hash()}")
        return "\n".join(lines)


def _load(data: Path, at_most: int | None) -> tuple[Engine, Path | None, list[str]]:
    """The newest snapshot that loads, or the genesis' fresh engine; and what was skipped."""
    skipped: list[str] = []
    for seq, path in snapshots(data):
        if at_most is not None and seq > at_most:
            continue
        try:
            return read_snapshot(path), path, skipped
        except SnapshotError as e:
            skipped.append(str(e))
    return read_genesis(data).build(), None, skipped


def recover(
    data: Path,
    repair: bool = True,
    count_events: bool = False,
    *,
    check_all: bool = False,
    snapshot_at_most: int | None = None,
    on_replay: Callable[[Command, list[Event]], None] | None = None,
) -> Recovered:
    """Rebuild the engine of ``data``: newest valid snapshot, then the journal after it.

    With ``repair`` a torn tail is cut off the last segment (durably) so the
    journal can be appended to; without, nothing in ``data`` changes.
    For consumers of the event stream that keep their own durable state
    (the history store, settlement): ``snapshot_at_most`` uses no snapshot
    newer than that seq (the consumer holds everything up to it, and must
    hear the rest), and ``on_replay`` hears every replayed command with its
    events, in order. Raises JournalError or SnapshotError when ``data``
    cannot be recovered (also when the journal no longer reaches back to the
    snapshot ``snapshot_at_most`` leaves). Segments holding only records the
    snapshot covers are not read unless ``check_all`` (``tokex verify``), so
    a restart costs the snapshot plus the tail however long the journal kept
    behind it is.
    """
    engine, path, skipped = _load(data, snapshot_at_most)
    start = engine.last_seq
    found = scan(data / "journal", after=start, covered=check_all)
    last = start if found.last_seq is None else found.last_seq
    if found.last_seq is not None and found.last_seq < start:
        raise JournalError(
            f"{data / 'journal'}: ends at seq {found.last_seq}, before the snapshot's {start}"
        )
    if found.last_seq is None and start > 0:
        raise JournalError(f"{data / 'journal'}: empty, but the snapshot is at seq {start}")
    events: Counter[str] = Counter()
    process = engine.process
    for command in found.commands:
        out = process(command)
        if on_replay is not None:
            on_replay(command, out)
        if count_events:
            for e in out:
                events[type(e).__name__] += 1
    if repair and found.torn is not None:
        cut_torn_tail(found.torn)
    return Recovered(
        engine,
        path,
        start,
        len(found.commands),
        found.first_seq,
        last,
        found.torn,
        skipped,
        events,
    )


def verify(data: Path) -> Recovered:
    """Recover in memory only: the report of what recovery would find, nothing changed."""
    return recover(data, repair=False, count_events=True, check_all=True)


def prune(data: Path, floor: int | None = None) -> list[Path]:
    """Delete old snapshots and the segments they make unnecessary; return what went.

    Keeps the :data:`KEEP_SNAPSHOTS` newest snapshots, and every segment
    holding a record after the oldest kept one (the newest segment always).
    ``floor``: a consumer must be able to rebuild the state at that seq and
    replay on from it, so the newest snapshot at or before it is kept too
    (and, if there is none, every segment: the genesis is the way back).
    """
    removed: list[Path] = []
    found = snapshots(data)
    kept = found[:KEEP_SNAPSHOTS]
    anchor = None
    if floor is not None:
        anchor = next((s for s in found if s[0] <= floor), None)
        if anchor is not None and anchor not in kept:
            kept.append(anchor)
    for snapshot in found:
        if snapshot not in kept:
            snapshot[1].unlink()
            removed.append(snapshot[1])
    if len(kept) < KEEP_SNAPSHOTS or (floor is not None and anchor is None):
        return removed
    covered = kept[-1][0]
    segments = sorted((data / "journal").glob("*.seg"))
    for path, after in itertools.pairwise(segments):
        # A segment ends where the next begins; it is needed if it holds seq > covered.
        if int(after.name[: -len(".seg")]) - 1 <= covered:
            path.unlink()
            removed.append(path)
            marks = marks_path(path)
            if marks.exists():
                marks.unlink()
                removed.append(marks)
    return removed


def read_range(data: Path, after: int, through: int) -> tuple[Engine, list[Command]]:
    """The engine as it stood after record ``after``, and the commands after it up to
    ``through``, read from ``data`` without changing anything in it (a live node may be
    appending to its journal meanwhile: records past ``through`` are not read).

    For a FIX worker that makes the reports a dead one could not (tokex/worker.py).
    Raises JournalError or SnapshotError when the snapshots and the journal no
    longer reach back to ``after`` or do not reach ``through``.
    """
    engine, _, _ = _load(data, after)
    found = scan(data / "journal", after=engine.last_seq, covered=False)
    process = engine.process
    rest: list[Command] = []
    for command in found.commands:
        if command.seq <= after:
            process(command)
        elif command.seq <= through:
            rest.append(command)
        else:
            break
    if engine.last_seq != after or (rest[-1].seq if rest else after) != through:
        raise JournalError(
            f"{data / 'journal'}: records {after} to {through} are not all there"
            f" (read to {engine.last_seq} and {rest[-1].seq if rest else after})"
        )
    return engine, rest
