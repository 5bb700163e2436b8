"""The node's side of the gateway workers (``tokex serve --workers N``, docs/WORKERS.md).

:class:`WorkerHub` starts N worker processes (:mod:`tokex.worker`), each running
the WebSocket gateway on the same port (SO_REUSEPORT: the kernel spreads new
connections over them), and serves them over the channel (:mod:`node.channel`,
a Unix socket):

* a worker's requests go into the node's pipeline as they are
  (:class:`~node.exchange.Exchange` ``enqueue*``); the answers go back in the
  frame of the batch that made them durable;
* each durable batch's commands, as applied, are encoded once and sent to
  every worker, after that worker's answers; the worker's copy of the engine
  makes the events (the order a gateway in the node process sees: answers,
  then events);
* shared state that a rule needs across workers lives here: login nonces and
  session tokens (the node's :class:`~node.access.AccessStore`; every worker
  is told of each nonce taken, token issued and token used), and which
  accounts have connections on which worker (cancel-on-disconnect acts only
  when an account's last connection on every worker is gone);
* a worker that exits is started again; the accounts it had connections for
  count as disconnected from it;
* the FIX worker (index N, when a FIX session is configured) is an early
  worker: it gets each batch as soon as the engine applied it
  (:class:`~node.channel.Applied`, with its own requests' results) and the
  answers once the batch is durable (:class:`~node.channel.Durable`); at a
  stop it logs its sessions out first and hears the pipeline out
  (:meth:`WorkerHub.close`, :meth:`WorkerHub.finish`);
* a worker with no connection (a WebSocket worker with none admitted, the
  FIX worker with no client connected; nothing to answer) is sent the
  batches together, up to :data:`HOLD_COMMANDS` commands or :data:`HOLD_S`
  later, and at once before anything it asks: its copy of the engine is
  read by nobody meanwhile, and it wakes a few times a second instead of
  once a batch.

A worker joins at a barrier: it is sent the engine exactly as durable then
(as a snapshot holds it: engine/snapshot.py's data), the nonces and live tokens, and from then on
every batch, so its copy of the engine (which answers its queries) never
misses or repeats a command.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import traceback
from asyncio import FIRST_COMPLETED
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import msgspec

from engine import snapshot as engine_snapshot
from model.commands import CancelAll, Command
from node.access import TOUCH_NS
from node.channel import (
    EMPTY,
    Admit,
    Admitted,
    Advance,
    Answer,
    Applied,
    Barrier,
    BarrierDone,
    Batch,
    Check,
    Checked,
    Connections,
    Durable,
    Enqueue,
    Failed,
    FrameProtocol,
    Hello,
    Listening,
    LoggedIn,
    Login,
    LoginFailed,
    Presence,
    Release,
    Reply,
    Report,
    Requests,
    Stats,
    Stopped,
    Tick,
    TokenIssued,
    Touch,
    Welcome,
    applied_from_journal,
    decode_up,
    encode,
    frame,
)
from node.exchange import Exchange
from node.interface import Busy, NonceUsed, Refusal
from node.journal import encode_command
from node.metrics import GatewayMetrics, Histogram, WorkerMetrics
from node.sequencer import Sequenced

__all__ = ["WorkerDidNotStart", "WorkerHub"]

START_TIMEOUT_S = 60.0
RESTART_DELAY_S = 0.2
"""A worker that exited is started again after this long."""
RUN_COMMANDS = 128
"""Consecutive commands of a worker's frame that go into the pipeline as one entry, at most."""
HOLD_COMMANDS = 2048
"""Commands held for a worker with no connection, at most."""
HOLD_S = 0.5
"""How long a worker with no connection may be left behind the journal, at most."""


@dataclass
class _Worker:
    index: int
    writer: asyncio.Transport
    """The channel to the worker (what the node sends it)."""
    pid: int = 0
    live: bool = False
    """Welcomed: hears every batch from now on."""
    replies: list[Reply] = field(default_factory=list)
    accounts: Counter[str] = field(default_factory=Counter)
    """Logged-in connections by account on this worker."""
    addresses: Counter[str] = field(default_factory=Counter)
    """Connections admitted by client address on this worker (the per-address quota)."""
    early: bool = False
    """Hears each batch applied (:class:`~node.channel.Applied`), answers durable
    (:class:`~node.channel.Durable`): the FIX worker."""
    applied: list[Answer] = field(default_factory=list)
    """An early worker's results of the batch being applied, for its Applied frame."""
    held: list[bytes] = field(default_factory=list)
    """Commands not sent yet to this worker, which has no connection (durable ones, or
    for an early worker as applied; each encoded as the journal holds it;
    :meth:`WorkerHub._send_held`)."""
    hold_timer: asyncio.TimerHandle | None = None
    held_durable: int = 0
    """An early worker's: how far the journal is durable, not told yet (0: told)."""
    connections: int = 0
    """An early worker's (the FIX worker's) client connections."""
    draining: bool = False
    """The FIX worker is stopping and hears the pipeline out: nothing is held for it."""

    @property
    def idle(self) -> bool:
        """A worker with no connection and nothing to answer: a WebSocket worker with no
        connection admitted, or the FIX worker with no client connected (not stopping)."""
        if self.early:
            return not (self.connections or self.applied or self.replies or self.draining)
        return not (self.addresses or self.replies)


class WorkerDidNotStart(RuntimeError):
    """A gateway worker did not say it listens in time (``tokex serve`` says which)."""


class WorkerHub:
    """Starts, supervises and serves the gateway workers of one node."""

    def __init__(
        self,
        exchange: Exchange,
        count: int,
        worker_args: list[str],
        fix_args: list[str] | None = None,
    ) -> None:
        self.exchange = exchange
        self.count = count
        self.worker_args = worker_args
        """The WebSocket workers' command line after ``--channel PATH --index I``."""
        self.fix_args = fix_args
        """The FIX worker's (index ``count``), if one runs."""
        self.workers: dict[int, _Worker] = {}
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self.restarts = 0
        self.pids: dict[int, int] = {}
        self._folder = Path(tempfile.mkdtemp(prefix="tokex-workers-"))
        self.path = self._folder / "channel.sock"
        self._server: asyncio.AbstractServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._flush_soon = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early = False
        """The early listener is on (a worker asked for early batches)."""
        self._fix_welcomed = False
        self._fix_stopped = asyncio.Event()
        """The FIX worker said :class:`~node.channel.Stopped` (its sessions logged out)."""
        recovered = exchange.recovered
        self.journal_end = recovered.last_seq if recovered else exchange.engine.last_seq
        """The journal's last record when the node started (as recovery found it)."""
        self._ready: dict[int, asyncio.Event] = {}
        self.addresses: Counter[str] = Counter()
        """Client connections by address on every worker (``connections_per_address``)."""
        exchange.add_listener(self._on_batch)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on the channel, start the workers, wait until each listens (its
        :class:`~node.channel.Listening`: its gateways take connections)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(self._connection, path=str(self.path))
        indexes = list(range(self.count + (self.fix_args is not None)))
        for index in indexes:
            self._ready[index] = asyncio.Event()
            self._tasks.append(loop.create_task(self._supervise(index), name=f"worker-{index}"))
        self._tasks.append(loop.create_task(self._reports(), name="worker-reports"))
        for index in indexes:
            try:
                await asyncio.wait_for(self._ready[index].wait(), START_TIMEOUT_S)
            except TimeoutError:
                await self.close()
                what = "the FIX worker" if index == self.count else f"gateway worker {index}"
                raise WorkerDidNotStart(
                    f"{what} did not start in {START_TIMEOUT_S:.0f} s (its errors are above)"
                ) from None

    async def close(self, finish: bool = True) -> None:
        """Stop the workers (their clients are disconnected) and, with ``finish``, the channel.

        The FIX worker is told to stop too, and waited for until it has logged
        its sessions out (:class:`~node.channel.Stopped`); it goes on hearing
        every batch, so that what the node does until it closes (the
        cancels of those sessions' orders, the last timers) is reported and
        stored for the sessions. ``finish`` False: the caller closes the
        node's pipeline first, then calls :meth:`finish`.
        """
        self._stopping = True
        fix = self.count if self.fix_args is not None else None
        for proc in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for index, proc in list(self.processes.items()):
            if index == fix:
                continue
            await _reap(proc)
        fix_proc = self.processes.get(fix) if fix is not None else None
        if fix_proc is not None:
            stopped = asyncio.ensure_future(self._fix_stopped.wait())
            exited = asyncio.ensure_future(fix_proc.wait())
            await asyncio.wait((stopped, exited), timeout=10, return_when=FIRST_COMPLETED)
            stopped.cancel()
            exited.cancel()
        if finish:
            await self.finish()

    async def finish(self) -> None:
        """After the node's pipeline closed: let the FIX worker go, close the channel."""
        self._stopping = True
        for worker in list(self.workers.values()):
            worker.writer.close()  # the FIX worker's end of the stream: it closes its store
        for proc in list(self.processes.values()):
            await _reap(proc)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            self._server.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    async def _supervise(self, index: int) -> None:
        """Run worker ``index``; start it again whenever it exits (until the node stops)."""
        args = self.worker_args if index < self.count or self.fix_args is None else self.fix_args
        while not self._stopping:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tokex.worker",
                "--channel",
                str(self.path),
                "--index",
                str(index),
                "--node-pid",
                str(os.getpid()),
                *args,
            )
            self.processes[index] = proc
            self.pids[index] = proc.pid
            code = await proc.wait()
            if self._stopping:
                return
            self.restarts += 1
            self.exchange.metrics.worker_restarts = self.restarts
            print(
                f"tokex serve: gateway worker {index} (pid {proc.pid}) exited ({code});"
                " starting it again",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.sleep(RESTART_DELAY_S)

    async def _reports(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            reports = {}
            for name in ("settlement",):
                found = self.exchange.report(name)
                if found is not None:
                    reports[name] = found
            message = frame(encode(Report(reports)))
            for worker in list(self.workers.values()):
                if worker.live:
                    worker.writer.write(message)
            self._flush_all()

    # ------------------------------------------------------------ a worker's channel

    def _connection(self) -> FrameProtocol:
        return FrameProtocol(self._frames, self._lost)

    def _frames(self, conn: FrameProtocol, got: list[bytes]) -> None:
        """Frames from a worker's channel, as the loop read them (no coroutine per read)."""
        worker: _Worker | None = conn.state
        try:
            for payload in got:
                message = decode_up(payload)
                if isinstance(message, Requests):
                    if worker is not None:
                        self._requests(worker, message)
                elif isinstance(message, Hello):
                    assert conn.transport is not None
                    worker = conn.state = _Worker(
                        message.index, conn.transport, message.pid, early=message.early
                    )
                    if message.early and not self._early:
                        self._early = True
                        self.exchange.add_early_listener(self._on_applied)
                    self.workers[message.index] = worker
                    self.exchange.enqueue_barrier(partial(self._welcome, worker))
                elif isinstance(message, Stats) and worker is not None:
                    self._stats(worker, message)
                elif isinstance(message, Stopped):
                    if worker is not None:
                        worker.draining = True
                        self._send_held(worker)
                    self._fix_stopped.set()
                elif isinstance(message, Listening) and worker is not None:
                    ready = self._ready.get(worker.index)
                    if ready is not None:
                        ready.set()
        except Exception:
            # A broken peer (or a bug): say so and close its channel, as a worker gone.
            traceback.print_exc(file=sys.stderr)
            if conn.transport is not None:
                conn.transport.close()

    def _lost(self, conn: FrameProtocol) -> None:
        """A worker's channel closed (the worker exited, or its channel broke)."""
        worker: _Worker | None = conn.state
        conn.state = None
        if worker is not None:
            if self.workers.get(worker.index) is worker:
                del self.workers[worker.index]
                self._gone(worker)
            self._drop(worker)

    def _welcome(self, worker: _Worker) -> None:
        """At a barrier: the engine as durable now, the shared access state; then batches."""
        exchange = self.exchange
        exchange.history.commit()  # what the worker reads from the history file
        access = exchange.access
        tokens = [(d, t.account, t.last_used) for d, t in access.tokens.items()]
        reports = {}
        found = exchange.report("settlement")
        if found is not None:
            reports["settlement"] = found
        journal_end: int | None = None
        if worker.early and not self._fix_welcomed:
            # The node's first FIX worker: the store may tell of records a crash took.
            self._fix_welcomed = True
            journal_end = self.journal_end
        welcome = Welcome(
            engine_snapshot.encode(exchange.engine),
            dict(access.nonces),
            tokens,
            reports,
            self._clock(),
            journal_end,
        )
        worker.writer.write(frame(encode(welcome)))
        worker.live = True

    def _clock(self) -> int:
        """A simulated clock's time for the workers (0: the system clock)."""
        return self.exchange.now() if self.exchange.simulated_clock else 0

    def _stats(self, worker: _Worker, stats: Stats) -> None:
        """A worker's metrics (every second): the node's ``/metrics`` shows them."""
        metrics = self.exchange.metrics
        held = metrics.workers.get(worker.index)
        if held is None or held.pid != worker.pid:
            held = metrics.workers[worker.index] = WorkerMetrics(worker.index, worker.pid)
        gateways: dict[str, GatewayMetrics] = {}
        for counts in stats.gateways:
            g = gateways[counts.protocol] = GatewayMetrics(counts.protocol)
            g.connections = counts.connections
            g.connections_total = counts.connections_total
            g.received = counts.received
            g.sent = counts.sent
            g.rate_limited = counts.rate_limited
            g.disconnects = dict(counts.disconnects)
            g.errors = dict(counts.errors)
            for method, (buckets, total) in counts.ack.items():
                _fill(g.ack_for(method), buckets, total)
        held.gateways = gateways
        held.cpu_seconds = stats.cpu_seconds
        held.resident_bytes = stats.resident_bytes
        _fill(held.loop_lag, *stats.loop_lag)

    def _admit(self, worker: _Worker, item: Admit) -> None:
        """A new connection on ``worker``: within the address's quota over all workers?"""
        ok = self.addresses[item.address] < self.exchange.config.connections_per_address
        if ok:
            self.addresses[item.address] += 1
            worker.addresses[item.address] += 1
        worker.replies.append(Admitted(item.id, ok))

    def _release(self, worker: _Worker, address: str) -> None:
        if worker.addresses[address] <= 0:
            return  # not admitted here (a broken worker): nothing to give back
        worker.addresses[address] -= 1
        if not worker.addresses[address]:
            del worker.addresses[address]
        self.addresses[address] -= 1
        if self.addresses[address] <= 0:
            del self.addresses[address]

    def _drop(self, worker: _Worker) -> None:
        """A worker's channel closed: its connections no longer count against their
        addresses' quota; its counters stay in the metrics' totals."""
        self.exchange.metrics.worker_gone(worker.index, worker.pid)
        worker.held.clear()
        worker.held_durable = 0
        if worker.hold_timer is not None:
            worker.hold_timer.cancel()
            worker.hold_timer = None
        for address, count in list(worker.addresses.items()):
            self.addresses[address] -= count
            if self.addresses[address] <= 0:
                del self.addresses[address]
        worker.addresses.clear()

    def _gone(self, worker: _Worker) -> None:
        """A worker's channel closed: its connections are gone (cancel-on-disconnect)."""
        by_account = {a.account: a for a in self.exchange.config.access.values()}
        for account, count in worker.accounts.items():
            if count <= 0 or self._present(account):
                continue
            access = by_account.get(account)
            if access is not None and access.cancel_on_disconnect:
                with contextlib.suppress(RuntimeError):
                    self.exchange.enqueue(CancelAll(0, 0, account, None, "dead_man_switch"))

    def _present(self, account: str) -> bool:
        return any(w.accounts.get(account, 0) > 0 for w in self.workers.values())

    def _requests(self, worker: _Worker, message: Requests) -> None:
        # Whatever it asks (a connection to admit, first of all) is answered after every
        # batch before it: its copy of the engine is the node's durable state again.
        self._send_held(worker)
        exchange = self.exchange
        run: list[Enqueue] = []
        commands = 0
        for item in message.items:
            if isinstance(item, Enqueue):
                run.append(item)
                commands += len(item.commands)
                if commands >= RUN_COMMANDS:
                    self._enqueue_run(worker, run)
                    run, commands = [], 0
                continue
            if run:
                self._enqueue_run(worker, run)
                run, commands = [], 0
            if isinstance(item, Check):
                exchange.enqueue_check(item.orders, self._checked(worker, item.id))
            elif isinstance(item, Barrier):
                exchange.enqueue_barrier(self._barrier_done(worker, item.id))
            elif isinstance(item, Tick):
                exchange.enqueue_tick(self._done(worker, item.id))
            elif isinstance(item, Login):
                self._login(worker, item)
            elif isinstance(item, Presence):
                worker.accounts[item.account] += item.delta
                if item.cancel is not None and not self._present(item.account):
                    with contextlib.suppress(RuntimeError):
                        exchange.enqueue(item.cancel)
            elif isinstance(item, Touch):
                self._touch(worker, item)
            elif isinstance(item, Admit):
                self._admit(worker, item)
            elif isinstance(item, Release):
                self._release(worker, item.address)
            elif isinstance(item, Connections):
                worker.connections += item.delta
            elif isinstance(item, Advance):
                # Checked by the worker (simulated clock, not backwards); the node's
                # own check is the last word, and a refusal leaves the clock as it was.
                with contextlib.suppress(ValueError):
                    exchange.advance_clock(item.ns)
        if run:
            self._enqueue_run(worker, run)
        self._flush_later()

    def _enqueue_run(self, worker: _Worker, run: list[Enqueue]) -> None:
        """Consecutive commands of one frame into the pipeline as one group.

        One entry in the pipeline for the run instead of one per request:
        the timers due are checked once before it and its commands go in back
        to back at one instant (as they would within a few microseconds
        anyway); each request is answered with its own commands (the first
        also with the timers that ran before it). While the node is busy each
        request goes in alone, so that cancels are still taken when new
        orders are refused.
        """
        if len(run) == 1 or self.exchange.busy:
            for item in run:
                self._enqueue(worker, item)
            return
        commands: list[Command] = [c for item in run for c in item.commands]
        total = len(commands)

        def answers(result: list[Sequenced], replies: list[Answer] | list[Reply]) -> None:
            first = result[0][0].seq if result else 0
            ahead = len(result) - total  # the timers that ran before the run
            for n, item in enumerate(run):
                count = len(item.commands) + (ahead if n == 0 else 0) if result else 0
                replies.append(Answer(item.id, first, count))
                first += count

        def done(result: list[Sequenced]) -> None:
            answers(result, worker.replies)

        def failed(error: Exception) -> None:
            for item in run:
                worker.replies.append(Failed(item.id, f"{error}"))

        try:
            if worker.early:

                def applied(result: list[Sequenced]) -> None:
                    answers(result, worker.applied)  # the list of the batch applied now

                self.exchange.enqueue_early(commands, applied, done, failed)
            else:
                self.exchange.enqueue_group(commands, done, failed)
        except Busy as e:
            for item in run:
                worker.replies.append(Failed(item.id, f"{e}", busy=True))
        except RuntimeError as e:
            for item in run:
                worker.replies.append(Failed(item.id, f"EService:Unavailable:{e}"))

    def _enqueue(self, worker: _Worker, item: Enqueue) -> None:
        done = self._done(worker, item.id)

        def failed(error: Exception) -> None:
            worker.replies.append(Failed(item.id, f"{error}"))

        try:
            if worker.early:
                applied = self._done(worker, item.id, early=True)
                self.exchange.enqueue_early(list(item.commands), applied, done, failed)
            elif item.group:
                commands: list[Command] = list(item.commands)
                self.exchange.enqueue_group(commands, done, failed)
            else:
                self.exchange.enqueue(item.commands[0], done, failed)
        except Busy as e:
            worker.replies.append(Failed(item.id, f"{e}", busy=True))
        except RuntimeError as e:
            worker.replies.append(Failed(item.id, f"EService:Unavailable:{e}"))

    @staticmethod
    def _done(
        worker: _Worker, request: int, early: bool = False
    ) -> Callable[[list[Sequenced]], None]:
        """The answer to ``request`` once its result is durable; ``early``: its result as
        soon as it is applied, for an early worker's Applied frame."""

        def done(result: list[Sequenced]) -> None:
            first = result[0][0].seq if result else 0
            # The list of the batch answered (or applied) now, not of when it was queued.
            into: list[Answer] | list[Reply] = worker.applied if early else worker.replies
            into.append(Answer(request, first, len(result)))

        return done

    @staticmethod
    def _checked(worker: _Worker, request: int) -> Callable[[Refusal | None], None]:
        def done(refusal: Refusal | None) -> None:
            found = None if refusal is None else (refusal.index, refusal.reason, refusal.text)
            worker.replies.append(Checked(request, found))

        return done

    def _barrier_done(self, worker: _Worker, request: int) -> Callable[[], None]:
        def after() -> None:
            # A subscription's snapshot may read the history: it must hold this batch.
            self.exchange.history.commit()
            worker.replies.append(BarrierDone(request))
            self._flush(worker)  # now: before the next batch's frame

        return after

    def _login(self, worker: _Worker, item: Login) -> None:
        exchange = self.exchange

        def done(token: str) -> None:
            key = exchange.access._known.get(token)
            if key is not None:
                held = exchange.access.tokens.get(key)
                issued = TokenIssued(
                    item.api_key, item.nonce, key, held.account if held else "", exchange.now()
                )
                for other in self.workers.values():
                    other.replies.append(issued)
            worker.replies.append(LoggedIn(item.id, token))
            self._flush_later()

        def failed(error: Exception) -> None:
            worker.replies.append(LoginFailed(item.id, f"{error}", False))
            self._flush_later()

        def taken() -> None:
            worker.replies.append(LoggedIn(item.id, ""))
            self._flush_later()

        try:
            if item.issue:
                exchange.login(item.api_key, item.nonce, done, failed)
            else:
                exchange.use_nonce(item.api_key, item.nonce, taken, failed)
        except NonceUsed as e:
            worker.replies.append(LoginFailed(item.id, f"{e}", True))
        except (ValueError, KeyError, RuntimeError) as e:
            worker.replies.append(LoginFailed(item.id, f"{e}", False))

    def _touch(self, worker: _Worker, item: Touch) -> None:
        """A token used on a worker: keep it alive here (and in the file) and tell the others."""
        access = self.exchange.access
        held = access.tokens.get(item.digest)
        if held is None:
            return
        if item.ts > held.last_used:
            held.last_used = item.ts
            if item.ts - held.written >= TOUCH_NS:
                held.written = item.ts
                access._next.tokens[item.digest] = (held.account, item.ts)
                access._wake.set()
        news = TokenIssued(None, 0, item.digest, held.account, item.ts)
        for other in self.workers.values():
            if other is not worker:
                other.replies.append(news)

    # ------------------------------------------------------------ sending

    def _on_applied(self, applied: list[Sequenced]) -> None:
        """The pipeline's early listener: an early worker gets the batch as applied, with
        its requests' results (what it sends of them waits for :class:`Durable`)."""
        raw: msgspec.Raw | None = None
        for worker in self.workers.values():
            if not (worker.early and worker.live) or not (applied or worker.applied):
                continue  # nothing applied and nothing of its own: no frame
            if worker.idle:
                self._hold(worker, applied)
                continue
            self._send_held(worker)
            if raw is None:
                raw = applied_from_journal(self._payloads(applied)) if applied else EMPTY
            replies, worker.applied = worker.applied, []
            worker.writer.write(frame(encode(Applied(replies, raw, self._clock()))))

    def _on_batch(self, applied: list[Sequenced]) -> None:
        """The pipeline's listener: each worker gets its answers, then the batch, in one frame
        (an early worker had the batch: it gets the answers and the word it is durable)."""
        live = [w for w in self.workers.values() if w.live]
        if not live:
            return
        raw: msgspec.Raw | None = None
        busy = self.exchange.busy
        clock = self._clock()
        for worker in live:
            if worker.idle:
                self._hold(worker, applied, durable=worker.early)
                continue
            self._send_held(worker)
            replies, worker.replies = worker.replies, []
            if worker.early:
                upto = applied[-1][0].seq if applied else 0
                worker.writer.write(frame(encode(Durable(replies, upto, busy, clock))))
                continue
            if raw is None:
                raw = applied_from_journal(self._payloads(applied)) if applied else EMPTY
            worker.writer.write(frame(encode(Batch(replies, raw, busy, clock))))

    def _payloads(self, applied: list[Sequenced]) -> list[bytes]:
        """The batch's commands as the journal encoded them, when the pipeline has them at
        hand (the same msgpack: a batch is encoded once for the journal and every
        worker), else encoded now."""
        encoded = self.exchange.encoded
        return encoded if encoded is not None else [encode_command(c) for c, _ in applied]

    def _hold(self, worker: _Worker, applied: list[Sequenced], durable: bool = False) -> None:
        """Keep a batch for ``worker`` (:attr:`_Worker.idle`) to send later: a durable one
        for a WebSocket worker; for an early worker each batch as applied, and (``durable``)
        how far the journal is durable."""
        if not applied:
            return
        if durable:
            worker.held_durable = applied[-1][0].seq
        else:
            worker.held += self._payloads(applied)
        if len(worker.held) >= HOLD_COMMANDS:
            self._send_held(worker)
        elif worker.hold_timer is None:
            loop = asyncio.get_running_loop()
            worker.hold_timer = loop.call_later(HOLD_S, self._send_held, worker)

    def _send_held(self, worker: _Worker) -> None:
        """Send ``worker`` what was held for it: one batch with no answers (an early
        worker: the batches as applied, then how far they are durable)."""
        if worker.hold_timer is not None:
            worker.hold_timer.cancel()
            worker.hold_timer = None
        if not (worker.held or worker.held_durable):
            return
        held, worker.held = worker.held, []
        upto, worker.held_durable = worker.held_durable, 0
        if not worker.live:
            return
        busy, clock = self.exchange.busy, self._clock()
        if not worker.early:
            message = Batch([], applied_from_journal(held), busy, clock)
            worker.writer.write(frame(encode(message)))
            return
        if held:
            worker.writer.write(frame(encode(Applied([], applied_from_journal(held), clock))))
        if upto:
            worker.writer.write(frame(encode(Durable([], upto, busy, clock))))

    def _flush(self, worker: _Worker) -> None:
        if worker.replies and worker.live:
            self._send_held(worker)
            replies, worker.replies = worker.replies, []
            busy, clock = self.exchange.busy, self._clock()
            message = (
                Durable(replies, 0, busy, clock)
                if worker.early
                else Batch(replies, EMPTY, busy, clock)
            )
            worker.writer.write(frame(encode(message)))

    def _flush_later(self) -> None:
        if not self._flush_soon:
            self._flush_soon = True
            loop = self._loop
            if loop is None:  # asked once: on Python 3.11 each ask is a getpid system call
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self._flush_all)

    def _flush_all(self) -> None:
        self._flush_soon = False
        for worker in list(self.workers.values()):
            self._flush(worker)


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Wait for ``proc`` to exit (10 s), then kill it."""
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def _fill(hist: Histogram, buckets: list[int], total: float) -> None:
    """Set ``hist`` to a worker's counts (ignored if the buckets do not match)."""
    if len(buckets) == len(hist.counts):
        hist.counts = list(buckets)
        hist.total = total


def worker_pids(hub: WorkerHub) -> dict[int, int]:
    """Index -> pid of each worker process now."""
    return dict(hub.pids)
