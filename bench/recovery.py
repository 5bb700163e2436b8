"""``python -m bench recovery``: journal append throughput, replay and snapshot recovery.

On a real data directory in a temporary folder (on the machine's disk):

* append: the peer-flow commands sequenced into the journal by each fsync
  policy, in batches of 100 (the group commit), records per second;
  ``always`` (an fsync per record) on a shorter run;
* replay: the whole journal rebuilt from the genesis (read, check, decode,
  apply), records per second, with the read-and-decode part alone beside it;
* snapshot plus tail: a snapshot taken 90% of the way in, then recovery
  (load the snapshot, replay the last 10%), seconds; and the pause a
  snapshot costs the engine (the fork), and the snapshot's size.
"""

from __future__ import annotations

import itertools
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import machine
from bench.workloads import BENCH_SYMBOL, bench_instrument, peer_flow, to_commands
from model.commands import Command, Deposit
from node.journal import FsyncPolicy, JournalWriter, scan
from node.recovery import recover
from node.sequencer import Sequencer
from node.store import (
    Genesis,
    read_genesis,
    write_genesis,
    write_snapshot,
    write_snapshot_in_background,
)
from risk.accounts import AccountSpec, FeeTier
from risk.money import Asset

__all__ = ["recovery_report"]

_ACCOUNTS = 1_000


def _genesis() -> Genesis:
    tier = FeeTier("bench", maker_bps=10, taker_bps=25)
    return Genesis(
        assets=[Asset("USD", 2), Asset("AAPLx", 8)],
        instruments=[bench_instrument()],
        accounts=[AccountSpec(id=f"acct{n}", fee_tier=tier) for n in range(1, _ACCOUNTS + 1)],
    )


def _commands(count: int, seed: int) -> list[Command]:
    """Deposits for every account, then peer-flow up to ``count`` commands in all."""
    deposits: list[Command] = []
    for n in range(1, _ACCOUNTS + 1):
        deposits.append(Deposit(0, 0, f"acct{n}", "USD", 500_000_000))
        deposits.append(Deposit(0, 0, f"acct{n}", "AAPLx", 5_000 * 10**8))
    flow = to_commands(peer_flow(max(0, count - len(deposits)), seed))
    assert all(getattr(c, "symbol", BENCH_SYMBOL) == BENCH_SYMBOL for c in flow)
    return (deposits + flow)[:count]


def _sequence(data: Path, commands: list[Command], fsync: FsyncPolicy) -> float:
    """Write ``commands`` through a Sequencer in batches of 100; return records per second."""
    write_genesis(data, _genesis())
    engine = read_genesis(data).build()
    writer = JournalWriter(data / "journal", 1, fsync)
    clock = itertools.count(1_763_650_800_000_000_000, 1_000)
    sequencer = Sequencer(engine, writer, lambda: next(clock))
    start = time.perf_counter()
    for i in range(0, len(commands), 100):
        sequencer.commit(commands[i : i + 100])
    elapsed = time.perf_counter() - start
    writer.close()
    return len(commands) / elapsed


def recovery_report(commands: int, runs: int, seed: int) -> dict[str, Any]:
    """Measure everything in the module docstring; the JSON report."""
    flow = _commands(commands, seed)
    root = Path(tempfile.mkdtemp(prefix="tokex-bench-recovery-"))
    try:
        append: dict[str, float] = {}
        for policy, count in (("off", len(flow)), ("batch", len(flow)), ("always", 2_000)):
            data = root / f"append-{policy}"
            append[policy] = round(_sequence(data, flow[:count], policy))  # type: ignore[arg-type]
            if policy != "batch":
                shutil.rmtree(data)
        data = root / "append-batch"
        journal_bytes = sum(p.stat().st_size for p in (data / "journal").glob("*.seg"))
        replay, decode = [], []
        for _ in range(runs):
            start = time.perf_counter()
            found = scan(data / "journal")
            decode.append(len(found.commands) / (time.perf_counter() - start))
            engine = read_genesis(data).build()
            process = engine.process
            for command in found.commands:
                process(command)
            replay.append(len(found.commands) / (time.perf_counter() - start))
            del found, engine, process
        # A snapshot 90% of the way in: the engine as it was then, written to disk.
        snap_at = len(flow) * 9 // 10
        engine = read_genesis(data).build()
        for command in scan(data / "journal").commands[:snap_at]:
            engine.process(command)
        start = time.perf_counter()
        pid = write_snapshot_in_background(data, engine)
        pause = time.perf_counter() - start
        os.waitpid(pid, 0)
        snapshot = write_snapshot(data, engine)
        del engine
        restore = []
        for _ in range(runs):
            start = time.perf_counter()
            recovered = recover(data, repair=False)
            restore.append(time.perf_counter() - start)
            assert recovered.snapshot_seq == snap_at and recovered.replayed == len(flow) - snap_at
            del recovered
        return {
            "workload": "recovery",
            "commands": len(flow),
            "runs": runs,
            "seed": seed,
            "append_records_s": append,
            "append_always_records": 2_000,
            "journal_bytes": journal_bytes,
            "replay_records_s": round(statistics.median(replay)),
            "replay_range": [round(min(replay)), round(max(replay))],
            "read_decode_records_s": round(statistics.median(decode)),
            "snapshot_seq": snap_at,
            "snapshot_bytes": snapshot.stat().st_size,
            "snapshot_fork_pause_ms": round(pause * 1000, 2),
            "restore_s": round(statistics.median(restore), 3),
            "restore_range": [round(min(restore), 3), round(max(restore), 3)],
            "python": platform.python_version(),
            "machine": machine(),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def print_recovery(report: dict[str, Any]) -> None:
    """The report for a terminal."""
    a = report["append_records_s"]
    print(
        f"recovery: {report['commands']:,} records ({report['journal_bytes'] / 1e6:.1f} MB), "
        f"{report['runs']} runs, Python {report['python']}\n"
        f"  append (batches of 100): fsync off {a['off']:,}/s, batch {a['batch']:,}/s, "
        f"always {a['always']:,}/s ({report['append_always_records']:,} records)\n"
        f"  replay from the genesis: {report['replay_records_s']:,} records/s "
        f"(read and decode alone {report['read_decode_records_s']:,}/s)\n"
        f"  snapshot at seq {report['snapshot_seq']:,} ({report['snapshot_bytes'] / 1e6:.1f} MB, "
        f"fork pause {report['snapshot_fork_pause_ms']} ms); snapshot plus tail restored in "
        f"{report['restore_s']} s"
    )
