"""Settlement instructions through their lifecycle: pending -> submitted -> confirmed | failed.

An instruction is made pending when its netting window closes
(:mod:`settlement.ledger`); its idempotency key (``tkx-<id>``) never changes.
:class:`Driver` moves instructions on, one step at a time:

* pending, or failed and due for a retry: the ledger first records it as
  ``submitted`` with the next attempt number (committed), and only then is
  the transfer handed to the chain, so a crash in between leaves a record
  that the next step re-sends under the same key and attempt (which the
  adapter takes as the same transaction), never a second id;
* submitted and due for a look: the chain's status of the key decides:
  confirmed (final, with the chain's transaction id), failed (retried after
  ``retry_ns``, as the next attempt of the same key), still pending (look
  again later), or unknown / an older attempt (the hand-over was lost: the
  same attempt is sent again).

The ledger calls run on the worker's ledger thread (``run``), the chain
calls on the event loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from settlement.chains import ChainAdapter, ChainError, Transfer

__all__ = ["STATUSES", "Driver", "counts"]

STATUSES = ("pending", "submitted", "confirmed", "failed")
POLL_NS = 50_000_000
"""How often a submitted instruction's status is asked for."""
BATCH = 200

T = TypeVar("T")
Run = Callable[[Callable[[], T]], Awaitable[T]]

_COLUMNS = "id, key, chain, kind, account, asset, amount, status, attempts"


@dataclass(frozen=True)
class _Row:
    id: int
    key: str
    chain: str
    kind: str
    account: str
    asset: str
    amount: int
    status: str
    attempts: int

    def transfer(self, attempt: int) -> Transfer:
        return Transfer(
            self.key, attempt, self.chain, self.kind, self.account, self.asset, self.amount
        )


def counts(db: sqlite3.Connection) -> dict[str, int]:
    """Instructions by status (every status named, zeros included)."""
    found = dict(db.execute("SELECT status, COUNT(*) FROM instructions GROUP BY status").fetchall())
    return {s: int(found.get(s, 0)) for s in STATUSES}


class Driver:
    """Moves a ledger's instructions through their lifecycle against one chain adapter."""

    def __init__(
        self,
        db: sqlite3.Connection,
        adapter: ChainAdapter,
        run: Run[Any],
        clock: Callable[[], int],
        retry_ns: int,
    ) -> None:
        self.db = db
        self.adapter = adapter
        self.run = run
        self.clock = clock
        self.retry_ns = retry_ns
        self.chain_errors = 0

    def _due(self, now: int) -> list[_Row]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM instructions WHERE status IN ('pending', 'submitted',"
            " 'failed') AND next_ns <= ? ORDER BY next_ns, id LIMIT ?",
            (now, BATCH),
        ).fetchall()
        return [_Row(*r) for r in rows]

    def _set(self, changes: list[tuple[int, str, int, str | None, str | None, int]]) -> None:
        """Apply (id, status, attempts, tx_id, error, next_ns) changes in one transaction."""
        if not changes:
            return
        db = self.db
        now = self.clock()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "UPDATE instructions SET status = ?, attempts = ?, tx_id = COALESCE(?, tx_id),"
                " error = ?, next_ns = ?, updated_ns = ? WHERE id = ?",
                [(s, a, tx, err, nxt, now, i) for i, s, a, tx, err, nxt in changes],
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    async def step(self) -> int:
        """One pass over the instructions due now; how many changed status."""
        now = self.clock()
        due: list[_Row] = await self.run(lambda: self._due(now))
        if not due:
            return 0
        poll = now + POLL_NS
        sending: list[_Row] = []
        submit: list[tuple[int, str, int, str | None, str | None, int]] = []
        for row in due:
            if row.status in ("pending", "failed"):
                sending.append(row)
                submit.append((row.id, "submitted", row.attempts + 1, None, None, poll))
        # Recorded as submitted before the chain hears of them (see the module docstring).
        await self.run(lambda: self._set(submit))
        changes: list[tuple[int, str, int, str | None, str | None, int]] = []
        for row in sending:
            await self._send(row.transfer(row.attempts + 1))
        for row in due:
            if row.status != "submitted":
                continue
            try:
                st = await self.adapter.status(row.key)
            except ChainError:
                self.chain_errors += 1
                continue
            if st.state == "unknown" or st.attempt < row.attempts:
                await self._send(row.transfer(row.attempts))
                changes.append((row.id, "submitted", row.attempts, None, None, poll))
            elif st.state == "confirmed":
                changes.append((row.id, "confirmed", row.attempts, st.tx_id, None, 0))
            elif st.state == "failed":
                changes.append(
                    (row.id, "failed", row.attempts, None, st.error, now + self.retry_ns)
                )
            else:
                changes.append((row.id, "submitted", row.attempts, None, None, poll))
        await self.run(lambda: self._set(changes))
        return len(sending) + sum(1 for c in changes if c[1] != "submitted")

    async def _send(self, transfer: Transfer) -> None:
        try:
            await self.adapter.submit(transfer)
        except ChainError:
            # Unreachable or refused: the next look at its status decides what follows.
            self.chain_errors += 1
