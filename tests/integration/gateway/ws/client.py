"""A WebSocket test client and a real ``tokex serve`` process for the integration tests.

:func:`server` starts the server on the built-in demo config with a fresh data
directory and port 0 and yields the port it prints; :func:`connect` opens a
client that has read the connect status message; :class:`Client` sends
requests and keeps the pushes that arrive before each answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import websockets

ROOT = Path(__file__).resolve().parents[4]


MONDAY = "sim:2026-11-23T15:00:00Z"  # 10:00 ET on a trading day: regular hours


@contextmanager
def server(
    data: Path, clock: str = MONDAY, config: Path | None = None, banner: list[str] | None = None
) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """A ``tokex serve`` on ``data``; its first line (where it listens) goes into ``banner``."""
    command = [sys.executable, "-m", "tokex.cli", "serve", "--data", str(data)]
    command += ["--ws-port", "0", "--http-port", "0", "--fix-port", "0", "--clock", clock]
    if config is not None:
        command += ["--config", str(config)]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if banner is not None:
            banner.append(first)
        match = re.search(r"ws://127\.0\.0\.1:(\d+)/v2", first)
        assert match, first + (proc.stderr.read() if proc.stderr else "")
        yield int(match.group(1)), proc
    finally:
        _hang_up(_clients)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def config_file(path: Path, **exchange: object) -> Path:
    """Write the built-in demo config with ``[exchange]`` keys set (values as TOML text).

    ``config_file(p, queue_limit="50", snapshots="{ records = 200 }")``.
    """
    from node.config import DEMO_CONFIG

    lines = DEMO_CONFIG.splitlines()
    start = lines.index("[exchange]") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("["))
    kept = [line for line in lines[start:end] if line.split("=")[0].strip() not in exchange]
    lines[start:end] = kept + [f"{key} = {value}" for key, value in exchange.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def send_burst(ws: Any, messages: list[str]) -> None:
    """Send ``messages`` as frames in one write, so the server reads them in one go.

    The frames are made by the connection's own protocol object (masked, as a
    client's must be); on loopback one write of a few kilobytes arrives whole.
    """
    for text in messages:
        ws.protocol.send_text(text.encode())
    ws.transport.write(b"".join(ws.protocol.data_to_send()))


def sign(secret: str, key: str, nonce: int) -> str:
    return hmac.new(secret.encode(), f"{nonce}{key}".encode(), hashlib.sha256).hexdigest()


class Client:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.req = 0

    async def recv(self) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), 10))  # type: ignore[no-any-return]

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a request; return its answer (pushes before it are kept in ``self.pushed``)."""
        self.req += 1
        await self.ws.send(json.dumps({"method": method, "params": params, "req_id": self.req}))
        while True:
            msg = await self.recv()
            if msg.get("req_id") == self.req:
                return msg
            self.pushed.append(msg)

    pushed: list[dict[str, Any]]

    async def login(self, account: str) -> dict[str, Any]:
        return await self.call("login", **login_params(account))


_clients: list[Client] = []
"""Clients made by :func:`connect` while a :func:`server` runs (shut down when it stops)."""


def _hang_up(clients: list[Client]) -> None:
    """Send FIN on every client socket a test left open (its event loop may be gone).

    Otherwise the server's orderly stop waits out its close timeout (10 s) for
    each of them. The socket is shut down through a duplicate descriptor, so
    the client's own (possibly never closed) descriptor stays valid.
    """
    for client in clients:
        sock = client.ws.transport.get_extra_info("socket")
        if sock is None:
            continue
        try:
            with socket.socket(fileno=os.dup(sock.fileno())) as dup:
                dup.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # closed already
    clients.clear()


async def connect(port: int) -> Client:
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/v2")
    client = Client(ws)
    _clients.append(client)
    client.pushed = []
    status = await client.recv()
    assert status["channel"] == "status" and status["data"][0]["system"] == "online"
    return client


# --------------------------------------------------------------------------
# Helpers added for test_ws_access.py and test_ws_fuzz.py.

T = TypeVar("T")

DOCUMENTED_ERRORS = frozenset(
    {
        "EGeneral:Invalid JSON",
        "EGeneral:Unknown method",
        "EGeneral:Permission denied",
        "EAPI:Invalid key",
        "EAPI:Invalid signature",
        "EAPI:Invalid nonce",
        "EAPI:Rate limit exceeded",
        "ESession:Invalid session",
        "EOrder:Insufficient funds",
        "EOrder:Unknown order",
        "EOrder:Post only order",
        "EOrder:Order minimum not met",
        "EOrder:Cost minimum not met",
        "EOrder:Orders limit exceeded",
        "EOrder:Price band exceeded",
        "EOrder:Limit orders only",
        "EOrder:Market closed",
        "EOrder:Trading halted",
        "EOrder:Duplicate cl_ord_id",
        "EOrder:Account disabled",
        "EOrder:Max notional exceeded",
        "EService:Busy",
        "EFunding:Insufficient funds",
    }
)
"""Every error string WS_API.md documents, besides ``EGeneral:Invalid arguments:<why>``."""


def is_documented_error(error: object) -> bool:
    """Whether ``error`` is one of WS_API.md's errors (an invalid argument must say why)."""
    if not isinstance(error, str):
        return False
    prefix = "EGeneral:Invalid arguments:"
    return error in DOCUMENTED_ERRORS or (error.startswith(prefix) and len(error) > len(prefix))


_last_nonce = 0


def next_nonce() -> int:
    """A login nonce above every one this process handed out (and above the wall clock's ns)."""
    global _last_nonce
    _last_nonce = max(time.time_ns(), _last_nonce + 1)
    return _last_nonce


def login_params(account: str, nonce: int | None = None) -> dict[str, Any]:
    """A correctly signed ``login`` request's params for a demo account."""
    nonce = next_nonce() if nonce is None else nonce
    key = f"{account}-key"
    return {"api_key": key, "nonce": nonce, "signature": sign(demo_secret(account), key, nonce)}


def demo_secret(account: str) -> str:
    """A demo account's API secret, as the built-in demo config has it (base64)."""
    from node.config import DEMO_CONFIG, parse_config

    config = parse_config(DEMO_CONFIG, "demo")
    found = {a.account: a.secret for a in config.access.values()}
    return found.get(account, f"{account}-secret")


@contextmanager
def live_server(data: Path, clock: str = MONDAY) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """:func:`server`, but a server that cannot stop is killed rather than waited on.

    If the block fails (for instance because the server stopped answering), the
    process is killed at once; if the block succeeds, the server must stop on
    SIGTERM within 15 s (else it is killed and the block fails).
    """
    with server(data, clock) as (port, proc):
        try:
            yield port, proc
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        _hang_up(_clients)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("the server did not stop on SIGTERM") from None


async def pushes_until_pong(client: Client) -> list[dict[str, Any]]:
    """Everything queued for ``client`` before the answer to a ping sent now (in order).

    The server writes each connection's messages in order, so every push caused by
    a request answered earlier arrives before this ping's answer.
    """
    client.pushed = []
    pong = await client.call("ping")
    assert pong.get("method") == "pong", pong
    pushed, client.pushed = client.pushed, []
    return pushed


def run_within(scenario: Coroutine[Any, Any, T], seconds: float = 30.0) -> T:
    """``asyncio.run(scenario)``, failing if it takes more than ``seconds`` in all.

    A per-message timeout is not enough once a connection is subscribed: the
    server's heartbeats keep it busy while the awaited answer never comes.
    """
    return asyncio.run(asyncio.wait_for(scenario, seconds))
