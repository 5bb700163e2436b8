"""The running exchange: data directory, engine, journal and sequencer on one event loop.

:class:`Exchange` owns the pipeline every gateway feeds: ``await submit(command)``
stamps, journals and applies the command and returns its events once the
command is durable. Commands arriving while a batch is being made durable
gather into the next batch (group commit): the committer applies a batch,
runs the journal's ``fsync`` in a worker thread so the loop keeps taking
commands, then answers the whole batch at once and hands every event, in
engine order, to the listeners (the gateways' private and public feeds).

Time comes from a :class:`Clock`: the system clock, or a simulated one that
only the operator moves (``--clock sim:...``); a timer task sends the
engine's due timers (phase changes, expiries, dead man's switches) at their
instants on that clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from engine.engine import Engine
from model.commands import Command, NewOrder
from model.order import Order
from node.clock import Clock
from node.config import Config
from node.interface import Balance, Busy, Done, Failed, Listener, MarketState, OrderView, Refusal
from node.journal import JournalWriter
from node.metrics import Metrics
from node.recovery import Recovered, prune, recover
from node.sequencer import Sequenced, Sequencer
from node.store import write_genesis, write_snapshot_in_background

__all__ = ["MAX_QUEUE", "Exchange"]


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


MAX_QUEUE = 50_000
"""Requests waiting for the pipeline beyond which new ones are refused (``EService:Busy``)."""


@dataclass
class Exchange:
    """One exchange: recover or create ``data``, then serve commands through the pipeline.

    It is the :class:`node.interface.Node` every gateway is written against:
    the pipeline (``enqueue*``), the stream of durable batches
    (:meth:`add_listener`) and the queries, which copy state out of the
    engine into plain structs.
    """

    config: Config
    data: Path
    clock: Clock
    snapshot_every: int = 100_000
    listeners: list[Listener] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.recovered: Recovered | None = None
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._since_snapshot = 0
        self._children: list[int] = []
        self._closing = False
        self._busy = False
        self.metrics = Metrics()
        self.metrics.pipeline_depth = lambda: len(self._queue)
        self._snapshot_seqs: dict[int, int] = {}
        self._reports: dict[str, Callable[[], dict[str, Any]]] = {}
        self._retention: list[Callable[[], int]] = []

    # ---------------------------------------------------------------- start

    def open(self) -> None:
        """Create the data directory (genesis, opening deposits) or recover it."""
        fresh = not (self.data / "genesis.tkx").exists()
        if fresh:
            # The schedules start when the data directory is created, on the exchange clock.
            genesis = msgspec.structs.replace(self.config.genesis, start_ts=self.clock.now())
            write_genesis(self.data, genesis)
        self.recovered = recover(self.data)
        writer = JournalWriter(
            self.data / "journal",
            self.recovered.next_seq,
            self.config.fsync,  # type: ignore[arg-type]
        )
        self.sequencer = Sequencer(self.recovered.engine, writer, self.clock.now)
        if fresh and self.config.deposits:
            # The opening balances go through the journal like any deposit.
            self.sequencer.commit(self.config.deposits)
        self.metrics.recovered(self.engine.orders.values(), self.engine.last_seq)
        if self.recovered.snapshot is not None:
            written = self.recovered.snapshot.stat().st_mtime
            self.metrics.snapshot_written(self.recovered.snapshot_seq, written)

    @property
    def engine(self) -> Engine:
        return self.sequencer.engine

    async def start(self) -> None:
        """Start the committer and the timer tasks on the running loop."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._committer(), name="committer"),
            loop.create_task(self._timers(), name="timers"),
            loop.create_task(self.metrics.watch_loop(), name="loop-lag"),
        ]

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
        self.sequencer.writer.close()
        for pid in self._children:
            os.waitpid(pid, 0)

    # ------------------------------------------------------------- time

    def now(self) -> int:
        return self.clock.now()

    @property
    def simulated_clock(self) -> bool:
        return self.clock.simulated

    def advance_clock(self, ns: int) -> int:
        return self.clock.advance(ns)

    def add_listener(self, listener: Listener) -> None:
        self.listeners.append(listener)

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
        executions. Raises :class:`Busy` (queue full) or RuntimeError
        (shutting down); nothing is queued then. A command the journal cannot
        take (it cannot be encoded) is not applied and goes to ``on_error``.
        """
        self._push(_Pending((command,), on_done, on_error=on_error))

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
        self._push(_Pending(tuple(commands), on_done, on_error=on_error))

    def enqueue_query(self, query: Callable[[], None], on_done: Callable[[], None]) -> None:
        """Run ``query`` against the engine in its turn among the commands; ``on_done`` after.

        The read-only requests (``validate``) see the state exactly after the
        commands queued before them, and are answered in the same order as
        those commands, without going into the journal.
        """
        self._push(_Pending((), lambda _: on_done(), query=query))

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
        self._push(_Pending((), after=after))

    def enqueue_tick(self, on_done: Callable[[list[Sequenced]], None] | None = None) -> None:
        """Run the timers due now through the pipeline (the timer task and clock_advance)."""
        self._push(_Pending((), on_done))

    def _push(self, pending: _Pending) -> None:
        if self._closing:
            raise RuntimeError("the exchange is shutting down")
        if len(self._queue) >= MAX_QUEUE:
            raise Busy(f"{len(self._queue)} requests waiting")
        self._queue.append(pending)
        self._wake.set()

    async def submit(self, command: Command) -> list[Sequenced]:
        """:meth:`enqueue` and wait until it is durable; return its result."""
        future: asyncio.Future[list[Sequenced]] = asyncio.get_running_loop().create_future()
        self._push(_Pending((command,), future=future))
        return await future

    async def tick(self) -> list[Sequenced]:
        """:meth:`enqueue_tick` and wait until its timers are durable."""
        if self._closing:
            return []
        future: asyncio.Future[list[Sequenced]] = asyncio.get_running_loop().create_future()
        self._push(_Pending((), future=future))
        return await future

    def _apply_batch(self) -> tuple[list[_Pending], list[list[Sequenced]]]:
        batch, self._queue = self._queue, []
        results: list[list[Sequenced]] = []
        sequencer = self.sequencer
        for pending in batch:
            if pending.query is not None or pending.after is not None:
                if pending.query is not None:
                    pending.query()
                results.append([])
                continue
            try:
                results.append(sequencer.submit_group(pending.commands))
            except (ValueError, TypeError, OverflowError) as e:
                # The journal could not take it (too large, not encodable):
                # not applied. (A batch's earlier parts wait unplaced.)
                results.append([])
                pending.failed = e
        return batch, results

    def _deliver(self, batch: list[_Pending], results: list[list[Sequenced]]) -> None:
        applied: list[Sequenced] = []
        for pending, result in zip(batch, results, strict=True):
            future = pending.future
            if pending.failed is not None:
                # Refused before it reached the journal.
                if future is not None:
                    future.set_exception(pending.failed)
                if pending.on_error is not None:
                    _guarded(pending.on_error, pending.failed)
                continue
            if pending.on_done is not None:
                _guarded(pending.on_done, result)
            if future is not None:
                future.set_result(result)
            applied += result
        self._since_snapshot += len(applied)
        _guarded(self.metrics.on_batch, applied)
        for listener in self.listeners:
            _guarded(listener, applied)
        for pending in batch:
            if pending.after is not None:
                _guarded(pending.after)
        self._snapshot_maybe()

    async def _committer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._queue:
                continue
            self._busy = True
            try:
                batch, results = self._apply_batch()
                # fsync in a worker thread: the loop keeps gathering the next batch.
                await loop.run_in_executor(None, self.sequencer.flush)
                self.metrics.on_flush(*self.sequencer.writer.last_flush)
                self._deliver(batch, results)
            finally:
                self._busy = False

    async def _timers(self) -> None:
        while True:
            due = self.engine.next_timer()
            now = self.clock.now()
            if due is not None and due <= now:
                await self.tick()
                continue
            if self.clock.simulated or due is None:
                await asyncio.sleep(0.05)
            else:
                await asyncio.sleep(min(0.05, (due - now) / 1e9))

    def _snapshot_maybe(self) -> None:
        for pid in list(self._children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self._children.remove(pid)
                seq = self._snapshot_seqs.pop(pid)
                if status == 0:
                    self.metrics.snapshot_written(seq, time.time())
                    floors = [floor() for floor in self._retention]
                    prune(self.data, min(floors) if floors else None)
        if self.snapshot_every and self._since_snapshot >= self.snapshot_every:
            self._since_snapshot = 0
            pid = write_snapshot_in_background(self.data, self.engine)
            self._children.append(pid)
            self._snapshot_seqs[pid] = self.engine.last_seq

    # -------------------------------------------------------------- queries

    def open_orders(self, account: str) -> list[OrderView]:
        mine = self.engine.by_account.get(account, {})
        return [_view(o) for o in sorted(mine.values(), key=_order_id)]

    def order(self, order_id: int) -> OrderView | None:
        order = self.engine.orders.get(order_id)
        return None if order is None else _view(order)

    def find_order(
        self, account: str, order_id: int | None, cl_ord_id: str | None
    ) -> OrderView | None:
        order = self.engine.find_order(account, order_id, cl_ord_id)
        return None if order is None else _view(order)

    def book(self, symbol: str, depth: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return self.engine.books[symbol].depth(depth)

    def balance(self, account: str, asset: str) -> Balance:
        risk = self.engine.risk
        if risk is None:
            return Balance(asset, 0, 0)
        acct = risk.accounts[account]
        return Balance(asset, acct.balance[asset], acct.held[asset])

    def market(self, symbol: str) -> MarketState:
        engine = self.engine
        risk = engine.risk
        if risk is None:
            return MarketState(symbol, engine.sessions[symbol].phase, 0)
        band = risk.band(symbol) or (0, 0)
        reference = risk.markets[symbol].reference or 0
        return MarketState(symbol, engine.sessions[symbol].phase, reference, *band)


def _order_id(order: Order) -> int:
    return order.order_id


def _view(o: Order) -> OrderView:
    """A copy of an open order as plain data (what crosses to a gateway)."""
    return OrderView(
        order_id=o.order_id,
        account=o.account,
        symbol=o.symbol,
        side=o.side,
        order_type=o.order_type,
        tif=o.tif,
        price=o.price,
        qty=o.qty,
        leaves=o.shown + o.hidden,
        filled=o.filled,
        cost=o.cost,
        stop=o.stop,
        trigger_price=o.trigger_price,
        display_qty=o.display_qty,
        expire_ts=o.expire_ts,
        post_only=o.post_only,
        stp=o.stp,
        cl_ord_id=o.cl_ord_id,
        userref=o.userref,
    )


def _guarded(callback: Callable[..., None], *args: object) -> None:
    """Call a gateway's callback; a bug in one is printed and never stops the pipeline.

    The batch is already durable and applied: stopping here would leave every
    later request unanswered, so the error is reported and delivery goes on.
    """
    try:
        callback(*args)
    except Exception:
        traceback.print_exc(file=sys.stderr)
