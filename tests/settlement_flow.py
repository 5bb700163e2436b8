"""A random flow through a real engine, as the settlement queue would carry it.

:func:`flow` runs deposits, the demo's seeded orders and cancels, withdrawals
and corporate actions (a dividend and a split) through an engine built from
the demo genesis and cuts the result into batches as the node would, turning
each into queue messages with :class:`settlement.extract.Extractor`; the
engine is returned too, holding the balances the ledger must end with.
"""

from __future__ import annotations

import random

import msgspec

from engine.engine import Engine
from model.commands import Command, CorporateAction, Deposit, Withdraw
from node.demo import DEMO_ACCOUNTS, DEMO_INSTRUMENTS, demo_flow, demo_genesis
from settlement.extract import Extractor
from settlement.records import Message

T0 = 1_763_650_800_000_000_000


def commands(count: int, seed: int) -> list[Command]:
    """Funding, then ``count`` demo commands with withdrawals and corporate actions mixed in."""
    rng = random.Random(seed)
    out: list[Command] = []
    for account in DEMO_ACCOUNTS:
        out.append(Deposit(0, 0, account, "USD", 100_000_000))
        out += [Deposit(0, 0, account, i.base, 1_000 * 10**8) for i in DEMO_INSTRUMENTS]
    flow = demo_flow(count, seed)
    for n, command in enumerate(flow):
        out.append(command)
        if rng.random() < 0.01:
            out.append(Withdraw(0, 0, rng.choice(DEMO_ACCOUNTS), "USD", rng.randint(1, 10_000)))
        if n == count // 3:
            out.append(
                CorporateAction(0, 0, "ops", DEMO_INSTRUMENTS[0].symbol, "dividend", 1_003, 1_000)
            )
        if n == 2 * count // 3:
            out.append(CorporateAction(0, 0, "ops", DEMO_INSTRUMENTS[1].symbol, "split", 3, 2))
    # Sequence and time them as the sequencer would.
    return [
        msgspec.structs.replace(c, seq=seq, ts=T0 + seq * 1_000_000) for seq, c in enumerate(out, 1)
    ]


def flow(count: int, seed: int, batch: int = 7) -> tuple[Engine, list[Message]]:
    """The engine after the flow, and the flow's messages (batches of up to ``batch`` commands)."""
    genesis = demo_genesis()
    engine = genesis.build()
    extractor = Extractor(genesis)
    risk = engine.risk
    assert risk is not None
    rng = random.Random(seed)

    def balance_of(account: str, asset: str) -> int:
        assert risk is not None
        return risk.accounts[account].balance[asset]

    messages: list[Message] = []
    pending: list[tuple[Command, list]] = []  # type: ignore[type-arg]
    prev = 0
    todo = commands(count, seed)
    for i, command in enumerate(todo):
        pending.append((command, engine.process(command)))
        if len(pending) >= rng.randint(1, batch) or i == len(todo) - 1:
            made = extractor.batch(pending, prev, balance_of, T0)
            if made:
                prev = made[-1].seq
                messages += made
            pending = []
    return engine, messages
