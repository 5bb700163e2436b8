"""The node's one HTTP port (``--http-port``, ``exchange.http_port``), shared by every edge.

``tokex serve`` makes one :class:`HttpServer`; each part that speaks HTTP
adds its routes before it starts (the operator console and ``/metrics``
now, the Kraken REST API under ``/0/public`` and ``/0/private`` next), so
they all share one listening socket on the node's event loop. Routes are
aiohttp's (``web.get(path, handler)``, ``web.RouteTableDef``): a handler is
a coroutine taking the request and returning the response.

Why aiohttp: it is an asyncio HTTP/1.1 server that runs on the loop the
engine already runs on (uvloop), with routing, keep-alive and request
limits, in wide use for years. The ``websockets`` server answers only GET
requests on its own handshake path (its ``process_request`` hook), which
serves a page but not a REST API's POSTs; an ASGI server (uvicorn) would
bring its own loop management and a framework on top for the same result.
Access logging is off: a line per request would cost more than the request.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

__all__ = ["HttpServer"]

MAX_BODY = 64 * 1024
"""Largest request body accepted (a REST call is a few hundred bytes), like a WebSocket frame."""


class HttpServer:
    """One aiohttp application on one port; routes are added before :meth:`start`."""

    def __init__(self) -> None:
        self.app = web.Application(client_max_size=MAX_BODY)
        self._runner: web.AppRunner | None = None

    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        """Serve ``routes`` too (before :meth:`start`; aiohttp freezes the router then)."""
        if self._runner is not None:
            raise RuntimeError("routes must be added before the HTTP server starts")
        self.app.add_routes(routes)

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port); return the port."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def close(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
