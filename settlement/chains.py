"""The chain adapter interface, and the deterministic local simulator that is its default.

A settlement instruction reaches a chain (ethereum or solana; cash movements
go through the same interface) as a :class:`Transfer`: its idempotency key,
the attempt number, and what moves. The contract an adapter keeps:

* ``submit`` is idempotent per ``(key, attempt)``: the same attempt sent
  twice (a worker that crashed before recording the answer) is one
  transaction. A new attempt of a key is taken only after the previous one
  failed; while one is pending or once one is confirmed, another attempt is
  refused (:class:`ChainError`), so a key never moves funds twice.
* ``status`` tells the latest attempt of a key: ``pending``, ``confirmed``
  (with the chain's transaction id), ``failed`` (with the reason), or
  ``unknown`` (the chain never saw the key).
* An unreachable chain raises :class:`ChainError`; the worker tries again.

:class:`Simulator` keeps its chain in its own SQLite file (it outlives the
worker, as a real chain would): an attempt is pending for ``delay_ns`` after
it was submitted, then confirmed, or failed when a hash of ``key:attempt``
falls under ``failure_rate`` (so the same run fails the same attempts).
Confirmed transfers move the simulated holdings exactly once per key.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["ChainAdapter", "ChainError", "Simulator", "Transfer", "TxStatus"]


class ChainError(Exception):
    """The chain could not take or answer a request (unreachable, or a refused attempt)."""


@dataclass(frozen=True)
class Transfer:
    """One attempt at one instruction: ``amount`` > 0 goes to ``account``, < 0 comes from it."""

    key: str
    attempt: int
    chain: str
    kind: str
    """``token_transfer`` or ``cash_movement``."""
    account: str
    asset: str
    amount: int


@dataclass(frozen=True)
class TxStatus:
    state: str
    """``pending``, ``confirmed``, ``failed`` or ``unknown``."""
    attempt: int = 0
    tx_id: str | None = None
    error: str | None = None


class ChainAdapter(Protocol):
    """What the worker needs of a chain (see the module docstring for the contract)."""

    async def submit(self, transfer: Transfer) -> None: ...

    async def status(self, key: str) -> TxStatus: ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS txs (
    key TEXT NOT NULL, attempt INTEGER NOT NULL, chain TEXT NOT NULL, kind TEXT NOT NULL,
    account TEXT NOT NULL, asset TEXT NOT NULL, amount INTEGER NOT NULL,
    submitted_ns INTEGER NOT NULL, state TEXT NOT NULL, tx_id TEXT, error TEXT,
    submissions INTEGER NOT NULL, PRIMARY KEY (key, attempt));
CREATE TABLE IF NOT EXISTS holdings (
    chain TEXT NOT NULL, account TEXT NOT NULL, asset TEXT NOT NULL, amount INTEGER NOT NULL,
    PRIMARY KEY (chain, account, asset)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refused (key TEXT NOT NULL, attempt INTEGER NOT NULL, why TEXT);
"""


def _draw(key: str, attempt: int) -> float:
    """A number in [0, 1) fixed by the key and attempt."""
    digest = hashlib.blake2b(f"{key}:{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Simulator:
    """A local chain for every chain name, in one SQLite file (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        delay_ns: int = 2_000_000_000,
        failure_rate: float = 0.0,
        clock: Callable[[], int] = time.time_ns,
        unavailable: Callable[[], bool] | None = None,
    ) -> None:
        self.path = path
        self.delay_ns = delay_ns
        self.failure_rate = failure_rate
        self.clock = clock
        self.unavailable = unavailable
        """When it answers True, every call raises ChainError (an outage, for tests)."""
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    def _reachable(self) -> None:
        if self.unavailable is not None and self.unavailable():
            raise ChainError("simulated chain unreachable")

    async def submit(self, transfer: Transfer) -> None:
        self._reachable()
        db = self.db
        t = transfer
        db.execute("BEGIN IMMEDIATE")
        try:
            same = db.execute(
                "SELECT 1 FROM txs WHERE key = ? AND attempt = ?", (t.key, t.attempt)
            ).fetchone()
            if same is not None:
                db.execute(
                    "UPDATE txs SET submissions = submissions + 1 WHERE key = ? AND attempt = ?",
                    (t.key, t.attempt),
                )
            else:
                live = db.execute(
                    "SELECT attempt, state FROM txs WHERE key = ? AND state != 'failed'", (t.key,)
                ).fetchone()
                if live is not None:
                    why = f"attempt {live[0]} is {live[1]}"
                    db.execute("INSERT INTO refused VALUES (?, ?, ?)", (t.key, t.attempt, why))
                    db.execute("COMMIT")
                    raise ChainError(f"{t.key} attempt {t.attempt} refused: {why}")
                db.execute(
                    "INSERT INTO txs VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL, NULL, 1)",
                    (
                        t.key,
                        t.attempt,
                        t.chain,
                        t.kind,
                        t.account,
                        t.asset,
                        t.amount,
                        self.clock(),
                    ),
                )
            if db.in_transaction:
                db.execute("COMMIT")
        except sqlite3.Error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _settle_due(self) -> None:
        """Decide every pending attempt whose delay has passed."""
        db = self.db
        due = db.execute(
            "SELECT key, attempt, chain, account, asset, amount FROM txs"
            " WHERE state = 'pending' AND submitted_ns + ? <= ?",
            (self.delay_ns, self.clock()),
        ).fetchall()
        if not due:
            return
        db.execute("BEGIN IMMEDIATE")
        for key, attempt, chain, account, asset, amount in due:
            if _draw(key, attempt) < self.failure_rate:
                db.execute(
                    "UPDATE txs SET state = 'failed', error = ? WHERE key = ? AND attempt = ?",
                    ("simulated failure: transaction reverted", key, attempt),
                )
                continue
            tx_id = "0x" + hashlib.blake2b(f"{chain}:{key}".encode(), digest_size=16).hexdigest()
            db.execute(
                "UPDATE txs SET state = 'confirmed', tx_id = ? WHERE key = ? AND attempt = ?",
                (tx_id, key, attempt),
            )
            db.execute(
                "INSERT INTO holdings VALUES (?, ?, ?, ?) ON CONFLICT (chain, account, asset)"
                " DO UPDATE SET amount = amount + excluded.amount",
                (chain, account, asset, amount),
            )
        db.execute("COMMIT")

    async def status(self, key: str) -> TxStatus:
        self._reachable()
        self._settle_due()
        row = self.db.execute(
            "SELECT state, attempt, tx_id, error FROM txs WHERE key = ? ORDER BY attempt DESC",
            (key,),
        ).fetchone()
        if row is None:
            return TxStatus("unknown")
        return TxStatus(row[0], row[1], row[2], row[3])

    def holdings(self) -> dict[tuple[str, str, str], int]:
        """What confirmed transfers moved, per (account, asset, chain)."""
        return {
            (a, s, c): v
            for c, a, s, v in self.db.execute("SELECT chain, account, asset, amount FROM holdings")
        }

    def close(self) -> None:
        self.db.close()
