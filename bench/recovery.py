"""``python -m bench recovery``: journal append throughput, replay and snapshot recovery.

On a real data directory in a temporary folder (on the machine's disk):

* append: the peer-flow commands sequenced into the journal by each fsync
  policy, in batches of 100 (the group commit), records per second;
  ``always`` (an fsync per record) on a shorter run;
* replay: the whole journal rebuilt from the genesis (read, check, decode,
  apply), records per second, with the read-and-decode part alone beside it;
  garbage is collected before each timed replay (the engines left by the
  appends and the previous replay are freed outside the timing);
* snapshot plus tail: a snapshot taken 90% of the way in, then recovery
  (load the snapshot, replay the last 10%), seconds; and the pause a
  snapshot costs the engine (the fork), and the snapshot's size;
* restarts against journal length (:func:`restarts_report`): the node
  itself (``node.exchange.Exchange``, its pipeline, its snapshot policy of
  100,000 records, its history and access stores) runs many short lifetimes
  on one data directory, each too short to reach the snapshot threshold on
  its own; before each lifetime the node is opened (recover the newest
  snapshot and the tail, bring the history level, read the access store)
  several times: seconds (median and range) and records replayed, against
  the journal's length. The flow is peer-flow's orders, each followed by a
  cancel of the order placed 5,000 orders before, so the book (and the
  snapshot) stays the same size however long the journal grows: what the
  table shows is what the journal's length costs a restart.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from bench.measure import machine
from bench.workloads import BENCH_SYMBOL, bench_instrument, peer_flow, to_command, to_commands
from model.commands import CancelOrder, Command, Deposit, NewOrder
from node.clock import Clock
from node.config import Config
from node.exchange import Exchange
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

__all__ = ["print_restarts", "recovery_report", "restart_lines", "restarts_report"]

_ACCOUNTS = 1_000


def _genesis() -> Genesis:
    tier = FeeTier("bench", maker_bps=10, taker_bps=25)
    return Genesis(
        assets=[Asset("USD", 2), Asset("AAPLx", 8)],
        instruments=[bench_instrument()],
        accounts=[AccountSpec(id=f"acct{n}", fee_tier=tier) for n in range(1, _ACCOUNTS + 1)],
    )


def _commands(count: int, seed: int) -> list[Command]:
    """Deposits for every account, then peer-flow up to ``count`` commands in all.

    An order's id is its command's seq, and the flow's commands come after the
    deposits in the journal: a cancel names the order it cancels by the flow's
    own numbering moved on by the deposits (without that, nearly every cancel
    named another account's order and was refused, and the book only grew).
    """
    deposits: list[Command] = []
    for n in range(1, _ACCOUNTS + 1):
        deposits.append(Deposit(0, 0, f"acct{n}", "USD", 500_000_000))
        deposits.append(Deposit(0, 0, f"acct{n}", "AAPLx", 5_000 * 10**8))
    shift = len(deposits)
    ops = peer_flow(max(0, count - shift), seed)
    flow = to_commands(
        [["C", int(op[1]) + shift, op[2]] if op[0] == "C" else op for op in ops]  # type: ignore[call-overload]
    )
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


_START = 1_795_446_000 * 10**9  # a Monday 15:00 UTC
SNAPSHOT_RECORDS = 100_000
RESTING_WINDOW = 5_000


def _steady_flow(count: int, seed: int) -> list[Command]:
    """Deposits, then peer-flow's orders, each limit followed (once 5,000 rest) by a cancel
    of the limit placed 5,000 before: at most about that many orders ever rest.

    Sequence numbers are the positions (the node's simulated clock stands
    still, so no timer comes between them).
    """
    out = _commands(2 * _ACCOUNTS, seed)
    resting: deque[tuple[int, str]] = deque()
    for op in peer_flow(count, seed):
        if len(out) >= count:
            break
        if op[0] == "C":
            continue
        command = to_command(op, len(out) + 1)
        out.append(command)
        if op[0] == "L" and isinstance(command, NewOrder):
            resting.append((command.seq, command.account))
        if len(resting) > RESTING_WINDOW:
            victim, owner = resting.popleft()
            out.append(CancelOrder(len(out) + 1, 0, owner, victim))
    return out[:count]


def _config() -> Config:
    """The node's configuration for the bench genesis (no logins; the default policies)."""
    genesis = _genesis()
    return Config(
        source="bench",
        name="bench",
        genesis=genesis,
        deposits=[],
        access={},
        ws_port=0,
        fix_port=0,
        fsync="batch",
        rate_per_second=1,
        rate_burst=1,
        operator_account="ops",
        instruments={i.symbol: i for i in genesis.instruments},
        queue_limit=1 << 20,
        snapshot_records=SNAPSHOT_RECORDS,
        snapshot_seconds=0,
    )


def _open_timed(config: Config, data: Path) -> tuple[Exchange, float, float]:
    """Open the node on ``data``: the node, and the wall-clock and CPU seconds it took.

    CPU time is this process's own: on a machine shared with other work it
    shows what the restart costs where wall-clock time also shows the waiting.
    """
    start = time.perf_counter()
    cpu = time.process_time()
    exchange = Exchange(config, data, Clock(_START))
    exchange.open()
    return exchange, time.perf_counter() - start, time.process_time() - cpu


async def _lifetime(exchange: Exchange, commands: list[Command]) -> None:
    """Run ``commands`` through the node's pipeline (groups of 500), then stop it cleanly."""
    await exchange.start()
    loop = asyncio.get_running_loop()
    for i in range(0, len(commands), 500):
        done: asyncio.Future[None] = loop.create_future()

        def answered(_: object, done: asyncio.Future[None] = done) -> None:
            done.set_result(None)

        exchange.enqueue_group(commands[i : i + 500], answered)
        await done
    await exchange.close()


def restarts_report(commands: int, lifetimes: int, runs: int, seed: int) -> dict[str, Any]:
    """``lifetimes`` lifetimes of the node over ``commands`` records; each restart timed ``runs``
    times (see the module docstring)."""
    flow = _steady_flow(commands, seed)
    per = -(-len(flow) // lifetimes)
    config = _config()
    root = Path(tempfile.mkdtemp(prefix="tokex-bench-restarts-"))
    data = root / "data"
    rows = []
    try:
        for k in range(lifetimes + 1):
            times = []
            cpus = []
            for _ in range(runs):
                exchange, took, cpu = _open_timed(config, data)
                times.append(took)
                cpus.append(cpu)
                asyncio.run(exchange.close())
            exchange, _, _ = _open_timed(config, data)
            recovered = exchange.recovered
            assert recovered is not None
            journal = sum(p.stat().st_size for p in (data / "journal").glob("*.seg"))
            rows.append(
                {
                    "journal_records": recovered.last_seq,
                    "journal_mb": round(journal / 1e6, 1),
                    "open_orders": len(recovered.engine.orders),
                    "replayed": recovered.replayed,
                    "snapshot_seq": recovered.snapshot_seq,
                    "restart_s": round(statistics.median(times), 3),
                    "restart_range": [round(min(times), 3), round(max(times), 3)],
                    "restart_cpu_s": round(statistics.median(cpus), 3),
                    "restart_cpu_range": [round(min(cpus), 3), round(max(cpus), 3)],
                }
            )
            asyncio.run(_lifetime(exchange, flow[k * per : (k + 1) * per]))
        return {
            "commands": len(flow),
            "lifetimes": lifetimes,
            "records_per_lifetime": per,
            "snapshot_records": SNAPSHOT_RECORDS,
            "runs": runs,
            "restarts": rows,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def print_restarts(report: dict[str, Any]) -> None:
    print(
        f"restarts: {report['lifetimes']} lifetimes of {report['records_per_lifetime']:,} records"
        f" (a snapshot once {report['snapshot_records']:,} records follow the last), each start"
        f" timed {report['runs']} times:"
    )
    for row in report["restarts"]:
        print(
            f"  journal {row['journal_records']:>9,} records ({row['journal_mb']} MB on disk):"
            f" restart {row['restart_s']} s [{row['restart_range'][0]}-"
            f"{row['restart_range'][1]}] (CPU {row['restart_cpu_s']} s"
            f" [{row['restart_cpu_range'][0]}-"
            f"{row['restart_cpu_range'][1]}]), {row['replayed']:,} replayed after the snapshot at"
            f" {row['snapshot_seq']:,}; {row['open_orders']:,} open orders"
        )


def restart_lines(report: dict[str, Any]) -> list[str]:
    """The README's table of restart time against journal length."""
    lines = [
        "",
        f"Restart against journal length: {report['lifetimes']} lifetimes of "
        f"{report['records_per_lifetime']:,} records on one data directory, a snapshot once "
        f"{report['snapshot_records']:,} records follow the newest (whichever lifetime wrote "
        f"it); the node opened {report['runs']} times before each lifetime (median [range]):",
        "",
        "| journal records | journal on disk | restart | restart CPU | records replayed "
        "| open orders |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['journal_records']:,} | {r['journal_mb']} MB | {r['restart_s']} s "
        f"[{r['restart_range'][0]}-{r['restart_range'][1]}] | {r['restart_cpu_s']} s "
        f"[{r['restart_cpu_range'][0]}-{r['restart_cpu_range'][1]}] | {r['replayed']:,} | "
        f"{r['open_orders']:,} |"
        for r in report["restarts"]
    ]
    return lines


RESTART_COMMANDS = 600_000
LIFETIMES = 12


def recovery_report(
    commands: int,
    runs: int,
    seed: int,
    restart_commands: int | None = None,
    lifetimes: int = LIFETIMES,
) -> dict[str, Any]:
    """Measure everything in the module docstring; the JSON report.

    The restarts run over ``restart_commands`` records (default: ``commands``,
    at most :data:`RESTART_COMMANDS`) in ``lifetimes`` lifetimes (0: skip).
    """
    if restart_commands is None:
        restart_commands = min(commands, RESTART_COMMANDS)
    restarts = restarts_report(restart_commands, lifetimes, runs, seed) if lifetimes else None
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
            # The engines of the appends and of the previous run are reference
            # cycles: collect them before the clock starts, not inside the next
            # replay (60-110 ms of a 1 s replay of 500,000 records), as a
            # restarting node, a fresh process, has none to free.
            gc.collect()
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
            "restarts": restarts,
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
    if report.get("restarts"):
        print_restarts(report["restarts"])
