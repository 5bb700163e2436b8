"""``tokex settlement run`` and ``tokex settlement status``: the worker on its own, the report.

* ``run``: the worker as a process of its own (the node then runs with
  ``[settlement] embedded_worker = false``), until SIGINT or SIGTERM.
* ``status``: the report of :mod:`settlement.status`, the reconciliation
  both as the worker checked it and by replaying the journal to the
  ledger's position; exit status 1 when it does not reconcile, 2 when the
  data directory, the ledger or the queue cannot be read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from node.config import DEMO_CONFIG, Config, ConfigError, load_config, parse_config
from settlement.backfill import BackfillError
from settlement.queue import QueueError, backend_name, open_reader
from settlement.reconcile import reconcile
from settlement.status import build, continuous, ledger_balances, ledger_view, open_view, render
from settlement.worker import Worker, WorkerBusy

__all__ = ["collect", "load", "run_status", "run_worker"]


def load(config_path: Path | None, queue: str | None) -> Config:
    """The configuration (the built-in demo without a file), ``--queue`` applied.

    ``queue``: ``sqlite`` or a ``nats://`` URL. Raises ConfigError.
    """
    config = (
        parse_config(DEMO_CONFIG, "built-in demo config")
        if config_path is None
        else load_config(config_path)
    )
    if queue is None:
        return config
    settings = config.settlement
    if queue == "sqlite":
        settings = dataclasses.replace(settings, backend="sqlite")
    elif queue.startswith(("nats://", "tls://")):
        settings = dataclasses.replace(settings, backend="nats", nats_url=queue)
    else:
        raise ConfigError(f"--queue {queue!r}: give sqlite or a nats:// URL")
    return dataclasses.replace(config, settlement=settings)


async def collect(config: Config, data: Path) -> dict[str, Any]:
    """The full report of ``data``: ledger, queue depth, replay reconciliation.

    Raises BackfillError if the journal cannot be replayed to the ledger's position.
    """
    if not (data / "genesis.tkx").exists():
        raise BackfillError(f"{data}: not a tokex data directory (no genesis.tkx)")
    db = open_view(data / "settlement" / "ledger.sqlite")
    try:
        view = ledger_view(db)
        balances = ledger_balances(db)
    finally:
        db.close()
    loop = asyncio.get_running_loop()
    replayed = await loop.run_in_executor(None, reconcile, data, balances, view["seq"])
    reader = open_reader(config.settlement, data)
    error = None
    try:
        depth: tuple[int, int | None] = await reader.depth(view["cursor"])
    except Exception as e:  # the queue's backend is down: say so, report the rest
        depth, error = (0, None), f"{type(e).__name__}: {e}"
    finally:
        await reader.close()
    report = build(
        backend_name(config.settlement),
        view,
        depth,
        replayed.engine_trades,
        time.time_ns(),
        [continuous(view), replayed.to_json()],
    )
    if error is not None:
        report["queue"]["depth_messages"] = None
        report["queue"]["error"] = error
    report["journal_seq"] = replayed.journal_seq
    return report


def run_status(config: Config, data: Path, as_json: bool) -> int:
    """Print the report; the exit status (0 reconciled, 1 not, 2 unreadable)."""
    try:
        report = asyncio.run(collect(config, data))
    except (BackfillError, QueueError) as e:
        print(f"tokex settlement status: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if as_json else render(report))
    return 0 if report["reconciliation"]["ok"] else 1


async def _orphaned(parent: int, stop: asyncio.Event) -> None:
    while os.getppid() == parent:
        await asyncio.sleep(0.1)
    stop.set()


async def _work(config: Config, data: Path, parent: int | None) -> None:
    worker = Worker(config, data, open_reader(config.settlement, data))
    await worker.start()
    where = config.settlement.nats_url if config.settlement.backend == "nats" else "sqlite"
    print(
        f"tokex settlement: worker on {data}, queue {where}, ledger at seq {worker.ledger.seq}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watch = None if parent is None else loop.create_task(_orphaned(parent, stop))
    await stop.wait()
    if watch is not None:
        watch.cancel()
    await worker.stop()
    print("tokex settlement: stopped", flush=True)


def run_worker(config: Config, data: Path, parent: int | None = None) -> int:
    """Run the worker until SIGINT/SIGTERM (or until process ``parent`` is gone)."""
    if not (data / "genesis.tkx").exists():
        print(f"tokex settlement run: {data}: not a tokex data directory", file=sys.stderr)
        return 2
    try:
        uvloop.run(_work(config, data, parent))
    except (WorkerBusy, QueueError) as e:
        print(f"tokex settlement run: {e}", file=sys.stderr)
        return 1
    return 0
