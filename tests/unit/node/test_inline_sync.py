"""The one-process committer (node/exchange.py) syncs a batch on the event loop when the
pipeline is quiet (a batch of one or two commands, nothing else queued) and the disk was
quick, and in a worker thread otherwise; either way a command is answered only once its
batch is durable.

A real Exchange on a real data directory, recovered again at the end of each test.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

import node.syncs as syncs_module
from model.commands import NewOrder
from node.clock import parse_clock
from node.config import DEMO_CONFIG, parse_config
from node.exchange import Exchange
from node.recovery import recover
from node.syncs import WINDOW


def _order(n: int) -> NewOrder:
    side = "buy" if n % 2 else "sell"
    price = 22_900 - n if side == "buy" else 23_100 + n
    return NewOrder(0, 0, "alice" if n % 2 else "bob", "AAPLx/USD", side, 100, price)  # type: ignore[arg-type]


def _exchange(data: Path) -> Exchange:
    exchange = Exchange(parse_config(DEMO_CONFIG, "demo"), data, parse_clock("system"))
    exchange.open()
    return exchange


class FlushThreads:
    """Wraps the sequencer's ``flush``: notes which thread each sync ran on, and can
    make it slow (a disk that turned slow)."""

    def __init__(self, exchange: Exchange, delay: float = 0.0) -> None:
        self.sequencer = exchange.sequencer
        self.real = self.sequencer.flush
        self.delay = delay
        self.threads: list[int] = []
        self.durable_seq: list[int] = []
        self.sequencer.flush = self.flush  # type: ignore[method-assign]

    def flush(self) -> int:
        self.threads.append(threading.get_ident())
        if self.delay:
            time.sleep(self.delay)
        written = self.real()
        self.durable_seq.append(self.sequencer.writer.next_seq - 1)
        return written


@pytest.fixture
def any_disk_is_quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound on the last sync far above any disk's (a shared machine's syncs can
    take over 2 ms): what is tested is the rule, not this disk's speed."""
    monkeypatch.setattr(syncs_module, "INLINE_SYNC_NS", 60 * 10**9)


@pytest.mark.usefixtures("any_disk_is_quick")
def test_a_quiet_pipeline_syncs_on_the_loop_and_answers_after_the_sync(tmp_path: Path) -> None:
    async def run() -> tuple[list[int], list[int]]:
        exchange = _exchange(tmp_path / "data")
        flushes = FlushThreads(exchange)
        await exchange.start()
        loop_thread = threading.get_ident()
        answered_after: list[bool] = []
        try:
            for n in range(20):  # one at a time: nothing else is ever queued
                result = await exchange.submit(_order(n))
                seq = result[-1][0].seq
                answered_after.append(flushes.durable_seq[-1] >= seq)
        finally:
            await exchange.close()
        assert all(answered_after)
        assert exchange.metrics.inline_syncs == len(flushes.threads) >= 20
        return flushes.threads, [loop_thread]

    threads, loop_thread = asyncio.run(run())
    assert set(threads) == set(loop_thread)
    recovered = recover(tmp_path / "data")
    assert recovered.engine.last_seq >= 20
    assert len(recovered.engine.orders) == 20  # none crosses: all rest


@pytest.mark.usefixtures("any_disk_is_quick")
def test_a_busy_pipeline_syncs_in_the_thread(tmp_path: Path) -> None:
    async def run() -> tuple[list[int], int, int]:
        exchange = _exchange(tmp_path / "data")
        flushes = FlushThreads(exchange)
        await exchange.start()
        try:
            # More than one batch's worth at once: batches of 256 and 44 commands.
            results = await asyncio.gather(*(exchange.submit(_order(n)) for n in range(300)))
            busy = len(flushes.threads)
            # Then one on its own: the pipeline is quiet again.
            await exchange.submit(_order(300))
        finally:
            await exchange.close()
        assert [r[-1][0].seq for r in results] == sorted(r[-1][0].seq for r in results)
        assert exchange.metrics.inline_syncs == len(flushes.threads) - busy
        return flushes.threads[: busy + 1], threading.get_ident(), busy

    threads, loop_thread, busy = asyncio.run(run())
    assert busy >= 2
    assert loop_thread not in threads[:busy]
    assert threads[busy] == loop_thread
    assert recover(tmp_path / "data").engine.last_seq >= 301


def test_after_a_slow_sync_the_next_ones_go_to_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Slow" is 0.5 s here and the slow sync sleeps 0.6 s: a loaded machine's real
    # syncs (they pass 2 ms) stay quick, the planted one is slow on any disk.
    monkeypatch.setattr(syncs_module, "INLINE_SYNC_NS", 500_000_000)

    async def run() -> tuple[list[int], int]:
        exchange = _exchange(tmp_path / "data")
        flushes = FlushThreads(exchange)
        await exchange.start()
        try:
            await exchange.submit(_order(0))
            # The disk turns slow for one sync: every sync slower than the bound.
            flushes.delay = 0.6
            await exchange.submit(_order(1))
            flushes.delay = 0.0
            for n in range(2, 4 + WINDOW):
                await exchange.submit(_order(n))
        finally:
            await exchange.close()
        return flushes.threads, threading.get_ident()

    threads, loop_thread = asyncio.run(run())
    # The first two on the loop (the disk had been quick); the slow one keeps the next
    # WINDOW in the thread, until it is out of the window; then the loop again.
    on_loop = [t == loop_thread for t in threads]
    assert on_loop[:2] == [True, True]
    assert on_loop[2 : 3 + WINDOW] == [False] * WINDOW + [True]


class WriteThreads:
    """Wraps the journal writer's ``write`` (the pipelined committer's write and sync):
    notes which thread each batch was synced on."""

    def __init__(self, exchange: Exchange) -> None:
        writer = exchange.sequencer.writer
        self.real = writer.write
        self.threads: list[int] = []
        writer.write = self.write  # type: ignore[method-assign]

    def write(self, taken: tuple[int, list[bytes]]) -> int:
        if taken[1]:
            self.threads.append(threading.get_ident())
        return self.real(taken)


@pytest.mark.usefixtures("any_disk_is_quick")
def test_the_pipelined_committer_syncs_a_quiet_batch_on_the_loop(tmp_path: Path) -> None:
    async def run() -> tuple[list[int], int, int, int]:
        exchange = _exchange(tmp_path / "data")
        exchange.pipelined = True
        writes = WriteThreads(exchange)
        await exchange.start()
        try:
            for n in range(10):  # one at a time: quiet
                await exchange.submit(_order(n))
            quiet = len(writes.threads)
            # A burst: its batches go to the sync thread, the next applied meanwhile.
            await asyncio.gather(*(exchange.submit(_order(n)) for n in range(10, 400)))
        finally:
            await exchange.close()
        return writes.threads, threading.get_ident(), quiet, exchange.metrics.inline_syncs

    threads, loop_thread, quiet, inline = asyncio.run(run())
    assert quiet >= 10 and set(threads[:quiet]) == {loop_thread}
    assert loop_thread not in threads[quiet:] and len(threads) > quiet
    assert inline == quiet
    recovered = recover(tmp_path / "data")
    assert recovered.engine.last_seq >= 400
    assert len(recovered.engine.orders) == 400
