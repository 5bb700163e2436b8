"""``python -m bench settlement``: the settlement worker's booking rate and lag under load.

``python -m bench settlement [--backend sqlite|nats|both] [--trades N] [--runs R]
[--rate R] [--seconds S] [--clients C] [--json OUT]``

Two figures per queue backend (a nats-server with JetStream is started for
the ``nats`` backend, with its store in the run's temporary folder):

* booking rate, the worker alone: a data directory is made with ``N``
  trades journaled (pairs of crossing orders between two accounts, so
  every message holds one trade, its fees and its balance checks) and
  queued (the node's re-derivation from the journal fills the queue), then a
  worker with an empty ledger books them all in this process, timed from its
  start until its position reaches the end; trades per second, ``R`` runs,
  each on a fresh ledger over the same queue;
* settlement lag under ``bench ws`` load: a real ``tokex serve`` (the
  bench ws configuration, its embedded worker, windows of 1 s) under the
  same open-loop WebSocket order flow as ``python -m bench ws`` at ``R``
  orders/s offered; once the load ends and settlement has caught up, each
  trade's lag is read from the ledger: booked (the commit's wall clock) less
  fed (the instant the node handed its durable batch to the queue). p50,
  p99 and max in ms over every trade, and the trades per second the run
  made (the engine's trade rate to keep up with).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from bench.measure import machine
from bench.natsserver import NatsServer, nats_binary, start_nats
from bench.ws import Load, _recv, _summarize, _worker_specs
from bench.wsload import ORDER_MIX, worker_main
from bench.wsservers import start_tokex
from model.commands import Command, NewOrder
from node.config import DEMO_CONFIG, Config, parse_config
from node.journal import JournalWriter
from node.recovery import recover
from node.sequencer import Sequencer
from node.store import write_genesis
from settlement.queue import open_reader
from settlement.service import Settlement
from settlement.worker import Worker

__all__ = [
    "BACKENDS",
    "add_settlement_parser",
    "booking_rate",
    "lag_under_load",
    "settlement_report",
]

BACKENDS = ("sqlite", "nats")


def _table(backend: str, url: str | None, extra: str = "") -> str:
    if backend == "nats":
        assert url is not None
        return f'\n[settlement]\nbackend = "nats"\nnats_url = "{url}"\n{extra}'
    return f"\n[settlement]\n{extra}"


def _crossing(trades: int) -> list[Command]:
    out: list[Command] = []
    for n in range(trades):
        buyer, seller = ("alice", "bob") if n % 2 else ("bob", "alice")
        qty = 100 + n % 7
        out.append(NewOrder(0, 0, seller, "AAPLx/USD", "sell", qty, 23_000))
        out.append(NewOrder(0, 0, buyer, "AAPLx/USD", "buy", qty, 23_000))
    return out


def _prepare(config: Config, data: Path, trades: int) -> int:
    """Journal ``trades`` trades in ``data`` and queue them; the journal's last seq."""
    write_genesis(data, msgspec.structs.replace(config.genesis, start_ts=time.time_ns()))
    recovered = recover(data)
    writer = JournalWriter(data / "journal", recovered.next_seq, "off")
    sequencer = Sequencer(recovered.engine, writer, time.time_ns)
    sequencer.commit(config.deposits)
    commands = _crossing(trades)
    for i in range(0, len(commands), 500):
        sequencer.commit(commands[i : i + 500])
    writer.close()

    class Silent:
        def add_listener(self, listener: object) -> None:
            pass

    async def fill() -> None:
        feed = Settlement(Silent(), config, data, lambda: 0)  # type: ignore[arg-type]
        await feed.open(sequencer.engine.last_seq)
        await feed.close()

    asyncio.run(fill())
    return sequencer.engine.last_seq


async def _book_all(config: Config, data: Path, last_seq: int) -> float:
    worker = Worker(config, data, open_reader(config.settlement, data))
    t0 = time.perf_counter()
    await worker.start()
    while worker.ledger.seq < last_seq:
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - t0
    await worker.stop()
    return elapsed


def booking_rate(backend: str, url: str | None, trades: int, runs: int) -> dict[str, Any]:
    """The worker alone: trades booked per second (median of ``runs``, with the range)."""
    config = parse_config(DEMO_CONFIG + _table(backend, url, "embedded_worker = false\n"))
    if backend == "nats":
        stream = f"BENCH_{time.time_ns()}"
        config = parse_config(DEMO_CONFIG + _table(backend, url, f'nats_stream = "{stream}"\n'))
    rates = []
    with tempfile.TemporaryDirectory(prefix="tokex-bench-settle-") as tmp:
        data = Path(tmp) / "data"
        last = _prepare(config, data, trades)
        for _ in range(runs):
            for name in ("ledger", "chain-sim"):
                for suffix in (".sqlite", ".sqlite-wal", ".sqlite-shm"):
                    (data / "settlement" / (name + suffix)).unlink(missing_ok=True)
            elapsed = asyncio.run(_book_all(config, data, last))
            rates.append(trades / elapsed)
    return {
        "backend": backend,
        "trades": trades,
        "runs": runs,
        "trades_per_s": round(statistics.median(rates)),
        "range": [round(min(rates)), round(max(rates))],
    }


def _lags(data: Path) -> tuple[np.ndarray[Any, Any], int]:
    db = sqlite3.connect(data / "settlement" / "ledger.sqlite")
    try:
        rows = db.execute("SELECT booked_ns - fed_ns FROM trades").fetchall()
        seq = db.execute("SELECT seq FROM position").fetchone()[0]
    finally:
        db.close()
    return np.array([r[0] for r in rows], dtype=np.int64), int(seq)


def _journal_trades(data: Path) -> int:
    from settlement.backfill import replay

    engine, applied = replay(data, 0)
    for _ in applied:
        pass
    return engine.next_trade_id - 1


def lag_under_load(
    backend: str, url: str | None, rate: float, load: Load, timeout: float = 120.0
) -> dict[str, Any]:
    """``tokex serve`` with its embedded worker under the ``bench ws`` order flow."""
    extra = _table(backend, url)
    if backend == "nats":
        extra += f'nats_stream = "BENCHLOAD_{time.time_ns()}"\n'
    ctx = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="tokex-bench-settle-ws-") as tmp:
        workdir = Path(tmp)
        server = start_tokex(workdir, load.clients, load.clock, extra)
        workers: list[Any] = []
        try:
            for spec in _worker_specs("tokex", server.port, rate, load):
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
            results = [_recv(pipe, load.seconds + load.drain + 60, "result") for _, pipe in workers]
        finally:
            for proc, pipe in workers:
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
                pipe.close()
        # Settlement catches up with the journal (the ledger's seq stops moving), then stop.
        data = workdir / "data"
        deadline = time.monotonic() + timeout
        seen, still = -1, 0
        while still < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
            seq = _lags(data)[1]
            still = still + 1 if seq == seen else 0
            seen = seq
        server.stop()
        lags, _ = _lags(data)
        made = _journal_trades(data)
    step = _summarize(results, start, rate, load.seconds, load.warmup)
    ms = lags / 1e6
    return {
        "backend": backend,
        "offered_orders_s": round(rate),
        "achieved_orders_s": step["achieved_orders_s"],
        "trades": len(lags),
        "journal_trades": made,
        "trades_per_s": round(len(lags) / load.seconds),
        "lag_ms": {
            "p50": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
            "p99": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
            "max": round(float(ms.max()), 2) if len(ms) else None,
        },
    }


def _nats(tmp: Path, backend: str) -> NatsServer | None:
    if backend != "nats":
        return None
    if nats_binary() is None:
        raise SystemExit("nats-server is not installed: make nats-server")
    return start_nats(tmp / "nats")


def _median_of(runs: list[dict[str, Any]], key: str, sub: str | None = None) -> dict[str, Any]:
    values = [r[key][sub] if sub else r[key] for r in runs]
    values = [v for v in values if v is not None]
    return {"median": statistics.median(values), "range": [min(values), max(values)]}


def settlement_report(
    backends: tuple[str, ...],
    trades: int,
    runs: int,
    rate: float,
    load: Load,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Both figures for every backend in ``backends``; the JSON report.

    ``on_step``, if given, is called after the booking runs and after each
    run under load (progress).
    """
    report: dict[str, Any] = {
        "benchmark": "settlement",
        "trades": trades,
        "runs": runs,
        "offered_orders_s": round(rate),
        "load": {"clients": load.clients, "seconds": load.seconds},
        "python": ".".join(map(str, sys.version_info[:3])),
        "machine": machine(),
        "order_mix": ORDER_MIX,
        "backends": {},
    }
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="tokex-bench-nats-") as tmp:
            server = _nats(Path(tmp), backend)
            url = server.url if server else None
            try:
                alone = booking_rate(backend, url, trades, runs)
                print(
                    f"{backend}: worker alone {alone['trades_per_s']:,} trades/s {alone['range']}"
                )
                if on_step is not None:
                    on_step(f"{backend} booking")
                loaded = []
                for _ in range(runs):
                    step = lag_under_load(backend, url, rate, load)
                    print(
                        f"{backend}: under {rate:,} orders/s offered:"
                        f" {step['achieved_orders_s']:,} achieved, {step['trades_per_s']:,}"
                        f" trades/s, lag p50 {step['lag_ms']['p50']} ms,"
                        f" p99 {step['lag_ms']['p99']} ms, max {step['lag_ms']['max']} ms",
                        flush=True,
                    )
                    loaded.append(step)
                    if on_step is not None:
                        on_step(f"{backend} lag")
            finally:
                if server is not None:
                    server.stop()
        report["backends"][backend] = {
            "worker_alone": alone,
            "under_load": {
                "runs": loaded,
                "trades_per_s": _median_of(loaded, "trades_per_s"),
                "lag_p50_ms": _median_of(loaded, "lag_ms", "p50"),
                "lag_p99_ms": _median_of(loaded, "lag_ms", "p99"),
            },
        }
    return report


def _cmd(args: argparse.Namespace) -> None:
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    load = Load(clients=args.clients, seconds=args.seconds)
    report = settlement_report(backends, args.trades, args.runs, args.rate, load)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def add_settlement_parser(sub: Any) -> None:
    p = sub.add_parser("settlement", help="the settlement worker's booking rate and lag")
    p.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    p.add_argument("--trades", type=int, default=50_000, help="trades for the booking rate")
    p.add_argument("--runs", type=int, default=3, help="runs of each figure (median reported)")
    p.add_argument("--rate", type=float, default=10_000, help="orders/s offered for the lag")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds of load")
    p.add_argument("--clients", type=int, default=8, help="WebSocket clients")
    p.add_argument("--json", type=Path, help="write the report here")
    p.set_defaults(func=_cmd)
