"""When ``tokex serve`` writes snapshots and prunes, with the history durable past what goes.

A :class:`Snapshotter` is asked between batches (:meth:`Snapshotter.upkeep`,
when the engine holds exactly the durable state and the history has every
event of it) and:

* writes a snapshot (a forked child, :func:`node.store.write_snapshot_in_background`)
  once ``records`` records follow the newest snapshot on disk, whichever
  process wrote it, or once that snapshot is ``seconds`` old (its file time;
  the genesis's when there is none) and any record follows it;
* makes the history durable (its log synced by a checkpoint in a worker
  thread) every :data:`CHECKPOINT_COMMITS` history commits, and before any
  pruning: a snapshot's child that finished is pruned after only once a
  checkpoint that began after the history took that snapshot's seq has
  completed, so the history is never behind every snapshot left on disk;
* prunes nothing at all while the history cannot be written (it will need
  the journal to catch up at the next start).

Pruning keeps what consumers of the event stream must still replay
(``floor``: settlement names the oldest seq it may have to re-derive). It
also prunes at start (:meth:`Snapshotter.start`, once those consumers are
set up, the history having been made durable during recovery) and at close
(:meth:`Snapshotter.close`, once the last snapshot writers have finished and
the history is durable), so a server that lives too short a time to prune
between batches still keeps its data directory from growing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from engine.engine import Engine
from node.history import History
from node.recovery import prune
from node.store import snapshots, write_snapshot_in_background

__all__ = ["CHECKPOINT_COMMITS", "Snapshotter"]

CHECKPOINT_COMMITS = 256
"""History batches after which its log is made durable (in a worker thread)."""


class Snapshotter:
    """The snapshot and prune policy of one data directory (see the module docstring)."""

    def __init__(
        self,
        data: Path,
        history: History,
        records: int,
        seconds: int,
        floor: Callable[[], int | None] = lambda: None,
        on_written: Callable[[int, float], None] = lambda seq, when: None,
    ) -> None:
        """``floor()``: the oldest seq a consumer must still be able to replay from (kept
        by pruning); ``on_written(seq, time)``: told of each snapshot made durable."""
        self.data = data
        self.floor = floor
        self.on_written = on_written
        self.history = history
        self.records = records
        self.seconds = seconds
        newest = snapshots(data)
        self.seq = newest[0][0] if newest else 0
        """The seq of the newest snapshot (written or being written)."""
        stamp = newest[0][1] if newest else data / "genesis.tkx"
        self.time = stamp.stat().st_mtime
        self.children: list[tuple[int, int]] = []
        """Snapshot writers running: (pid, the seq they write)."""
        self._prune_after: int | None = None
        self._checkpointing = False
        self._batches = 0

    def batch_applied(self) -> None:
        """The history took one more batch."""
        self._batches += 1

    def upkeep(self, engine: Engine) -> None:
        """Reap snapshot writers, make the history durable, snapshot, prune (between batches)."""
        self.history.commit_due()
        for pid, seq in list(self.children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self.children.remove((pid, seq))
                if status == 0:
                    self.on_written(seq, time.time())
                    self._prune_after = max(self._prune_after or 0, seq)
        if self.history.failed is not None:
            self._prune_after = None  # keep every snapshot: the history needs the journal
        elif self._prune_after is not None or self._batches >= CHECKPOINT_COMMITS:
            self._checkpoint()
        if self.children or self._prune_after is not None:
            return
        seq = engine.last_seq
        since = seq - self.seq
        if since <= 0:
            return
        if (self.records and since >= self.records) or (
            self.seconds and time.time() - self.time >= self.seconds
        ):
            self.seq, self.time = seq, time.time()
            self.children.append((write_snapshot_in_background(self.data, engine), seq))

    def _checkpoint(self) -> None:
        """Make the history durable in a worker thread; then prune what a new snapshot allows."""
        if self._checkpointing:
            return
        self._checkpointing = True
        self._batches = 0
        self.history.commit()
        covers = self.history.seq
        future = asyncio.get_running_loop().run_in_executor(None, self.history.checkpoint)

        def done(f: asyncio.Future[None]) -> None:
            self._checkpointing = False
            if self.history.failed is not None:
                return
            if f.exception() is not None:
                print(f"tokex: history checkpoint failed: {f.exception()}", file=sys.stderr)
                return
            if self._prune_after is not None and self._prune_after <= covers:
                self._prune_after = None
                prune(self.data, self.floor())

        future.add_done_callback(done)

    def start(self) -> None:
        """At start (the history just made durable): prune what the snapshots on disk allow.

        A server that never lives long enough to see its snapshot writers
        finish still prunes, here or at :meth:`close`.
        """
        newest = snapshots(self.data)
        if newest and self.history.failed is None and newest[0][0] <= self.history.seq:
            prune(self.data, self.floor())

    def close(self) -> None:
        """Wait for the snapshot writers still running, then prune what they allow."""
        written = False
        for pid, seq in self.children:
            _, status = os.waitpid(pid, 0)
            if status == 0:
                written = True
                self.on_written(seq, time.time())
        self.children = []
        if (written or self._prune_after is not None) and self.history.failed is None:
            self.history.commit()
            self.history.checkpoint()
            self.start()
