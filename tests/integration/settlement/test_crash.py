"""Exactly-once under SIGKILL, on both backends: the whole server killed at random points under
load, and the worker alone killed at random points of a long booking; after every kill the
ledger reconciles with the engine at its position, and in the end every trade is booked once and
every net moved once on the (simulated) chain.

Each cycle is a real process (``tokex serve`` or ``tokex settlement run``) killed with SIGKILL;
the checks read the data directory as ``tokex settlement status`` does. The default suite runs
5 server and 5 worker cycles per backend (20 kills); ``-m slow`` runs 30 more of each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
import websockets

from model.commands import Command, CorporateAction, Deposit, NewOrder
from node.config import DEMO_CONFIG, Config
from node.journal import JournalWriter
from node.recovery import recover
from node.sequencer import Sequencer
from node.store import write_genesis, write_snapshot
from settlement.commands import collect
from settlement.netting import legs
from settlement.records import Trade
from settlement.service import Settlement
from settlement.worker import chains_of
from tests.integration.gateway.ws.client import Client, connect
from tests.integration.settlement.conftest import Setup

ROOT = Path(__file__).resolve().parents[3]
FAST = dict(window_ms=100, chain_delay_ms=30, chain_failure_rate=0.1, retry_ms=30)


def _tuned(setup: Setup, **extra: object) -> Setup:
    keys = {**FAST, **extra}
    return setup.adding("\n".join(f"{k} = {json.dumps(v)}" for k, v in keys.items()))


def _ledger(data: Path, query: str) -> list[Any]:
    db = sqlite3.connect(data / "settlement" / "ledger.sqlite", timeout=30)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


def check_after_kill(config: Config, data: Path) -> dict[str, Any]:
    """The ledger agrees with the engine at its position; its trades are 1..n, each once."""
    report = asyncio.run(collect(config, data))
    assert report["reconciliation"]["ok"], report["reconciliation"]
    ids = [t for (t,) in _ledger(data, "SELECT trade_id FROM trades ORDER BY trade_id")]
    assert ids == list(range(1, len(ids) + 1))
    unbalanced = _ledger(
        data,
        "SELECT txn, asset FROM entries GROUP BY txn, asset HAVING SUM(amount) != 0",
    )
    assert unbalanced == []
    return report


def check_chain(config: Config, data: Path) -> None:
    """Every instruction confirmed; the chain moved exactly the trades' net, once per key."""
    statuses = dict(_ledger(data, "SELECT status, COUNT(*) FROM instructions GROUP BY status"))
    assert set(statuses) == {"confirmed"}, statuses
    chain_of = chains_of(config)
    net: Counter[tuple[str, str, str]] = Counter()
    trades = _ledger(
        data, "SELECT buyer, seller, qty, quote_qty, buyer_fee, seller_fee, symbol FROM trades"
    )
    lot = 10_000  # base units per lot of every demo instrument (0.0001 of 8 decimals)
    for buyer, seller, qty, quote, bfee, sfee, symbol in trades:
        base, quote_asset = symbol.split("/")
        t = Trade(
            0,
            symbol,
            base,
            quote_asset,
            0,
            qty,
            qty * lot,
            quote,
            buyer,
            0,
            bfee,
            seller,
            0,
            sfee,
            "buy",
            config.genesis.fee_account,
        )
        for account, asset, amount in legs(t):
            net[(account, asset, chain_of(account))] += amount
    chain = sqlite3.connect(data / "settlement" / "chain-sim.sqlite")
    try:
        held = {(a, s, c): v for c, a, s, v in chain.execute("SELECT * FROM holdings")}
        refused = chain.execute("SELECT COUNT(*) FROM refused").fetchone()[0]
        confirmed_twice = chain.execute(
            "SELECT key FROM txs WHERE state = 'confirmed' GROUP BY key HAVING COUNT(*) > 1"
        ).fetchall()
    finally:
        chain.close()
    assert {k: v for k, v in held.items() if v} == {k: v for k, v in net.items() if v}
    assert refused == 0 and confirmed_twice == []


def _spawn(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tokex.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL to the process and every child of it (the server's worker), at once."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


# ------------------------------------------------------------------ the whole server


async def _load(
    port: int, rng: random.Random, extra: list[dict[str, Any]], started: asyncio.Event
) -> None:
    """Crossing orders from alice and bob, sent without waiting, plus operator requests,
    until cancelled."""
    clients: list[Client] = []
    try:
        for account in ("alice", "bob", "ops"):
            c = await connect(port)
            await c.login(account)
            clients.append(c)
        alice, bob, ops = clients
        for request in extra:
            await ops.ws.send(json.dumps(request))
        started.set()
        n = 0
        while True:
            pairs = ((alice, "buy"), (bob, "sell")) if n % 2 else ((bob, "buy"), (alice, "sell"))
            for c, side in pairs:
                order = {
                    "symbol": "AAPLx/USD",
                    "side": side,
                    "order_type": "limit",
                    "order_qty": f"0.0{rng.randint(1, 9)}",
                    "limit_price": "230.00",
                }
                await c.ws.send(json.dumps({"method": "add_order", "params": order}))
            n += 1
            if n % 20 == 0:
                await asyncio.sleep(0.005)
    except (OSError, websockets.exceptions.WebSocketException):
        pass  # the server was killed (mid-handshake too)
    finally:
        for c in clients:
            c.ws.transport.abort()


async def _kill_under_load(
    proc: subprocess.Popen[str], port: int, rng: random.Random, extra: list[dict[str, Any]]
) -> None:
    """Load the server, and SIGKILL it (and its worker) at a random instant: now and then at
    once, mostly while the load runs (when the worker process has started, it books)."""
    started = asyncio.Event()
    load = asyncio.get_running_loop().create_task(_load(port, rng, extra, started))
    if rng.random() < 0.8:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(started.wait(), 10)
        await asyncio.sleep(rng.uniform(0.0, 1.5))
    _kill(proc)
    await asyncio.sleep(0.01)
    load.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await load


def _serve(config_path: Path, data: Path) -> tuple[subprocess.Popen[str], int]:
    ports = ["--ws-port", "0", "--http-port", "0", "--fix-port", "0"]
    proc = _spawn(["serve", "--config", str(config_path), "--data", str(data), *ports])
    assert proc.stdout is not None
    first = proc.stdout.readline()
    match = re.search(r"ws://127\.0\.0\.1:(\d+)/v2", first)
    if match is None:
        err = proc.stderr.read() if proc.stderr else ""
        _kill(proc)
        raise AssertionError(f"tokex serve did not start: {first!r} {err}")
    return proc, int(match.group(1))


async def _settled(port: int, timeout: float = 30) -> dict[str, Any]:
    ops = await connect(port)
    await ops.login("ops")
    deadline = time.monotonic() + timeout
    while True:
        answer = await ops.call("settlement_status")
        report = answer["result"]
        ins = report["instructions"]
        if (
            report["lag"]["trades"] == 0
            and report["queue"]["depth_messages"] == 0
            and ins["confirmed"] > 0
            and ins["confirmed"] == sum(ins.values())
            and report["netting"]["open_window"] is None
        ):
            await ops.ws.close()
            return report  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"settlement did not catch up: {report}")
        await asyncio.sleep(0.1)


def server_kill_cycles(setup: Setup, tmp_path: Path, cycles: int, seed: int) -> None:
    setup = _tuned(setup)
    config = setup.config
    config_path = setup.write(tmp_path)
    data = tmp_path / "data"
    rng = random.Random(seed)
    booked = []
    for cycle in range(cycles):
        proc, port = _serve(config_path, data)
        try:
            extra: list[dict[str, Any]] = []
            if cycle % 3 == 1:
                extra.append(
                    {
                        "method": "deposit",
                        "params": {"account": "bob", "asset": "USD", "amount": "15.25"},
                    }
                )
                extra.append(
                    {
                        "method": "withdraw",
                        "params": {"account": "alice", "asset": "AAPLx", "amount": "0.5"},
                    }
                )
            if cycle == cycles // 2:
                extra.append(
                    {
                        "method": "corporate_action",
                        "params": {
                            "symbol": "AAPLx/USD",
                            "kind": "dividend",
                            "multiplier": "1.002",
                        },
                    }
                )
            # Killed at a random point: sometimes at once, mostly under load.
            asyncio.run(_kill_under_load(proc, port, rng, extra))
        finally:
            _kill(proc)
        report = check_after_kill(config, data)
        booked.append((report["position"]["trades"], report["lag"]["trades"]))
    proc, port = _serve(config_path, data)
    try:
        asyncio.run(_settled(port))
    finally:
        proc.terminate()
        proc.wait(30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    report = check_after_kill(config, data)
    assert report["lag"]["trades"] == 0 and report["position"]["trades"] > 100
    check_chain(config, data)
    print(f"\nserver kills ({setup.backend}): (booked, behind) after each: {booked}")


def test_sigkill_of_the_whole_server_books_every_trade_once(setup: Setup, tmp_path: Path) -> None:
    server_kill_cycles(setup, tmp_path, cycles=5, seed=61)


@pytest.mark.slow
def test_sigkill_of_the_whole_server_many_times(setup: Setup, tmp_path: Path) -> None:
    server_kill_cycles(setup, tmp_path, cycles=30, seed=62)


# ------------------------------------------------------------------ the worker alone


def _crossing(count: int) -> list[Command]:
    """Pairs of orders that trade: each pair one trade, buyers and sellers taking turns."""
    out: list[Command] = []
    for n in range(count):
        buyer, seller = ("alice", "bob") if n % 2 else ("bob", "alice")
        qty = 100 + n % 7
        out.append(NewOrder(0, 0, seller, "AAPLx/USD", "sell", qty, 23_000))
        out.append(NewOrder(0, 0, buyer, "AAPLx/USD", "buy", qty, 23_000))
        if n % 500 == 0:
            out.append(Deposit(0, 0, "mm", "USD", 1_000 + n))
        if n == count // 2:
            out.append(CorporateAction(0, 0, "ops", "AAPLx/USD", "dividend", 1_001, 1_000))
    return out


def _prepare(config: Config, data: Path, trades: int) -> int:
    """A data directory with ``trades`` trades journaled and queued, nothing booked."""
    write_genesis(data, msgspec.structs.replace(config.genesis, start_ts=time.time_ns()))
    recovered = recover(data)
    writer = JournalWriter(data / "journal", recovered.next_seq, "off")
    sequencer = Sequencer(recovered.engine, writer, time.time_ns)
    sequencer.commit(config.deposits)
    commands = _crossing(trades)
    for i in range(0, len(commands), 200):
        sequencer.commit(commands[i : i + 200])
        if i % 4_000 == 0:
            write_snapshot(data, sequencer.engine)  # as the node does, now and then
    writer.close()

    class Quiet:
        def add_listener(self, listener: object) -> None:
            pass

    async def fill() -> None:
        feed = Settlement(Quiet(), config, data, lambda: 0)  # type: ignore[arg-type]
        await feed.open(sequencer.engine.last_seq)
        await feed.close()

    asyncio.run(fill())
    return sequencer.engine.next_trade_id - 1


def worker_kill_cycles(setup: Setup, tmp_path: Path, cycles: int, seed: int) -> None:
    setup = _tuned(setup, embedded_worker=False)
    config = setup.config
    config_path = setup.write(tmp_path)
    data = tmp_path / "data"
    total = _prepare(config, data, 8_000)
    rng = random.Random(seed)
    seen = []
    args = ["settlement", "run", "--data", str(data), "--config", str(config_path)]
    for _ in range(cycles):
        proc = _spawn(args)
        try:
            assert proc.stdout is not None
            assert "worker on" in proc.stdout.readline()
            time.sleep(rng.uniform(0.0, 0.5))  # booking, instructions, idle: anywhere
        finally:
            _kill(proc)
        report = check_after_kill(config, data)
        seen.append(report["position"]["trades"])
    proc = _spawn(args)
    try:
        deadline = time.monotonic() + 60
        while True:
            statuses = dict(
                _ledger(data, "SELECT status, COUNT(*) FROM instructions GROUP BY status")
            )
            done = _ledger(data, "SELECT trades FROM position")[0][0] == total
            open_window = _ledger(data, "SELECT id FROM windows WHERE closed_seq IS NULL")
            if done and not open_window and statuses and set(statuses) == {"confirmed"}:
                break
            assert time.monotonic() < deadline, statuses
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    report = check_after_kill(config, data)
    assert report["lag"]["trades"] == 0 and report["position"]["trades"] == total
    check_chain(config, data)
    middle = sum(1 for n in seen if 0 < n < total)
    print(
        f"\nworker kills ({setup.backend}): trades booked after each {seen} of {total};"
        f" {middle} kills fell in the middle of the booking"
    )


def test_sigkill_of_the_worker_books_every_trade_once(setup: Setup, tmp_path: Path) -> None:
    worker_kill_cycles(setup, tmp_path, cycles=5, seed=71)


@pytest.mark.slow
def test_sigkill_of_the_worker_many_times(setup: Setup, tmp_path: Path) -> None:
    worker_kill_cycles(setup, tmp_path, cycles=30, seed=72)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(what: str, check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_the_server_restarts_a_killed_worker_and_a_killed_server_leaves_none(
    tmp_path: Path,
) -> None:
    config_path = tmp_path / "tokex.toml"
    config_path.write_text(DEMO_CONFIG, encoding="utf-8")
    proc, _ = _serve(config_path, tmp_path / "data")
    try:
        (first,) = _wait_for("the worker process", lambda: _children(proc.pid))
        os.kill(first, signal.SIGKILL)
        (second,) = _wait_for(
            "a new worker", lambda: [p for p in _children(proc.pid) if p != first and _alive(p)]
        )
        # The server alone dies: its worker notices and stops by itself.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        _wait_for("the orphaned worker to stop", lambda: not _alive(second))
    finally:
        _kill(proc)
