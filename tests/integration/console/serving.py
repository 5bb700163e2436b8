"""A real ``tokex serve`` with its HTTP port, for the console and metrics tests.

:func:`console_server` starts the server on the built-in demo config, a fresh
data directory and port 0 for both the WebSocket API and the HTTP port, and
yields both ports from the line it prints first.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.gateway.ws.client import MONDAY, ROOT


def limit(side: str, qty: str, price: str, symbol: str = "AAPLx/USD") -> dict[str, Any]:
    """The params of an ``add_order`` for a limit order."""
    return {
        "symbol": symbol,
        "side": side,
        "order_type": "limit",
        "order_qty": qty,
        "limit_price": price,
    }


@dataclass
class Served:
    ws_port: int
    http_port: int
    proc: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """GET ``path`` from the HTTP port: status, headers, body."""
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()


@contextmanager
def console_server(data: Path, clock: str = MONDAY) -> Iterator[Served]:
    command = [sys.executable, "-m", "tokex.cli", "serve", "--data", str(data)]
    command += ["--ws-port", "0", "--http-port", "0", "--fix-port", "0", "--clock", clock]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        ws = re.search(r"ws://127\.0\.0\.1:(\d+)/v2", first)
        http = re.search(r"console on http://127\.0\.0\.1:(\d+)/", first)
        assert ws and http, first + (proc.stderr.read() if proc.stderr else "")
        yield Served(int(ws.group(1)), int(http.group(1)), proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
