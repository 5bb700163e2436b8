"""``python -m bench window``: callgrind's counts for a window of commands after a warm-up.

``bench peers`` and ``bench builds`` count instructions over a whole run,
from an empty book. xstocks' steady state is another matter: by the
30,000th command the books, the order indexes and the sessions are full and
the run is in extended hours, and a change that helps there may not show in
the first thousands. This stage runs a workload's first ``--warm`` commands
uncounted and counts only the rest, in a fresh process under valgrind's
callgrind for each build (``TOKEX_PURE=1`` for the pure one), the two side
by side (counts do not depend on what runs beside them):

* the window runs as ``collections.deque(map(engine.process, window),
  maxlen=0)`` and callgrind collects only inside the deque's
  ``consume_iterator`` (``--toggle-collect``), so the count is the engine's
  commands and the freeing of their events, and nothing of the workload's
  generator, the warm-up or the interpreter's start;
* with ``--cache``, callgrind's cache simulation gives the window's data
  misses: first level (``--d1``, by default this machine's 48 KiB, 12-way)
  and last level (``--ll``, by default 1 MiB, 16-way: the second-level
  cache of one core here, so a "last-level" miss is one that goes past it);
* ``--until N`` ends the window after the Nth command instead of the last
  (the rest is generated but not run). xstocks' clock puts its 16:00 close
  40% of the way into the run, so commands 30,001-40,000 of 40,000 are in
  extended hours; ``--commands 100000 --warm 20000 --until 30000`` counts
  regular hours (the rolling reference, the band-edge watch and the
  volatility rules run only then), with the books as full as at 30,000;
* ``PYTHONHASHSEED=0`` keeps dict layouts, and so the counts, repeatable;
* each child prints its engine's ``state_hash`` after the window, and the
  two builds must end in the same state.

Figures are per command of the window. The method is the one the README's
"after a warm-up" rows use (docs/MATCHING.md, "What stands between").
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.measure import machine
from bench.meta import build_env
from bench.workloads import WORKLOADS, bench_engine, to_commands
from bench.xstocks import xstocks
from engine.engine import Engine
from model.commands import Command

__all__ = ["add_window_parser", "window_child", "window_report"]

BUILDS = ("compiled", "pure")
# The C function callgrind collects inside: the deque's loop over the window.
TOGGLE = "consume_iterator"
D1 = "49152,12,64"
LL = "1048576,16,64"

_COLLECTED = re.compile(r"Collected\s*:\s*([\d,]+)")
_MISSES = {
    "d1": re.compile(r"D1\s+misses:\s+[\d,]+\s+\(\s*([\d,]+) rd\s*\+\s*([\d,]+) wr\)"),
    "ll": re.compile(r"LLd misses:\s+[\d,]+\s+\(\s*([\d,]+) rd\s*\+\s*([\d,]+) wr\)"),
}


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _workload(name: str, commands: int, seed: int) -> tuple[list[Command], Callable[[], Engine]]:
    if name == "xstocks":
        return xstocks(commands, seed)
    if name not in WORKLOADS:
        known = ", ".join(sorted((*WORKLOADS, "xstocks")))
        raise SystemExit(f"--workload {name!r}: unknown; known workloads: {known}")
    return to_commands(WORKLOADS[name](commands, seed)), bench_engine


def window_child(
    name: str, commands: int, warm: int, seed: int, until: int | None = None
) -> dict[str, Any]:
    """Run ``name``'s first ``warm`` commands, then the rest (up to the
    ``until``th, if given) through the deque that callgrind collects in; the
    window's size and the final state hash."""
    from model import build

    cmds, make = _workload(name, commands, seed)
    engine = make()
    process = engine.process
    for c in cmds[:warm]:
        process(c)
    window = cmds[warm:until]
    gc.collect()
    collections.deque(map(process, window), maxlen=0)
    return {
        "build": "compiled" if build.COMPILED else "pure",
        "window": len(window),
        "state_hash": engine.state_hash(),
    }


def _count(build: str, args: argparse.Namespace) -> dict[str, Any]:
    env = build_env(build, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    cmd += ["--collect-atstart=no", f"--toggle-collect={TOGGLE}"]
    if args.cache:
        cmd += ["--cache-sim=yes", f"--D1={args.d1}", f"--LL={args.ll}"]
    cmd += [sys.executable, "-m", "bench", "window", "--child", "--workload", args.workload]
    cmd += ["--commands", str(args.commands), "--warm", str(args.warm), "--seed", str(args.seed)]
    cmd += ["--until", str(_until(args))]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    collected = _COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or collected is None:
        raise SystemExit(f"callgrind of the {build} build failed:\n{proc.stderr[-3000:]}")
    child: dict[str, Any] = json.loads(proc.stdout)
    if child["build"] != build:
        raise SystemExit(f"asked for the {build} build, the child ran the {child['build']} one")
    n = child["window"]
    instructions = _int(collected.group(1))
    if not instructions:
        raise SystemExit(f"callgrind collected nothing: no call of {TOGGLE} in this Python?")
    out: dict[str, Any] = {
        "build": build,
        "instructions": instructions,
        "instructions_per_command": round(instructions / n),
        "state_hash": child["state_hash"],
    }
    if args.cache:
        for level, pattern in _MISSES.items():
            found = pattern.search(proc.stderr)
            if found is None:
                raise SystemExit(f"callgrind printed no {level} misses:\n{proc.stderr[-3000:]}")
            reads, writes = _int(found.group(1)), _int(found.group(2))
            out[f"{level}_read_misses_per_command"] = round(reads / n, 1)
            out[f"{level}_write_misses_per_command"] = round(writes / n, 1)
    return out


def _until(args: argparse.Namespace) -> int:
    """The command the window ends after: ``--until``, or the last one."""
    return args.commands if args.until is None else int(args.until)


def window_report(args: argparse.Namespace) -> dict[str, Any]:
    """Both builds' counts for the window, side by side."""
    if shutil.which("valgrind") is None:
        raise SystemExit("bench window needs valgrind on PATH (Debian package valgrind)")
    if not 0 <= args.warm < args.commands:
        raise SystemExit(
            f"--warm {args.warm}: must be at least 0 and below --commands ({args.commands})"
        )
    until = _until(args)
    if not args.warm < until <= args.commands:
        raise SystemExit(
            f"--until {args.until}: must be above --warm ({args.warm})"
            f" and at most --commands ({args.commands})"
        )
    with ThreadPoolExecutor(max_workers=len(BUILDS)) as pool:
        builds = list(pool.map(lambda b: _count(b, args), BUILDS))
    hashes = {b["state_hash"] for b in builds}
    if len(hashes) != 1:
        raise SystemExit(f"the builds end in different states: {builds}")
    return {
        "workload": args.workload,
        "commands": args.commands,
        "warm": args.warm,
        "until": until,
        "window": until - args.warm,
        "seed": args.seed,
        "method": (
            f"valgrind --tool=callgrind --collect-atstart=no --toggle-collect={TOGGLE}"
            + (f" --cache-sim=yes --D1={args.d1} --LL={args.ll}" if args.cache else "")
            + "; PYTHONHASHSEED=0; per command of the window"
        ),
        "builds": builds,
        "python": platform.python_version(),
        "machine": machine(),
    }


def _print(report: dict[str, Any]) -> None:
    print(
        f"{report['workload']}: commands {report['warm'] + 1:,}-{report['until']:,} "
        f"of {report['commands']:,}, after a warm-up of {report['warm']:,} "
        f"(seed {report['seed']}), Python {report['python']}"
    )
    for b in report["builds"]:
        line = f"  {b['build']:>8}: {b['instructions_per_command']:,} instructions a command"
        if "ll_read_misses_per_command" in b:
            line += (
                f"; misses a command: first level {b['d1_read_misses_per_command']} read,"
                f" {b['d1_write_misses_per_command']} write; last level"
                f" {b['ll_read_misses_per_command']} read, {b['ll_write_misses_per_command']} write"
            )
        print(line)
    print(f"  state hash (both builds) {report['builds'][0]['state_hash'][:16]}...")


def _cmd_window(args: argparse.Namespace) -> None:
    if args.child:
        print(
            json.dumps(
                window_child(args.workload, args.commands, args.warm, args.seed, _until(args))
            )
        )
        return
    report = window_report(args)
    _print(report)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def add_window_parser(sub: Any) -> None:
    """Register ``window`` on the harness's subcommands."""
    p = sub.add_parser(
        "window", help="callgrind counts for the commands after a warm-up, both builds"
    )
    p.add_argument("--workload", default="xstocks", help="peer-flow|ecore-mix|xstocks")
    p.add_argument("--commands", type=int, default=40_000, help="commands in all")
    p.add_argument("--warm", type=int, default=30_000, help="commands run before counting")
    p.add_argument("--seed", type=int, default=1, help="workload seed")
    p.add_argument(
        "--until", type=int, help="the command the window ends after (default: the last)"
    )
    p.add_argument("--cache", action="store_true", help="simulate the caches too (slower)")
    p.add_argument("--d1", default=D1, help="first-level data cache: size,ways,line bytes")
    p.add_argument("--ll", default=LL, help="last-level cache: size,ways,line bytes")
    p.add_argument("--json", type=Path, help="write the report here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_window)
