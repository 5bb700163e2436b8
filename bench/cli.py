"""``python -m bench``: the benchmark harness's command line.

* ``engine --workload NAME --commands N [--runs R] [--json OUT]``: tokex's
  engine in-process (no I/O), throughput and latency percentiles.
* ``peers [--commands N] [--runs R] [--no-py312] [--no-pure312] [--xstocks N] [--json OUT]``:
  the same peer-flow ops through tokex (on the harness's Python, and on
  Python 3.12 compiled and pure) and the peers (each in its own venv where
  it needs one), run in interleaved rounds so drifting machine load hits all
  of them alike; prints the ratios, and at equal interpreter versions.
* ``recovery [--commands N] [--runs R] [--json OUT]``: journal append per
  fsync policy, replay from the journal, snapshot plus tail (bench/recovery.py).
* ``ws [--clients C] [--rate R] [--seconds S] [--sweep] [--json OUT]``: order
  entry end to end against a real ``tokex serve`` and matching-engine's HTTP
  gateway, open-loop at fixed offered rates (bench/ws.py).
* ``fix [--clients C] [--rate R] [--seconds S] [--runs N] [--sweep] [--json OUT]``:
  order entry end to end through tokex's FIX gateway and its WebSocket gateway
  in the same run, medians over runs (bench/fix.py).
* ``builds [--workload W] [--rounds R] [--instructions N] [--json OUT]``: the
  compiled and the pure engine build in interleaved rounds (bench/builds.py).
* ``memory [--orders N] [--json OUT]``: RSS per resting order at N resting
  orders, for each build (bench/memory.py).
* ``window [--workload W] [--commands N] [--warm K] [--cache] [--json OUT]``:
  callgrind's instructions (and with ``--cache`` simulated misses) per
  command for the commands after a warm-up of K, both builds
  (bench/window.py).
* ``all`` (``make bench``): every stage of :mod:`bench.suite` (engine, peers,
  recovery, ws, fix, settlement), several runs each, with a progress bar; JSON
  into ``bench/results/``, then ``report``.
* ``report``: the plots and the README's results section from the JSON
  (:mod:`bench.report`).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.builds import add_builds_parser
from bench.fix import add_fix_parser
from bench.instructions import instructions_per_command, valgrind_available
from bench.measure import machine, measure_engine
from bench.memory import add_memory_parser
from bench.microcompare import add_micro_parser
from bench.peers.run import PEERS, prepare, run_peer, run_runner
from bench.recovery import print_recovery, recovery_report
from bench.replay import add_replay_parser
from bench.settlement import add_settlement_parser
from bench.suite import add_all_parser
from bench.window import add_window_parser
from bench.workloads import WORKLOADS, bench_engine, to_commands
from bench.ws import add_ws_parser
from bench.xstocks import xstocks

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results"
TOKEX_RUNNER = Path(__file__).resolve().parent / "peers" / "runner_tokex.py"
# tokex on the harness's own Python, named as its runner names itself.
TOKEX = f"tokex-py{sys.version_info[0]}.{sys.version_info[1]}"
# Workloads of the engine alone: the peers' op lists plus tokex's own xstocks.
ENGINE_WORKLOADS = (*WORKLOADS, "xstocks")


def _engine_report(
    workload: str,
    commands: int,
    runs: int,
    seed: int,
    on_run: Callable[[], None] | None = None,
) -> dict[str, Any]:
    if workload not in ENGINE_WORKLOADS:
        known = ", ".join(sorted(ENGINE_WORKLOADS))
        raise SystemExit(f"--workload {workload!r}: unknown; known workloads: {known}")
    # Only the commands stay alive while measuring: they are gc=False structs,
    # so the harness adds nothing to the engine's garbage collections.
    if workload == "xstocks":
        cmds, make = xstocks(commands, seed)
        report = measure_engine(make, cmds, runs, workload, on_run=on_run)
    else:
        cmds = to_commands(WORKLOADS[workload](commands, seed))
        report = measure_engine(bench_engine, cmds, runs, workload, on_run=on_run)
    report["seed"] = seed
    return report


def _write_json(path: Path | None, report: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _fmt_rate(x: float) -> str:
    return f"{x / 1000:,.0f}k"


def _print_engine(report: dict[str, Any]) -> None:
    lat = report["latency_ns"]
    lo, hi = report["throughput_range"]
    print(
        f"{report['workload']}: {report['commands']:,} commands x {report['runs']} runs on "
        f"Python {report['python']}\n"
        f"  throughput {_fmt_rate(report['throughput_cmd_s'])} cmd/s "
        f"(range {_fmt_rate(lo)}-{_fmt_rate(hi)})\n"
        f"  latency p50 {lat['p50']:,} ns  p99 {lat['p99']:,} ns  "
        f"p99.9 {lat['p999']:,} ns  max {lat['max']:,} ns"
    )


def _cmd_engine(args: argparse.Namespace) -> None:
    report = _engine_report(args.workload, args.commands, args.runs, args.seed)
    _print_engine(report)
    _write_json(args.json, report)


#: tokex on Python 3.12 in the peers' venv: its compiled core, then its pure build.
PY312_ROWS = ("tokex-py3.12", "tokex-py3.12-pure")


def peers_engines(with_py312: bool, with_pure312: bool = True) -> list[str]:
    """The engines the peers report measures side by side, in report order: tokex first.

    tokex on the harness's Python, then on Python 3.12 (compiled; and pure
    unless ``with_pure312`` is false), then the peers. A 3.12 row is left
    out where the harness's own row already is it.
    """
    py312 = [
        name
        for name in PY312_ROWS
        if with_py312 and name != TOKEX and (with_pure312 or not name.endswith("-pure"))
    ]
    return [TOKEX, *py312, *PEERS]


def _instruction_counts(engines: list[str], commands: int, seed: int) -> dict[str, int]:
    """Instructions per command of each engine on ``commands`` peer-flow ops (callgrind)."""
    ops_path = RESULTS / "peer-flow-count-ops.json.tmp"
    ops = WORKLOADS["peer-flow"](commands, seed)
    ops_path.write_text(json.dumps({"workload": "peer-flow", "ops": ops}), encoding="utf-8")
    try:
        counts = {}
        for name in engines:
            counts[name] = instructions_per_command(name, ops_path, commands)
            print(f"{name}: {counts[name]:,} instructions/command", file=sys.stderr)
        return counts
    finally:
        ops_path.unlink(missing_ok=True)


def _python(version: object) -> str:
    return ".".join(str(version).split(".")[:2])


def equal_python_ratios(
    table: dict[str, Any], own: str, key: str = "throughput_cmd_s", fewer: bool = False
) -> dict[str, dict[str, Any]]:
    """For each peer on another Python than ``own``: tokex's rows on the peer's Python.

    ``{peer: {"tokex": name, "build": kind, "ratio": r}}`` for the first
    compiled tokex row on that Python (the equal-interpreter ratio), with the
    pure row's beside it (``"pure"``) when it was measured. ``ratio`` is
    tokex over the peer for ``key`` in ``table``'s rows, or the peer over
    tokex when ``fewer`` (instructions: how many times fewer tokex runs).
    """
    out: dict[str, dict[str, Any]] = {}
    tokex = [n for n in table if n.startswith("tokex-")]
    for peer, row in table.items():
        if peer in tokex or _python(row["python"]) == _python(table[own]["python"]):
            continue
        same = [
            n for n in tokex if n != own and _python(table[n]["python"]) == _python(row["python"])
        ]

        def ratio(name: str, peer_value: float = row[key]) -> float:
            ours = float(table[name][key])
            return round(peer_value / ours if fewer else ours / peer_value, 2)

        compiled = [n for n in same if not n.endswith("-pure")]
        pure = [n for n in same if n.endswith("-pure")]
        if compiled:
            out[peer] = {"tokex": compiled[0], "build": "compiled", "ratio": ratio(compiled[0])}
        if pure:
            entry = {"tokex": pure[0], "build": "pure", "ratio": ratio(pure[0])}
            if peer in out:
                out[peer]["pure"] = entry
            else:
                out[peer] = entry
    return out


def _peers_report(
    commands: int,
    runs: int,
    seed: int,
    with_py312: bool,
    count: int,
    on_run: Callable[[str], None] | None = None,
    with_pure312: bool = True,
    xstocks_commands: int = 0,
) -> dict[str, Any]:
    ops = WORKLOADS["peer-flow"](commands, seed)
    RESULTS.mkdir(parents=True, exist_ok=True)
    ops_path = RESULTS / "peer-flow-ops.json.tmp"
    ops_path.write_text(json.dumps({"workload": "peer-flow", "ops": ops}), encoding="utf-8")
    # tokex's xstocks (--xstocks), timed in every round after the peers: its
    # target is the peer's peer-flow rate, measured side by side.
    x_path = RESULTS / "xstocks-ops.json.tmp"
    x_rates: list[float] = []
    x_latency: Any = None
    if xstocks_commands:
        doc = {"workload": "xstocks", "commands": xstocks_commands, "seed": seed}
        x_path.write_text(json.dumps(doc), encoding="utf-8")
    # tokex runs in a fresh process of its own, as every peer does, so no
    # engine shares a heap (and garbage collections) with the harness.
    own = TOKEX
    engines = peers_engines(with_py312, with_pure312)
    rates: dict[str, list[float]] = {name: [] for name in engines}
    latency: dict[str, Any] = {}
    info: dict[str, dict[str, Any]] = {}
    try:
        for name in engines[1:]:
            prepare(name)  # venvs and the 3.12 core, before any round is timed
        for round_ in range(runs):
            last = round_ == runs - 1
            for name in rates:
                if name == own:
                    rep = run_runner(
                        own, Path(sys.executable), TOKEX_RUNNER, ops_path, 1, latency=last
                    )
                else:
                    rep = run_peer(name, ops_path, 1, latency=last)
                rates[name].extend(float(x) for x in rep["throughput_cmd_s"])  # type: ignore[attr-defined]
                if last:
                    latency[name] = rep["latency_ns"]
                    info[name] = {"python": rep["python"], "version": rep["version"]}
                    if "build" in rep:
                        info[name]["build"] = rep["build"]
                if on_run is not None:
                    on_run(name)
            if xstocks_commands:
                rep = run_runner(own, Path(sys.executable), TOKEX_RUNNER, x_path, 1, latency=last)
                x_rates.extend(float(x) for x in rep["throughput_cmd_s"])  # type: ignore[attr-defined]
                if last:
                    x_latency = rep["latency_ns"]
            print(f"round {round_ + 1}/{runs} done", file=sys.stderr)
    finally:
        ops_path.unlink(missing_ok=True)
        x_path.unlink(missing_ok=True)
    table = {}
    for name, xs in rates.items():
        table[name] = {
            **info[name],
            "throughput_cmd_s": round(statistics.median(xs)),
            "throughput_range": [round(min(xs)), round(max(xs))],
            "latency_ns": latency[name],
        }
    peers = [p for p in engines if not p.startswith("tokex-")]
    # Every peer against tokex on the harness's Python; and, for a peer on
    # another Python (matching-engine needs 3.12), against tokex on that one.
    ratios = {
        p: {
            "tokex": own,
            "ratio": round(table[own]["throughput_cmd_s"] / table[p]["throughput_cmd_s"], 2),
        }
        for p in peers
    }
    instructions: dict[str, Any] = {}
    if count and valgrind_available():
        per = _instruction_counts(engines, count, seed)
        counted = {n: {"python": table[n]["python"], "n": per[n]} for n in engines}
        instructions = {
            "commands": count,
            "per_command": per,
            "tokex_ratio": {p: {"tokex": own, "ratio": round(per[p] / per[own], 2)} for p in peers},
            "equal_python_ratio": equal_python_ratios(counted, own, "n", fewer=True),
        }
    report = {
        "workload": "peer-flow",
        "commands": commands,
        "runs": runs,
        "seed": seed,
        "engines": table,
        "tokex_ratio": ratios,
        "equal_python_ratio": equal_python_ratios(table, own),
        "instructions": instructions,
        "python": platform.python_version(),
        "machine": machine(),
    }
    if xstocks_commands:
        report["xstocks"] = xstocks_row(
            xstocks_commands, x_rates, x_latency, {p: rates[p] for p in peers}
        )
    return report


def xstocks_row(
    commands: int,
    x_rates: list[float],
    latency: Any,
    peer_rates: dict[str, list[float]],
) -> dict[str, Any]:
    """tokex's xstocks rate in ``bench peers``' rounds, against each peer's peer-flow.

    ``x_rates`` and each of ``peer_rates`` hold one rate a round, in round
    order. The ratio is the medians' (as the table's ratios are); the ratio
    of each round (the two timed in the same round) and its median show the
    spread.
    """
    if not x_rates or any(len(xs) != len(x_rates) for xs in peer_rates.values()):
        raise ValueError(f"one xstocks rate a round and one peer rate a round: {peer_rates}")
    mid = statistics.median(x_rates)
    against = {}
    for peer, xs in peer_rates.items():
        rounds = [x / y for x, y in zip(x_rates, xs, strict=True)]
        against[peer] = {
            "ratio": round(mid / statistics.median(xs), 2),
            "round_ratios": [round(r, 2) for r in rounds],
            "round_ratio_median": round(statistics.median(rounds), 2),
        }
    return {
        "commands": commands,
        "throughput_cmd_s": round(mid),
        "throughput_range": [round(min(x_rates)), round(max(x_rates))],
        "latency_ns": latency,
        "against_peer_flow": against,
    }


def _ratio_text(pair: dict[str, Any] | None, same: dict[str, Any] | None, word: str) -> str:
    parts = [f"{pair['tokex']} {word} {pair['ratio']}x"] if pair else []
    if same:
        parts.append(f"same Python: {same['tokex']} {word} {same['ratio']}x")
        if "pure" in same:
            parts.append(f"{same['pure']['tokex']} {same['pure']['ratio']}x")
    return "; ".join(parts)


def _print_peers(report: dict[str, Any]) -> None:
    print(
        f"peer-flow: {report['commands']:,} commands, {report['runs']} interleaved rounds, "
        f"{report['machine']}"
    )
    print(
        f"  {'engine':<19}{'build':<10}{'python':<9}{'median cmd/s':>14}{'range':>18}"
        f"{'p99 ns':>10}  ratio"
    )
    same = report.get("equal_python_ratio", {})
    for name, row in report["engines"].items():
        lo, hi = row["throughput_range"]
        p99 = row["latency_ns"]["p99"] if row["latency_ns"] else 0
        kind = row.get("build", {}).get("kind", "-")
        print(
            f"  {name:<19}{kind:<10}{row['python']:<9}{_fmt_rate(row['throughput_cmd_s']):>14}"
            f"{_fmt_rate(lo) + '-' + _fmt_rate(hi):>18}{p99:>10,}  "
            + _ratio_text(report["tokex_ratio"].get(name), same.get(name), "is")
        )
    instr = report.get("instructions")
    if instr:
        print(f"  instructions per command (callgrind, {instr['commands']:,} commands):")
        same = instr.get("equal_python_ratio", {})
        for name, n in instr["per_command"].items():
            text = _ratio_text(instr["tokex_ratio"].get(name), same.get(name), "uses fewer by")
            print(f"  {name:<19}{n:>10,}  {text}")
    x = report.get("xstocks")
    if x:
        lo, hi = x["throughput_range"]
        print(
            f"  {TOKEX + ' xstocks':<28}{_fmt_rate(x['throughput_cmd_s']):>23}"
            f"{_fmt_rate(lo) + '-' + _fmt_rate(hi):>18}  ({x['commands']:,} commands a round)"
        )
        for peer, r in x["against_peer_flow"].items():
            print(
                f"    against {peer}'s peer-flow: {r['ratio']}x (each round: "
                + ", ".join(f"{v}x" for v in r["round_ratios"])
                + f"; median {r['round_ratio_median']}x)"
            )


def _xstocks_commands(text: str) -> int:
    """``--xstocks``: a whole number of commands, 0 (off) or at least 1,000."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a whole number of commands") from None
    if n != 0 and n < 1_000:
        raise argparse.ArgumentTypeError(f"{n}: must be 0 (off) or at least 1,000 commands")
    return n


def _cmd_peers(args: argparse.Namespace) -> None:
    report = _peers_report(
        args.commands,
        args.runs,
        args.seed,
        not args.no_py312,
        args.instructions,
        with_pure312=not args.no_pure312,
        xstocks_commands=args.xstocks,
    )
    _print_peers(report)
    _write_json(args.json, report)


def _cmd_recovery(args: argparse.Namespace) -> None:
    report = recovery_report(
        args.commands, args.runs, args.seed, args.restart_commands, args.lifetimes
    )
    print_recovery(report)
    _write_json(args.json, report)


def _cmd_report(args: argparse.Namespace) -> None:
    from bench.report import regenerate

    for line in regenerate(args.results, args.readme):
        print(line)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse ``argv`` and run one benchmark command."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)

    def common(p: argparse.ArgumentParser, commands: int, runs: int) -> None:
        p.add_argument("--commands", type=int, default=commands, help="commands per run")
        p.add_argument("--runs", type=int, default=runs, help="timed runs (median reported)")
        p.add_argument("--seed", type=int, default=1, help="workload seed")

    p_engine = sub.add_parser("engine", help="tokex's engine in-process on one workload")
    p_engine.add_argument("--workload", required=True, help="|".join(ENGINE_WORKLOADS))
    p_engine.add_argument("--json", type=Path, help="write the report here")
    common(p_engine, 200_000, 5)
    p_engine.set_defaults(func=_cmd_engine)

    p_peers = sub.add_parser("peers", help="tokex and the peers on the same peer-flow ops")
    p_peers.add_argument("--json", type=Path, help="write the report here")
    p_peers.add_argument(
        "--no-py312", action="store_true", help="skip tokex on Python 3.12 (both builds)"
    )
    p_peers.add_argument(
        "--no-pure312", action="store_true", help="skip tokex's pure build on Python 3.12"
    )
    p_peers.add_argument(
        "--xstocks",
        type=_xstocks_commands,
        default=0,
        metavar="N",
        help="also time tokex on xstocks (N commands) in every round, against the peers' "
        "peer-flow (0: not)",
    )
    p_peers.add_argument(
        "--instructions",
        type=int,
        default=30_000,
        help="commands for the callgrind instruction count (0: skip; needs valgrind)",
    )
    common(p_peers, 200_000, 5)
    p_peers.set_defaults(func=_cmd_peers)

    p_recovery = sub.add_parser("recovery", help="journal append, replay and snapshot recovery")
    p_recovery.add_argument("--json", type=Path, help="write the report here")
    p_recovery.add_argument(
        "--restart-commands", type=int, help="records over the restart lifetimes"
    )
    p_recovery.add_argument("--lifetimes", type=int, default=12, help="restart lifetimes (0: skip)")
    common(p_recovery, 1_000_000, 3)
    p_recovery.set_defaults(func=_cmd_recovery)

    add_ws_parser(sub)
    add_fix_parser(sub)
    add_settlement_parser(sub)
    add_builds_parser(sub)
    add_replay_parser(sub)
    add_memory_parser(sub)
    add_window_parser(sub)

    add_all_parser(sub)
    add_micro_parser(sub)
    p_report = sub.add_parser("report", help="plots and the README's results from the JSON")
    p_report.add_argument("--results", type=Path, default=RESULTS, help="results folder")
    p_report.add_argument(
        "--readme", type=Path, default=RESULTS.parent.parent / "README.md", help="README to rewrite"
    )
    p_report.set_defaults(func=_cmd_report)

    args = parser.parse_args(argv)
    if (getattr(args, "commands", 1) or 1) < 1 or (getattr(args, "runs", 1) or 1) < 1:
        parser.error("--commands and --runs must be at least 1")
    args.func(args)
