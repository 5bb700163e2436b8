"""The built-in stages of ``make bench`` (:mod:`bench.suite`), in the order they run.

Importing this module registers them. Another stage joins the set with
:func:`bench.suite.register` from its own module, imported below.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bench.cli import (
    ENGINE_WORKLOADS,
    _engine_report,
    _peers_report,
    _print_engine,
    _print_peers,
    peers_engines,
)
from bench.fix import fix_report
from bench.instructions import valgrind_available
from bench.meta import Load as MachineLoad
from bench.natsserver import nats_binary
from bench.recovery import SNAPSHOT_RECORDS, print_recovery, recovery_report, restarts_report
from bench.settlement import BACKENDS, settlement_report
from bench.suite import Context, Plan, Stage, register
from bench.ws import STEP_HOOKS, Load
from bench.wsload import ORDER_MIX
from bench.wsprint import print_header
from bench.wsservers import FIX_TARGET, PEER, tokex_config

__all__: list[str] = []

NO_IO = "none: in-process, no journal"


def _engine_units(plan: Plan) -> int:
    return len(ENGINE_WORKLOADS) * (plan.runs + 1)


def _engine(ctx: Context) -> None:
    plan = ctx.plan
    for workload in ENGINE_WORKLOADS:
        load, started = MachineLoad.start(), datetime.now(UTC)
        ticks = iter([*(f"run {i}/{plan.runs}" for i in range(1, plan.runs + 1)), "latency"])

        def tick(workload: str = workload, ticks: Iterator[str] = ticks) -> None:
            ctx.progress.advance(f"{workload} {next(ticks, '')}")

        ctx.progress.advance(f"{workload}: building {plan.commands:,} commands", units=0)
        rep = _engine_report(workload, plan.commands, plan.runs, plan.seed, on_run=tick)
        _print_engine(rep)
        ctx.write(
            f"engine-{workload}",
            rep,
            stage="engine",
            fsync=NO_IO,
            config={
                "workload": workload,
                "commands": plan.commands,
                "runs": plan.runs,
                "seed": plan.seed,
                "risk": "on",
            },
            load=load,
            started=started,
        )


def _peers_units(plan: Plan) -> int:
    return plan.runs * len(peers_engines(True)) + (1 if plan.instructions else 0)


def _peers(ctx: Context) -> None:
    plan = ctx.plan
    load, started = MachineLoad.start(), datetime.now(UTC)
    count = plan.instructions if valgrind_available() else 0

    def tick(name: str) -> None:
        ctx.progress.advance(f"{name} done")

    rep = _peers_report(plan.commands, plan.runs, plan.seed, True, count, on_run=tick)
    ctx.progress.advance("instruction counts" if count else "no valgrind: no instruction count")
    _print_peers(rep)
    ctx.write(
        "peers",
        rep,
        stage="peers",
        fsync=NO_IO,
        config={
            "workload": "peer-flow",
            "commands": plan.commands,
            "runs": plan.runs,
            "seed": plan.seed,
            "instructions_commands": count,
            "engines": peers_engines(True),
            "risk": "on for tokex; the peers have none",
        },
        load=load,
        started=started,
    )


def _recovery(ctx: Context) -> None:
    plan = ctx.plan
    load, started = MachineLoad.start(), datetime.now(UTC)
    ctx.progress.advance(
        f"restarts over {plan.restart_commands:,} records in {plan.lifetimes} lifetimes", units=0
    )
    restarts = restarts_report(plan.restart_commands, plan.lifetimes, plan.runs, plan.seed)
    ctx.progress.advance("restarts")
    rep = recovery_report(plan.recovery_commands, plan.runs, plan.seed, lifetimes=0)
    rep["restarts"] = restarts
    ctx.progress.advance("append, replay, snapshot")
    print_recovery(rep)
    ctx.write(
        "recovery",
        rep,
        stage="recovery",
        fsync="each policy measured apart (off, batch, always); restarts: batch",
        config={
            "commands": plan.recovery_commands,
            "runs": plan.runs,
            "seed": plan.seed,
            "restart_commands": plan.restart_commands,
            "lifetimes": plan.lifetimes,
            "snapshot_records": SNAPSHOT_RECORDS,
        },
        load=load,
        started=started,
    )


def _server_config(clients: int, fix: bool) -> dict[str, Any]:
    text = tokex_config(clients, fix=fix)
    return {
        "fsync": "batch",
        "toml_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "exchange": [line for line in text.splitlines() if "=" in line][:4],
    }


def _e2e(
    ctx: Context,
    name: str,
    targets: tuple[str, ...],
    rates: tuple[int, ...],
    sweep_steps: int,
) -> None:
    plan = ctx.plan
    machine_load, started = MachineLoad.start(), datetime.now(UTC)
    load = Load(seconds=plan.e2e_seconds)

    def hook(target: str, step: dict[str, Any]) -> None:
        ctx.progress.advance(
            f"{target} at {step['offered_orders_s']:,}/s: {step['achieved_orders_s']:,}/s"
        )

    STEP_HOOKS.append(hook)
    try:
        print_header()
        rep = fix_report(
            targets,
            [float(r) for r in rates],
            load,
            plan.e2e_runs,
            do_sweep=sweep_steps > 0,
            sweep_steps=sweep_steps,
            sweep_floor=250.0,
            sweep_last_run_only=True,
            benchmark=name,
        )
    finally:
        STEP_HOOKS.remove(hook)
    ctx.write(
        name,
        rep,
        stage=name,
        fsync="batch (group commit: one fsync per batch of commands)",
        config={
            "targets": list(targets),
            "rates": list(rates),
            "runs": plan.e2e_runs,
            "sweep_steps": sweep_steps,
            "load": asdict(load),
            "order_mix": ORDER_MIX,
            "server": _server_config(load.clients, FIX_TARGET in targets),
        },
        load=machine_load,
        started=started,
    )


def _ws_units(plan: Plan) -> int:
    return 2 * plan.e2e_runs * len(plan.ws_rates) + 2 * plan.ws_sweep_steps


def _ws(ctx: Context) -> None:
    _e2e(ctx, "ws", ("tokex", PEER), ctx.plan.ws_rates, ctx.plan.ws_sweep_steps)


def _fix_units(plan: Plan) -> int:
    return 2 * plan.e2e_runs * len(plan.fix_rates)


def _fix(ctx: Context) -> None:
    _e2e(ctx, "fix", (FIX_TARGET, "tokex"), ctx.plan.fix_rates, 0)


def _backends() -> tuple[str, ...]:
    return BACKENDS if nats_binary() is not None else ("sqlite",)


def _settlement_units(plan: Plan) -> int:
    return len(BACKENDS) * (1 + plan.e2e_runs)


def _settlement(ctx: Context) -> None:
    plan = ctx.plan
    machine_load, started = MachineLoad.start(), datetime.now(UTC)
    load = Load(seconds=plan.e2e_seconds)
    backends = _backends()
    rep = settlement_report(
        backends,
        plan.settlement_trades,
        plan.e2e_runs,
        plan.settlement_rate,
        load,
        on_step=lambda what: ctx.progress.advance(what),
    )
    missing = [b for b in BACKENDS if b not in backends]
    if missing:
        rep["not_measured"] = {
            b: "nats-server is not installed (make nats-server)" for b in missing
        }
    ctx.write(
        "settlement",
        rep,
        stage="settlement",
        fsync="the ledger: every booking transaction synced; the server: batch",
        config={
            "backends": list(backends),
            "trades": plan.settlement_trades,
            "runs": plan.e2e_runs,
            "offered_orders_s": plan.settlement_rate,
            "load": asdict(load),
        },
        load=machine_load,
        started=started,
    )


register(Stage("engine", "engine in-process, three workloads", _engine_units, _engine))
register(Stage("peers", "peer-flow through tokex and the peers", _peers_units, _peers))
register(Stage("recovery", "journal, replay, snapshot, restarts", lambda p: 2, _recovery))
register(Stage("ws", "WebSocket end to end vs the peer's HTTP", _ws_units, _ws))
register(Stage("fix", "FIX end to end vs WebSocket", _fix_units, _fix))
register(Stage("settlement", "settlement booking rate and lag", _settlement_units, _settlement))
