"""The write-ahead journal: every sequenced command, framed and checksummed, in segment files.

Layout of a data directory (see docs/JOURNAL.md)::

    genesis.tkx                          what the engine is built from (instruments, accounts...)
    journal/00000000000000000001.seg     segments, named by the first sequence number they hold
    journal/00000000000000000001.idx     marks: where every MARK_EVERY-th batch starts (a hint)
    snapshots/00000000000000250000.snap  engine snapshots, named by the last sequence they cover

A segment starts with a 16-byte header (magic ``TKXJ``, format version,
the sequence number of its first record). Each record is (little endian)::

    u32 payload length | u64 seq | u32 CRC-32 of the length, the seq and the payload | payload

and the payload is one :class:`~model.commands.Command` encoded with msgpack
(whose own ``seq`` is the header's). Sequence numbers run without gaps across
records and segments; the header carries the seq so a reader checks the
sequence without decoding what a snapshot already covers.

Writing: :class:`JournalWriter` appends a batch of records with one ``write``
and, under the ``always`` and ``batch`` policies, makes it durable with
``fsync`` before the batch's commands are acknowledged (``batch`` does so once
per batch, which the sequencer makes a group commit; ``always`` once per
record). Reading: :func:`scan` walks the segments and checks every record; a
partial or failing record at the very end of the last segment is a *torn
tail* (a crash during a write: none of it was acknowledged) and is reported
so recovery can cut it off, while a bad record anywhere else, a segment that
does not continue the sequence, or a missing segment is refused with
:class:`JournalError` naming the file, the offset and the problem.

Marks: beside each segment the writer appends, about every
:data:`MARK_EVERY` records, a 20-byte mark (``u64 seq | u64 offset | u32
CRC-32 of both``) saying where the record with that seq starts. They are
hints, written without fsync: a restart (:func:`scan` with ``covered=False``)
uses the newest mark at or before the record after its snapshot to start
reading there instead of at the segment's first record, but only after the
record at the mark's offset is found whole, with its checksum and that seq;
a mark that fails (torn, stale, damaged) is ignored and an older one, or the
segment's start, is used. So a restart costs the snapshot plus the tail
whatever the journal's length.
"""

from __future__ import annotations

import os
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec

from model import build
from model.commands import Command

__all__ = [
    "FSYNC_POLICIES",
    "FsyncPolicy",
    "JournalError",
    "JournalWriter",
    "Scan",
    "TornTail",
    "check_size",
    "decode_command",
    "encode_command",
    "frame",
    "fsync_dir",
    "marks_path",
    "payloads",
    "scan",
    "segment_name",
]

FsyncPolicy = Literal["always", "batch", "off"]
FSYNC_POLICIES: tuple[FsyncPolicy, ...] = ("always", "batch", "off")

MAGIC = b"TKXJ"
VERSION = 1
_SEGMENT_HEADER = struct.Struct("<4sHxxQ")  # magic, version, padding, first seq
_RECORD_HEADER = struct.Struct("<IQI")  # payload length, seq, CRC-32
_CRC_SPAN = struct.Struct("<IQ")  # the header fields the CRC covers, before the payload
_CRC = struct.Struct("<I")
HEADER_SIZE = _SEGMENT_HEADER.size
MAX_RECORD = 1 << 20  # a command is a few hundred bytes; more is a damaged length field
SEGMENT_BYTES = 64 << 20  # a new segment after this many bytes
MARK_EVERY = 4096
"""Records between two marks, at least (a mark is written at the start of a batch)."""
_MARK = struct.Struct("<QQI")  # seq, offset in the segment, CRC-32 of the two

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[Command] = msgspec.msgpack.Decoder(Command)

# The compiled build's loop over a run of good records (node/_journal.pyx;
# it reads the little-endian header in place); None in the pure build.
_take_records: Callable[..., tuple[int, int]] | None = None
if build.COMPILED and sys.byteorder == "little" and not TYPE_CHECKING:
    from node._journal import take_records as _take_records


class JournalError(Exception):
    """The journal cannot be read as a whole: corruption, a gap or a missing segment."""


def encode_command(command: Command) -> bytes:
    """The msgpack payload of one command."""
    return _encoder.encode(command)


def decode_command(payload: bytes) -> Command:
    """The command in a payload (msgspec.DecodeError / ValidationError if it is not one)."""
    return _decoder.decode(payload)


def frame(seq: int, payload: bytes) -> bytes:
    """One record: the header (length, seq, CRC-32) followed by ``payload``."""
    head = _CRC_SPAN.pack(len(payload), seq)
    return head + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head))) + payload


def check_size(payload: bytes) -> None:
    """Raise ValueError if ``payload`` is too large for one journal record."""
    if len(payload) > MAX_RECORD:
        raise ValueError(
            f"command of {len(payload)} bytes: a journal record holds at most {MAX_RECORD}"
        )


def payloads(records: list[bytes]) -> list[bytes]:
    """The encoded commands of a batch from :meth:`JournalWriter.take`, in order."""
    return records[1::2]


def _crc_ok(data: bytes, pos: int, size: int, crc: int) -> bool:
    span = _CRC_SPAN.size
    head_crc = zlib.crc32(data[pos : pos + span])
    body = data[pos + _RECORD_HEADER.size : pos + _RECORD_HEADER.size + size]
    return zlib.crc32(body, head_crc) == crc


def segment_name(first_seq: int) -> str:
    """A segment's file name: its first sequence number, zero-padded so names sort."""
    return f"{first_seq:020d}.seg"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (new, renamed or removed files) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JournalWriter:
    """Appends batches of commands to the newest segment of ``directory``.

    ``next_seq`` is the sequence number the next record must carry; a new
    journal starts at 1. The writer trusts that the directory was recovered
    (torn tail cut) before it was opened.
    """

    def __init__(
        self,
        directory: Path,
        next_seq: int,
        fsync: FsyncPolicy = "batch",
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync {fsync!r}: must be one of {', '.join(FSYNC_POLICIES)}")
        self.directory = directory
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.next_seq = next_seq
        directory.mkdir(parents=True, exist_ok=True)
        segments = sorted(directory.glob("*.seg"))
        self._fd = -1
        self._size = 0
        self._batch: list[bytes] = []
        self._marks = -1
        """The open segment's marks file (opened at the first mark)."""
        self._marked = next_seq
        """The seq of the last mark (or where this writer started): the next comes
        :data:`MARK_EVERY` records later."""
        self.last_flush = (0, 0, 0, 0)
        """The last :meth:`flush`: records, bytes, ns in ``write`` and ns in ``fsync`` (metrics)."""
        self._segment = directory / segment_name(next_seq)
        """The open segment."""
        if segments:
            last = self._segment = segments[-1]
            self._fd = os.open(last, os.O_WRONLY | os.O_APPEND)
            self._size = os.fstat(self._fd).st_size
        if self._fd < 0 or self._size >= segment_bytes:
            self._open_segment(next_seq)

    def _open_segment(self, first_seq: int) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._close_marks()
        self._marked = first_seq
        path = self._segment = self.directory / segment_name(first_seq)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        os.write(self._fd, _SEGMENT_HEADER.pack(MAGIC, VERSION, first_seq))
        if self.fsync != "off":
            os.fsync(self._fd)
            fsync_dir(self.directory)
        self._size = HEADER_SIZE

    def add(self, command: Command) -> None:
        """Frame ``command`` into the batch being gathered; :meth:`flush` writes it.

        Raises ValueError (nothing added) if its ``seq`` is not the next one.
        """
        if command.seq != self.next_seq:
            raise ValueError(f"seq {command.seq}: the journal expects {self.next_seq}")
        payload = encode_command(command)
        check_size(payload)
        self.add_encoded(command.seq, payload)

    def add_encoded(self, seq: int, payload: bytes) -> None:
        """:meth:`add` for a command already encoded (``payload``, its :func:`encode_command`).

        The caller (the sequencer) encoded the stamped command once and
        checked its size (:func:`check_size`); ``seq`` must be the next one.
        The batch keeps the record's header and payload as two items, so the
        payloads can be handed on (:meth:`take`) without encoding again.
        """
        if seq != self.next_seq:
            raise ValueError(f"seq {seq}: the journal expects {self.next_seq}")
        head = _CRC_SPAN.pack(len(payload), seq)
        crc = zlib.crc32(payload, zlib.crc32(head))
        self._batch += (head + _CRC.pack(crc), payload)
        self.next_seq += 1

    def flush(self) -> int:
        """Write the gathered batch and make it durable per the policy; return the bytes.

        ``batch``: one write and one fsync for the whole batch (group commit).
        ``always``: a write and an fsync per record. ``off``: one write, no fsync.
        """
        return self.write(self.take())

    def gathered(self) -> int:
        """How many records the batch being gathered holds (see :meth:`gathered_payloads`)."""
        return len(self._batch) // 2

    def gathered_payloads(self, start: int) -> list[bytes]:
        """The encoded commands added to the batch being gathered since it held ``start``
        records (:meth:`gathered`), in order, before it is taken."""
        return self._batch[2 * start + 1 :: 2]

    def take(self) -> tuple[int, list[bytes]]:
        """Hand over the gathered batch (its first seq and its records) for :meth:`write`.

        The records are a flat list: each record's header (length, seq, CRC)
        then its payload, so ``records[1::2]`` are the batch's encoded
        commands in order (:func:`payloads`) and ``b"".join(records)`` is the
        bytes on file. What is added from now on gathers into the next batch,
        so a batch can be written and synced in a worker thread while the next
        one is gathered (pipelined group commit). Batches must be written in
        the order they were taken.
        """
        records, self._batch = self._batch, []
        return self.next_seq - len(records) // 2, records

    def write(self, taken: tuple[int, list[bytes]]) -> int:
        """Write a batch from :meth:`take` and make it durable per the policy; return the bytes."""
        first_seq, records = taken
        if not records:
            self.last_flush = (0, 0, 0, 0)
            return 0
        if self._size >= self.segment_bytes:
            self._open_segment(first_seq)
        if first_seq - self._marked >= MARK_EVERY:
            self._mark(first_seq, self._size)
        clock = time.perf_counter_ns
        write_ns = fsync_ns = 0
        if self.fsync == "always":
            for n in range(0, len(records), 2):
                start = clock()
                _write_all(self._fd, records[n] + records[n + 1])
                synced = clock()
                os.fsync(self._fd)
                write_ns += synced - start
                fsync_ns += clock() - synced
            written = sum(len(r) for r in records)
        else:
            start = clock()
            data = b"".join(records)
            _write_all(self._fd, data)
            written = len(data)
            write_ns = clock() - start
            if self.fsync == "batch":
                synced = clock()
                os.fsync(self._fd)
                fsync_ns = clock() - synced
        self._size += written
        self.last_flush = (len(records) // 2, written, write_ns, fsync_ns)
        return written

    def _mark(self, seq: int, offset: int) -> None:
        """Note in the segment's marks file that record ``seq`` starts at ``offset`` (a hint)."""
        if self._marks < 0:
            path = marks_path(self._segment)
            self._marks = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        head = struct.pack("<QQ", seq, offset)
        os.write(self._marks, head + struct.pack("<I", zlib.crc32(head)))
        self._marked = seq

    def _close_marks(self) -> None:
        if self._marks >= 0:
            os.close(self._marks)
            self._marks = -1

    def append(self, commands: Iterable[Command]) -> int:
        """:meth:`add` each of ``commands``, then :meth:`flush`."""
        for command in commands:
            self.add(command)
        return self.flush()

    def close(self) -> None:
        """Flush what is gathered and close the open segment."""
        self.flush()
        if self._fd >= 0:
            if self.fsync != "off":
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
        self._close_marks()


@dataclass(frozen=True)
class TornTail:
    """The unfinished last record of the last segment: where it starts and how long it is."""

    path: Path
    offset: int
    length: int


@dataclass
class Scan:
    """What :func:`scan` found: the commands after ``after``, the segments, a torn tail."""

    commands: list[Command]
    segments: list[Path]
    first_seq: int | None
    last_seq: int | None
    torn: TornTail | None = None


def _records(
    path: Path, data: bytes, last: bool, start: int = HEADER_SIZE
) -> Iterator[tuple[int, int, bytes] | TornTail]:
    """Each record of one segment from offset ``start`` on as (offset, seq, payload); a
    TornTail at a torn end.

    Only the last segment may end torn; anywhere else a bad record raises.
    """
    pos = start
    end = len(data)
    head = _RECORD_HEADER.size
    span = _CRC_SPAN.size
    unpack = _RECORD_HEADER.unpack_from
    crc32 = zlib.crc32
    while pos < end:
        problem = None
        seq = 0
        if end - pos < head:
            problem = "a record header cut short"
        else:
            size, seq, crc = unpack(data, pos)
            if not 0 < size <= MAX_RECORD:
                problem = f"a record length of {size} bytes"
            elif pos + head + size > end:
                problem = "a record cut short"
            else:
                # The payload is cut once, for the checksum and for the caller.
                payload = data[pos + head : pos + head + size]
                if crc32(payload, crc32(data[pos : pos + span])) == crc:
                    yield pos, seq, payload
                    pos += head + size
                    continue
                problem = "a record whose checksum does not match"
        # A torn tail is the last thing in the file: nothing valid may follow.
        if last and not _valid_after(data, pos + 1):
            yield TornTail(path, pos, end - pos)
            return
        raise JournalError(f"{path}: offset {pos}: {problem}, with valid records after it")


def _valid_after(data: bytes, start: int) -> bool:
    """Whether a complete record with a matching checksum begins anywhere from ``start`` on."""
    end = len(data)
    head = _RECORD_HEADER.size
    for pos in range(start, end - head + 1):
        size, _, crc = _RECORD_HEADER.unpack_from(data, pos)
        if 0 < size <= MAX_RECORD and pos + head + size <= end and _crc_ok(data, pos, size, crc):
            return True
    return False


def marks_path(segment: Path) -> Path:
    """The marks file beside ``segment``."""
    return segment.with_suffix(".idx")


def _marks(segment: Path) -> list[tuple[int, int]]:
    """The whole marks of ``segment`` as (seq, offset), in the order written; none if absent.

    A mark whose checksum fails (a torn last one, damage) is left out.
    """
    try:
        raw = marks_path(segment).read_bytes()
    except OSError:
        return []
    found = []
    for pos in range(0, len(raw) - _MARK.size + 1, _MARK.size):
        seq, offset, crc = _MARK.unpack_from(raw, pos)
        if zlib.crc32(raw[pos : pos + 16]) == crc:
            found.append((seq, offset))
    return found


def _resume_at(segment: Path, data: bytes, wanted: int) -> tuple[int, int] | None:
    """Where to start reading ``segment`` to reach record ``wanted``: (offset, seq) of the
    newest mark at or before it whose record is really there, or None (read from the start).
    """
    head = _RECORD_HEADER.size
    for seq, offset in sorted(_marks(segment), reverse=True):
        if seq > wanted or offset < HEADER_SIZE or offset + head > len(data):
            continue
        size, found, crc = _RECORD_HEADER.unpack_from(data, offset)
        if (
            found == seq
            and 0 < size <= MAX_RECORD
            and offset + head + size <= len(data)
            and _crc_ok(data, offset, size, crc)
        ):
            return offset, seq
    return None


def _named_seq(path: Path) -> int | None:
    """The first seq a segment's file name gives (None for a name no segment has)."""
    stem = path.name[: -len(".seg")]
    if len(stem) != 20 or not stem.isdigit():
        return None
    return int(stem)


def _first_needed(segments: list[Path], after: int) -> int:
    """The index of the first segment that can hold a record with seq > ``after``.

    A segment ends where the next one begins, so every segment before the
    last one named at or below ``after + 1`` holds only records up to
    ``after``. A name that is not a segment's stops the search (that file
    is read, and its header check reports it).
    """
    start = 0
    for index, path in enumerate(segments):
        head = _named_seq(path)
        if head is None or head > after + 1:
            break
        start = index
    return start


def scan(directory: Path, after: int = 0, *, covered: bool = True) -> Scan:
    """Read and check the segments in ``directory``; decode the commands with seq > ``after``.

    With ``covered`` (the default) every segment is read and every record
    checked, also those up to ``after``. ``covered=False`` is a restart's
    read: the snapshot stands for the records up to ``after``, so whole
    segments holding only those are not read, and the segment holding
    ``after + 1`` is read from its newest valid mark at or before it (see
    the module docstring); ``tokex verify`` still reads everything.

    Raises :class:`JournalError` on a bad segment header, a bad record that is
    not the torn tail, a record that is not a command, a sequence gap (a
    segment missing, or one not continuing the last), or when the segments
    do not reach back to ``after + 1``.
    """
    segments = sorted(directory.glob("*.seg")) if directory.is_dir() else []
    commands: list[Command] = []
    first_seq: int | None = None
    expected: int | None = None
    torn: TornTail | None = None
    skip = 0 if covered else _first_needed(segments, after)
    decode = _decoder.decode
    if skip:
        first_seq = _named_seq(segments[0])
    for index, path in enumerate(segments):
        if index < skip:
            continue
        data = path.read_bytes()
        last = index == len(segments) - 1
        if len(data) < HEADER_SIZE:
            # A segment created by a crash before its header was written: torn, but
            # only where the journal really continues (else a segment is missing).
            continues = segment_name(after + 1 if expected is None else expected)
            if last and path.name == continues:
                torn = TornTail(path, 0, len(data))
                break
            if last:
                raise JournalError(
                    f"{path}: a segment cut short where {continues} should continue the"
                    " journal (a missing segment or a gap)"
                )
            raise JournalError(f"{path}: shorter than a segment header")
        magic, version, head_seq = _SEGMENT_HEADER.unpack_from(data, 0)
        if magic != MAGIC or version != VERSION:
            raise JournalError(f"{path}: not a tokex journal segment (magic {magic!r})")
        if path.name != segment_name(head_seq):
            raise JournalError(f"{path}: its header says it starts at seq {head_seq}")
        if expected is not None and head_seq != expected:
            raise JournalError(
                f"{path}: starts at seq {head_seq}, but the journal continues at {expected}"
                " (a missing segment or a gap)"
            )
        expected = head_seq
        if first_seq is None:
            first_seq = head_seq
        start = HEADER_SIZE
        if index == skip and not covered and after + 1 > head_seq:
            resume = _resume_at(path, data, after + 1)
            if resume is not None:
                start, expected = resume
        if _take_records is not None:
            # The good records in one compiled loop; the loop below takes over
            # at the first one that is not (and says what is wrong with it).
            start, expected = _take_records(
                data, start, expected, after, decode, commands, MAX_RECORD
            )
        for item in _records(path, data, last, start):
            if isinstance(item, TornTail):
                torn = item
                break
            offset, seq, payload = item
            if seq != expected:
                raise JournalError(
                    f"{path}: offset {offset}: seq {seq} where {expected} was expected"
                )
            expected += 1
            if seq <= after:
                continue  # covered by the snapshot: checked, not decoded
            try:
                command = decode(payload)
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                raise JournalError(f"{path}: offset {offset}: not a command ({e})") from None
            if command.seq != seq:
                raise JournalError(f"{path}: offset {offset}: the command says seq {command.seq}")
            commands.append(command)
    last_seq = None if expected is None or first_seq is None else expected - 1
    if last_seq is not None and last_seq < (first_seq or 1):
        last_seq = None
    if segments and first_seq is not None and first_seq > after + 1:
        raise JournalError(
            f"{directory}: the journal starts at seq {first_seq}; seq {after + 1} onwards"
            " is needed (segments were lost)"
        )
    return Scan(commands, segments, first_seq, last_seq, torn)


def cut_torn_tail(torn: TornTail) -> None:
    """Remove a torn tail from its segment (or the empty segment), durably."""
    if torn.offset == 0:
        torn.path.unlink()
        marks_path(torn.path).unlink(missing_ok=True)
    else:
        with open(torn.path, "r+b") as f:
            f.truncate(torn.offset)
            f.flush()
            os.fsync(f.fileno())
    fsync_dir(torn.path.parent)
