"""Settlement beside a node in this process (real journal, real queue, real ledger, both
backends): a long random flow with deposits, withdrawals and corporate actions settles, nets into
instructions that the simulated chain confirms, and reconciles to zero; what the queue lost in a
crash is re-derived from the journal on the next start."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from model.commands import Command, CorporateAction, Deposit, NewOrder, Withdraw
from node.clock import parse_clock
from node.config import Config
from node.exchange import Exchange
from settlement.commands import collect
from settlement.service import Settlement
from tests.integration.settlement.conftest import Setup

TRADERS = ("alice", "bob", "mm")
SYMBOLS = {"AAPLx/USD": 23_000, "SPYx/USD": 59_000}


def random_flow(rng: random.Random, count: int) -> list[Command]:
    """Crossing limit orders on the 24/7 instruments, funding, a dividend and a split."""
    out: list[Command] = []
    for n in range(count):
        if n == count // 3:
            out.append(CorporateAction(0, 0, "ops", "AAPLx/USD", "dividend", 1_004, 1_000))
            continue
        if n == count // 2:
            out.append(CorporateAction(0, 0, "ops", "SPYx/USD", "split", 2, 1))
            continue
        draw = rng.random()
        account = rng.choice(TRADERS)
        if draw < 0.03:
            out.append(Deposit(0, 0, account, "USD", rng.randint(1, 10**6)))
        elif draw < 0.05:
            out.append(Withdraw(0, 0, account, "AAPLx", rng.randint(1, 10**6)))
        else:
            symbol = rng.choice(list(SYMBOLS))
            side = rng.choice(("buy", "sell"))
            price = SYMBOLS[symbol] + rng.randint(-30, 30)
            qty = rng.randint(1, 50) * 100
            out.append(NewOrder(0, 0, account, symbol, side, qty, price))  # type: ignore[arg-type]
    return out


class Node:
    """An exchange with settlement wired as ``tokex serve`` wires it."""

    def __init__(self, config: Config, data: Path) -> None:
        self.exchange = Exchange(config, data, parse_clock("system"))
        self.exchange.open()
        engine = self.exchange.engine
        self.settlement = Settlement(self.exchange, config, data, lambda: engine.next_trade_id - 1)

    async def start(self) -> None:
        await self.settlement.open(self.exchange.engine.last_seq)
        self.exchange.add_retention(self.settlement.floor)
        self.exchange.add_report("settlement", self.settlement.report)
        await self.exchange.start()
        await self.settlement.start(in_process=True)

    async def run(self, commands: list[Command]) -> None:
        for i in range(0, len(commands), 25):
            await asyncio.gather(*(self.exchange.submit(c) for c in commands[i : i + 25]))

    async def stop(self, drain: bool = True) -> None:
        await self.exchange.close()
        await self.settlement.writer.flush()
        if drain and self.settlement.worker is not None:
            await self.settlement.worker.drain()
        await self.settlement.close()


def instructions(data: Path) -> dict[str, int]:
    db = sqlite3.connect(data / "settlement" / "ledger.sqlite")
    try:
        return dict(db.execute("SELECT status, COUNT(*) FROM instructions GROUP BY status"))
    finally:
        db.close()


def assert_settled(config: Config, data: Path) -> dict[str, Any]:
    report = asyncio.run(collect(config, data))
    assert report["reconciliation"]["ok"], report["reconciliation"]
    replay = report["reconciliation"]["results"][1]
    assert replay["method"] == "replay" and replay["compared"] > 10
    assert report["lag"]["trades"] == 0 and report["queue"]["depth_messages"] == 0
    assert report["position"]["seq"] <= report["journal_seq"]
    db = sqlite3.connect(data / "settlement" / "ledger.sqlite")
    try:
        ids = [t for (t,) in db.execute("SELECT trade_id FROM trades ORDER BY trade_id")]
    finally:
        db.close()
    # Every trade the engine made is booked, once.
    assert ids == list(range(1, len(ids) + 1)) and len(ids) == report["position"]["trades"]
    return report


def test_a_long_random_flow_settles_and_reconciles(setup: Setup, tmp_path: Path) -> None:
    setup = setup.adding(
        "window_ms = 50\nchain_delay_ms = 20\nchain_failure_rate = 0.2\nretry_ms = 20"
    )
    config = setup.config
    data = tmp_path / "data"
    rng = random.Random(41)

    async def scenario() -> None:
        node = Node(config, data)
        await node.start()
        await node.run(random_flow(rng, 1_500))
        report = node.exchange.report("settlement")
        assert report is not None and report["reconciliation"]["ok"]
        # The last window closes once exchange time passes its end; the chain confirms all.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done = instructions(data)
            if done and set(done) == {"confirmed"}:
                break
            await asyncio.sleep(0.05)
        await node.stop()

    asyncio.run(scenario())
    report = assert_settled(config, data)
    assert report["position"]["trades"] > 200
    done = instructions(data)
    assert set(done) == {"confirmed"} and done["confirmed"] > 10
    db = sqlite3.connect(data / "settlement" / "ledger.sqlite")
    kinds = dict(db.execute("SELECT kind, COUNT(*) FROM transactions GROUP BY kind"))
    retried = db.execute("SELECT COUNT(*) FROM instructions WHERE attempts > 1").fetchone()[0]
    db.close()
    assert kinds["corporate_action"] == 2 and kinds["withdrawal"] > 0 and kinds["deposit"] > 10
    assert retried > 0  # a fifth of the attempts fail on the simulated chain


def test_what_the_queue_lost_in_a_crash_is_rederived_on_start(setup: Setup, tmp_path: Path) -> None:
    config = setup.config
    data = tmp_path / "data"
    rng = random.Random(42)

    async def first_life() -> None:
        node = Node(config, data)
        await node.start()
        await node.run(random_flow(rng, 400))
        # From here on nothing reaches the queue, as if the process died with it in flight.
        node.settlement.writer.put = lambda messages: None  # type: ignore[method-assign]
        await node.run(random_flow(rng, 400))
        await node.stop()

    async def second_life() -> int:
        node = Node(config, data)
        await node.start()
        rederived = node.settlement.rederived
        await node.stop()
        return rederived

    asyncio.run(first_life())
    behind = asyncio.run(collect(config, data))
    assert behind["lag"]["trades"] > 20  # the ledger lacks the lost part...
    assert behind["reconciliation"]["ok"]  # ...yet agrees with the engine where it stands
    assert asyncio.run(second_life()) > 20
    assert_settled(config, data)
