"""Settlement beside a running node: the queue's feed, the embedded worker, the live report.

``tokex serve`` makes one :class:`Settlement` after recovering the engine
and before starting the pipeline:

1. :meth:`Settlement.open` opens the queue and re-derives from the journal
   whatever the queue lacks (:mod:`settlement.backfill`), then listens to
   the node: every durable batch becomes messages (:mod:`settlement.extract`)
   put on the queue in engine order. Nothing else feeds the queue.
2. :meth:`Settlement.start` starts the worker as a supervised child process
   unless the configuration says the operator runs it (``embedded_worker =
   false``: ``tokex settlement run``).
3. :meth:`Settlement.floor` is the node's retention floor (the journal stays
   replayable from the queue's tail and the ledger's position), and
   :meth:`Settlement.report` the ``settlement`` report the operator API serves.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from node.config import Config
from node.interface import Node, Sequenced
from node.metrics import Metrics
from settlement.backfill import rederive
from settlement.extract import Extractor
from settlement.queue import (
    QueueError,
    QueueWriter,
    backend_name,
    open_reader,
    open_writer,
    settlement_dir,
)
from settlement.records import Message
from settlement.sqlite_queue import SqliteReader, SqliteWriter
from settlement.status import build, continuous, ledger_view, open_view
from settlement.worker import Worker

__all__ = ["Settlement", "ledger_position"]

_TRIM_AT = 10_000
"""Fed messages remembered before the booked ones are forgotten (reports trim too)."""


def ledger_position(data: Path) -> tuple[int, int]:
    """The seq the ledger of ``data`` has booked through and its queue cursor (0, 0: none)."""
    path = data / "settlement" / "ledger.sqlite"
    if not path.exists():
        return 0, 0
    db = open_view(path)
    try:
        seq, cursor = db.execute("SELECT seq, cursor FROM position").fetchone()
        return int(seq), int(cursor)
    finally:
        db.close()


class Settlement:
    """The node's side of settlement (see the module docstring).

    ``engine_trades`` tells how many trades the engine has made (for the lag).
    """

    def __init__(
        self,
        node: Node,
        config: Config,
        data: Path,
        engine_trades: Callable[[], int],
        config_path: Path | None = None,
    ) -> None:
        self.node = node
        self.config = config
        self.config_path = config_path
        """The configuration file the worker process reads (None: the built-in demo)."""
        self.data = data
        self.engine_trades = engine_trades
        self.extractor = Extractor(config.genesis)
        self.writer: QueueWriter = open_writer(config.settlement, data)
        self.worker: Worker | None = None
        self.child: subprocess.Popen[bytes] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self.prev = 0
        self._fed: collections.deque[tuple[int, int]] = collections.deque()
        self._view: sqlite3.Connection | None = None
        self.rederived = 0

    async def open(self, journal_seq: int) -> None:
        """Open the queue, re-derive what it lacks up to ``journal_seq``, listen to the node.

        Raises QueueError if the queue cannot be opened or holds more than
        the journal (a journal that lost its end), BackfillError if the
        journal cannot be replayed from the queue's tail.
        """
        tail = await self.writer.open()
        if tail > journal_seq:
            raise QueueError(
                f"the settlement queue holds seq {tail}, beyond the journal's last {journal_seq}"
                " (the journal lost its end: was fsync off?)"
            )
        booked, cursor = ledger_position(self.data)
        # The queue's backlog from before this start, for the lag figures.
        self._fed.extend(await self.writer.pending_after(cursor))
        # A queue emptied behind the ledger's back (a new stream) continues from the ledger.
        start = max(tail, booked) if booked <= journal_seq else tail
        self.prev = start
        if start < journal_seq:
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(
                None, rederive, self.data, start, journal_seq, self.extractor
            )
            self._put(found)
            self.rederived = len(found)
            await self.writer.flush()
        self.node.add_listener(self._on_batch)

    def _put(self, messages: list[Message]) -> None:
        if not messages:
            return
        self.prev = messages[-1].seq
        self._fed.extend((m.seq, m.fed_ns) for m in messages)
        self.writer.put(messages)

    def _on_batch(self, applied: list[Sequenced]) -> None:
        balance = self.node.balance

        def balance_of(account: str, asset: str) -> int:
            return balance(account, asset).balance

        self._put(self.extractor.batch(applied, self.prev, balance_of, time.time_ns()))
        if len(self._fed) > _TRIM_AT:
            self._trim()

    async def start(self, in_process: bool = False) -> None:
        """Start the worker, unless the configuration leaves it to another process.

        By default it runs as a child process of this one (``python -m
        settlement run --parent``), supervised: booking then never competes
        with the gateways for this process's interpreter lock (in this process
        it cost the lag a factor of 5 under load, see docs/SETTLEMENT.md). With
        ``in_process`` it runs on this event loop (the tests' and the
        benchmark's choice).
        """
        if not self.config.settlement.embedded_worker:
            return
        if in_process:
            reader = open_reader(self.config.settlement, self.data)
            if isinstance(reader, SqliteReader) and isinstance(self.writer, SqliteWriter):
                self.writer.on_stored = reader.wake
            self.worker = Worker(self.config, self.data, reader, self.node.now)
            await self.worker.start()
            return
        self._spawn()
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(), name="settlement-supervisor"
        )

    def _spawn(self) -> None:
        command = [sys.executable, "-m", "settlement", "run", "--data", str(self.data)]
        command += ["--parent", str(os.getpid())]
        if self.config_path is not None:
            command += ["--config", str(self.config_path)]
        # Its errors go to this process's stderr; its start line is not needed.
        self.child = subprocess.Popen(command, stdout=subprocess.DEVNULL)

    async def _supervise(self) -> None:
        """Start the worker again if it dies (it resumes from the ledger's position)."""
        while not self._closing:
            await asyncio.sleep(0.5)
            child = self.child
            # A clean exit (0) is a stop asked for (Ctrl-C reaches the whole process group).
            if child is not None and child.poll() not in (None, 0) and not self._closing:
                print(
                    f"tokex serve: settlement worker exited ({child.returncode}); starting again",
                    file=sys.stderr,
                    flush=True,
                )
                await asyncio.sleep(1.0)
                if not self._closing:
                    self._spawn()

    def _view_db(self) -> sqlite3.Connection:
        if self._view is None:
            self._view = open_view(settlement_dir(self.data) / "ledger.sqlite")
        return self._view

    def _trim(self) -> int:
        """Forget the fed messages the ledger has booked; the ledger's seq."""
        if self.worker is not None and hasattr(self.worker, "ledger"):
            seq = self.worker.ledger.seq
        else:
            seq = int(self._view_db().execute("SELECT seq FROM position").fetchone()[0])
        fed = self._fed
        while fed and fed[0][0] <= seq:
            fed.popleft()
        return seq

    def floor(self) -> int:
        """The lowest seq the journal must stay replayable from (the node's retention floor)."""
        return min(self.writer.stored, self._trim())

    async def publish_gauges(self, metrics: Metrics, every_s: float = 1.0) -> None:
        """Keep the node's settlement gauges (``/metrics``) current until closed."""
        while not self._closing:
            report = self.report()
            lag = report["lag"]
            metrics.set_settlement(
                report["queue"]["depth_messages"], lag["trades"], float(lag["seconds"])
            )
            await asyncio.sleep(every_s)

    def report(self) -> dict[str, Any]:
        """The ``settlement`` status report (continuous reconciliation)."""
        self._trim()
        view = ledger_view(self._view_db())
        first = self._fed[0][1] if self._fed else None
        report = build(
            backend_name(self.config.settlement),
            view,
            (len(self._fed), first),
            self.engine_trades(),
            time.time_ns(),
            [continuous(view)],
        )
        if self.worker is not None and self.worker.error is not None:
            report["error"] = self.worker.error
        return report

    async def close(self) -> None:
        """Store what is fed, stop the worker, close the queue."""
        self._closing = True
        await self.writer.flush()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        child = self.child
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(child.wait), 30)
            except TimeoutError:
                child.kill()
                child.wait()
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None
        await self.writer.close()
        if self._view is not None:
            self._view.close()
            self._view = None
