"""Machine instructions per command, counted by valgrind's callgrind.

Wall-clock throughput on a shared machine moves by tens of percent from run
to run; an instruction count does not (same binary, same input, same count).
It is no substitute for time (cache misses and the CPU's parallelism are not
in it) but it is a steady second view of the same ratio.

Each engine's runner runs twice under callgrind on the same ops file: once
only building its commands (``--count-mode setup``), once building and
running them (``--count-mode once``), the two side by side. The difference
divided by the number of commands is the engine's cost per command. ``PYTHONHASHSEED=0`` keeps dict
layouts, and so the counts, repeatable; ``PYTHONDONTWRITEBYTECODE=1`` keeps
the two runs from racing to write bytecode caches.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.peers.run import prepare, runner_path

__all__ = ["instructions_per_command", "valgrind_available"]

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
_TOKEX_RUNNER = Path(__file__).resolve().parent / "peers" / "runner_tokex.py"


def valgrind_available() -> bool:
    """Whether ``valgrind`` is on PATH (Debian package ``valgrind``)."""
    return shutil.which("valgrind") is not None


def _count(
    python: Path, runner: Path, ops: Path, mode: str, base: dict[str, str] | None = None
) -> int:
    # Neither run writes bytecode caches: the two run side by side, and one that
    # found a module's .pyc the other had just written would count less of its
    # import than the other did (seen: a negative count on a fresh checkout).
    env = dict(
        os.environ if base is None else base, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1"
    )
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            str(python),
            str(runner),
            str(ops),
            "--count-mode",
            mode,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    match = _REFS.search(proc.stderr)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"callgrind of {runner.name} ({mode}) failed:\n{proc.stderr[-2000:]}")
    return int(match.group(1).replace(",", ""))


def instructions_per_command(engine: str, ops: Path, commands: int) -> int:
    """Instructions per command of ``engine`` on ``ops``.

    ``engine`` is a peer name (``tokex-py3.12`` and ``tokex-py3.12-pure`` among
    them), or ``tokex-pyX.Y`` for tokex on the harness's own Python.
    """
    env: dict[str, str] | None = None
    if engine == f"tokex-py{sys.version_info[0]}.{sys.version_info[1]}":
        python, runner = Path(sys.executable), _TOKEX_RUNNER
    else:
        (python, env), runner = prepare(engine), runner_path(engine)
    # The two counts are independent and each is the same whatever runs beside
    # it (instructions, not time): run them side by side, one per core.
    with ThreadPoolExecutor(max_workers=2) as pool:
        setup = pool.submit(_count, python, runner, ops, "setup", env)
        once = pool.submit(_count, python, runner, ops, "once", env)
        return round((once.result() - setup.result()) / commands)
