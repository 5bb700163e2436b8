"""``python -m bench replay``: replay from the genesis, a fresh process per run, builds interleaved.

A restarting node replays in a fresh process: nothing left over from other
work is collected, freed or in the caches while it runs. This writes
``bench recovery``'s journal once (its deposits, then peer-flow), then
replays it from the genesis (read and check the segments, decode, build the
engine, ``process`` every command; wall clock and CPU time) in a new
interpreter per run, for each build (the compiled one, and the pure one with
``--pure``) and each other interpreter given with ``--python`` (another
worktree's venv: its own sources and compiled core), the order reversed
every other round so drifting load hits all alike. Reports medians
[ranges], the state hash each ended in (they must agree) and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import machine
from bench.meta import build_env

__all__ = ["add_replay_parser", "replay_report"]

# Run by each interpreter on its own tree: only what every tokex since the
# reader's first compiled round has (node.journal.scan, node.store.read_genesis).
_CHILD = """
import json, os, sys, time
from pathlib import Path
from node.journal import scan
from node.store import read_genesis
data = Path(sys.argv[1])
w0, c0 = time.perf_counter(), time.process_time()
found = scan(data / "journal")
w1 = time.perf_counter()
engine = read_genesis(data).build()
process = engine.process
for command in found.commands:
    process(command)
w2, c2 = time.perf_counter(), time.process_time()
n = len(found.commands)
print(json.dumps({"records": n, "replay": n / (w2 - w0), "replay_cpu": n / (c2 - c0),
                  "decode": n / (w1 - w0), "process": n / (w2 - w1),
                  "open_orders": len(engine.orders), "state_hash": engine.state_hash()}))
"""


def _run(python: str, build: str, data: Path) -> dict[str, Any]:
    env = build_env(build, PYTHONHASHSEED="0")
    tree = Path(python).absolute().parent.parent.parent  # <tree>/.venv/bin/python
    cwd = tree if (tree / "node" / "journal.py").exists() else None
    done = subprocess.run(
        [python, "-c", _CHILD, str(data)], env=env, cwd=cwd, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{python} ({build}): the replay failed:\n{done.stderr.strip()}")
    row: dict[str, Any] = json.loads(done.stdout)
    row["load_1min"] = os.getloadavg()[0]
    return row


def _summary(values: list[float]) -> dict[str, int]:
    return {
        "median": round(statistics.median(values)),
        "min": round(min(values)),
        "max": round(max(values)),
    }


def replay_report(
    commands: int, rounds: int, seed: int, pythons: list[str], pure: bool
) -> dict[str, Any]:
    """Write the journal, replay it ``rounds`` times per (interpreter, build); the JSON report.

    ``pythons`` are interpreters (this one first, usually); each replays with
    its compiled build, and with its pure one too when ``pure``. Raises
    RuntimeError when a replay fails or the builds end in different states.
    """
    from bench.recovery import _commands, _sequence

    configs = [(p, b) for p in pythons for b in (("compiled", "pure") if pure else ("compiled",))]
    root = Path(tempfile.mkdtemp(prefix="tokex-bench-replay-"))
    try:
        data = root / "data"
        _sequence(data, _commands(commands, seed), "off")
        rows: list[dict[str, Any]] = []
        for r in range(rounds):
            for python, build in configs if r % 2 == 0 else configs[::-1]:
                row = _run(python, build, data)
                rows.append({"python": python, "build": build, "round": r, **row})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    hashes = {row["state_hash"] for row in rows}
    if len(hashes) != 1:
        raise RuntimeError(f"the replays ended in {len(hashes)} different states: {hashes}")
    results = []
    for python, build in configs:
        mine = [row for row in rows if (row["python"], row["build"]) == (python, build)]
        results.append(
            {
                "python": python,
                "build": build,
                **{k: _summary([m[k] for m in mine]) for k in ("replay", "replay_cpu", "decode")},
                "process": _summary([m["process"] for m in mine]),
            }
        )
    loads = [row["load_1min"] for row in rows]
    return {
        "workload": "replay",
        "commands": commands,
        "rounds": rounds,
        "seed": seed,
        "state_hash": hashes.pop(),
        "open_orders": rows[0]["open_orders"],
        "results": results,
        "load_1min_range": [round(min(loads), 2), round(max(loads), 2)],
        "runs": rows,
        "machine": machine(),
    }


def _k(v: int) -> str:
    return f"{round(v / 1000):,}k"


def print_replay(report: dict[str, Any]) -> None:
    print(
        f"replay from the genesis: {report['commands']:,} records, {report['rounds']} rounds, "
        f"each run a fresh process (load {report['load_1min_range'][0]}-"
        f"{report['load_1min_range'][1]}); {report['open_orders']:,} open orders at the end, "
        f"one state hash {report['state_hash'][:16]}"
    )
    for r in report["results"]:
        rep, dec = r["replay"], r["decode"]
        print(
            f"  {r['python']} ({r['build']}): {_k(rep['median'])} [{_k(rep['min'])}-"
            f"{_k(rep['max'])}] records/s; read and decode alone {_k(dec['median'])}"
        )


def _cmd_replay(args: argparse.Namespace) -> None:
    if args.commands < 1 or args.rounds < 1:
        raise SystemExit("--commands and --rounds must be at least 1")
    pythons = [sys.executable, *(args.python or [])]
    for python in pythons[1:]:
        if not Path(python).is_file():
            raise SystemExit(f"--python {python}: no such interpreter")
    report = replay_report(args.commands, args.rounds, args.seed, pythons, args.pure)
    print_replay(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


def add_replay_parser(sub: Any) -> None:
    p = sub.add_parser("replay", help="replay from the genesis, a fresh process per run")
    p.add_argument("--commands", type=int, default=500_000, help="records in the journal")
    p.add_argument("--rounds", type=int, default=5, help="rounds (each build once a round)")
    p.add_argument("--seed", type=int, default=1, help="workload seed")
    p.add_argument("--pure", action="store_true", help="also the pure build (TOKEX_PURE=1)")
    p.add_argument(
        "--python",
        action="append",
        help="another interpreter to compare (e.g. another worktree's .venv/bin/python)",
    )
    p.add_argument("--json", type=Path, help="write the report here")
    p.set_defaults(func=_cmd_replay)
