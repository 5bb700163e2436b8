"""The REST API (a Kraken Spot REST subset, REST_API.md) on the node's HTTP port.

``tokex serve`` adds :meth:`RestGateway.routes` to the HTTP server the
operator console and ``/metrics`` use (gateway/http.py): one listening
socket on the engine's event loop. ``/0/public/<Method>`` takes GET (query
string) or POST; ``/0/private/<Method>`` takes POST, form-encoded or JSON,
signed with Kraken's ``API-Key`` and ``API-Sign`` headers. Every answer is
``{"error": [...], "result": {...}}`` with HTTP 200.

A private call is checked in this order: the key (``EAPI:Invalid key``, also
for an account whose secret is not base64), the signature
(``EAPI:Invalid signature``), the key's rate counter
(``EAPI:Rate limit exceeded``; nothing is taken), then the nonce, which the
node takes durably before the method runs (``EAPI:Invalid nonce`` if it is
not above every nonce of the key, WebSocket logins included). Every order
method goes through the node's pipeline like the WebSocket and FIX
gateways' (:mod:`gateway.rest.private`), so what it does shows on their
channels and the reverse.

Written against :class:`node.interface.Node` only.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from engine.events import OrderAccepted, OrderCancelled, OrderExpired, TradeExecuted
from gateway.requests import RequestError
from gateway.rest.auth import RateCounter, decode_secret, verify
from model.instrument import Instrument
from node.config import AccountAccess
from node.interface import Node, NonceUsed, Sequenced

__all__ = ["RestError", "RestGateway"]

_encode = msgspec.json.Encoder(decimal_format="number").encode
_decode = msgspec.json.Decoder(float_hook=Decimal).decode

MAX_NONCE = 2**63 - 1
RestError = RequestError
"""A refusal; ``str()`` is the Kraken error string."""

_NESTED = re.compile(r"^(\w+)\[(\d+)\]\[(\w+)\]$")
_LISTED = re.compile(r"^(\w+)\[(\d*)\]$")
_HISTORY = frozenset({"Ledgers", "QueryLedgers", "TradesHistory", "QueryTrades"})
_ORDER_METHODS = frozenset(
    {
        "AddOrder",
        "AddOrderBatch",
        "AmendOrder",
        "EditOrder",
        "CancelOrder",
        "CancelOrderBatch",
        "CancelAll",
        "CancelAllOrdersAfter",
    }
)
"""Not counted on the key's REST counter (Kraken counts them per pair, separately)."""


def _params(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form fields as a dict: ``a[]=x`` and ``a[0]=x`` lists, ``orders[0][type]=x`` objects."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        nested = _NESTED.match(key)
        if nested:
            name, index, field = nested.groups()
            rows = out.setdefault(name, {})
            if isinstance(rows, dict):
                rows.setdefault(int(index), {})[field] = value
            continue
        listed = _LISTED.match(key)
        if listed:
            out.setdefault(listed.group(1), []).append(value)
            continue
        out[key] = value
    for key, value in list(out.items()):
        if isinstance(value, dict) and all(isinstance(k, int) for k in value):
            out[key] = [value[i] for i in sorted(value)]
    return out


class RestGateway:
    """The REST API of one node (see the module docstring)."""

    def __init__(self, node: Node) -> None:
        from gateway.rest import private, public  # the method tables, which use this class

        self.node = node
        config = node.config
        self.instruments: dict[str, Instrument] = config.instruments
        self.precision = {a.id: a.precision for a in config.genesis.assets}
        self.access = config.access
        self.secrets: dict[str, bytes | None] = {
            key: decode_secret(a.secret) for key, a in config.access.items()
        }
        self.counters: dict[str, RateCounter] = {}
        self.metrics = node.metrics.gateway("rest")
        self.public = public.METHODS
        self.private = private.METHODS
        self.opened: dict[int, int] = {}
        """When each open order was accepted (ns), as seen since the start."""
        self.order_types: dict[int, str] = {}
        """Order type of each order seen since the start (names a maker's fills)."""
        by_name: dict[str, Instrument] = {}
        for inst in self.instruments.values():
            for name in (inst.symbol, inst.symbol.replace("/", "")):
                by_name[name.casefold()] = inst
        self._by_name = by_name
        node.add_listener(self._on_applied)

    def warnings(self) -> list[str]:
        """Accounts whose secret is not base64: their REST calls are refused (start-up notice)."""
        return [
            f"account {a.account} ({key}): secret is not base64; its REST calls are refused"
            " (EAPI:Invalid key), its WebSocket login works"
            for key, a in self.access.items()
            if self.secrets[key] is None
        ]

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/0/public/{method}", self._public),
            web.post("/0/public/{method}", self._public),
            web.post("/0/private/{method}", self._private),
        ]

    # ------------------------------------------------------------ helpers

    def pair(self, name: object, field: str = "pair") -> Instrument:
        """The instrument a pair name names: REST name, altname or WebSocket name, any case."""
        inst = self._by_name.get(name.casefold()) if isinstance(name, str) else None
        if inst is None:
            raise RestError("EQuery:Unknown asset pair")
        return inst

    def pairs(self, params: dict[str, Any]) -> list[tuple[str, Instrument]]:
        """``pair`` as a comma list: (the name as given, instrument); all pairs when absent."""
        given = params.get("pair")
        if given is None or given == "":
            return [(i.symbol.replace("/", ""), i) for i in self.instruments.values()]
        names = given if isinstance(given, list) else str(given).split(",")
        return [(n.strip(), self.pair(n.strip())) for n in names]

    async def submit(self, commands: list[Any]) -> list[Sequenced]:
        """Queue ``commands`` on the pipeline as one group; their result once durable."""
        from node.interface import Busy

        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Sequenced]] = loop.create_future()

        def done(applied: list[Sequenced]) -> None:
            if not future.done():
                future.set_result(applied)

        def failed(error: Exception) -> None:
            if not future.done():
                future.set_exception(RestError(f"EGeneral:Invalid arguments:{error}"))

        try:
            self.node.enqueue_group(commands, done, failed)
        except Busy:
            raise RestError("EService:Busy") from None
        except RuntimeError:
            raise RestError("EService:Unavailable") from None
        return await future

    def _on_applied(self, applied: list[Sequenced]) -> None:
        """Remember when open orders were placed and each order's type (for the shapes)."""
        opened, types = self.opened, self.order_types
        for _, events in applied:
            for e in events:
                if type(e) is OrderAccepted:
                    opened[e.order_id] = e.ts
                    types[e.order_id] = e.order.order_type
                elif type(e) is TradeExecuted:
                    if e.maker_leaves == 0:
                        opened.pop(e.maker_order_id, None)
                    if e.taker_leaves == 0:
                        opened.pop(e.taker_order_id, None)
                elif type(e) is OrderCancelled or type(e) is OrderExpired:
                    opened.pop(e.order_id, None)
        if len(types) > 200_000:  # the oldest half goes (a maker fill then says "limit")
            for order_id in sorted(types)[:100_000]:
                del types[order_id]

    # ------------------------------------------------------------ HTTP

    def _answer(
        self, method: str, started: int, result: Any = None, error: str | None = None
    ) -> web.Response:
        body: dict[str, Any] = {"error": [] if error is None else [error]}
        if error is None:
            body["result"] = result
        else:
            self.metrics.refused(error)
        self.metrics.sent += 1
        known = method if method in self.public or method in self.private else "unknown"
        self.metrics.ack_for(known).observe((time.perf_counter_ns() - started) / 1e9)
        return web.Response(body=_encode(body), content_type="application/json")

    async def _run(
        self, method: str, started: int, call: Callable[[], Awaitable[Any]]
    ) -> web.Response:
        try:
            result = await call()
        except RestError as e:
            text = str(e)
            return self._answer(method, started, error=_rest_words(text))
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return self._answer(method, started, error="EGeneral:Internal error")
        return self._answer(method, started, result)

    async def _public(self, request: web.Request) -> web.Response:
        started = time.perf_counter_ns()
        self.metrics.received += 1
        method = request.match_info["method"]
        handler = self.public.get(method)
        if handler is None:
            return self._answer(method, started, error="EGeneral:Unknown method")
        pairs = list(request.query.items())
        if request.method == "POST":
            pairs += parse_qsl((await request.read()).decode(errors="replace"))
        params = _params(pairs)
        return await self._run(method, started, lambda: handler(self, params))

    async def _private(self, request: web.Request) -> web.Response:
        started = time.perf_counter_ns()
        self.metrics.received += 1
        method = request.match_info["method"]
        handler = self.private.get(method)
        if handler is None:
            return self._answer(method, started, error="EGeneral:Unknown method")
        body = await request.read()
        try:
            params = self._body(request, body)
            access = self._authenticate(request, method, params, body)
        except RestError as e:
            return self._answer(method, started, error=str(e))
        if method != "GetWebSocketsToken":
            try:
                await self._take_nonce(access, params)
            except RestError as e:
                return self._answer(method, started, error=str(e))
        return await self._run(method, started, lambda: handler(self, access, params))

    @staticmethod
    def _body(request: web.Request, body: bytes) -> dict[str, Any]:
        if request.content_type == "application/json":
            try:
                doc = _decode(body)
            except (msgspec.DecodeError, RecursionError):
                raise RestError("EGeneral:Invalid arguments:body is not JSON") from None
            if not isinstance(doc, dict):
                raise RestError("EGeneral:Invalid arguments:body must be a JSON object")
            return doc
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise RestError("EGeneral:Invalid arguments:body is not UTF-8") from None
        return _params(parse_qsl(text, keep_blank_values=True))

    def _authenticate(
        self, request: web.Request, method: str, params: dict[str, Any], body: bytes
    ) -> AccountAccess:
        key = request.headers.get("API-Key", "")
        access = self.access.get(key)
        secret = self.secrets.get(key)
        if access is None or secret is None:
            raise RestError("EAPI:Invalid key")
        nonce = params.get("nonce")
        if isinstance(nonce, int) and not isinstance(nonce, bool):
            nonce = str(nonce)
        if not isinstance(nonce, str) or not nonce.isascii() or not nonce.isdigit():
            raise RestError(f"EAPI:Invalid nonce:nonce {nonce!r}: must be a positive integer")
        if not verify(secret, request.path, nonce, body, request.headers.get("API-Sign", "")):
            raise RestError("EAPI:Invalid signature")
        cost = 0 if method in _ORDER_METHODS else 2 if method in _HISTORY else 1
        counter = self.counters.setdefault(key, RateCounter(0.0, time.monotonic()))
        if not counter.take(cost, time.monotonic()):
            self.metrics.rate_limited += 1
            raise RestError("EAPI:Rate limit exceeded")
        return access

    async def _take_nonce(self, access: AccountAccess, params: dict[str, Any]) -> None:
        """Take the request's nonce in the node (durable before the method runs)."""
        nonce = int(str(params["nonce"]))
        if not 0 < nonce <= MAX_NONCE:
            raise RestError(f"EAPI:Invalid nonce:nonce {nonce}: must be 1 to 2**63-1")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def done() -> None:
            if not future.done():
                future.set_result(None)

        def failed(error: Exception) -> None:
            print(f"tokex: nonce of {access.api_key} not written: {error}", file=sys.stderr)
            if not future.done():
                future.set_exception(RestError("EService:Unavailable"))

        try:
            self.node.use_nonce(access.api_key, nonce, done, failed)
        except NonceUsed:
            raise RestError("EAPI:Invalid nonce") from None
        await future

    async def login(self, access: AccountAccess, params: dict[str, Any]) -> str:
        """GetWebSocketsToken: take the nonce and issue a session token, as a WS login does."""
        nonce = int(str(params["nonce"]))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()

        def done(token: str) -> None:
            if not future.done():
                future.set_result(token)

        def failed(error: Exception) -> None:
            if not future.done():
                future.set_exception(RestError("EService:Unavailable"))

        try:
            self.node.login(access.api_key, nonce, done, failed)
        except NonceUsed:
            raise RestError("EAPI:Invalid nonce") from None
        except ValueError:
            raise RestError(f"EAPI:Invalid nonce:nonce {nonce}: must be 1 to 2**63-1") from None
        return await future


def _rest_words(error: str) -> str:
    """An error naming a WebSocket field, with the REST API's name for it."""
    prefix = "EGeneral:Invalid arguments:"
    if not error.startswith(prefix):
        return error
    rest = error[len(prefix) :]
    from gateway.rest.shapes import FIELD_NAMES

    head, sep, tail = rest.partition(" ")
    for ws_name, rest_name in FIELD_NAMES.items():
        if head == ws_name or head.endswith("." + ws_name):
            head = head[: len(head) - len(ws_name)] + rest_name
            break
    return prefix + head + sep + tail
