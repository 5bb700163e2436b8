"""Seeded, reproducible workloads for the benchmark harness.

A workload is first generated as a list of plain *ops*, the neutral form the
peers read too, then turned into tokex commands:

* ``["L", order_id, side, price_ticks, qty_lots, account]``: limit GTC
* ``["I", order_id, side, price_ticks, qty_lots, account]``: limit IOC
* ``["M", order_id, side, qty_lots, account]``: market IOC
* ``["C", order_id, account]``: cancel an earlier order (it may have filled)
* ``["A", order_id, account, new_price_ticks]``: amend an order's price

``order_id`` is the op's 1-based position, which is also the command
sequence number tokex gives it, so ids agree across engines.
"""

from __future__ import annotations

import random
from decimal import Decimal

from engine.engine import Engine
from engine.events import OrderCancelled, OrderExpired, TradeExecuted
from model.commands import AmendOrder, CancelOrder, Command, NewOrder
from model.instrument import Instrument
from risk.accounts import AccountSpec, FeeTier
from risk.money import Asset
from risk.risk import Risk

__all__ = [
    "BENCH_SYMBOL",
    "WORKLOADS",
    "bench_engine",
    "bench_instrument",
    "ecore_mix",
    "peer_flow",
    "to_commands",
]

BENCH_SYMBOL = "AAPLx/USD"
Op = list[object]

# peer-flow, as the leading pure-Python peer defines its published mix.
_MID = 100_000
_DEPTH_TICKS = 50
_CROSS_TICKS = 5


def bench_instrument() -> Instrument:
    """The one instrument the single-symbol workloads trade: 0.01 ticks, whole lots."""
    return Instrument(
        symbol=BENCH_SYMBOL,
        base="AAPLx",
        quote="USD",
        price_increment=Decimal("0.01"),
        qty_increment=Decimal("1"),
        reference_price=_MID,
    )


_ACCOUNTS = 10_000
_TIER = FeeTier("bench", maker_bps=10, taker_bps=25)
# Every 33rd account is funded for a single small order only, so a few
# percent of orders fail the funds check on purpose, as in a real market.
_POOR_EVERY = 33


def bench_engine() -> Engine:
    """The engine the workloads run on: risk ON, every account funded.

    Accounts hold 5M USD and 5,000 shares (enough for the most orders any
    account rests in these workloads), except every 33rd, which holds
    1,000 USD and 1 share. Funding is set up directly, before the clock
    starts; it is not part of the measured commands.
    """
    inst = bench_instrument()
    specs = [AccountSpec(id=_account(n), fee_tier=_TIER) for n in range(1, _ACCOUNTS + 1)]
    risk = Risk([Asset("USD", 2), Asset("AAPLx", 8)], [inst], specs, fee_account="fees")
    for n in range(1, _ACCOUNTS + 1):
        poor = n % _POOR_EVERY == 0
        risk.deposit(_account(n), "USD", 100_000 if poor else 500_000_000)
        risk.deposit(_account(n), "AAPLx", 10**8 if poor else 5_000 * 10**8)
    return Engine([inst], risk)


def _account(n: int) -> str:
    return f"acct{n}"


def peer_flow(count: int, seed: int = 1, accounts: int = 1_000) -> list[Op]:
    """25% cancels of a random earlier limit, 5% market IOC, 70% limits near mid.

    Limits land within 50 ticks of mid on their passive side and up to 5
    ticks through it, so about one in ten crosses; quantities 1-100 lots.
    """
    rng = random.Random(seed)
    placed: list[tuple[int, int]] = []
    ops: list[Op] = []
    for order_id in range(1, count + 1):
        roll = rng.random()
        if roll < 0.25 and placed:
            victim, owner = placed[rng.randrange(len(placed))]
            ops.append(["C", victim, owner])
            continue
        side = "buy" if rng.random() < 0.5 else "sell"
        account = rng.randint(1, accounts)
        qty = rng.randint(1, 100)
        if roll < 0.30:
            ops.append(["M", order_id, side, qty, account])
            continue
        offset = rng.randint(-_CROSS_TICKS, _DEPTH_TICKS)
        price = _MID - offset if side == "buy" else _MID + offset
        placed.append((order_id, account))
        ops.append(["L", order_id, side, price, qty, account])
    return ops


def ecore_mix(count: int, seed: int = 1, accounts: int = 1_000) -> list[Op]:
    """exchange-core's mix: 9% GTC, 3% IOC, 6% cancel, 82% amend-price.

    About 1,000 orders rest over about 750 price levels. Cancels and amends
    target orders that are really open: the generator runs the flow through
    a tokex engine as it goes to know which ones are.
    """
    rng = random.Random(seed)
    oracle = bench_engine()
    live: dict[int, tuple[int, str]] = {}  # order_id -> (account, side)
    live_ids: list[int] = []
    ops: list[Op] = []

    def passive_price(side: str) -> int:
        offset = rng.randint(1, 375)
        return _MID - offset if side == "buy" else _MID + offset

    def apply(op: Op) -> None:
        ops.append(op)
        seq = len(ops)
        for ev in oracle.process(to_command(op, seq)):
            if isinstance(ev, TradeExecuted) and ev.maker_leaves == 0:
                live.pop(ev.maker_order_id, None)
            elif isinstance(ev, (OrderCancelled, OrderExpired)):
                live.pop(ev.order_id, None)
        if op[0] == "L" and len(ops) in oracle.orders:
            live[len(ops)] = (int(op[5]), str(op[2]))  # type: ignore[call-overload]
            live_ids.append(len(ops))

    def pick() -> int | None:
        while live_ids:
            i = rng.randrange(len(live_ids))
            order_id = live_ids[i]
            if order_id in live:
                return order_id
            live_ids[i] = live_ids[-1]
            live_ids.pop()
        return None

    while len(ops) < min(count, 1_000):
        side = "buy" if rng.random() < 0.5 else "sell"
        apply(
            [
                "L",
                len(ops) + 1,
                side,
                passive_price(side),
                rng.randint(1, 100),
                rng.randint(1, accounts),
            ]
        )
    while len(ops) < count:
        order_id = len(ops) + 1
        roll = rng.random()
        side = "buy" if rng.random() < 0.5 else "sell"
        account = rng.randint(1, accounts)
        target = pick()
        if roll < 0.09 or target is None:
            apply(["L", order_id, side, passive_price(side), rng.randint(1, 100), account])
        elif roll < 0.12:
            through = rng.randint(0, 10)
            price = _MID + through if side == "buy" else _MID - through
            apply(["I", order_id, side, price, rng.randint(1, 100), account])
        elif roll < 0.18:
            apply(["C", target, live[target][0]])
        else:
            owner, own_side = live[target]
            apply(["A", target, owner, passive_price(own_side)])
    return ops


def to_command(op: Op, seq: int) -> Command:
    """One op as the tokex command with sequence number ``seq`` (ts = seq microseconds)."""
    ts = seq * 1_000
    kind = op[0]
    if kind == "L" or kind == "I":
        _, _, side, price, qty, account = op
        return NewOrder(
            seq,
            ts,
            _account(int(account)),  # type: ignore[call-overload]
            BENCH_SYMBOL,
            side,  # type: ignore[arg-type]
            int(qty),  # type: ignore[call-overload]
            int(price),  # type: ignore[call-overload]
            "limit",
            "gtc" if kind == "L" else "ioc",
        )
    if kind == "M":
        _, _, side, qty, account = op
        return NewOrder(
            seq,
            ts,
            _account(int(account)),  # type: ignore[call-overload]
            BENCH_SYMBOL,
            side,  # type: ignore[arg-type]
            int(qty),  # type: ignore[call-overload]
            None,
            "market",
            "ioc",
        )
    if kind == "C":
        _, order_id, account = op
        return CancelOrder(seq, ts, _account(int(account)), int(order_id))  # type: ignore[call-overload]
    if kind == "A":
        _, order_id, account, price = op
        return AmendOrder(
            seq,
            ts,
            _account(int(account)),  # type: ignore[call-overload]
            int(order_id),  # type: ignore[call-overload]
            price=int(price),  # type: ignore[call-overload]
        )
    raise ValueError(f"op {op!r}: unknown kind {kind!r}")


def to_commands(ops: list[Op]) -> list[Command]:
    """All ops as tokex commands, sequence numbers 1..n."""
    return [to_command(op, i) for i, op in enumerate(ops, 1)]


WORKLOADS = {"peer-flow": peer_flow, "ecore-mix": ecore_mix}
