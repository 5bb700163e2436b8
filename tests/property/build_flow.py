"""One long random flow through whichever engine build this process runs.

Run as ``python -m tests.property.build_flow SEED COUNT [wide|sessions]``: prints one JSON
document with the build (``compiled`` or ``pure``), a digest of each
command's events (msgpack, BLAKE2b) and the engine's ``state_hash`` every
500 commands and at the end. tests/property/test_builds.py runs it once per
build and compares the two documents command by command.

The flow is the risk-on traffic the compiled core speeds up, and around it
everything that shares its state: two symbols, twelve accounts (two of them
poor, so funds checks fail), limits of every time in force, post-only,
icebergs, market orders (by quantity and by cash), stops, self-trade
prevention of every kind, cancels by id, cl_ord_id and userref, amends and
replaces, cancel-all, deposits, withdrawals and reference price moves.

``wide`` runs the same flow at prices 1,000 times and quantities 10**9 times
larger, with balances near the 64-bit limit: orders' costs and fees pass 64
bits, so the compiled core's 128-bit arithmetic and its fallback to Python's
integers (risk/_fast.pyx) are compared with the pure build too.

``sessions`` runs the same flow on the instruments' schedules, as the
xstocks benchmark does: it starts ten minutes before the 16:00 New York close
(regular hours: the rolling reference window, band-edge watch and volatility
pauses), the close falls 40% of the way in (extended hours: limit orders
only), a fifth of the limit orders are GTD or DAY, one symbol is halted a
third of the way in and resumed into a 60-second call (auction indications,
the uncross), and a RunTimers goes in before any command whose time has
passed a timer (expiries, phase changes, the end of the call).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from datetime import date
from typing import Any

import msgspec

from engine.calendar import eastern_to_utc_ns
from engine.engine import Engine
from engine.sessions import trading_day_end_ns
from model import build
from model.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    Deposit,
    Halt,
    NewOrder,
    ReplaceOrder,
    Resume,
    RunTimers,
    SetReferencePrice,
    Withdraw,
)
from tests.builders import instrument, risk_for

SYMBOLS = ("AAPLx/USD", "TSLAx/USD")
ACCOUNTS = tuple(f"t{n}" for n in range(12))
POOR = ("t10", "t11")
MID = 10_000
CLIDS = ("k1", "k2", "k3")
STPS = ("cancel_newest", "cancel_oldest", "cancel_both")
STOPS = ("stop-loss", "stop-loss-limit", "take-profit", "take-profit-limit")

_encode = msgspec.msgpack.Encoder().encode


# The wide flow's scales: prices (ticks), quantities (lots).
WIDE_PRICE = 1_000
WIDE_QTY = 10**9


# The sessions flow: a Monday, ten minutes before the close.
START = eastern_to_utc_ns(date(2026, 11, 23), 15, 50)
TO_CLOSE_NS = 10 * 60 * 10**9


def make_engine(wide: bool = False, sessions: bool = False) -> Engine:
    mid = MID * WIDE_PRICE if wide else MID
    inst: dict[str, Any] = (
        {"reference_price": mid, "qty_max": 10**15} if wide else {"reference_price": MID}
    )
    if sessions:
        instruments = [
            instrument(s, schedule=sched, **inst)
            for s, sched in zip(SYMBOLS, ("24/7", "24/5"), strict=True)
        ]
    else:
        instruments = [instrument(s, **inst) for s in SYMBOLS]
    risk = risk_for(instruments, ACCOUNTS)
    for account in ACCOUNTS:
        poor = account in POOR
        if wide:
            # Twelve accounts just under 2**63 units of each asset in all.
            risk.deposit(account, "USD", 10**13 if poor else 7 * 10**17)
            for base in ("AAPLx", "TSLAx"):
                risk.deposit(account, base, 10**15 if poor else 7 * 10**17)
            continue
        risk.deposit(account, "USD", 50_000 if poor else 10**13)
        for base in ("AAPLx", "TSLAx"):
            risk.deposit(account, base, 10**7 if poor else 10**15)
    return Engine(instruments, risk, START if sessions else None)


def flow(seed: int, count: int, wide: bool = False) -> list[Command]:
    """``count`` commands; order ids to cancel or amend are drawn from those placed."""
    commands = _flow(seed, count)
    if not wide:
        return commands
    return [_widen(c) for c in commands]


def _widen(c: Command) -> Command:
    """The command at the wide flow's scales (prices x WIDE_PRICE, quantities x WIDE_QTY)."""
    changes: dict[str, Any] = {}
    for name in ("price", "trigger_price"):
        value = getattr(c, name, None)
        if value is not None:
            changes[name] = value * WIDE_PRICE
    for name in ("qty", "display_qty", "cash_qty"):
        value = getattr(c, name, None)
        if value is not None:
            changes[name] = value * WIDE_QTY
    return msgspec.structs.replace(c, **changes) if changes else c


def _flow(seed: int, count: int) -> list[Command]:
    rng = random.Random(seed)
    placed: list[tuple[int, str]] = []
    out: list[Command] = []
    for seq in range(1, count + 1):
        ts = seq * 1_000
        account = rng.choice(ACCOUNTS)
        symbol = rng.choice(SYMBOLS)
        side: Any = rng.choice(("buy", "sell"))
        roll = rng.random()
        # Mostly recent orders, which are more often still open.
        target = rng.choice(placed[-60:]) if placed else None
        if roll < 0.20 and target is not None:
            out.append(CancelOrder(seq, ts, target[1], target[0]))
            continue
        if roll < 0.23:
            out.append(CancelOrder(seq, ts, account, cl_ord_id=rng.choice(CLIDS)))
            continue
        if roll < 0.24:
            out.append(CancelOrder(seq, ts, account, userref=rng.randint(1, 3)))
            continue
        if roll < 0.31 and target is not None:
            price = MID + rng.randint(-40, 40) if rng.random() < 0.8 else None
            qty = rng.randint(1, 300) if rng.random() < 0.4 else None
            if price is None and qty is None:
                price = MID
            out.append(AmendOrder(seq, ts, target[1], target[0], qty=qty, price=price))
            continue
        if roll < 0.33 and target is not None:
            out.append(
                ReplaceOrder(
                    seq,
                    ts,
                    target[1],
                    target[0],
                    qty=rng.randint(1, 300),
                    price=MID + rng.randint(-30, 30),
                )
            )
            continue
        if roll < 0.335:
            out.append(CancelAll(seq, ts, account, rng.choice((None, *SYMBOLS))))
            continue
        if roll < 0.34:
            out.append(Deposit(seq, ts, account, "USD", rng.randint(1, 10**6)))
            continue
        if roll < 0.345:
            out.append(Withdraw(seq, ts, account, "USD", rng.randint(1, 10**5)))
            continue
        if roll < 0.347:
            out.append(SetReferencePrice(seq, ts, "ops", symbol, MID + rng.randint(-50, 50)))
            continue
        qty = rng.randint(1, 200) * (rng.choice((1, 1, 1, 100)))
        near = -rng.randint(-6, 40) if side == "buy" else rng.randint(-6, 40)
        price = MID + near
        tags: dict[str, Any] = {
            "cl_ord_id": rng.choice(CLIDS) if rng.random() < 0.15 else None,
            "userref": rng.randint(1, 3) if rng.random() < 0.2 else None,
            "stp": rng.choice(STPS),
        }
        kind = rng.random()
        try:
            if kind < 0.06:
                cash = rng.randint(1_000, 10**7) if side == "buy" and rng.random() < 0.3 else None
                cmd: Command = (
                    NewOrder(
                        seq,
                        ts,
                        account,
                        symbol,
                        side,
                        qty,
                        None,
                        "market",
                        "ioc",
                        cash_qty=cash,
                        **tags,
                    )
                    if cash is None
                    else NewOrder(
                        seq,
                        ts,
                        account,
                        symbol,
                        side,
                        1,
                        None,
                        "market",
                        "ioc",
                        cash_qty=cash,
                    )
                )
            elif kind < 0.10:
                cmd = NewOrder(
                    seq,
                    ts,
                    account,
                    symbol,
                    side,
                    qty,
                    price,
                    "limit",
                    rng.choice(("ioc", "fok")),
                    **tags,
                )
            elif kind < 0.14:
                cmd = NewOrder(
                    seq,
                    ts,
                    account,
                    symbol,
                    side,
                    rng.randint(11, 300),
                    price,
                    "iceberg",
                    display_qty=rng.randint(1, 10),
                    **tags,
                )
            elif kind < 0.17:
                trigger = MID + rng.randint(-30, 30)
                stop = rng.choice(STOPS)
                limit = price if stop.endswith("limit") else None
                cmd = NewOrder(
                    seq, ts, account, symbol, side, qty, limit, stop, trigger_price=trigger, **tags
                )
            elif kind < 0.20:
                cmd = NewOrder(seq, ts, account, symbol, side, qty, price, post_only=True, **tags)
            else:
                cmd = NewOrder(seq, ts, account, symbol, side, qty, price, **tags)
        except ValueError:
            cmd = NewOrder(seq, ts, account, symbol, side, qty, price)
        placed.append((seq, account))
        out.append(cmd)
    return out


def on_schedule(seed: int, commands: list[Command]) -> list[Command]:
    """The sessions flow's commands: restamped on the clock, some limits GTD or DAY,
    a halt and a resume. Sequence numbers (and so order ids) are doubled, which
    leaves the odd ones free for the RunTimers :func:`run` puts in."""
    rng = random.Random(seed)
    count = len(commands)
    step = TO_CLOSE_NS * 10 // (4 * max(count, 1))  # the close at 40% of the flow
    halt_at, resume_at = count // 3, count // 3 + max(2, count // 200)
    out: list[Command] = []
    for i, c in enumerate(commands):
        seq = 2 * c.seq
        ts = START + c.seq * step
        if i == halt_at:
            out.append(Halt(seq, ts, "ops", SYMBOLS[0], "news pending"))
            continue
        if i == resume_at:
            out.append(Resume(seq, ts, "ops", SYMBOLS[0], 60 * 10**9))
            continue
        changes: dict[str, Any] = {"seq": seq, "ts": ts}
        order_id = getattr(c, "order_id", None)
        if order_id is not None:
            changes["order_id"] = 2 * order_id
        if type(c) is NewOrder and c.order_type == "limit" and c.tif == "gtc":
            roll = rng.random()
            if roll < 0.1:
                changes |= {"tif": "gtd", "expire_ts": ts + rng.randint(1, 120) * 10**9}
            elif roll < 0.2:
                changes |= {"tif": "day", "expire_ts": trading_day_end_ns(ts)}
        out.append(msgspec.structs.replace(c, **changes))
    return out


def run(seed: int, count: int, wide: bool = False, sessions: bool = False) -> dict[str, Any]:
    engine = make_engine(wide, sessions)
    digests: list[str] = []
    hashes: dict[int, str] = {}
    commands = flow(seed, count, wide)
    if sessions:
        commands = on_schedule(seed, commands)
    for cmd in commands:
        due = engine.next_timer() if sessions else None
        if due is not None and due <= cmd.ts:
            timers = engine.process(RunTimers(cmd.seq - 1, cmd.ts))
            digests.append(hashlib.blake2b(_encode(timers), digest_size=12).hexdigest())
        events = engine.process(cmd)
        digests.append(hashlib.blake2b(_encode(events), digest_size=12).hexdigest())
        if cmd.seq % 500 == 0:
            hashes[cmd.seq] = engine.state_hash()
    engine.check_invariants()
    hashes[count] = engine.state_hash()
    return {
        "build": "compiled" if build.COMPILED else "pure",
        "events": digests,
        "state_hash": hashes,
        "open_orders": len(engine.orders),
    }


if __name__ == "__main__":
    mode = sys.argv[3:4]
    print(
        json.dumps(run(int(sys.argv[1]), int(sys.argv[2]), mode == ["wide"], mode == ["sessions"]))
    )
