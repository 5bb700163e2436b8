"""The compiled core against the pure-Python build: same events, same state_hash.

Each build runs the same long random flows (tests/property/build_flow.py) in
its own process: the pure one with ``TOKEX_PURE=1``, the compiled one
without; the wide flow once more, with costs and fees past 64 bits; and the
sessions flow twice, on the instruments' schedules (reference window, close,
halt and auction call, GTD and DAY expiries, timers). Every
command's events and the state hash every 500 commands must be equal. The
compiled build must be there: ``make install`` builds it (a C compiler and
Python's headers are needed; CI has both).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from model.build import PURE_ENV
from tests.property.build_flow import flow

ROOT = Path(__file__).resolve().parents[2]
COUNT = 12_000


def _run(seed: int, pure: bool, mode: str = "") -> dict[str, Any]:
    env = dict(os.environ)
    env.pop(PURE_ENV, None)
    if pure:
        env[PURE_ENV] = "1"
    args = [sys.executable, "-m", "tests.property.build_flow", str(seed), str(COUNT)]
    proc = subprocess.run(
        args + ([mode] if mode else []),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


@pytest.mark.parametrize(
    ("seed", "mode"), [(1, ""), (2, ""), (3, ""), (4, "wide"), (5, "sessions"), (6, "sessions")]
)
def test_compiled_matches_pure(seed: int, mode: str) -> None:
    pure = _run(seed, pure=True, mode=mode)
    compiled = _run(seed, pure=False, mode=mode)
    assert pure["build"] == "pure"
    assert compiled["build"] == "compiled", (
        "the compiled core is not built: make install needs a C compiler and Python's headers"
    )
    if compiled["events"] != pure["events"]:
        at = next(
            i
            for i, (a, b) in enumerate(zip(compiled["events"], pure["events"], strict=True))
            if a != b
        )
        if mode == "sessions":  # RunTimers go in as the engine asks: no list to index
            pytest.fail(f"seed {seed} ({mode}): events differ first at event list {at + 1}")
        cmd = flow(seed, at + 1, mode == "wide")[at]
        pytest.fail(f"seed {seed}: events differ first at command {at + 1}: {cmd!r}")
    assert compiled["state_hash"] == pure["state_hash"]
    assert compiled["open_orders"] == pure["open_orders"] > 0
