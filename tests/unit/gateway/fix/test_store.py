"""The FIX session store: what was written is read back; a torn tail is cut off, never read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.fix.store import PREALLOCATE, FixStore
from node.syncs import INLINE_SYNC_NS, WINDOW

_OPEN: dict[Path, FixStore] = {}
"""The store each test opened last in a directory (:func:`_store`)."""


def _store(path: Path) -> FixStore:
    """Open the store in ``path``; one still open there goes first as in a crash."""
    before = _OPEN.pop(path, None)
    if before is not None:
        _crash(before)
    store = FixStore(path)
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
    first = _store_size_after_state(tmp_path)
    for cut in range(first, len(data)):
        path.write_bytes(data[:cut])
        again = _store(tmp_path)
        assert again.history("MM", 1, 10) == []
        assert (again.session("MM").next_in, again.session("MM").next_out) == (2, 5)
        again.close()
        assert os.path.getsize(path) == first  # the torn frame is gone from the file
        # and the store goes on appending after the good prefix
        again = _store(tmp_path)
        again.save_message("MM", 6, b"y")
        again.close()
        assert _store(tmp_path).history("MM", 1, 10) == [(6, b"y")]


def _store_size_after_state(tmp_path: Path) -> int:
    other = tmp_path / "one"
    store = _store(other)
    store.save_state("MM", 2, 5)
    store.close()
    return os.path.getsize(other / "sessions.log")


def test_a_corrupted_frame_ends_what_is_read(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save_state("MM", 2, 2)
    store.save_state("MM", 3, 3)
    store.close()
    path = tmp_path / "sessions.log"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
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
        assert after == before  # nothing to drop
        assert again.history("MM", 40_000, 40_001) == [(40_000, b"z" * 400), (40_001, b"last")]
    assert again.session("MM").owned == {7}
    again.close()
    assert os.path.getsize(tmp_path / "sessions.log") == after


def test_syncs_go_on_the_loop_only_while_the_recent_ones_were_quick(tmp_path: Path) -> None:
    # The durations are planted (the policy is what is tested, not this disk's speed).
    store = _store(tmp_path)
    quick, slow = INLINE_SYNC_NS // 10, INLINE_SYNC_NS * 5
    assert store.sync_is_fast()  # nothing measured yet
    store.syncs.add(quick)
    assert store.sync_is_fast()
    store.syncs.add(slow)
    assert not store.sync_is_fast()  # one slow sync sends the next ones to the thread
    for _ in range(WINDOW - 1):
        store.syncs.add(quick)
        assert not store.sync_is_fast()  # ... while it is among the last WINDOW
    store.syncs.add(quick)
    assert store.sync_is_fast()
    # A real sync notes its own duration.
    store.syncs.add(-1)
    store.save_state("MM", 1, 2)
    store.write()
    store.sync()
    assert store.syncs.last is not None and store.syncs.last >= 0


def test_frames_are_written_over_zeros_kept_after_the_last_one(tmp_path: Path) -> None:
    store = _store(tmp_path)
    path = tmp_path / "sessions.log"
    assert store.size == 0 and os.path.getsize(path) == PREALLOCATE
    store.save_state("MM", 2, 2)
    store.write()
    first = store.size
    assert first > 0 and os.path.getsize(path) == PREALLOCATE  # written over the zeros
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
    assert again.size == store.size
    # A frame torn over the zeros (its first bytes written, the rest still zeros) is cut.
    again.close()
    path.write_bytes(killed[: store.size] + killed[:first][:6] + bytes(PREALLOCATE))
    torn = _store(tmp_path)
    assert torn.size == store.size
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
