"""The ``tokex`` command line.

* ``tokex demo [--commands N] [--seed S]``: a seeded order flow over a few
  xStocks through the engine; prints the top of each book and counts.
* ``tokex bench ...``: the benchmark harness, same as ``python -m bench ...``.

``tokex serve``, ``verify``, ``replay`` and ``settlement`` arrive with the
server, journal and settlement work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo import render, run_demo

    result = run_demo(args.commands, args.seed)
    print(f"tokex demo: {args.commands:,} seeded commands (seed {args.seed})\n")
    print(render(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``tokex`` subcommand; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from bench.cli import main as bench_main

        bench_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="tokex", description="tokex exchange")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_demo = sub.add_parser("demo", help="run a seeded order flow through the engine")
    p_demo.add_argument("--commands", type=int, default=20_000, help="how many commands")
    p_demo.add_argument("--seed", type=int, default=7, help="flow seed")
    p_demo.set_defaults(func=_demo)
    sub.add_parser("bench", help="the benchmark harness (see python -m bench --help)")
    args = parser.parse_args(argv)
    if args.cmd == "demo" and args.commands < 1:
        parser.error(f"--commands {args.commands}: must be at least 1")
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
