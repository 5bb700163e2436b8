"""Run the peer ``matching-engine`` (PyPI, pinned 0.1.1) on a tokex peer-flow ops file.

Runs INSIDE the peer's venv (Python >= 3.12): stdlib plus ``matching_engine`` only.

Usage::

    python runner_matching_engine.py OPS_JSON [--runs R] [--latency]

Mapping of the ops (prices are integer ticks, quantities integer lots in both):

* ``["L", oid, side, price, qty, acct]`` -> ``NewOrder(oid, acct, side, price, qty,
  OrderType.LIMIT, TimeInForce.GTC)``
* ``["M", oid, side, qty, acct]`` -> ``NewOrder(oid, acct, side, 0, qty,
  OrderType.MARKET, TimeInForce.IOC)``
* ``["C", oid, acct]`` -> ``CancelOrder(oid, acct)`` (rejected if already gone)

Every command is wrapped in ``SequencedCommand(seq=i + 1, ts=i + 1, command)``.
Self-trade prevention is the package default, cancel-taker, which is what
tokex's default (``cancel_newest``) does too.

All commands are built before any timing. Each of the R runs processes them
on a fresh engine inside one ``perf_counter_ns`` pair (throughput). With
``--latency`` one more pass on a fresh engine times each command on its own;
percentiles are nearest-rank over the exact sorted list. The garbage collector
keeps the interpreter defaults. Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import platform
import sys
import time
from typing import Any

from matching_engine.domain import (
    CancelOrder,
    NewOrder,
    OrderType,
    SelfTradePrevention,
    SequencedCommand,
    Side,
    TimeInForce,
)
from matching_engine.engine import MatchingEngine

PEER = "matching-engine"
DIST = "matching-engine"
SIDES = {"buy": Side.BUY, "sell": Side.SELL}


def load_ops(path: str) -> list[list[Any]]:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("ops"), list):
        raise SystemExit(f"{path}: expected a JSON object with an 'ops' list")
    return doc["ops"]


def convert(ops: list[list[Any]]) -> list[SequencedCommand]:
    stp = SelfTradePrevention.CANCEL_TAKER
    out = []
    for i, op in enumerate(ops):
        kind = op[0]
        if kind == "L":
            _, oid, side, price, qty, acct = op
            cmd = NewOrder(
                oid, acct, SIDES[side], price, qty, OrderType.LIMIT, TimeInForce.GTC, False, stp
            )
        elif kind == "M":
            _, oid, side, qty, acct = op
            cmd = NewOrder(
                oid, acct, SIDES[side], 0, qty, OrderType.MARKET, TimeInForce.IOC, False, stp
            )
        elif kind == "C":
            _, oid, acct = op
            cmd = CancelOrder(oid, acct)
        else:
            raise SystemExit(f"op {i}: unknown kind {kind!r}")
        out.append(SequencedCommand(i + 1, i + 1, cmd))
    return out


def percentile(sorted_ns: list[int], p: float) -> int:
    """Nearest-rank percentile: the smallest value with at least p% of values <= it."""
    rank = max(1, math.ceil(p / 100.0 * len(sorted_ns)))
    return sorted_ns[rank - 1]


def timed_run(cmds: list[SequencedCommand]) -> tuple[int, MatchingEngine]:
    engine = MatchingEngine()
    process = engine.process
    perf = time.perf_counter_ns
    t0 = perf()
    for sc in cmds:
        process(sc)
    t1 = perf()
    return t1 - t0, engine


def latency_run(cmds: list[SequencedCommand]) -> list[int]:
    engine = MatchingEngine()
    process = engine.process
    perf = time.perf_counter_ns
    lat: list[int] = []
    append = lat.append
    for sc in cmds:
        t0 = perf()
        process(sc)
        append(perf() - t0)
    return lat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ops_json")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--latency", action="store_true")
    ap.add_argument(
        "--count-mode",
        choices=("setup", "once"),
        help="for instruction counting: only build the commands, or build and run them once",
    )
    args = ap.parse_args(argv)
    if args.runs < 1:
        raise SystemExit("--runs must be >= 1")

    cmds = convert(load_ops(args.ops_json))
    if args.count_mode is not None:
        if args.count_mode == "once":
            timed_run(cmds)
        return 0
    n = len(cmds)
    throughput = []
    engine = None
    for _ in range(args.runs):
        engine = None  # drop the previous run's book before building the next engine
        elapsed, engine = timed_run(cmds)
        throughput.append(n / (elapsed / 1e9) if elapsed else 0.0)
    assert engine is not None
    resting, trades = len(engine.book.orders), engine.next_trade_id - 1
    engine = None  # the latency pass starts from an empty heap too

    latency = None
    if args.latency:
        lat = latency_run(cmds)
        lat.sort()
        latency = (
            {
                "p50": percentile(lat, 50),
                "p99": percentile(lat, 99),
                "p999": percentile(lat, 99.9),
                "max": lat[-1],
            }
            if lat
            else {"p50": 0, "p99": 0, "p999": 0, "max": 0}
        )

    report = {
        "peer": PEER,
        "version": importlib.metadata.version(DIST),
        "python": platform.python_version(),
        "commands": n,
        "runs": args.runs,
        "throughput_cmd_s": throughput,
        "latency_ns": latency,
        "resting_orders_end": resting,
        "trades": trades,
    }
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
