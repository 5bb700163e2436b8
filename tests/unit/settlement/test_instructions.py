"""Instructions through a chain: a slow chain, a failing chain, an unreachable chain, a crash
between recording and sending; never a key submitted as two transactions, every net moved once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from settlement.chains import ChainError, Simulator, Transfer
from settlement.instructions import Driver, counts
from settlement.ledger import Ledger
from tests.settlement_flow import flow
from tests.unit.settlement.test_ledger import book_in_chunks, chain_of


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000_000_000

    def __call__(self) -> int:
        return self.now


async def direct(fn: Callable[[], Any]) -> Any:
    return fn()


def ledger_with_instructions(tmp_path: Path) -> tuple[Ledger, Counter[tuple[str, str, str]]]:
    _, messages = flow(1_500, seed=21)
    ledger = Ledger(tmp_path / "ledger.sqlite", 100_000_000, chain_of, {"USD"})
    book_in_chunks(ledger, messages, seed=1)
    ledger.close_due_window(messages[-1].ts + 10**10)
    net: Counter[tuple[str, str, str]] = Counter()
    for a, s, c, v in ledger.db.execute("SELECT account, asset, chain, amount FROM instructions"):
        net[(a, s, c)] += v
    assert len(net) > 20
    return ledger, net


async def run_until_settled(driver: Driver, clock: Clock, steps: int = 400) -> int:
    for n in range(steps):
        await driver.step()
        if counts(driver.db)["confirmed"] == sum(counts(driver.db).values()):
            return n
        clock.now += 30_000_000
    raise AssertionError(f"not settled: {counts(driver.db)}")


def submissions(sim: Simulator) -> dict[str, list[tuple[int, str, int]]]:
    out: dict[str, list[tuple[int, str, int]]] = {}
    for key, attempt, state, n in sim.db.execute(
        "SELECT key, attempt, state, submissions FROM txs ORDER BY key, attempt"
    ):
        out.setdefault(key, []).append((attempt, state, n))
    return out


def assert_moved_once(sim: Simulator, ledger: Ledger, net: Counter[tuple[str, str, str]]) -> None:
    assert sim.holdings() == {k: v for k, v in net.items() if v}
    keys = {k for (k,) in ledger.db.execute("SELECT key FROM instructions")}
    per_key = submissions(sim)
    assert set(per_key) == keys
    for attempts in per_key.values():
        states = [s for _, s, _ in attempts]
        # Attempts of one key: each after the last failed, at most one confirmed, the last.
        assert states.count("confirmed") == 1 and states[-1] == "confirmed"
        assert set(states[:-1]) <= {"failed"}
        assert [a for a, _, _ in attempts] == list(range(1, len(attempts) + 1))
    assert sim.db.execute("SELECT COUNT(*) FROM refused").fetchone() == (0,)


@pytest.mark.parametrize(("delay_ms", "failure_rate"), [(0, 0.0), (400, 0.0), (50, 0.5)])
def test_instructions_settle_through_the_simulator(
    tmp_path: Path, delay_ms: int, failure_rate: float
) -> None:
    ledger, net = ledger_with_instructions(tmp_path)
    clock = Clock()
    sim = Simulator(tmp_path / "chain.sqlite", delay_ms * 1_000_000, failure_rate, clock)
    driver = Driver(ledger.db, sim, direct, clock, retry_ns=100_000_000)
    steps = asyncio.run(run_until_settled(driver, clock))
    assert_moved_once(sim, ledger, net)
    retried = ledger.db.execute("SELECT COUNT(*) FROM instructions WHERE attempts > 1").fetchone()
    if failure_rate:
        assert retried[0] > 5  # half the attempts fail: many needed a retry
    else:
        assert retried == (0,)
    if delay_ms >= 400:
        assert steps >= 400 // 30  # a slow chain keeps them submitted for a while


def test_an_unreachable_chain_delays_but_loses_nothing(tmp_path: Path) -> None:
    ledger, net = ledger_with_instructions(tmp_path)
    clock = Clock()
    down = [True]
    sim = Simulator(tmp_path / "chain.sqlite", 0, 0.0, clock, unavailable=lambda: down[0])
    driver = Driver(ledger.db, sim, direct, clock, retry_ns=100_000_000)

    async def scenario() -> None:
        total = ledger.db.execute("SELECT COUNT(*) FROM instructions").fetchone()[0]
        for _ in range(total // 200 + 3):
            await driver.step()
            clock.now += 60_000_000
        # Recorded as submitted, though the chain never heard of them.
        assert counts(ledger.db)["submitted"] == total
        assert sim.holdings() == {}
        assert driver.chain_errors > 0
        down[0] = False
        await run_until_settled(driver, clock)

    asyncio.run(scenario())
    assert_moved_once(sim, ledger, net)


def test_a_crash_between_recording_and_sending_resends_the_same_attempt(tmp_path: Path) -> None:
    ledger, net = ledger_with_instructions(tmp_path)
    clock = Clock()
    sim = Simulator(tmp_path / "chain.sqlite", 0, 0.0, clock)

    class Crashing:
        """Records, then dies before the chain hears: submit never arrives."""

        async def submit(self, transfer: Transfer) -> None:
            raise SystemExit("killed")

        async def status(self, key: str) -> Any:
            return await sim.status(key)

        def close(self) -> None: ...

    first = Driver(ledger.db, Crashing(), direct, clock, retry_ns=100_000_000)
    with pytest.raises(SystemExit):
        asyncio.run(first.step())
    assert counts(ledger.db)["submitted"] > 0
    # A new worker: same ledger, the real chain. The key and attempt are the recorded ones.
    second = Driver(ledger.db, sim, direct, clock, retry_ns=100_000_000)
    asyncio.run(run_until_settled(second, clock))
    assert_moved_once(sim, ledger, net)


def test_the_simulator_refuses_a_second_live_attempt_and_keeps_one_per_attempt(
    tmp_path: Path,
) -> None:
    clock = Clock()
    sim = Simulator(tmp_path / "chain.sqlite", 1_000, 0.0, clock)
    t = Transfer("tkx-1", 1, "solana", "token_transfer", "bob", "AAPLx", 5)

    async def scenario() -> None:
        await sim.submit(t)
        await sim.submit(t)  # the same attempt again: the same transaction
        assert (await sim.status("tkx-1")).state == "pending"
        with pytest.raises(ChainError, match="attempt 1 is pending"):
            await sim.submit(Transfer("tkx-1", 2, "solana", "token_transfer", "bob", "AAPLx", 5))
        clock.now += 1_000
        done = await sim.status("tkx-1")
        assert (done.state, done.attempt) == ("confirmed", 1) and done.tx_id
        with pytest.raises(ChainError, match="attempt 1 is confirmed"):
            await sim.submit(Transfer("tkx-1", 2, "solana", "token_transfer", "bob", "AAPLx", 5))
        assert (await sim.status("tkx-2")).state == "unknown"

    asyncio.run(scenario())
    assert sim.holdings() == {("bob", "AAPLx", "solana"): 5}
    assert submissions(sim) == {"tkx-1": [(1, "confirmed", 2)]}
