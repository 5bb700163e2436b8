"""``python -m bench memory``: resident memory per resting order, for each engine build.

Each build runs in its own process (``TOKEX_PURE=1`` for the pure one): the
benchmark engine (risk on, 10,000 funded accounts) is built, then ``--orders``
GTC limit orders that cross nothing are placed (buys below the reference,
sells above, over 10,000 price levels and every funded account). The commands
are made and dropped one at a time, so what grows is what the engine keeps:
the order records, the levels' queues, the heaps and the indexes by id and
by account. RSS (``/proc/self/statm``) is read after a garbage collection
before and after; the difference over the count is the cost of one resting order.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from bench.measure import machine
from bench.meta import build_env
from bench.workloads import BENCH_SYMBOL, bench_engine
from model.commands import NewOrder

__all__ = ["add_memory_parser", "memory_child"]

_ACCOUNTS = 10_000
_POOR_EVERY = 33  # bench_engine's poor accounts hold one share: they get no orders
_MID = 100_000
_LEVELS = 4_900  # each side: within the band (5% of the reference) and off the mid


def _rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _orders(count: int) -> Iterator[NewOrder]:
    funded = [n for n in range(1, _ACCOUNTS + 1) if n % _POOR_EVERY]
    for seq in range(1, count + 1):
        buy = seq % 2 == 0
        offset = 1 + (seq // 2) % _LEVELS
        yield NewOrder(
            seq,
            seq * 1_000,
            f"acct{funded[seq % len(funded)]}",
            BENCH_SYMBOL,
            "buy" if buy else "sell",
            1,
            _MID - offset if buy else _MID + offset,
        )


def memory_child(count: int) -> dict[str, Any]:
    """Place ``count`` resting orders in this process; report the RSS they cost."""
    from model import build

    engine = bench_engine()
    gc.collect()
    before = _rss()
    process = engine.process
    for c in _orders(count):
        process(c)
    gc.collect()
    after = _rss()
    resting = len(engine.orders)
    if resting != count:
        raise SystemExit(f"only {resting:,} of {count:,} orders rest: the workload is wrong")
    return {
        "build": "compiled" if build.COMPILED else "pure",
        "resting_orders": resting,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_order": round((after - before) / resting),
        "python": platform.python_version(),
        "machine": machine(),
    }


def _run_build(pure: bool, count: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench", "memory", "--child", "--orders", str(count)]
    env = build_env("pure" if pure else "compiled")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench memory ({'pure' if pure else 'compiled'}):\n{proc.stderr}")
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def _cmd_memory(args: argparse.Namespace) -> None:
    if args.child:
        print(json.dumps(memory_child(args.orders)))
        return
    reports = [_run_build(False, args.orders), _run_build(True, args.orders)]
    for r in reports:
        print(
            f"{r['build']:>8}: {r['resting_orders']:,} resting orders, "
            f"{r['bytes_per_order']:,} B RSS each "
            f"({r['rss_before'] / 2**20:,.0f} -> {r['rss_after'] / 2**20:,.0f} MiB), "
            f"Python {r['python']}"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"memory": reports}, indent=2) + "\n", encoding="utf-8")


def add_memory_parser(sub: Any) -> None:
    """Register ``memory`` on the harness's subcommands."""
    from pathlib import Path

    p = sub.add_parser("memory", help="RSS per resting order, compiled and pure builds")
    p.add_argument("--orders", type=int, default=1_000_000, help="resting orders to place")
    p.add_argument("--json", type=Path, help="write the report here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_memory)
