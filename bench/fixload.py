"""A lean FIX 4.4 client for the end-to-end load generator (``python -m bench fix``).

A general FIX engine spends most of a load generator's CPU on its own
session bookkeeping, and the one the tests use (jspurefix) takes a Node
process and milliseconds per message. :class:`FixClient` does the minimum,
as :mod:`bench.wsclient` does for WebSocket: one Logon (ResetSeqNumFlag=Y),
then NewOrderSingle and OrderCancelRequest on :class:`bench.wsload`'s
open-loop schedule, order mix and measurements (it is a
:class:`bench.wsload.Client` subclass), and incoming messages split at their
trailer and read for the four tags it needs (35, 11, 150, 39). The exchange's
clock is a simulated one that stands still in the bench, so SendingTime and
TransactTime are that instant, written once.

What is measured, per request scheduled after the warm-up:

* ``ack``: scheduled send -> the first ExecutionReport (or OrderCancelReject)
  carrying the request's ClOrdID: for an order its 150=0 (or 8), for a
  cancel its 150=4 (or the 9). On FIX the acknowledgement is the first
  execution report;
* ``exec`` is the *fill*: scheduled send of a marketable IOC order -> its
  first 150=F report. An IOC that finds nothing to trade has no fill
  (``exec_missing`` counts those).

ClOrdIDs are ``c<i>`` for order ``i`` of the schedule and ``x<i>`` for
cancel ``i``, so an answer finds its request by index, without a lookup.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from bench.wsload import ClientSpec, WorkerSpec
from bench.wsload import _Client as Client
from gateway.fix.codec import encode

__all__ = ["FixClient", "comp_id", "sending_time"]

_HOST = "127.0.0.1"
_TERMINAL = frozenset((b"2", b"4", b"C", b"8"))


def comp_id(index: int) -> str:
    """The SenderCompID of bench client ``index``."""
    return f"B{index:03d}"


def sending_time(clock: str) -> str:
    """The simulated clock's instant (``sim:2026-11-23T15:00:00Z``) as a FIX UTCTimestamp."""
    text = clock.removeprefix("sim:").rstrip("Z")
    day, _, hms = text.partition("T")
    return f"{day.replace('-', '')}-{hms[:8]}.000"


def _field(message: bytes, tag: bytes) -> bytes:
    """The value of ``tag`` (``b"\\x0111="``) in ``message``, or b""."""
    at = message.find(tag)
    if at < 0:
        return b""
    start = at + len(tag)
    return message[start : message.find(b"\x01", start)]


class _Wire(asyncio.Protocol):
    """The TCP connection: frames out in one write, messages in split at their trailers."""

    def __init__(self, client: FixClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self._buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.opened.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos = 0
        on_message = self.client.on_message
        while True:
            at = buf.find(b"\x0110=", pos)
            if at < 0 or len(buf) < at + 8:
                break
            on_message(bytes(buf[pos : at + 8]))
            pos = at + 8
        if pos:
            del buf[:pos]

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class FixClient(Client):
    """A bench trader on the FIX gateway (``spec.clock`` is the exchange's frozen time)."""

    conn: _Wire

    def __init__(self, spec: WorkerSpec, client: ClientSpec) -> None:
        super().__init__(spec, client)
        self.conn = _Wire(self)
        self.sender = comp_id(client.index)
        self.time = sending_time(spec.clock)
        self.seq = 1
        self.crossing: list[bool] = []
        self.cancel_tails: list[str] = []
        self._build_pool()
        self.logged_on: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed_reason = ""

    def _body(self, side: str, price: str, qty: str, cross: bool) -> bytes:
        fix_side = "1" if side == "buy" else "2"
        self.crossing.append(cross)
        self.cancel_tails.append(
            f"55={self.spec.symbol}\x0154={fix_side}\x0160={self.time}\x0138={qty}\x01"
        )
        tif = "3" if cross else "1"
        return (
            f"55={self.spec.symbol}\x0154={fix_side}\x0160={self.time}\x0138={qty}\x01"
            f"40=2\x0144={price}\x0159={tif}\x01"
        ).encode()

    def _message(self, msg_type: str, body: str) -> bytes:
        head = (
            f"35={msg_type}\x0149={self.sender}\x0156=TOKEX\x0134={self.seq}\x0152={self.time}\x01"
        )
        self.seq += 1
        return encode(head, body)

    def _request(self, i: int) -> bytes:
        oid = self._pick(i)
        if oid is None:
            return self._message("D", f"11=c{i}\x01" + self.pool[i % len(self.pool)].decode())
        j = int(oid[1:])
        tail = self.cancel_tails[j % len(self.cancel_tails)]
        return self._message("F", f"41={oid}\x0111=x{i}\x01{tail}")

    def _write(self, requests: list[bytes]) -> None:
        self.conn.send(b"".join(requests))

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: self.conn, _HOST, self.spec.port)
        await asyncio.wait_for(self.conn.opened, 10)
        c = self.client
        self.conn.send(
            self._message("A", f"98=0\x01108=30\x01141=Y\x01553={c.api_key}\x01554={c.secret}\x01")
        )
        await asyncio.wait_for(self.logged_on, 10)

    def on_message(self, message: bytes) -> None:
        now = time.monotonic_ns()
        msg_type = _field(message, b"\x0135=")
        if msg_type == b"8" or msg_type == b"9":
            self._report(message, msg_type, now)
        elif msg_type == b"A":
            if not self.logged_on.done():
                self.logged_on.set_result(None)
        elif msg_type == b"1":  # a TestRequest: answer it
            test_id = _field(message, b"\x01112=").decode()
            self.conn.send(self._message("0", f"112={test_id}\x01"))
        elif msg_type == b"5":
            self.closed_reason = "logout: " + _field(message, b"\x0158=").decode()
            if not self.logged_on.done():
                self.logged_on.set_exception(ConnectionError(self.closed_reason))
        elif msg_type in (b"3", b"j"):
            self.errors[f"{msg_type.decode()}: " + _field(message, b"\x0158=").decode()] += 1

    def _report(self, message: bytes, msg_type: bytes, now: int) -> None:
        clid = _field(message, b"\x0111=")
        if not clid:
            return
        kind, i = clid[:1], int(clid[1:])
        exec_type = _field(message, b"\x01150=")
        status = _field(message, b"\x0139=")
        if kind == b"x":  # a cancel's answer
            if msg_type == b"9":
                self.cancel_misses += 1
            self._answered(i, now, "")
            return
        name = clid.decode()
        if exec_type == b"0" or exec_type == b"8":
            error = "" if exec_type == b"0" else _field(message, b"\x0158=").decode()
            if exec_type == b"0" and status not in _TERMINAL:
                self.live[name] = None
                if i >= self.measure_from and self.crossing[i % len(self.crossing)]:
                    self.awaiting_exec[name] = i
            self._answered(i, now, error)
            return
        if exec_type == b"F":
            j = self.awaiting_exec.pop(name, None)
            if j is not None:
                self.exec_us.append((now - self.sched(j)) // 1000)
        if status in _TERMINAL:
            self.live.pop(name, None)
            if exec_type != b"F":
                self.awaiting_exec.pop(name, None)  # an IOC that found nothing to fill

    def close(self) -> None:
        if self.conn.lost.done() and not self.closed:
            self.closed = self.closed_reason or "connection lost"
        self.conn.close()

    def report(self) -> dict[str, Any]:
        out = super().report()
        out["exec_missing"] = len(self.awaiting_exec)
        return out
