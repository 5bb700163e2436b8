"""The FIX 4.4 gateway for market makers (FIX_API.md, docs/FIX.md): the asyncio transport.

Thin, like the WebSocket gateway: bytes from a socket go through the framing
(:mod:`gateway.fix.codec`) and the session layer (:mod:`gateway.fix.session`);
the application messages it delivers become commands on the node's pipeline
(:mod:`gateway.fix.requests`); the node's batches come back as execution
reports (:mod:`gateway.fix.executions`) and market data
(:mod:`gateway.fix.marketdata`). It is written against
:class:`node.interface.InProcessNode`: the node itself (``--workers 0``, on
the node's event loop), or, with gateway workers, the FIX worker's
:class:`node.worker.RemoteNode` (docs/WORKERS.md), so that the FIX protocol
work runs on a core of its own as the WebSocket gateway's does.

Reports are made as soon as the engine has applied a batch, while the
journal syncs it (the early listener: in the node, or in the FIX worker,
which the node sends each batch as soon as it is applied), so that the
store's sync of them runs at the same time as the journal's instead of after
it.

Everything a session sends goes through one gate: the store frames that
record it (its sequence number, the message itself when it is an
application message, tagged with the journal record it tells of) are written
first, and the bytes go to the socket, in order, once the journal has
published the records they tell of. The store is synced beside that, in a
worker thread, without holding the bytes back: a process that dies loses
nothing it wrote (the kernel has it), and for a crash of the machine each
session's numbers are reserved ahead in blocks (:data:`RESERVE_BLOCK`), a
message going out only under a reservation already synced, so no number is
ever used twice; the reports the store lost are made again from the journal,
which was synced before they went (docs/FIX.md, "The store").
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import cast

from engine.engine import Engine
from gateway.fix.codec import Garbled, Message, Parser, encode
from gateway.fix.executions import Executions
from gateway.fix.handle import SessionHandle
from gateway.fix.reports import Numbers, Tracked, tracked_view
from gateway.fix.requests import Context, Requests
from gateway.fix.session import (
    BEGIN_STRING,
    Deliver,
    Disconnect,
    LoggedOn,
    Reset,
    Session,
    SessionSettings,
)
from gateway.fix.store import FixStore
from gateway.fix.times import format_timestamp
from model.commands import CancelOrder, Command, NewOrder
from node.interface import Done, InProcessNode, Sequenced, open_order_views
from node.journal import JournalError, scan
from node.recovery import read_range
from node.store import SnapshotError
from node.syncs import SyncThread

__all__ = ["Connection", "FixGateway"]

TICK_S = 0.1
"""How often the session timers run (heartbeats, TestRequests, timeouts)."""
SLOW_CONSUMER_BYTES = 16 * 1024 * 1024
"""Bytes written to a connection and not yet taken by the client, at most."""
RESERVE_BLOCK = 4096
"""Sequence numbers a session's reservation runs ahead of its next number (see
:meth:`FixGateway._write_states`): after a crash of the machine the session goes on
from there, and a ResendRequest of the numbers skipped gets a gap fill."""
SYNC_EVERY_S = 0.05
"""While no bytes wait for it, the store is synced at most this often: what a crash of
the machine can take from it, none of it lost for good (the reports are made again
from the journal, resent orders are recognised there, numbers jump to the
reservation; docs/FIX.md, "The store"). At 5 ms the syncs cost the FIX worker 24-35
us of CPU an order at 2,000 orders/s (three alternations against no periodic sync)."""
MARK_EVERY_S = 1.0
"""How often the store's mark (:meth:`FixStore.save_mark`) is brought up to date, at least."""


class Connection(asyncio.Protocol):
    """One TCP connection: bytes in to the gateway, bytes out once the store has them."""

    def __init__(self, gateway: FixGateway) -> None:
        self.gateway = gateway
        self.parser = Parser()
        self.transport: asyncio.Transport | None = None
        self.handle: SessionHandle | None = None
        self.pending: list[tuple[int, bytes]] = []
        """Bytes queued since the last store commit began, each with the journal number
        that must be durable before it goes (0: none)."""
        self.sealed: list[tuple[int, bytes]] = []
        """Bytes whose store frames are being synced."""
        self.ready: list[tuple[int, bytes]] = []
        """Bytes the store holds, waiting for the journal (in order: none passes another)."""
        self.closing = False
        self.opened = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        gateway = self.gateway
        gateway.connections.add(self)
        metrics = gateway.metrics
        metrics.connections += 1
        metrics.connections_total += 1
        # With no connection the FIX worker's node holds its batches; the first bytes are
        # read once everything before this connection is applied here (the barrier's
        # answer follows the held batches), so a Logon meets the copy of the engine and
        # the store as they are now.
        gateway.node.connected(1)
        self.transport.pause_reading()
        try:
            gateway.node.enqueue_barrier(self._resume)
        except RuntimeError:  # shutting down
            self._resume()

    def _resume(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        gateway = self.gateway
        for item in self.parser.feed(data):
            if self.closing:
                return
            gateway.metrics.received += 1
            gateway.on_message(self, item)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gateway.on_lost(self)

    def queue(self, data: bytes, need: int = 0) -> None:
        """Send ``data`` once the store has it and the journal has record ``need``."""
        self.pending.append((need, data))
        self.gateway.waiting[id(self)] = self

    def release(self) -> None:
        """The store holds what the last commit covered: send what the journal has too."""
        if self.sealed:
            self.ready += self.sealed
            self.sealed = []
        self.flush()

    def flush(self) -> None:
        """Write the bytes that are durable in the store and the journal; close if over."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        ready = self.ready
        if ready:
            durable = self.gateway.durable_seq
            count = 0
            for need, _ in ready:
                if need > durable:
                    break
                count += 1
            if count < len(ready):
                self.gateway.holding[id(self)] = self
            if count:
                data = [raw for _, raw in ready[:count]]
                del ready[:count]
                transport.write(b"".join(data))
                self.gateway.metrics.sent += len(data)
            if transport.get_write_buffer_size() > SLOW_CONSUMER_BYTES:
                # A client that does not read: let it go rather than hold its backlog;
                # everything is in the store for its ResendRequest when it comes back.
                print("tokex fix: closing a connection that does not read", file=sys.stderr)
                self.gateway.metrics.disconnected("slow_consumer")
                transport.abort()
                return
        if self.closing and not (self.pending or self.sealed or self.ready):
            transport.close()


class FixGateway(Requests, Executions):
    """The FIX acceptor of one node: in its process, or in its FIX worker."""

    def __init__(self, node: InProcessNode, store_dir: Path) -> None:
        self.node = node
        self.metrics = node.metrics.gateway("fix")
        self.read_at = 0
        config = node.config
        self.comp_id = config.fix_comp_id
        self.instruments = config.instruments
        assets = {a.id: a.precision for a in config.genesis.assets}
        self.quote_precision = assets
        self.numbers = {s: Numbers(i, assets[i.quote]) for s, i in self.instruments.items()}
        self.store = FixStore(store_dir, sync=config.fsync != "off")
        self.handles: dict[str, SessionHandle] = {}
        self.by_account: dict[str, list[SessionHandle]] = {}
        self.tracked: dict[int, Tracked] = {}
        self.contexts: dict[int, Context] = {}
        self.recovered: dict[tuple[str, str], int] = {}
        """After a crash of the machine: the orders (account, ClOrdID: order id) the
        journal holds after the sessions' stored floors, which a resend may bring
        again (:meth:`_recover_orders`)."""
        self.last_trade: dict[str, tuple[int, int]] = {}
        self.connections: set[Connection] = set()
        self.waiting: dict[int, Connection] = {}
        self.holding: dict[int, Connection] = {}
        """Connections with bytes the store holds that wait for the journal."""
        self.early = False
        """True while a batch is reported before it is durable (what is queued then waits)."""
        self.durable_seq = 0
        """The journal number of the last record published (durable)."""
        self._unsaved: dict[str, SessionHandle] = {}
        self._deferred: dict[str, SessionHandle] | None = None
        """While the listener reports a batch: the sessions to drain once it is done."""
        self.server: asyncio.Server | None = None
        self._commit_soon = False
        self._syncing = False
        self._unsynced = False
        """Frames were written since the last sync began."""
        self._last_sync = -SYNC_EVERY_S
        """When the last sync began (the loop's clock)."""
        self._sync_timer: asyncio.TimerHandle | None = None
        self._in_flight: dict[int, Connection] = {}
        """Connections whose bytes wait for the sync in flight (their numbers' reservation)."""
        self._next: dict[int, Connection] = {}
        """Connections whose bytes wait for the next sync."""
        self.poss_resend = False
        """While reports lost with the store in a crash of the machine are made again:
        they may have been sent before, and say so (PossResend, 97=Y)."""
        self._store_closed = False
        self._sync_thread: SyncThread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        """The running loop, once asked for (each ``asyncio.get_running_loop()`` is a
        ``getpid`` system call on Python 3.11, and a commit asks twice)."""
        self._timer: asyncio.Task[None] | None = None
        for access in config.access.values():
            for fix in access.fix_sessions:
                settings = SessionSettings(
                    self.comp_id,
                    fix.sender_comp_id,
                    access.api_key,
                    fix.password,
                    fix.reset_on_logon,
                    fix.heartbeat_max,
                )
                handle = SessionHandle(fix.sender_comp_id, access.account, fix, Session(settings))
                self.handles[handle.name] = handle
                self.by_account.setdefault(access.account, []).append(handle)
        self._early_listener = self._gated(self._on_batch)
        node.add_early_listener(self._early_listener)
        node.add_listener(self._published)
        # Market data reads the books in the early listener, right after its batch is
        # applied, and a subscription's snapshot is taken at a barrier (nothing is
        # applied ahead of one): the pipeline may apply ahead while sessions watch.

    # ------------------------------------------------------------ start and stop

    def open(self, journal_end: int | None) -> int | None:
        """Open the store and load the sessions from it; the journal record up to which
        the store holds every report (None: a store from before that was kept).

        ``journal_end``: the journal's last record when the node started (after a
        crash, what the store says of later records never happened: the store
        drops it); None when the node has not started since the store was last
        open (a FIX worker started again): all the store holds is true.
        Then :meth:`catch_up` (the reports the store misses; the open orders), then
        :meth:`start`.
        """
        self.durable_seq = self.node.applied_seq  # all that was recovered is durable
        self.store.open(journal_end)
        for name, handle in self.handles.items():
            stored = self.store.session(name)
            session = handle.session
            session.next_in, session.next_out = stored.next_in, stored.next_out
            handle.saved = (stored.next_in, stored.next_out)
            handle.reserved_durable = stored.reserved  # synced at opening
            handle.owned = set(stored.owned)
            handle.behind = self.store.machine_crashed
            handle.behind_floor = stored.floor
            session.history = self._history(name)
        return self.store.reported

    def track(self, engine: Engine | None = None) -> None:
        """Know the sessions' accounts' open orders as the node's engine holds them now
        (or ``engine``: an older state, where the store's reports stop)."""
        for account in self.by_account:
            if engine is None:
                views = self.node.open_orders(account)
            else:
                views = open_order_views(engine, account)
            for order in views:
                self.tracked[order.order_id] = tracked_view(order)

    def catch_up(self, data: Path, reported: int | None, through: int) -> None:
        """Make the reports of the journal's records after ``reported`` (the store's mark)
        up to ``through``, which no gateway heard (a FIX worker that died, a crash
        between the journal's sync and the store's), then know the open orders.

        Reads the data directory (the newest snapshot at or before the mark, then
        the journal; nothing in it changes) and applies the records to that older
        engine, each heard by the listeners as a durable batch (they are). If the
        journal no longer reaches back, says so: those reports are not made.
        """
        self._recover_orders(data, through)
        if reported is None or reported >= through:
            self.track()
            return
        try:
            engine, commands = read_range(data, reported, through)
        except (JournalError, SnapshotError, OSError) as e:
            print(
                f"tokex fix: the reports of records {reported + 1} to {through} cannot be"
                f" made: {e}",
                file=sys.stderr,
                flush=True,
            )
            self.track()
            return
        self.track(engine)
        process = engine.process
        # After a crash of the machine the store may have lost reports that went out.
        self.poss_resend = self.store.machine_crashed
        try:
            for command in commands:
                applied = [(command, process(command))]
                self._early_listener(applied)
                self._published(applied)
        finally:
            self.poss_resend = False
        print(
            f"tokex fix: made the reports of records {reported + 1} to {through},"
            " which no FIX gateway heard",
            file=sys.stderr,
            flush=True,
        )

    def _recover_orders(self, data: Path, through: int) -> None:
        """After a crash of the machine, learn the orders a resend may bring again.

        The sessions' stored ``next_in`` may be behind: a message the store lost
        the count of may have had its order journaled (and answered) all the
        same, and the counterparty, asked for the gap, resends it (PossDupFlag).
        Such an order is in the journal after the session's stored floor; its
        ClOrdID is learned here, and :meth:`_new_order` answers a resent one
        instead of placing it again (docs/FIX.md, "The store").
        """
        if not self.store.machine_crashed:
            return
        floors: dict[str, int] = {}
        for name, handle in self.handles.items():
            floor = self.store.session(name).floor
            if floor is not None and floor < through:
                floors[handle.account] = min(floor, floors.get(handle.account, floor))
        if not floors:
            return
        try:
            found = scan(data / "journal", after=min(floors.values()), covered=False)
        except (JournalError, OSError) as e:
            print(f"tokex fix: the orders a resend may repeat cannot be read: {e}", file=sys.stderr)
            return
        recovered = self.recovered
        for command in found.commands:
            if command.seq > through:
                break
            if type(command) is NewOrder and command.cl_ord_id is not None:
                floor = floors.get(command.account)
                if floor is not None and command.seq > floor:
                    recovered[(command.account, command.cl_ord_id)] = command.seq

    async def start(self, host: str, port: int, reuse_port: bool = False) -> int:
        """Cancel what lost sessions left open, listen; return the port (after
        :meth:`open` and :meth:`catch_up`).

        ``reuse_port``: listen with SO_REUSEPORT on a port the node holds for
        the worker that runs this gateway (and for the one started after it).
        """
        self.store.save_mark(self.node.applied_seq)  # all reported up to here
        # Every session is disconnected now: what a crash left open goes as if it just
        # dropped, and is reported (stored for the sessions) before anyone can log on.
        for handle in self.handles.values():
            self._cancel_on_disconnect(handle)
        loop = asyncio.get_running_loop()
        reported: asyncio.Future[None] = loop.create_future()
        self.node.enqueue_barrier(lambda: reported.set_result(None))
        await reported
        self.server = await loop.create_server(
            lambda: Connection(self), host, port, reuse_port=reuse_port or None
        )
        self._timer = loop.create_task(self._ticker(), name="fix-timers")
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop taking connections and log every session out (before the node closes).

        What cancel-on-disconnect covers is queued on the pipeline as the
        connections go, so the node's closing answers it and the reports
        reach the store (:meth:`close`, after the node's).
        """
        now, mono = self.node.now(), time.monotonic()
        if self.server is not None:
            self.server.close()
        for handle in self.handles.values():
            if handle.session.logged_on:
                handle.session.logout("the exchange is shutting down", now, mono)
                self._drain(handle)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(
            h.session.logged_on for h in self.handles.values()
        ):
            await asyncio.sleep(0.01)  # the counterparties' Logouts
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
            self.on_lost(conn)
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer

    async def close(self) -> None:
        """Make what the sessions were sent durable and close the store (after the node)."""
        while self._syncing or self._commit_soon:
            await asyncio.sleep(0.005)
        if self._sync_timer is not None:
            self._sync_timer.cancel()  # the close syncs everything
            self._sync_timer = None
        self._unsaved.update(self.handles)
        self._write_states()
        self.store.close()
        self._store_closed = True
        if self._sync_thread is not None:
            self._sync_thread.close()

    def _history(self, name: str) -> Callable[[int, int], list[tuple[int, bytes]]]:
        return lambda begin, end: self.store.history(name, begin, end)

    # ------------------------------------------------------------ connections

    def on_message(self, conn: Connection, item: Message | Garbled) -> None:
        """One framed message (or garbage) from ``conn``."""
        handle = conn.handle
        now, mono = self.node.now(), time.monotonic()
        self.read_at = time.perf_counter_ns()
        if isinstance(item, Garbled):
            if handle is None:
                self._drop(conn, f"garbled first message: {item.why}", "bad_logon")
            # A garbled message is ignored and takes no sequence number.
            return
        if handle is None:
            handle = self._route_logon(conn, item)
            if handle is None:
                return
        handle.session.receive(item, now, mono)
        self._drain(handle)

    def _route_logon(self, conn: Connection, message: Message) -> SessionHandle | None:
        """The session a first message logs on to; None (and the connection closed) if none.

        A first message that is not a FIX.4.4 Logon, or a Logon for a session
        already logged on from another connection (that one stays), is
        closed without a word, as QuickFIX does: a message would spend a
        number of a session that did not log on. A SenderCompID that names
        no session is told so in a Logout (FIX_API.md: wrong CompIDs get a
        Logout) numbered 1, outside every session; a wrong TargetCompID is
        refused by the session it names.
        """
        if message.msg_type != "A" or message.begin_string != BEGIN_STRING:
            self._drop(conn, "the first message is not a FIX.4.4 Logon", "bad_logon")
            return None
        sender = message.get(49) or ""
        handle = self.handles.get(sender)
        if handle is None:
            text = f"Logon refused: SenderCompID (49) {sender!r} is not a session of {self.comp_id}"
            header = (
                f"35=5\x0149={self.comp_id}\x0156={sender}\x0134=1\x01"
                f"52={format_timestamp(self.node.now())}\x01"
            )
            if conn.transport is not None and sender.isprintable() and sender:
                conn.transport.write(encode(header, f"58={text}\x01"))
            self._drop(conn, text, "bad_logon")
            return None
        if handle.conn is not None:
            self._drop(conn, f"session {handle.name} is already connected", "already_connected")
            return None
        handle.conn = conn
        conn.handle = handle
        handle.session.connect(time.monotonic())
        return handle

    def _drop(self, conn: Connection, why: str, kind: str) -> None:
        """Close ``conn`` before any session took it; ``kind`` labels the metric."""
        print(f"tokex fix: closing a connection: {why}", file=sys.stderr, flush=True)
        self.metrics.disconnected(kind)
        conn.closing = True
        if conn.transport is not None:
            conn.transport.close()

    def on_lost(self, conn: Connection) -> None:
        """The connection is gone: its session (if any) is away from now on."""
        if conn in self.connections:
            self.metrics.connections -= 1
            self.node.connected(-1)
        self.connections.discard(conn)
        self.waiting.pop(id(conn), None)
        handle = conn.handle
        conn.handle = None
        if handle is not None and handle.conn is conn:
            handle.conn = None
            handle.session.disconnected()
            self._away(handle)

    def _away(self, handle: SessionHandle) -> None:
        """A session ended (Logout or lost connection): drop its subscriptions, cancel."""
        handle.subscriptions.clear()
        self._cancel_on_disconnect(handle)

    def _cancel_on_disconnect(self, handle: SessionHandle) -> None:
        """Cancel the open orders entered through ``handle`` if its config says so."""
        if not handle.config.cancel_on_disconnect or not handle.owned:
            return
        node = self.node
        commands: list[Command] = [
            CancelOrder(0, 0, handle.account, oid)
            for oid in sorted(handle.owned)
            if node.order(oid) is not None
        ]
        if not commands:
            return
        context = Context(handle, "cod")

        def applied(result: list[Sequenced]) -> None:
            for command, _ in result[-len(commands) :]:
                self.contexts[command.seq] = context

        # Shutting down (RuntimeError): the orders stay, and go at the next start.
        with contextlib.suppress(RuntimeError):
            node.enqueue_early(commands, self._gated(applied))

    # ------------------------------------------------------------ what sessions produce

    def _gated(self, callback: Done) -> Done:
        """``callback`` as the node calls it before a batch is durable: what it queues waits.

        Everything it has a session send is numbered, stored (tagged with the
        journal number it depends on) and synced at once, while the journal
        syncs the batch; the bytes go once both are durable (:meth:`_published`).
        """

        def gated(applied: list[Sequenced]) -> None:
            self.early = True
            try:
                callback(applied)
            finally:
                self.early = False

        return gated

    def _published(self, applied: list[Sequenced]) -> None:
        """The node's listener: ``applied`` is durable; send what waited for it."""
        if applied:
            self.durable_seq = applied[-1][0].seq
        if self.holding:
            holding, self.holding = self.holding, {}
            for conn in holding.values():
                conn.flush()

    def _on_batch(self, applied: list[Sequenced]) -> None:
        """The early listener: report the batch, then drain each session it wrote to once."""
        self._deferred = {}
        try:
            self._on_applied(applied)
        finally:
            deferred, self._deferred = self._deferred, None
            for handle in deferred.values():
                self._drain(handle)
            if self._commit_soon:
                self._commit()  # now rather than a turn of the loop later

    def _send(self, handle: SessionHandle, msg_type: str, body: str) -> None:
        """Send an application message on ``handle`` (kept for a resend if it is away)."""
        handle.session.send_app(msg_type, body, self.node.now(), self.poss_resend)
        if self._deferred is None:
            self._drain(handle)
        else:
            self._deferred[handle.name] = handle

    def _drain(self, handle: SessionHandle) -> None:
        """Carry out what the session produced: its messages into the store, then its actions.

        The messages go first: they were made while the connection they are
        queued on was the session's (a Logout before the disconnect it causes).
        """
        session = handle.session
        store = self.store
        name = handle.name
        ended = False
        while session.actions or session.outbox:
            conn = handle.conn
            out, session.outbox = session.outbox, []
            actions, session.actions = session.actions, []
            if any(isinstance(action, Reset) for action in actions):
                # A Logon reset the numbers: forget the old ones before storing new messages.
                store.reset(name)
                handle.saved = (1, 1)
                handle.reserved_durable = 1
                handle.epoch += 1
                handle.in_flight.clear()
                handle.subscriptions.clear()
                handle.behind = False  # nothing sent before the reset is resent
            # Whatever a message says may rest on state the engine applied and the journal
            # has not synced yet (a batch's reports, or a status read between batches):
            # it waits for all that is applied now, and is stored as telling of it.
            need = self.node.applied_seq
            for message in out:
                if message.resend:
                    # A copy from the store may tell of a record not yet durable (made
                    # while the session was away): it waits for all that is applied.
                    if conn is not None:
                        conn.queue(message.raw, need)
                    continue
                if message.app:
                    store.save_message(name, message.seq, message.raw, need)
                if conn is not None:
                    conn.queue(message.raw, need)
            for action in actions:
                if isinstance(action, Deliver):
                    self._deliver(handle, action)
                elif isinstance(action, LoggedOn):
                    handle.tokens = float(self.node.config.rate_burst)
                    handle.refilled = time.monotonic()
                elif isinstance(action, Disconnect) and conn is not None:
                    print(f"tokex fix: {name}: {action.reason}", file=sys.stderr, flush=True)
                    self.metrics.disconnected("session")
                    conn.closing = True
                    conn.handle = None
                    self.waiting[id(conn)] = conn
                    handle.conn = None
                    ended = True
        if ended:
            self._away(handle)
        self._save(handle)

    def _save(self, handle: SessionHandle) -> None:
        """Have the next commit store ``handle``'s numbers (once, however often they moved).

        Nothing to commit (the numbers as stored, no order entered or closed, no
        frame queued, no connection waiting: a request just passed to the node,
        whose number is stored once its commands are durable) asks for no commit.
        """
        if (
            not self.waiting
            and not self.store.dirty
            and not handle.owned_added
            and not handle.owned_removed
            and handle.saved == (handle.durable_in, handle.session.next_out)
        ):
            return
        self._unsaved[handle.name] = handle
        self._schedule_commit()

    def _write_states(self) -> bool:
        """Store the numbers that moved; True if some message used a number that no
        synced reservation covers yet (its bytes wait for the next sync)."""
        store = self.store
        beyond = False
        for handle in self._unsaved.values():
            next_out = handle.session.next_out
            if next_out + RESERVE_BLOCK // 2 > store.session(handle.name).reserved:
                # Half the block used: reserve the next one now, so that the sync
                # which makes it durable is done long before a message needs it.
                store.reserve(handle.name, next_out + RESERVE_BLOCK)
            if next_out > handle.reserved_durable:
                beyond = True
            state = (handle.durable_in, next_out)
            if state != handle.saved:
                store.save_state(handle.name, *state, self._floor(handle))
                handle.saved = state
            if handle.owned_added or handle.owned_removed:
                store.save_owned(
                    handle.name, handle.owned_added, handle.owned_removed, self.node.applied_seq
                )
                handle.owned_added, handle.owned_removed = [], []
        self._unsaved.clear()
        return beyond

    def _floor(self, handle: SessionHandle) -> int | None:
        """What to store as the floor of ``handle``'s ``next_in`` (``StoredSession.floor``).

        Every message from ``durable_in`` on has its commands, if any, after the
        last record published: requests go to the node in order, and one leaves
        ``in_flight`` in the same turn of the loop as its batch is published.
        """
        if handle.behind:
            if not handle.session.in_step:
                return handle.behind_floor
            handle.behind = False
        return self.durable_seq

    # ------------------------------------------------------------ the store gate

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def _schedule_commit(self) -> None:
        if not self._commit_soon and not self._store_closed:
            self._commit_soon = True
            self._running_loop().call_soon(self._commit_if_due)

    def _commit_if_due(self) -> None:
        """The loop's turn for the commit asked for, unless one ran since (a batch's)."""
        if self._commit_soon:
            self._commit()

    def _commit(self) -> None:
        """Write what the sessions queued, send what may go, and have the store synced.

        Bytes go (once the journal has published what they tell of) as soon as
        their frames are written, unless a number in them is beyond the
        session's synced reservation (a Logon after a reset, or a burst past
        half a block within one sync): then they, and whatever that
        connection queues after them, wait for the sync.
        """
        self._commit_soon = False
        beyond = self._write_states()
        # Every report of what the engine applied so far is queued by now (the early
        # listener makes them as each batch is applied): the mark says so.
        self.store.save_mark(self.node.applied_seq)
        conns = list(self.waiting.values())
        self.waiting.clear()
        for conn in conns:
            conn.sealed += conn.pending
            conn.pending = []
        store = self.store
        if store.dirty:
            store.write()
            self._unsynced = True
        if not store.sync_enabled:
            for conn in conns:
                conn.release()
            return
        for conn in conns:
            key = id(conn)
            if beyond or key in self._next or key in self._in_flight:
                # Behind bytes that wait, or waiting itself: for the next sync, which
                # covers everything written by now (the one in flight may not).
                self._in_flight.pop(key, None)
                self._next[key] = conn
            else:
                conn.release()
        self._start_sync()

    def _start_sync(self) -> None:
        """Sync what was written (worker thread), unless a sync is in flight.

        With bytes waiting for it, at once; otherwise (it only bounds what a crash
        of the machine can take from the store) no sooner than
        :data:`SYNC_EVERY_S` after the last one began, so that under load one
        sync covers many commits rather than one each.
        """
        if self._syncing or self._store_closed or not (self._unsynced or self._next):
            return
        loop = self._running_loop()
        if not self._next:
            wait = self._last_sync + SYNC_EVERY_S - loop.time()
            if wait > 0:
                if self._sync_timer is None:
                    self._sync_timer = loop.call_later(wait, self._sync_due)
                return
        if self._sync_timer is not None:
            self._sync_timer.cancel()
            self._sync_timer = None
        self._last_sync = loop.time()
        self._syncing = True
        self._unsynced = False
        self._in_flight, self._next = self._next, {}
        store = self.store
        covers = [(h, h.epoch, store.session(h.name).reserved) for h in self.handles.values()]
        if self._sync_thread is None:
            self._sync_thread = SyncThread("fix-store-sync", loop)
        self._sync_thread.run(store.sync, partial(self._synced, covers=covers))

    def _sync_due(self) -> None:
        self._sync_timer = None
        self._last_sync = -SYNC_EVERY_S
        self._start_sync()

    def _synced(
        self, error: BaseException | None, covers: list[tuple[SessionHandle, int, int]]
    ) -> None:
        self._syncing = False
        conns, self._in_flight = self._in_flight, {}
        if error is not None:
            # The store cannot be trusted: say nothing more rather than something it lost.
            print(f"tokex fix: the session store failed: {error!r}", file=sys.stderr, flush=True)
            self._store_closed = True
            for conn in (*conns.values(), *self._next.values(), *self.connections):
                if conn.transport is not None:
                    conn.transport.abort()
            return
        for handle, epoch, reserved in covers:
            if handle.epoch == epoch:  # not reset since: that reservation holds
                handle.reserved_durable = max(handle.reserved_durable, reserved)
        for conn in conns.values():
            conn.release()
        self._start_sync()

    # ------------------------------------------------------------ timers

    async def _ticker(self) -> None:
        marked = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            now, mono = self.node.now(), time.monotonic()
            if mono - marked >= MARK_EVERY_S:
                # While no session hears anything the commits stop, and with them the
                # mark: a commit of the mark alone keeps a FIX worker started again
                # from reporting over a long stretch of the journal (or one pruned).
                marked = mono
                if (self.store.reported or 0) < self.node.applied_seq:
                    self._schedule_commit()
            for handle in self.handles.values():
                if handle.session.connected:
                    handle.session.tick(now, mono)
                    if handle.session.actions or handle.session.outbox:
                        self._drain(handle)
            for conn in list(self.connections):
                if conn.handle is None and not conn.closing and mono - conn.opened > 10.0:
                    self._drop(conn, "no Logon within 10 s", "logon_timeout")
