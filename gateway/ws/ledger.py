"""Balance changes as the ``balances`` channel reports them: one ledger entry per movement.

Pure. :func:`ledger_entries` turns one batch's events into each account's
entries, in engine order, and fills in the balance after each entry by
walking back from the balances at the end of the batch (which the engine
holds), so every entry's ``balance`` is exact. ``hold_trade`` is what the
account holds in that asset at the end of the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from engine.events import BalanceRebased, Event, FundsDeposited, FundsWithdrawn, TradeExecuted
from model.instrument import Instrument

__all__ = ["Entry", "ledger_entries"]


@dataclass
class Entry:
    """One movement of one asset in one account (units of the asset)."""

    account: str
    asset: str
    kind: str  # trade | deposit | withdrawal | corporate_action
    amount: int
    fee: int
    ref_id: str
    ts: int
    balance: int = 0

    @property
    def change(self) -> int:
        return self.amount - self.fee


def _movements(
    events: Iterable[Event], instruments: dict[str, Instrument], lot_units: dict[str, int]
) -> list[Entry]:
    out: list[Entry] = []
    for e in events:
        if isinstance(e, TradeExecuted):
            inst = instruments[e.symbol]
            units = e.qty * lot_units[e.symbol]
            ref = f"T{e.trade_id}"
            taker = (e.taker_account, e.taker_fee)
            maker = (e.maker_account, e.maker_fee)
            (buyer, bfee), (seller, sfee) = (
                (taker, maker) if e.taker_side == "buy" else (maker, taker)
            )
            out += [
                Entry(buyer, inst.quote, "trade", -e.quote_qty, bfee, ref, e.ts),
                Entry(buyer, inst.base, "trade", units, 0, ref, e.ts),
                Entry(seller, inst.base, "trade", -units, 0, ref, e.ts),
                Entry(seller, inst.quote, "trade", e.quote_qty, sfee, ref, e.ts),
            ]
        elif isinstance(e, FundsDeposited):
            out.append(Entry(e.account, e.asset, "deposit", e.amount, 0, f"D{e.seq}", e.ts))
        elif isinstance(e, FundsWithdrawn):
            out.append(Entry(e.account, e.asset, "withdrawal", -e.amount, 0, f"W{e.seq}", e.ts))
        elif isinstance(e, BalanceRebased):
            change = e.after - e.before
            out.append(Entry(e.account, e.asset, "corporate_action", change, 0, f"C{e.seq}", e.ts))
    return out


def ledger_entries(
    events: Iterable[Event],
    instruments: dict[str, Instrument],
    balance_of: Callable[[str, str], int],
    lot_units: dict[str, int],
) -> list[Entry]:
    """The batch's entries in engine order with exact running balances.

    ``balance_of(account, asset)`` is the balance after the batch;
    ``lot_units`` the base units in one lot of each symbol.
    """
    entries = _movements(events, instruments, lot_units)
    running: dict[tuple[str, str], int] = {}
    for entry in reversed(entries):
        key = (entry.account, entry.asset)
        if key not in running:
            running[key] = balance_of(*key)
        entry.balance = running[key]
        running[key] = entry.balance - entry.change
    return entries
