"""The channel between the node and its gateway workers: length-prefixed msgpack frames
over a Unix socket.

Each frame is a 4-byte big-endian length and one msgpack-encoded message
(:data:`Up` from a worker, :data:`Down` from the node). A worker sends one
:class:`Requests` frame per turn of its event loop, holding every request its
connections made in that turn (commands already parsed and validated, checks,
barriers, logins, presence changes, token uses). The node answers each durable
batch with one :class:`Batch` frame per worker: the worker's own answers, and
the batch's commands as applied (stamped), in engine order, encoded once for
all workers (:class:`msgspec.Raw`) so the node's cost per batch does not grow
with the number of workers' clients; each worker's copy of the engine applies
them and makes the same events.

The messages are plain data: commands and events are the frozen structs of
:mod:`model.commands` and :mod:`engine.events`, tagged, exactly as in the
journal.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any, cast

import msgspec

from engine.events import Event
from model.commands import CancelAll, Command, NewOrder

__all__ = [
    "Admit",
    "Admitted",
    "Advance",
    "Answer",
    "Barrier",
    "BarrierDone",
    "Batch",
    "ChannelReader",
    "Check",
    "Checked",
    "Connections",
    "Down",
    "Enqueue",
    "Failed",
    "FrameProtocol",
    "FrameReader",
    "Frames",
    "GatewayCounts",
    "Hello",
    "LoggedIn",
    "Login",
    "LoginFailed",
    "Presence",
    "Release",
    "Report",
    "Requests",
    "Stats",
    "Tick",
    "TokenIssued",
    "Touch",
    "Up",
    "Welcome",
    "applied_from_journal",
    "decode_applied",
    "decode_down",
    "decode_up",
    "encode",
    "encode_applied",
    "frame",
]

HEADER = struct.Struct(">I")
_HEAD = HEADER.size
MAX_FRAME = 256 * 1024 * 1024
"""A larger length is a broken peer: the channel is closed."""


# ----------------------------------------------------------------- worker -> node


class Hello(msgspec.Struct, tag="hello", array_like=True):
    """A worker's first message: its index (0..N-1; N: the FIX worker) and process id."""

    index: int
    pid: int
    early: bool = False
    """Send this worker each batch as soon as it is applied (:class:`Applied`), and the
    answers once it is durable (:class:`Durable`): the FIX worker, whose session store
    syncs what it will send beside the journal's sync (docs/WORKERS.md)."""


class Enqueue(msgspec.Struct, tag="enqueue", array_like=True):
    """Commands for the pipeline (one, or a group applied back to back)."""

    id: int
    commands: list[Command]
    group: bool


class Check(msgspec.Struct, tag="check", array_like=True):
    """A dry run of orders (``validate``)."""

    id: int
    orders: list[NewOrder]


class Barrier(msgspec.Struct, tag="barrier", array_like=True):
    """Answered once everything queued before it is durable and published."""

    id: int


class Tick(msgspec.Struct, tag="tick", array_like=True):
    """Run the timers due now."""

    id: int


class Login(msgspec.Struct, tag="login", array_like=True):
    """Take a nonce and issue a token (the signature was checked by the worker).

    ``issue`` False: take the nonce only (a signed REST call,
    :meth:`node.interface.Node.use_nonce`); answered with an empty token.
    """

    id: int
    api_key: str
    nonce: int
    issue: bool = True


class Connections(msgspec.Struct, tag="connections", array_like=True):
    """The FIX worker's client connections changed by ``delta``: while it has none the
    node holds its batches (as for a WebSocket worker with no connection)."""

    delta: int


class Presence(msgspec.Struct, tag="presence", array_like=True):
    """Connections logged in to ``account`` on this worker changed by ``delta``.

    ``cancel``: the worker's last connection of the account went and its
    configuration cancels on disconnect: the node sends ``cancel`` if no
    connection of the account is left on any worker.
    """

    account: str
    delta: int
    cancel: CancelAll | None = None


class Touch(msgspec.Struct, tag="touch", array_like=True):
    """A session token (by its digest) was used at ``ts`` on this worker."""

    digest: bytes
    ts: int


class Advance(msgspec.Struct, tag="advance", array_like=True):
    """An operator moves the simulated clock on by ``ns`` (``clock_advance``)."""

    ns: int


class Admit(msgspec.Struct, tag="admit", array_like=True):
    """May a new connection from ``address`` be taken? (the quota counts every worker's)."""

    id: int
    address: str


class Release(msgspec.Struct, tag="release", array_like=True):
    """A connection from ``address`` that the node admitted is closed."""

    address: str


Request = (
    Enqueue
    | Check
    | Barrier
    | Tick
    | Login
    | Presence
    | Touch
    | Advance
    | Admit
    | Release
    | Connections
)


class Requests(msgspec.Struct, tag="requests", array_like=True):
    """What one turn of a worker's loop asks, in the order asked."""

    items: list[Request]


class GatewayCounts(msgspec.Struct, array_like=True):
    """One gateway's counters in a worker (node/metrics.py ``GatewayMetrics``), as they stand."""

    protocol: str
    connections: int
    connections_total: int
    received: int
    sent: int
    rate_limited: int
    disconnects: dict[str, int]
    errors: dict[str, int]
    ack: dict[str, tuple[list[int], float]]
    """By method: each bucket's own count (not cumulative, +Inf last) and the sum."""


class Stats(msgspec.Struct, tag="stats", array_like=True):
    """A worker's metrics, sent every second (the node's ``/metrics`` shows them)."""

    gateways: list[GatewayCounts]
    cpu_seconds: float
    """The worker process' user and system CPU time."""
    resident_bytes: int
    loop_lag: tuple[list[int], float]
    """The worker's event-loop lag histogram (bucket counts and sum)."""


class Listening(msgspec.Struct, tag="listening", array_like=True):
    """The worker's gateways listen: its ports take connections now."""


class Stopped(msgspec.Struct, tag="stopped", array_like=True):
    """The FIX worker, told to stop, has logged its sessions out and its requests are
    answered: the node may close its pipeline (the worker still hears every batch)."""


Up = Hello | Requests | Stats | Listening | Stopped


# ----------------------------------------------------------------- node -> worker


class Welcome(msgspec.Struct, tag="welcome", array_like=True):
    """The state a worker starts from: the engine as durable now, nonces and live tokens."""

    engine: bytes
    """The engine as a snapshot holds it (engine/snapshot.py's encode)."""
    nonces: dict[str, int]
    tokens: list[tuple[bytes, str, int]]
    """(digest, account, last use) of each live session token."""
    reports: dict[str, Any]
    clock: int = 0
    """A simulated clock's time now (0: the exchange runs on the system clock)."""
    journal_end: int | None = None
    """To the node's first FIX worker: the journal's last record when the node started
    (what its FIX store may say of later records a crash took; ``FixStore.open``)."""


class Admitted(msgspec.Struct, tag="admitted", array_like=True):
    """The answer to :class:`Admit`: ``ok`` False, the address holds its quota on all workers."""

    id: int
    ok: bool


class Answer(msgspec.Struct, tag="done", array_like=True):
    """Request ``id`` is durable: its result is the batch's items ``first`` .. ``first+count``."""

    id: int
    first: int
    count: int


class Failed(msgspec.Struct, tag="failed", array_like=True):
    """Request ``id`` was not applied (the journal could not take it, or the node refused)."""

    id: int
    error: str
    busy: bool = False


class Checked(msgspec.Struct, tag="checked", array_like=True):
    """The dry run ``id``: None, or (index, reason, text) of the first order refused."""

    id: int
    refusal: tuple[int, str, str] | None


class BarrierDone(msgspec.Struct, tag="barrier_done", array_like=True):
    id: int


class LoggedIn(msgspec.Struct, tag="logged_in", array_like=True):
    id: int
    token: str


class LoginFailed(msgspec.Struct, tag="login_failed", array_like=True):
    id: int
    error: str
    nonce_used: bool


class TokenIssued(msgspec.Struct, tag="token", array_like=True):
    """Shared access state, to every worker: a nonce taken, a token issued or used."""

    api_key: str | None
    nonce: int
    digest: bytes
    account: str
    ts: int


class Report(msgspec.Struct, tag="report", array_like=True):
    """The node's named status reports (settlement), sent every second."""

    reports: dict[str, Any]


Reply = Answer | Failed | Checked | BarrierDone | LoggedIn | LoginFailed | TokenIssued | Admitted


class Batch(msgspec.Struct, tag="batch", array_like=True):
    """One durable batch for one worker: its answers first, then the batch's items."""

    replies: list[Reply]
    applied: msgspec.Raw
    """The batch's commands as applied, encoded once (:func:`encode_applied`)."""
    busy: bool
    """The node refuses order entry now (its queue limit or wait bound)."""
    clock: int = 0
    """A simulated clock's time now (0: the exchange runs on the system clock)."""


class Applied(msgspec.Struct, tag="applied", array_like=True):
    """To an early worker, as soon as the node applied a batch (before it is durable)."""

    replies: list[Answer]
    """The results of this worker's requests in the batch (their answers come durable)."""
    applied: msgspec.Raw
    """The batch's commands as applied (:func:`encode_applied`)."""
    clock: int = 0


class Durable(msgspec.Struct, tag="durable", array_like=True):
    """To an early worker: everything applied up to record ``upto`` is durable (0: no news
    of that), and the answers, as :class:`Batch` carries them to the others."""

    replies: list[Reply]
    upto: int
    busy: bool
    clock: int = 0


Down = Welcome | Batch | Report | Applied | Durable


_encoder = msgspec.msgpack.Encoder()
_up = msgspec.msgpack.Decoder(Up)
_down = msgspec.msgpack.Decoder(Down)
_applied = msgspec.msgpack.Decoder(list[Command])

EMPTY = msgspec.Raw(_encoder.encode([]))
_ARRAY16 = struct.Struct(">BH")
_ARRAY32 = struct.Struct(">BI")


def encode(message: Up | Down) -> bytes:
    return _encoder.encode(message)


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


def encode_applied(applied: list[tuple[Command, list[Event]]]) -> msgspec.Raw:
    """A batch's commands, as applied (stamped), encoded once for every worker.

    Only the commands: a worker's copy of the engine applies them and gets
    the same events the node's engine made (the engine is deterministic), so
    the events need not cross the channel.
    """
    return msgspec.Raw(_encoder.encode([command for command, _ in applied]))


def applied_from_journal(encoded: list[bytes]) -> msgspec.Raw:
    """:func:`encode_applied` from the commands as the journal encoded them (the same
    msgpack of each stamped command): an array header and the payloads as they are,
    so a batch's commands are encoded once, for the journal and every worker alike."""
    count = len(encoded)
    if count < 16:
        head = bytes((0x90 | count,))
    elif count < 1 << 16:
        head = _ARRAY16.pack(0xDC, count)
    else:
        head = _ARRAY32.pack(0xDD, count)
    return msgspec.Raw(head + b"".join(encoded))


def decode_applied(raw: msgspec.Raw) -> list[Command]:
    return _applied.decode(raw)


def decode_up(payload: bytes) -> Up:
    return _up.decode(payload)


def decode_down(payload: bytes) -> Down:
    return _down.decode(payload)


class Frames:
    """Cuts a byte stream into whole frames, however it arrives (the channel's framing).

    :meth:`feed` takes the bytes just read and returns the payloads of the
    frames they completed, in order; a partial frame waits in the buffer for
    the rest. A length above :data:`MAX_FRAME` is a broken peer
    (ConnectionError).
    """

    __slots__ = ("buffer",)

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self.buffer
        buffer += data
        out: list[bytes] = []
        pos = 0
        end = len(buffer)
        unpack = HEADER.unpack_from
        while end - pos >= _HEAD:
            (size,) = unpack(buffer, pos)
            if size > MAX_FRAME:
                raise ConnectionError(f"a frame of {size} bytes: the peer is broken")
            start = pos + _HEAD
            if end - start < size:
                break
            pos = start + size
            out.append(bytes(buffer[start:pos]))
        if pos:
            del buffer[:pos]
        return out


class FrameProtocol(asyncio.Protocol):
    """The channel read as an :class:`asyncio.Protocol`: each chunk the loop reads is cut
    into frames (:class:`Frames`) and handed to ``on_frames`` at once, with no
    coroutine or stream buffer between the socket and the node (``node.hub``).

    ``on_lost`` is called once when the connection ends (closed, broken, or a
    frame too large, which closes it).
    """

    def __init__(
        self,
        on_frames: Callable[[FrameProtocol, list[bytes]], None],
        on_lost: Callable[[FrameProtocol], None],
    ) -> None:
        self.on_frames = on_frames
        self.on_lost = on_lost
        self._cut = Frames()
        self.transport: asyncio.Transport | None = None
        self.state: Any = None
        """What the owner keeps for this connection (the hub: its worker)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not a subclass of asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            got = self._cut.feed(data)
        except ConnectionError:
            if self.transport is not None:
                self.transport.close()  # a broken peer: the end follows (connection_lost)
            return
        if got:
            self.on_frames(self, got)

    def eof_received(self) -> bool:
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_lost(self)


class ChannelReader(FrameProtocol):
    """A worker's end of the channel (:func:`node.worker.connect`): the node's
    :class:`FrameProtocol`, with frames that wait to be taken.

    Until :meth:`push`, frames wait to be taken with :meth:`frames` (the
    worker waits so for its welcome); from then on each chunk the loop reads
    is cut into frames and handed to the callback at once, with no stream
    buffer, future or task wake-up between the socket and the worker's copy
    of the engine (a FIX worker gets two frames a batch).
    """

    def __init__(self) -> None:
        super().__init__(self._read, self._closed)
        self._ready: list[bytes] = []
        self._ended = False
        self._waiter: asyncio.Future[None] | None = None
        self._on_frames: Callable[[list[bytes]], None] | None = None
        self._on_end: Callable[[], None] | None = None

    def _read(self, _: FrameProtocol, got: list[bytes]) -> None:
        if self._on_frames is not None:
            self._on_frames(got)
            return
        self._ready += got
        self._wake()

    def _closed(self, _: FrameProtocol) -> None:
        self._ended = True
        self._wake()
        if self._on_end is not None:
            self._on_end()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def unread(self, frames: list[bytes]) -> None:
        """Give back ``frames`` (read with others, not taken): they come first."""
        self._ready = frames + self._ready

    async def frames(self) -> list[bytes]:
        """The frames read (waiting for at least one); [] at the end of the channel."""
        while not self._ready:
            if self._ended:
                return []
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        out, self._ready = self._ready, []
        return out

    def push(self, on_frames: Callable[[list[bytes]], None], on_end: Callable[[], None]) -> None:
        """From now on hand each read's frames to ``on_frames`` (those waiting first), and
        call ``on_end`` once when the channel ends."""
        self._on_frames, self._on_end = on_frames, on_end
        ready, self._ready = self._ready, []
        if ready:
            on_frames(ready)
        if self._ended:
            on_end()


class FrameReader:
    """Reads whole frames from a stream: every frame already buffered at once."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self._frames = Frames()
        self._unread: list[bytes] = []

    def unread(self, frames: list[bytes]) -> None:
        """Give back ``frames`` (read with others, not taken): :meth:`frames` returns them first."""
        self._unread = frames + self._unread

    async def frames(self) -> list[bytes]:
        """The frames available (waiting for at least one); [] at the end of the stream."""
        out = self._unread + self._frames.feed(b"")
        self._unread = []
        while not out:
            chunk = await self.reader.read(1 << 20)
            if not chunk:
                return []
            out = self._frames.feed(chunk)
        return out
