"""The FIX session store: what was written is read back; a torn tail is cut off, never read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from gateway.fix.store import PREALLOCATE, FixStore, current_boot

_OPEN: dict[Path, FixStore] = {}
"""The store each test opened last in a directory (:func:`_store`)."""


def _store(path: Path, boot_id: str | None = None) -> FixStore:
    """Open the store in ``path`` (as a process of boot ``boot_id``: default, this one);
    one still open there goes first as in a crash."""
    before = _OPEN.pop(path, None)
    if before is not None:
        _crash(before)
    store = FixStore(path, boot_id=boot_id)
    store.open()
    _OPEN[path] = store
    return store


def _crash(store: FixStore) -> None:
    """What the process's death does to ``store``: its descriptors (and lock) go, unwritten."""
    for name in ("_fd", "_lock_fd"):
        fd = getattr(store, name)
        if fd >= 0:
            os.close(fd)
            setattr(store, name, -1)


def test_one_process_at_a_time_holds_the_store(tmp_path: Path) -> None:
    """A second opener waits, then names the holder; a holder killed lets go at once."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from gateway.fix.store import FixStore;"
            f" s = FixStore(Path({str(tmp_path)!r})); s.open(); print('open', flush=True);"
            " time.sleep(60)",
        ],
        cwd=Path(__file__).resolve().parents[4],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        with pytest.raises(OSError, match=f"in use by process {holder.pid}"):
            FixStore(tmp_path).open(lock_wait_s=0.2)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        store = FixStore(tmp_path)
        store.open(lock_wait_s=0.2)
        store.close()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_numbers_messages_and_orders_survive_a_reopen(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save_state("MM", 4, 9)
    store.save_message("MM", 5, b"m5")
    store.save_message("MM", 7, b"m7")
    store.save_owned("MM", [11, 12, 13], [])
    store.save_owned("MM", [], [12])
    store.save_state("DC", 2, 3)
    store.write()
    store.sync()
    store.close()
    again = _store(tmp_path)
    mm = again.session("MM")
    assert (mm.next_in, mm.next_out, mm.owned) == (4, 9, {11, 13})
    assert again.history("MM", 1, 100) == [(5, b"m5"), (7, b"m7")]
    assert again.history("MM", 6, 7) == [(7, b"m7")]
    assert (again.session("DC").next_in, again.session("DC").next_out) == (2, 3)


def test_a_reset_voids_what_was_stored(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save_message("MM", 1, b"old")
    store.reset("MM")
    store.save_message("MM", 2, b"new")
    store.close()
    again = _store(tmp_path)
    assert again.history("MM", 1, 10) == [(2, b"new")]
    assert again.session("MM").next_out == 3


def test_frames_queued_but_not_written_are_not_there_after_a_crash(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save_state("MM", 2, 2)
    store.write()
    store.save_state("MM", 3, 3)  # queued, never written: the process dies here
    again = _store(tmp_path)
    assert (again.session("MM").next_in, again.session("MM").next_out) == (2, 2)


def test_a_torn_last_frame_is_cut_off_at_every_length(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save_state("MM", 2, 5)
    store.save_message("MM", 5, b"x" * 50)
    store.close()
    path = tmp_path / "sessions.log"
    data = path.read_bytes()
    # The file: this boot's B frame, S, M, and the C frame of a clean close.
    empty = _store_size_after(tmp_path / "empty", [])  # B and C
    good = _store_size_after(tmp_path / "one", [("MM", 2, 5)]) - _C_FRAME  # B and S
    for cut in range(good, len(data) - _C_FRAME):
        path.write_bytes(data[:cut])
        again = _store(tmp_path)
        assert again.history("MM", 1, 10) == []
        assert (again.session("MM").next_in, again.session("MM").next_out) == (2, 5)
        again.close()
        # The torn frame is gone from the file: after the good prefix come the
        # reopening's B frame and the close's C frame only.
        assert os.path.getsize(path) == good + empty
        assert path.read_bytes()[:good] == data[:good]
        # and the store goes on appending after the good prefix
        again = _store(tmp_path)
        again.save_message("MM", 6, b"y")
        again.close()
        assert _store(tmp_path).history("MM", 1, 10) == [(6, b"y")]


_C_FRAME = 8 + len(msgspec.msgpack.encode(("C",)))
"""The bytes of a clean close's frame."""


def _store_size_after(path: Path, states: list[tuple[str, int, int]]) -> int:
    """The size of a new store in ``path`` with ``states`` saved, once closed."""
    store = _store(path)
    for name, next_in, next_out in states:
        store.save_state(name, next_in, next_out)
    store.close()
    return os.path.getsize(path / "sessions.log")


def test_a_corrupted_frame_ends_what_is_read(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save_state("MM", 2, 2)
    store.save_state("MM", 3, 3)
    store.close()
    path = tmp_path / "sessions.log"
    data = bytearray(path.read_bytes())
    data[-_C_FRAME - 3] ^= 0xFF  # in the last S frame (the C frame follows it)
    path.write_bytes(bytes(data))
    assert _store(tmp_path).session("MM").next_in == 2


@pytest.mark.parametrize("resets", [True, False])
def test_compaction_keeps_what_is_in_force(tmp_path: Path, resets: bool) -> None:
    store = _store(tmp_path)
    for i in range(1, 40_001):
        store.save_message("MM", i, b"z" * 400)
        if i % 10_000 == 0:
            store.write()
    if resets:
        store.reset("MM")
    store.save_message("MM", 1 if resets else 40_001, b"last")
    store.save_owned("MM", [7], [])
    store.close()
    before = os.path.getsize(tmp_path / "sessions.log")  # a clean close trims the zeros
    again = _store(tmp_path)
    after = again.size
    if resets:
        assert after < before // 10
        assert again.history("MM", 1, 5) == [(1, b"last")]
    else:
        boot = 8 + len(msgspec.msgpack.encode(("B", again.boot_id)))
        assert after == before + boot  # nothing to drop: only this opening's B frame
        assert again.history("MM", 40_000, 40_001) == [(40_000, b"z" * 400), (40_001, b"last")]
    assert again.session("MM").owned == {7}
    again.close()
    assert os.path.getsize(tmp_path / "sessions.log") == after + _C_FRAME


def _on_disk(path: Path) -> bytes:
    return (path / "sessions.log").read_bytes()


def _lose_unsynced(store: FixStore, path: Path, synced: bytes) -> None:
    """A crash of the machine: the process goes, and the file is what the last sync left."""
    _crash(store)
    _OPEN.pop(path, None)
    (path / "sessions.log").write_bytes(synced)


def test_a_machine_crash_resumes_each_session_from_its_synced_reservation(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path, "boot-1")
    store.save_state("MM", 3, 10)
    store.reserve("MM", 100)
    store.save_state("DC", 1, 5)  # no reservation: it never sent past what is synced
    store.write()
    store.sync()
    synced = _on_disk(tmp_path)
    store.save_state("MM", 4, 40)  # written, sent, never synced: the machine goes down
    store.save_message("MM", 39, b"lost")
    store.write()
    _lose_unsynced(store, tmp_path, synced)
    again = _store(tmp_path, "boot-2")
    assert again.machine_crashed
    mm, dc = again.session("MM"), again.session("DC")
    # Numbers up to the reservation may have gone out: none is used again.
    assert (mm.next_in, mm.next_out) == (3, 100)
    assert (dc.next_in, dc.next_out) == (1, 5)
    assert again.history("MM", 1, 200) == []  # 39 is gone: a resend fills it with a gap
    again.close()
    # The jump is stored: a clean restart goes on from it, and is no machine crash.
    third = _store(tmp_path, "boot-3")
    assert not third.machine_crashed
    assert third.session("MM").next_out == 100
    third.close()


def test_a_process_crash_in_the_same_boot_loses_nothing_written(tmp_path: Path) -> None:
    store = _store(tmp_path, "boot-1")
    store.reserve("MM", 100)
    store.save_state("MM", 3, 40)
    store.save_message("MM", 39, b"kept")
    store.write()  # not synced: the kernel has it, and a killed process loses nothing
    _crash(store)
    again = _store(tmp_path, "boot-1")
    assert not again.machine_crashed
    assert again.session("MM").next_out == 40
    assert again.history("MM", 39, 39) == [(39, b"kept")]
    again.close()


def test_a_store_closed_cleanly_is_whole_whatever_booted_since(tmp_path: Path) -> None:
    store = _store(tmp_path, "boot-1")
    store.reserve("MM", 100)
    store.save_state("MM", 3, 40)
    store.close()
    again = _store(tmp_path, "boot-2")
    assert not again.machine_crashed
    assert again.session("MM").next_out == 40
    again.close()


def test_without_a_boot_id_a_store_left_open_counts_as_a_machine_crash(tmp_path: Path) -> None:
    store = _store(tmp_path, "")
    store.reserve("MM", 100)
    store.save_state("MM", 3, 40)
    store.write()
    store.sync()
    _crash(store)
    again = _store(tmp_path, "")
    assert again.machine_crashed
    assert again.session("MM").next_out == 100
    again.close()


def test_a_reset_voids_the_reservation_and_compaction_keeps_it(tmp_path: Path) -> None:
    store = _store(tmp_path, "boot-1")
    store.reserve("MM", 100)
    store.reserve("DC", 50)
    store.reset("MM")
    assert store.session("MM").reserved == 1
    store.reserve("MM", 20)
    store.write()
    store.sync()
    synced = _on_disk(tmp_path)
    _lose_unsynced(store, tmp_path, synced)
    again = _store(tmp_path, "boot-2")
    assert again.machine_crashed
    assert again.session("MM").next_out == 20
    assert again.session("DC").next_out == 50
    again._compact()  # rewritten: the reservations stay in force
    again.close()
    third = _store(tmp_path, "boot-3")
    assert (third.session("MM").reserved, third.session("DC").reserved) == (20, 50)
    third.close()


def test_the_current_boot_is_read_from_the_kernel() -> None:
    boot = current_boot()
    if Path("/proc/sys/kernel/random/boot_id").exists():
        assert len(boot) == 36 and boot.count("-") == 4
    else:
        assert boot == ""


def test_frames_are_written_over_zeros_kept_after_the_last_one(tmp_path: Path) -> None:
    store = _store(tmp_path)
    path = tmp_path / "sessions.log"
    opened = store.size  # the opening's B frame
    assert 0 < opened < 100 and os.path.getsize(path) == opened + PREALLOCATE
    store.save_state("MM", 2, 2)
    store.write()
    first = store.size
    assert first > opened and os.path.getsize(path) == opened + PREALLOCATE  # over the zeros
    # Past the end of the zeros: more are added, and the frames stay whole.
    for seq in range(1, 4):
        store.save_message("MM", seq, b"m" * (PREALLOCATE // 2))
        store.write()
    assert os.path.getsize(path) > store.size > 3 * (PREALLOCATE // 2)
    store.sync()
    # Killed here (no close): the zeros stay, and the next open reads every frame.
    killed = path.read_bytes()
    again = _store(tmp_path)
    assert again.history("MM", 1, 3) == [(s, b"m" * (PREALLOCATE // 2)) for s in (1, 2, 3)]
    assert again.size == store.size + opened  # and its own B frame
    # A frame torn over the zeros (its first bytes written, the rest still zeros) is cut.
    again.close()
    path.write_bytes(killed[: store.size] + killed[opened:first][:6] + bytes(PREALLOCATE))
    torn = _store(tmp_path)
    assert torn.size == store.size + opened
    torn.save_message("MM", 4, b"after")
    torn.close()
    assert _store(tmp_path).history("MM", 4, 4) == [(4, b"after")]


def test_what_tells_of_records_the_journal_lost_is_not_kept(tmp_path: Path) -> None:
    """Reports are stored while the journal syncs their records: after a crash that took
    records 9 and on from the journal, a message about them is not resent (its number
    stays used), and an order an unjournaled event closed is owned again."""
    store = _store(tmp_path)
    store.save_owned("MM", [21, 22], [], 5)
    store.save_message("MM", 1, b"ack of record 5", 5)
    store.save_message("MM", 2, b"reject", 0)  # about no record
    store.save_message("MM", 3, b"fill of record 9", 9)
    store.save_owned("MM", [23], [21], 9)
    store.save_message("MM", 4, b"heartbeat-free app message", 0)
    store.write()
    store.close()

    lost = FixStore(tmp_path)
    lost.open(journal_end=8)
    mm = lost.session("MM")
    assert mm.next_out == 5  # no number is used twice
    assert lost.history("MM", 1, 10) == [
        (1, b"ack of record 5"),
        (2, b"reject"),
        (4, b"heartbeat-free app message"),
    ]
    # 23 is owned but does not exist (cancel-on-disconnect looks it up); 21 is open again.
    assert mm.owned == {21, 22, 23}
    lost.close()

    # The journal's next record 9 is another command: the old report of 9 stays gone.
    later = FixStore(tmp_path)
    later.open(journal_end=12)
    assert [seq for seq, _ in later.history("MM", 1, 10)] == [1, 2, 4]
    assert later.session("MM").owned == {21, 22, 23}
    later.close()


def test_nothing_is_dropped_while_the_journal_holds_every_record(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save_message("MM", 1, b"fill of record 9", 9)
    store.save_owned("MM", [23], [21], 9)
    store.close()
    kept = FixStore(tmp_path)
    kept.open(journal_end=9)
    assert kept.history("MM", 1, 10) == [(1, b"fill of record 9")]
    assert kept.session("MM").owned == {23}
    kept.close()


def test_the_mark_of_what_is_reported_survives_and_is_cut_back_to_the_journal(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    assert store.reported is None  # a store from before marks: nothing to go by
    store.save_mark(40)
    store.save_mark(35)  # never back
    store.save_message("MM", 1, b"m1", 40)
    store.close()
    again = _store(tmp_path)
    assert again.reported == 40
    again.close()
    # After a crash that took the journal back to 37, the reports stop there at most.
    cut = FixStore(tmp_path)
    cut.open(journal_end=37)
    assert cut.reported == 37
    cut.close()  # (opening dropped m1, told of record 40: the file was rewritten)
    final = _store(tmp_path)
    assert final.reported == 37 and final.history("MM", 1, 5) == []


def test_the_floor_of_next_in_is_kept_through_a_machine_crash_and_a_compaction(
    tmp_path: Path,
) -> None:
    """Each state carries the journal's durable end when it was stored (the floor); after a
    crash of the machine the synced floor is what the gateway looks for lost orders from."""
    store = _store(tmp_path, "boot-1")
    store.save_state("MM", 3, 10, 500)
    store.reserve("MM", 100)
    store._frame(("S", "OLD", 2, 2))  # a state written before floors were stored
    store.write()
    store.sync()
    synced = _on_disk(tmp_path)
    store.save_state("MM", 4, 40, 900)  # never synced: the machine goes down
    store.write()
    _lose_unsynced(store, tmp_path, synced)
    again = _store(tmp_path, "boot-2")
    assert again.machine_crashed
    assert (again.session("MM").next_in, again.session("MM").floor) == (3, 500)
    assert again.session("OLD").floor is None
    again._compact()  # rewritten: the floor is part of the state kept
    again.close()
    third = _store(tmp_path, "boot-3")
    assert (third.session("MM").next_out, third.session("MM").floor) == (100, 500)
    third.reset("MM")
    assert third.session("MM").floor is None  # numbers from 1: nothing before counts
    third.close()
