"""Pipelined group commit (node/exchange.py): while one batch is written and synced, the
next is applied; each batch is answered and published only once its own records are durable.

A real Exchange on a real data directory; the journal's ``write`` (the write and fsync of one
batch, run in a worker thread) is held on an event so the test decides when a sync finishes.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import msgspec
import pytest

import node.exchange as exchange_module
from engine.events import OrderExpired
from model.commands import NewOrder, RunTimers
from node.clock import parse_clock
from node.config import DEMO_CONFIG, parse_config
from node.exchange import Exchange
from node.journal import JournalWriter
from node.recovery import recover
from node.sequencer import Sequenced


class HeldWriter:
    """Wraps a JournalWriter's ``write``: each call waits until the test releases it."""

    def __init__(self, writer: JournalWriter) -> None:
        self.writer = writer
        self.real = writer.write
        self.release = threading.Semaphore(0)
        self.started: list[int] = []
        """First seq of each batch whose write began."""
        self.durable: list[int] = []
        """First seq of each batch whose write finished."""
        writer.write = self.write  # type: ignore[method-assign]

    def write(self, taken: tuple[int, list[bytes]]) -> int:
        self.started.append(taken[0])
        self.release.acquire()
        written = self.real(taken)
        self.durable.append(taken[0])
        return written


@pytest.fixture(autouse=True)
def _every_sync_in_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests hold the sync thread's writes: no batch may be synced on the loop
    (a quiet batch would be, tests/unit/node/test_inline_sync.py)."""
    monkeypatch.setattr(exchange_module, "INLINE_BATCH", 0)


def _order(n: int) -> NewOrder:
    side = "buy" if n % 2 else "sell"
    price = 22_900 - n if side == "buy" else 23_100 + n
    return NewOrder(0, 0, "alice" if n % 2 else "bob", "AAPLx/USD", side, 100, price)  # type: ignore[arg-type]


async def _wait(condition: object, what: str) -> None:
    for _ in range(2000):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


def _exchange(data: Path) -> Exchange:
    config = parse_config(DEMO_CONFIG, "demo")
    exchange = Exchange(config, data, parse_clock("system"))
    exchange.open()
    exchange.pipelined = True
    return exchange


def test_the_next_batch_is_applied_while_one_syncs_and_answered_only_once_durable(
    tmp_path: Path,
) -> None:
    async def run() -> None:
        exchange = _exchange(tmp_path / "data")
        held = HeldWriter(exchange.sequencer.writer)
        answered: list[int] = []
        published: list[list[int]] = []
        durable_at_answer: list[list[int]] = []

        def done(applied: list[Sequenced]) -> None:
            answered.append(applied[-1][0].seq)
            durable_at_answer.append(list(held.durable))

        exchange.add_listener(lambda applied: published.append([c.seq for c, _ in applied]))
        await exchange.start()
        start = exchange.engine.last_seq
        exchange.enqueue(_order(1), done)
        await _wait(lambda: len(held.started) == 1, "the first batch's sync began")
        # While it syncs, two more commands arrive: they are applied as the next batch.
        exchange.enqueue(_order(2), done)
        exchange.enqueue(_order(3), done)
        await _wait(lambda: exchange.engine.last_seq == start + 3, "the next batch applied")
        assert answered == [] and published == []
        assert exchange.metrics.pipelined_batches == 1
        held.release.release()  # the first batch is durable
        await _wait(lambda: len(answered) == 1, "the first batch answered")
        assert answered == [start + 1] and published == [[start + 1]]
        await _wait(lambda: len(held.started) == 2, "the second batch's sync began")
        assert answered == [start + 1]  # not before its own records are durable
        held.release.release()
        await _wait(lambda: len(answered) == 3, "the second batch answered")
        assert answered == [start + 1, start + 2, start + 3]
        assert published == [[start + 1], [start + 2, start + 3]]
        # Every answer came after its own batch's write finished.
        assert durable_at_answer[0] == [start + 1]
        assert durable_at_answer[1] == durable_at_answer[2] == [start + 1, start + 2]
        for _ in range(10):
            held.release.release()
        await exchange.close()

    asyncio.run(run())
    # The journal holds exactly what was answered, in order: a restart rebuilds it.
    recovered = recover(tmp_path / "data")
    assert recovered.engine.last_seq == recovered.next_seq - 1
    assert len(recovered.engine.orders) == 3


def test_a_barrier_sees_exactly_its_batch_nothing_applied_ahead(tmp_path: Path) -> None:
    async def run() -> None:
        exchange = _exchange(tmp_path / "data")
        held = HeldWriter(exchange.sequencer.writer)
        seen: list[int] = []
        await exchange.start()
        start = exchange.engine.last_seq
        exchange.enqueue(_order(1))
        exchange.enqueue_barrier(lambda: seen.append(exchange.engine.last_seq))
        await _wait(lambda: len(held.started) == 1, "the first batch's sync began")
        exchange.enqueue(_order(2))
        await asyncio.sleep(0.05)
        # The batch in hand holds a barrier: the next command waits for it.
        assert exchange.engine.last_seq == start + 1
        held.release.release()
        await _wait(lambda: seen, "the barrier ran")
        assert seen == [start + 1]
        held.release.release()
        await _wait(lambda: exchange.engine.last_seq == start + 2, "the next command applied")
        for _ in range(10):
            held.release.release()
        await exchange.close()

    asyncio.run(run())


def test_every_command_arriving_during_a_sync_goes_into_the_next_batch(tmp_path: Path) -> None:
    async def run() -> None:
        exchange = _exchange(tmp_path / "data")
        held = HeldWriter(exchange.sequencer.writer)
        published: list[list[int]] = []
        exchange.add_listener(lambda applied: published.append([c.seq for c, _ in applied]))
        await exchange.start()
        start = exchange.engine.last_seq
        exchange.enqueue(_order(1))
        await _wait(lambda: len(held.started) == 1, "the first batch's sync began")
        # Commands arriving at three moments of the same sync: all are applied while it
        # runs, and all go into the one next batch (not the first arrivals alone).
        for n in (2, 3, 4, 5, 6):
            exchange.enqueue(_order(n))
            await _wait(lambda n=n: exchange.engine.last_seq == start + n, f"order {n} applied")
        assert published == []
        held.release.release()
        await _wait(lambda: len(held.started) == 2, "the second batch's sync began")
        held.release.release()
        await _wait(lambda: len(published) == 2, "the second batch published")
        assert published == [[start + 1], [start + n for n in range(2, 7)]]
        assert exchange.metrics.pipelined_batches == 1
        for _ in range(10):
            held.release.release()
        await exchange.close()

    asyncio.run(run())


@pytest.mark.parametrize("pipelined", [True, False])
def test_a_group_the_journal_cannot_take_is_refused_whole_and_the_timers_before_it_published(
    tmp_path: Path, pipelined: bool
) -> None:
    """The timers due before a refused group ran and are journaled: they must reach the
    listeners, and the journal must rebuild exactly the engine that answered."""
    refused: list[Exception] = []
    answered: list[object] = []
    published: list[Sequenced] = []

    async def run() -> str:
        config = parse_config(DEMO_CONFIG, "demo")
        exchange = Exchange(config, tmp_path / "data", parse_clock("sim:2026-11-23T15:00:00Z"))
        exchange.open()
        exchange.pipelined = pipelined
        exchange.add_listener(published.extend)
        await exchange.start()
        now = exchange.now()
        gtd = NewOrder(
            0, 0, "alice", "AAPLx/USD", "buy", 100, 22_900, tif="gtd", expire_ts=now + 10**9
        )
        placed = await exchange.submit(gtd)
        order_id = placed[-1][0].seq
        huge = _order(3)
        msgspec.structs.force_setattr(huge, "cl_ord_id", "x" * (2 << 20))  # past a record
        # In one step: the clock passes the expiry and the group comes in; the timer runs
        # first, in the same turn of the pipeline as the group.
        exchange.clock.advance(2 * 10**9)
        exchange.enqueue_group([_order(5), huge], answered.append, refused.append)
        await _wait(lambda: refused, "the group refused")
        await _wait(lambda: order_id not in exchange.engine.orders, "the GTD order expired")
        state = exchange.engine.state_hash()
        last = exchange.engine.last_seq
        await exchange.close()
        assert answered == []
        assert len(refused) == 1 and isinstance(refused[0], ValueError)
        assert "a journal record holds at most" in str(refused[0])
        timers = [(c, e) for c, e in published if isinstance(c, RunTimers)]
        assert any(
            isinstance(ev, OrderExpired) and ev.order_id == order_id for _, e in timers for ev in e
        )
        assert published[-1][0].seq == last  # nothing applied past what was published
        return state

    state = asyncio.run(run())
    recovered = recover(tmp_path / "data")
    assert recovered.engine.state_hash() == state
    assert recovered.engine.last_seq == published[-1][0].seq


def test_early_listeners_hear_a_batch_applied_before_it_is_durable(tmp_path: Path) -> None:
    """``enqueue_early``'s ``on_applied`` and the early listeners hear each batch right after
    the engine applied it, while its sync is held; ``on_done`` and the listeners only once
    durable; ``applied_seq`` is the last record applied."""

    async def run() -> None:
        exchange = _exchange(tmp_path / "data")
        held = HeldWriter(exchange.sequencer.writer)
        heard: list[tuple[str, int, int]] = []
        """(who, last seq of what it heard, batches durable then)."""

        def note(who: str) -> object:
            return lambda applied: heard.append((who, applied[-1][0].seq, len(held.durable)))

        exchange.add_early_listener(note("early"))  # type: ignore[arg-type]
        exchange.add_listener(note("published"))  # type: ignore[arg-type]
        await exchange.start()
        start = exchange.engine.last_seq
        assert exchange.applied_seq == start
        exchange.enqueue_early([_order(1)], note("applied"), note("done"))  # type: ignore[arg-type]
        await _wait(lambda: len(held.started) == 1, "the first batch's sync began")
        assert heard == [("applied", start + 1, 0), ("early", start + 1, 0)]
        assert exchange.applied_seq == start + 1
        exchange.enqueue_early([_order(2), _order(3)], note("applied"), note("done"))  # type: ignore[arg-type]
        await _wait(lambda: len(heard) == 4, "the next batch applied ahead")
        assert heard[2:] == [("applied", start + 3, 0), ("early", start + 3, 0)]
        held.release.release()
        await _wait(lambda: len(heard) == 6, "the first batch published")
        assert heard[4:] == [("done", start + 1, 1), ("published", start + 1, 1)]
        held.release.release()
        await _wait(lambda: len(heard) == 8, "the second batch published")
        assert heard[6:] == [("done", start + 3, 2), ("published", start + 3, 2)]
        for _ in range(10):
            held.release.release()
        await exchange.close()

    asyncio.run(run())
