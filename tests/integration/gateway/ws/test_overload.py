"""Overload and slow readers against a real ``tokex serve``: answered, bounded, nothing lost.

The server runs the demo config with a small ``queue_limit`` (64 commands) and
a rate limit no client reaches, so that a few clients sending as fast as
their sockets take it offer far more than the exchange can sequence: the
back-pressure path (``EService:Busy``) is what answers the excess.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import websockets

from model.commands import CancelOrder, NewOrder
from node.journal import scan
from tests.integration.gateway.ws.client import (
    config_file,
    connect,
    login_params,
    run_within,
    send_burst,
    server,
)

QUEUE_LIMIT = 64
UNLIMITED = "{ per_second = 1000000, burst = 1000000 }"
CLIENTS = ("alice", "bob", "mm", "alice")
REQUESTS = 2_500
"""Per client: 10,000 in all, sent without waiting for any answer."""
RSS_GROWTH_MB = 100


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _requests(client: int) -> list[dict[str, Any]]:
    """Three adds (resting, inside the AAPLx band) to one cancel of an earlier add."""
    rng = random.Random(client)
    out: list[dict[str, Any]] = []
    for i in range(REQUESTS):
        req_id = client * 1_000_000 + i + 1
        if i % 4 == 3:
            earlier = rng.randrange(0, i)
            params: dict[str, Any] = {"cl_ord_id": [f"c{client}-{earlier}"]}
            out.append({"method": "cancel_order", "params": params, "req_id": req_id})
            continue
        side = rng.choice(("buy", "sell"))
        ticks = (
            23_000 - rng.randint(100, 1_000) if side == "buy" else 23_000 + rng.randint(100, 1_000)
        )
        params = {
            "symbol": "AAPLx/USD",
            "side": side,
            "order_qty": "0.01",
            "limit_price": f"{ticks // 100}.{ticks % 100:02d}",
            "cl_ord_id": f"c{client}-{i}",
        }
        out.append({"method": "add_order", "params": params, "req_id": req_id})
    return out


def test_overload_every_request_is_answered_busy_bounds_memory_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    """Proves the back-pressure contract under offered load far past capacity.

    Four connections (three accounts) each pipeline 2,500 requests (adds and
    cancels of their own earlier adds) as fast as their sockets take them, and
    read every answer. Then: every request has exactly one answer (success,
    a refusal, or ``EService:Busy``); some order entry met ``EService:Busy``;
    no cancel did (cancels are always taken); no connection was closed; the
    server's resident memory grew by less than 100 MB while the load ran; and,
    once the server has stopped, the journal's orders are exactly the adds
    answered with success plus some the engine refused (nothing journaled
    went unanswered or was answered Busy, nothing answered is missing), and
    each cancel request is one journaled cancel.
    """
    config = config_file(tmp_path / "tokex.toml", queue_limit=QUEUE_LIMIT, rate_limit=UNLIMITED)
    data = tmp_path / "data"
    answers: dict[int, list[dict[str, Any]]] = {}
    sent: dict[int, dict[str, Any]] = {}
    peak = [0.0]

    async def client(port: int, k: int, name: str) -> None:
        c = await connect(port)
        assert (await c.call("login", **login_params(name)))["success"]
        requests = _requests(k)
        for r in requests:
            sent[r["req_id"]] = r

        async def send() -> None:
            for r in requests:
                await c.ws.send(json.dumps(r))

        async def read() -> None:
            got = 0
            while got < len(requests):
                msg = json.loads(await asyncio.wait_for(c.ws.recv(), 30))
                if "req_id" in msg and msg["req_id"] in sent:
                    answers.setdefault(msg["req_id"], []).append(msg)
                    got += 1

        await asyncio.gather(send(), read())
        await c.ws.close()

    async def scenario(port: int, pid: int) -> None:
        base = _rss_mb(pid)
        done = asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss_mb(pid) - base)
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        await asyncio.gather(*(client(port, k, n) for k, n in enumerate(CLIENTS)))
        done.set()
        await sampler

    with server(data, config=config) as (port, proc):
        run_within(scenario(port, proc.pid), 120)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    assert sorted(answers) == sorted(sent), "requests without an answer"
    twice = [r for r, a in answers.items() if len(a) != 1]
    assert not twice, f"answered more than once: {twice[:5]}"
    errors = Counter(a[0].get("error") for a in answers.values() if not a[0]["success"])
    assert errors["EService:Busy"] > 0, errors
    busy_cancels = [
        r
        for r, a in answers.items()
        if sent[r]["method"] == "cancel_order" and a[0].get("error") == "EService:Busy"
    ]
    assert not busy_cancels, [answers[r] for r in busy_cancels[:3]]
    assert peak[0] < RSS_GROWTH_MB, f"RSS grew by {peak[0]:.0f} MB"

    answer_of = {
        sent[r]["params"]["cl_ord_id"]: a[0]
        for r, a in answers.items()
        if sent[r]["method"] == "add_order"
    }
    journaled = scan(data / "journal").commands
    orders = {c.cl_ord_id for c in journaled if isinstance(c, NewOrder)}
    # Journaled orders were all answered: placed, or refused by the engine (say the
    # account's open-order limit), never Busy (Busy means nothing was queued).
    assert orders <= answer_of.keys()
    assert all(answer_of[o].get("error") != "EService:Busy" for o in orders)
    placed = {o for o, a in answer_of.items() if a["success"]}
    assert placed <= orders  # an answered order is in the journal
    assert placed, "nothing was placed"
    cancels = [c for c in journaled if isinstance(c, CancelOrder)]
    asked = sum(1 for r in sent.values() if r["method"] == "cancel_order")
    assert len(cancels) == asked  # each cancel request is one journaled cancel


def _stderr_lines(proc: Any) -> tuple[list[str], threading.Event]:
    """Collect the server's stderr in a thread; the event is set when a slow consumer is cut."""
    lines: list[str] = []
    cut = threading.Event()

    def pump() -> None:
        for line in proc.stderr:
            lines.append(line)
            if "slow consumer" in line:
                cut.set()

    threading.Thread(target=pump, daemon=True).start()
    return lines, cut


def test_a_client_that_never_reads_is_closed_1013_slow_consumer(tmp_path: Path) -> None:
    """Proves the 1013 rule is what cuts a client that stops reading, whatever the buffers.

    bob and mm rest 450 orders each on distinct AAPLx levels (a depth-1000
    book snapshot is then about 30 KB). A client with a 4 KiB receive buffer sends 300
    subscriptions to that book at once and reads nothing: 9 MB are owed to it.
    The server counts what waits in its transport and in the kernel's send
    queue, and closes it (its log names the slow consumer; the library's
    keepalive, which would close with 1011, is off). Read afterwards, the
    client finds its answers and snapshots in order, then the close frame
    1013 ``slow consumer``. A client that reads is served throughout.
    """
    config = config_file(tmp_path / "tokex.toml", rate_limit=UNLIMITED)

    async def scenario(port: int, cut: threading.Event) -> None:
        bob, mm = await connect(port), await connect(port)
        for c, name, side in ((bob, "bob", "buy"), (mm, "mm", "sell")):
            assert (await c.login(name))["success"]
            for i in range(450):
                ticks = 23_000 - 1 - i if side == "buy" else 23_000 + 1 + i
                order = {
                    "symbol": "AAPLx/USD",
                    "side": side,
                    "order_qty": "0.01",
                    "limit_price": f"{ticks // 100}.{ticks % 100:02d}",
                }
                await c.ws.send(json.dumps({"method": "add_order", "params": order, "req_id": i}))
            placed = [json.loads(await c.ws.recv()) for _ in range(450)]
            assert all(p["success"] for p in placed), placed
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        stalled = await websockets.connect(
            f"ws://127.0.0.1:{port}/v2", sock=sock, compression=None, max_queue=1
        )
        book = {"channel": "book", "symbol": ["AAPLx/USD"], "depth": 1000}
        # In one write, so the server reads them all before it owes any snapshot.
        send_burst(
            stalled,
            [
                json.dumps({"method": "subscribe", "params": book, "req_id": i})
                for i in range(1, 301)
            ],
        )
        # Wait (without reading) until the server reports the cut.
        while not cut.is_set():
            assert (await bob.call("ping"))["method"] == "pong"  # a reader is served meanwhile
            await asyncio.sleep(0.1)
        answered: list[int] = []
        snapshots = 0
        try:
            while True:
                msg = json.loads(await asyncio.wait_for(stalled.recv(), 10))
                if msg.get("channel") == "book":
                    assert len(msg["data"][0]["bids"]) == 450, msg["data"][0]["sequence"]
                    snapshots += 1
                elif "req_id" in msg:
                    assert msg["success"], msg
                    answered.append(msg["req_id"])
        except websockets.ConnectionClosed as e:
            assert e.rcvd is not None, "closed without a close frame"
            assert (e.rcvd.code, e.rcvd.reason) == (1013, "slow consumer")
        assert answered == list(range(1, len(answered) + 1))
        assert snapshots in (len(answered), len(answered) - 1)
        assert 0 < len(answered) <= 300
        assert (await bob.call("ping"))["method"] == "pong"
        for c in (bob, mm):
            await c.ws.close()

    with server(tmp_path / "data", config=config) as (port, proc):
        lines, cut = _stderr_lines(proc)
        run_within(scenario(port, cut), 60)
        assert any("closed 1013 slow consumer" in line for line in lines), lines


def test_connections_per_address_are_capped_with_429(tmp_path: Path) -> None:
    """Proves ``connections_per_address``: the next handshake is refused with HTTP 429.

    With a cap of 3, three connections from 127.0.0.1 are served; a fourth
    handshake is refused (429 Too Many Requests) and the three still work;
    once one closes, a new connection is accepted again.
    """
    config = config_file(tmp_path / "tokex.toml", connections_per_address=3)

    async def scenario(port: int) -> None:
        clients = [await connect(port) for _ in range(3)]
        try:
            await connect(port)
        except websockets.InvalidStatus as e:
            assert e.response.status_code == 429, e
        else:
            raise AssertionError("a fourth connection was accepted")
        for c in clients:
            assert (await c.call("ping"))["method"] == "pong"
        await clients[0].ws.close()
        await clients[0].ws.wait_closed()
        for _ in range(100):  # the server counts the close once its handler has ended
            try:
                again = await connect(port)
                break
            except websockets.InvalidStatus:
                await asyncio.sleep(0.02)
        else:
            raise AssertionError("no connection accepted after one closed")
        assert (await again.call("ping"))["method"] == "pong"
        for c in (*clients[1:], again):
            await c.ws.close()

    with server(tmp_path / "data", config=config) as (port, _):
        run_within(scenario(port))
