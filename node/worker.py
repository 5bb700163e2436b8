"""The node as a gateway worker process sees it: :class:`RemoteNode`.

The process itself is :mod:`tokex.worker` (``python -m tokex.worker ...``),
started (and restarted) by ``tokex serve --workers N`` (:mod:`node.hub`). It
does all the protocol work for its own connections: framing, JSON,
authentication (signatures there; nonces and tokens shared through the
node), rate limits, parsing and validation into commands, answers,
executions and market data.

:class:`RemoteNode` is the :class:`node.interface.Node` the gateway is
written against, carried over the channel: commands, checks, barriers and
logins go to the node in one frame per turn of the loop; each durable batch
comes back with this worker's answers. Queries (open orders, books,
balances, market state) are answered from a copy of the engine that applies
every durable batch's commands in order (the engine is deterministic, so the
copy holds exactly the node's durable state); the history is read from the
node's history file (read-only), up to the batch this worker has applied.

The FIX worker is an early worker: it is sent each batch as soon as the node
applied it (:meth:`RemoteNode.on_applied`, its copy runs ahead of the
journal) and the answers once it is durable (:meth:`RemoteNode.on_durable`),
which is what :class:`node.interface.InProcessNode` gives a gateway in the
node's own process.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import sys
import time
import traceback
from bisect import bisect_right
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from engine import snapshot as engine_snapshot
from engine.engine import Engine
from model.commands import CancelAll, Command, NewOrder
from node.access import MAX_NONCE, TOKEN_TTL_NS
from node.channel import (
    Admit,
    Admitted,
    Advance,
    Answer,
    Applied,
    Barrier,
    BarrierDone,
    Batch,
    ChannelReader,
    Check,
    Checked,
    Connections,
    Down,
    Durable,
    Enqueue,
    Failed,
    GatewayCounts,
    Hello,
    LoggedIn,
    Login,
    LoginFailed,
    Presence,
    Release,
    Reply,
    Report,
    Request,
    Requests,
    Stats,
    Tick,
    TokenIssued,
    Touch,
    Welcome,
    decode_applied,
    decode_down,
    encode,
    frame,
)
from node.config import Config
from node.history import _LEDGER_COLUMNS, _ORDER_COLUMNS, _TRADE_COLUMNS, _trade
from node.interface import (
    Busy,
    ClosedOrder,
    Done,
    EngineQueries,
    LedgerEntry,
    Listener,
    NonceUsed,
    Refusal,
    TradeRecord,
)
from node.metrics import GatewayMetrics, Metrics
from node.sequencer import Sequenced

__all__ = ["CONNECTION_ID_BITS", "RemoteNode", "connect"]

CONNECTION_ID_BITS = 24
"""A worker's connection ids start at its index times 2**24 (unique across workers)."""
TOUCH_EVERY_NS = 10**9
"""A token used on this worker is reported to the node at most this often."""


class _Token:
    __slots__ = ("account", "last_used", "reported")

    def __init__(self, account: str, last_used: int) -> None:
        self.account = account
        self.last_used = last_used
        self.reported = last_used


class RemoteNode(EngineQueries):
    """The node as a gateway in a worker sees it (:class:`node.interface.Node`)."""

    def __init__(self, config: Config, welcome: Welcome, history: Path) -> None:
        self.config = config
        self.metrics = Metrics()
        self.engine: Engine = engine_snapshot.decode(welcome.engine)
        self.nonces = dict(welcome.nonces)
        self.tokens = {d: _Token(a, t) for d, a, t in welcome.tokens}
        self._digests: dict[str, bytes] = {}
        self.reports: dict[str, Any] = dict(welcome.reports)
        self.listeners: list[Listener] = []
        self.early_listeners: list[Listener] = []
        self._callbacks: dict[int, tuple[Any, Any]] = {}
        self._on_applied: dict[int, Done] = {}
        """The ``on_applied`` of requests queued with :meth:`enqueue_early`, by request."""
        self._ahead: list[Sequenced] = []
        """An early worker's batches applied and not yet durable (:meth:`on_applied`)."""
        self._next_id = 1
        self._out: list[Request] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._node_busy = False
        self._history_path = history
        self._history: sqlite3.Connection | None = None
        self._access: sqlite3.Connection | None = None
        self.writer: asyncio.WriteTransport | asyncio.StreamWriter | None = None
        self.simulated_clock = welcome.clock != 0
        self._clock = welcome.clock
        """A simulated clock's time as the node last said (or as this worker moved it)."""
        self.batches = 0

    # ---------------------------------------------------------------- time

    def now(self) -> int:
        """The exchange's time: the system clock, or the node's simulated one."""
        return self._clock if self.simulated_clock else time.time_ns()

    def advance_clock(self, ns: int) -> int:
        """Move the node's simulated clock on by ``ns``; the time it moves to.

        The node moves its clock when it reads the request, in the order of
        this worker's requests (a tick sent after it runs at the new time);
        the time returned is this worker's view (the node's last time plus
        ``ns``): another operator's advance on another worker at the same
        moment is added when the node's next frame says where the clock is.
        """
        if not self.simulated_clock:
            raise ValueError("clock_advance: the exchange runs on the system clock")
        if ns < 0:
            raise ValueError(f"seconds {ns / 1e9}: must not be negative")
        self._clock += ns
        self._send(Advance(ns))
        return self._clock

    # ---------------------------------------------------------------- sending

    def _send(self, request: Request) -> None:
        if not self._out:
            loop = self._loop
            if loop is None:  # asked once: on Python 3.11 each ask is a getpid system call
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self._flush)
        self._out.append(request)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out and self.writer is not None:
            self.writer.write(frame(encode(Requests(out))))

    def _register(self, on_done: Any, on_error: Any = None) -> int:
        request = self._next_id
        self._next_id += 1
        self._callbacks[request] = (on_done, on_error)
        return request

    # ---------------------------------------------------------------- commands

    def enqueue(self, command: Command, on_done: Done | None = None, on_error: Any = None) -> None:
        self._send(Enqueue(self._register(on_done, on_error), [command], False))

    def enqueue_group(
        self, commands: list[Command], on_done: Done | None = None, on_error: Any = None
    ) -> None:
        self._send(Enqueue(self._register(on_done, on_error), list(commands), True))

    def enqueue_check(
        self, orders: Sequence[NewOrder], on_done: Callable[[Refusal | None], None]
    ) -> None:
        self._send(Check(self._register(on_done), list(orders)))

    def enqueue_barrier(self, after: Callable[[], None]) -> None:
        self._send(Barrier(self._register(after)))

    def enqueue_tick(self, on_done: Done | None = None) -> None:
        self._send(Tick(self._register(on_done)))

    def enqueue_early(
        self,
        commands: list[Command],
        on_applied: Done,
        on_done: Done | None = None,
        on_error: Any = None,
    ) -> None:
        """:meth:`enqueue_group`, and ``on_applied`` hears the result as soon as the node
        applied it (an early worker's :meth:`on_applied`), before ``on_done``.

        For the FIX gateway, written against the node's in-process pipeline
        (:class:`node.interface.InProcessNode`), in the FIX worker.
        """
        request = self._register(on_done, on_error)
        self._on_applied[request] = on_applied
        self._send(Enqueue(request, list(commands), True))

    def add_listener(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def add_early_listener(self, listener: Listener) -> None:
        """Hear each batch before the listeners and the answers (see :meth:`enqueue_early`)."""
        self.early_listeners.append(listener)

    @property
    def applied_seq(self) -> int:
        """The journal number of the last record this worker's copy applied (durable)."""
        return int(self.engine.last_seq)

    def connected(self, delta: int) -> None:
        """The FIX gateway's client connections changed by ``delta`` (the node holds this
        worker's batches while it has none, and sends them before answering anything)."""
        self._send(Connections(delta))

    def present(self, account: str, delta: int, cancel: CancelAll | None) -> None:
        """This worker's logged-in connections of ``account`` changed (cancel-on-disconnect
        is the node's to decide: another worker may still have one)."""
        self._send(Presence(account, delta, cancel))

    def admit(self, address: str) -> asyncio.Future[bool]:
        """Ask the node whether a new connection from ``address`` is within its quota
        (``connections_per_address`` counts the connections on every worker); if the
        answer is True the node counts it until :meth:`release`."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def done(ok: bool) -> None:
            if not future.done():
                future.set_result(ok)

        self._send(Admit(self._register(done), address))
        return future

    def release(self, address: str) -> None:
        """A connection the node admitted from ``address`` is closed."""
        self._send(Release(address))

    def stats(self) -> Stats:
        """This worker's metrics now, for the node's ``/metrics``."""
        times = os.times()
        try:
            with open("/proc/self/statm", "rb") as f:
                resident = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            resident = 0
        lag = self.metrics.loop_lag
        return Stats(
            [_counts(g) for g in list(self.metrics.gateways.values())],
            times.user + times.system,
            resident,
            (list(lag.counts), lag.total),
        )

    @property
    def queued(self) -> int:
        return len(self._callbacks)

    @property
    def busy(self) -> bool:
        return self._node_busy or len(self._callbacks) >= self.config.queue_limit

    def report(self, name: str) -> dict[str, Any] | None:
        found = self.reports.get(name)
        return found if isinstance(found, dict) else None

    # ---------------------------------------------------------------- access

    def login(
        self,
        api_key: str,
        nonce: int,
        on_done: Callable[[str], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        if not 0 < nonce <= MAX_NONCE:
            raise ValueError(f"nonce {nonce}: must be 1 to {MAX_NONCE}")
        used = self.nonces.get(api_key, 0)
        if nonce <= used:
            raise NonceUsed(f"nonce {nonce} of {api_key}: not above {used}")
        self.nonces[api_key] = nonce
        self._send(Login(self._register(on_done, on_error), api_key, nonce))

    def use_nonce(
        self,
        api_key: str,
        nonce: int,
        on_done: Callable[[], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        if not 0 < nonce <= MAX_NONCE:
            raise ValueError(f"nonce {nonce}: must be 1 to {MAX_NONCE}")
        used = self.nonces.get(api_key, 0)
        if nonce <= used:
            raise NonceUsed(f"nonce {nonce} of {api_key}: not above {used}")
        self.nonces[api_key] = nonce
        self._send(Login(self._register(lambda _token: on_done(), on_error), api_key, nonce, False))

    def session(self, token: str) -> str | None:
        key = self._digests.get(token)
        if key is None:
            key = hashlib.sha256(token.encode()).digest()
            if key not in self.tokens and not self._load_token(key):
                return None
            self._digests[token] = key
        held = self.tokens.get(key)
        if held is None:
            return None
        now = self.now()
        if now - held.last_used > TOKEN_TTL_NS:
            return None
        if now > held.last_used:
            held.last_used = now
            if now - held.reported >= TOUCH_EVERY_NS:
                held.reported = now
                self._send(Touch(key, now))
        return held.account

    def _load_token(self, digest: bytes) -> bool:
        """Take a token this worker has not heard of yet from the node's access file.

        A login on another worker is answered only once its token is durable
        in ``access.sqlite``, but the node's word of it (:class:`TokenIssued`)
        reaches this worker on its own channel, possibly after the client has
        already brought the token here: the file is the authority.
        """
        if self._access is None:
            uri = f"file:{self._history_path.with_name('access.sqlite')}?mode=ro"
            try:
                self._access = sqlite3.connect(uri, uri=True, isolation_level=None)
            except sqlite3.Error:
                return False
        try:
            row = self._access.execute(
                "SELECT account, last_used FROM tokens WHERE digest = ?", (digest,)
            ).fetchone()
        except sqlite3.Error:
            return False
        if row is None:
            return False
        self.tokens.setdefault(digest, _Token(row[0], row[1]))
        return True

    # ---------------------------------------------------------------- receiving

    def on_message(self, message: Down) -> None:
        """One frame from the node after the welcome, to the method that takes it."""
        if isinstance(message, Batch):
            self.on_batch(message)
        elif isinstance(message, Applied):
            self.on_applied(message)
        elif isinstance(message, Durable):
            self.on_durable(message)
        elif isinstance(message, Report):
            self.reports = dict(message.reports)

    def on_batch(self, batch: Batch) -> None:
        """One frame from the node: apply its commands to the copy, answer, then publish."""
        self._node_busy = batch.busy
        self._saw_clock(batch.clock)
        self._publish(batch.replies, self._apply(batch.applied))

    def _saw_clock(self, clock: int) -> None:
        """The node's simulated clock as a frame says (never back)."""
        if clock > self._clock:
            self._clock = clock

    def _publish(self, replies: list[Reply], durable: list[Sequenced]) -> None:
        """Answer ``replies`` (their results are in ``durable``), then have the listeners
        hear ``durable``."""
        base = durable[0][0].seq if durable else 0
        for reply in replies:
            self._reply(reply, durable, base)
        if durable:
            self.batches += 1
            for listener in self.listeners:
                _guarded(listener, durable)

    def _apply(self, raw: msgspec.Raw) -> list[Sequenced]:
        """The copy applies a batch's commands and makes its events (the same as the node's:
        the engine is deterministic). A batch that does not start right after the copy's
        last record means a frame was lost: the copy is no longer the node's, so this
        raises (the worker stops, and the node starts it again from a fresh copy)."""
        commands = decode_applied(raw)
        if commands and commands[0].seq != self.engine.last_seq + 1:
            raise ConnectionError(
                f"the node's batch starts at record {commands[0].seq}, this worker's copy of"
                f" the engine is at {self.engine.last_seq}: a frame was lost"
            )
        process = self.engine.process
        return [(command, process(command)) for command in commands]

    def on_applied(self, message: Applied) -> None:
        """An early worker's frame: a batch the node applied, not yet durable.

        The copy applies it; this worker's requests in it hear their results
        (``enqueue_early``'s ``on_applied``), then the early listeners hear the
        batch. It is kept until :meth:`on_durable` says it is durable.
        """
        self._saw_clock(message.clock)
        applied = self._apply(message.applied)
        self._ahead += applied
        base = applied[0][0].seq if applied else 0
        for reply in message.replies:
            on_applied = self._on_applied.pop(reply.id, None)
            if on_applied is not None:
                _guarded(on_applied, _result(reply, applied, base))
        if applied:
            for listener in self.early_listeners:
                _guarded(listener, applied)

    def on_durable(self, message: Durable) -> None:
        """An early worker's frame: what was applied up to ``upto`` is durable; the answers."""
        self._node_busy = message.busy
        self._saw_clock(message.clock)
        durable: list[Sequenced] = []
        if message.upto:
            ahead = self._ahead
            count = bisect_right(ahead, message.upto, key=_seq_of)  # in seq order
            durable, self._ahead = ahead[:count], ahead[count:]
        self._publish(message.replies, durable)

    def _reply(self, reply: object, applied: list[Sequenced], base: int) -> None:
        if isinstance(reply, TokenIssued):
            if reply.api_key is not None:
                self.nonces[reply.api_key] = max(self.nonces.get(reply.api_key, 0), reply.nonce)
            held = self.tokens.get(reply.digest)
            if held is None:
                self.tokens[reply.digest] = _Token(reply.account, reply.ts)
            elif reply.ts > held.last_used:
                held.last_used = reply.ts
            return
        request = getattr(reply, "id", None)
        if request is None or request not in self._callbacks:
            return
        on_done, on_error = self._callbacks.pop(request)
        try:
            if isinstance(reply, Answer):
                if on_done is not None:
                    on_done(_result(reply, applied, base))
            elif isinstance(reply, Failed):
                self._on_applied.pop(request, None)
                if on_error is not None:
                    on_error(Busy(reply.error) if reply.busy else ValueError(reply.error))
            elif isinstance(reply, Checked):
                on_done(None if reply.refusal is None else Refusal(*reply.refusal))
            elif isinstance(reply, BarrierDone):
                on_done()
            elif isinstance(reply, Admitted):
                on_done(reply.ok)
            elif isinstance(reply, LoggedIn):
                on_done(reply.token)
            elif isinstance(reply, LoginFailed):
                error = NonceUsed(reply.error) if reply.nonce_used else RuntimeError(reply.error)
                on_error(error)
        except Exception:
            traceback.print_exc(file=sys.stderr)

    # ---------------------------------------------------------------- history

    def _db(self) -> sqlite3.Connection:
        if self._history is None:
            uri = f"file:{self._history_path}?mode=ro"
            self._history = sqlite3.connect(uri, uri=True, isolation_level=None)
        return self._history

    def recent_trades(self, symbol: str, limit: int = 50) -> list[TradeRecord]:
        rows = (
            self._db()
            .execute(
                f"SELECT {_TRADE_COLUMNS} FROM trades WHERE symbol = ? AND seq <= ?"
                " ORDER BY ts DESC, trade_id DESC LIMIT ?",
                (symbol, self.engine.last_seq, min(limit, 50)),
            )
            .fetchall()
        )
        return [_trade(r) for r in reversed(rows)]

    def trades(self, symbol: str, since_ts: int) -> list[TradeRecord]:
        rows = self._db().execute(
            f"SELECT {_TRADE_COLUMNS} FROM trades WHERE symbol = ? AND ts >= ? AND seq <= ?"
            " ORDER BY ts, trade_id",
            (symbol, since_ts, self.engine.last_seq),
        )
        return list(map(_trade, rows))

    def fills(self, account: str, limit: int = 50) -> list[TradeRecord]:
        rows = (
            self._db()
            .execute(
                f"SELECT {_TRADE_COLUMNS} FROM trades"
                " WHERE (taker_account = ?1 OR maker_account = ?1) AND seq <= ?3"
                " ORDER BY trade_id DESC LIMIT ?2",
                (account, limit, self.engine.last_seq),
            )
            .fetchall()
        )
        return [_trade(r) for r in reversed(rows)]

    def closed_orders(self, account: str, limit: int = 50) -> list[ClosedOrder]:
        rows = (
            self._db()
            .execute(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE account = ? AND closed_ts IS NOT NULL"
                " ORDER BY closed_ts DESC, order_id DESC LIMIT ?",
                (account, limit),
            )
            .fetchall()
        )
        return [ClosedOrder(*r) for r in reversed(rows)]

    def ledger(self, account: str, limit: int = 50) -> list[LedgerEntry]:
        rows = (
            self._db()
            .execute(
                f"SELECT {_LEDGER_COLUMNS} FROM ledger WHERE account = ? AND seq <= ?"
                " ORDER BY seq DESC, n DESC LIMIT ?",
                (account, self.engine.last_seq, limit),
            )
            .fetchall()
        )
        return [LedgerEntry(*r) for r in reversed(rows)]


def _result(answer: Answer, applied: list[Sequenced], base: int) -> list[Sequenced]:
    """The items of ``applied`` (its first record is ``base``) that ``answer`` names."""
    start = answer.first - base
    return applied[start : start + answer.count] if answer.count else []


def _seq_of(item: Sequenced) -> int:
    return item[0].seq


def _guarded(listener: Callable[[list[Sequenced]], None], applied: list[Sequenced]) -> None:
    """Call ``listener``; a failure is printed, and the batch goes on to the others."""
    try:
        listener(applied)
    except Exception:
        traceback.print_exc(file=sys.stderr)


def _counts(g: GatewayMetrics) -> GatewayCounts:
    return GatewayCounts(
        g.protocol,
        g.connections,
        g.connections_total,
        g.received,
        g.sent,
        g.rate_limited,
        dict(g.disconnects),
        dict(g.errors),
        {m: (list(h.counts), h.total) for m, h in list(g.ack.items())},
    )


async def connect(
    path: str, index: int, early: bool = False
) -> tuple[ChannelReader, asyncio.Transport, Welcome]:
    """Join the node: say hello, wait for the welcome (the engine as durable now).

    ``early``: have the node send each batch as soon as it is applied
    (:meth:`RemoteNode.on_applied`), the answers once durable. What follows the
    welcome is read with the reader's :meth:`~node.channel.ChannelReader.frames`,
    or handed over as read (:meth:`~node.channel.ChannelReader.push`).
    """
    loop = asyncio.get_running_loop()
    writer, frames = await loop.create_unix_connection(ChannelReader, path)
    writer.write(frame(encode(Hello(index, os.getpid(), early))))
    while True:
        got = await frames.frames()
        if not got:
            raise ConnectionError("the node closed the channel before welcoming this worker")
        for n, payload in enumerate(got):
            message = decode_down(payload)
            if isinstance(message, Welcome):
                # What came in the same read (the next batch, often) is the worker's next.
                frames.unread(got[n + 1 :])
                return frames, writer, message
