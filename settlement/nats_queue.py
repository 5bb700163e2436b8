"""The distributed queue backend: a NATS JetStream stream, through ``nats-py``.

The stream (``[settlement] nats_stream``, subject ``tokex.settlement.<stream>``)
is file-backed, ``nats_replicas`` copies (1 on one server, 3 in a cluster),
limits retention (messages stay after they are booked, so the tail can
always be read) and a two-minute duplicate window.

Writer (the node): each message is published with ``Nats-Msg-Id`` = its
engine seq, so a re-sent message is stored once, and with
``Nats-Expected-Last-Sequence`` = the stream seq it must follow, so nothing
is ever appended out of order or after a gap, also once the duplicate
window has passed. The client runs on its own event loop and thread, so the
node's busy loop never delays a publish. Publishing is pipelined
(``publish_async``); on any
error the writer reads the stream's tail again, drops what the stream
holds already and sends the rest. The tail (the engine seq in the last
message's ``Nats-Msg-Id``) is what the node re-derives after.

Reader (the worker): a durable pull consumer with cumulative acks (one per
booked batch acknowledges everything up to it). The
ledger holds the authoritative position (the stream seq of the last message
it booked), so on every ``open`` the consumer is made anew to deliver from
the message after it: messages an earlier worker fetched and never acked
come at once, in order, instead of after ``ack_wait``. Acks go out after
the ledger's commit; a redelivery is recognised by the ledger and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from node.config import SettlementConfig
from settlement.queue import Delivery, QueueError
from settlement.records import Message, decode_message, encode_message

__all__ = ["NatsReader", "NatsWriter", "subject_of"]

T = TypeVar("T")

DUPLICATE_WINDOW_S = 120.0
CONSUMER = "tokex-settlement-worker"
PUBLISH_CHUNK = 1_000
"""Messages published before their acknowledgements are awaited."""


def subject_of(stream: str) -> str:
    return f"tokex.settlement.{stream}"


async def _quiet(_: Exception) -> None:
    """Connection errors are reported by the calls that fail, not printed by the client."""


async def _connect(url: str) -> tuple[Client, JetStreamContext]:
    try:
        nc = await nats.connect(
            url,
            connect_timeout=2,
            reconnect_time_wait=0.2,
            max_reconnect_attempts=-1,
            allow_reconnect=True,
            error_cb=_quiet,
        )
    except Exception as e:  # nats raises its own and OSError subclasses alike
        raise QueueError(f"{url}: cannot connect to NATS: {type(e).__name__}: {e}") from None
    return nc, nc.jetstream(timeout=5)


def _engine_seq(headers: dict[str, str] | None) -> int:
    value = (headers or {}).get("Nats-Msg-Id", "")
    if not value.isdigit():
        raise QueueError(f"a message without a numeric Nats-Msg-Id ({value!r}): not tokex's")
    return int(value)


class NatsWriter:
    """The node's side: pipelined, deduplicated, gapless publishing (module docstring)."""

    def __init__(self, config: SettlementConfig) -> None:
        self.config = config
        self.stream = config.nats_stream
        self.subject = subject_of(self.stream)
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._pending: list[Message] = []
        self._stored = 0
        self._stream_seq = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.error: str | None = None
        # The client runs on an event loop of its own, on a thread of its own: the
        # node's loop, busy with the gateways under load, would delay every publish.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="settlement-nats", daemon=True
        )
        self._thread.start()

    async def _on(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the writer's own loop and wait for it from the caller's."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def open(self) -> int:
        return await self._on(self._open())

    async def _open(self) -> int:
        self._nc, self._js = await _connect(self.config.nats_url)
        cfg = StreamConfig(
            name=self.stream,
            subjects=[self.subject],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            num_replicas=self.config.nats_replicas,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
        try:
            try:
                await self._js.stream_info(self.stream)
                await self._js.update_stream(cfg)
            except nats.js.errors.NotFoundError:
                await self._js.add_stream(cfg)
            await self._read_tail()
        except QueueError:
            raise
        except Exception as e:
            raise QueueError(f"{self.config.nats_url}: stream {self.stream}: {e}") from None
        self._task = asyncio.get_running_loop().create_task(self._run(), name="settlement-nats")
        return self._stored

    async def _read_tail(self) -> None:
        js = self._js
        assert js is not None
        state = (await js.stream_info(self.stream)).state
        self._stream_seq = state.last_seq
        if state.messages:
            last = await js.get_msg(self.stream, seq=state.last_seq)
            self._stored = max(self._stored, _engine_seq(last.headers))

    def put(self, messages: list[Message]) -> None:
        messages = [m for m in messages if m.seq > self._stored]  # the stream has those
        if messages:
            self._loop.call_soon_threadsafe(self._take, messages)

    def _take(self, messages: list[Message]) -> None:
        self._pending += messages
        self._idle.clear()
        self._wake.set()

    @property
    def stored(self) -> int:
        return self._stored

    async def _publish(self, batch: list[Message]) -> None:
        js = self._js
        assert js is not None
        futures = []
        expected = self._stream_seq
        for m in batch:
            headers = {
                "Nats-Msg-Id": str(m.seq),
                "Nats-Expected-Last-Sequence": str(expected),
            }
            body = encode_message(m)
            futures.append(await js.publish_async(self.subject, body, headers=headers))
            expected += 1
        for m, future in zip(batch, futures, strict=True):
            ack = await future  # raises on a refused or lost publish: the caller recovers
            self._stream_seq = max(self._stream_seq, ack.seq)
            self._stored = m.seq

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[:PUBLISH_CHUNK]
                try:
                    await self._publish(batch)
                except Exception as e:  # refused, timed out, disconnected: resync and resend
                    self.error = f"{type(e).__name__}: {e}"
                    await asyncio.sleep(0.2)
                    with contextlib.suppress(Exception):
                        await self._read_tail()
                    self._pending = [m for m in self._pending if m.seq > self._stored]
                    continue
                self.error = None
                self._pending = [m for m in self._pending if m.seq > self._stored]
            self._idle.set()

    async def flush(self) -> None:
        await self._on(self._idle.wait())

    async def pending_after(self, cursor: int) -> list[tuple[int, int]]:
        """(seq, fed_ns) of the stored messages after the stream seq ``cursor`` (at most 10,000)."""
        return await self._on(self._pending_after(cursor))

    async def _pending_after(self, cursor: int) -> list[tuple[int, int]]:
        js = self._js
        assert js is not None
        out = []
        for sseq in range(cursor + 1, min(self._stream_seq, cursor + 10_000) + 1):
            m = decode_message((await js.get_msg(self.stream, seq=sseq)).data or b"")
            out.append((m.seq, m.fed_ns))
        return out

    async def close(self) -> None:
        if not self._thread.is_alive():
            return
        await self._on(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _close(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), 10)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None


class NatsReader:
    """The worker's side: the durable pull consumer, made anew at the ledger's position."""

    def __init__(self, config: SettlementConfig) -> None:
        self.config = config
        self.stream = config.nats_stream
        self.subject = subject_of(self.stream)
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PullSubscription | None = None

    async def _ready(self) -> JetStreamContext:
        if self._js is None:
            self._nc, self._js = await _connect(self.config.nats_url)
        return self._js

    async def open(self, cursor: int, seq: int) -> None:
        js = await self._ready()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        start = 1
        if cursor:
            try:
                found = await js.get_msg(self.stream, seq=cursor)
                if _engine_seq(found.headers) == seq:
                    start = cursor + 1
            except nats.js.errors.NotFoundError:
                pass  # the stream was made anew: read it all, the ledger skips what it has
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_consumer(self.stream, CONSUMER)
        try:
            await js.add_consumer(
                self.stream,
                ConsumerConfig(
                    durable_name=CONSUMER,
                    ack_policy=AckPolicy.ALL,
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=start,
                    ack_wait=self.config.nats_ack_wait_ms / 1000,
                    max_ack_pending=20_000,
                    filter_subject=self.subject,
                ),
            )
        except nats.js.errors.NotFoundError:
            raise QueueError(
                f"stream {self.stream} does not exist (has the node started?)"
            ) from None
        self._sub = await js.pull_subscribe_bind(CONSUMER, stream=self.stream)

    async def fetch(self, limit: int, timeout: float) -> list[Delivery]:
        sub = self._sub
        if sub is None:
            raise QueueError("the NATS reader is not open")
        try:
            msgs = await sub.fetch(limit, timeout=max(timeout, 0.001))
        except TimeoutError:  # nats' own, or asyncio's from deep inside the client
            return []
        return [
            Delivery(
                decode_message(m.data),
                m.metadata.sequence.stream,
                m,
                m.metadata.num_delivered > 1,
            )
            for m in msgs
        ]

    async def ack(self, deliveries: list[Delivery]) -> None:
        # Acks are cumulative (AckPolicy all): the last one covers the batch before it.
        if deliveries:
            with contextlib.suppress(nats.errors.MsgAlreadyAckdError):
                await deliveries[-1].handle.ack()

    async def depth(self, cursor: int) -> tuple[int, int | None]:
        js = await self._ready()
        state = (await js.stream_info(self.stream)).state
        count = max(0, state.last_seq - cursor)
        if not count:
            return 0, None
        first: Any = await js.get_msg(self.stream, seq=cursor + 1)
        return count, decode_message(first.data or b"").fed_ns

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = self._js = self._sub = None
