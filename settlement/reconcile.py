"""Reconciliation: the ledger's balances against the engine's, at the same engine seq.

Two ways, both reported by ``tokex settlement status``:

* continuous, as the worker books: every message batch carries the engine's
  balances after it of every (account, asset) the batch moved; the ledger
  compares its own right after booking it and records any difference
  (:meth:`settlement.ledger.Ledger.book`). Since every balance starts at
  zero in both and each change is checked at its batch's end, no
  difference recorded means every balance agreed at every batch boundary;
* by replay (:func:`reconcile`): the engine is rebuilt from the journal at
  the ledger's position (the newest snapshot at or before it, then the
  journal up to it) and every balance of every account compared with the
  ledger's; the replay then goes on to the end of the journal to tell how
  far the ledger is behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.engine import Engine
from node.recovery import recover
from node.store import snapshots
from settlement.backfill import replay

__all__ = ["Difference", "Reconciliation", "engine_balances", "reconcile"]


@dataclass(frozen=True)
class Difference:
    account: str
    asset: str
    ledger: int
    engine: int

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "asset": self.asset,
            "ledger": self.ledger,
            "engine": self.engine,
        }


@dataclass
class Reconciliation:
    """The ledger against the engine at ``at_seq``, and where the journal ends."""

    at_seq: int
    compared: int
    differences: list[Difference] = field(default_factory=list)
    journal_seq: int = 0
    engine_trades: int = 0
    """Trades the engine had made by the end of the journal."""

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_json(self, shown: int = 20) -> dict[str, Any]:
        """The report's form (see :mod:`settlement.status`), the first ``shown`` differences."""
        return {
            "ok": self.ok,
            "method": "replay",
            "at_seq": self.at_seq,
            "compared": self.compared,
            "differences": [d.to_json() for d in self.differences[:shown]],
            "difference_count": len(self.differences),
        }


def engine_balances(engine: Engine) -> dict[tuple[str, str], int]:
    """Every non-zero balance of every account the engine holds, by (account, asset)."""
    risk = engine.risk
    assert risk is not None
    out: dict[tuple[str, str], int] = {}
    for account in risk.accounts.values():
        for asset, balance in account.balance.items():
            if balance:
                out[(account.id, asset)] = balance
    return out


def compare(
    ledger: dict[tuple[str, str], int], engine: dict[tuple[str, str], int]
) -> list[Difference]:
    """Every (account, asset) whose balance differs, in order (missing counts as 0)."""
    return [
        Difference(a, s, ledger.get((a, s), 0), engine.get((a, s), 0))
        for a, s in sorted(set(ledger) | set(engine))
        if ledger.get((a, s), 0) != engine.get((a, s), 0)
    ]


def reconcile(data: Path, ledger: dict[tuple[str, str], int], at_seq: int) -> Reconciliation:
    """Compare ``ledger`` (engine accounts' balances, booked through ``at_seq``) with the
    engine of ``data`` rebuilt at ``at_seq``; then find where the journal ends (from the
    newest snapshot when one is past ``at_seq``). Raises BackfillError if the state at
    ``at_seq`` cannot be rebuilt."""
    engine, applied = replay(data, at_seq)
    result: Reconciliation | None = None
    if engine.last_seq >= at_seq:  # the snapshot is exactly at the position
        result = _at(engine, ledger, at_seq)
    newer = any(seq > at_seq for seq, _ in snapshots(data))
    for command, _ in applied:
        if result is None and command.seq >= at_seq:
            result = _at(engine, ledger, at_seq)
            if newer:
                break
    if result is None:  # the journal ends before the ledger's position: compare at its end
        result = _at(engine, ledger, at_seq)
        result.differences.insert(0, Difference("(journal)", "(seq)", at_seq, engine.last_seq))
    if newer:
        end = recover(data, repair=False)
        engine = end.engine
    result.journal_seq = engine.last_seq
    result.engine_trades = engine.next_trade_id - 1
    return result


def _at(engine: Engine, ledger: dict[tuple[str, str], int], seq: int) -> Reconciliation:
    balances = engine_balances(engine)
    return Reconciliation(seq, len(set(balances) | set(ledger)), compare(ledger, balances))
