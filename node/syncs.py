"""When a write's sync may run on the event loop: :class:`RecentSyncs`.

The journal's committer (node/exchange.py) and the FIX session store
(gateway/fix/store.py) each make their writes durable with an fsync. In a
worker thread, the loop goes on meanwhile, but the hand-off costs two hops
(the thread waits for the interpreter lock while the loop is busy, and the
loop waits again for the answer): 0.3 ms or more at low rates, as much as a
quick disk's whole sync. So while the gateway is quiet (its own rule) and
the disk has been quick, the sync runs on the loop itself. "Quick" is every
one of the last :data:`WINDOW` syncs under :data:`INLINE_SYNC_NS`: a disk's
slowness comes in bursts (another process's writes), and one slow sync in
the window keeps the next ones in the thread, where a slow sync stalls only
the commit waiting for it, until the window is quick again.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from queue import SimpleQueue

__all__ = ["INLINE_SYNC_NS", "WINDOW", "RecentSyncs", "SyncThread"]

INLINE_SYNC_NS = 2_000_000
"""A sync under this (2 ms) counts as quick."""
WINDOW = 8
"""How many of the last syncs must have been quick."""


class RecentSyncs:
    """The durations of one file's last :data:`WINDOW` syncs."""

    def __init__(self) -> None:
        self._recent: deque[int] = deque(maxlen=WINDOW)

    def add(self, ns: int) -> None:
        """Note a sync that took ``ns`` nanoseconds."""
        self._recent.append(ns)

    @property
    def last(self) -> int | None:
        """The last sync's duration (None before the first)."""
        return self._recent[-1] if self._recent else None

    def quick(self) -> bool:
        """Whether every sync noted lately took under :data:`INLINE_SYNC_NS` (none yet: yes)."""
        return all(ns < INLINE_SYNC_NS for ns in self._recent)


class SyncThread:
    """A thread of its own that runs writes and syncs in the order given, and answers each
    on the event loop.

    The journal's pipelined committer and the FIX store hand it their syncs
    and go on. A queue put and one ``call_soon_threadsafe`` per job, instead
    of ``run_in_executor`` (an executor work item, a concurrent future chained
    to an asyncio one, a thread-count check): on a loop that answers
    thousands of small batches a second, that was about a tenth of its time
    (py-spy).
    """

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._jobs: SimpleQueue[
            tuple[Callable[[], object], Callable[[BaseException | None], None]] | None
        ] = SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def run(self, job: Callable[[], object], done: Callable[[BaseException | None], None]) -> None:
        """Run ``job`` in the thread after those handed over before; then, on the loop,
        ``done(None)``, or ``done(error)`` with what it raised."""
        self._jobs.put((job, done))

    def close(self) -> None:
        """Stop the thread once the jobs handed over are done."""
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, done = item
            error: BaseException | None = None
            try:
                job()
            except BaseException as e:  # handed to ``done``: its owner decides
                error = e
            try:
                self.loop.call_soon_threadsafe(done, error)
            except RuntimeError:
                return  # the loop is closed: nobody waits any more
