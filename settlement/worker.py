"""The settlement worker: consumes the queue in order into the ledger, and drives instructions.

One loop on the event loop (inside ``tokex serve``, or on its own in
``tokex settlement run``): fetch what follows the ledger's cursor, book it
(:meth:`settlement.ledger.Ledger.book`: one SQLite transaction with the new
position, on the worker's own thread), acknowledge it to the queue only
then, and between fetches close a netting window that has reached its end
and move instructions on (:class:`settlement.instructions.Driver`). A
failure of the queue or the ledger is reported and retried from the
ledger's position; it never stops the node. One worker per data directory
(an exclusive lock on ``settlement/worker.lock``).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from node.config import Config, SettlementConfig
from settlement.chains import ChainAdapter, Simulator
from settlement.instructions import Driver
from settlement.ledger import Ledger, LedgerError
from settlement.queue import QueueError, QueueReader, settlement_dir

__all__ = ["FETCH", "Worker", "WorkerBusy", "cash_assets", "chains_of"]

FETCH = 1_000
"""Messages fetched (and booked in one transaction) at most at a time."""
IDLE_S = 0.05
RETRY_S = 0.5

T = TypeVar("T")


class WorkerBusy(Exception):
    """Another settlement worker runs on this data directory."""


def chains_of(config: Config) -> Callable[[str], str]:
    """Each account's chain from the configuration; the fee account's from ``[settlement]``."""
    chains = {a.account: a.chain for a in config.access.values()}
    fee_chain = config.settlement.fee_chain
    return lambda account: chains.get(account, fee_chain)


def cash_assets(config: Config) -> set[str]:
    """The assets that settle as cash: quote assets that are no instrument's base."""
    instruments = config.genesis.instruments
    bases = {i.base for i in instruments}
    return {i.quote for i in instruments} - bases


class Worker:
    """Books the queue into the ledger of ``data`` and settles its instructions.

    ``clock`` is the exchange clock (windows are in exchange time); the
    default adapter is the simulator from the configuration.
    """

    def __init__(
        self,
        config: Config,
        data: Path,
        reader: QueueReader,
        clock: Callable[[], int] = time.time_ns,
        adapter: ChainAdapter | None = None,
    ) -> None:
        self.config = config
        self.settings: SettlementConfig = config.settlement
        self.folder = settlement_dir(data)
        self.reader = reader
        self.clock = clock
        self.adapter: ChainAdapter = adapter or Simulator(
            self.folder / "chain-sim.sqlite",
            self.settings.chain_delay_ms * 1_000_000,
            self.settings.chain_failure_rate,
        )
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="settlement-ledger")
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._lock_fd = -1
        self.error: str | None = None
        """The last problem met (cleared when booking succeeds again)."""
        self.idle = asyncio.Event()
        """Set whenever a fetch came back empty (the queue is drained)."""

    async def _run_in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    def _lock(self) -> None:
        path = self.folder / "worker.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise WorkerBusy(f"{path}: another settlement worker runs (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    async def start(self) -> None:
        """Take the lock, open the ledger and the queue at the ledger's position, start."""
        self._lock()
        chain_of = chains_of(self.config)
        cash = cash_assets(self.config)
        window_ns = self.settings.window_ms * 1_000_000
        path = self.folder / "ledger.sqlite"
        self.ledger = await self._run_in_thread(lambda: Ledger(path, window_ns, chain_of, cash))
        self.driver = Driver(
            self.ledger.db,
            self.adapter,
            self._run_in_thread,
            time.time_ns,
            self.settings.retry_ms * 1_000_000,
        )
        await self.reader.open(self.ledger.cursor, self.ledger.seq)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="settlement")

    async def _loop(self) -> None:
        next_step = 0.0
        while not self._stopping:
            try:
                await self._once()
                now = time.monotonic()
                if now >= next_step:
                    next_step = now + IDLE_S
                    await self.driver.step()
            except (QueueError, LedgerError, OSError) as e:
                await self._trouble(e)
            except Exception as e:  # a backend's own errors (NATS) are retried the same way
                await self._trouble(e)

    async def _trouble(self, e: Exception) -> None:
        self.error = f"{type(e).__name__}: {e}"
        print(f"tokex settlement: {self.error}; retrying", file=sys.stderr, flush=True)
        await asyncio.sleep(RETRY_S)
        if self._stopping:
            return
        ledger = self.ledger
        try:
            await self.reader.open(ledger.cursor, ledger.seq)
        except Exception as again:
            self.error = f"{type(again).__name__}: {again}"

    async def _once(self) -> None:
        deliveries = await self.reader.fetch(FETCH, IDLE_S)
        if not deliveries:
            self.idle.set()
            now = self.clock()
            await self._run_in_thread(lambda: self.ledger.close_due_window(now))
            return
        self.idle.clear()
        result = await self._run_in_thread(lambda: self.ledger.book(deliveries))
        seq = self.ledger.seq
        await self.reader.ack([d for d in deliveries if d.message.seq <= seq])
        if result.gap is not None:
            raise QueueError(f"the queue lacks a message: {result.gap}")
        self.error = None

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until a fetch finds nothing more (for a clean stop and for tests)."""
        deadline = time.monotonic() + timeout
        self.idle.clear()
        while not self.idle.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError("the settlement worker did not drain the queue")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Finish the step in hand, close the queue, the ledger and the lock."""
        self._stopping = True
        if self._task is not None:
            await self._task
            self._task = None
        await self.reader.close()
        if hasattr(self, "ledger"):
            await self._run_in_thread(self.ledger.close)
        self.adapter.close()
        self._pool.shutdown(wait=True)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def stats(self) -> dict[str, Any]:
        return {"error": self.error, "chain_errors": self.driver.chain_errors}
