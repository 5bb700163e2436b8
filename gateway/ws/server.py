"""The WebSocket gateway for traders (a Kraken WebSocket v2 dialect; WS_API.md, docs/WS.md).

Thin: decode a JSON message, authenticate, throttle, turn it into commands,
queue them on the exchange's pipeline, and answer once they are durable;
events come back through the pipeline's listener as channel messages,
always after the answer to the command that caused them (the answer is
queued in the pipeline's ``on_done``, before listeners run). What one turn
of the event loop queues for a connection goes out in one write, in the
order queued, so what it is sent keeps the engine's order; a connection
with more than 4 MiB written but not yet taken by the client is closed
(1013, ``slow consumer``), never left with a gap.

This module holds the connection, the envelope, login and roles; the
trading and operator methods are :mod:`gateway.ws.trading`, the channels
:mod:`gateway.ws.channels`, and request parsing :mod:`gateway.ws.requests`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
from collections import deque
from typing import Any

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from gateway.ws.channels import Channels, Connection, Token, run_request
from gateway.ws.requests import RequestError
from gateway.ws.ticker import Rolling24h
from gateway.ws.trading import Answer, Trading
from gateway.ws.wire import rfc3339
from model.commands import CancelAll
from model.instrument import Instrument
from node.config import AccountAccess
from node.interface import Node
from risk.money import Pair

__all__ = ["MAX_FRAME", "SLOW_CONSUMER_BYTES", "WsGateway"]

MAX_FRAME = 64 * 1024
SLOW_CONSUMER_BYTES = 4 * 1024 * 1024
TOKEN_NS = 15 * 60 * 10**9
TOKEN_SWEEP = 10_000
HEARTBEAT_S = 1.0
VERSION = "0.1.0"

_encode = msgspec.json.Encoder(decimal_format="number").encode


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
        self.tokens: dict[str, Token] = {}
        self.nonces: dict[str, int] = {}
        self.connections: dict[int, Connection] = {}
        self.subscribers: dict[str, set[int]] = {}
        self.recent_trades: dict[str, deque[dict[str, Any]]] = {}
        self.balance_subscribers: dict[str, set[int]] = {}
        self.rolling: dict[str, Rolling24h] = {}
        self.last_ticker: dict[str, dict[str, Any]] = {}
        self._next_id = 1
        self.server: Server | None = None
        self._dirty: dict[int, Connection] = {}
        self._beats: asyncio.Task[None] | None = None
        self.metrics = node.metrics.gateway("ws")
        node.add_listener(self._on_applied)

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port); return the port."""
        self.server = await serve(self._serve, host, port, max_size=MAX_FRAME)
        self._beats = asyncio.get_running_loop().create_task(self._heartbeats())
        sockets = list(self.server.sockets)
        return int(sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._beats is not None:
            self._beats.cancel()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    # ------------------------------------------------------------ per connection

    async def _serve(self, ws: ServerConnection) -> None:
        conn = Connection(ws, self._next_id)
        conn.tokens = float(self.config.rate_burst)
        conn.refilled = time.monotonic()
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
                self._handle(conn, message)
        except ConnectionClosed:
            pass
        finally:
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
        if access is None or not access.cancel_on_disconnect:
            return
        if any(c.account is access for c in self.connections.values()):
            return
        command = CancelAll(0, 0, access.account, None, "dead_man_switch")
        # Shutting down (RuntimeError): the orders stay, as after any restart.
        with contextlib.suppress(RuntimeError):
            self.node.enqueue(command)

    def _send(self, conn: Connection, message: dict[str, Any]) -> None:
        """Queue a message; everything queued in this turn of the loop goes out in one write."""
        conn.pending.append(_encode(message))
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush)
        self._dirty[conn.conn_id] = conn

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
            if ws.transport.get_write_buffer_size() > SLOW_CONSUMER_BYTES:
                self.connections.pop(conn.conn_id, None)
                metrics.disconnected("slow_consumer")
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
            doc = msgspec.json.decode(message)
        except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deep
            self._send(
                conn, {"success": False, "error": "EGeneral:Invalid JSON", "time_in": time_in}
            )
            return
        if not isinstance(doc, dict):
            self._send(
                conn, {"success": False, "error": "EGeneral:Invalid JSON", "time_in": time_in}
            )
            return
        method = doc.get("method")
        req_id = doc.get("req_id")
        params = doc.get("params") or {}
        reply: dict[str, Any] = {"method": method}
        if req_id is not None:
            reply["req_id"] = req_id
        # Answer latency per method; any other text is one label, so clients cannot add series.
        latency = self.metrics.ack_for(
            method if isinstance(method, str) and method in _KNOWN else "unknown"
        )

        def answer(
            result: dict[str, Any] | None = None,
            error: str | None = None,
            extra: dict[str, Any] | None = None,
        ) -> None:
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
            latency.observe((time.perf_counter_ns() - read_at) / 1e9)

        if not self._allow(conn):
            self.metrics.rate_limited += 1
            answer(error="EAPI:Rate limit exceeded")
            return
        if method == "ping":
            reply["method"] = "pong"
            answer()
            return
        handler = _METHODS.get(method) if isinstance(method, str) else None
        if handler is None:
            answer(error="EGeneral:Unknown method")
            return
        if not isinstance(params, dict):
            answer(error="EGeneral:Invalid arguments:params must be an object")
            return
        run_request(lambda: handler(self, conn, params, answer), answer)

    # ------------------------------------------------------------ authentication

    def _account(self, conn: Connection, params: dict[str, Any]) -> AccountAccess:
        """The account a private call acts for: the connection's login or a valid token."""
        token = params.get("token")
        now = self.node.now()
        if isinstance(token, str):
            held = self.tokens.get(token)
            if held is None or now - held.last_used > TOKEN_NS:
                raise _Invalid("ESession:Invalid session")
            held.last_used = now
            return self.by_account[held.account]
        if conn.account is None:
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
        key, nonce, signature = params.get("api_key"), params.get("nonce"), params.get("signature")
        if not isinstance(key, str) or type(nonce) is not int or not isinstance(signature, str):
            raise _Invalid("EGeneral:Invalid arguments:api_key, nonce and signature are required")
        access = self.config.access.get(key)
        if access is None:
            raise _Invalid("EAPI:Invalid key")
        expected = hmac.new(
            access.secret.encode(), f"{nonce}{key}".encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
            raise _Invalid("EAPI:Invalid signature")
        if nonce <= self.nonces.get(key, -1):
            raise _Invalid("EAPI:Invalid nonce")
        self.nonces[key] = nonce
        now = self.node.now()
        if len(self.tokens) >= TOKEN_SWEEP:
            # Forget the expired ones now and then, so tokens never pile up.
            self.tokens = {t: h for t, h in self.tokens.items() if now - h.last_used <= TOKEN_NS}
        token = secrets.token_hex(16)
        self.tokens[token] = Token(access.account, now)
        conn.account = access
        answer(
            {
                "account": access.account,
                "role": access.role,
                "token": token,
                "expires_in": TOKEN_NS // 10**9,
            }
        )

    # ------------------------------------------------------------ subscriptions


def _operator(method: str) -> Any:
    def run(gw: WsGateway, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        gw._operator_method(conn, params, answer, method)

    return run


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
