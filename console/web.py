"""The console's HTTP routes: the operator page, its settings, and ``/metrics``.

``tokex serve`` adds :func:`routes` to the node's HTTP server
(gateway/http.py). The page is three static files shipped in this package
(``static/``: HTML, CSS and one vanilla JavaScript file, no build step, no
CDN); everything it shows comes over the WebSocket API, to which it logs in
as an operator with the key and secret typed into it (docs/CONSOLE.md).
``/console.json`` tells the page where that API listens and which clock
runs. None of these routes changes anything: every action goes through the
WebSocket operator methods, where roles are checked.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from console.metrics import CONTENT_TYPE, NodeCollector, collectors, render
from node.interface import Node

__all__ = ["STATIC", "routes"]

STATIC = Path(__file__).resolve().parent / "static"

_FILES = {
    "/": ("index.html", "text/html"),
    "/console.js": ("console.js", "text/javascript"),
    "/console.css": ("console.css", "text/css"),
}


def _policy(request: web.Request, ws_port: int) -> str:
    """The page's Content-Security-Policy: its own files, and the WebSocket API only."""
    host = request.url.host or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' ws://{host}:{ws_port} wss://{host}:{ws_port}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def routes(node: Node, ws_port: int, version: str) -> list[web.RouteDef]:
    """The console's routes for ``node``, whose WebSocket API listens on ``ws_port``."""
    sources = collectors(NodeCollector(node.metrics, node.config, node.config.name, version))
    files = {path: ((STATIC / name).read_bytes(), kind) for path, (name, kind) in _FILES.items()}

    async def static(request: web.Request) -> web.Response:
        body, kind = files[request.path]
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if kind == "text/html":
            headers["Content-Security-Policy"] = _policy(request, ws_port)
            headers["Referrer-Policy"] = "no-referrer"
        return web.Response(body=body, content_type=kind, charset="utf-8", headers=headers)

    async def settings(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "name": node.config.name,
                "version": version,
                "ws_port": ws_port,
                "clock": "simulated" if node.simulated_clock else "system",
            },
            headers={"Cache-Control": "no-store"},
        )

    async def metrics(request: web.Request) -> web.Response:
        body = await render(sources)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    return [
        *(web.get(path, static) for path in _FILES),
        web.get("/console.json", settings),
        web.get("/metrics", metrics),
    ]
