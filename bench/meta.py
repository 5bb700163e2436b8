"""What every benchmark result records about where and how it ran.

:func:`run_meta` is the ``meta`` block each ``bench/results/*.json`` carries:
the machine, the Python, the build (pure Python or compiled extension
modules), the commit (and whether the tree had changes), the fsync policy and
configuration of the stage, the run it belongs to, and how busy the machine
was while it ran (:class:`Load`). The machines are shared, so a figure taken
while other work held the cores says so.
"""

from __future__ import annotations

import importlib.machinery
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import machine
from model.build import PURE_ENV

__all__ = ["PACKAGES", "Load", "build", "build_env", "commit", "new_run_id", "run_meta"]

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = ("model", "engine", "risk", "node", "gateway", "settlement")
"""The packages whose form decides the build: any extension module in them makes it compiled."""


def build(
    root: Path = ROOT,
    packages: Iterable[str] = PACKAGES,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``{"kind": "pure" | "compiled", "compiled": [modules]}`` of the tree under ``root``.

    A module counts as compiled when an extension module of this interpreter
    (``.cpython-311-x86_64-linux-gnu.so`` and the like; another Python's
    beside it does not count) stands for it in the package (Python imports
    that before the source),
    unless ``TOKEX_PURE`` in ``env`` (the process's environment by default)
    asks for the pure build (model/build.py): then the kind is pure whatever
    is built, and ``forced_pure`` says so.
    """
    env = os.environ if env is None else env
    if env.get(PURE_ENV, "") not in ("", "0"):
        return {"kind": "pure", "compiled": [], "forced_pure": True}
    compiled = []
    # Only this interpreter's modules: the 3.12 core sits beside the 3.11 one.
    suffixes = set(importlib.machinery.EXTENSION_SUFFIXES)
    for package in packages:
        for path in sorted((root / package).rglob("*")):
            if "." + path.name.partition(".")[2] in suffixes:
                rel = path.relative_to(root).with_name(path.name.split(".", 1)[0])
                compiled.append(".".join(rel.parts))
    return {"kind": "compiled" if compiled else "pure", "compiled": compiled}


def build_env(build: str, **extra: str) -> dict[str, str]:
    """This process's environment for a child that is to run ``build``
    ("compiled" or "pure"): ``TOKEX_PURE=1`` for the pure one, and for the
    compiled one without any ``TOKEX_PURE`` inherited; ``extra`` on top."""
    env = dict(os.environ, **extra)
    env.pop(PURE_ENV, None)
    if build == "pure":
        env[PURE_ENV] = "1"
    return env


def commit(root: Path = ROOT) -> dict[str, Any]:
    """The commit the tree is at and whether it had uncommitted changes (git), or unknown."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    # Changes under bench/results/ and README.md are the run's own output.
    status = git("status", "--porcelain", "--", ".", ":!bench/results", ":!README.md")
    return {"sha": sha or "unknown", "dirty": bool(status) if status is not None else None}


def new_run_id(when: datetime | None = None) -> str:
    """A run's id: its UTC start time, to the second (``20261205T031500Z``)."""
    return (when or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def _busy_jiffies() -> tuple[int, int] | None:
    """The machine's (busy, total) CPU time from ``/proc/stat``, in clock ticks."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _own_cpu_s() -> float:
    """CPU seconds of this process and of its children that were waited for."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Load:
    """How busy the machine was over a stretch of time, and how much of it was the bench.

    ``Load.start()`` before, ``.stop()`` after; :meth:`report` gives the
    1-minute load average at both ends, the cores the whole machine kept busy
    on average, the cores the harness itself used (its process and the
    children it waited for: servers, peers, load generators), and the rest:
    other work on the machine.
    """

    wall0: float
    jiffies0: tuple[int, int] | None
    own0: float
    loadavg0: float
    wall1: float | None = None
    jiffies1: tuple[int, int] | None = None
    own1: float | None = None
    loadavg1: float | None = None

    @classmethod
    def start(cls) -> Load:
        return cls(time.monotonic(), _busy_jiffies(), _own_cpu_s(), os.getloadavg()[0])

    def stop(self) -> Load:
        self.wall1 = time.monotonic()
        self.jiffies1 = _busy_jiffies()
        self.own1 = _own_cpu_s()
        self.loadavg1 = os.getloadavg()[0]
        return self

    def report(self) -> dict[str, Any]:
        if self.wall1 is None or self.own1 is None:
            self.stop()
        assert self.wall1 is not None and self.own1 is not None
        wall = max(self.wall1 - self.wall0, 1e-9)
        cores = os.cpu_count() or 1
        busy: float | None = None
        if self.jiffies0 is not None and self.jiffies1 is not None:
            d_busy = self.jiffies1[0] - self.jiffies0[0]
            d_total = self.jiffies1[1] - self.jiffies0[1]
            busy = cores * d_busy / d_total if d_total > 0 else 0.0
        own = (self.own1 - self.own0) / wall
        return {
            "wall_s": round(wall, 1),
            "loadavg_1m_start": round(self.loadavg0, 2),
            "loadavg_1m_end": round(self.loadavg1 or 0.0, 2),
            "cores": cores,
            "machine_busy_cores": None if busy is None else round(busy, 2),
            "bench_cpu_s": round(self.own1 - self.own0, 2),
            "bench_cores": round(own, 2),
            "other_cores": None if busy is None else round(max(0.0, busy - own), 2),
        }


def run_meta(
    *,
    run_id: str,
    stage: str,
    fsync: str,
    config: dict[str, Any],
    load: Load | None = None,
    started: datetime | None = None,
) -> dict[str, Any]:
    """The ``meta`` block of one stage's result."""
    return {
        "run_id": run_id,
        "stage": stage,
        "started_utc": (started or datetime.now(UTC)).isoformat(timespec="seconds"),
        "machine": machine(),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "build": build(),
        "commit": commit(),
        "fsync": fsync,
        "config": config,
        "load": load.report() if load is not None else None,
    }
