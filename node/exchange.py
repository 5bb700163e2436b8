"""The running exchange: data directory, engine, journal and sequencer on one event loop.

:class:`Exchange` owns the pipeline every gateway feeds: ``await submit(command)``
stamps, journals and applies the command and returns its events once the
command is durable. Commands arriving while a batch is being made durable
gather into the next batch (group commit): the committer applies a batch,
runs the journal's ``fsync`` in a worker thread so the loop keeps taking
commands, then answers the whole batch at once and hands every event, in
engine order, to the listeners (the gateways' private and public feeds).

Back-pressure: order entry (new orders, batches, amends, replaces, dry runs)
is refused with :class:`Busy` while ``queue_limit`` commands already wait
for the sequencer, or while the oldest of them has waited ``queue_wait_ms``
(so what an accepted order waits stays bounded however fast this machine
commits today); cancels, operator commands, subscriptions' barriers and
timers are always taken. A commit cycle takes at most :data:`MAX_BATCH`
commands, so the loop reads (and refuses) requests between cycles instead of
stalling behind one huge batch.

Besides the engine, the node keeps two stores of its own in the data
directory: the history (:mod:`node.history`: trades, orders, ledger
entries), fed every durable batch before any gateway hears of it and
caught up from the journal's tail at start; and the access store
(:mod:`node.access`: login nonces and session tokens).

Between batches the :class:`~node.snapshotter.Snapshotter` writes snapshots
(by records since the newest, whichever process wrote it, and by age) and
prunes old ones once the history is durable past the new one.

Time comes from a :class:`Clock`: the system clock, or a simulated one that
only the operator moves (``--clock sim:...``; after a restart it goes on
from the journal's last time if that is later); a timer task sends the
engine's due timers (phase changes, expiries, dead man's switches) at their
instants on that clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from engine.engine import Engine
from engine.events import Event
from model.commands import AmendOrder, Command, NewOrder, ReplaceOrder, RunTimers
from node.access import AccessStore
from node.clock import Clock
from node.config import Config
from node.history import History
from node.interface import (
    Busy,
    ClosedOrder,
    Done,
    EngineQueries,
    Failed,
    LedgerEntry,
    Listener,
    Refusal,
    TradeRecord,
)
from node.journal import JournalError, JournalWriter, payloads
from node.metrics import Metrics
from node.recovery import Recovered, recover
from node.sequencer import Sequenced, Sequencer, Unjournaled
from node.snapshotter import Snapshotter
from node.store import snapshots, write_genesis
from node.syncs import RecentSyncs, SyncThread
from risk.money import Pair

__all__ = ["MAX_BATCH", "Exchange"]


@dataclass
class _Pending:
    """One entry of the pipeline's queue: commands applied back to back, a query, or a tick."""

    commands: tuple[Command, ...]
    on_done: Callable[[list[Sequenced]], None] | None = None
    future: asyncio.Future[list[Sequenced]] | None = None
    query: Callable[[], None] | None = None
    on_error: Callable[[Exception], None] | None = None
    failed: Exception | None = None
    after: Callable[[], None] | None = None
    on_applied: Callable[[list[Sequenced]], None] | None = None
    """Called as soon as the engine applied the commands, before they are durable
    (:meth:`Exchange.enqueue_early`)."""
    at: float = field(default_factory=time.monotonic)
    """When it was queued (the age of the queue's head bounds what a new command waits)."""


MAX_BATCH = 256
"""Commands one commit cycle applies at most (the rest wait for the next cycle)."""
INLINE_BATCH = 2
"""The largest batch (commands) a committer syncs on the event loop: the pipeline is quiet
when its batch holds at most this and nothing else is queued, and then, while the disk
has been quick (node/syncs.py), the sync runs on the loop rather than in a worker thread
(the pipelined committer's too: nothing is applied ahead of a quiet batch). Under load
the loop has better things to do while the disk syncs (reading and parsing, and with
pipelining applying, the next batch's requests)."""
MAX_AHEAD = 1024
"""Commands the pipelined committer applies ahead, at most, while one batch syncs."""
_ORDER_ENTRY = (NewOrder, AmendOrder, ReplaceOrder)
"""Commands refused with Busy past the queue limit (a BatchOrder is a NewOrder)."""


@dataclass
class Exchange(EngineQueries):
    """One exchange: recover or create ``data``, then serve commands through the pipeline.

    It is the :class:`node.interface.Node` every gateway is written against:
    the pipeline (``enqueue*``), the stream of durable batches
    (:meth:`add_listener`) and the queries, which copy state out of the
    engine into plain structs.
    """

    config: Config
    data: Path
    clock: Clock
    listeners: list[Listener] = field(default_factory=list)
    early_listeners: list[Listener] = field(default_factory=list)
    """In-process parts hearing each batch as soon as it is applied (:meth:`add_early_listener`)."""

    def __post_init__(self) -> None:
        self.recovered: Recovered | None = None
        self.queue_limit = self.config.queue_limit
        self.queue_wait = self.config.queue_wait_ms / 1000
        self._queue: list[_Pending] = []
        self._queued = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._busy = False
        self.metrics = Metrics()
        self.metrics.pipeline_depth = lambda: len(self._queue)
        self._reports: dict[str, Callable[[], dict[str, Any]]] = {}
        self.pipelined = False
        """Apply the next batch while one is synced (``tokex serve --workers N``, N > 0)."""
        self._syncs = RecentSyncs()
        """How long the journal's last writes and syncs took."""
        self._retention: list[Callable[[], int]] = []
        self._syncer: SyncThread | None = None
        self.encoded: list[bytes] | None = None
        """While the listeners (or the early listeners) hear a batch: its commands as
        encoded for the journal, one payload per item of the batch, in order (None:
        not at hand, encode them)."""

    # ---------------------------------------------------------------- start

    def open(self) -> None:
        """Create the data directory (genesis, opening deposits) or recover it.

        The history catches up with the journal's tail; a simulated clock
        goes on from the journal's last time; the access store is read.
        """
        fresh = not (self.data / "genesis.tkx").exists()
        if fresh:
            # The schedules start when the data directory is created, on the exchange clock.
            genesis = msgspec.structs.replace(self.config.genesis, start_ts=self.clock.now())
            write_genesis(self.data, genesis)
        history = self.history = History(
            self.data / "history.sqlite", self.config.instruments, _lot_units(self.config)
        )
        history.open()
        last_ts = history.ts

        def replayed(command: Command, events: list[Event]) -> None:
            nonlocal last_ts
            last_ts = command.ts
            history.replayed(command, events)

        try:
            self.recovered = recover(self.data, snapshot_at_most=history.seq, on_replay=replayed)
        except JournalError:
            newest = snapshots(self.data)
            if not newest or newest[0][0] <= history.seq:
                raise  # the journal itself is damaged: nothing to fall back to

            # The history is behind every snapshot and the journal before them was
            # pruned (a lost or new history file): it starts again from here, and
            # takes none of the tail (its entries would lack what came before).
            def timed(command: Command, events: list[Event]) -> None:
                nonlocal last_ts
                last_ts = command.ts

            self.recovered = recover(self.data, on_replay=timed)
            history.restart_at(
                self.recovered.engine.last_seq, last_ts, self._all_balances(self.recovered.engine)
            )
        history.commit()
        history.checkpoint()
        recovered = self.recovered
        self.clock.resume(last_ts)
        writer = JournalWriter(
            self.data / "journal",
            recovered.next_seq,
            self.config.fsync,  # type: ignore[arg-type]
        )
        self.sequencer = Sequencer(recovered.engine, writer, self.clock.now)
        self.sequencer.last_ts = last_ts  # time never goes back in the journal, restarts or not
        self.snapshotter = Snapshotter(
            self.data,
            history,
            self.config.snapshot_records,
            self.config.snapshot_seconds,
            self._retention_floor,
            self.metrics.snapshot_written,
        )
        if fresh and self.config.deposits:
            # The opening balances go through the journal like any deposit.
            history.apply(self.sequencer.commit(self.config.deposits))
        self.access = AccessStore(self.data / "access.sqlite")
        self.access.open()
        self.metrics.recovered(self.engine.orders.values(), self.engine.last_seq)
        if recovered.snapshot is not None:
            written = recovered.snapshot.stat().st_mtime
            self.metrics.snapshot_written(recovered.snapshot_seq, written)

    def _all_balances(self, engine: Engine) -> dict[tuple[str, str], int]:
        risk = engine.risk
        if risk is None:
            return {}
        assets = [a.id for a in self.config.genesis.assets]
        return {
            (account, asset): risk.accounts[account].balance[asset]
            for account in risk.accounts
            for asset in assets
        }

    @property
    def engine(self) -> Engine:
        return self.sequencer.engine

    async def start(self) -> None:
        """Start the committer and the timer tasks on the running loop."""
        loop = asyncio.get_running_loop()
        if self.pipelined:
            # With gateway workers the node's loop is the bottleneck: SQLite off it.
            self.history.start_writer()
        self._tasks = [
            loop.create_task(self._committer(), name="committer"),
            loop.create_task(self._timers(), name="timers"),
            loop.create_task(self.metrics.watch_loop(), name="loop-lag"),
        ]
        # Consumers named what they must be able to replay by now (add_retention).
        self.snapshotter.start()
        await self.access.start()

    async def close(self) -> None:
        """Answer what is queued, stop the tasks, close the journal, reap snapshot writers."""
        self._closing = True
        # Let the committer finish the batch in hand and what is queued.
        while self._busy or self._queue:
            self._wake.set()
            await asyncio.sleep(0.005)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._syncer is not None:
            self._syncer.close()
        self.sequencer.writer.close()
        await self.access.close()
        self.snapshotter.close()
        self.history.close()

    # ------------------------------------------------------------- time

    def now(self) -> int:
        return self.clock.now()

    @property
    def simulated_clock(self) -> bool:
        return self.clock.simulated

    def advance_clock(self, ns: int) -> int:
        """Move a simulated clock on, and journal the new time.

        A ``RunTimers`` at the new time goes into the pipeline (after the
        timers the jump passed, each at its own instant), so the journal's
        last time is where the clock stands and a restart resumes there.
        """
        now = self.clock.advance(ns)
        self._push(_Pending((RunTimers(0, 0),)), False)
        return now

    def add_listener(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def connected(self, delta: int) -> None:
        """A gateway in this process counts its connections: nothing to do here."""

    def add_early_listener(self, listener: Listener) -> None:
        """Hear every batch as soon as the engine has applied it, before it is durable.

        For a part in this process that prepares what it will say about a batch
        while the journal syncs it, and says nothing of it before the batch is
        published (its :meth:`add_listener` listener hears the same batch, or a
        run of such batches as one, once durable). ``applied_seq`` is the
        journal number of the last record applied when the listener is
        called. The engine holds exactly the state after that batch then, so
        the listener may read it.
        """
        self.early_listeners.append(listener)

    @property
    def applied_seq(self) -> int:
        """The journal number of the last record the engine applied (durable or not yet)."""
        return self.sequencer.writer.next_seq - 1

    # ------------------------------------------------------------- reports

    def add_report(self, name: str, report: Callable[[], dict[str, Any]]) -> None:
        """Serve ``report()`` as :meth:`report` ``(name)`` (a consumer's status, for operators)."""
        self._reports[name] = report

    def report(self, name: str) -> dict[str, Any] | None:
        found = self._reports.get(name)
        return None if found is None else found()

    def add_retention(self, floor: Callable[[], int]) -> None:
        """Keep the journal replayable from ``floor()`` on when pruning after snapshots.

        A consumer of the event stream that may have to re-derive the events
        after some seq from the journal (settlement, after a crash) names that
        seq; :func:`node.recovery.prune` then keeps a snapshot at or before it
        and every segment after that snapshot.
        """
        self._retention.append(floor)

    def _retention_floor(self) -> int | None:
        floors = [floor() for floor in self._retention]
        return min(floors) if floors else None

    # ------------------------------------------------------------- pipeline

    def enqueue(
        self,
        command: Command,
        on_done: Done | None = None,
        on_error: Failed | None = None,
    ) -> None:
        """Queue ``command`` for the next batch; ``on_done`` gets its result once durable.

        The result lists the timers that went in before it and, last, the
        command itself with its events. ``on_done`` is called as soon as the
        batch is durable, before any listener hears of the batch's events: a
        gateway answers there, so the answer always precedes the command's
        executions. Raises :class:`Busy` (order entry while ``queue_limit``
        commands wait) or RuntimeError (shutting down); nothing is queued
        then. A command the journal cannot take (it cannot be encoded) is not
        applied and goes to ``on_error``.
        """
        self._push(_Pending((command,), on_done, on_error=on_error), _entry(command))

    def enqueue_group(
        self,
        commands: list[Command],
        on_done: Done | None = None,
        on_error: Failed | None = None,
    ) -> None:
        """Queue commands to go in back to back, at one instant, with nothing between them.

        For requests that become several commands (a batch of orders, a list
        of cancels): the timers due run once before the first, and the
        commands are durable together and answered before any of their
        events reach a listener. ``on_done`` gets the timers' and then each
        command's ``(command, events)``.
        """
        self._push(
            _Pending(tuple(commands), on_done, on_error=on_error), any(map(_entry, commands))
        )

    def enqueue_early(
        self,
        commands: list[Command],
        on_applied: Done,
        on_done: Done | None = None,
        on_error: Failed | None = None,
    ) -> None:
        """:meth:`enqueue_group`, and ``on_applied`` gets the result as soon as it is applied.

        ``on_applied`` runs before the batch is durable and before the early
        listeners hear it (:meth:`add_early_listener`); ``on_done`` still runs
        once it is durable. A command the journal cannot take reaches neither
        ``on_applied`` nor ``on_done``, only ``on_error``.
        """
        self._push(
            _Pending(tuple(commands), on_done, on_error=on_error, on_applied=on_applied),
            any(map(_entry, commands)),
        )

    def enqueue_query(self, query: Callable[[], None], on_done: Callable[[], None]) -> None:
        """Run ``query`` against the engine in its turn among the commands; ``on_done`` after.

        The read-only requests (``validate``) see the state exactly after the
        commands queued before them, and are answered in the same order as
        those commands, without going into the journal.
        """
        self._push(_Pending((), lambda _: on_done(), query=query), True)

    def enqueue_check(
        self, orders: Sequence[NewOrder], on_done: Callable[[Refusal | None], None]
    ) -> None:
        """Dry-run ``orders`` together (``validate``) in their turn; nothing is journaled.

        The check sees the state exactly after the commands queued before it
        and is answered in order with them.
        """
        found: list[Refusal | None] = []

        def check() -> None:
            refusal = self.engine.check_orders(orders)
            found.append(None if refusal is None else Refusal(*refusal))

        self.enqueue_query(check, lambda: on_done(found[0]))

    def enqueue_barrier(self, after: Callable[[], None]) -> None:
        """Call ``after`` once everything queued before it is durable and published.

        It runs after the listeners have seen that batch's events, with the
        engine holding exactly the durable state: a subscription taken there
        gets a snapshot that its updates continue with no gap and no repeat,
        and never shows anything not yet journaled.
        """
        self._push(_Pending((), after=after), False)

    def enqueue_tick(self, on_done: Callable[[list[Sequenced]], None] | None = None) -> None:
        """Run the timers due now through the pipeline (the timer task and clock_advance)."""
        self._push(_Pending((), on_done), False)

    def _push(self, pending: _Pending, entry: bool) -> None:
        """Queue ``pending``; order entry (``entry``) only while fewer than the limit wait."""
        if self._closing:
            raise RuntimeError("the exchange is shutting down")
        if entry and self.busy:
            raise Busy(f"{self._queued} commands waiting")
        self._queue.append(pending)
        self._queued += len(pending.commands) or 1
        self._wake.set()

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def busy(self) -> bool:
        if self._queued >= self.queue_limit:
            return True
        queue = self._queue
        return bool(queue) and time.monotonic() - queue[0].at > self.queue_wait

    async def submit(self, command: Command) -> list[Sequenced]:
        """:meth:`enqueue` and wait until it is durable; return its result."""
        future: asyncio.Future[list[Sequenced]] = asyncio.get_running_loop().create_future()
        self._push(_Pending((command,), future=future), _entry(command))
        return await future

    async def tick(self) -> list[Sequenced]:
        """:meth:`enqueue_tick` and wait until its timers are durable."""
        if self._closing:
            return []
        future: asyncio.Future[list[Sequenced]] = asyncio.get_running_loop().create_future()
        self._push(_Pending((), future=future), False)
        return await future

    def _apply_batch(self, limit: int = MAX_BATCH) -> tuple[list[_Pending], list[list[Sequenced]]]:
        """Apply the queue's entries, up to ``limit`` commands (at least one entry)."""
        queue = self._queue
        taken = count = 0
        while taken < len(queue) and count < limit:
            count += len(queue[taken].commands) or 1
            taken += 1
        batch = queue[:taken]
        del queue[:taken]
        self._queued -= count
        results: list[list[Sequenced]] = []
        sequencer = self.sequencer
        gathered = sequencer.writer.gathered()
        for pending in batch:
            if pending.query is not None or pending.after is not None:
                if pending.query is not None:
                    pending.query()
                results.append([])
                continue
            try:
                result = sequencer.submit_group(pending.commands)
            except Unjournaled as e:
                # The journal could not take it (too large, not encodable): not
                # applied. The timers that ran before it were, and are published.
                results.append(e.applied)
                pending.failed = e.error
                continue
            results.append(result)
            if pending.on_applied is not None:
                _guarded(pending.on_applied, result)
        if self.early_listeners:
            applied = [item for result in results for item in result]
            # The commands as the journal's batch holds them (each encoded once, as
            # :meth:`_deliver` hands them on): an early worker's frame reuses them.
            encoded = sequencer.writer.gathered_payloads(gathered)
            self.encoded = encoded if len(encoded) == len(applied) else None
            try:
                for listener in self.early_listeners:
                    _guarded(listener, applied)
            finally:
                self.encoded = None
        return batch, results

    def _deliver(
        self,
        batch: list[_Pending],
        results: list[list[Sequenced]],
        upkeep: bool = True,
        encoded: list[bytes] | None = None,
    ) -> None:
        """Answer and publish a durable batch.

        ``encoded``: the batch's commands as the journal holds them (msgpack,
        in order), when the committer has them: a listener that sends the
        commands on (the worker hub) reads them from :attr:`encoded` instead
        of encoding every command again.
        """
        applied: list[Sequenced] = []
        for pending, result in zip(batch, results, strict=True):
            future = pending.future
            if pending.failed is not None:
                # Refused before it reached the journal (the timers before it did).
                if future is not None:
                    future.set_exception(pending.failed)
                if pending.on_error is not None:
                    _guarded(pending.on_error, pending.failed)
                applied += result
                continue
            if pending.on_done is not None:
                _guarded(pending.on_done, result)
            if future is not None:
                future.set_result(result)
            applied += result
        if applied:
            # The history first: a gateway's listener may ask it about this batch.
            self.history.apply(applied)
            self.snapshotter.batch_applied()
        _guarded(self.metrics.on_batch, applied)
        self.encoded = encoded if encoded is not None and len(encoded) == len(applied) else None
        for listener in self.listeners:
            _guarded(listener, applied)
        self.encoded = None
        for pending in batch:
            if pending.after is not None:
                _guarded(pending.after)
        if upkeep:  # never while a batch is applied ahead of the journal
            self.snapshotter.upkeep(self.engine)

    async def _committer(self) -> None:
        if self.pipelined:
            await self._pipelined_committer()
            return
        loop = asyncio.get_running_loop()
        syncer = self._syncer = SyncThread("journal-sync", loop)
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._queue:
                continue
            self._busy = True
            try:
                batch, results = self._apply_batch()
                if self._quiet(batch):
                    # A quiet pipeline and a quick disk: sync on the loop.
                    self._timed_flush()
                    self.metrics.inline_syncs += 1
                else:
                    # fsync in the sync thread: the loop keeps gathering the next batch.
                    synced: asyncio.Future[BaseException | None] = loop.create_future()
                    syncer.run(self._timed_flush, partial(_settle, synced))
                    error = await synced
                    if error is not None:
                        raise error  # the journal cannot be written: stop committing
                self.metrics.on_flush(*self.sequencer.writer.last_flush)
                self._deliver(batch, results)
            finally:
                self._busy = False
            if self._queue:  # more than one cycle's worth was waiting
                self._wake.set()

    def _quiet(self, batch: list[_Pending]) -> bool:
        """Whether ``batch`` may be synced on the loop (:data:`INLINE_BATCH`)."""
        size = sum(len(p.commands) or 1 for p in batch)
        return size <= INLINE_BATCH and not self._queue and self._syncs.quick()

    def _timed_flush(self) -> None:
        """Make the applied batch durable, and note how long that took."""
        began = time.perf_counter_ns()
        try:
            self.sequencer.flush()
        finally:
            self._syncs.add(time.perf_counter_ns() - began)

    def _may_apply_ahead(self, batch: list[_Pending]) -> bool:
        """Whether the next batch may be applied while ``batch`` is being made durable."""
        if not self._queue or self._closing:
            return False
        # A barrier's callback must see the engine exactly after its batch: nothing
        # may be applied ahead of one.
        return not any(p.after is not None for p in batch)

    async def _pipelined_committer(self) -> None:
        """Group commit with the next batch applied ahead: while batch k is written and
        synced (in a worker thread), every command arriving meanwhile is applied to the
        engine and framed into batch k+1 (up to :data:`MAX_AHEAD` commands), so the
        throughput is not bounded by the disk's sync time and a batch is as large as
        the sync before it was long. Each batch is still answered and published only
        once its own records are durable, in order; the engine's state ahead of the
        journal is never published (barriers and state readers stop the overlap) and
        no snapshot is taken while a batch is ahead.

        The committer sleeps on the one wake event: a new entry in the queue sets it,
        and so does the end of the sync (a done callback), so a wake costs no task.
        """
        loop = asyncio.get_running_loop()
        writer = self.sequencer.writer
        wake = self._wake
        metrics = self.metrics
        syncer = self._syncer = SyncThread("journal-sync", loop)

        ahead: tuple[list[_Pending], list[list[Sequenced]]] | None = None
        """The next batch, applied while the one in hand syncs: its entries and results."""
        ahead_commands = 0
        while True:
            if ahead is None:
                await wake.wait()
                wake.clear()
                if not self._queue:
                    continue
                batch, results = self._apply_batch()
            else:
                batch, results = ahead
                ahead, ahead_commands = None, 0
            taken = writer.take()
            self._busy = True
            try:
                if self._quiet(batch):
                    # A quiet pipeline and a quick disk: write and sync on the loop (the
                    # sync thread is idle: every batch handed to it is durable by now).
                    writer.write(taken)
                    metrics.inline_syncs += 1
                else:
                    syncing = _Sync(wake)
                    syncer.run(partial(writer.write, taken), syncing.finished)
                    while not syncing.done:
                        wake.clear()
                        room = MAX_AHEAD - ahead_commands
                        if room > 0 and self._may_apply_ahead(batch):
                            more, more_results = self._apply_batch(min(room, MAX_BATCH))
                            if ahead is None:
                                ahead = (more, more_results)
                                metrics.pipelined_batches += 1
                            else:
                                ahead[0].extend(more)
                                ahead[1].extend(more_results)
                            ahead_commands += sum(len(p.commands) or 1 for p in more)
                            continue
                        await wake.wait()
                    if syncing.error is not None:
                        raise syncing.error  # the journal cannot be written: stop committing
                flushed = writer.last_flush
                self._syncs.add(flushed[2] + flushed[3])
                metrics.on_flush(*flushed)
                self._deliver(batch, results, ahead is None, payloads(taken[1]))
            finally:
                self._busy = ahead is not None
            if self._queue and ahead is None:
                wake.set()

    async def _timers(self) -> None:
        while True:
            due = self.engine.next_timer()
            now = self.clock.now()
            if due is not None and due <= now:
                await self.tick()
                continue
            if not self._busy:
                self.snapshotter.upkeep(self.engine)
            if self.clock.simulated or due is None:
                await asyncio.sleep(0.05)
            else:
                await asyncio.sleep(min(0.05, (due - now) / 1e9))

    # -------------------------------------------------------------- history

    def recent_trades(self, symbol: str, limit: int = 50) -> list[TradeRecord]:
        return self.history.recent_trades(symbol, limit)

    def trades(self, symbol: str, since_ts: int) -> list[TradeRecord]:
        return self.history.trades(symbol, since_ts)

    def fills(self, account: str, limit: int = 50) -> list[TradeRecord]:
        return self.history.fills(account, limit)

    def closed_orders(self, account: str, limit: int = 50) -> list[ClosedOrder]:
        return self.history.closed_orders(account, limit)

    def ledger(self, account: str, limit: int = 50) -> list[LedgerEntry]:
        return self.history.ledger(account, limit)

    # -------------------------------------------------------------- access

    def login(
        self, api_key: str, nonce: int, on_done: Callable[[str], None], on_error: Failed
    ) -> None:
        account = self.config.access[api_key].account
        self.access.login(api_key, nonce, account, self.clock.now(), on_done, on_error)

    def use_nonce(
        self, api_key: str, nonce: int, on_done: Callable[[], None], on_error: Failed
    ) -> None:
        self.access.use_nonce(api_key, nonce, on_done, on_error)

    def session(self, token: str) -> str | None:
        return self.access.session(token, self.clock.now())


class _Sync:
    """One batch's write and sync, as the pipelined committer waits for it."""

    __slots__ = ("done", "error", "wake")

    def __init__(self, wake: asyncio.Event) -> None:
        self.done = False
        self.error: BaseException | None = None
        self.wake = wake

    def finished(self, error: BaseException | None) -> None:
        """On the loop, once the write returned (or raised ``error``): wake the committer."""
        self.done, self.error = True, error
        self.wake.set()


def _settle(future: asyncio.Future[BaseException | None], error: BaseException | None) -> None:
    """Answer a committer waiting for its sync (unless it was cancelled: shutting down)."""
    if not future.done():
        future.set_result(error)


def _entry(command: Command) -> bool:
    """Whether ``command`` is order entry (refused past the queue limit)."""
    return isinstance(command, _ORDER_ENTRY)


def _lot_units(config: Config) -> dict[str, int]:
    """Base-asset units in one lot of each symbol."""
    assets = {a.id: a for a in config.genesis.assets}
    return {
        s: Pair.of(i, assets[i.base], assets[i.quote]).lot_units
        for s, i in config.instruments.items()
    }


def _guarded(callback: Callable[..., None], *args: object) -> None:
    """Call a gateway's callback; a bug in one is printed and never stops the pipeline.

    The batch is already durable and applied: stopping here would leave every
    later request unanswered, so the error is reported and delivery goes on.
    """
    try:
        callback(*args)
    except Exception:
        traceback.print_exc(file=sys.stderr)
