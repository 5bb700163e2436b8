"""Snapshots and recovery on real files: snapshot plus tail, damaged snapshots, pruning, prefixes.

The journal's own format and corruption cases are in test_journal.py.
"""

from __future__ import annotations

import itertools
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import node.journal
from engine.engine import Engine
from model.commands import (
    Command,
    Deposit,
    NewOrder,
    RunTimers,
)
from node.demo import DEMO_ACCOUNTS, DEMO_ASSETS, demo_flow, demo_genesis
from node.journal import (
    FsyncPolicy,
    JournalError,
    JournalWriter,
    TornTail,
    marks_path,
    scan,
    segment_name,
)
from node.recovery import prune, recover, verify
from node.sequencer import Sequencer
from node.store import (
    SnapshotError,
    read_genesis,
    read_snapshot,
    snapshots,
    write_genesis,
    write_snapshot,
)
from tests.journal_files import (
    HEAD,
    deposits,
    flip_bit,
    header_seq,
    records,
    segment_files,
    truncate,
    write_journal,
)

# ------------------------------------------------- 4. snapshots and recovery

T0 = 1_763_650_800_000_000_000
STEP = 1_000


def fake_clock() -> Callable[[], int]:
    """Increasing nanosecond times: T0, T0 + STEP, ..."""
    return partial(next, itertools.count(T0, STEP))


def demo_commands() -> list[Command]:
    """Deposits for every trader and asset, the seeded demo flow, and a few GTD orders."""
    funding: list[Command] = [
        Deposit(0, 0, account, asset.id, 10**12)
        for account in DEMO_ACCOUNTS
        for asset in DEMO_ASSETS
    ]
    flow = demo_flow(200, seed=11)
    for at, account in ((30, "trader3"), (90, "trader5"), (150, "trader7")):
        # The sequencer stamps the i-th command at T0 + i * STEP: these expire ~25 later.
        expire = T0 + (len(funding) + at + 25) * STEP
        gtd = NewOrder(0, 0, account, "AAPLx/USD", "buy", 100, 22_950, tif="gtd", expire_ts=expire)
        flow.insert(at, gtd)
    return funding + flow


@dataclass
class Built:
    data: Path
    engine: Engine
    commands: list[Command]  # as journaled (stamped, timers included)
    snapshots: list[tuple[int, Path, str]]  # seq, file, state hash then; oldest first

    @property
    def journal(self) -> Path:
        return self.data / "journal"


def build(
    data: Path,
    snapshot_at: Sequence[int] = (),
    segment_bytes: int = 4096,
    batch: int = 7,
    fsync: FsyncPolicy = "off",
) -> Built:
    """A data directory: the demo genesis, the demo commands through a Sequencer, snapshots
    after the first batch reaching each of ``snapshot_at``."""
    write_genesis(data, demo_genesis())
    engine = read_genesis(data).build()
    writer = JournalWriter(data / "journal", 1, fsync=fsync, segment_bytes=segment_bytes)
    sequencer = Sequencer(engine, writer, fake_clock())
    todo = demo_commands()
    thresholds = sorted(snapshot_at)
    journaled: list[Command] = []
    taken: list[tuple[int, Path, str]] = []
    for i in range(0, len(todo), batch):
        journaled += [command for command, _ in sequencer.commit(todo[i : i + batch])]
        if thresholds and engine.last_seq >= thresholds[0]:
            while thresholds and engine.last_seq >= thresholds[0]:
                thresholds.pop(0)
            taken.append((engine.last_seq, write_snapshot(data, engine), engine.state_hash()))
    writer.close()
    assert not thresholds
    return Built(data, engine, journaled, taken)


def hash_after(commands: Sequence[Command], k: int) -> str:
    """The state hash of a fresh genesis engine fed the first ``k`` commands."""
    engine = demo_genesis().build()
    for command in commands[:k]:
        engine.process(command)
    return engine.state_hash()


def files_of(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_the_demo_journal_holds_what_the_engine_applied(tmp_path: Path) -> None:
    built = build(tmp_path)
    assert read_genesis(tmp_path) == demo_genesis()
    found = scan(built.journal)
    assert found.commands == built.commands
    assert [c.seq for c in found.commands] == list(range(1, len(built.commands) + 1))
    timers = sum(type(c) is RunTimers for c in built.commands)
    assert timers >= 1  # the GTD orders expired through journaled RunTimers
    assert len(built.commands) == len(demo_commands()) + timers
    assert [c.ts for c in built.commands] == sorted(c.ts for c in built.commands)
    assert len(found.segments) >= 5
    assert hash_after(found.commands, len(found.commands)) == built.engine.state_hash()
    built.engine.check_invariants()


def test_sequencer_refuses_a_journal_that_does_not_match_the_engine(tmp_path: Path) -> None:
    write_journal(tmp_path, deposits(1, 3))
    engine = demo_genesis().build()
    with pytest.raises(ValueError, match="not recovered"):
        Sequencer(engine, JournalWriter(tmp_path, 4, fsync="off"), fake_clock())


def test_recover_from_snapshot_and_tail_equals_full_replay(tmp_path: Path) -> None:
    built = build(tmp_path, snapshot_at=(90, 180, 260))
    n = len(built.commands)
    full = hash_after(built.commands, n)
    assert full == built.engine.state_hash()
    for seq, path, state in built.snapshots:
        snap = read_snapshot(path)
        assert snap.last_seq == seq
        assert snap.state_hash() == state == hash_after(built.commands, seq)
    assert [(s, p) for s, p, _ in reversed(built.snapshots)] == snapshots(tmp_path)
    newest_seq, newest, _ = built.snapshots[-1]
    rec = recover(tmp_path)
    assert rec.engine.state_hash() == full
    assert (rec.snapshot, rec.snapshot_seq, rec.replayed) == (newest, newest_seq, n - newest_seq)
    assert (rec.first_seq, rec.last_seq, rec.next_seq) == (1, n, n + 1)
    assert (rec.torn, rec.skipped) == (None, [])
    rec.engine.check_invariants()


def test_a_restart_reads_only_the_segments_after_its_snapshot(tmp_path: Path) -> None:
    """Segments the snapshot covers are not read at a restart; ``verify`` still checks them."""
    built = build(tmp_path, snapshot_at=(200,), segment_bytes=2048)
    newest_seq = built.snapshots[-1][0]
    files = segment_files(built.journal)
    heads = [header_seq(path) for path in files]
    covered = [path for path, nxt in zip(files, heads[1:], strict=False) if nxt - 1 <= newest_seq]
    assert len(covered) >= 2  # the flow spans several segments before the snapshot
    _flip_payload(covered[0])  # damage only a record the snapshot stands for
    rec = recover(tmp_path, repair=False)
    assert rec.engine.state_hash() == built.engine.state_hash()
    assert (rec.first_seq, rec.last_seq) == (1, len(built.commands))
    with pytest.raises(JournalError, match=covered[0].name):
        verify(tmp_path)
    # Removing the covered segments changes nothing a restart needs.
    for path in covered:
        path.unlink()
    again = recover(tmp_path, repair=False)
    assert again.engine.state_hash() == built.engine.state_hash()
    assert again.first_seq == header_seq(files[len(covered)])
    # The segment holding the snapshot's next record is read and checked.
    needed = files[len(covered)]
    _flip_payload(needed)
    with pytest.raises(JournalError, match=needed.name):
        recover(tmp_path, repair=False)


def test_a_pickled_snapshot_of_an_older_tokex_is_refused_and_recovery_falls_back(
    tmp_path: Path,
) -> None:
    """Snapshots were pickles (header version 1): never unpickled now, named, skipped."""
    built = build(tmp_path, snapshot_at=(90, 180))
    n = len(built.commands)
    (s1, p1, _), (_, p2, _) = built.snapshots
    seq = int(p2.name[: -len(".snap")])
    payload = b"\x80\x05K\x07."  # a pickle (of the int 7), as version 1 held
    header = struct.pack("<4sHxxQQI", b"TKXS", 1, seq, len(payload), zlib.crc32(payload))
    p2.write_bytes(header + payload)
    with pytest.raises(SnapshotError, match="pickled snapshot written by an older tokex"):
        read_snapshot(p2)
    rec = recover(tmp_path)
    assert rec.engine.state_hash() == built.engine.state_hash()
    assert (rec.snapshot, rec.snapshot_seq, rec.replayed) == (p1, s1, n - s1)
    assert rec.skipped[0].startswith(f"{p2}: a pickled snapshot")


def test_recover_without_snapshots_replays_from_the_genesis(tmp_path: Path) -> None:
    built = build(tmp_path)
    rec = recover(tmp_path)
    n = len(built.commands)
    assert (rec.snapshot, rec.snapshot_seq, rec.replayed, rec.last_seq) == (None, 0, n, n)
    assert rec.engine.state_hash() == built.engine.state_hash()


def test_recover_of_a_fresh_data_directory(tmp_path: Path) -> None:
    write_genesis(tmp_path, demo_genesis())
    rec = recover(tmp_path)
    assert (rec.snapshot, rec.last_seq, rec.replayed, rec.first_seq) == (None, 0, 0, None)
    assert rec.engine.state_hash() == demo_genesis().build().state_hash()
    with pytest.raises(FileExistsError):
        write_genesis(tmp_path, demo_genesis())


def _flip_payload(path: Path) -> None:
    flip_bit(path, path.stat().st_size - 5, 2)


def _truncate_header(path: Path) -> None:
    truncate(path, 10)


def _truncate_half(path: Path) -> None:
    truncate(path, path.stat().st_size // 2)


def _magic(path: Path) -> None:
    path.write_bytes(b"TKXG" + path.read_bytes()[4:])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _not_an_engine(path: Path) -> None:
    """A file with every check right but a payload that is not an engine snapshot."""
    seq = int(path.name[: -len(".snap")])
    payload = b"\x07"  # MessagePack of the int 7
    header = struct.pack("<4sHxxQQI", b"TKXS", 2, seq, len(payload), zlib.crc32(payload))
    path.write_bytes(header + payload)


DAMAGE: list[Callable[[Path], None]] = [
    _flip_payload,
    _truncate_header,
    _truncate_half,
    _magic,
    _empty,
    _not_an_engine,
]


@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__.strip("_") for d in DAMAGE])
def test_a_damaged_newest_snapshot_is_skipped(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    built = build(tmp_path, snapshot_at=(90, 180, 260))
    n = len(built.commands)
    full = built.engine.state_hash()
    (s1, p1, _), (s2, p2, _), (s3, p3, _) = built.snapshots
    damage(p3)
    with pytest.raises(SnapshotError) as info:
        read_snapshot(p3)
    assert str(info.value).startswith(str(p3))
    rec = recover(tmp_path)
    assert rec.engine.state_hash() == full
    assert (rec.snapshot, rec.snapshot_seq, rec.replayed, rec.last_seq) == (p2, s2, n - s2, n)
    assert rec.skipped == [str(info.value)]
    # Every snapshot damaged: back to the genesis, each one named, newest first.
    damage(p2)
    damage(p1)
    rec = recover(tmp_path)
    assert rec.engine.state_hash() == full
    assert (rec.snapshot, rec.snapshot_seq, rec.replayed) == (None, 0, n)
    assert len(rec.skipped) == 3
    for why, path in zip(rec.skipped, (p3, p2, p1), strict=True):
        assert why.startswith(f"{path}: ")
    assert s1 < s2 < s3


def test_a_damaged_genesis_is_refused(tmp_path: Path) -> None:
    build(tmp_path)
    flip_bit(tmp_path / "genesis.tkx", 40, 0)
    with pytest.raises(SnapshotError, match="checksum"):
        recover(tmp_path)
    (tmp_path / "genesis.tkx").unlink()
    with pytest.raises(SnapshotError, match="missing"):
        read_genesis(tmp_path)


def _tear_last_record(built: Built) -> tuple[Path, int, int]:
    """Cut the last segment inside its last record; return (segment, offset, new size)."""
    path = segment_files(built.journal)[-1]
    last = records(path)[-1]
    size = last.offset + 7
    truncate(path, size)
    return path, last.offset, size


def _tear_new_segment(built: Built) -> tuple[Path, int, int]:
    """A next segment whose header was being written; return (segment, 0, its size)."""
    path = built.journal / segment_name(len(built.commands) + 1)
    path.write_bytes(b"TKXJ\x01\x00")
    return path, 0, 6


TEARS = [_tear_last_record, _tear_new_segment]


@pytest.mark.parametrize("tear", TEARS, ids=["record", "header"])
def test_verify_changes_no_file(
    tmp_path: Path, tear: Callable[[Built], tuple[Path, int, int]]
) -> None:
    built = build(tmp_path, snapshot_at=(150, 250))
    path, offset, size = tear(built)
    lost = 1 if offset else 0
    n = len(built.commands) - lost
    old = 1_000_000_000_000_000_000
    for p in tmp_path.rglob("*"):
        os.utime(p, ns=(old, old))
    before = files_of(tmp_path)
    rec = verify(tmp_path)
    assert files_of(tmp_path) == before
    assert all(mtime == old for _, mtime in before.values())
    assert rec.torn == TornTail(path, offset, size - offset)
    assert rec.last_seq == n
    assert rec.engine.state_hash() == hash_after(built.commands, n)
    assert rec.events["OrderAccepted"] > 0
    assert f"torn tail: {size - offset} bytes at offset {offset} of {path}" in rec.report()
    # recover without repair is the same read-only pass
    rec = recover(tmp_path, repair=False)
    assert files_of(tmp_path) == before
    assert rec.torn == TornTail(path, offset, size - offset)


@pytest.mark.parametrize("tear", TEARS, ids=["record", "header"])
def test_recover_repairs_a_torn_tail_and_the_journal_goes_on(
    tmp_path: Path, tear: Callable[[Built], tuple[Path, int, int]]
) -> None:
    built = build(tmp_path, snapshot_at=(150, 250))
    path, offset, size = tear(built)
    n = len(built.commands) - (1 if offset else 0)
    rec = recover(tmp_path)
    assert rec.torn == TornTail(path, offset, size - offset)
    assert rec.last_seq == n
    assert rec.engine.state_hash() == hash_after(built.commands, n)
    if offset:
        assert path.stat().st_size == offset
    else:
        assert not path.exists()
    assert scan(built.journal).torn is None
    # The recovered engine carries on where the journal ends.
    writer = JournalWriter(built.journal, rec.next_seq, fsync="off", segment_bytes=4096)
    sequencer = Sequencer(rec.engine, writer, partial(next, itertools.count(T0 + 10**9, STEP)))
    sequencer.commit(demo_flow(40, seed=5))
    writer.close()
    again = recover(tmp_path)
    assert (again.torn, again.last_seq) == (None, sequencer.engine.last_seq)
    assert again.engine.state_hash() == sequencer.engine.state_hash()
    assert again.engine.state_hash() == hash_after(scan(built.journal).commands, again.last_seq)


def test_prune_keeps_two_snapshots_and_the_segments_the_older_needs(tmp_path: Path) -> None:
    built = build(tmp_path, snapshot_at=(70, 150, 230, 290), segment_bytes=2048)
    n = len(built.commands)
    full = built.engine.state_hash()
    paths = segment_files(built.journal)
    starts = [header_seq(p) for p in paths]
    ends = [s - 1 for s in starts[1:]] + [n]
    (_, p1, _), (_, p2, _), (s3, p3, _), (s4, p4, _) = built.snapshots
    covered = [p for p, end in zip(paths, ends, strict=True) if end <= s3]
    kept = [p for p in paths if p not in covered]
    # The test means something: some segments go, and a kept one begins at or before s3.
    assert covered
    assert header_seq(kept[0]) <= s3 + 1 <= ends[paths.index(kept[0])]
    removed = prune(tmp_path)
    assert sorted(removed) == sorted([p1, p2, *covered])
    assert snapshots(tmp_path) == [(s4, p4), (s3, p3)]
    assert segment_files(built.journal) == kept
    assert prune(tmp_path) == []
    rec = recover(tmp_path)
    assert (rec.snapshot, rec.engine.state_hash(), rec.last_seq) == (p4, full, n)
    assert rec.first_seq == header_seq(kept[0])
    # The newest damaged: the older kept one and the kept segments still recover.
    _flip_payload(p4)
    rec = recover(tmp_path)
    assert (rec.snapshot, rec.engine.state_hash(), rec.last_seq) == (p3, full, n)
    # Both damaged: the genesis would need the pruned segments.
    _flip_payload(p3)
    with pytest.raises(JournalError, match="segments were lost"):
        recover(tmp_path)


def test_prune_takes_a_segments_marks_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node.journal, "MARK_EVERY", 8)
    built = build(tmp_path, snapshot_at=(70, 150, 230, 290), segment_bytes=2048)
    # A mark lands at the start of a batch, so small segments get one only
    # when a batch begins inside them: some do, some do not.
    marked = {p for p in segment_files(built.journal) if marks_path(p).exists()}
    assert marked
    removed = prune(tmp_path)
    gone = [p for p in removed if p.suffix == ".seg"]
    assert gone and any(p in marked for p in gone)
    assert sorted(p for p in removed if p.suffix == ".idx") == sorted(
        marks_path(p) for p in gone if p in marked
    )
    # no marks file is left without its segment
    assert sorted(built.journal.glob("*.idx")) == sorted(
        marks_path(p) for p in segment_files(built.journal) if p in marked
    )
    rec = recover(tmp_path)
    assert (rec.engine.state_hash(), rec.last_seq) == (
        built.engine.state_hash(),
        len(built.commands),
    )


@pytest.mark.parametrize("count", [0, 1])
def test_prune_with_fewer_than_two_snapshots_keeps_every_segment(
    tmp_path: Path, count: int
) -> None:
    built = build(tmp_path, snapshot_at=(200,)[:count], segment_bytes=2048)
    before = segment_files(built.journal)
    assert prune(tmp_path) == []
    assert segment_files(built.journal) == before
    assert len(snapshots(tmp_path)) == count


def test_prune_with_two_snapshots_deletes_only_covered_segments(tmp_path: Path) -> None:
    built = build(tmp_path, snapshot_at=(150, 250), segment_bytes=2048)
    (s1, _, _), _ = built.snapshots
    paths = segment_files(built.journal)
    starts = [header_seq(p) for p in paths]
    removed = prune(tmp_path)
    assert removed == [p for p, nxt in zip(paths, starts[1:], strict=False) if nxt - 1 <= s1]
    assert removed
    assert len(snapshots(tmp_path)) == 2
    remaining = segment_files(built.journal)
    assert header_seq(remaining[0]) <= s1 + 1
    assert recover(tmp_path).engine.state_hash() == built.engine.state_hash()


def _funding(count: int) -> list[Command]:
    return [Deposit(0, 0, DEMO_ACCOUNTS[i % 20], "USD", 1_000 + i) for i in range(count)]


@pytest.mark.parametrize(
    ("at", "gone", "left"),
    [
        # the older kept snapshot (5) is the last seq of a segment: 4-5 goes, 6 stays
        pytest.param((3, 5, 9), (1, 4), (6, 7, 10), id="at-a-segment-end"),
        # the older kept snapshot (2) is inside segment 1-3: nothing goes
        pytest.param((2, 8), (), (1, 4, 6, 7, 10), id="inside-the-first"),
        # the older kept snapshot (8) is inside segment 7-9: 7 stays
        pytest.param((1, 6, 8, 9), (1, 4, 6), (7, 10), id="inside-a-later"),
        # the older kept snapshot (9) is the last seq before the newest segment
        pytest.param((9, 10), (1, 4, 6, 7), (10,), id="all-but-the-last"),
    ],
)
def test_prune_at_exact_segment_edges(
    tmp_path: Path, at: tuple[int, ...], gone: tuple[int, ...], left: tuple[int, ...]
) -> None:
    """Hand-laid segments, one per commit: 1-3, 4-5, 6, 7-9, 10; snapshots at ``at``."""
    write_genesis(tmp_path, demo_genesis())
    engine = read_genesis(tmp_path).build()
    journal = tmp_path / "journal"
    writer = JournalWriter(journal, 1, fsync="off", segment_bytes=HEAD + 1)
    sequencer = Sequencer(engine, writer, fake_clock())
    for size in (3, 2, 1, 3, 1):
        sequencer.commit(_funding(size))
    writer.close()
    assert [p.name for p in segment_files(journal)] == [segment_name(s) for s in (1, 4, 6, 7, 10)]
    commands = scan(journal).commands
    paths: dict[int, Path] = {}
    for seq in at:
        replay = demo_genesis().build()
        for command in commands[:seq]:
            replay.process(command)
        paths[seq] = write_snapshot(tmp_path, replay)
    *older, second, newest = sorted(at)
    removed = prune(tmp_path)
    expected = [paths[s] for s in older] + [journal / segment_name(s) for s in gone]
    assert sorted(removed) == sorted(expected)
    assert [p.name for p in segment_files(journal)] == [segment_name(s) for s in left]
    assert snapshots(tmp_path) == [(newest, paths[newest]), (second, paths[second])]
    full = engine.state_hash()
    rec = recover(tmp_path)
    assert (rec.snapshot, rec.last_seq, rec.engine.state_hash()) == (paths[newest], 10, full)
    _flip_payload(paths[newest])
    rec = recover(tmp_path)
    assert (rec.snapshot, rec.last_seq, rec.engine.state_hash()) == (paths[second], 10, full)


def test_a_journal_that_ends_before_the_snapshot_is_refused(tmp_path: Path) -> None:
    built = build(tmp_path, snapshot_at=(280,))
    ((seq, _, _),) = built.snapshots
    everything = [r for path in segment_files(built.journal) for r in records(path)]

    def end_journal_at(last: int) -> None:
        """Lose every record after ``last`` (and the segments that held only those)."""
        done: set[Path] = set()
        for rec in everything[last:]:
            if rec.path in done or not rec.path.exists():
                continue
            done.add(rec.path)
            if rec.offset == HEAD and rec.seq != 1:
                rec.path.unlink()
            else:
                truncate(rec.path, rec.offset)
        found = scan(built.journal)
        assert (found.last_seq, found.torn) == (last, None)

    end_journal_at(seq)  # the journal ends at the snapshot: nothing to replay
    rec = recover(tmp_path)
    assert (rec.last_seq, rec.replayed, rec.snapshot_seq) == (seq, 0, seq)
    assert rec.engine.state_hash() == hash_after(built.commands, seq)
    end_journal_at(seq - 1)  # now a record the snapshot covers is gone too
    with pytest.raises(JournalError, match=f"ends at seq {seq - 1}, before the snapshot's {seq}"):
        recover(tmp_path)
    for path in segment_files(built.journal):
        path.unlink()
    with pytest.raises(JournalError, match=f"empty, but the snapshot is at seq {seq}"):
        recover(tmp_path)


# ------------------------------------- 5. any prefix recovers to that prefix


@dataclass(frozen=True)
class Base:
    data: Path
    commands: list[Command]
    hashes: list[str]  # hashes[k]: the state after the first k commands
    names: list[str]  # the segment files, in order
    sizes: list[int]
    starts: list[int]  # each segment's offset in the concatenated journal
    ends: list[list[int]]  # each segment's record ends, within the segment

    @property
    def total(self) -> int:
        return self.starts[-1] + self.sizes[-1]


PREFIX_SEGMENT_BYTES = 4096


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    data = tmp_path_factory.mktemp("prefix") / "data"
    built = build(data, segment_bytes=PREFIX_SEGMENT_BYTES, batch=5)
    engine = demo_genesis().build()
    hashes = [engine.state_hash()]
    for command in built.commands:
        engine.process(command)
        hashes.append(engine.state_hash())
    assert hashes[-1] == built.engine.state_hash()
    paths = segment_files(built.journal)
    assert len(paths) >= 8
    sizes = [p.stat().st_size for p in paths]
    starts = list(itertools.accumulate([0, *sizes[:-1]]))
    ends = [[r.end for r in records(p)] for p in paths]
    assert sum(map(len, ends)) == len(built.commands)
    return Base(data, built.commands, hashes, [p.name for p in paths], sizes, starts, ends)


def check_prefix(base: Base, cut: int, work: Path) -> None:
    """Cut the concatenated journal at byte ``cut``; recover; check; write on; check."""
    data = work / "data"
    shutil.copytree(base.data, data)
    journal = data / "journal"
    torn: TornTail | None = None
    k = 0
    for i, name in enumerate(base.names):
        start, size = base.starts[i], base.sizes[i]
        path = journal / name
        if cut >= start + size:
            k += len(base.ends[i])
            continue
        if cut < start:
            path.unlink()
            continue
        keep = cut - start
        truncate(path, keep)
        whole = [end for end in base.ends[i] if end <= keep]
        k += len(whole)
        if keep < HEAD:
            torn = TornTail(path, 0, keep)
        elif keep not in (HEAD, *whole):
            offset = max([HEAD, *whole])
            torn = TornTail(path, offset, keep - offset)
    rec = recover(data)
    assert rec.torn == torn
    assert (rec.last_seq, rec.replayed, rec.snapshot) == (k, k, None)
    assert rec.engine.state_hash() == base.hashes[k]
    assert scan(journal).torn is None
    if torn is not None and torn.offset == 0:
        assert not torn.path.exists()
    if k == len(base.commands):
        return
    writer = JournalWriter(journal, k + 1, fsync="off", segment_bytes=PREFIX_SEGMENT_BYTES)
    writer.append(base.commands[k : k + 1])
    writer.close()
    again = recover(data)
    assert (again.torn, again.last_seq) == (None, k + 1)
    assert again.engine.state_hash() == base.hashes[k + 1]


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_any_prefix_recovers_to_the_state_after_its_complete_records(
    base: Base, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, base.total), label="cut")
    with tempfile.TemporaryDirectory() as work:
        check_prefix(base, cut, Path(work))


def test_prefixes_cut_at_segment_and_record_edges(base: Base, tmp_path: Path) -> None:
    cuts: set[int] = {0, base.total}
    for start, ends in zip(base.starts, base.ends, strict=True):
        cuts.update(start + d for d in (0, 1, HEAD - 1, HEAD, HEAD + 1))
        first, last = ends[0], ends[-1]
        cuts.update(start + e for e in (first - 1, first, first + 1, last - 1))
    for n, cut in enumerate(sorted(c for c in cuts if 0 <= c <= base.total)):
        check_prefix(base, cut, tmp_path / str(n))


@pytest.mark.parametrize(
    ("floor", "snaps_left", "left"),
    [
        # no floor: the two newest snapshots and what the older needs
        pytest.param(None, (9, 5), (6, 7, 10), id="none"),
        # a consumer at seq 4 needs the snapshot at 3 and the segments after it
        pytest.param(4, (9, 5, 3), (4, 6, 7, 10), id="between"),
        # at or past the newest: nothing more is kept than without a floor
        pytest.param(9, (9, 5), (6, 7, 10), id="newest"),
        # before every snapshot: the genesis is the way back, every segment stays
        pytest.param(2, (9, 5), (1, 4, 6, 7, 10), id="before-all"),
    ],
)
def test_prune_keeps_the_journal_replayable_from_a_floor(
    tmp_path: Path, floor: int | None, snaps_left: tuple[int, ...], left: tuple[int, ...]
) -> None:
    """Segments 1-3, 4-5, 6, 7-9, 10; snapshots at 3, 5 and 9."""
    write_genesis(tmp_path, demo_genesis())
    engine = read_genesis(tmp_path).build()
    journal = tmp_path / "journal"
    writer = JournalWriter(journal, 1, fsync="off", segment_bytes=HEAD + 1)
    sequencer = Sequencer(engine, writer, fake_clock())
    for size in (3, 2, 1, 3, 1):
        sequencer.commit(_funding(size))
    writer.close()
    commands = scan(journal).commands
    for seq in (3, 5, 9):
        replay = demo_genesis().build()
        for command in commands[:seq]:
            replay.process(command)
        write_snapshot(tmp_path, replay)
    prune(tmp_path, floor)
    assert [s for s, _ in snapshots(tmp_path)] == list(snaps_left)
    assert [p.name for p in segment_files(journal)] == [segment_name(s) for s in left]
    assert recover(tmp_path).engine.state_hash() == engine.state_hash()
