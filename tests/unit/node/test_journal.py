"""The write-ahead journal on real files: framing, the writer, and every kind of damage.

Covers node.journal; snapshots and recovery are in test_recovery.py.

The segment and record layout is parsed here independently of the module
(documented in gateway/journal.py): a 16-byte segment header ``<4sHxxQ``
(magic, version, first seq) and records ``<IQI`` (payload length, seq,
CRC-32 of length + seq + payload) followed by the payload.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import get_args

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import node.journal
from model.commands import (
    CancelAll,
    Command,
    Deposit,
)
from node.journal import (
    FSYNC_POLICIES,
    FsyncPolicy,
    JournalError,
    JournalWriter,
    TornTail,
    cut_torn_tail,
    decode_command,
    encode_command,
    frame,
    scan,
    segment_name,
)
from tests.journal_files import (
    BIG,
    HEAD,
    REC,
    REC_HEADER,
    SEG_HEADER,
    Rec,
    any_command,
    deposits,
    flip_bit,
    header_seq,
    one_of_each,
    records,
    segment_files,
    truncate,
    write_journal,
)

# ------------------------------------------------------------ 1. framing


def test_one_of_each_covers_every_command_type() -> None:
    assert {type(c) for c in one_of_each()} == set(get_args(Command))


@settings(max_examples=300, deadline=None)
@given(any_command)
def test_encode_decode_and_frame_round_trip(command: Command) -> None:
    payload = encode_command(command)
    back = decode_command(payload)
    assert type(back) is type(command)
    assert back == command
    record = frame(command.seq, payload)
    length, seq, crc = REC_HEADER.unpack_from(record, 0)
    assert (length, seq) == (len(payload), command.seq)
    assert record[REC:] == payload
    assert len(record) == REC + len(payload)
    # The CRC covers the length, the seq and the payload, in that order.
    assert crc == zlib.crc32(record[:12] + payload)


def test_crc_depends_on_length_seq_and_payload() -> None:
    payload = encode_command(Deposit(5, 1, "a", "USD", 1))
    crc = REC_HEADER.unpack_from(frame(5, payload), 0)[2]
    assert crc != zlib.crc32(payload)  # not the payload alone
    assert crc != REC_HEADER.unpack_from(frame(6, payload), 0)[2]  # the seq is in it
    longer = REC_HEADER.unpack_from(frame(5, payload + b"\x00"), 0)[2]
    assert crc != longer


@settings(max_examples=60, deadline=None)
@given(
    st.lists(any_command, min_size=1, max_size=40),
    st.integers(1, 7),
    st.sampled_from([HEAD + 1, 200, 1_000, BIG]),
)
def test_append_then_scan_gives_the_same_commands(
    drawn: list[Command], batch: int, segment_bytes: int
) -> None:
    commands = [msgspec.structs.replace(c, seq=i) for i, c in enumerate(drawn, 1)]
    with tempfile.TemporaryDirectory() as tmp:
        journal = Path(tmp) / "journal"
        write_journal(journal, commands, segment_bytes, batch)
        found = scan(journal)
        assert found.commands == commands
        assert (found.first_seq, found.last_seq, found.torn) == (1, len(commands), None)
        assert found.segments == segment_files(journal)
        seqs = [r.seq for path in found.segments for r in records(path)]
        assert seqs == list(range(1, len(commands) + 1))


def test_every_command_type_through_the_journal(tmp_path: Path) -> None:
    commands = one_of_each()
    write_journal(tmp_path, commands, batch=4)
    found = scan(tmp_path)
    assert found.commands == commands
    assert [type(c) for c in found.commands] == [type(c) for c in commands]


# --------------------------------------------------------------- 2. writer


def test_flush_writes_exactly_the_framed_records(tmp_path: Path) -> None:
    commands = deposits(1, 5)
    writer = JournalWriter(tmp_path, 1, fsync="off")
    for c in commands:
        writer.add(c)
    path = tmp_path / segment_name(1)
    # Gathered, not written: at most the segment header is in the file yet.
    assert not path.exists() or path.read_bytes() == SEG_HEADER.pack(b"TKXJ", 1, 1)
    expected = b"".join(frame(c.seq, encode_command(c)) for c in commands)
    assert writer.flush() == len(expected)
    assert writer.flush() == 0
    writer.close()
    assert path.read_bytes() == SEG_HEADER.pack(b"TKXJ", 1, 1) + expected


@pytest.mark.parametrize("policy", FSYNC_POLICIES)
def test_fsync_policies_write_the_same_bytes(tmp_path: Path, policy: FsyncPolicy) -> None:
    commands = deposits(1, 9)
    writer = JournalWriter(tmp_path, 1, fsync=policy, segment_bytes=200)
    written = writer.append(commands[:4]) + writer.append(commands[4:])
    writer.close()
    frames = [frame(c.seq, encode_command(c)) for c in commands]
    assert SEG_HEADER.size + sum(map(len, frames[:4])) >= 200  # the second batch rotates
    got = {p.name: p.read_bytes() for p in segment_files(tmp_path)}
    assert got == {
        segment_name(1): SEG_HEADER.pack(b"TKXJ", 1, 1) + b"".join(frames[:4]),
        segment_name(5): SEG_HEADER.pack(b"TKXJ", 1, 5) + b"".join(frames[4:]),
    }
    assert written == sum(map(len, frames))


def test_unknown_fsync_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fsync"):
        JournalWriter(tmp_path, 1, fsync="sometimes")  # type: ignore[arg-type]


def test_add_with_the_wrong_seq_raises_and_writes_nothing(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path, 1, fsync="off")
    writer.append(deposits(1, 3))
    path = tmp_path / segment_name(1)
    before = path.read_bytes()
    for wrong in (5, 3, 1, 0):
        with pytest.raises(ValueError, match=f"seq {wrong}"):
            writer.add(deposits(wrong, 1)[0])
    assert writer.next_seq == 4
    assert writer.flush() == 0
    assert path.read_bytes() == before
    # A wrong seq inside a batch: what was added before it stays, nothing after.
    writer.add(deposits(4, 1)[0])
    with pytest.raises(ValueError):
        writer.add(deposits(6, 1)[0])
    writer.add(deposits(5, 1)[0])
    writer.close()
    assert scan(tmp_path).commands == deposits(1, 5)


def test_rotation_names_segments_by_first_seq_and_scan_reads_across(tmp_path: Path) -> None:
    limit = 250
    commands = deposits(1, 40)
    write_journal(tmp_path, commands, segment_bytes=limit)
    paths = segment_files(tmp_path)
    assert len(paths) >= 5
    for path in paths:
        recs = records(path)
        assert recs, f"{path.name} holds no record"
        assert path.name == segment_name(recs[0].seq) == segment_name(header_seq(path))
    for path in paths[:-1]:
        # One record per flush: a segment rotates at the first flush that finds it full.
        size = path.stat().st_size
        last = records(path)[-1]
        assert size >= limit > last.offset
    found = scan(tmp_path)
    assert found.commands == commands
    assert found.segments == paths
    assert (found.first_seq, found.last_seq) == (1, 40)


def test_a_batch_is_never_split_across_segments(tmp_path: Path) -> None:
    commands = deposits(1, 30)
    write_journal(tmp_path, commands, segment_bytes=100, batch=10)
    paths = segment_files(tmp_path)
    assert [p.name for p in paths] == [segment_name(s) for s in (1, 11, 21)]
    assert [[r.seq for r in records(p)] for p in paths] == [
        list(range(1, 11)),
        list(range(11, 21)),
        list(range(21, 31)),
    ]
    assert scan(tmp_path).commands == commands


def test_reopening_continues_the_last_segment(tmp_path: Path) -> None:
    commands = deposits(1, 12)
    write_journal(tmp_path, commands[:5])
    writer = JournalWriter(tmp_path, 6, fsync="off")
    writer.append(commands[5:9])
    writer.close()
    writer = JournalWriter(tmp_path, 10, fsync="batch")
    writer.append(commands[9:])
    writer.close()
    assert segment_files(tmp_path) == [tmp_path / segment_name(1)]
    assert [r.seq for r in records(tmp_path / segment_name(1))] == list(range(1, 13))
    assert scan(tmp_path).commands == commands


def test_reopening_a_full_last_segment_starts_the_next(tmp_path: Path) -> None:
    commands = deposits(1, 8)
    write_journal(tmp_path, commands[:3], segment_bytes=HEAD + 1)  # 1 | 2 | 3
    writer = JournalWriter(tmp_path, 4, fsync="off", segment_bytes=HEAD + 1)
    writer.append(commands[3:])  # the segment of 3 is full: one new segment for the batch
    writer.close()
    assert [p.name for p in segment_files(tmp_path)] == [segment_name(s) for s in (1, 2, 3, 4)]
    assert scan(tmp_path).commands == commands


# ----------------------------------------------------------- 3. corruption


def test_torn_tail_at_every_byte_of_the_last_record(tmp_path: Path) -> None:
    commands = deposits(1, 6)
    base = tmp_path / "base"
    write_journal(base, commands, batch=3)
    last = records(base / segment_name(1))[-1]
    assert last.seq == 6
    for cut in range(last.offset, last.end + 1):
        journal = tmp_path / f"cut{cut}"
        shutil.copytree(base, journal)
        path = journal / segment_name(1)
        truncate(path, cut)
        found = scan(journal)
        if cut in (last.offset, last.end):  # a record boundary: nothing torn
            n = 5 if cut == last.offset else 6
            assert (found.torn, found.commands, found.last_seq) == (None, commands[:n], n)
            continue
        assert found.torn == TornTail(path, last.offset, cut - last.offset)
        assert found.commands == commands[:5]
        assert (found.first_seq, found.last_seq) == (1, 5)
        cut_torn_tail(found.torn)
        assert path.stat().st_size == last.offset
        again = scan(journal)
        assert (again.torn, again.commands) == (None, commands[:5])
        writer = JournalWriter(journal, 6, fsync="off")
        writer.append(deposits(6, 2))
        writer.close()
        after = scan(journal)
        assert (after.torn, after.commands) == (None, commands[:5] + deposits(6, 2))


def test_torn_tail_of_the_only_record_of_the_last_segment(tmp_path: Path) -> None:
    commands = deposits(1, 3)
    base = tmp_path / "base"
    write_journal(base, commands, segment_bytes=HEAD + 1)  # one record per segment
    assert [p.name for p in segment_files(base)] == [segment_name(s) for s in (1, 2, 3)]
    (only,) = records(base / segment_name(3))
    for cut in range(only.offset + 1, only.end):
        journal = tmp_path / f"cut{cut}"
        shutil.copytree(base, journal)
        path = journal / segment_name(3)
        truncate(path, cut)
        found = scan(journal)
        assert found.torn == TornTail(path, HEAD, cut - HEAD)
        assert (found.commands, found.last_seq) == (commands[:2], 2)
        cut_torn_tail(found.torn)
        assert path.read_bytes() == SEG_HEADER.pack(b"TKXJ", 1, 3)
        writer = JournalWriter(journal, 3, fsync="off", segment_bytes=HEAD + 1)
        writer.append(commands[2:])
        writer.close()
        assert [p.name for p in segment_files(journal)] == [segment_name(s) for s in (1, 2, 3)]
        assert scan(journal).commands == commands


@pytest.mark.parametrize("size", [0, 1, 8, HEAD - 1])
def test_a_partial_segment_header_at_the_end_is_torn(tmp_path: Path, size: int) -> None:
    commands = deposits(1, 4)
    write_journal(tmp_path, commands)
    partial = tmp_path / segment_name(5)
    partial.write_bytes(SEG_HEADER.pack(b"TKXJ", 1, 5)[:size])
    found = scan(tmp_path)
    assert found.torn == TornTail(partial, 0, size)
    assert (found.commands, found.first_seq, found.last_seq) == (commands, 1, 4)
    cut_torn_tail(found.torn)
    assert not partial.exists()
    assert segment_files(tmp_path) == [tmp_path / segment_name(1)]
    writer = JournalWriter(tmp_path, 5, fsync="off")
    writer.append(deposits(5, 2))
    writer.close()
    assert scan(tmp_path).commands == deposits(1, 6)


def test_a_partial_header_as_the_only_segment_is_torn(tmp_path: Path) -> None:
    partial = tmp_path / segment_name(1)
    partial.write_bytes(b"TKXJ\x01")
    found = scan(tmp_path)
    assert found.torn == TornTail(partial, 0, 5)
    assert (found.commands, found.first_seq, found.last_seq) == ([], None, None)


def test_a_partial_header_in_an_earlier_segment_is_refused(tmp_path: Path) -> None:
    write_journal(tmp_path, deposits(1, 6), segment_bytes=100)
    first = tmp_path / segment_name(1)
    truncate(first, 10)
    with pytest.raises(JournalError, match="shorter than a segment header") as info:
        scan(tmp_path)
    assert str(first) in str(info.value)


# Bit flips in each region of a record: (region start in the record, bit, what scan says
# when the record is followed by valid ones).
FLIPS = [
    pytest.param(0, 0, "checksum", id="length-lsb"),
    pytest.param(3, 7, "record length", id="length-msb"),
    pytest.param(4, 0, "checksum", id="seq-lsb"),
    pytest.param(11, 6, "checksum", id="seq-high"),
    pytest.param(12, 0, "checksum", id="crc-low"),
    pytest.param(15, 7, "checksum", id="crc-high"),
    pytest.param(REC, 3, "checksum", id="payload-first"),
    pytest.param(-1, 1, "checksum", id="payload-last"),
]


def _flip_in(rec: Rec, at: int, bit: int) -> None:
    flip_bit(rec.path, rec.end - 1 if at < 0 else rec.offset + at, bit)


@pytest.mark.parametrize(("at", "bit", "problem"), FLIPS)
def test_a_bad_record_in_the_middle_is_refused_with_file_and_offset(
    tmp_path: Path, at: int, bit: int, problem: str
) -> None:
    write_journal(tmp_path, deposits(1, 6))
    path = tmp_path / segment_name(1)
    bad = records(path)[2]
    _flip_in(bad, at, bit)
    with pytest.raises(JournalError) as info:
        scan(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path}: offset {bad.offset}: ")
    assert problem in message


@pytest.mark.parametrize(("at", "bit", "problem"), FLIPS)
def test_a_bad_last_record_is_a_torn_tail(tmp_path: Path, at: int, bit: int, problem: str) -> None:
    commands = deposits(1, 6)
    write_journal(tmp_path, commands)
    path = tmp_path / segment_name(1)
    bad = records(path)[-1]
    _flip_in(bad, at, bit)
    found = scan(tmp_path)
    assert found.torn == TornTail(path, bad.offset, bad.end - bad.offset)
    assert (found.commands, found.last_seq) == (commands[:5], 5)


@pytest.mark.parametrize(("at", "bit", "problem"), FLIPS)
def test_a_bad_record_in_an_earlier_segment_is_refused(
    tmp_path: Path, at: int, bit: int, problem: str
) -> None:
    write_journal(tmp_path, deposits(1, 9), segment_bytes=200)
    paths = segment_files(tmp_path)
    assert len(paths) >= 3
    bad = records(paths[0])[-1]  # the LAST record of a segment that is not the last
    _flip_in(bad, at, bit)
    with pytest.raises(JournalError) as info:
        scan(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{paths[0]}: offset {bad.offset}: ")
    if at >= 4:  # a changed length may also read as a record cut short here
        assert problem in message


def test_an_earlier_segment_cut_short_is_refused(tmp_path: Path) -> None:
    write_journal(tmp_path, deposits(1, 9), segment_bytes=200)
    paths = segment_files(tmp_path)
    last = records(paths[1])[-1]
    truncate(paths[1], last.end - 3)
    with pytest.raises(JournalError, match=f"offset {last.offset}: a record cut short"):
        scan(tmp_path)
    truncate(paths[1], last.offset)  # a whole record missing: the next segment leaves a gap
    with pytest.raises(JournalError, match="gap"):
        scan(tmp_path)


def test_a_valid_record_with_the_wrong_seq_is_refused(tmp_path: Path) -> None:
    commands = deposits(1, 4)
    write_journal(tmp_path, commands)
    path = tmp_path / segment_name(1)
    first = records(path)[0]
    data = path.read_bytes()
    path.write_bytes(data + data[first.offset : first.end])  # record 1 again, at the end
    with pytest.raises(JournalError, match=f"offset {len(data)}: seq 1 where 5 was expected"):
        scan(tmp_path)


def test_a_record_that_is_not_a_command_is_refused(tmp_path: Path) -> None:
    write_journal(tmp_path, deposits(1, 2))
    path = tmp_path / segment_name(1)
    end = path.stat().st_size
    with open(path, "ab") as f:
        f.write(frame(3, b"\x93\x01\x02\x03"))  # a msgpack array, not a command
    with pytest.raises(JournalError, match=f"offset {end}: not a command"):
        scan(tmp_path)
    # A record covered by the snapshot is checked, not decoded.
    found = scan(tmp_path, after=3)
    assert (found.commands, found.last_seq, found.torn) == ([], 3, None)


def test_a_command_whose_seq_differs_from_its_record_is_refused(tmp_path: Path) -> None:
    write_journal(tmp_path, deposits(1, 2))
    path = tmp_path / segment_name(1)
    end = path.stat().st_size
    with open(path, "ab") as f:
        f.write(frame(3, encode_command(deposits(7, 1)[0])))
    with pytest.raises(JournalError, match=f"offset {end}: the command says seq 7"):
        scan(tmp_path)


def test_a_missing_middle_segment_is_a_gap(tmp_path: Path) -> None:
    write_journal(tmp_path, deposits(1, 12), segment_bytes=200)
    paths = segment_files(tmp_path)
    assert len(paths) >= 4
    gone = paths[2]
    gone_seq = header_seq(gone)
    gone.unlink()
    with pytest.raises(JournalError, match="gap") as info:
        scan(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{paths[3]}: starts at seq {header_seq(paths[3])}")
    assert f"continues at {gone_seq}" in message


@pytest.mark.parametrize("lost", ["middle", "first"])
def test_a_partial_header_segment_after_a_missing_segment_is_a_gap(
    tmp_path: Path, lost: str
) -> None:
    write_journal(tmp_path, deposits(1, 12), segment_bytes=200)
    paths = segment_files(tmp_path)
    if lost == "first":
        for path in paths[:-1]:
            path.unlink()
    else:
        paths[-2].unlink()
    truncate(paths[-1], 8)  # a crash while writing the next segment's header
    with pytest.raises(JournalError):
        scan(tmp_path)


def test_a_header_seq_that_disagrees_with_the_name_is_refused(tmp_path: Path) -> None:
    write_journal(tmp_path, deposits(1, 9), segment_bytes=200)
    paths = segment_files(tmp_path)
    seq = header_seq(paths[1])
    renamed = tmp_path / segment_name(seq + 1)
    data = bytearray(paths[1].read_bytes())
    paths[1].rename(renamed)
    with pytest.raises(JournalError, match=f"its header says it starts at seq {seq}") as info:
        scan(tmp_path)
    assert str(info.value).startswith(str(renamed))
    # The same with the name right and the header wrong.
    renamed.rename(paths[1])
    struct.pack_into("<Q", data, 8, seq + 1)
    paths[1].write_bytes(bytes(data))
    with pytest.raises(JournalError, match=f"starts at seq {seq + 1}"):
        scan(tmp_path)


@pytest.mark.parametrize("which", [0, -1])
@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"TKXK", id="magic"),
        pytest.param(b"\x00\x00\x00\x00", id="zeros"),
    ],
)
def test_wrong_magic_is_refused(tmp_path: Path, which: int, header: bytes) -> None:
    write_journal(tmp_path, deposits(1, 9), segment_bytes=200)
    path = segment_files(tmp_path)[which]
    data = path.read_bytes()
    path.write_bytes(header + data[4:])
    with pytest.raises(JournalError, match="not a tokex journal segment") as info:
        scan(tmp_path)
    assert str(info.value).startswith(str(path))


def test_wrong_version_is_refused(tmp_path: Path) -> None:
    write_journal(tmp_path, deposits(1, 3))
    path = tmp_path / segment_name(1)
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, 4, 2)
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="not a tokex journal segment"):
        scan(tmp_path)


def test_segments_must_reach_back_to_the_snapshot(tmp_path: Path) -> None:
    commands = deposits(1, 12)
    write_journal(tmp_path, commands, segment_bytes=200)
    paths = segment_files(tmp_path)
    first_kept = header_seq(paths[2])
    for path in paths[:2]:
        path.unlink()
    for after in (0, 1, first_kept - 2):
        with pytest.raises(JournalError, match=f"starts at seq {first_kept}; seq {after + 1}"):
            scan(tmp_path, after=after)
    for after in (first_kept - 1, first_kept, 12):
        found = scan(tmp_path, after=after)
        assert found.commands == commands[after:]
        assert (found.first_seq, found.last_seq) == (first_kept, 12)


def test_scan_after_decodes_only_later_commands(tmp_path: Path) -> None:
    commands = deposits(1, 10)
    write_journal(tmp_path, commands, segment_bytes=200)
    for after in range(11):
        found = scan(tmp_path, after=after)
        assert found.commands == commands[after:]
        assert (found.first_seq, found.last_seq) == (1, 10)


def test_scan_of_an_empty_or_missing_directory(tmp_path: Path) -> None:
    for directory in (tmp_path / "missing", tmp_path):
        found = scan(directory)
        assert (found.commands, found.segments, found.first_seq, found.last_seq) == (
            [],
            [],
            None,
            None,
        )
        assert found.torn is None


def test_a_command_the_writer_accepts_can_be_read_back(tmp_path: Path) -> None:
    huge = CancelAll(2, 2, "trader1", None, "x" * (1 << 20))
    writer = JournalWriter(tmp_path, 1, fsync="off")
    writer.append(deposits(1, 1))
    try:
        writer.add(huge)
    except ValueError:
        writer.close()  # refused: then nothing of it may be in the journal
        assert scan(tmp_path).commands == deposits(1, 1)
        return
    writer.append([*deposits(3, 1)])
    writer.close()
    assert scan(tmp_path).commands == [*deposits(1, 1), huge, *deposits(3, 1)]


# ------------------------------------------------------------------ marks


def _marked_journal(directory: Path, monkeypatch: pytest.MonkeyPatch) -> list[Command]:
    """60 deposits in batches of 5, a mark about every 8 records, in one segment."""
    monkeypatch.setattr(node.journal, "MARK_EVERY", 8)
    commands = deposits(1, 60)
    write_journal(directory, commands, batch=5)
    return commands


def _mark_entries(directory: Path) -> list[tuple[int, int]]:
    raw = (directory / (segment_name(1)[: -len(".seg")] + ".idx")).read_bytes()
    out = []
    for pos in range(0, len(raw), 20):
        seq, offset, crc = struct.unpack_from("<QQI", raw, pos)
        assert zlib.crc32(raw[pos : pos + 16]) == crc
        out.append((seq, offset))
    return out


def test_the_writer_marks_where_batches_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _marked_journal(tmp_path, monkeypatch)
    marks = _mark_entries(tmp_path)
    starts = {r.seq: r.offset for r in records(tmp_path / segment_name(1))}
    assert [seq for seq, _ in marks] == [11, 21, 31, 41, 51]  # batch starts, >= 8 apart
    assert all(starts[seq] == offset for seq, offset in marks)


def test_a_restart_read_starts_at_a_mark_and_finds_the_same_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _marked_journal(tmp_path, monkeypatch)
    for after in (0, 9, 10, 11, 33, 59, 60):
        quick = scan(tmp_path, after=after, covered=False)
        assert quick.commands == commands[after:]
        assert (quick.first_seq, quick.last_seq, quick.torn) == (1, 60, None)


def test_damage_before_the_mark_is_not_read_at_a_restart_but_verify_finds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _marked_journal(tmp_path, monkeypatch)
    segment = tmp_path / segment_name(1)
    damaged = records(segment)[3]  # seq 4, before the mark at 31
    flip_bit(segment, damaged.end - 1, 0)
    assert scan(tmp_path, after=35, covered=False).commands == commands[35:]
    with pytest.raises(JournalError, match=f"offset {damaged.offset}"):
        scan(tmp_path, after=35)
    # After the mark, damage is found either way.
    later = records(segment)[40]
    flip_bit(segment, later.end - 1, 0)
    with pytest.raises(JournalError, match=f"offset {later.offset}"):
        scan(tmp_path, after=35, covered=False)


@pytest.mark.parametrize(
    "spoil",
    ["wrong offset", "past the end", "torn mark", "bad checksum", "wrong seq"],
)
def test_a_mark_that_does_not_hold_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spoil: str
) -> None:
    commands = _marked_journal(tmp_path, monkeypatch)
    marks = tmp_path / (segment_name(1)[: -len(".seg")] + ".idx")
    starts = {r.seq: r.offset for r in records(tmp_path / segment_name(1))}
    mark = {
        "wrong offset": (55, starts[55] + 3),
        "past the end": (55, 10**9),
        "wrong seq": (55, starts[54]),
    }.get(spoil, (55, starts[55]))
    head = struct.pack("<QQ", *mark)
    entry = head + struct.pack("<I", zlib.crc32(head))
    if spoil == "torn mark":
        entry = entry[:11]
    elif spoil == "bad checksum":
        entry = entry[:-1] + bytes([entry[-1] ^ 1])
    with open(marks, "ab") as f:
        f.write(entry)
    found = scan(tmp_path, after=57, covered=False)
    assert found.commands == commands[57:]  # from the mark at 51, the last that holds
    assert found.last_seq == 60


def test_a_restart_without_marks_reads_the_segment_from_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _marked_journal(tmp_path, monkeypatch)
    (tmp_path / (segment_name(1)[: -len(".seg")] + ".idx")).unlink()
    assert scan(tmp_path, after=40, covered=False).commands == commands[40:]


def test_a_writer_reopened_on_a_segment_goes_on_marking_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _marked_journal(tmp_path, monkeypatch)
    more = deposits(61, 20)
    writer = JournalWriter(tmp_path, 61, fsync="off", segment_bytes=BIG)
    for i in range(0, 20, 5):
        writer.append(more[i : i + 5])
    writer.close()
    assert [seq for seq, _ in _mark_entries(tmp_path)] == [11, 21, 31, 41, 51, 71]
    assert scan(tmp_path, after=75, covered=False).commands == (commands + more)[75:]
