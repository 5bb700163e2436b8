"""``python -m bench fix``: order entry end to end through tokex's FIX and WebSocket gateways.

``python -m bench fix [--clients C] [--rate R ...] [--seconds S] [--runs N] [--sweep]
[--target both|tokex-fix|tokex] [--fix-gateway] [--json OUT]``

The method is ``bench ws``'s (:mod:`bench.ws`, BENCHMARKS.md "Harness"): each
step starts a fresh ``tokex serve`` (journal fsynced per batch, the FIX
session store fdatasynced per commit), ``--procs`` load-generator processes
send an open-loop schedule for ``S`` seconds from ``C`` clients at a fixed
offered rate, latency counts from each request's scheduled instant, and a
step is *held* when it achieves 95% of the offered rate with p99 ack under
5 ms, every request answered, no errors. The same order mix and the same
seeds go through both gateways:

* ``tokex-fix``: each client a FIX session (:mod:`bench.fixload`, a lean
  FIX client): NewOrderSingle and OrderCancelRequest; ``ack`` is the first
  ExecutionReport of the request, ``fill`` (the ``exec`` column) the first
  fill report of a marketable IOC;
* ``tokex``: each client a WebSocket connection, exactly as in ``bench ws``;
  ``exec`` is the first ``executions`` item of an order.

By default each target's server has the configuration its gateway needs:
the WebSocket steps run a server without FIX sessions (no FIX worker),
the FIX steps one with them (and an idle WebSocket worker beside the FIX
worker). ``--fix-gateway`` has the WebSocket steps' server run the FIX
gateway too (one more account, a market maker whose FIX session never logs
on): each gateway is then measured beside the other one, idle, as on an
exchange that has both.

The machine is shared: ``--runs N`` measures every rate of every target N
times, the two targets alternating (which goes first swaps every run), and
reports medians with their ranges; with ``--sweep`` each run also finds each
target's highest rate held (``bench.ws.sweep``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from dataclasses import asdict
from typing import Any

from bench.measure import machine
from bench.ws import (
    DEFAULT_CLOCK,
    HELD_P99_US,
    HELD_SHARE,
    Load,
    add_load_options,
    run_step,
    sweep,
)
from bench.wsload import ORDER_MIX
from bench.wsprint import print_header, print_step
from bench.wsservers import FIX_TARGET, PEER

__all__ = ["TARGETS", "add_fix_parser", "fix_report"]

TARGETS = (FIX_TARGET, "tokex")
FIXED_RATES = (1_000, 2_000, 5_000, 10_000)


def _median(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _summary(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians and ranges over the runs of one rate of one target."""

    def latency(kind: str, key: str) -> list[float]:
        return [s["latency_us"][kind][key] for s in steps if s["latency_us"][kind]]

    out: dict[str, Any] = {
        "achieved_orders_s": _median([s["achieved_orders_s"] for s in steps]),
        "held": sum(1 for s in steps if s["held"]),
        "runs": len(steps),
    }
    for kind in ("ack", "exec"):
        for key in ("p50", "p99", "p999"):
            values = latency(kind, key)
            if values:
                out[f"{kind}_{key}_us"] = _median(values)
    return out


def fix_report(
    targets: tuple[str, ...],
    rates: list[float],
    load: Load,
    runs: int,
    do_sweep: bool,
    sweep_start: float = 500.0,
    max_rate: float = 100_000.0,
    *,
    sweep_steps: int | None = None,
    sweep_floor: float = 100.0,
    sweep_last_run_only: bool = False,
    benchmark: str = "fix",
) -> dict[str, Any]:
    """Every rate of every target ``runs`` times (alternating), and sweeps; the JSON report.

    ``sweep_steps`` bounds each sweep, ``sweep_last_run_only`` sweeps in the
    last run alone; ``benchmark`` names the report (``bench ws`` in the suite
    measures tokex and the peer's HTTP gateway this same way).
    """
    t0 = time.monotonic()
    steps: dict[str, dict[float, list[dict[str, Any]]]] = {
        t: {r: [] for r in rates} for t in targets
    }
    sweeps: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    servers: dict[str, Any] = {}
    for run in range(runs):
        order = targets if run % 2 == 0 else tuple(reversed(targets))
        for rate in rates:
            for target in order:
                step = run_step(target, rate, load)
                servers[target] = step.pop("server")
                print_step(target, step)
                steps[target][rate].append(step)
        if do_sweep and (run == runs - 1 or not sweep_last_run_only):
            for target in order:

                def measure(rate: float, target: str = target) -> dict[str, Any]:
                    step = run_step(target, rate, load)
                    step.pop("server")
                    print_step(target, step)
                    return step

                known = [s[-1] for s in steps[target].values() if s]
                sweeps[target].append(
                    sweep(
                        measure,
                        known,
                        sweep_start,
                        max_rate,
                        floor=sweep_floor,
                        max_steps=sweep_steps,
                    )
                )
    out: dict[str, Any] = {}
    for target in targets:
        entry: dict[str, Any] = {
            "server": servers.get(target),
            "rates": [
                {"offered_orders_s": round(r), **_summary(s), "steps": s}
                for r, s in steps[target].items()
            ],
        }
        if sweeps[target]:
            held = [s["max_held_orders_s"] for s in sweeps[target]]
            entry["max_held_orders_s"] = _median(held)
            entry["sweeps"] = sweeps[target]
        out[target] = entry
    report: dict[str, Any] = {
        "benchmark": benchmark,
        "clients": load.clients,
        "seconds": load.seconds,
        "procs": load.procs,
        "runs": runs,
        "load": {**asdict(load), "warmup": load.warmup},
        "order_mix": ORDER_MIX,
        "held_rule": f"achieved >= {HELD_SHARE:.0%} of offered, p99 ack < {HELD_P99_US} us, "
        "every request answered, no errors, no disconnects",
        "latency": {
            FIX_TARGET: "ack: first ExecutionReport (or OrderCancelReject) of the request; "
            "exec: first fill report (150=F) of a marketable IOC order",
            "tokex": "ack: the WebSocket answer; exec: the order's first executions item",
            PEER: "ack: the HTTP answer",
        },
        "targets": out,
        "python": platform.python_version(),
        "machine": machine(),
    }
    if all("max_held_orders_s" in out.get(t, {}) for t in TARGETS):
        fix_held = out[FIX_TARGET]["max_held_orders_s"]["median"]
        ws_held = out["tokex"]["max_held_orders_s"]["median"]
        report["fix_over_ws_max_held"] = round(fix_held / ws_held, 2) if ws_held else None
    report["elapsed_s"] = round(time.monotonic() - t0, 1)
    return report


def _print_summary(report: dict[str, Any]) -> None:
    print(
        f"\nbench fix: {report['clients']} clients over {report['procs']} generator processes, "
        f"{report['seconds']} s per step, {report['runs']} run(s); {report['machine']}; "
        f"Python {report['python']}"
    )
    for target, entry in report["targets"].items():
        for row in entry["rates"]:
            ack = row.get("ack_p99_us")
            p99 = f"{ack['median'] / 1000:.2f} ms [{ack['min'] / 1000:.2f}-{ack['max'] / 1000:.2f}]"
            got = row["achieved_orders_s"]
            print(
                f"  {target:<10} {row['offered_orders_s']:>7,}/s offered: achieved "
                f"{got['median']:,.0f} [{got['min']:,.0f}-{got['max']:,.0f}], p99 ack {p99}"
                if ack
                else f"  {target:<10} {row['offered_orders_s']:>7,}/s offered: no answers"
            )
        if "max_held_orders_s" in entry:
            held = entry["max_held_orders_s"]
            print(
                f"  {target}: highest rate held {held['median']:,.0f} orders/s "
                f"[{held['min']:,.0f}-{held['max']:,.0f}]"
            )
    if report.get("fix_over_ws_max_held") is not None:
        print(f"  FIX / WebSocket highest held rate: {report['fix_over_ws_max_held']}x")
    print(f"  took {report['elapsed_s']} s")


def _cmd_fix(args: argparse.Namespace) -> None:
    load = Load(
        clients=args.clients,
        seconds=args.seconds,
        procs=args.procs,
        seed=args.seed,
        clock=args.clock,
        max_inflight=args.max_inflight,
        workers=args.workers,
        fix_gateway=args.fix_gateway,
    )
    print_header()
    report = fix_report(
        TARGETS if args.target == "both" else (args.target,),
        args.rate or list(FIXED_RATES),
        load,
        args.runs,
        args.sweep,
        sweep_start=args.sweep_start,
        max_rate=args.max_rate,
    )
    _print_summary(report)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def add_fix_parser(sub: Any) -> None:
    """Register ``fix`` on the ``python -m bench`` subparsers ``sub``."""
    p = sub.add_parser("fix", help="order entry end to end: tokex FIX next to tokex WebSocket")
    p.add_argument("--clients", type=int, default=8, help="client sessions (accounts)")
    p.add_argument(
        "--rate",
        type=float,
        action="append",
        help="offered orders/s over all clients (repeatable; default: 1000 2000 5000 10000)",
    )
    p.add_argument("--seconds", type=float, default=5.0, help="seconds of load per step")
    p.add_argument("--runs", type=int, default=1, help="times every rate is measured")
    p.add_argument("--sweep", action="store_true", help="also find each target's highest held rate")
    p.add_argument("--sweep-start", type=float, default=500.0, help="first sweep rate")
    p.add_argument("--max-rate", type=float, default=100_000.0, help="sweep ceiling")
    p.add_argument("--target", choices=("both", *TARGETS), default="both")
    p.add_argument("--clock", default=DEFAULT_CLOCK, help="tokex serve --clock (simulated)")
    p.add_argument(
        "--fix-gateway",
        action="store_true",
        help="the WebSocket target's server runs the FIX gateway too (one more account with a"
        " FIX session that never logs on): each gateway measured beside the other one, idle",
    )
    add_load_options(p)
    p.set_defaults(func=_cmd_fix)
