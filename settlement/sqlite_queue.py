"""The embedded queue backend: one SQLite file (WAL mode) in the data directory.

``settlement/queue.sqlite`` holds one row per message, keyed by its engine
seq (``INSERT OR IGNORE``: storing a message twice changes nothing). The
node's writer stores in a thread of its own (what was put within
:data:`PUT_EVERY_S` is one transaction), so the event loop only extracts; ``synchronous=NORMAL``: a
commit survives the process being killed, and what a power cut takes from
the end of the WAL the node re-derives from the journal on start, which is
fsynced (docs/SETTLEMENT.md). The reader (the worker, in the same process or
another one) selects the rows after its cursor in seq order and never
writes to the file; its position lives in the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from settlement.queue import Delivery, QueueError
from settlement.records import Message, decode_message, encode_message

__all__ = ["PUT_EVERY_S", "SqliteReader", "SqliteWriter"]

PUT_EVERY_S = 0.005
"""The node's puts within this long go to the writing thread together (one hand-over,
one transaction), rather than one per batch that traded."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY,
    prev INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    trades INTEGER NOT NULL,
    fed_ns INTEGER NOT NULL,
    body BLOB NOT NULL
)
"""


def _connect(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(_SCHEMA)
        db.commit()
    except sqlite3.Error as e:
        raise QueueError(f"{path}: cannot be opened as the settlement queue: {e}") from None
    return db


class SqliteWriter:
    """The node's side: puts written in order, in transactions, on a thread of its own.

    ``put`` gathers the messages; the first put after a hand-over has the loop
    hand everything gathered to the writing thread :data:`PUT_EVERY_S` later,
    as one transaction (a thread's wake-up and a transaction per batch that
    traded cost the node's loop more than the messages; the queue's lag is
    hundreds of milliseconds, and what a crash takes from the gathered ones is
    re-derived from the journal at the next start, as after a power cut).
    Without a running loop (before :meth:`open`) a put goes at once. A write that
    fails is retried by that thread until it succeeds, so later puts never
    overtake it and the queue never has a hole; ``error`` says what is wrong
    meanwhile.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.on_stored: Callable[[int], None] | None = None
        """Called on the loop after each store with the new tail (wakes an embedded reader)."""
        self._stored = 0
        self._last: Future[None] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="settlement-queue")
        self._db: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gathered: list[Message] = []
        self._hand_over_at: asyncio.TimerHandle | None = None
        self.error: str | None = None

    async def open(self) -> int:
        self._loop = asyncio.get_running_loop()
        self._db = await self._loop.run_in_executor(self._pool, _connect, self.path)
        row = self._db.execute("SELECT MAX(seq) FROM queue").fetchone()
        self._stored = int(row[0] or 0)
        return self._stored

    def put(self, messages: list[Message]) -> None:
        if not messages:
            return
        self._gathered += messages
        if self._hand_over_at is None:
            if self._loop is None:
                self._hand_over()
                return
            self._hand_over_at = self._loop.call_later(PUT_EVERY_S, self._hand_over)

    def _hand_over(self) -> None:
        """What was put so far, to the writing thread (one transaction)."""
        if self._hand_over_at is not None:
            self._hand_over_at.cancel()
            self._hand_over_at = None
        if self._gathered:
            gathered, self._gathered = self._gathered, []
            self._last = self._pool.submit(self._write, gathered)

    @property
    def stored(self) -> int:
        return self._stored

    def _write(self, batch: list[Message]) -> None:
        db = self._db
        assert db is not None
        rows = [(m.seq, m.prev, m.ts, m.trades, m.fed_ns, encode_message(m)) for m in batch]
        while True:
            try:
                with db:
                    db.executemany("INSERT OR IGNORE INTO queue VALUES (?, ?, ?, ?, ?, ?)", rows)
                break
            except sqlite3.Error as e:
                # Nothing of it is stored (one transaction): say so, and try again.
                self.error = f"{self.path}: {e}"
                time.sleep(0.5)
        self.error = None
        self._stored = batch[-1].seq
        if self.on_stored is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self.on_stored, self._stored)

    async def flush(self) -> None:
        """Return once everything put so far is stored."""
        self._hand_over()
        if self._last is not None:
            await asyncio.wrap_future(self._last)

    async def pending_after(self, cursor: int) -> list[tuple[int, int]]:
        """(seq, fed_ns) of the stored messages after ``cursor`` (the seq), in order."""
        db = self._db
        assert db is not None
        rows = db.execute(
            "SELECT seq, fed_ns FROM queue WHERE seq > ? ORDER BY seq", (cursor,)
        ).fetchall()
        return [(int(a), int(b)) for a, b in rows]

    async def close(self) -> None:
        await self.flush()
        self._pool.shutdown(wait=True)
        if self._db is not None:
            self._db.close()
            self._db = None


class SqliteReader:
    """The worker's side: reads rows after its cursor, in seq order; never writes rows.

    ``open`` again at an earlier cursor reads from there again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._cursor = 0
        self._wake = asyncio.Event()

    def wake(self, _tail: int = 0) -> None:
        """New messages were stored (an embedded writer calls this)."""
        self._wake.set()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            # Creates the (empty) queue if the node has not yet: the schema is the same.
            self._db = _connect(self.path)
        return self._db

    async def open(self, cursor: int, seq: int) -> None:
        self._cursor = cursor
        self._conn()

    def _select(self, limit: int) -> list[Delivery]:
        rows = (
            self._conn()
            .execute(
                "SELECT seq, body FROM queue WHERE seq > ? ORDER BY seq LIMIT ?",
                (self._cursor, limit),
            )
            .fetchall()
        )
        return [Delivery(decode_message(body), seq) for seq, body in rows]

    async def fetch(self, limit: int, timeout: float) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while True:
            self._wake.clear()
            found = self._select(limit)
            if found:
                self._cursor = found[-1].cursor
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            # Woken by an embedded writer at once; a writer in another process is polled.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(left, 0.02))

    async def ack(self, deliveries: list[Delivery]) -> None:
        return None

    async def depth(self, cursor: int) -> tuple[int, int | None]:
        db = self._conn()
        count = db.execute("SELECT COUNT(*) FROM queue WHERE seq > ?", (cursor,)).fetchone()[0]
        first = db.execute(
            "SELECT fed_ns FROM queue WHERE seq > ? ORDER BY seq LIMIT 1", (cursor,)
        ).fetchone()
        return int(count), None if first is None else int(first[0])

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
