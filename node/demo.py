"""The built-in demo: a seeded order flow over a few xStocks through the engine.

Used by ``tokex demo`` (and ``make run`` until the exchange server lands): it
shows the engine working end to end with no network and no files.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from engine.engine import Engine
from engine.events import Event
from model.commands import CancelOrder, Command, NewOrder, Side
from model.instrument import Instrument
from node.store import Genesis
from risk.accounts import AccountSpec, FeeTier
from risk.money import Asset
from risk.risk import Risk

__all__ = [
    "DEMO_INSTRUMENTS",
    "DemoResult",
    "demo_engine",
    "demo_flow",
    "demo_genesis",
    "demo_specs",
    "run_demo",
]


def _xstock(symbol: str, reference: str, tier: int) -> Instrument:
    price_increment = Decimal("0.01")
    return Instrument(
        symbol=f"{symbol}/USD",
        base=symbol,
        quote="USD",
        price_increment=price_increment,
        qty_increment=Decimal("0.0001"),
        tier=tier,
        reference_price=int(Decimal(reference) / price_increment),
    )


DEMO_INSTRUMENTS = (
    _xstock("AAPLx", "230.00", 1),
    _xstock("TSLAx", "250.00", 2),
    _xstock("SPYx", "590.00", 1),
    _xstock("NVDAx", "140.00", 2),
)


DEMO_ASSETS = (Asset("USD", 2), *(Asset(i.base, 8) for i in DEMO_INSTRUMENTS))
DEMO_ACCOUNTS = tuple(f"trader{i}" for i in range(1, 21))


def demo_specs() -> list[AccountSpec]:
    """The 20 demo traders, on a 10/25 bps fee tier."""
    tier = FeeTier("default", maker_bps=10, taker_bps=25)
    return [AccountSpec(id=a, fee_tier=tier) for a in DEMO_ACCOUNTS]


def demo_genesis() -> Genesis:
    """The demo's engine as a data directory's genesis (no balances: those are deposits)."""
    return Genesis(
        assets=list(DEMO_ASSETS),
        instruments=list(DEMO_INSTRUMENTS),
        accounts=demo_specs(),
        fee_account="fees",
    )


def demo_engine() -> Engine:
    """An engine with risk on: 20 traders on a 10/25 bps fee tier, each funded
    with 1,000,000 USD and 1,000 of every token (set up before the flow)."""
    risk = Risk(DEMO_ASSETS, DEMO_INSTRUMENTS, demo_specs(), fee_account="fees")
    for account in DEMO_ACCOUNTS:
        risk.deposit(account, "USD", 100_000_000)
        for inst in DEMO_INSTRUMENTS:
            risk.deposit(account, inst.base, 1_000 * 10**8)
    return Engine(DEMO_INSTRUMENTS, risk)


def demo_flow(count: int, seed: int) -> list[Command]:
    """``count`` seeded commands: limits around each reference, some crossing, cancels."""
    rng = random.Random(seed)
    accounts = list(DEMO_ACCOUNTS)
    placed: list[tuple[int, str]] = []
    commands: list[Command] = []
    for seq in range(1, count + 1):
        ts = 1_763_650_800_000_000_000 + seq * 1_000_000  # 2025-11-20 15:00 UTC onwards
        account = rng.choice(accounts)
        if placed and rng.random() < 0.2:
            order_id, owner = placed.pop(rng.randrange(len(placed)))
            commands.append(CancelOrder(seq, ts, owner, order_id))
            continue
        inst = rng.choice(DEMO_INSTRUMENTS)
        side: Side = "buy" if rng.random() < 0.5 else "sell"
        qty = rng.randint(1, 500) * 100  # 0.01 to 5 shares, in 0.0001 lots
        offset = rng.randint(-20, 200)  # ticks away from the reference, passive side
        ref = inst.reference_price
        price = ref - offset if side == "buy" else ref + offset
        if rng.random() < 0.05:
            commands.append(NewOrder(seq, ts, account, inst.symbol, side, qty, None, "market"))
            continue
        commands.append(NewOrder(seq, ts, account, inst.symbol, side, qty, price))
        placed.append((seq, account))
    return commands


@dataclass(frozen=True)
class DemoResult:
    """What the demo did: event counts by kind, and the engine it left behind."""

    counts: Counter[str]
    engine: Engine


def run_demo(count: int = 20_000, seed: int = 7) -> DemoResult:
    """Run the demo flow through a fresh engine and count its events by kind."""
    engine = demo_engine()
    counts: Counter[str] = Counter()
    for command in demo_flow(count, seed):
        events: list[Event] = engine.process(command)
        for event in events:
            counts[type(event).__name__] += 1
    engine.check_invariants()
    return DemoResult(counts, engine)


def render(result: DemoResult) -> str:
    """The demo's report: top of each book, then the event counts and the state hash."""
    engine = result.engine
    lines = [f"{'symbol':<11}{'bid qty':>12}{'bid':>10}{'ask':>10}{'ask qty':>12}{'last':>10}"]
    for inst in DEMO_INSTRUMENTS:
        book = engine.books[inst.symbol]
        (bids, asks) = book.depth(1)
        bid = (
            f"{inst.format_qty(bids[0][1]):>12}{inst.format_price(bids[0][0]):>10}"
            if bids
            else " " * 22
        )
        ask = (
            f"{inst.format_price(asks[0][0]):>10}{inst.format_qty(asks[0][1]):>12}"
            if asks
            else " " * 22
        )
        last = inst.format_price(book.last_price) if book.last_price else "-"
        lines.append(f"{inst.symbol:<11}{bid}{ask}{last:>10}")
    lines.append("")
    for name, n in sorted(result.counts.items()):
        lines.append(f"{name:<18}{n:>8,}")
    lines.append(f"{'resting orders':<18}{len(engine.orders):>8,}")
    if engine.risk is not None:
        fees = engine.risk.accounts["fees"].balance.get("USD", 0)
        lines.append(f"{'fees collected':<18}{DEMO_ASSETS[0].format(fees):>11} USD")
    lines.append(f"state hash {engine.state_hash()}")
    return "\n".join(lines)
