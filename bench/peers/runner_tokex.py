"""Run tokex's own engine on an ops file, as the peer runners do, in another interpreter.

Usage::

    python runner_tokex.py OPS_JSON [--runs R] [--latency]

Runs inside a venv that has tokex's runtime dependencies; tokex is imported
from the checkout this file lives in. Prints the same JSON report as the peer
runners (``peer`` is ``tokex-pyX.Y``, or ``tokex-pyX.Y-pure`` when
``TOKEX_PURE`` asks for the pure build), with ``build``: the build that ran
(``kind``, compiled or pure, and the compiled modules' files).

An ops file ``{"workload": "xstocks", "commands": N, "seed": S}`` (no
``ops``) runs tokex's own xstocks workload instead, generated here: how
``python -m bench peers --xstocks N`` times it in the same rounds as the
peers' peer-flow.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.measure import measure_engine
from bench.workloads import bench_engine, to_commands
from bench.xstocks import xstocks
from model import build


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ops")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", action="store_true")
    parser.add_argument(
        "--count-mode",
        choices=("setup", "once"),
        help="for instruction counting: only build the commands, or build and run them once",
    )
    args = parser.parse_args()
    with open(args.ops, encoding="utf-8") as f:
        doc = json.load(f)
    workload = doc.get("workload", "?")
    if workload == "xstocks" and "ops" not in doc:
        # tokex's own workload, which no peer runs: the file names its size
        # and seed, and the commands are generated here (bench/xstocks.py).
        if args.count_mode is not None:
            raise SystemExit("--count-mode: peer-flow ops files only")
        xcmds, make = xstocks(int(doc["commands"]), int(doc["seed"]))
        _print_report(measure_engine(make, xcmds, args.runs, workload))
        return
    commands = to_commands(doc.pop("ops"))
    if args.count_mode is not None:
        # Both modes build the engine (accounts, funding), so the difference
        # is the commands alone.
        engine = bench_engine()
        if args.count_mode == "once":
            for c in commands:
                engine.process(c)
        return
    _print_report(measure_engine(bench_engine, commands, args.runs, workload))


def _print_report(report: dict[str, Any]) -> None:
    """Name the row and its build, as the peer runners' reports do, and print it."""
    major, minor = sys.version_info[:2]
    forced_pure = os.environ.get(build.PURE_ENV, "") not in ("", "0")
    report["peer"] = f"tokex-py{major}.{minor}" + ("-pure" if forced_pure else "")
    report["build"] = {
        "kind": "compiled" if build.COMPILED else "pure",
        "modules": [p.name for p in build.compiled_files().values()] if build.COMPILED else [],
    }
    report["version"] = "checkout"
    report["python"] = platform.python_version()
    report["throughput_cmd_s"] = report.pop("throughput_runs")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
