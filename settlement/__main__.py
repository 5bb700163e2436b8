"""``python -m settlement run --data DIR [--config FILE] [--queue ...] [--parent PID]``.

The worker as a process: what ``tokex settlement run`` runs, and what
``tokex serve`` starts as its child (``--parent``: stop when that process is
gone, so a killed server leaves no worker behind).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from node.config import ConfigError
from settlement.commands import load, run_worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m settlement", description=__doc__)
    parser.add_argument("action", choices=("run",))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--queue")
    parser.add_argument("--parent", type=int, help="stop once this process is gone")
    args = parser.parse_args(argv)
    try:
        config = load(args.config, args.queue)
    except ConfigError as e:
        print(f"python -m settlement: {e}", file=sys.stderr)
        return 2
    return run_worker(config, args.data, args.parent)


if __name__ == "__main__":
    sys.exit(main())
