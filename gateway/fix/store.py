"""The FIX sessions' persistent store: sequence numbers, sent application messages, owned orders.

One append-only file, ``<data>/fix/sessions.log``, for every session, so a
turn of the event loop writes all of its changes with one write, and one
``fdatasync`` covers many turns (group commit, as the journal does). Each change is a
frame: a 4-byte length, a 4-byte CRC32 and a msgpack body, one of

* ``("S", session, next_in, next_out, floor)``: the sequence numbers, and
  the journal's record up to which it was durable then (every message
  ``next_in`` does not count yet has its commands, if any, after it; a
  store from before floors writes none);
* ``("M", session, seq, raw, journal)``: an application message as sent (for
  resends), made from the journal's records up to number ``journal`` (0: from
  none of them);
* ``("R", session)``: both numbers back to 1, what was stored before is void;
* ``("O", session, added, removed, journal)``: orders the session entered
  that are open (for cancel-on-disconnect after a restart), as of the
  journal's record ``journal``;
* ``("J", journal)``: every report of the journal's records up to
  ``journal`` is in the frames before it (a FIX worker started again makes
  the reports of the records after it; docs/FIX.md);
* ``("N", session, upto)``: a reservation: the session's numbers below
  ``upto`` may have been sent;
* ``("B", boot)``: the store was opened by a process of this boot of the
  machine (its kernel's boot id);
* ``("C",)``: the store was closed cleanly (everything before it synced).

A message goes out once its frames are written, synced or not: a process
that dies loses nothing it wrote (the kernel holds it). What a crash of the
machine can take is what was not synced yet; it is recognised at the next
opening (the last frame is not ``C`` and the last ``B`` names another boot,
or no boot can be read), and then each session goes on from its
reservation, which a message never passes before it is synced, so no number
once sent is used again (the numbers skipped get a gap fill on a resend).
The reports the lost frames held are made again from the journal, synced
before they went, with PossResend (docs/FIX.md, "The store").

Reports are stored while the journal syncs the records they tell of (the
gateway sends nothing before the journal's sync is done), so after
a crash the store may hold a message about a record the journal lost. Opening
is told how far the journal goes: such a message is not kept for resends (its
number stays used: a resend fills it with a gap fill, as an admin message),
and such an ``O`` frame's removals are not applied (the orders it closed are
open again; its additions of orders that no longer exist do no harm:
cancel-on-disconnect looks each order up).

Opening replays the frames. A frame cut short or corrupted by a crash can
only be the last one written (the file is only appended to); it and anything
after it are cut off, so nothing half-written is ever read.

The file is kept :data:`PREALLOCATE` bytes of zeros longer than what it holds
(written once, and again whenever the frames reach the end), and frames are
written over those zeros: syncing a write into blocks the file already has
leaves the file's size and block map alone, so ``fdatasync`` writes the data
only, with no filesystem journal commit (on this machine's ext4, p50 120 us
and p99 0.25-0.3 ms against 170 us and 0.4-0.6 ms for an append). A zero
length ends the frames (a real frame is never empty); a clean close trims the
zeros. The transport sends a message only after the frames that record it
are written (and its number's reservation is on disk).

One process has the store open at a time: it holds ``<data>/fix/store.lock``
(``flock``) while open, and another waits for it a while, then gives up
with an error naming the holder's process id.

The file keeps every application message sent since each session's last
reset, as QuickFIX's file store does; on opening, a file that is mostly
superseded numbers and messages voided by resets is rewritten without them (to a new file, synced,
then renamed over the old one).
"""

from __future__ import annotations

import fcntl
import os
import struct
import time
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["FixStore", "StoredSession", "current_boot"]

_HEAD = struct.Struct("<II")
_MAX_FRAME = 16 * 1024 * 1024
_COMPACT_BYTES = 16 * 1024 * 1024
LOCK_WAIT_S = 10.0
"""How long opening waits for another process to let go of the store (:meth:`FixStore.open`)."""
PREALLOCATE = 4 * 1024 * 1024
"""Zeros kept past the last frame, for frames to be written over (see the module's text)."""
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


@dataclass
class StoredSession:
    """What the store holds for one session."""

    next_in: int = 1
    next_out: int = 1
    owned: set[int] = field(default_factory=set)
    offsets: array[int] = field(default_factory=lambda: array("q"))
    """File offset of the frame holding the message numbered ``i + 1`` (-1: none)."""
    message_bytes: int = 0
    """Bytes of the file its messages take (what a reset makes dead)."""
    reserved: int = 1
    """Numbers below it may have been sent (its last ``N`` frame): after a crash of the
    machine, the session goes on from here (see the module's text)."""
    floor: int | None = None
    """The journal's durable end when ``next_in`` was stored (its last ``S`` frame; None:
    a store from before floors): the commands of the messages ``next_in`` does
    not count, if they reached the journal, are after it. After a crash of the
    machine ``next_in`` may be behind what the counterparty sent and had
    answered; the gateway looks for those orders there (docs/FIX.md)."""


class FixStore:
    """The store in ``directory`` (created when missing); ``sync``: :meth:`sync` fdatasyncs
    what was written (else it does nothing)."""

    def __init__(self, directory: Path, sync: bool = True, boot_id: str | None = None) -> None:
        self.directory = directory
        self.boot_id = boot_id if boot_id is not None else current_boot()
        """The running kernel's boot (``B`` frames): a store left open by a process of
        the same boot lost nothing it wrote, whether or not it was synced."""
        self.machine_crashed = False
        """Opening found the store left open by a process of an earlier boot: what it
        wrote and did not sync may be gone (sessions then go on from their
        reservations, and the reports made again may have been sent)."""
        self._last_boot: str | None = None
        self._clean = False
        self.path = directory / "sessions.log"
        self.sync_enabled = sync
        self.sessions: dict[str, StoredSession] = {}
        self._pending = bytearray()
        self._size = 0
        self._allocated = 0
        """The file's size: the frames (``_size``) and the zeros after them."""
        self._fd = -1
        self._lock_fd = -1
        self._journal_end: int | None = None
        self.reported: int | None = None
        """The journal record up to which every report is in the store (its last ``J``
        frame; None: a store from before marks). What a new gateway must report again
        starts after it."""
        self._dropped = False
        """Opening dropped what told of records the journal lost (then the file is rewritten:
        the journal's next records reuse those numbers)."""

    # ------------------------------------------------------------ opening

    def open(self, journal_end: int | None = None, lock_wait_s: float = LOCK_WAIT_S) -> None:
        """Take the store's lock, read the file (cutting off a torn tail), compact if it pays.

        ``journal_end``: the number of the journal's last durable record; what
        was stored about later records is dropped (see the module's text).
        None: keep everything. ``lock_wait_s``: how long to wait for a process
        that holds the lock (one on its way out) before giving up.
        """
        self._journal_end = journal_end
        self._dropped = False
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock(lock_wait_s)
        fresh = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fresh:
            _sync_directory(self.directory)
        data = os.pread(self._fd, os.fstat(self._fd).st_size, 0)
        good = self._replay(data)
        self._size = self._allocated = len(data)
        if good < len(data) and data.count(0, good) != len(data) - good:
            # A torn or corrupt tail: cut it off (the zeros come back below).
            os.ftruncate(self._fd, good)
            os.fsync(self._fd)
            self._allocated = good
        self._size = good
        if journal_end is not None and self.reported is not None:
            self.reported = min(self.reported, journal_end)  # beyond it, the crash took
        # Left open (no C frame last) by a process of another boot: the machine went
        # down, and frames written but not synced may be gone. Numbers up to each
        # reservation may have been sent: none of them is used again.
        self.machine_crashed = (
            not self._clean
            and self._last_boot is not None
            and (self._last_boot != self.boot_id or not self.boot_id)
        )
        if self.machine_crashed:
            for name, stored in self.sessions.items():
                if stored.reserved > stored.next_out:
                    self.save_state(name, stored.next_in, stored.reserved, stored.floor)
        live = sum(s.message_bytes + 64 + 16 * len(s.owned) for s in self.sessions.values())
        if self._dropped or (self._size > _COMPACT_BYTES and live < self._size // 2):
            self._compact()
        # This process's boot, durable before anything is sent.
        self._frame(("B", self.boot_id))
        self.write()
        self._reserve(PREALLOCATE)
        os.fsync(self._fd)

    def _replay(self, data: bytes) -> int:
        """Apply every whole frame of ``data``; the length of the good prefix."""
        pos = 0
        while pos + _HEAD.size <= len(data):
            length, crc = _HEAD.unpack_from(data, pos)
            end = pos + _HEAD.size + length
            if length == 0 or length > _MAX_FRAME or end > len(data):
                break  # the zeros after the last frame, or a torn one
            body = data[pos + _HEAD.size : end]
            if zlib.crc32(body) != crc:
                break
            try:
                self._apply(_decode(body), pos, end - pos)
            except (msgspec.DecodeError, ValueError, TypeError, IndexError):
                break
            pos = end
        return pos

    def _apply(self, frame: list[Any], offset: int, size: int) -> None:
        kind = frame[0]
        self._clean = kind == "C"
        if kind == "C":
            return
        name = frame[1]
        if kind == "J":
            self.reported = int(name)
            return
        if kind == "B":
            self._last_boot = str(name)
            return
        stored = self.sessions.setdefault(name, StoredSession())
        end = self._journal_end
        if kind == "S":
            stored.next_in, stored.next_out = int(frame[2]), int(frame[3])
            stored.floor = int(frame[4]) if len(frame) > 4 and frame[4] is not None else None
        elif kind == "M":
            seq = int(frame[2])
            stored.next_out = max(stored.next_out, seq + 1)
            if end is not None and len(frame) > 4 and int(frame[4]) > end:
                self._dropped = True
                return  # about a record the journal lost: its number stays used
            _put(stored.offsets, seq, offset)
            stored.message_bytes += size
        elif kind == "R":
            stored.message_bytes = 0
            stored.next_in = stored.next_out = stored.reserved = 1
            stored.floor = None
            stored.offsets = array("q")
        elif kind == "N":
            stored.reserved = int(frame[2])
        elif kind == "O":
            stored.owned.update(int(x) for x in frame[2])
            if end is None or len(frame) < 5 or int(frame[4]) <= end:
                stored.owned.difference_update(int(x) for x in frame[3])
            else:
                self._dropped = True
        else:
            raise ValueError(f"unknown frame kind {kind!r}")

    def _compact(self) -> None:
        """Rewrite the file with only what is still in force."""
        tmp = self.directory / "sessions.log.compact"
        old = self._fd
        frames = bytearray()
        moved: dict[str, list[tuple[int, bytes]]] = {}
        for name, stored in self.sessions.items():
            moved[name] = self._read(name, 1, len(stored.offsets))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            self._fd, self._size, self._allocated, self._pending = fd, 0, 0, frames
            for name, stored in self.sessions.items():
                stored.offsets = array("q")
                stored.message_bytes = 0
                self.save_state(name, stored.next_in, stored.next_out, stored.floor)
                if stored.reserved > 1:
                    self.reserve(name, stored.reserved)
                for seq, raw in moved[name]:
                    self.save_message(name, seq, raw)
                if stored.owned:
                    self.save_owned(name, sorted(stored.owned), [])
            if self.reported is not None:
                self._frame(("J", self.reported))
            self.write()
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        _sync_directory(self.directory)
        os.close(old)
        self._fd = os.open(self.path, os.O_RDWR)

    # ------------------------------------------------------------ changes

    def session(self, name: str) -> StoredSession:
        """What is stored for session ``name`` (a fresh one starts at 1 and 1)."""
        found = self.sessions.get(name)
        if found is None:  # not setdefault: that would build a record at every call
            found = self.sessions[name] = StoredSession()
        return found

    def _frame(self, body: tuple[Any, ...]) -> int:
        """Queue a frame; its offset in the file once written."""
        data = _encode(body)
        offset = self._size + len(self._pending)
        self._pending += _HEAD.pack(len(data), zlib.crc32(data))
        self._pending += data
        return offset

    def save_state(self, name: str, next_in: int, next_out: int, floor: int | None = None) -> None:
        """The session's numbers, and the floor of ``next_in`` (:attr:`StoredSession.floor`)."""
        stored = self.session(name)
        stored.next_in, stored.next_out, stored.floor = next_in, next_out, floor
        self._frame(("S", name, next_in, next_out, floor))

    def save_message(self, name: str, seq: int, raw: bytes, journal: int = 0) -> None:
        """An application message sent (or kept for a resend) with number ``seq``.

        ``journal``: the journal's last record it tells of (0: none).
        """
        stored = self.session(name)
        before = len(self._pending)
        _put(stored.offsets, seq, self._frame(("M", name, seq, raw, journal)))
        stored.next_out = max(stored.next_out, seq + 1)
        stored.message_bytes += len(self._pending) - before

    def save_mark(self, journal: int) -> None:
        """Every report of the journal's records up to ``journal`` is queued before this."""
        if self.reported is None or journal > self.reported:
            self.reported = journal
            self._frame(("J", journal))

    def reserve(self, name: str, upto: int) -> None:
        """Numbers of ``name`` below ``upto`` may be sent (once this frame is synced)."""
        self.session(name).reserved = upto
        self._frame(("N", name, upto))

    def reset(self, name: str) -> None:
        stored = self.session(name)
        stored.next_in = stored.next_out = stored.reserved = 1
        stored.floor = None
        stored.offsets = array("q")
        stored.message_bytes = 0
        self._frame(("R", name))

    def save_owned(self, name: str, added: list[int], removed: list[int], journal: int = 0) -> None:
        """Orders ``name`` entered that opened and closed, as of journal record ``journal``."""
        stored = self.session(name)
        stored.owned.update(added)
        stored.owned.difference_update(removed)
        self._frame(("O", name, added, removed, journal))

    # ------------------------------------------------------------ reading

    def history(self, name: str, begin: int, end: int) -> list[tuple[int, bytes]]:
        """The stored application messages of ``name`` numbered ``begin`` to ``end``."""
        self.write()
        return self._read(name, begin, end)

    def _read(self, name: str, begin: int, end: int) -> list[tuple[int, bytes]]:
        offsets = self.session(name).offsets
        out = []
        for seq in range(max(begin, 1), min(end, len(offsets)) + 1):
            offset = offsets[seq - 1]
            if offset < 0:
                continue
            length, _ = _HEAD.unpack(os.pread(self._fd, _HEAD.size, offset))
            frame = _decode(os.pread(self._fd, length, offset + _HEAD.size))
            out.append((seq, bytes(frame[3])))
        return out

    # ------------------------------------------------------------ durability

    @property
    def size(self) -> int:
        """Bytes of frames in the file (the zeros after them not counted)."""
        return self._size + len(self._pending)

    @property
    def dirty(self) -> bool:
        return bool(self._pending)

    def write(self) -> None:
        """Write what is queued after the last frame (one system call); ``sync`` makes it
        durable."""
        if not self._pending:
            return
        data, self._pending = self._pending, bytearray()
        if self._size + len(data) > self._allocated:
            # More zeros first; the next sync makes them durable with the frames.
            self._reserve(len(data) + PREALLOCATE)
        view = memoryview(data)
        at = self._size
        while view:
            written = os.pwrite(self._fd, view, at)
            view = view[written:]
            at += written
        self._size += len(data)

    def _reserve(self, size: int) -> None:
        """Have at least ``size`` bytes of zeros after the last frame."""
        want = self._size + size
        zeros = bytes(min(want - self._allocated, 1 << 20)) if want > self._allocated else b""
        while self._allocated < want:
            chunk = zeros[: want - self._allocated]
            self._allocated += os.pwrite(self._fd, chunk, self._allocated)

    def sync(self) -> None:
        """Wait until what was written is on disk (fdatasync); nothing when sync is off.

        Safe to run in a worker thread while the loop queues the next frames.
        """
        if self.sync_enabled:
            os.fdatasync(self._fd)

    def close(self) -> None:
        """Write and sync what is queued, trim the zeros after the last frame, close."""
        if self._fd >= 0:
            self._frame(("C",))  # closed cleanly: everything before it is on disk
            self.write()
            self.sync()
            os.ftruncate(self._fd, self._size)
            if self.sync_enabled:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # the lock goes with the descriptor
            self._lock_fd = -1

    def _lock(self, wait_s: float) -> None:
        """Hold ``store.lock`` (flock) while open: one process writes the file at a time.

        With gateway workers the store is the FIX worker's; a worker started
        again after one died, or a server started again after a crash, may
        find the old process still on its way out: it waits for it a while.
        """
        path = self.directory / "store.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    raise OSError(
                        f"{path}: the FIX session store is in use by process {holder}"
                        f" (waited {wait_s:g} s); stop it first"
                    ) from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd


def current_boot() -> str:
    """The running kernel's boot id (Linux); empty where there is none to read.

    With no boot id, every store left open counts as a machine crash (the
    safe side: the sessions go on from their reservations)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _put(offsets: array[int], seq: int, offset: int) -> None:
    while len(offsets) < seq:
        offsets.append(-1)
    offsets[seq - 1] = offset


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
