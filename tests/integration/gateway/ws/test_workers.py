"""Gateway workers (``tokex serve --workers 2``): real worker processes on one port, real
clients on loopback, a worker killed with SIGKILL under load.

The kernel spreads connections over the workers (SO_REUSEPORT); a connection's
worker is the high bits of its ``connection_id`` (node/worker.py), so the tests
open connections until they have one on each worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import websockets
from prometheus_client.parser import text_string_to_metric_families

from model.commands import NewOrder
from node.config import DEMO_CONFIG
from node.journal import scan
from node.worker import CONNECTION_ID_BITS
from tests.integration.gateway.ws.client import (
    ROOT,
    Client,
    config_file,
    login_params,
    run_within,
)
from tests.integration.gateway.ws.test_orders import CANCEL_ON_DISCONNECT

BUY = {"symbol": "AAPLx/USD", "side": "buy", "order_type": "limit", "order_qty": "0.01"}


@dataclass
class Running:
    port: int
    """The WebSocket port."""
    http_port: int
    """The node's HTTP port (console, /metrics)."""
    pids: list[int]
    """The worker processes, by index."""


@contextmanager
def running(
    data: Path, config: Path | None = None, workers: int = 2, clock: str | None = None
) -> Iterator[Running]:
    """``tokex serve --workers N`` (on the system clock unless ``clock``)."""
    command = [sys.executable, "-m", "tokex.cli", "serve", "--data", str(data)]
    command += ["--workers", str(workers)]
    command += ["--ws-port", "0", "--http-port", "0", "--fix-port", "0"]
    if config is not None:
        command += ["--config", str(config)]
    if clock is not None:
        command += ["--clock", clock]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"ws://127\.0\.0\.1:(\d+)/v2", first)
        assert match, first + (proc.stderr.read() if proc.stderr else "")
        http = re.search(r"console on http://127\.0\.0\.1:(\d+)/", first)
        assert http, first
        found: list[int] = []
        if workers:
            second = proc.stdout.readline()
            pids = re.search(r"pids ([\d, ]+)\)", second)
            assert pids, second
            found = [int(p) for p in pids.group(1).split(", ")]
        yield Running(int(match.group(1)), int(http.group(1)), found)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError("the server did not stop on SIGTERM") from None


@contextmanager
def workers_server(
    data: Path, config: Path | None = None, workers: int = 2
) -> Iterator[tuple[int, list[int]]]:
    """``tokex serve --workers N`` on the system clock; yields the port and the worker pids."""
    with running(data, config, workers) as server:
        yield server.port, server.pids


class WorkerClient(Client):
    worker: int


async def open_on(port: int, worker: int) -> WorkerClient:
    """A client whose connection landed on ``worker`` (others opened meanwhile are closed)."""
    for _ in range(200):
        try:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/v2")
        except websockets.InvalidStatus as e:
            # A connection closed just before may not have been given back to its
            # address's quota yet (the node counts it until its worker says so).
            assert e.response.status_code == 429, e
            await asyncio.sleep(0.05)
            continue
        status = json.loads(await asyncio.wait_for(ws.recv(), 10))
        conn_id = status["data"][0]["connection_id"]
        if conn_id >> CONNECTION_ID_BITS == worker:
            client = WorkerClient(ws)
            client.pushed = []
            client.worker = worker
            return client
        await ws.close()
    raise AssertionError(f"no connection reached worker {worker} in 200 tries")


async def pushes(client: Client) -> list[dict[str, Any]]:
    client.pushed = []
    await client.call("ping")
    out, client.pushed = client.pushed, []
    return out


async def pushes_of(
    client: Client,
    channel: str,
    until: Callable[[list[dict[str, Any]]], bool] = bool,
    seconds: float = 10.0,
) -> list[dict[str, Any]]:
    """The ``channel`` pushes ``client`` gets from now, once ``until`` holds of them (or 10 s).

    A batch reaches each worker on its own channel from the node: the worker
    that answered a request may be ahead of another one, whose pushes then
    come a moment later (a ping to it can be answered first).
    """
    got: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        got += [m for m in await pushes(client) if m.get("channel") == channel]
        if until(got) or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.01)


BOTH = {"AAPLx", "USD"}


def _filled(got: list[dict[str, Any]]) -> bool:
    return any(item.get("exec_type") == "filled" for m in got for item in m["data"])


def test_one_account_on_two_workers_sees_one_exchange(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        a0, a1 = await open_on(port, 0), await open_on(port, 1)
        bob = await open_on(port, 1)
        for client, account in ((a0, "alice"), (a1, "alice"), (bob, "bob")):
            answer = await client.login(account)
            assert answer["success"], answer
        # A nonce taken on one worker is taken on the other: a replayed login is refused.
        params = login_params("alice")
        assert (await a0.call("login", **params))["success"]
        replay = await a1.call("login", **params)
        assert replay["error"] == "EAPI:Invalid nonce", replay
        # A token issued on worker 0 is good on worker 1.
        token = (await a0.login("alice"))["result"]["token"]
        assert (await a1.call("subscribe", channel="executions", token=token))["success"]
        assert (await a0.call("subscribe", channel="balances"))["success"]
        await pushes(a0)
        await pushes(a1)
        placed = await a0.call("add_order", **BUY, limit_price="229.00", cl_ord_id="w0-1")
        assert placed["success"], placed
        order_id = placed["result"]["order_id"]
        # The executions channel of the other worker's connection reports it, in order.
        new = await pushes_of(a1, "executions")
        assert [item["order_id"] for m in new for item in m["data"]] == [order_id]
        assert [m["sequence"] for m in new] == [2]
        # Amend by cl_ord_id on the other worker (its copy of the engine knows the order).
        amended = await a1.call("amend_order", cl_ord_id="w0-1", limit_price="228.50")
        assert amended["success"], amended
        # Bob, on worker 1, takes it; alice's balances on worker 0 move.
        sold = await bob.call("add_order", **{**BUY, "side": "sell"}, limit_price="228.50")
        assert sold["success"], sold
        balances = await pushes_of(
            a0, "balances", lambda got: {e["asset"] for m in got for e in m["data"]} >= BOTH
        )
        assert balances and {e["asset"] for m in balances for e in m["data"]} == BOTH
        fills = [
            item
            for m in await pushes_of(a1, "executions", _filled)
            for item in m["data"]
            if item.get("exec_type") == "filled"
        ]
        assert [f["order_id"] for f in fills] == [order_id]

    with workers_server(tmp_path / "data") as (port, _):
        run_within(scenario(port), 60)


def test_cancel_on_disconnect_waits_for_the_accounts_last_connection_on_any_worker(
    tmp_path: Path,
) -> None:
    config = tmp_path / "tokex.toml"
    config.write_text(DEMO_CONFIG + CANCEL_ON_DISCONNECT)

    async def scenario(port: int) -> None:
        c0, c1 = await open_on(port, 0), await open_on(port, 1)
        watcher = await open_on(port, 1)
        for client in (c0, c1):
            assert (await client.login("carol"))["success"]
        assert (await watcher.login("carol"))["success"]
        placed = await c0.call("add_order", **BUY, limit_price="200.00")
        assert placed["success"], placed
        await c0.ws.close()
        # carol is still connected on worker 1 (twice): nothing is cancelled.
        await asyncio.sleep(0.5)
        snapshot = await c1.call("subscribe", channel="executions")
        assert snapshot["success"]
        got = c1.pushed + await pushes(c1)
        open_now = [i["order_id"] for m in got if m.get("type") == "snapshot" for i in m["data"]]
        assert open_now == [placed["result"]["order_id"]]
        await watcher.ws.close()
        await c1.ws.close()
        # Her last connection went: the order is cancelled (seen from a new login).
        again = await open_on(port, 0)
        assert (await again.login("carol"))["success"]
        for _ in range(100):
            again.pushed = []
            assert (await again.call("subscribe", channel="executions"))["success"]
            left = [
                i["order_id"]
                for m in again.pushed + await pushes(again)
                if m.get("type") == "snapshot"
                for i in m["data"]
            ]
            await again.call("unsubscribe", channel="executions")
            if not left:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("carol's order outlived her last connection")

    with workers_server(tmp_path / "data", config) as (port, _):
        run_within(scenario(port), 60)


def test_a_worker_killed_under_load_is_restarted_and_nothing_acknowledged_is_lost(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    acked: list[int] = []

    async def trader(port: int, worker: int, account: str, stop: asyncio.Event) -> int:
        """Place orders back to back until ``stop`` or the connection drops; count answers."""
        client = await open_on(port, worker)
        assert (await client.login(account))["success"]
        n = 0
        try:
            while not stop.is_set():
                n += 1
                side = "buy" if n % 2 else "sell"
                price = "228.00" if side == "buy" else "231.00"
                answer = await client.call("add_order", **{**BUY, "side": side}, limit_price=price)
                if answer.get("success"):
                    acked.append(int(answer["result"]["order_id"][1:]))
        except (websockets.ConnectionClosed, TimeoutError):
            pass
        return n

    async def scenario(port: int, pids: list[int]) -> None:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(trader(port, 0, "alice", stop)),
            asyncio.create_task(trader(port, 1, "bob", stop)),
        ]
        while len(acked) < 200:
            await asyncio.sleep(0.05)
        os.kill(pids[0], signal.SIGKILL)
        killed_at = len(acked)
        # The other worker's client goes on being answered.
        while len(acked) < killed_at + 200:
            assert not tasks[1].done(), "worker 1's client stopped"
            await asyncio.sleep(0.05)
        assert tasks[0].done()  # worker 0's client was disconnected
        # Worker 0 is started again: a new connection reaches it and trades.
        again = await open_on(port, 0)
        assert (await again.login("alice"))["success"]
        placed = await again.call("add_order", **BUY, limit_price="227.00")
        assert placed["success"], placed
        acked.append(int(placed["result"]["order_id"][1:]))
        stop.set()
        await asyncio.gather(*tasks)

    with workers_server(data) as (port, pids):
        run_within(scenario(port, pids), 120)
    # Every acknowledged order is in the journal (the server stopped cleanly after).
    journal = {c.seq: c for c in scan(data / "journal").commands}
    assert acked and all(isinstance(journal.get(seq), NewOrder) for seq in acked)


def _normalized(message: dict[str, Any]) -> str:
    """A message without what differs between two servers run one after the other."""
    text = json.dumps(message, sort_keys=True)
    text = re.sub(r'"\d{4}-\d\d-\d\dT[^"]*"', '"T"', text)
    text = re.sub(r'"token": "[0-9a-f]+"', '"token": "X"', text)
    return re.sub(r'"connection_id": \d+', '"connection_id": 0', text)


async def _session(port: int, split: bool) -> list[str]:
    """A scripted session of two traders; with ``split``, each on a worker of its own."""
    if split:
        alice, bob = await open_on(port, 0), await open_on(port, 1)
    else:
        alice, bob = await open_on(port, 0), await open_on(port, 0)
    out: list[str] = []

    async def call(client: Client, method: str, **params: Any) -> None:
        out.append(_normalized(await client.call(method, **params)))

    await call(alice, "login", **login_params("alice"))
    await call(bob, "login", **login_params("bob"))
    await call(alice, "subscribe", channel="executions")
    await call(alice, "subscribe", channel="balances")
    await call(bob, "subscribe", channel="book", symbol=["AAPLx/USD"], depth=10)
    await call(bob, "subscribe", channel="trade", symbol=["AAPLx/USD"])
    await call(bob, "subscribe", channel="ticker", symbol=["AAPLx/USD"])
    await call(bob, "subscribe", channel="instrument")
    limit = {"symbol": "AAPLx/USD", "order_type": "limit"}
    await call(
        alice, "add_order", side="buy", order_qty="1", limit_price="229.50", validate=True, **limit
    )
    await call(
        alice,
        "add_order",
        side="buy",
        order_qty="100000",
        limit_price="229.5",
        validate=True,
        **limit,
    )
    batch = [
        {
            "side": "buy",
            "order_type": "limit",
            "order_qty": "1",
            "limit_price": "229.00",
            "cl_ord_id": "x1",
        },
        {"side": "buy", "order_type": "limit", "order_qty": "2", "limit_price": "228.00"},
    ]
    await call(alice, "batch_add", symbol="AAPLx/USD", orders=batch)
    await call(alice, "amend_order", cl_ord_id="x1", limit_price="229.10")
    await call(
        alice,
        "add_order",
        side="buy",
        order_qty="0.5",
        limit_price="229.50",
        cl_ord_id="e1",
        **limit,
    )
    await call(bob, "add_order", side="sell", order_qty="2", limit_price="229.00", **limit)
    await call(alice, "edit_order", order_id="O17", order_qty="3")
    await call(alice, "cancel_all_orders_after", timeout=60)
    await call(alice, "cancel_order", cl_ord_id=["nope"])
    await call(alice, "cancel_all")
    await call(alice, "ping")
    await call(bob, "ping")
    for client in (alice, bob):
        out += [_normalized(m) for m in client.pushed]
    return out


def test_a_session_reads_the_same_on_workers_as_on_one_process(tmp_path: Path) -> None:
    """Answers, executions, balances, book (checksums), trades, ticker and instrument: the
    same messages in the same order whether the two traders share a process or not."""
    with workers_server(tmp_path / "one", workers=0) as (port, _):
        one = run_within(_session(port, split=False), 60)
    with workers_server(tmp_path / "two", workers=2) as (port, _):
        two = run_within(_session(port, split=True), 60)
    assert any('"channel": "book"' in m for m in one)
    assert any('"method": "batch_add"' in m and '"success": true' in m for m in one)
    assert two == one


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(http_port: int) -> Samples:
    """The node's ``/metrics``, parsed: (sample name, sorted labels) -> value."""
    url = f"http://127.0.0.1:{http_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def ws(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The key of a WebSocket gateway sample (``protocol="ws"`` and ``labels``)."""
    return name, tuple(sorted({"protocol": "ws", **labels}.items()))


async def scraped_until(http_port: int, done: Any, what: str) -> Samples:
    """Scrape until ``done(samples)`` (workers report every second), at most 20 s."""
    samples: Samples = {}
    for _ in range(200):
        samples = await asyncio.to_thread(scrape, http_port)
        if done(samples):
            return samples
        await asyncio.sleep(0.1)
    raise AssertionError(f"/metrics never showed {what}: {sorted(samples.items())}")


def test_every_workers_gateway_counters_are_in_the_nodes_metrics(tmp_path: Path) -> None:
    """Proves the node's ``/metrics`` carries its workers' gateway counters, added up, and
    per worker its connections, CPU and pid; a worker killed with SIGKILL keeps its counts
    in the totals (they do not go back) and counts as a restart."""

    received = ws("tokex_gateway_messages_received_total")
    add_orders = ws("tokex_ack_latency_seconds_count", method="add_order")

    async def scenario(server: Running) -> None:
        port, http = server.port, server.http_port
        clients = [await open_on(port, 0), await open_on(port, 1)]
        for client, account in zip(clients, ("alice", "bob"), strict=True):
            assert (await client.login(account))["success"]
            placed = await client.call("add_order", **BUY, limit_price="229.00")
            assert placed["success"], placed
            bad = await client.call("add_order", **BUY, limit_price="-1")
            assert not bad["success"], bad
        # Three messages from each client; the connections open_on closed sent none.
        samples = await scraped_until(
            http, lambda s: s.get(received) == 6 and s.get(add_orders) == 4, "6 messages"
        )
        errors = {
            dict(labels)["error"]: n
            for (name, labels), n in samples.items()
            if name == "tokex_gateway_errors_total"
        }
        assert errors == {"EGeneral:Invalid arguments": 2}, errors
        assert samples[ws("tokex_gateway_connections")] == 2
        for index, pid in enumerate(server.pids):
            worker = str(index)
            assert samples[("tokex_worker_up", (("pid", str(pid)), ("worker", worker)))] == 1
            key = ("tokex_worker_connections", (("protocol", "ws"), ("worker", worker)))
            assert samples[key] == 1
            assert samples[("tokex_worker_cpu_seconds_total", (("worker", worker),))] > 0
        accepted = samples[ws("tokex_gateway_connections_total")]
        assert accepted >= 2
        assert samples[("tokex_worker_restarts_total", ())] == 0

        os.kill(server.pids[1], signal.SIGKILL)

        def restarted(s: Samples) -> bool:
            return s.get(("tokex_worker_restarts_total", ())) == 1 and any(
                name == "tokex_worker_up"
                and dict(labels)["worker"] == "1"
                and dict(labels)["pid"] != str(server.pids[1])
                for name, labels in s
            )

        samples = await scraped_until(http, restarted, "worker 1 started again")
        # Worker 1's client is gone; what it counted stays in the totals.
        assert samples[ws("tokex_gateway_connections")] == 1
        assert samples[received] == 6
        assert samples[ws("tokex_gateway_connections_total")] == accepted
        assert samples[add_orders] == 4
        assert ("tokex_worker_up", (("pid", str(server.pids[1])), ("worker", "1"))) not in samples
        assert (await clients[0].call("ping"))["method"] == "pong"
        await scraped_until(http, lambda s: s.get(received) == 7, "the ping after the restart")

    with running(tmp_path / "data") as server:
        run_within(scenario(server), 90)


def test_the_simulated_clock_moves_on_every_worker(tmp_path: Path) -> None:
    """Proves ``--clock sim:`` with workers: an operator's ``clock_advance`` on one worker
    moves the exchange's time for the clients of another (answer stamps, a GTD order's
    expiry at its own instant, seen on the other worker)."""
    gtd = {**BUY, "limit_price": "228.00", "time_in_force": "gtd"}

    async def scenario(port: int) -> None:
        ops, alice = await open_on(port, 0), await open_on(port, 1)
        pong = await alice.call("ping")
        assert pong["time_in"] == "2026-11-23T15:00:00.000000Z", pong
        assert (await ops.login("ops"))["success"]
        assert (await alice.login("alice"))["success"]
        assert (await alice.call("subscribe", channel="executions"))["success"]
        placed = await alice.call("add_order", **gtd, expire_time="2026-11-23T15:10:00Z")
        assert placed["success"], placed
        moved = await ops.call("clock_advance", seconds=599)
        assert moved["result"]["time"] == "2026-11-23T15:09:59.000000Z", moved
        await pushes(alice)
        pong = await alice.call("ping")
        assert pong["time_in"] == "2026-11-23T15:09:59.000000Z", pong
        assert not [m for m in alice.pushed if m.get("channel") == "executions"]
        assert (await ops.call("clock_advance", seconds=1))["success"]
        while True:
            msg = await alice.recv()
            if msg.get("channel") == "executions":
                break
        [expired] = msg["data"]
        assert (expired["exec_type"], expired["order_id"]) == (
            "expired",
            placed["result"]["order_id"],
        )
        assert expired["timestamp"] == "2026-11-23T15:10:00.000000Z"
        # Going back is refused on the worker, naming the value and the rule.
        back = await ops.call("clock_advance", seconds=-1)
        assert back["error"] == "EGeneral:Invalid arguments:seconds -1: 0 to a year", back

    with running(tmp_path / "data", clock="sim:2026-11-23T15:00:00Z") as server:
        run_within(scenario(server.port), 60)


def test_the_per_address_connection_quota_counts_every_worker(tmp_path: Path) -> None:
    """Proves ``connections_per_address`` holds across workers: with a quota of 2 and one
    connection on each worker, a third handshake is refused with 429 whichever worker it
    reaches; once one closes, a new connection is taken again."""
    config = config_file(tmp_path / "tokex.toml", connections_per_address=2)

    async def scenario(port: int) -> None:
        c0, c1 = await open_on(port, 0), await open_on(port, 1)
        for _ in range(10):  # the kernel spreads these over both workers
            try:
                extra = await websockets.connect(f"ws://127.0.0.1:{port}/v2")
            except websockets.InvalidStatus as e:
                assert e.response.status_code == 429, e
                assert b"at most 2" in e.response.body
            else:
                await extra.close()
                raise AssertionError("a third connection from one address was taken")
        for client in (c0, c1):
            assert (await client.call("ping"))["method"] == "pong"
        await c1.ws.close()
        again = await open_on(port, 1)
        assert (await again.call("ping"))["method"] == "pong"
        await c0.ws.close()
        await again.ws.close()

    with running(tmp_path / "data", config) as server:
        run_within(scenario(server.port), 60)


def test_a_frames_requests_go_in_together_and_each_is_answered_with_its_own(
    tmp_path: Path,
) -> None:
    """Proves the node's grouping of a worker frame's consecutive commands: a frame of
    four requests (an order, a batch of two, a cancel of the first, an order again) is
    answered request by request, each answer naming exactly its own commands in the
    batch the worker is sent, in the order sent, with gap-free seqs."""
    from model.commands import CancelOrder
    from node.channel import (
        Answer,
        Batch,
        Enqueue,
        FrameReader,
        Hello,
        Requests,
        Welcome,
        decode_applied,
        decode_down,
        encode,
        frame,
    )

    def order(price: int, cl: str) -> NewOrder:
        return NewOrder(0, 0, "alice", "AAPLx/USD", "buy", 100, price, cl_ord_id=cl)

    async def scenario(worker_pid: int) -> None:
        cmdline = Path(f"/proc/{worker_pid}/cmdline").read_bytes().split(b"\0")
        path = cmdline[cmdline.index(b"--channel") + 1].decode()
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(frame(encode(Hello(7, os.getpid()))))
        frames = FrameReader(reader)
        welcomed = False
        while not welcomed:
            welcomed = any(isinstance(decode_down(p), Welcome) for p in await frames.frames())
        first = order(22_000, "a")
        requests = [
            Enqueue(1, [first], False),
            Enqueue(2, [order(22_001, "b"), order(22_002, "c")], True),
            Enqueue(3, [CancelOrder(0, 0, "alice", cl_ord_id="a")], False),
            Enqueue(4, [order(22_003, "d")], False),
        ]
        writer.write(frame(encode(Requests(list(requests)))))
        answers: dict[int, Answer] = {}
        applied: dict[int, Any] = {}
        while len(answers) < 4:
            for payload in await asyncio.wait_for(frames.frames(), 20):
                message = decode_down(payload)
                if isinstance(message, Batch):
                    for command in decode_applied(message.applied):
                        applied[command.seq] = command
                    answers.update((r.id, r) for r in message.replies if isinstance(r, Answer))
        writer.close()
        for request in requests:
            answer = answers[request.id]
            mine = [applied[seq] for seq in range(answer.first, answer.first + answer.count)]
            # Its own commands last (timers due may run before the first request's).
            got = [
                (type(c).__name__, getattr(c, "cl_ord_id", None), getattr(c, "price", None))
                for c in mine[-len(request.commands) :]
            ]
            sent = [
                (type(c).__name__, getattr(c, "cl_ord_id", None), getattr(c, "price", None))
                for c in request.commands
            ]
            assert got == sent, (request.id, got, sent)
        seqs = [answers[i].first + answers[i].count - 1 for i in (1, 2, 3, 4)]
        assert seqs == sorted(seqs) and seqs[1:] == [seqs[0] + 2, seqs[0] + 3, seqs[0] + 4]

    with running(tmp_path / "data", workers=1) as server:
        run_within(scenario(server.pids[0]), 60)
