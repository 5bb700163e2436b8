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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from engine.commands import Command
from engine.engine import Engine
from gateway.config import Config
from gateway.journal import JournalWriter
from gateway.recovery import Recovered, prune, recover
from gateway.sequencer import Sequenced, Sequencer
from gateway.store import write_genesis, write_snapshot_in_background

__all__ = ["MAX_QUEUE", "Busy", "Clock", "Exchange", "parse_clock"]

Listener = Callable[[list[Sequenced]], None]


class Clock:
    """The exchange's time in ns since the epoch (UTC): the system's, or a simulated one."""

    def __init__(self, start_ns: int | None = None) -> None:
        self.simulated = start_ns is not None
        self._now = start_ns or 0

    def now(self) -> int:
        return self._now if self.simulated else time.time_ns()

    def advance(self, ns: int) -> int:
        """Move a simulated clock on (ValueError on the system clock or a step back)."""
        if not self.simulated:
            raise ValueError("clock_advance: the exchange runs on the system clock")
        if ns < 0:
            raise ValueError(f"seconds {ns / 1e9}: must not be negative")
        self._now += ns
        return self._now


def parse_clock(text: str) -> Clock:
    """``system`` or ``sim:ISO8601`` (the ``--clock`` option); ValueError naming the problem."""
    if text == "system":
        return Clock()
    if text.startswith("sim:"):
        stamp = text[4:]
        try:
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"--clock {text}: {stamp!r} is not an ISO 8601 time") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = int(when.timestamp())
        return Clock(seconds * 10**9 + when.microsecond * 1_000)
    raise ValueError(f"--clock {text}: must be 'system' or 'sim:<ISO 8601 time>'")


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


class Busy(RuntimeError):
    """The pipeline already holds :data:`MAX_QUEUE` requests; nothing was queued."""


MAX_QUEUE = 50_000
"""Requests waiting for the pipeline beyond which new ones are refused (``EService:Busy``)."""


@dataclass
class Exchange:
    """One exchange: recover or create ``data``, then serve commands through the pipeline."""

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

    @property
    def engine(self) -> Engine:
        return self.sequencer.engine

    async def start(self) -> None:
        """Start the committer and the timer tasks on the running loop."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._committer(), name="committer"),
            loop.create_task(self._timers(), name="timers"),
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

    # ------------------------------------------------------------- pipeline

    def enqueue(
        self,
        command: Command,
        on_done: Callable[[list[Sequenced]], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
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
        on_done: Callable[[list[Sequenced]], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
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
                if status == 0:
                    prune(self.data)
        if self.snapshot_every and self._since_snapshot >= self.snapshot_every:
            self._since_snapshot = 0
            self._children.append(write_snapshot_in_background(self.data, self.engine))


def _guarded(callback: Callable[..., None], *args: object) -> None:
    """Call a gateway's callback; a bug in one is printed and never stops the pipeline.

    The batch is already durable and applied: stopping here would leave every
    later request unanswered, so the error is reported and delivery goes on.
    """
    try:
        callback(*args)
    except Exception:
        traceback.print_exc(file=sys.stderr)
