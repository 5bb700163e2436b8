"""The ``tokex`` command line.

* ``tokex demo [--commands N] [--seed S]``: a seeded order flow over a few
  xStocks through the engine; prints the top of each book and counts.
* ``tokex serve [--config FILE] [--data DIR] [--clock system|sim:ISO] [--ws-port N]
  [--fix-port N] [--http-port N] [--workers N]``: the exchange server (tokex/serve.py);
  the HTTP port serves the operator console and ``/metrics``.
* ``tokex verify --data DIR``: read-only report of a data directory: the
  snapshot recovery would use, the journal's records, a torn tail, the
  state hash. Exit status 1 (with the reason) if it cannot be recovered.
* ``tokex replay --data DIR [--from-genesis]``: rebuild the state in memory
  and print the state hash and counts; with ``--from-genesis`` from the
  journal alone, ignoring snapshots.
* ``tokex settlement run --data DIR [--queue sqlite|nats://...] [--config FILE]``:
  the settlement worker as a process of its own.
* ``tokex settlement status --data DIR [--json] [--queue ...] [--config FILE]``:
  queue depth, lag, last settled trade, instructions, reconciliation (exit
  status 1 if it does not reconcile).
* ``tokex bench ...``: the benchmark harness, same as ``python -m bench ...``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from node.demo import render, run_demo

    result = run_demo(args.commands, args.seed)
    print(f"tokex demo: {args.commands:,} seeded commands (seed {args.seed})\n")
    print(render(result))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from tokex.serve import run_server

    return run_server(
        args.config,
        args.data,
        args.clock,
        args.ws_port,
        args.host,
        args.http_port,
        args.fix_port,
        args.workers,
    )


def _verify(args: argparse.Namespace) -> int:
    from node.journal import JournalError
    from node.recovery import verify
    from node.store import SnapshotError

    try:
        recovered = verify(args.data)
    except (JournalError, SnapshotError) as e:
        print(f"tokex verify: {args.data}: cannot be recovered: {e}", file=sys.stderr)
        return 1
    print(recovered.report())
    return 0


def _replay(args: argparse.Namespace) -> int:
    from node.journal import JournalError, scan
    from node.recovery import verify
    from node.store import SnapshotError, read_genesis

    try:
        if not args.from_genesis:
            recovered = verify(args.data)
            print(recovered.report())
            _print_counts("events of the replayed tail", recovered.events)
            return 0
        engine = read_genesis(args.data).build()
        found = scan(args.data / "journal")
        if found.first_seq not in (None, 1):
            raise JournalError(
                f"the journal starts at seq {found.first_seq}: older segments pruned"
            )
    except (JournalError, SnapshotError) as e:
        print(f"tokex replay: {args.data}: cannot be replayed: {e}", file=sys.stderr)
        return 1
    commands: Counter[str] = Counter()
    events: Counter[str] = Counter()
    for command in found.commands:
        commands[type(command).__name__] += 1
        for event in engine.process(command):
            events[type(event).__name__] += 1
    print(f"replayed {len(found.commands):,} records from the genesis")
    if found.torn is not None:
        print(f"torn tail: {found.torn.length} bytes at offset {found.torn.offset} (ignored)")
    _print_counts("commands", commands)
    _print_counts("events", events)
    print(f"open orders: {len(engine.orders):,}")
    print(f"state hash: {engine.state_hash()}")
    return 0


def _settlement(args: argparse.Namespace) -> int:
    from node.config import ConfigError
    from settlement.commands import load, run_status, run_worker

    try:
        config = load(args.config, args.queue)
    except ConfigError as e:
        print(f"tokex settlement: {e}", file=sys.stderr)
        return 2
    if args.action == "run":
        return run_worker(config, args.data)
    return run_status(config, args.data, args.json)


def _print_counts(title: str, counts: Counter[str]) -> None:
    print(f"{title}:")
    for name, n in sorted(counts.items()):
        print(f"  {name}: {n:,}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``tokex`` subcommand; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        # The harness sits above everything and nothing imports it: run it as
        # its own module, exactly as ``python -m bench`` would.
        return subprocess.run([sys.executable, "-m", "bench", *argv[1:]], check=False).returncode
    parser = argparse.ArgumentParser(prog="tokex", description="tokex exchange")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_demo = sub.add_parser("demo", help="run a seeded order flow through the engine")
    p_demo.add_argument("--commands", type=int, default=20_000, help="how many commands")
    p_demo.add_argument("--seed", type=int, default=7, help="flow seed")
    p_demo.set_defaults(func=_demo)
    p_serve = sub.add_parser("serve", help="run the exchange (WebSocket and FIX gateways)")
    p_serve.add_argument("--config", type=Path, help="TOML config (default: the built-in demo)")
    p_serve.add_argument("--data", type=Path, default=Path("data"), help="data directory")
    p_serve.add_argument("--clock", default="system", help="system | sim:<ISO 8601 time>")
    p_serve.add_argument("--ws-port", type=int, help="WebSocket port (0: any free one)")
    p_serve.add_argument("--fix-port", type=int, help="FIX 4.4 port (0: any free one)")
    p_serve.add_argument(
        "--http-port", type=int, help="console and /metrics port (0: any free one)"
    )
    p_serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p_serve.add_argument(
        "--workers",
        type=int,
        help="WebSocket gateway worker processes, plus a FIX worker if FIX sessions are"
        " configured (default:"
        " $TOKEX_WORKERS, exchange.workers, or the number of cores minus one; 0: one process)",
    )
    p_serve.set_defaults(func=_serve)
    p_verify = sub.add_parser("verify", help="report on a data directory, changing nothing")
    p_verify.add_argument("--data", type=Path, default=Path("data"), help="data directory")
    p_verify.set_defaults(func=_verify)
    p_replay = sub.add_parser("replay", help="rebuild the state in memory; hash and counts")
    p_replay.add_argument("--data", type=Path, default=Path("data"), help="data directory")
    p_replay.add_argument(
        "--from-genesis", action="store_true", help="replay the whole journal, no snapshot"
    )
    p_replay.set_defaults(func=_replay)
    p_settle = sub.add_parser("settlement", help="the settlement worker and its status")
    p_settle.add_argument("action", choices=("run", "status"))
    p_settle.add_argument("--data", type=Path, default=Path("data"), help="data directory")
    p_settle.add_argument("--queue", help="sqlite, or nats://HOST:PORT (default: the config's)")
    p_settle.add_argument("--config", type=Path, help="TOML config (default: the built-in demo)")
    p_settle.add_argument("--json", action="store_true", help="status as JSON")
    p_settle.set_defaults(func=_settlement)
    sub.add_parser("bench", help="the benchmark harness (see python -m bench --help)")
    args = parser.parse_args(argv)
    if args.cmd == "demo" and args.commands < 1:
        parser.error(f"--commands {args.commands}: must be at least 1")
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
