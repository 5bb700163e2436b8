"""The node's own cost per order, measured through its worker channel (no WebSocket).

``python -m bench.nodeload [--seconds S] [--inflight N] [--rounds R]``
starts ``tokex serve --workers 1`` on the bench config (system clock,
journal fsynced per batch, history on), joins the node's channel as one
more gateway worker would (node/channel.py: Hello, then the Welcome with the
engine), and sends it already-validated commands as fast as it answers them
(closed loop, at most ``--inflight`` unanswered): the order mix of ``bench
ws`` (a quarter cancels of this client's oldest open order, a tenth
marketable IOC limits, the rest passive GTC limits near the mid, 1-100
lots x 100), over the bench accounts. The real worker the node started
stays idle.

So the node is the bottleneck and nothing of the WebSocket work is in the
figure: what it reports is the node process' CPU (all threads, and its
event loop's thread alone, from /proc) per order answered, at its
saturation rate on this machine. That is the figure that says how many
orders one node process can carry (1e6 / us per order on a free core). The
load generator is this process (Python, on the same machine: on two cores
it takes CPU from the node, which lowers the rate, not the cost per order
much; the report says how loaded the machine was).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from bench.wsservers import MID_TICKS, SYMBOL, client_id, start_tokex
from model.commands import CancelOrder, Command, NewOrder, Side
from node.channel import (
    Answer,
    Batch,
    Enqueue,
    Failed,
    FrameReader,
    Hello,
    Requests,
    Welcome,
    decode_down,
    encode,
    frame,
)

CLIENTS = 8
BAND = 50
"""Passive orders rest up to this many ticks from the mid."""
CROSS = 5
"""Marketable IOC orders reach this many ticks through the mid."""
MAX_LIVE = 200
"""A client with this many open orders (as far as it knows) cancels instead."""
FRAME_ITEMS = 200
"""Requests per frame at most (a worker sends one frame per turn of its loop)."""
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int, thread: int | None = None) -> float:
    """CPU seconds (user + system) of process ``pid``, or of its thread ``thread``."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(path) as f:
        text = f.read()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _array_length(raw: memoryview) -> int:
    """The item count of a msgpack array (a batch's applied commands) from its header."""
    head = raw[0]
    if 0x90 <= head <= 0x9F:
        return head & 0x0F
    if head == 0xDC:
        return int.from_bytes(raw[1:3], "big")
    if head == 0xDD:
        return int.from_bytes(raw[1:5], "big")
    raise ValueError(f"not a msgpack array: first byte {head:#x}")


def _channel_path(worker_pid: int) -> str:
    with open(f"/proc/{worker_pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    return argv[argv.index(b"--channel") + 1].decode()


class _Flow:
    """The ``bench ws`` order mix over the bench accounts, with each client's open orders."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.accounts = [client_id(i) for i in range(CLIENTS)]
        self.live: dict[str, deque[int]] = {a: deque() for a in self.accounts}
        self.n = 0

    def next(self) -> Command:
        rng = self.rng
        account = self.accounts[self.n % CLIENTS]
        self.n += 1
        live = self.live[account]
        roll = rng.random()
        if live and (roll < 0.25 or len(live) >= MAX_LIVE):
            return CancelOrder(0, 0, account, live.popleft())
        side: Side = "buy" if rng.random() < 0.5 else "sell"
        qty = rng.randint(1, 100) * 100
        if roll < 0.35:
            price = MID_TICKS + CROSS if side == "buy" else MID_TICKS - CROSS
            return NewOrder(0, 0, account, SYMBOL, side, qty, price, tif="ioc")
        away = rng.randint(1, BAND)
        price = MID_TICKS - away if side == "buy" else MID_TICKS + away
        return NewOrder(0, 0, account, SYMBOL, side, qty, price)

    def placed(self, command: Command, seq: int) -> None:
        if isinstance(command, NewOrder) and command.tif == "gtc":
            self.live[command.account].append(seq)  # an order's id is its seq


async def _drive(
    path: str, seconds: float, warmup: float, inflight: int, node: int
) -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(frame(encode(Hello(99, os.getpid()))))
    frames = FrameReader(reader)
    while True:
        got = await asyncio.wait_for(frames.frames(), 60)
        if not got:
            raise RuntimeError("the node closed the channel before the welcome")
        if any(isinstance(decode_down(p), Welcome) for p in got):
            break
    flow = _Flow(1)
    waiting: dict[int, Command] = {}
    next_id = 1
    answered = failed = 0
    # Batches the node published with commands in them, and those commands (the
    # journal's group commit: commands per batch).
    batches = commands = 0
    errors: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    start = loop.time()
    marks: dict[str, tuple[float, int, float, float]] = {}

    def send() -> None:
        nonlocal next_id
        items: list[Any] = []
        while len(waiting) < inflight and len(items) < FRAME_ITEMS:
            command = flow.next()
            waiting[next_id] = command
            items.append(Enqueue(next_id, [command], False))
            next_id += 1
        if items:
            writer.write(frame(encode(Requests(items))))

    def mark(name: str) -> None:
        marks[name] = (time.monotonic(), answered, _cpu(node), _cpu(node, node))
        counts[name] = (batches, commands)

    counts: dict[str, tuple[int, int]] = {}

    send()
    while True:
        now = loop.time() - start
        if "start" not in marks and now >= warmup:
            mark("start")
        if now >= warmup + seconds:
            mark("end")
            break
        got = await asyncio.wait_for(frames.frames(), 30)
        if not got:
            raise RuntimeError("the node closed the channel")
        for payload in got:
            message = decode_down(payload)
            if not isinstance(message, Batch):
                continue
            size = _array_length(memoryview(message.applied))
            if size:
                batches += 1
                commands += size
            for reply in message.replies:
                if isinstance(reply, Answer):
                    command = waiting.pop(reply.id)
                    flow.placed(command, reply.first + reply.count - 1)
                    answered += 1
                elif isinstance(reply, Failed):
                    waiting.pop(reply.id, None)
                    failed += 1
                    errors[reply.error] = errors.get(reply.error, 0) + 1
        while len(waiting) < inflight:
            send()
    writer.close()
    (t0, n0, cpu0, main0), (t1, n1, cpu1, main1) = marks["start"], marks["end"]
    orders = n1 - n0
    wall = t1 - t0
    (b0, c0), (b1, c1) = counts["start"], counts["end"]
    return {
        "orders_per_s": orders / wall,
        "node_cpu_pct": 100 * (cpu1 - cpu0) / wall,
        "node_loop_cpu_pct": 100 * (main1 - main0) / wall,
        "node_us_per_order": 1e6 * (cpu1 - cpu0) / orders,
        "node_loop_us_per_order": 1e6 * (main1 - main0) / orders,
        "commands_per_batch": (c1 - c0) / max(1, b1 - b0),
        "failed": failed,
        "errors": errors,
        "load_average": os.getloadavg(),
    }


def run(seconds: float, warmup: float, inflight: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tokex-bench-node-") as folder:
        server = start_tokex(Path(folder), CLIENTS, "system", workers=1)
        try:
            path = _channel_path(server.workers[0])
            return asyncio.run(_drive(path, seconds, warmup, inflight, server.proc.pid))
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nodeload", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per round")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--inflight", type=int, default=800, help="unanswered orders at most")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the rounds here")
    args = parser.parse_args(argv)
    rounds = []
    for n in range(args.rounds):
        result = run(args.seconds, args.warmup, args.inflight)
        rounds.append(result)
        print(
            f"round {n + 1}: {result['orders_per_s']:,.0f} orders/s; node"
            f" {result['node_cpu_pct']:.0f}% of a core ({result['node_us_per_order']:.1f}"
            f" us/order), its event loop's thread {result['node_loop_cpu_pct']:.0f}%"
            f" ({result['node_loop_us_per_order']:.1f} us/order);"
            f" {result['commands_per_batch']:.1f} commands per batch;"
            f" failed {result['failed']} {result['errors']};"
            f" load {' '.join(f'{x:.2f}' for x in result['load_average'])}",
            flush=True,
        )
    if args.rounds > 1:
        for key in (
            "node_us_per_order",
            "node_loop_us_per_order",
            "orders_per_s",
            "commands_per_batch",
        ):
            values = [r[key] for r in rounds]
            print(
                f"{key}: median {statistics.median(values):,.1f}"
                f" (range {min(values):,.1f}-{max(values):,.1f})"
            )
    if args.json is not None:
        args.json.write_text(json.dumps({"rounds": rounds, "python": sys.version}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
