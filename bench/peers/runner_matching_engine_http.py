"""Serve the peer ``matching-engine`` 0.1.1's HTTP gateway (FastAPI + uvicorn) on loopback.

Runs INSIDE the peer's venv (Python >= 3.12, ``matching-engine[gateway]==0.1.1``):
stdlib plus the package and its gateway extra only. Used by ``python -m bench ws``.

Usage::

    python runner_matching_engine_http.py --data DIR --market SYMBOL:TICK:LOT [--port N]

What it does
------------
Binds a listening socket on 127.0.0.1 (``--port 0``, the default: any free
port), prints ONE JSON line on stdout, ``{"peer", "version", "python", "port",
"settings"}``, then serves the app ``matching_engine.gateway.create_app``
builds from explicit :class:`Settings` until SIGINT or SIGTERM (uvicorn's
graceful shutdown: the market workers finish what is queued and close the WAL).

Settings, chosen to match the conditions tokex is measured under:

* ``fsync=True``: the WAL is fsynced once per batch before any order of the
  batch is answered (the package's group commit, ``ME_FSYNC=1``, its default),
  like tokex's ``fsync = "batch"``.
* ``batch_max`` 512, ``queue_max`` 10,000, ``snapshot_every`` 100,000: the
  package's defaults (tokex also snapshots every 100,000 commands).
* uvicorn as the package's own ``matching-engine serve`` runs it:
  ``http="httptools"``, no access log, log level warning (the package's CLI
  says info; only the start-up lines differ). The event loop is uvicorn's
  ``auto`` choice: the ``gateway`` extra does not install uvloop, so it is
  asyncio's own loop unless uvloop happens to be importable.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import socket
import sys
from pathlib import Path

import uvicorn
from matching_engine.gateway import Settings, create_app
from matching_engine.market import MarketSpec

PEER = "matching-engine-http"
DIST = "matching-engine"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="data directory (one per market)")
    ap.add_argument("--market", required=True, help="SYMBOL:TICK:LOT, e.g. AAPLx-USD:0.01:0.0001")
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    args = ap.parse_args(argv)

    settings = Settings(data_dir=args.data, markets=(MarketSpec.parse(args.market),), fsync=True)
    # proto IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on
    # sockets whose proto says TCP. Binding the socket here (to learn the
    # port) must not add the 40 ms Nagle/delayed-ACK stall that the package's
    # own ``uvicorn.run(host=..., port=...)`` does not have.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(2048)
    port = sock.getsockname()[1]

    config = uvicorn.Config(
        create_app(settings),
        http="httptools",
        access_log=False,
        log_level="warning",
        backlog=2048,
    )
    server = uvicorn.Server(config)
    sys.stdout.write(
        json.dumps(
            {
                "peer": PEER,
                "version": importlib.metadata.version(DIST),
                "python": platform.python_version(),
                "port": port,
                "settings": {
                    "fsync": settings.fsync,
                    "batch_max": settings.batch_max,
                    "queue_max": settings.queue_max,
                    "snapshot_every": settings.snapshot_every,
                    "http": "httptools",
                    "loop": config.loop,
                },
            }
        )
        + "\n"
    )
    sys.stdout.flush()
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
