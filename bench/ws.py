"""``python -m bench ws``: order entry end to end, tokex's WebSocket gateway vs the peer's HTTP one.

``python -m bench ws [--clients C] [--rate R ...] [--seconds S] [--sweep] [--target T]
[--json OUT]``

Method (BENCHMARKS.md, "Harness")
---------------------------------
Every measurement (a *step*: one target at one offered rate) starts a fresh
server (:mod:`bench.wsservers`: ``tokex serve`` with its journal fsynced per
batch, or matching-engine's uvicorn gateway with its WAL fsynced per batch),
then ``--procs`` load-generator processes (:mod:`bench.wsload`; the clients
are dealt round-robin over them, so no single Python process limits the
offered load). Each process connects its clients and reports ready; the
parent gives all of them one start instant; every client sends on a fixed
open-loop schedule for ``S`` seconds (the ``C`` clients together offer ``R``
orders/s, evenly interleaved) and waits up to 2 seconds (``Load.drain``)
for the last answers. The server is then stopped. A client keeps at most
``--max-inflight`` requests unanswered (default 256); later ones wait in
the client, their latency still counted from their scheduled instant, so
an overloaded server is not buried under an unbounded backlog (uvicorn
parses and queues every pipelined request it is sent: without the cap the
peer answered 36 orders/s at 50,000 offered).

A step reports, over the requests scheduled after the warm-up:

* achieved throughput: answers after the warm-up / (last answer - end of
  warm-up), orders/s;
* latency percentiles (p50, p99, p99.9, max, in microseconds, from an HDR
  histogram of 3 significant digits) of ``ack`` (scheduled send -> answer),
  ``service`` (actual send -> answer: ``ack`` minus the generator's own
  lateness) and, for tokex, ``exec`` (scheduled send -> the order's first
  execution report);
* errors (answers with ``success: false`` or an HTTP error, by text),
  unanswered requests, disconnects, cancels that found the order gone;
* CPU in percent of one core over the schedule: the server (every thread),
  the generators, and everything else on the machine (``other_cpu_pct``:
  the machines are shared, and a step that competed for the two cores says so).

A step is *held* when the achieved rate is at least 95% of the offered rate,
p99 ack is under 5 ms, every request was answered, and there were no errors
and no disconnects.

Without ``--rate`` the run measures 10,000 and 50,000 orders/s (BENCHMARKS.md's
targets) and sweeps; with ``--rate`` it measures those rates, and sweeps only
with ``--sweep``. The sweep (:func:`sweep`) starts from the highest held rate
already measured (else ``--sweep-start``), doubles until a rate is not held
(or steps down when nothing is held), then bisects to 10%; a failed step
during which other processes took over a quarter of a core is measured
again. The report gives each target's highest held rate and the ratio
tokex / peer (BENCHMARKS.md asks for at least 20x).

``--overload`` (always in the default run) then offers tokex twice the
highest rate it achieved in the run, for ``--overload-seconds`` (30), with
no cap on requests in flight: every request must be answered (many with
``EService:Busy``), p99 within a second, memory bounded, no client dropped
(:mod:`bench.wsoverload`). Every step records the server's resident memory
(start, peak, end).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from bench.fsyncprobe import FsyncProbe
from bench.measure import ccdf, machine, percentiles
from bench.wsload import ORDER_MIX, ClientSpec, WorkerSpec, worker_main
from bench.wsoverload import OVERLOAD_SECONDS, run_overload, saturation
from bench.wsprint import print_header, print_step, print_summary
from bench.wsservers import (
    FIX_TARGET,
    MID_TICKS,
    PEER,
    PEER_SYMBOL,
    SYMBOL,
    Running,
    client_id,
    client_secret,
    cpu_seconds,
    fix_password,
    machine_busy_seconds,
    rss_mb,
    start_peer,
    start_tokex,
)

__all__ = [
    "FIXED_RATES",
    "STEP_HOOKS",
    "TARGETS",
    "Load",
    "add_ws_parser",
    "run_default",
    "run_step",
    "sweep",
    "ws_report",
]

TARGETS = ("tokex", PEER)
FIXED_RATES = (10_000, 50_000)
HELD_P99_US = 5_000
HELD_SHARE = 0.95
BUSY_RETRY_PCT = 25
DEFAULT_CLOCK = "sim:2026-11-23T15:00:00Z"  # a Monday, 10:00 in New York: regular hours
_HDR_HIGHEST_US = 3_600_000_000

STEP_HOOKS: list[Callable[[str, dict[str, Any]], None]] = []
"""Called with the target and the step after every :func:`run_step` (the suite's progress)."""


@dataclass(frozen=True)
class Load:
    """How the load is made: the same for every target and rate of a run."""

    clients: int = 8
    seconds: float = 5.0
    procs: int = 2
    seed: int = 1
    clock: str = DEFAULT_CLOCK
    """``tokex serve --clock``: the simulated clock stands still at a regular-hours instant."""
    max_inflight: int = 256
    """Requests a client has sent without an answer yet, at most (the rest wait, on the clock)."""
    drain: float = 2.0
    """Seconds after the schedule to wait for the last answers."""
    workers: int | None = None
    """``tokex serve --workers``: gateway worker processes (None: the server's default)."""
    fix_gateway: bool = False
    """The WebSocket target's server runs the FIX gateway too (``bench fix
    --fix-gateway``): one more account has a FIX session, never logged on, so
    the WebSocket steps run beside an idle FIX gateway as the FIX steps run
    beside an idle WebSocket one."""

    @property
    def warmup(self) -> float:
        """Seconds at the start whose requests are sent but not measured."""
        return min(1.0, self.seconds / 4)


def _histogram(raw: list[bytes]) -> HdrHistogram | None:
    """Every latency in ``raw`` (int64 arrays, µs) in an HDR histogram (3 significant digits)."""
    chunks = [np.frombuffer(b, dtype=np.int64) for b in raw if b]
    if not chunks:
        return None
    values = np.clip(np.concatenate(chunks), 1, _HDR_HIGHEST_US)
    hist = HdrHistogram(1, _HDR_HIGHEST_US, 3)
    uniq, counts = np.unique(values, return_counts=True)
    for value, count in zip(uniq.tolist(), counts.tolist(), strict=True):
        hist.record_value(value, count)
    return hist


def _latency(raw: list[bytes]) -> dict[str, int] | None:
    """p50/p99/p99.9/max (µs) of every latency in ``raw`` (int64 arrays), via an HDR histogram."""
    hist = _histogram(raw)
    return None if hist is None else percentiles(hist)


def _ccdf(raw: list[bytes]) -> dict[str, Any] | None:
    """The CCDF sample points (µs) of every latency in ``raw`` (:func:`bench.measure.ccdf`)."""
    hist = _histogram(raw)
    return None if hist is None else ccdf(hist)


def _start(target: str, workdir: Path, load: Load) -> Running:
    if target in ("tokex", FIX_TARGET):
        return start_tokex(
            workdir,
            load.clients,
            load.clock,
            fix=target == FIX_TARGET,
            workers=load.workers,
            fix_gateway=load.fix_gateway,
        )
    if target == PEER:
        return start_peer(workdir)
    raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")


def _worker_specs(target: str, port: int, rate: float, load: Load) -> list[WorkerSpec]:
    specs = []
    procs = min(load.procs, load.clients)
    ours = target in ("tokex", FIX_TARGET)
    for w in range(procs):
        mine = []
        for i in range(w, load.clients, procs):
            if ours:
                name = client_id(i)
                secret = fix_password(i) if target == FIX_TARGET else client_secret(name)
                mine.append(ClientSpec(i, name, f"{name}-key", secret))
            else:
                mine.append(ClientSpec(i, str(i + 1)))
        specs.append(
            WorkerSpec(
                target={"tokex": "ws", FIX_TARGET: "fix"}.get(target, "http"),
                port=port,
                clients=tuple(mine),
                clients_total=load.clients,
                rate=rate,
                seconds=load.seconds,
                warmup=load.warmup,
                drain=load.drain,
                seed=load.seed,
                symbol=SYMBOL if ours else PEER_SYMBOL,
                price_decimals=2,
                mid_ticks=MID_TICKS,
                max_inflight=load.max_inflight,
                clock=load.clock,
            )
        )
    return specs


def _recv(pipe: Connection, timeout: float, what: str) -> Any:
    if not pipe.poll(timeout):
        raise RuntimeError(f"load generator: no {what} in {timeout:.0f}s")
    try:
        kind, body = pipe.recv()
    except EOFError:
        raise RuntimeError(f"load generator died before its {what}") from None
    if kind == "error":
        raise RuntimeError(f"load generator failed: {body}")
    return body


def run_step(target: str, rate: float, load: Load) -> dict[str, Any]:
    """One fresh server of ``target`` under ``rate`` orders/s made as ``load`` says."""
    if rate <= 0 or load.clients < 1 or load.procs < 1 or load.seconds <= 0:
        raise ValueError("rate, clients, procs and seconds must be positive")
    seconds = load.seconds
    wall0 = time.monotonic()
    loadavg = os.getloadavg()[0]  # other work on the machine, for the record
    ctx = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="tokex-bench-ws-") as tmp:
        server = _start(target, Path(tmp), load)
        workers: list[tuple[Any, Connection]] = []
        try:
            specs = _worker_specs(target, server.port, rate, load)
            for spec in specs:
                mine, theirs = ctx.Pipe()
                proc = ctx.Process(target=worker_main, args=(spec, theirs), daemon=True)
                proc.start()
                theirs.close()
                workers.append((proc, mine))
            for _, pipe in workers:
                _recv(pipe, 60, "ready")
            start = time.monotonic_ns() + 100_000_000
            for _, pipe in workers:
                pipe.send(("start", start))
            time.sleep(max(0.0, (start - time.monotonic_ns()) / 1e9))
            pid = server.proc.pid
            processes = {"node": pid} | {f"worker{i}": p for i, p in enumerate(server.workers)}
            if server.fix_worker:
                processes["fix"] = server.fix_worker
            probe = FsyncProbe(Path(tmp)).start()
            per0 = {name: cpu_seconds(p) for name, p in processes.items()}
            cpu0, busy0 = cpu_seconds(pid), machine_busy_seconds()
            rss0 = peak = rss_mb(pid)
            end = start + int(seconds * 1e9)
            while (left := (end - time.monotonic_ns()) / 1e9) > 0:
                time.sleep(min(left, 0.25))  # the server's memory, four times a second
                peak = max(peak, rss_mb(pid))
            server_cpu = (cpu_seconds(pid) - cpu0) / seconds
            busy = (machine_busy_seconds() - busy0) / seconds
            per = {name: (cpu_seconds(p) - per0[name]) / seconds for name, p in processes.items()}
            fsync = probe.stop()
            results = [_recv(pipe, seconds + load.drain + 60, "result") for _, pipe in workers]
            rss = {"start": round(rss0), "peak": round(peak), "end": round(rss_mb(pid))}
        finally:
            for proc, pipe in workers:
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
                pipe.close()
            server.stop()
    step = _summarize(results, start, rate, seconds, load.warmup)
    step["server_cpu_pct"] = round(100 * server_cpu)
    # Each process of the server (the node, each gateway worker): % of one core, and
    # CPU microseconds per order answered (what a bigger machine's projection needs).
    step["cpu_pct_by_process"] = {name: round(100 * c) for name, c in per.items()}
    answered = max(1.0, step["achieved_orders_s"])
    step["cpu_us_per_order"] = {name: round(1e6 * c / answered, 1) for name, c in per.items()}
    step["fsync_us"] = fsync
    # What the rest of the machine used meanwhile (the parent sleeps): other work.
    ours = round(100 * sum(per.values())) + step["generator_cpu_pct"]
    step["other_cpu_pct"] = max(0, round(100 * busy) - ours)
    step["loadavg_1m_before"] = round(loadavg, 2)
    step["wall_s"] = round(time.monotonic() - wall0, 1)
    step["server_rss_mb"] = rss
    step["server"] = server.info
    for hook in STEP_HOOKS:
        hook(target, step)
    return step


def _summarize(
    results: list[dict[str, Any]], start: int, rate: float, seconds: float, warmup: float
) -> dict[str, Any]:
    clients = [c for r in results for c in r["clients"]]
    errors: Counter[str] = Counter()
    for c in clients:
        errors.update(c["errors"])
    measured = sum(c["measured"] for c in clients)
    acked_measured = sum(c["acked_measured"] for c in clients)
    # Answers that arrived after the warm-up, whichever request they answer,
    # over the time from the end of the warm-up to the last answer: the rate
    # the server really delivered, also when it falls behind.
    window_start = start + int(warmup * 1e9)
    last = max((c["last_ack_ns"] for c in clients), default=0)
    window = max(seconds - warmup, (last - window_start) / 1e9)
    achieved = sum(c["answers_in_window"] for c in clients) / window
    scheduled = sum(c["scheduled"] for c in clients)
    acked = sum(c["acked"] for c in clients)
    ack = _latency([c["ack_us"] for c in clients])
    disconnects = [c["closed"] for c in clients if c["closed"]]
    held = (
        achieved >= HELD_SHARE * rate
        and ack is not None
        and ack["p99"] < HELD_P99_US
        and not errors
        and not disconnects
        and acked == scheduled
    )
    return {
        "offered_orders_s": round(rate),
        "achieved_orders_s": round(achieved),
        "held": held,
        "seconds": seconds,
        "warmup_s": warmup,
        "scheduled": scheduled,
        "sent": sum(c["sent"] for c in clients),
        "acked": acked,
        "unanswered": scheduled - acked,
        "measured": measured,
        "acked_measured": acked_measured,
        "adds": sum(c["adds"] for c in clients),
        "cancels": sum(c["cancels"] for c in clients),
        "cancel_misses": sum(c["cancel_misses"] for c in clients),
        "open_orders_end": sum(c["open_orders_end"] for c in clients),
        # Orders placed (answered) whose first execution report never came.
        "exec_missing": sum(c["exec_missing"] for c in clients),
        "errors": dict(errors),
        "disconnects": disconnects,
        "latency_us": {
            "ack": ack,
            "service": _latency([c["service_us"] for c in clients]),
            "exec": _latency([c["exec_us"] for c in clients]),
        },
        "latency_ccdf_us": {
            "ack": _ccdf([c["ack_us"] for c in clients]),
            "exec": _ccdf([c["exec_us"] for c in clients]),
        },
        "generator_cpu_pct": round(100 * sum(r["cpu_s"] / r["cpu_wall_s"] for r in results)),
    }


def _round_rate(rate: float) -> int:
    """``rate`` to two significant digits (at least 10): 1234 -> 1200."""
    step = 10 ** max(1, int(math.log10(max(rate, 1))) - 1)
    return int(max(step, round(rate / step) * step))


def sweep(
    measure: Callable[[float], dict[str, Any]],
    known: list[dict[str, Any]],
    start: float,
    max_rate: float,
    floor: float = 100.0,
    precision: float = 0.1,
    busy_retry_pct: int = BUSY_RETRY_PCT,
    max_steps: int | None = None,
) -> dict[str, Any]:
    """The highest offered rate ``measure`` holds (see the module docstring for "held").

    ``known`` are steps already measured: they seed the bracket and are not
    repeated. Without a held rate above the bracket's low end it doubles from
    the best held rate (or ``start``) until a rate is not held; without a held
    rate at all it steps down, to 90% of the throughput the failing rate
    achieved when the server fell behind, else to half, but not below
    ``floor``. Then it bisects until the bracket is within ``precision`` of
    its low end. A rate not held while other processes took more than
    ``busy_retry_pct`` % of a core is measured once more (the machines are
    shared); the second result stands. With ``max_steps`` it stops after that
    many measurements (``"bounded": true`` in the result) with the bracket it has.
    """
    steps: list[dict[str, Any]] = []
    seen = {s["offered_orders_s"]: s for s in known}

    class _Spent(Exception):
        pass

    def held(rate: int) -> bool:
        if max_steps is not None and len(steps) >= max_steps:
            raise _Spent
        step = measure(rate)
        steps.append(step)
        if (
            not step["held"]
            and step["other_cpu_pct"] > busy_retry_pct
            and (max_steps is None or len(steps) < max_steps)
        ):
            step = measure(rate)
            steps.append(step)
        seen[rate] = step
        return bool(step["held"])

    lo = max((r for r, s in seen.items() if s["held"]), default=0)
    hi = min((r for r, s in seen.items() if not s["held"] and r > lo), default=0)
    bounded = False
    try:
        if not hi:
            rate = _round_rate(lo * 2 if lo else start)
            while rate <= max_rate:
                if not held(rate):
                    hi = rate
                    break
                lo, rate = rate, _round_rate(rate * 2)
        while not lo and hi > floor:
            achieved = seen[hi]["achieved_orders_s"]
            down = hi / 2
            if achieved < HELD_SHARE * hi:  # it fell behind: its capacity is below what it achieved
                down = min(down, 0.9 * achieved)
            rate = _round_rate(max(floor, down))
            if rate >= hi:
                break
            if held(rate):
                lo = rate
            else:
                hi = rate
        while lo and hi and (hi - lo) > precision * lo:
            rate = _round_rate((lo + hi) / 2)
            if rate in (lo, hi):
                break
            if held(rate):
                lo = rate
            else:
                hi = rate
    except _Spent:
        bounded = True
    return {
        "max_held_orders_s": lo,
        "first_not_held_orders_s": hi or None,
        "steps": steps,
        "bounded": bounded,
    }


def ws_report(
    targets: tuple[str, ...],
    rates: list[float],
    load: Load,
    *,
    do_sweep: bool,
    sweep_seconds: float | None = None,
    sweep_start: float = 1000.0,
    max_rate: float = 400_000.0,
    overload_seconds: float | None = None,
    sweep_steps: int | None = None,
    sweep_floor: float = 100.0,
) -> dict[str, Any]:
    """Measure every target at ``rates`` (and sweep); the JSON report of ``bench ws``.

    With ``overload_seconds``, tokex is then offered twice the highest rate it
    achieved for that long (:mod:`bench.wsoverload`).
    """
    t0 = time.monotonic()
    sweep_load = replace(load, seconds=sweep_seconds or load.seconds)
    out: dict[str, Any] = {}
    for target in targets:

        def measure(rate: float, load: Load, target: str = target) -> dict[str, Any]:
            step = run_step(target, rate, load)
            print_step(target, step)
            return step

        fixed = [measure(r, load) for r in rates]
        entry: dict[str, Any] = {"server": fixed[0]["server"] if fixed else None}
        for step in fixed:
            step.pop("server")
        entry["rates"] = fixed
        if do_sweep:
            found = sweep(
                lambda r: measure(r, sweep_load),
                fixed,
                sweep_start,
                max_rate,
                floor=sweep_floor,
                max_steps=sweep_steps,
            )
            for step in found["steps"]:
                entry["server"] = entry["server"] or step["server"]
                step.pop("server")
            entry["sweep"] = found
        if target == "tokex" and overload_seconds:
            steps = fixed + entry.get("sweep", {}).get("steps", [])
            over = run_overload(
                lambda r, ld: run_step("tokex", r, ld), load, saturation(steps), overload_seconds
            )
            over["step"].pop("server")
            entry["overload"] = over
        out[target] = entry
    report: dict[str, Any] = {
        "benchmark": "ws",
        "clients": load.clients,
        "seconds": load.seconds,
        "sweep_seconds": sweep_load.seconds if do_sweep else None,
        "procs": load.procs,
        "load": {**asdict(load), "warmup": load.warmup},
        "order_mix": ORDER_MIX,
        "held_rule": f"achieved >= {HELD_SHARE:.0%} of offered, p99 ack < {HELD_P99_US} us, "
        "every request answered, no errors, no disconnects",
        "targets": out,
        "python": platform.python_version(),
        "machine": machine(),
    }
    held = {t: e["sweep"]["max_held_orders_s"] for t, e in out.items() if "sweep" in e}
    if "tokex" in held and held.get(PEER):
        report["ratio_max_held"] = round(held["tokex"] / held[PEER], 1)
    report["elapsed_s"] = round(time.monotonic() - t0, 1)
    return report


def run_default(json_path: Path | None) -> dict[str, Any]:
    """The default run (both targets, the fixed rates, the sweep): ``python -m bench all``."""
    print_header()
    report = ws_report(
        TARGETS, list(FIXED_RATES), Load(), do_sweep=True, overload_seconds=OVERLOAD_SECONDS
    )
    print_summary(report)
    _write(json_path, report)
    return report


def _write(path: Path | None, report: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _cmd_ws(args: argparse.Namespace) -> None:
    # Gateway workers run on the system clock only (a simulated clock stays in one process).
    clock = args.clock or (DEFAULT_CLOCK if args.workers is None else "system")
    load = Load(
        clients=args.clients,
        seconds=args.seconds,
        procs=args.procs,
        seed=args.seed,
        clock=clock,
        max_inflight=args.max_inflight,
        workers=args.workers,
    )
    print_header()
    report = ws_report(
        TARGETS if args.target == "both" else (args.target,),
        args.rate or list(FIXED_RATES),
        load,
        do_sweep=args.sweep or not args.rate,
        sweep_seconds=args.sweep_seconds,
        sweep_start=args.sweep_start,
        max_rate=args.max_rate,
        overload_seconds=args.overload_seconds if args.overload else None,
    )
    print_summary(report)
    _write(args.json, report)


def add_ws_parser(sub: Any) -> None:
    """Register ``ws`` on the ``python -m bench`` subparsers ``sub``."""
    p = sub.add_parser("ws", help="order entry end to end: tokex WebSocket vs the peer's HTTP")
    p.add_argument("--clients", type=int, default=8, help="client connections (accounts)")
    p.add_argument(
        "--rate",
        type=float,
        action="append",
        help="offered orders/s over all clients (repeatable; default: 10000 and 50000)",
    )
    p.add_argument("--seconds", type=float, default=5.0, help="seconds of load per rate")
    p.add_argument("--sweep", action="store_true", help="also find the highest rate held")
    p.add_argument(
        "--sweep-seconds", type=float, help="seconds per sweep step (default: --seconds)"
    )
    p.add_argument("--sweep-start", type=float, default=1000.0, help="first sweep rate")
    p.add_argument("--max-rate", type=float, default=400_000.0, help="sweep ceiling")
    p.add_argument("--target", choices=("both", *TARGETS), default="both")
    p.add_argument(
        "--clock",
        help=f"tokex serve --clock (default: {DEFAULT_CLOCK}; system with --workers)",
    )
    add_load_options(p)
    p.add_argument(
        "--overload",
        action="store_true",
        help="then offer tokex twice its highest achieved rate, no in-flight cap",
    )
    p.add_argument("--overload-seconds", type=float, default=OVERLOAD_SECONDS)
    p.set_defaults(func=_cmd_ws)


def add_load_options(p: Any) -> None:
    """The options ``bench ws`` and ``bench fix`` share: generators, in-flight cap,
    ``tokex serve --workers``, seed, report file."""
    p.add_argument(
        "--procs",
        type=int,
        default=min(4, os.cpu_count() or 2),
        help="load-generator processes (clients are dealt over them)",
    )
    p.add_argument(
        "--max-inflight", type=int, default=256, help="unanswered requests per client, at most"
    )
    p.add_argument(
        "--workers",
        type=int,
        help="tokex serve --workers N (gateway worker processes; 0: one process; default:"
        " the server's own, cores - 1; the FIX gateway runs in a worker of its own, in the node"
        " with 0)",
    )
    p.add_argument("--seed", type=int, default=1, help="order-flow seed")
    p.add_argument("--json", type=Path, help="write the report here")
