"""The WebSocket gateway for traders (a Kraken WebSocket v2 dialect; WS_API.md).

Thin: decode a JSON message, authenticate, throttle, turn it into a command,
hand it to the exchange's pipeline, and answer once it is durable; events
come back through the pipeline's listener as ``executions`` messages, always
after the answer to the command that caused them (the answer is queued in
the pipeline's ``on_done``, before listeners run). Every connection has one
outgoing queue drained by its own writer task, so what it is sent keeps the
engine's order.

Built so far (issue 6 is in progress): the connect status message, ``ping``,
``login`` (HMAC-SHA256 over the nonce and key, increasing nonces, tokens that
expire 15 minutes after their last use on the exchange clock), roles,
``add_order``, ``amend_order``, ``edit_order``, ``cancel_order`` and
``batch_cancel``, ``cancel_all``, ``cancel_all_orders_after``, the operator
methods (deposit, withdraw, halt, resume, set_reference_price, kill_switch,
corporate_action, clock_advance), the ``executions`` and ``balances``
channels with a per-subscription sequence, the public ``book`` (Kraken's
checksum), ``trade`` and ``instrument`` channels (gateway/channels.py),
heartbeats, the token bucket, oversized frames (1009), slow
consumers (1013), and the documented errors for bad JSON, unknown methods and
bad fields. Requests are parsed into commands by :mod:`gateway.requests`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from engine.commands import CancelAll, Command
from engine.events import OrderRejected
from engine.instrument import Instrument
from gateway.channels import Channels, Connection, Token
from gateway.config import AccountAccess, Config
from gateway.exchange import Exchange
from gateway.requests import (
    RequestError,
    parse_amend,
    parse_cancel_after,
    parse_cancels,
    parse_edit,
    parse_new_order,
    parse_operator,
)
from gateway.sequencer import Sequenced
from gateway.wire import error_for, order_id_text, rfc3339

__all__ = ["MAX_FRAME", "SLOW_CONSUMER_BYTES", "WsGateway"]

MAX_FRAME = 64 * 1024
SLOW_CONSUMER_BYTES = 4 * 1024 * 1024
TOKEN_NS = 15 * 60 * 10**9
HEARTBEAT_S = 1.0
VERSION = "0.1.0"

_encode = msgspec.json.Encoder(decimal_format="number").encode


_Invalid = RequestError


class WsGateway(Channels):
    """The WebSocket server of one :class:`Exchange`."""

    def __init__(self, exchange: Exchange, config: Config) -> None:
        self.exchange = exchange
        self.config = config
        self.instruments: dict[str, Instrument] = config.instruments
        self.quote_precision = {a.id: a.precision for a in config.genesis.assets}
        self.by_account = {a.account: a for a in config.access.values()}
        self.tokens: dict[str, Token] = {}
        self.nonces: dict[str, int] = {}
        self.connections: dict[int, Connection] = {}
        self.subscribers: dict[str, set[int]] = {}
        self.recent_trades: dict[str, deque[dict[str, Any]]] = {}
        self.balance_subscribers: dict[str, set[int]] = {}
        self._next_id = 1
        self.server: Server | None = None
        exchange.listeners.append(self._on_applied)

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port); return the port."""
        self.server = await serve(self._serve, host, port, max_size=MAX_FRAME)
        sockets = list(self.server.sockets)
        return int(sockets[0].getsockname()[1])

    async def close(self) -> None:
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
        writer = asyncio.get_running_loop().create_task(self._writer(conn))
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
                await self._handle(conn, message)
        except ConnectionClosed:
            pass
        finally:
            self.connections.pop(conn.conn_id, None)
            for subs in (*self.subscribers.values(), *self.balance_subscribers.values()):
                subs.discard(conn.conn_id)
            writer.cancel()

    async def _writer(self, conn: Connection) -> None:
        """Send the connection's queue in order; a heartbeat each idle second once subscribed."""
        try:
            while True:
                try:
                    data = await asyncio.wait_for(conn.outbox.get(), HEARTBEAT_S)
                except TimeoutError:
                    if conn.executions is not None or conn.books or conn.trades or conn.instrument:
                        await conn.ws.send('{"channel":"heartbeat"}')
                    continue
                conn.queued -= len(data)
                await conn.ws.send(data.decode())
        except (ConnectionClosed, asyncio.CancelledError):
            return

    def _send(self, conn: Connection, message: dict[str, Any]) -> None:
        data = _encode(message)
        conn.queued += len(data)
        if conn.queued > SLOW_CONSUMER_BYTES:
            # Never a silent gap: a subscriber that cannot keep up is let go.
            self.connections.pop(conn.conn_id, None)
            asyncio.get_running_loop().create_task(conn.ws.close(1013, "slow consumer"))
            return
        conn.outbox.put_nowait(data)

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

    async def _handle(self, conn: Connection, message: str | bytes) -> None:
        time_in = rfc3339(self.exchange.clock.now())
        try:
            doc = msgspec.json.decode(message)
        except msgspec.DecodeError:
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

        def answer(result: dict[str, Any] | None = None, error: str | None = None) -> None:
            body = dict(reply)
            if error is None:
                body["success"] = True
                if result is not None:
                    body["result"] = result
            else:
                body["success"] = False
                body["error"] = error
            body["time_in"] = time_in
            body["time_out"] = rfc3339(self.exchange.clock.now())
            self._send(conn, body)

        if not self._allow(conn):
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
        try:
            await handler(self, conn, params, answer)
        except _Invalid as e:
            answer(error=str(e))

    # ------------------------------------------------------------ authentication

    def _account(self, conn: Connection, params: dict[str, Any]) -> AccountAccess:
        """The account a private call acts for: the connection's login or a valid token."""
        token = params.get("token")
        now = self.exchange.clock.now()
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

    async def _one(self, command: Command, answer: Any, result: Callable[[Sequenced], Any]) -> None:
        """Submit one command; answer with ``result(applied)`` or the engine's refusal."""

        def done(applied: list[Sequenced]) -> None:
            last = applied[-1]
            events = last[1]
            if events and isinstance(events[0], OrderRejected):
                answer(error=error_for(events[0].reason, events[0].text))
            else:
                answer(result(last))

        try:
            await self.exchange.submit(command, done)
        except (ValueError, RuntimeError) as e:
            raise _Invalid(f"EService:Unavailable:{e}") from None

    async def _amend_order(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        access = self._trader(conn, params)
        command = parse_amend(access.account, params, self.instruments, self._symbol_of(access))
        await self._one(
            command,
            answer,
            lambda last: {
                "amend_id": f"A{last[0].seq}",
                "order_id": order_id_text(getattr(last[1][0], "order_id", 0)),
            },
        )

    async def _edit_order(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        access = self._trader(conn, params)
        command = parse_edit(access.account, params, self.instruments)
        await self._one(
            command,
            answer,
            lambda last: {
                "order_id": order_id_text(last[0].seq),
                "original_order_id": order_id_text(command.order_id or 0),
            },
        )

    async def _cancel_after(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        access = self._trader(conn, params)
        command = parse_cancel_after(access.account, params)
        await self._one(
            command,
            answer,
            lambda last: {
                "currentTime": rfc3339(last[0].ts),
                "triggerTime": rfc3339(last[0].ts + command.timeout_ns)
                if command.timeout_ns
                else "0",
            },
        )

    async def _operator_method(
        self, conn: Connection, params: dict[str, Any], answer: Any, method: str
    ) -> None:
        access = self._operator(conn, params)
        command = parse_operator(
            method, access.account, params, self.instruments, self.quote_precision
        )
        await self._one(command, answer, lambda last: {"seq": last[0].seq})

    async def _clock_advance(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        self._operator(conn, params)
        seconds = params.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise _Invalid(f"EGeneral:Invalid arguments:seconds {seconds!r}: must be >= 0")
        try:
            now = self.exchange.clock.advance(int(Decimal(str(seconds)) * 10**9))
        except ValueError as e:
            raise _Invalid(f"EGeneral:Invalid arguments:{e}") from None
        await self.exchange.tick()  # every timer the jump passed, at its own instant
        answer({"time": rfc3339(now)})

    def _symbol_of(self, access: AccountAccess) -> Callable[[int | None, str | None], str | None]:
        engine = self.exchange.engine

        def find(order_id: int | None, clid: str | None) -> str | None:
            order = engine.find_order(access.account, order_id, clid)
            return None if order is None else order.symbol

        return find

    async def _login(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        key, nonce, signature = params.get("api_key"), params.get("nonce"), params.get("signature")
        if not isinstance(key, str) or not isinstance(nonce, int) or not isinstance(signature, str):
            raise _Invalid("EGeneral:Invalid arguments:api_key, nonce and signature are required")
        access = self.config.access.get(key)
        if access is None:
            raise _Invalid("EAPI:Invalid key")
        expected = hmac.new(
            access.secret.encode(), f"{nonce}{key}".encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise _Invalid("EAPI:Invalid signature")
        if nonce <= self.nonces.get(key, -1):
            raise _Invalid("EAPI:Invalid nonce")
        self.nonces[key] = nonce
        token = secrets.token_hex(16)
        self.tokens[token] = Token(access.account, self.exchange.clock.now())
        conn.account = access
        answer({"account": access.account, "token": token, "expires_in": TOKEN_NS // 10**9})

    # ------------------------------------------------------------ trading

    async def _add_order(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        access = self._trader(conn, params)
        command = parse_new_order(
            access.account,
            params,
            self.instruments,
            self.quote_precision,
            self.exchange.clock.now(),
        )

        def placed(last: Sequenced) -> dict[str, Any]:
            # The order id is the command's seq, known once it is sequenced.
            out: dict[str, Any] = {"order_id": order_id_text(last[0].seq)}
            if command.cl_ord_id is not None:
                out["cl_ord_id"] = command.cl_ord_id
            if command.userref is not None:
                out["order_userref"] = command.userref
            return out

        await self._one(command, answer, placed)

    async def _cancel_order(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        access = self._trader(conn, params)
        commands = parse_cancels(access.account, params)

        def done(results: list[list[Sequenced]]) -> None:
            count = 0
            unknown: list[str] = []
            for (name, _), applied in zip(commands, results, strict=True):
                _, events = applied[-1] if applied else (None, [])
                if events and isinstance(events[0], OrderRejected):
                    unknown.append(name)
                else:
                    count += len(events)
            result: dict[str, Any] = {"count": count}
            if unknown:
                result["warnings"] = [f"EOrder:Unknown order:{name}" for name in unknown]
            answer(result)

        await self.exchange.submit_all([c for _, c in commands], done)

    async def _cancel_all(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        access = self._trader(conn, params)
        symbol = params.get("symbol")
        if symbol is not None and symbol not in self.instruments:
            raise _Invalid(f"EGeneral:Invalid arguments:symbol {symbol!r}: not listed")

        def done(applied: list[Sequenced]) -> None:
            answer({"count": len(applied[-1][1])})

        await self.exchange.submit(CancelAll(0, 0, access.account, symbol), done)

    # ------------------------------------------------------------ subscriptions


def _operator(method: str) -> Any:
    async def run(gw: WsGateway, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        await gw._operator_method(conn, params, answer, method)

    return run


_METHODS: dict[str, Any] = {
    "login": WsGateway._login,
    "add_order": WsGateway._add_order,
    "amend_order": WsGateway._amend_order,
    "edit_order": WsGateway._edit_order,
    "cancel_order": WsGateway._cancel_order,
    "batch_cancel": WsGateway._cancel_order,
    "cancel_all": WsGateway._cancel_all,
    "cancel_all_orders_after": WsGateway._cancel_after,
    "subscribe": WsGateway._subscribe,
    "clock_advance": WsGateway._clock_advance,
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
