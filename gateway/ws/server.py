"""The WebSocket gateway for traders (a Kraken WebSocket v2 dialect; WS_API.md, docs/WS.md).

Thin: decode a JSON message, authenticate, throttle, turn it into commands,
queue them on the exchange's pipeline, and answer once they are durable;
events come back through the pipeline's listener as channel messages,
always after the answer to the command that caused them (the answer is
queued in the pipeline's ``on_done``, before listeners run). What one turn
of the event loop queues for a connection goes out in one write, in the
order queued, so what it is sent keeps the engine's order; a connection
with more than 4 MiB owed to the client (in the transport's buffer and the
kernel's send queue) is closed (1013, ``slow consumer``), never left with a
gap.

Flow control, so that a backlog never hides in buffers: order entry is
answered ``EService:Busy`` at once, before it is parsed, while the pipeline
is full (its queue limit or its wait bound) or while more than
:data:`BEHIND_BYTES` of the connection's requests wait unread in the kernel
(the server is behind reading it: shedding is how it catches up). A
connection's requests are read only while it has fewer than twice the
node's ``queue_limit`` unanswered, no login waiting to be made durable, and
less than :data:`WRITE_HIGH` bytes of its own answers and pushes not yet
taken; past that the connection is not read (TCP pushes back on the client)
until it drains. So every request is answered in bounded time. The
library's keepalive pings are off (a client busy reading a flood of answers
must not be cut for a late pong); TCP keepalive finds dead peers.

This module holds the connection, the envelope, login and roles; the
trading and operator methods are :mod:`gateway.ws.trading`, the channels
:mod:`gateway.ws.channels`, and request parsing :mod:`gateway.ws.requests`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import socket
import sys
import termios
import time
from collections import Counter
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from gateway.ws.channels import Channels, Connection, run_request
from gateway.ws.executions import OrderBook
from gateway.ws.requests import RequestError, only
from gateway.ws.ticker import Rolling24h
from gateway.ws.trading import Answer, Trading
from gateway.ws.wire import rfc3339
from model.commands import CancelAll
from model.instrument import Instrument
from node.config import AccountAccess
from node.interface import Node, NonceUsed
from risk.money import Pair

__all__ = ["MAX_FRAME", "OUTSTANDING_PER_QUEUE", "SLOW_CONSUMER_BYTES", "WRITE_HIGH", "WsGateway"]

MAX_FRAME = 64 * 1024
SLOW_CONSUMER_BYTES = 4 * 1024 * 1024
OUTSTANDING_PER_QUEUE = 2
"""A connection is not read while it has this many times the node's ``queue_limit`` requests
unanswered (until half are answered). Order entry past the queue limit is answered at once
(EService:Busy), so only requests that are always taken (cancels, subscriptions) can get a
connection there: the queue limit, not this, is what a busy trader meets."""
WRITE_HIGH, WRITE_LOW = 1024 * 1024, 256 * 1024
"""Bytes in a connection's transport buffer past which it is not read (until below the low)."""
BEHIND_BYTES = 16 * 1024
"""Bytes of a connection's requests waiting unread in the kernel past which the server is
behind reading it: its order entry is answered EService:Busy until it has caught up."""
BEHIND_EVERY = 7
"""The kernel is asked once every BEHIND_EVERY + 1 messages of a connection."""
TOKEN_EXPIRES_S = 900
HEARTBEAT_S = 1.0
VERSION = "0.1.0"
MAX_NONCE = 2**63 - 1
TCP_KEEPALIVE = (60, 10, 6)
"""Idle seconds before TCP probes a silent peer, seconds between probes, probes before giving up."""

_encode = msgspec.json.Encoder(decimal_format="number").encode


class _Envelope(msgspec.Struct):
    """A request's envelope; ``params`` stays JSON text until it is needed."""

    method: Any = None
    req_id: Any = None
    params: msgspec.Raw = msgspec.Raw(b"{}")


_decode_envelope = msgspec.json.Decoder(_Envelope, float_hook=Decimal).decode
_decode_params = msgspec.json.Decoder(float_hook=Decimal).decode
"""Numbers with a fraction or an exponent are read exactly from the text, never as a float."""
_INVALID_JSON = {"success": False, "error": "EGeneral:Invalid JSON"}
_RATE_LIMITED = "EAPI:Rate limit exceeded"
_ENTRY_METHODS = frozenset({"add_order", "batch_add", "amend_order", "edit_order"})
_TRADING_ROLES = frozenset({"trader", "market_maker"})


def _busy(method: str, req_id: Any, time_in: str) -> bytes:
    """The ``EService:Busy`` answer, written directly (the shedding path)."""
    echo = b"" if req_id is None else b',"req_id":' + _encode(req_id)
    stamp = time_in.encode()
    return (
        b'{"method":"' + method.encode() + b'"' + echo + b',"success":false,'
        b'"error":"EService:Busy","time_in":"' + stamp + b'","time_out":"' + stamp + b'"}'
    )


_Invalid = RequestError


class WsGateway(Trading, Channels):
    """The WebSocket server of one node (written against :class:`node.interface.Node` only)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.config = config = node.config
        self.instruments: dict[str, Instrument] = config.instruments
        assets = {a.id: a for a in config.genesis.assets}
        self.quote_precision = {a.id: a.precision for a in assets.values()}
        self.lot_units = {
            s: Pair.of(i, assets[i.base], assets[i.quote]).lot_units
            for s, i in self.instruments.items()
        }
        self.by_account = {a.account: a for a in config.access.values()}
        self.max_outstanding = OUTSTANDING_PER_QUEUE * config.queue_limit
        self.connections: dict[int, Connection] = {}
        self.per_address: Counter[str] = Counter()
        self.subscribers: dict[str, set[int]] = {}
        self.balance_subscribers: dict[str, set[int]] = {}
        self.rolling: dict[str, Rolling24h] = {}
        self.last_ticker: dict[str, dict[str, Any]] = {}
        self._next_id = 1
        self.server: Server | None = None
        self._dirty: dict[int, Connection] = {}
        self._beats: asyncio.Task[None] | None = None
        self.metrics = node.metrics.gateway("ws")
        self.tracker = OrderBook(node, self.instruments, self.quote_precision)
        self._seed_tickers()
        node.add_listener(self._on_applied)

    async def start(self, host: str, port: int, reuse_port: bool = False) -> int:
        """Listen on ``host:port`` (0: any free port); return the port.

        ``reuse_port``: beside other processes on the same port (gateway workers).
        """
        self.server = await serve(
            self._serve,
            host,
            port,
            max_size=MAX_FRAME,
            ping_interval=None,
            write_limit=(WRITE_HIGH, WRITE_LOW),
            process_request=self._admit,
            reuse_port=reuse_port or None,
        )
        self._beats = asyncio.get_running_loop().create_task(self._heartbeats())
        sockets = list(self.server.sockets)
        return int(sockets[0].getsockname()[1])

    def _admit(self, ws: ServerConnection, request: Request) -> Response | None:
        """Refuse the handshake (429) from an address with its quota of connections open."""
        address = _address(ws)
        if self.per_address[address] >= self.config.connections_per_address:
            return ws.respond(
                HTTPStatus.TOO_MANY_REQUESTS,
                f"too many connections from {address}: at most"
                f" {self.config.connections_per_address}\n",
            )
        return None

    async def close(self) -> None:
        if self._beats is not None:
            self._beats.cancel()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    # ------------------------------------------------------------ per connection

    async def _serve(self, ws: ServerConnection) -> None:
        address = _address(ws)
        if self.per_address[address] >= self.config.connections_per_address:
            # Handshakes that raced past the check in _admit.
            await ws.close(1008, "too many connections from this address")
            return
        self.per_address[address] += 1
        conn = Connection(ws, self._next_id)
        conn.tokens = float(self.config.rate_burst)
        conn.refilled = time.monotonic()
        conn.fd = _keepalive(ws)
        self._next_id += 1
        self.connections[conn.conn_id] = conn
        self.metrics.connections += 1
        self.metrics.connections_total += 1
        self._send(
            conn,
            {
                "channel": "status",
                "type": "update",
                "data": [
                    {
                        "api_version": "v2",
                        "connection_id": conn.conn_id,
                        "system": "online",
                        "version": VERSION,
                    }
                ],
            },
        )
        try:
            async for message in ws:
                conn.reads += 1
                if not conn.reads & BEHIND_EVERY:
                    # A system call per message would cost more than the check is worth.
                    conn.behind = _unread(conn.fd) > BEHIND_BYTES
                self._handle(conn, message)
                if conn.outstanding >= self.max_outstanding or conn.logging_in:
                    # Read on once half are answered (and a login is durable).
                    conn.resume.clear()
                    await conn.resume.wait()
                await ws.drain()  # our own answers first: wait while they are not taken
        except ConnectionClosed:
            pass
        finally:
            self.per_address[address] -= 1
            if not self.per_address[address]:
                del self.per_address[address]
            self.metrics.connections -= 1
            self.connections.pop(conn.conn_id, None)
            for subs in (*self.subscribers.values(), *self.balance_subscribers.values()):
                subs.discard(conn.conn_id)
            conn.pending.clear()
            self._cancel_on_disconnect(conn)

    def _cancel_on_disconnect(self, conn: Connection) -> None:
        """Cancel the account's orders if its config asks and this was its last connection.

        Only a connection that logged in counts; the cancels report
        ``dead_man_switch`` (it is one, armed by configuration). Nothing is
        cancelled while another connection of the account is still open.
        """
        access = conn.account
        if access is None:
            return
        present = getattr(self.node, "present", None)
        if present is not None:  # a gateway worker: the node knows the other workers' too
            last = not any(c.account is access for c in self.connections.values())
            cancel = access.cancel_on_disconnect and last
            command = CancelAll(0, 0, access.account, None, "dead_man_switch")
            present(access.account, -1, command if cancel else None)
            return
        if not access.cancel_on_disconnect:
            return
        if any(c.account is access for c in self.connections.values()):
            return
        command = CancelAll(0, 0, access.account, None, "dead_man_switch")
        # Shutting down (RuntimeError): the orders stay, as after any restart.
        with contextlib.suppress(RuntimeError):
            self.node.enqueue(command)

    def _send(self, conn: Connection, message: dict[str, Any]) -> None:
        """Queue a message; everything queued in this turn of the loop goes out in one write."""
        self._send_raw(conn, _encode(message))

    def _flush(self) -> None:
        """Write each connection's queued messages as frames, with one system call.

        Frames are made by the connection's own protocol object (websockets'
        Sans-I/O layer, the same one its reader uses); the bytes go to the
        transport together, instead of a write and a task switch per message.
        The transport's buffer is what the client has not taken yet: past
        4 MiB the client is let go (1013), never left with a gap.
        """
        dirty, self._dirty = self._dirty, {}
        now = time.monotonic()
        metrics = self.metrics
        for conn in dirty.values():
            ws = conn.ws
            frames, conn.pending = conn.pending, []
            if ws.protocol.state is not State.OPEN or conn.conn_id not in self.connections:
                continue
            metrics.sent += len(frames)
            for data in frames:
                ws.protocol.send_text(data)
            chunks = ws.protocol.data_to_send()
            ws.transport.write(b"".join(chunks))
            conn.last_sent = now
            owed = ws.transport.get_write_buffer_size()
            if owed:  # the kernel took what it could: count what it holds too
                owed += _kernel_queue(conn.fd)
            if owed > SLOW_CONSUMER_BYTES:
                self.connections.pop(conn.conn_id, None)
                conn.resume.set()
                metrics.disconnected("slow_consumer")
                print(
                    f"tokex: connection {conn.conn_id} from {_address(ws)} closed 1013 slow"
                    f" consumer: {owed:,} bytes not taken",
                    file=sys.stderr,
                    flush=True,
                )
                asyncio.get_running_loop().create_task(ws.close(1013, "slow consumer"))

    async def _heartbeats(self) -> None:
        """Once a second: a heartbeat to each subscribed connection sent nothing for a second."""
        while True:
            await asyncio.sleep(HEARTBEAT_S / 4)
            now = time.monotonic()
            for conn in list(self.connections.values()):
                if conn.subscribed and now - conn.last_sent >= HEARTBEAT_S:
                    conn.pending.append(b'{"channel":"heartbeat"}')
                    self._dirty[conn.conn_id] = conn
            if self._dirty:
                self._flush()

    def _allow(self, conn: Connection) -> bool:
        """The connection's token bucket: refill by elapsed time, then take one."""
        now = time.monotonic()
        rate, burst = self.config.rate_per_second, self.config.rate_burst
        conn.tokens = min(float(burst), conn.tokens + (now - conn.refilled) * rate)
        conn.refilled = now
        if conn.tokens < 1:
            return False
        conn.tokens -= 1
        return True

    def _handle(self, conn: Connection, message: str | bytes) -> None:
        """Answer one message, or queue it on the pipeline with the callback that will.

        Never waits: the connection goes on reading while earlier requests
        become durable, and their answers still come in pipeline order.
        """
        read_at = time.perf_counter_ns()
        self.metrics.received += 1
        time_in = rfc3339(self.node.now())
        try:
            doc = _decode_envelope(message)
        except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deep
            self._send(conn, {**_INVALID_JSON, "time_in": time_in})
            return
        method, req_id, raw = doc.method, doc.req_id, doc.params
        if isinstance(method, str) and method in _ENTRY_METHODS and self._shed(conn, raw):
            # The shedding path: no parameters parsed, no dicts built (it must cost a
            # small part of what an order does, or the server never catches up).
            metrics = self.metrics
            if not self._allow(conn):
                metrics.rate_limited += 1
                metrics.refused(_RATE_LIMITED)
                self._send(conn, self._refusal(method, req_id, time_in, _RATE_LIMITED))
            else:
                metrics.refused("EService:Busy")
                self._send_raw(conn, _busy(method, req_id, time_in))
            metrics.ack_for(method).observe((time.perf_counter_ns() - read_at) / 1e9)
            return
        try:
            params: Any = _decode_params(raw)
        except (msgspec.DecodeError, RecursionError):  # nested too deep
            params = _INVALID_JSON
        reply: dict[str, Any] = {"method": method}
        if req_id is not None:
            reply["req_id"] = req_id
        conn.outstanding += 1
        # Answer latency per method; any other text is one label, so clients cannot add series.
        latency = self.metrics.ack_for(
            method if isinstance(method, str) and method in _KNOWN else "unknown"
        )

        def answer(
            result: dict[str, Any] | None = None,
            error: str | None = None,
            extra: dict[str, Any] | None = None,
            final: bool = True,
        ) -> None:
            # ``final=False``: one of several answers to one request (a subscribe
            # answers once per symbol); the request is answered by the last.
            if final:
                conn.outstanding -= 1
                if conn.outstanding <= self.max_outstanding // 2 and not conn.logging_in:
                    conn.resume.set()
            body = dict(reply)
            if error is None:
                body["success"] = True
                if result is not None:
                    body["result"] = result
            else:
                body["success"] = False
                body["error"] = error
                self.metrics.refused(error)
            if extra:
                body.update(extra)
            body["time_in"] = time_in
            body["time_out"] = rfc3339(self.node.now())
            self._send(conn, body)
            if final:
                latency.observe((time.perf_counter_ns() - read_at) / 1e9)

        if not self._allow(conn):
            self.metrics.rate_limited += 1
            answer(error=_RATE_LIMITED)
            return
        if method == "ping":
            reply["method"] = "pong"
            answer()
            return
        handler = _METHODS.get(method) if isinstance(method, str) else None
        if handler is None:
            answer(error="EGeneral:Unknown method")
            return
        if params is _INVALID_JSON:
            answer(error="EGeneral:Invalid JSON")
            return
        if not isinstance(params, dict):
            answer(error="EGeneral:Invalid arguments:params must be an object")
            return
        run_request(lambda: handler(self, conn, params, answer), answer)

    def _shed(self, conn: Connection, raw: msgspec.Raw) -> bool:
        """Whether order entry on ``conn`` is to be answered Busy without parsing it.

        Only for a connection acting on its own live login of a trading role
        (a request naming a ``token`` takes the full path, which checks it).
        """
        if not (conn.behind or self.node.busy):
            return False
        access = conn.account
        if conn.token is None or access is None or access.role not in _TRADING_ROLES:
            return False
        if b'"token"' in bytes(raw):
            return False
        return self.node.session(conn.token) is not None

    def _refusal(self, method: str, req_id: Any, time_in: str, error: str) -> dict[str, Any]:
        body: dict[str, Any] = {"method": method}
        if req_id is not None:
            body["req_id"] = req_id
        return {**body, "success": False, "error": error, "time_in": time_in, "time_out": time_in}

    def _send_raw(self, conn: Connection, data: bytes) -> None:
        """Queue an encoded message (see :meth:`_send`)."""
        conn.pending.append(data)
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush)
        self._dirty[conn.conn_id] = conn

    # ------------------------------------------------------------ authentication

    def _account(self, conn: Connection, params: dict[str, Any]) -> AccountAccess:
        """The account a private call acts for: a valid ``token``, or the connection's login.

        Both lapse 15 minutes of exchange-clock time after their last use.
        """
        token = params.get("token")
        if token is not None:
            if not isinstance(token, str):
                raise _Invalid(f"EGeneral:Invalid arguments:token {token!r}: must be text")
            account = self.node.session(token)
            if account is None:
                raise _Invalid("ESession:Invalid session")
            return self.by_account[account]
        if conn.token is None or conn.account is None or self.node.session(conn.token) is None:
            raise _Invalid("ESession:Invalid session")
        return conn.account

    def _trader(self, conn: Connection, params: dict[str, Any]) -> AccountAccess:
        access = self._account(conn, params)
        if access.role not in ("trader", "market_maker"):
            raise _Invalid("EGeneral:Permission denied")
        return access

    def _operator(self, conn: Connection, params: dict[str, Any]) -> AccountAccess:
        access = self._account(conn, params)
        if access.role != "operator":
            raise _Invalid("EGeneral:Permission denied")
        return access

    def _login(self, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        """Check the key and signature here, then let the node take the nonce durably.

        The connection is not read again until the login is answered, so the
        requests a client sends right after it already find the session.
        """
        only(params, "login", _LOGIN_FIELDS)
        key, nonce, signature = params.get("api_key"), params.get("nonce"), params.get("signature")
        if not isinstance(key, str) or type(nonce) is not int or not isinstance(signature, str):
            raise _Invalid("EGeneral:Invalid arguments:api_key, nonce and signature are required")
        if not 0 < nonce <= MAX_NONCE:
            raise _Invalid(f"EGeneral:Invalid arguments:nonce {nonce}: must be 1 to 2**63-1")
        access = self.config.access.get(key)
        if access is None:
            raise _Invalid("EAPI:Invalid key")
        expected = hmac.new(
            access.secret.encode(), f"{nonce}{key}".encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
            raise _Invalid("EAPI:Invalid signature")

        def done(token: str) -> None:
            present = getattr(self.node, "present", None)
            if present is not None and conn.account is not access:  # a gateway worker
                if conn.account is not None:
                    present(conn.account.account, -1, None)
                present(access.account, 1, None)
            conn.token, conn.account = token, access
            conn.logging_in -= 1
            answer(
                {
                    "account": access.account,
                    "role": access.role,
                    "token": token,
                    "expires_in": TOKEN_EXPIRES_S,
                }
            )

        def failed(error: Exception) -> None:
            conn.logging_in -= 1
            if isinstance(error, NonceUsed):  # taken on another gateway worker meanwhile
                answer(error="EAPI:Invalid nonce")
                return
            print(f"tokex: login of {key} not written: {error}", file=sys.stderr)
            answer(error="EService:Unavailable")

        try:
            self.node.login(key, nonce, done, failed)
        except NonceUsed:
            raise _Invalid("EAPI:Invalid nonce") from None
        conn.logging_in += 1

    # ------------------------------------------------------------ subscriptions


def _operator(method: str) -> Any:
    def run(gw: WsGateway, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        gw._operator_method(conn, params, answer, method)

    return run


_LOGIN_FIELDS = frozenset({"api_key", "nonce", "signature"})


def _address(ws: ServerConnection) -> str:
    """The client's IP address (the unit of the per-address connection quota)."""
    peer = ws.remote_address
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)


def _keepalive(ws: ServerConnection) -> int:
    """Turn TCP keepalive on for the connection's socket; return its descriptor (-1: none)."""
    sock = ws.transport.get_extra_info("socket")
    if sock is None:
        return -1
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        idle, interval, count = TCP_KEEPALIVE
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)
    return int(sock.fileno())


_COUNT = bytearray(4)


def _ioctl_count(fd: int, request: int) -> int:
    if fd < 0:
        return 0
    try:
        fcntl.ioctl(fd, request, _COUNT)
    except OSError:
        return 0
    return int.from_bytes(_COUNT, sys.byteorder, signed=True)


def _kernel_queue(fd: int) -> int:
    """Bytes in the socket's kernel send queue not yet taken by the peer (Linux SIOCOUTQ)."""
    return _ioctl_count(fd, termios.TIOCOUTQ)


def _unread(fd: int) -> int:
    """Bytes the peer sent that wait in the socket's kernel receive queue (FIONREAD)."""
    return _ioctl_count(fd, termios.FIONREAD)


_METHODS: dict[str, Any] = {
    "login": WsGateway._login,
    "add_order": WsGateway._add_order,
    "batch_add": WsGateway._batch_add,
    "amend_order": WsGateway._amend_order,
    "edit_order": WsGateway._edit_order,
    "cancel_order": WsGateway._cancel_order,
    "batch_cancel": WsGateway._batch_cancel,
    "cancel_all": WsGateway._cancel_all,
    "cancel_all_orders_after": WsGateway._cancel_after,
    "subscribe": WsGateway._subscribe,
    "unsubscribe": WsGateway._unsubscribe,
    "clock_advance": WsGateway._clock_advance,
    "mass_cancel": WsGateway._mass_cancel,
    "settlement_status": WsGateway._settlement_status,
    **{
        m: _operator(m)
        for m in (
            "deposit",
            "withdraw",
            "halt",
            "resume",
            "set_reference_price",
            "kill_switch",
            "corporate_action",
        )
    },
}
_KNOWN = frozenset({*_METHODS, "ping"})
"""The method names the answer-latency metric is labelled with."""
