"""``python -m bench builds``: the compiled and the pure engine build side by side.

For each workload, rounds alternate between the builds (each run a fresh
process: ``TOKEX_PURE=1`` for the pure one, ``python -m bench engine`` with
one timed run), so drifting machine load hits both alike. Reports each
build's median throughput with its range, its median p99 latency, the ratio,
and the load average before and after. With ``--instructions N`` (needs
valgrind) it also counts callgrind instructions per command on N commands of
peer-flow for each build (bench/instructions.py; steady where wall-clock
figures on a shared machine are not).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.instructions import instructions_per_command, valgrind_available
from bench.measure import machine
from bench.meta import build_env
from bench.workloads import WORKLOADS

__all__ = ["add_builds_parser"]

BUILDS = ("compiled", "pure")


def _one_run(build: str, workload: str, commands: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "bench", "engine", "--workload", workload]
        cmd += ["--commands", str(commands), "--runs", "1", "--seed", str(seed)]
        cmd += ["--json", str(out)]
        proc = subprocess.run(
            cmd, env=build_env(build), capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise SystemExit(f"bench engine ({build}, {workload}):\n{proc.stderr}")
        doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return doc


def _instructions(build: str, commands: int, seed: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        ops = Path(tmp) / "ops.json"
        doc = {"workload": "peer-flow", "ops": WORKLOADS["peer-flow"](commands, seed)}
        ops.write_text(json.dumps(doc), encoding="utf-8")
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(build_env(build))
        try:
            tokex = f"tokex-py{sys.version_info[0]}.{sys.version_info[1]}"
            return instructions_per_command(tokex, ops, commands)
        finally:
            os.environ.clear()
            os.environ.update(saved)


def builds_report(
    workloads: list[str], commands: int, rounds: int, seed: int, instructions: int
) -> dict[str, Any]:
    """Interleaved rounds of both builds on each workload (see the module docstring)."""
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for workload in workloads:
        runs: dict[str, list[dict[str, Any]]] = {b: [] for b in BUILDS}
        for _ in range(rounds):
            for build in BUILDS:
                runs[build].append(_one_run(build, workload, commands, seed))
        row: dict[str, Any] = {"workload": workload}
        for build in BUILDS:
            rates = [r["throughput_cmd_s"] for r in runs[build]]
            p99s = [r["latency_ns"]["p99"] for r in runs[build]]
            row[build] = {
                "throughput_cmd_s": round(statistics.median(rates)),
                "throughput_range": [min(rates), max(rates)],
                "p99_ns": round(statistics.median(p99s)),
                "p99_range": [min(p99s), max(p99s)],
            }
        row["ratio"] = round(
            row["compiled"]["throughput_cmd_s"] / row["pure"]["throughput_cmd_s"], 2
        )
        rows.append(row)
    report: dict[str, Any] = {
        "commands": commands,
        "rounds": rounds,
        "rows": rows,
        "machine": machine(),
        "python": sys.version.split()[0],
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    if instructions and valgrind_available():
        report["instructions_per_command"] = {
            b: _instructions(b, instructions, seed) for b in BUILDS
        }
        report["instructions_commands"] = instructions
    return report


def _print(report: dict[str, Any]) -> None:
    print(
        f"builds: {report['commands']:,} commands x {report['rounds']} interleaved rounds, "
        f"Python {report['python']}; {report['machine']}; load "
        f"{report['load_before'][0]} before, {report['load_after'][0]} after"
    )
    for row in report["rows"]:
        parts = []
        for build in BUILDS:
            r = row[build]
            lo, hi = r["throughput_range"]
            parts.append(
                f"{build} {r['throughput_cmd_s'] / 1000:,.0f}k "
                f"({lo / 1000:,.0f}k-{hi / 1000:,.0f}k) p99 {r['p99_ns'] / 1000:,.1f} us"
            )
        print(f"  {row['workload']:>10}: {'; '.join(parts)}; compiled/pure {row['ratio']}x")
    instr = report.get("instructions_per_command")
    if instr:
        print(
            f"  callgrind, peer-flow ({report['instructions_commands']:,} commands): "
            + ", ".join(f"{b} {n:,} instructions/cmd" for b, n in instr.items())
        )


def _cmd_builds(args: argparse.Namespace) -> None:
    report = builds_report(
        args.workload or ["peer-flow", "ecore-mix", "xstocks"],
        args.commands,
        args.rounds,
        args.seed,
        args.instructions,
    )
    _print(report)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def add_builds_parser(sub: Any) -> None:
    """Register ``builds`` on the harness's subcommands."""
    p = sub.add_parser("builds", help="the compiled and the pure engine build, interleaved")
    p.add_argument("--workload", action="append", help="repeatable; default: all three")
    p.add_argument("--commands", type=int, default=200_000, help="commands per run")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    p.add_argument("--seed", type=int, default=1, help="workload seed")
    p.add_argument("--instructions", type=int, default=0, help="callgrind commands (0: skip)")
    p.add_argument("--json", type=Path, help="write the report here")
    p.set_defaults(func=_cmd_builds)
