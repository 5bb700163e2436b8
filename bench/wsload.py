"""The end-to-end load generator: one process driving several client connections open-loop.

:func:`worker_main` is the body of one load-generator process (``python -m
bench ws`` starts several, see :mod:`bench.ws`). It connects its clients
(WebSocket to ``tokex serve``: login, subscribe to ``executions``; or HTTP/1.1
keep-alive to the peer's gateway), says ``ready`` on its pipe, waits for the
common start instant, sends, and returns what it measured on the pipe.

Open loop, no coordinated omission
----------------------------------
Client ``k`` of ``C`` sends request ``i`` at the scheduled instant
``start + k / rate + i * C / rate`` (``rate``: the total offered orders/s),
so the ``C`` streams interleave evenly. The schedule never waits for answers.
One ticker per process sends every request already due, each client's
frames in one write, and sleeps until the next one is due. The event loop's
own timers tick in whole milliseconds, which would send a request up to
about 1 ms after its instant and charge that to the server; the ticker is
woken instead by a thread that sleeps to the instant (:class:`Alarm`, about
0.1 ms late) whenever the next request is due 1 ms or more away
(:data:`ALARM_GAP_NS`). Latency is measured from the
*scheduled* instant, so a server (or generator) that falls behind is charged
for all the waiting it causes; the latency from the moment the request really
left (``service``) is kept too, to show how much of it is the generator's own
lateness. A client with ``max_inflight`` requests unanswered holds the next
ones back (they are late, and charged for it). Clocks are
``time.monotonic_ns`` (system-wide on Linux: every process shares the
parent's start instant).

What is measured (per request scheduled after the warm-up):

* ``ack``: scheduled send -> its answer (matched by ``req_id`` on WebSocket,
  by order on a pipelined HTTP connection);
* ``exec`` (tokex only): scheduled send of an ``add_order`` -> the first
  ``executions`` item about the order it placed (``new``, ``trade``...). The
  peer's HTTP answer carries the order's events, so there ack and execution
  are the same instant.

The order mix (seeded, per client, on one instrument around a fixed mid):
25% cancel the client's oldest open order, 10% marketable limit IOC up to
``CROSS_TICKS`` through the mid, the rest passive GTC limits up to ``BAND``
ticks from the mid; quantities 1-100 lots. A client with ``MAX_LIVE`` open
orders (counting adds not yet answered) cancels instead of adding, so the
resting book stays bounded. Open
orders are tracked from the answers and from ``filled``/``canceled``
executions (tokex) or the answer's status (the peer has no private feed, so
some of its cancels target orders already filled: ``cancel_misses``). On
tokex too a cancel can cross its order's fill in flight; its answer
``EOrder:Unknown order`` (FIX: OrderCancelReject) counts as a cancel miss,
not an error.

Cheap on purpose: request bodies are built before the start as bytes, only
``req_id`` (or nothing, over HTTP) is appended at send time; replies are
decoded by msgspec into small structs holding only the fields used;
latencies go into ``array('q')`` and become histograms after the run.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import hashlib
import hmac
import math
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

import msgspec

from bench.wsclient import HttpConnection, WsConnection

__all__ = ["ORDER_MIX", "ClientSpec", "WorkerSpec", "worker_main"]

BAND = 50
"""Passive orders rest 1 to BAND ticks from the mid."""
CROSS_TICKS = 10
"""Marketable IOC limits go 1 to CROSS_TICKS ticks through the mid."""
MAX_LIVE = 200
"""Open orders a client keeps at most before it cancels instead of adding."""
CANCEL_SHARE, CROSS_SHARE = 0.25, 0.10
ORDER_MIX = (
    f"{CANCEL_SHARE:.0%} cancel of the client's oldest open order, {CROSS_SHARE:.0%} limit IOC "
    f"1-{CROSS_TICKS} ticks through the mid, the rest limit GTC 1-{BAND} ticks from the mid; "
    f"1-100 lots of 0.01; a client with {MAX_LIVE} open orders cancels instead of adding"
)
_POOL = 4096  # distinct pre-built add_order bodies per client
_HOST = "127.0.0.1"
_CANCEL, _ADD = 1, 2


@dataclass(frozen=True)
class ClientSpec:
    """One client: its place in the interleaved schedule and its credentials."""

    index: int
    account: str
    api_key: str = ""
    secret: str = ""


@dataclass(frozen=True)
class WorkerSpec:
    """What one load-generator process does (picklable: it crosses the process boundary)."""

    target: str  # "ws" (tokex) or "http" (the peer)
    port: int
    clients: tuple[ClientSpec, ...]
    clients_total: int
    rate: float  # total offered orders/s over all clients of all processes
    seconds: float
    warmup: float
    drain: float
    seed: int
    symbol: str
    price_decimals: int
    mid_ticks: int
    qty_step_decimals: int = 2  # one lot = 0.01
    max_inflight: int = 256  # requests a client has sent and not seen answered, at most
    clock: str = ""  # the exchange's simulated clock (FIX stamps SendingTime with it)


class _Item(msgspec.Struct):
    order_id: str = ""
    exec_type: str = ""


class _Result(msgspec.Struct):
    order_id: str = ""
    warnings: list[str] = []


class _Reply(msgspec.Struct):
    req_id: int | None = None
    success: bool = True
    error: str = ""
    result: _Result | None = None
    channel: str = ""
    data: list[_Item] = []


class _PeerReply(msgspec.Struct):
    order_id: int = 0
    status: str = ""


_decode_reply = msgspec.json.Decoder(_Reply).decode
_decode_peer = msgspec.json.Decoder(_PeerReply).decode
_GONE = frozenset(("filled", "canceled", "expired"))
_UNKNOWN_ORDER = "EOrder:Unknown order"
"""tokex's answer to a cancel of an order no longer open (WS_API.md)."""
_RESTING = frozenset(("resting", "partially_filled"))


def _text(units: int, decimals: int) -> str:
    """An integer count of 10**-decimals as a decimal string (no floats)."""
    whole, frac = divmod(units, 10**decimals)
    return f"{whole}.{frac:0{decimals}d}" if decimals else str(whole)


class _Connection(Protocol):
    lost: asyncio.Future[None]
    """Done once the connection is closed."""


class _Client:
    """Schedule, open orders and measurements of one client; the wire is the subclass's."""

    conn: _Connection

    def __init__(self, spec: WorkerSpec, client: ClientSpec) -> None:
        self.spec = spec
        self.client = client
        per_client = spec.rate / spec.clients_total
        self.n = max(1, math.ceil(spec.seconds * per_client))
        self.interval = 1e9 / per_client
        self.offset = client.index * 1e9 / spec.rate
        self.start = 0
        self.window_start = 0  # end of the warm-up (ns); answers after it are counted
        self.measure_from = max(0, math.ceil((spec.warmup * 1e9 - self.offset) / self.interval))
        rng = random.Random(spec.seed * 1_000_003 + client.index)
        self.plan = bytearray(
            _CANCEL if rng.random() < CANCEL_SHARE else _ADD for _ in range(self.n)
        )
        self.kinds = bytearray(self.n)
        self.sent_ns = array.array("q", bytes(8 * self.n))
        self.rng = rng
        self.pool: list[bytes] = []  # the subclass builds it (:meth:`_build_pool`)
        self.next_i = 0
        self.live: dict[str, None] = {}  # open order ids, oldest first
        self.adds_inflight = 0  # add_order requests sent and not answered yet
        self.awaiting_exec: dict[str, int] = {}  # placed, measured, no execution seen yet
        self.acked = 0
        self.acked_measured = 0
        self.answers_in_window = 0
        self.first_ack_ns = 0
        self.last_ack_ns = 0
        self.errors: Counter[str] = Counter()
        self.cancel_misses = 0
        self.ack_us = array.array("q")
        self.service_us = array.array("q")
        self.exec_us = array.array("q")
        self.closed = ""

    def _body(self, side: str, price: str, qty: str, cross: bool) -> bytes:
        """One add_order request in the target's own format."""
        raise NotImplementedError

    def _draw(self, rng: random.Random, cross: bool) -> bytes:
        """A random order near the mid (through it when ``cross``), as the target's request."""
        spec = self.spec
        side = rng.choice(("buy", "sell"))
        away = -rng.randint(1, CROSS_TICKS) if cross else rng.randint(1, BAND)
        ticks = spec.mid_ticks - away if side == "buy" else spec.mid_ticks + away
        qty = _text(rng.randint(1, 100), spec.qty_step_decimals)
        return self._body(side, _text(ticks, spec.price_decimals), qty, cross)

    def _build_pool(self) -> None:
        """The add_order requests, built before the start (10% of all requests cross)."""
        rng, share = self.rng, CROSS_SHARE / (1 - CANCEL_SHARE)
        self.pool = [self._draw(rng, rng.random() < share) for _ in range(_POOL)]

    def sched(self, i: int) -> int:
        return self.start + int(self.offset + i * self.interval)

    @property
    def done(self) -> bool:
        return self.acked >= self.next_i == self.n or bool(self.closed)

    def send_due(self, now: int) -> None:
        """Send every request scheduled at or before ``now``, within the in-flight cap."""
        i, n = self.next_i, self.n
        if i >= n or self.closed:
            return
        out: list[bytes] = []
        limit = min(n, self.acked + self.spec.max_inflight)
        while i < limit and self.sched(i) <= now:
            out.append(self._request(i))
            self.sent_ns[i] = now
            i += 1
        self.next_i = i
        if out:
            self._write(out)

    def _request(self, i: int) -> bytes:
        raise NotImplementedError

    async def open(self) -> None:
        """Connect (and log in) before the start."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _write(self, requests: list[bytes]) -> None:
        raise NotImplementedError

    def _pick(self, i: int) -> str | None:
        """The order to cancel at request ``i`` (oldest open), or None to add an order."""
        live = self.live
        if live and (self.plan[i] == _CANCEL or len(live) + self.adds_inflight >= MAX_LIVE):
            oid = next(iter(live))
            del live[oid]
            self.kinds[i] = _CANCEL
            return oid
        self.kinds[i] = _ADD
        self.adds_inflight += 1
        return None

    def _answered(self, i: int, now: int, error: str) -> None:
        self.acked += 1
        if self.kinds[i] == _ADD:
            self.adds_inflight -= 1
        self.last_ack_ns = now
        if now >= self.window_start:
            self.answers_in_window += 1
        if not self.first_ack_ns:
            self.first_ack_ns = now
        if error:
            self.errors[error] += 1
        if i >= self.measure_from:
            self.acked_measured += 1
            self.ack_us.append((now - self.sched(i)) // 1000)
            self.service_us.append((now - self.sent_ns[i]) // 1000)

    def report(self) -> dict[str, Any]:
        return {
            "scheduled": self.n,
            "sent": self.next_i,
            "acked": self.acked,
            "measured": self.n - self.measure_from,
            "acked_measured": self.acked_measured,
            "answers_in_window": self.answers_in_window,
            "first_ack_ns": self.first_ack_ns,
            "last_ack_ns": self.last_ack_ns,
            "errors": dict(self.errors),
            "cancel_misses": self.cancel_misses,
            "adds": self.kinds.count(_ADD),
            "cancels": self.kinds.count(_CANCEL),
            "open_orders_end": len(self.live),
            "exec_missing": len(self.awaiting_exec),
            "closed": self.closed,
            "ack_us": self.ack_us.tobytes(),
            "service_us": self.service_us.tobytes(),
            "exec_us": self.exec_us.tobytes(),
        }


class _WsClient(_Client):
    """A tokex trader on the WebSocket API: login, executions, add_order and cancel_order."""

    conn: WsConnection

    def __init__(self, spec: WorkerSpec, client: ClientSpec) -> None:
        super().__init__(spec, client)
        self.conn = WsConnection(_HOST, spec.port, "/v2", self._on_text)
        self.control: dict[int, asyncio.Future[_Reply]] = {}
        self._build_pool()

    def _body(self, side: str, price: str, qty: str, cross: bool) -> bytes:
        tif = "ioc" if cross else "gtc"
        return (
            f'{{"method":"add_order","params":{{"symbol":"{self.spec.symbol}","side":"{side}",'
            f'"order_type":"limit","order_qty":"{qty}",'
            f'"limit_price":"{price}","time_in_force":"{tif}"}},'
            '"req_id":'
        ).encode()

    def _request(self, i: int) -> bytes:
        oid = self._pick(i)
        if oid is None:
            msg = b"%s%d}" % (self.pool[i % _POOL], i)
        else:
            msg = b'{"method":"cancel_order","params":{"order_id":["%s"]},"req_id":%d}' % (
                oid.encode(),
                i,
            )
        return self.conn.frame(msg)

    def _write(self, requests: list[bytes]) -> None:
        self.conn.send_frames(requests)

    async def call(self, req_id: int, method: str, params: dict[str, Any]) -> _Reply:
        """A request outside the schedule (login, subscribe): ``req_id`` < 0, answer awaited."""
        future: asyncio.Future[_Reply] = asyncio.get_running_loop().create_future()
        self.control[req_id] = future
        self.conn.send_text(
            msgspec.json.encode({"method": method, "params": params, "req_id": req_id})
        )
        reply = await asyncio.wait_for(future, 10)
        if not reply.success:
            raise RuntimeError(f"{method} for {self.client.account}: {reply.error}")
        return reply

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: self.conn, _HOST, self.spec.port)
        await asyncio.wait_for(self.conn.opened, 10)
        nonce = time.time_ns()
        c = self.client
        signature = hmac.new(c.secret.encode(), f"{nonce}{c.api_key}".encode(), hashlib.sha256)
        params = {"api_key": c.api_key, "nonce": nonce, "signature": signature.hexdigest()}
        await self.call(-1, "login", params)
        await self.call(-2, "subscribe", {"channel": "executions", "snap_orders": False})

    def _on_text(self, payload: bytes) -> None:
        now = time.monotonic_ns()
        msg = _decode_reply(payload)
        i = msg.req_id
        if i is not None:
            if i < 0:
                future = self.control.pop(i, None)
                if future is not None and not future.done():
                    future.set_result(msg)
                return
            result = msg.result
            if msg.success and result is not None:
                if self.kinds[i] == _ADD:
                    self.live[result.order_id] = None
                    if i >= self.measure_from:
                        self.awaiting_exec[result.order_id] = i
                elif result.warnings:
                    self.cancel_misses += 1
            error = "" if msg.success else msg.error
            if error == _UNKNOWN_ORDER and self.kinds[i] == _CANCEL:
                # The order filled (or expired) before the cancel reached the book and
                # its execution reached the client after the cancel left: a miss, as
                # the FIX client's OrderCancelReject and the peer's rejected cancel are.
                self.cancel_misses += 1
                error = ""
            self._answered(i, now, error)
            return
        if msg.channel == "executions":
            awaiting, live = self.awaiting_exec, self.live
            for item in msg.data:
                oid = item.order_id
                j = awaiting.pop(oid, None)
                if j is not None:
                    self.exec_us.append((now - self.sched(j)) // 1000)
                if item.exec_type in _GONE:
                    live.pop(oid, None)

    def close(self) -> None:
        if self.conn.close_code is not None and not self.closed:
            self.closed = f"{self.conn.close_code} {self.conn.close_reason}"
        self.conn.close()


class _HttpClient(_Client):
    """A trader on the peer's REST API, pipelining on one keep-alive connection."""

    conn: HttpConnection

    def __init__(self, spec: WorkerSpec, client: ClientSpec) -> None:
        super().__init__(spec, client)
        self.conn = HttpConnection(self._on_response)
        self.inflight: deque[int] = deque()
        self.cancelled: dict[int, str] = {}
        base = f"/markets/{spec.symbol}/orders"
        self.post = f"POST {base} HTTP/1.1\r\nHost: {_HOST}\r\nContent-Type: application/json\r\n"
        self.delete = f"DELETE {base}/%s?account={client.account} HTTP/1.1\r\nHost: {_HOST}\r\n\r\n"
        self._build_pool()

    def _body(self, side: str, price: str, qty: str, cross: bool) -> bytes:
        tif = ',"time_in_force":"ioc"' if cross else ""
        body = (
            f'{{"account":{self.client.account},"side":"{side}",'
            f'"price":"{price}","quantity":"{qty}"{tif}}}'
        ).encode()
        return f"{self.post}Content-Length: {len(body)}\r\n\r\n".encode() + body

    def _request(self, i: int) -> bytes:
        self.inflight.append(i)
        oid = self._pick(i)
        if oid is None:
            return self.pool[i % _POOL]
        return (self.delete % oid).encode()

    def _write(self, requests: list[bytes]) -> None:
        self.conn.send(b"".join(requests))

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: self.conn, _HOST, self.spec.port)
        await asyncio.wait_for(self.conn.opened, 10)

    def _on_response(self, status: int, body: bytes) -> None:
        now = time.monotonic_ns()
        i = self.inflight.popleft()
        if status != 200:
            self._answered(i, now, f"HTTP {status}")
            return
        reply = _decode_peer(body)
        error = ""
        if self.kinds[i] == _ADD:
            if reply.status in _RESTING:
                self.live[str(reply.order_id)] = None
            elif reply.status == "rejected":
                error = "order rejected"
        elif reply.status == "rejected":
            self.cancel_misses += 1
        self._answered(i, now, error)

    def close(self) -> None:
        self.conn.close()


async def _run(spec: WorkerSpec, pipe: Connection) -> dict[str, Any]:
    clients = [_client(spec, c) for c in spec.clients]
    await asyncio.gather(*(c.open() for c in clients))
    pipe.send(("ready", None))
    loop = asyncio.get_running_loop()
    kind, start = await loop.run_in_executor(None, pipe.recv)
    assert kind == "start"
    for c in clients:
        c.start = start
        c.window_start = start + int(spec.warmup * 1e9)
    cpu0 = time.process_time()
    deadline = start + int((spec.seconds + spec.drain) * 1e9)
    alarm = Alarm(loop)
    try:
        while True:  # the ticker
            now = time.monotonic_ns()
            if now >= deadline:
                break  # a server that fell this far behind: the rest is never sent
            for c in clients:
                c.send_due(now)
            pending = [c.sched(c.next_i) for c in clients if c.next_i < c.n and not c.closed]
            if not pending:
                break
            # A request is sent about 0.1 ms after its instant (up to about 1 ms when
            # requests are due more often than ALARM_GAP_NS), and that lateness
            # counts in ``ack``.
            due = min(pending)
            if due - now >= ALARM_GAP_NS:
                await alarm.sleep_until(due)
            else:
                await asyncio.sleep(0.001)  # the loop's timers tick in whole milliseconds
    finally:
        alarm.stop()
    cpu = time.process_time() - cpu0  # what sending (and reading meanwhile) cost
    cpu_wall = max(1e-3, (time.monotonic_ns() - start) / 1e9)
    while time.monotonic_ns() < deadline:
        for c in clients:
            if c.conn.lost.done() and not c.done:
                c.closed = c.closed or "connection lost"
        if all(c.done for c in clients):
            break
        await asyncio.sleep(0.005)
    # Executions follow their answers; give the last ones a moment.
    settle = time.monotonic_ns() + 200_000_000
    while time.monotonic_ns() < settle and any(c.awaiting_exec for c in clients):
        await asyncio.sleep(0.005)
    reports = []
    for c in clients:
        c.close()
        reports.append(c.report())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.conn.lost for c in clients)), 1.0)
    return {"clients": reports, "cpu_s": cpu, "cpu_wall_s": cpu_wall}


ALARM_GAP_NS = 1_000_000
"""The ticker uses the :class:`Alarm` only when the next request is due at least 1 ms
away; a nearer one waits on the event loop's own 1 ms timer, as at high rates a thread's
wake per request would cost the generator more CPU than the sends (there, requests are
due every tick anyway, and a tick sends all that are due)."""


class Alarm:
    """Wakes an event loop at an instant, to about a tenth of a millisecond.

    A daemon thread sleeps (``time.sleep``: a nanosleep) until the instant asked for
    and resolves the loop's future with ``call_soon_threadsafe``; the loop sleeps in
    its poll meanwhile, so the thread gets the interpreter lock at once. One wait at
    a time.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._ready = threading.Condition()
        self._asked: tuple[int, asyncio.Future[None]] | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="bench-alarm", daemon=True)
        self._thread.start()

    async def sleep_until(self, due_ns: int) -> None:
        """Return at ``due_ns`` (``time.monotonic_ns``) or a little after, never before."""
        future: asyncio.Future[None] = self._loop.create_future()
        with self._ready:
            self._asked = (due_ns, future)
            self._ready.notify()
        await future

    def stop(self) -> None:
        with self._ready:
            self._stopped = True
            self._ready.notify()
        self._thread.join(1.0)

    def _run(self) -> None:
        while True:
            with self._ready:
                while self._asked is None and not self._stopped:
                    self._ready.wait()
                if self._stopped:
                    return
                assert self._asked is not None
                (due_ns, future), self._asked = self._asked, None
            left = due_ns - time.monotonic_ns()
            while left > 0:
                time.sleep(left / 1e9)
                left = due_ns - time.monotonic_ns()
            self._loop.call_soon_threadsafe(_wake, future)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _client(spec: WorkerSpec, client: ClientSpec) -> _Client:
    """The client of ``spec.target``: ``ws`` (tokex), ``http`` (the peer), ``fix`` (tokex)."""
    if spec.target == "fix":
        from bench.fixload import FixClient  # it builds on this module

        return FixClient(spec, client)
    return _WsClient(spec, client) if spec.target == "ws" else _HttpClient(spec, client)


def worker_main(spec: WorkerSpec, pipe: Connection) -> None:
    """Process entry: run the clients of ``spec`` on uvloop; the result goes back on ``pipe``."""
    try:
        import uvloop

        result = uvloop.run(_run(spec, pipe))
    except BaseException as e:
        pipe.send(("error", f"{type(e).__name__}: {e}"))
        raise
    pipe.send(("result", result))
