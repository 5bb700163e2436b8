"""``make bench-micro``: the hot functions' pytest-benchmark figures against a saved baseline.

``python -m bench micro-compare CURRENT [--baseline FILE] [--threshold 0.25] [--save]``

``CURRENT`` is the ``--benchmark-json`` file of a ``pytest bench/micro`` run.
Each benchmark's *minimum* round time (the round least disturbed by other work
on a shared machine) is compared with the baseline's; one that is more than
``--threshold`` slower is named, with both times and the change, and the exit
status is 1. The median is printed alongside, for the record. A benchmark
new since the baseline, or gone from it, is listed, not failed. ``--save``
makes ``CURRENT`` the baseline (``make bench-micro-baseline``): do that on
purpose, after a change that is meant to move a figure, and commit it.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

__all__ = ["BASELINE", "add_micro_parser", "compare"]

BASELINE = Path(__file__).resolve().parent / "micro" / "baseline.json"
THRESHOLD = 0.25


def _times(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {
        b["name"]: {"min": float(b["stats"]["min"]), "median": float(b["stats"]["median"])}
        for b in report["benchmarks"]
    }


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.2f} us"


def _origin(report: dict[str, Any]) -> str:
    commit = (report.get("commit_info") or {}).get("id") or "unknown commit"
    when = report.get("datetime", "unknown time")
    cpu = ((report.get("machine_info") or {}).get("cpu") or {}).get("brand_raw", "unknown CPU")
    return f"{commit[:10]} at {when} on {cpu}"


def compare(
    current: dict[str, Any], baseline: dict[str, Any], threshold: float = THRESHOLD
) -> tuple[list[str], list[str]]:
    """Lines to print and the names of the benchmarks that got slower than ``threshold``."""
    now, then = _times(current), _times(baseline)
    lines = [
        f"baseline: {_origin(baseline)}",
        f"this run: {_origin(current)}",
        f"{'benchmark':<40}{'baseline min':>16}{'now min':>14}{'change':>9}{'now median':>15}",
    ]
    slower = []
    for name in sorted(now):
        if name not in then:
            lines.append(f"{name:<40}{'(new)':>16}{_us(now[name]['min']):>14}")
            continue
        was, is_ = then[name]["min"], now[name]["min"]
        change = is_ / was - 1 if was > 0 else 0.0
        flag = ""
        if change > threshold:
            slower.append(name)
            flag = "  SLOWER"
        lines.append(
            f"{name:<40}{_us(was):>16}{_us(is_):>14}{change:>+9.0%}"
            f"{_us(now[name]['median']):>15}{flag}"
        )
    lines += [f"{name:<40}{'(gone from this run)':>30}" for name in sorted(set(then) - set(now))]
    base_cpu = ((baseline.get("machine_info") or {}).get("cpu") or {}).get("brand_raw")
    now_cpu = ((current.get("machine_info") or {}).get("cpu") or {}).get("brand_raw")
    if base_cpu and now_cpu and base_cpu != now_cpu:
        lines.append(
            f"note: the baseline was taken on another CPU ({base_cpu}, now {now_cpu}): "
            "save a baseline on this machine to compare like with like"
        )
    for name in slower:
        was, is_ = then[name]["min"], now[name]["min"]
        lines.append(
            f"{name} got slower: {_us(was)} -> {_us(is_)} ({is_ / was - 1:+.0%}; at most"
            f" {threshold:+.0%} allowed) against the baseline {_origin(baseline)}"
        )
    return lines, slower


def _cmd(args: argparse.Namespace) -> None:
    current = json.loads(args.current.read_text(encoding="utf-8"))
    if args.save:
        args.baseline.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.current, args.baseline)
        print(f"baseline saved: {args.baseline} ({len(current['benchmarks'])} benchmarks)")
        return
    if not args.baseline.exists():
        raise SystemExit(
            f"{args.baseline}: no baseline yet; save one with make bench-micro-baseline"
        )
    baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
    lines, slower = compare(current, baseline, args.threshold)
    for line in lines:
        print(line)
    if slower:
        raise SystemExit(
            f"bench-micro: {len(slower)} hot function(s) got slower than the baseline allows:"
            f" {', '.join(slower)}"
        )
    print(f"bench-micro: no benchmark more than {args.threshold:.0%} slower than the baseline")


def add_micro_parser(sub: Any) -> None:
    """Register ``micro-compare`` on the ``python -m bench`` subparsers."""
    p = sub.add_parser("micro-compare", help="pytest-benchmark results against the baseline")
    p.add_argument("current", type=Path, help="a pytest --benchmark-json file")
    p.add_argument("--baseline", type=Path, default=BASELINE, help="the saved baseline")
    p.add_argument(
        "--threshold", type=float, default=THRESHOLD, help="slower by more than this fails"
    )
    p.add_argument("--save", action="store_true", help="make CURRENT the baseline")
    p.set_defaults(func=_cmd)
