"""Long random flows that touch every part of the engine's state a snapshot must keep.

The build test's traffic (tests/property/build_flow.py: limits of every time
in force, icebergs, market orders, stops, self-trade prevention, cancels,
amends, replaces, funding, reference moves) on an engine with schedules (one
symbol 24/5, one 24/7, from a Monday before the open, so phases change
through the day), plus what only a schedule and the operator bring: timers run every
few commands (expiries, dead man's switches, phase changes, the end of an
auction call), halts and resumes (auction calls), all-or-nothing batches
(a snapshot can fall between a batch's parts), good-till-date orders, kill
switches, dead man's switches, dividends announced for later and splits.

Run as ``python -m tests.property.snapshot_flow write SEED COUNT CUT PATH``:
runs the flow's first CUT commands, writes the engine's snapshot bytes
(engine/snapshot.py) to PATH, then runs the rest; ``... read SEED COUNT CUT
PATH`` starts from the snapshot at PATH and runs the rest. Both print one
JSON document: the build, the state hash at the cut, a digest of each later
command's events and the final state hash. tests/property/test_snapshots.py
compares the two across builds.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

import msgspec

from engine import snapshot
from engine.engine import Engine
from engine.events import Event
from model import build
from model.commands import (
    BatchOrder,
    CancelAllAfter,
    Command,
    CommandError,
    CorporateAction,
    Halt,
    NewOrder,
    Resume,
    RunTimers,
    SetKillSwitch,
)
from tests.builders import instrument, risk_for
from tests.property.build_flow import ACCOUNTS, MID, POOR, SYMBOLS
from tests.property.build_flow import flow as base_flow

START = 1_796_648_400 * 10**9  # Monday 2026-12-07 13:00 UTC (8:00 in New York)
STEP = 20 * 10**9  # 20 s between commands: 3,000 run from before the open past the close
SCHEDULES = {"AAPLx/USD": "24/5", "TSLAx/USD": "24/7"}

_encode = msgspec.msgpack.Encoder().encode


def make_engine() -> Engine:
    instruments = [
        instrument(s, reference_price=MID, schedule=SCHEDULES[s], qty_max=10**9) for s in SYMBOLS
    ]
    risk = risk_for(instruments, (*ACCOUNTS, "ops"))
    for account in ACCOUNTS:
        poor = account in POOR
        risk.deposit(account, "USD", 50_000 if poor else 10**13)
        for base in ("AAPLx", "TSLAx"):
            risk.deposit(account, base, 10**7 if poor else 10**15)
    return Engine(instruments, risk, START)


def flow(seed: int, count: int) -> list[Command]:
    """``count`` commands: the build flow's, renumbered, with the extras mixed in."""
    rng = random.Random(seed * 7_919 + 1)
    base = base_flow(seed, count)
    out: list[Command] = []

    def stamp() -> tuple[int, int]:
        seq = len(out) + 1
        return seq, START + seq * STEP

    for c in base:
        if len(out) >= count:
            break
        seq, ts = stamp()
        roll = rng.random()
        symbol = rng.choice(SYMBOLS)
        account = rng.choice(ACCOUNTS)
        extra: list[Command] = []
        try:
            if roll < 0.08:
                extra = [RunTimers(seq, ts)]
            elif roll < 0.085:
                extra = [Halt(seq, ts, "ops", symbol)]
            elif roll < 0.11:
                extra = [
                    Resume(seq, ts, "ops", symbol, auction_ns=rng.choice((0, 60, 300)) * 10**9)
                ]
            elif roll < 0.13:
                parts = rng.randint(2, 3)
                extra = [
                    BatchOrder(
                        seq + i,
                        ts,
                        account,
                        symbol,
                        rng.choice(("buy", "sell")),  # type: ignore[arg-type]
                        rng.randint(1, 50),
                        MID + rng.randint(-20, 20),
                        part=i,
                        parts=parts,
                    )
                    for i in range(parts)
                ]
            elif roll < 0.15:
                extra = [
                    NewOrder(
                        seq,
                        ts,
                        account,
                        symbol,
                        rng.choice(("buy", "sell")),  # type: ignore[arg-type]
                        rng.randint(1, 50),
                        MID + rng.randint(-20, 20),
                        tif="gtd",
                        expire_ts=ts + rng.randint(1, 40) * STEP,
                    )
                ]
            elif roll < 0.155:
                extra = [SetKillSwitch(seq, ts, account, rng.random() < 0.3)]
            elif roll < 0.175:
                extra = [CancelAllAfter(seq, ts, account, rng.choice((0, 60, 600)) * 10**9)]
            elif roll < 0.18:
                num, den = rng.choice(((21, 20), (2, 1), (1, 2)))
                kind = "dividend" if num == 21 else "split"
                later = rng.randint(0, 30) * STEP
                extra = [CorporateAction(seq, ts, "ops", symbol, kind, num, den, ts + later)]
        except CommandError:
            extra = []
        out.extend(extra[: count - len(out)])
        if len(out) >= count:
            break
        seq, ts = stamp()
        out.append(msgspec.structs.replace(c, seq=seq, ts=ts))
    return out


def digest(events: list[Event]) -> str:
    return hashlib.blake2b(_encode(events), digest_size=12).hexdigest()


def run(engine: Engine, commands: list[Command]) -> list[str]:
    return [digest(engine.process(c)) for c in commands]


def main(argv: list[str]) -> None:
    mode, seed, count, cut, path = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), argv[4]
    commands = flow(seed, count)
    if mode == "write":
        engine = make_engine()
        run(engine, commands[:cut])
        Path(path).write_bytes(snapshot.encode(engine))
    else:
        engine = snapshot.decode(Path(path).read_bytes())
        engine.check_invariants()
    at_cut = engine.state_hash()
    events = run(engine, commands[cut:])
    doc: dict[str, Any] = {
        "build": "compiled" if build.COMPILED else "pure",
        "at_cut": at_cut,
        "events": events,
        "state_hash": engine.state_hash(),
    }
    json.dump(doc, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
