"""Balance changes as the ``balances`` channel reports them: one ledger entry per movement.

Pure. :func:`ledger_entries` turns one batch's events into each account's
entries, in engine order, and fills in the balance after each entry by
walking back from the balances at the end of the batch (which the engine
holds), so every entry's ``balance`` is exact. Which movements an event
makes is the node history's rule (:func:`node.history.movements`), so an
entry pushed here is the entry the history keeps, under the same id: the
n-th movement (from 0) of command ``seq``.
"""

from __future__ import annotations

from collections.abc import Callable

from model.instrument import Instrument
from node.history import Entry, movements
from node.interface import Sequenced

__all__ = ["Entry", "ledger_entries"]


def ledger_entries(
    applied: list[Sequenced],
    instruments: dict[str, Instrument],
    balance_of: Callable[[str, str], int],
    lot_units: dict[str, int],
) -> list[tuple[int, int, Entry]]:
    """The batch's entries in engine order as ``(seq, n, entry)``, with exact running balances.

    ``balance_of(account, asset)`` is the balance after the batch;
    ``lot_units`` the base units in one lot of each symbol.
    """
    entries = [
        (command.seq, n, entry)
        for command, events in applied
        for n, entry in enumerate(movements(events, instruments, lot_units))
    ]
    running: dict[tuple[str, str], int] = {}
    for _, _, entry in reversed(entries):
        key = (entry.account, entry.asset)
        if key not in running:
            running[key] = balance_of(*key)
        entry.balance = running[key]
        running[key] = entry.balance - entry.change
    return entries
