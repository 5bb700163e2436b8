"""``make bench`` (``python -m bench all``): every stage, several runs each, with progress.

A *stage* is one benchmark of the set (:data:`STAGES`, in order): engine
(the three workloads in-process), peers, recovery (with restarts against
journal length), ws, fix and settlement. Each writes one or more
``bench/results/<name>.json`` through :meth:`Context.write`, which adds the
``meta`` block (:func:`bench.meta.run_meta`: machine, Python, build, commit,
fsync policy, the stage's configuration, the machine's load while it ran,
the run id). When every stage is done, :mod:`bench.report` draws the plots
and rewrites the README's results section from the JSON alone.

Stages are a list others extend: :func:`register` appends a :class:`Stage`
(name, what it measures, how many progress units it plans, the function that
runs it). ``--only NAME`` and ``--skip NAME`` pick stages; ``--list`` prints them.

Sizes: :class:`Plan` holds the sizes of a run. The defaults keep a whole
``make bench`` near a quarter of an hour on a shared 2-core machine (every
stage still runs at least three times); ``--full`` takes BENCHMARKS.md's sizes
(200,000 commands, 5 runs, 5-second load steps, the open sweep).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.meta import Load, new_run_id, run_meta

__all__ = [
    "RESULTS",
    "STAGES",
    "Context",
    "Plan",
    "Progress",
    "Stage",
    "register",
    "run_suite",
]

RESULTS = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent.parent / "README.md"


@dataclass(frozen=True)
class Plan:
    """The sizes of one suite run (``make bench``: the defaults)."""

    commands: int = 100_000
    """Commands per engine and peers run."""
    runs: int = 3
    """Runs of every in-process figure (median and range reported)."""
    seed: int = 1
    instructions: int = 5_000
    """Commands for the callgrind instruction count of the peers (0: skip)."""
    recovery_commands: int = 500_000
    restart_commands: int = 200_000
    lifetimes: int = 4
    e2e_runs: int = 3
    """Runs of every end-to-end step (ws, fix, settlement)."""
    e2e_seconds: float = 3.0
    """Seconds of load per end-to-end step."""
    ws_rates: tuple[int, ...] = (1_000, 4_000, 10_000)
    ws_sweep_steps: int = 2
    """Steps the ws sweep may take per target (0: no sweep)."""
    fix_rates: tuple[int, ...] = (500, 2_000, 5_000)
    settlement_trades: int = 20_000
    settlement_rate: int = 2_000

    @classmethod
    def full(cls) -> Plan:
        """BENCHMARKS.md's sizes: longer, steadier figures (about an hour here)."""
        return cls(
            commands=200_000,
            runs=5,
            instructions=30_000,
            recovery_commands=1_000_000,
            restart_commands=600_000,
            lifetimes=12,
            e2e_seconds=5.0,
            ws_rates=(1_000, 2_500, 5_000, 10_000, 50_000),
            ws_sweep_steps=12,
            fix_rates=(1_000, 2_000, 5_000, 10_000),
            settlement_trades=50_000,
            settlement_rate=10_000,
        )

    @classmethod
    def smoke(cls) -> Plan:
        """Tiny sizes that only show every stage works end to end (tests; seconds, not minutes)."""
        return cls(
            commands=2_000,
            runs=1,
            instructions=0,
            recovery_commands=5_000,
            restart_commands=4_000,
            lifetimes=2,
            e2e_runs=1,
            e2e_seconds=1.0,
            ws_rates=(200,),
            ws_sweep_steps=1,
            fix_rates=(200,),
            settlement_trades=200,
            settlement_rate=200,
        )


class Progress:
    """Where a long run is: a rich progress bar on a terminal, plain lines otherwise.

    ``total`` units are planned; stages call :meth:`advance` as units finish
    and :meth:`stage` when they start. Without a terminal (CI, a log file)
    every change is one printed line, so a log still shows what is left.
    """

    def __init__(self, total: int, plain: bool | None = None) -> None:
        self.total = max(1, total)
        self.done = 0
        self.t0 = time.monotonic()
        self._label = ""
        self.plain = not sys.stderr.isatty() if plain is None else plain
        self._rich: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if not self.plain:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                redirect_stdout=True,
                redirect_stderr=True,
            )
            self._rich.__enter__()
            self._task = self._rich.add_task("bench", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.__exit__(*exc)

    def stage(self, label: str) -> None:
        self._label = label
        self._show()

    def advance(self, what: str = "", units: int = 1) -> None:
        self.done = min(self.total, self.done + units)
        self._show(what)

    def _show(self, what: str = "") -> None:
        text = f"{self._label}: {what}" if what else self._label
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done, description=text)
            return
        elapsed = time.monotonic() - self.t0
        print(
            f"[bench {self.done}/{self.total} units, {elapsed / 60:.1f} min] {text}",
            file=sys.stderr,
            flush=True,
        )


@dataclass
class Context:
    """What a running stage gets: the plan, the run id, progress, and where results go."""

    plan: Plan
    run_id: str
    progress: Progress
    results: Path = RESULTS
    written: list[Path] = field(default_factory=list)

    def write(
        self,
        name: str,
        report: dict[str, Any],
        *,
        stage: str,
        fsync: str,
        config: dict[str, Any],
        load: Load,
        started: datetime,
    ) -> Path:
        """Write ``report`` with its ``meta`` block to ``results/<name>.json``."""
        report = dict(report)
        report["meta"] = run_meta(
            run_id=self.run_id,
            stage=stage,
            fsync=fsync,
            config=config,
            load=load.stop(),
            started=started,
        )
        self.results.mkdir(parents=True, exist_ok=True)
        path = self.results / f"{name}.json"
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        self.written.append(path)
        return path


@dataclass(frozen=True)
class Stage:
    """One benchmark of the set.

    ``units(plan)``: progress units it will report (each :meth:`Progress.advance`);
    ``run(ctx)``: measures and writes its results with :meth:`Context.write`.
    ``needs()``, if given, returns why the stage cannot run here (a missing
    tool), or None; such a stage is reported as skipped, not failed.
    """

    name: str
    what: str
    units: Callable[[Plan], int]
    run: Callable[[Context], None]
    needs: Callable[[], str | None] | None = None


STAGES: list[Stage] = []


def register(stage: Stage) -> Stage:
    """Add ``stage`` to :data:`STAGES` (replacing one of the same name); returns it."""
    for i, known in enumerate(STAGES):
        if known.name == stage.name:
            STAGES[i] = stage
            return stage
    STAGES.append(stage)
    return stage


def _pick(only: list[str] | None, skip: list[str] | None) -> list[Stage]:
    names = [s.name for s in STAGES]
    for name in (only or []) + (skip or []):
        if name not in names:
            raise SystemExit(f"stage {name!r}: unknown; stages: {', '.join(names)}")
    return [s for s in STAGES if (not only or s.name in only) and s.name not in (skip or [])]


def run_suite(
    plan: Plan,
    *,
    only: list[str] | None = None,
    skip: list[str] | None = None,
    results: Path = RESULTS,
    plain: bool | None = None,
) -> dict[str, Any]:
    """Run the chosen stages in order; a summary of what ran, was skipped, took how long."""
    from bench import stages as _stages  # noqa: F401  (registers the built-in stages)

    stages = _pick(only, skip)
    run_id = new_run_id()
    summary: dict[str, Any] = {"run_id": run_id, "plan": asdict(plan), "stages": {}}
    total = sum(s.units(plan) for s in stages)
    t0 = time.monotonic()
    with Progress(total, plain) as progress:
        ctx = Context(plan, run_id, progress, results)
        for stage in stages:
            why = stage.needs() if stage.needs else None
            if why is not None:
                progress.stage(f"{stage.name} skipped ({why})")
                progress.advance(units=stage.units(plan))
                summary["stages"][stage.name] = {"skipped": why}
                continue
            progress.stage(f"{stage.name} ({stage.what})")
            before = progress.done
            s0 = time.monotonic()
            stage.run(ctx)
            # Whatever a stage did not report (a stopped sweep) still counts as done.
            progress.advance(units=max(0, before + stage.units(plan) - progress.done))
            summary["stages"][stage.name] = {"seconds": round(time.monotonic() - s0, 1)}
    summary["seconds"] = round(time.monotonic() - t0, 1)
    summary["written"] = [str(p.relative_to(results)) for p in ctx.written]
    return summary


def add_all_parser(sub: Any) -> None:
    """Register ``all`` (what ``make bench`` runs) on the ``python -m bench`` subparsers."""
    p = sub.add_parser("all", help="every stage, several runs each; results, plots and README")
    p.add_argument("--only", action="append", help="run only this stage (repeatable)")
    p.add_argument("--skip", action="append", help="skip this stage (repeatable)")
    p.add_argument("--list", action="store_true", help="list the stages and exit")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="BENCHMARKS.md's sizes (about an hour)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: does every stage work?")
    p.add_argument("--runs", type=int, help="runs of every figure (default 3)")
    p.add_argument("--commands", type=int, help="commands per engine run (default 100,000)")
    p.add_argument("--seconds", type=float, help="seconds per end-to-end step (default 3)")
    p.add_argument("--results", type=Path, default=RESULTS, help="results folder")
    p.add_argument("--no-readme", action="store_true", help="leave README.md and plots alone")
    p.add_argument("--readme", type=Path, default=README, help="the README to rewrite")
    p.add_argument("--plain", action="store_true", help="progress as lines, no bar")
    p.set_defaults(func=_cmd_all)


def _cmd_all(args: argparse.Namespace) -> None:
    from bench import stages as _stages  # noqa: F401

    plan = Plan.full() if args.full else Plan.smoke() if args.smoke else Plan()
    if args.list:
        for s in STAGES:
            print(f"{s.name:<12} {s.units(plan):>3} units  {s.what}")
        return
    if args.runs is not None:
        if args.runs < 1:
            raise SystemExit(f"--runs {args.runs}: must be at least 1")
        plan = replace(plan, runs=args.runs, e2e_runs=args.runs)
    if args.commands is not None:
        if args.commands < 1:
            raise SystemExit(f"--commands {args.commands}: must be at least 1")
        plan = replace(plan, commands=args.commands)
    if args.seconds is not None:
        if args.seconds <= 0:
            raise SystemExit(f"--seconds {args.seconds}: must be positive")
        plan = replace(plan, e2e_seconds=args.seconds)
    summary = run_suite(
        plan,
        only=args.only,
        skip=args.skip,
        results=args.results,
        plain=True if args.plain else None,
    )
    print(f"bench: run {summary['run_id']} took {summary['seconds'] / 60:.1f} min")
    for name, entry in summary["stages"].items():
        said = f"skipped: {entry['skipped']}" if "skipped" in entry else f"{entry['seconds']} s"
        print(f"  {name:<12} {said}")
    if not args.no_readme:
        from bench.report import regenerate

        for line in regenerate(args.results, args.readme):
            print(line)
