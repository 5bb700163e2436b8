"""The double-entry ledger: SQLite (WAL, fsynced commits) in ``settlement/ledger.sqlite``.

Tables: ``assets``, ``accounts`` (engine accounts, the fee account, and two
system accounts: ``@external`` is the other side of deposits and
withdrawals, ``@corporate`` of corporate-action rebases), ``transactions``
(one per trade ``T<trade_id>``, deposit ``D<seq>``, withdrawal ``W<seq>``,
corporate action ``C<seq>.<n>``), ``entries`` (signed amounts; each
transaction's entries sum to zero per asset), ``balances``, ``trades`` (the
queue's trade fields, with when each was fed and booked),
``corporate_actions`` (with their rounding dust), ``position`` (the consumer
position: last message seq booked and the backend's cursor), ``mismatches``
(engine balances that differed from the ledger's at the same seq),
``windows``, ``netting`` and ``instructions`` (see :mod:`settlement.netting`
and :mod:`settlement.instructions`).

:meth:`Ledger.book` books a run of messages in ONE transaction together with
the new position: a crash anywhere leaves either all of it or none. A
message at or below the position is skipped (a redelivery), and each
transaction id is inserted with ``INSERT OR IGNORE`` before its entries, so
even a ledger whose position were lost books a trade once. A message whose
``prev`` is not the position is not booked (the queue lacks something
before it): booking stops there and says so.

Every method runs on one thread (the worker's); the connection is not shared.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from settlement.netting import Closed, Key, Netter, legs
from settlement.queue import Delivery
from settlement.records import CorporateAction, Deposit, Message, Rebase, Trade, Withdrawal

__all__ = ["CORPORATE", "EXTERNAL", "SCHEMA", "BookResult", "Ledger", "LedgerError"]

EXTERNAL = "@external"
CORPORATE = "@corporate"

SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, kind TEXT NOT NULL, chain TEXT);
CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY, txn TEXT NOT NULL, account TEXT NOT NULL, asset TEXT NOT NULL,
    amount INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS balances (
    account TEXT NOT NULL, asset TEXT NOT NULL, balance INTEGER NOT NULL,
    PRIMARY KEY (account, asset)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trades (
    trade_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
    symbol TEXT NOT NULL, price INTEGER NOT NULL, qty INTEGER NOT NULL,
    quote_qty INTEGER NOT NULL, buyer TEXT NOT NULL, buyer_order INTEGER NOT NULL,
    buyer_fee INTEGER NOT NULL, seller TEXT NOT NULL, seller_order INTEGER NOT NULL,
    seller_fee INTEGER NOT NULL, maker_side TEXT NOT NULL, fed_ns INTEGER NOT NULL,
    booked_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS corporate_actions (
    txn TEXT PRIMARY KEY, seq INTEGER NOT NULL, symbol TEXT NOT NULL, kind TEXT NOT NULL,
    asset TEXT NOT NULL, num INTEGER NOT NULL, den INTEGER NOT NULL,
    dust_num INTEGER NOT NULL, dust_den INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS position (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, cursor INTEGER NOT NULL,
    messages INTEGER NOT NULL, trades INTEGER NOT NULL, last_trade_id INTEGER NOT NULL,
    last_ts INTEGER NOT NULL, booked_ns INTEGER NOT NULL, checked INTEGER NOT NULL,
    mismatched INTEGER NOT NULL);
INSERT OR IGNORE INTO position VALUES (1, 0, 0, 0, 0, 0, 0, 0, 0, 0);
CREATE TABLE IF NOT EXISTS mismatches (
    id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, account TEXT NOT NULL, asset TEXT NOT NULL,
    ledger INTEGER NOT NULL, engine INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS windows (
    id INTEGER PRIMARY KEY, start_ts INTEGER NOT NULL, closed_seq INTEGER,
    closed_ns INTEGER, instructions INTEGER);
CREATE TABLE IF NOT EXISTS netting (
    window INTEGER NOT NULL, account TEXT NOT NULL, asset TEXT NOT NULL, chain TEXT NOT NULL,
    amount INTEGER NOT NULL, PRIMARY KEY (window, account, asset, chain)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS instructions (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, window INTEGER NOT NULL,
    account TEXT NOT NULL, asset TEXT NOT NULL, chain TEXT NOT NULL, kind TEXT NOT NULL,
    amount INTEGER NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
    tx_id TEXT, error TEXT, created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL,
    next_ns INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS instructions_status ON instructions (status, next_ns);
"""


class LedgerError(Exception):
    """The ledger file cannot be used, or a booking broke an invariant (a bug: nothing booked)."""


@dataclass
class BookResult:
    """What one :meth:`Ledger.book` did."""

    booked: int = 0
    """Messages booked."""
    trades: int = 0
    skipped: int = 0
    """Messages at or below the position (redeliveries), left alone."""
    gap: str | None = None
    """Why booking stopped before the end (the queue lacks a message), or None."""
    closed: list[int] = field(default_factory=list)
    """Netting windows closed."""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating) a ledger file: WAL, ``synchronous=FULL``, the schema in place."""
    try:
        db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        # A commit is fsynced: instructions handed to a chain must never be forgotten.
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
    except sqlite3.Error as e:
        raise LedgerError(f"{path}: cannot be opened as a settlement ledger: {e}") from None
    return db


class Ledger:
    """The ledger file, and what is open in memory: balances, the position, the netting window.

    ``chain_of`` names an account's chain; ``cash`` the assets that settle as
    cash movements (the rest are token transfers); ``window_ns`` the netting
    window in exchange-clock nanoseconds.
    """

    def __init__(
        self,
        path: Path,
        window_ns: int,
        chain_of: Callable[[str], str],
        cash: Iterable[str] = (),
    ) -> None:
        self.path = path
        self.db = connect(path)
        self.chain_of = chain_of
        self.cash = frozenset(cash)
        self.netter = Netter(window_ns, chain_of)
        self._load()

    # ---------------------------------------------------------------- state

    def _load(self) -> None:
        db = self.db
        row = db.execute(
            "SELECT seq, cursor, messages, trades, last_trade_id, last_ts, checked, mismatched"
            " FROM position"
        ).fetchone()
        values = [int(v) for v in row]
        self.seq: int = values[0]
        self.cursor: int = values[1]
        self.messages: int = values[2]
        self.trades: int = values[3]
        self.last_trade_id: int = values[4]
        self.last_ts: int = values[5]
        self.checked: int = values[6]
        self.mismatched: int = values[7]
        self.balances: dict[tuple[str, str], int] = {
            (a, s): b for a, s, b in db.execute("SELECT account, asset, balance FROM balances")
        }
        self.assets = {r[0] for r in db.execute("SELECT id FROM assets")}
        self.accounts = {r[0] for r in db.execute("SELECT id FROM accounts")}
        netter = self.netter
        netter.last_id = db.execute("SELECT COALESCE(MAX(id), 0) FROM windows").fetchone()[0]
        open_window = db.execute(
            "SELECT id, start_ts FROM windows WHERE closed_seq IS NULL ORDER BY id LIMIT 1"
        ).fetchone()
        netter.window, netter.start_ts = open_window or (0, 0)
        netter.totals = {
            (a, s, c): v
            for a, s, c, v in db.execute(
                "SELECT account, asset, chain, amount FROM netting WHERE window = ?",
                (netter.window,),
            )
        }

    def close(self) -> None:
        self.db.close()

    # ---------------------------------------------------------------- booking

    def book(self, deliveries: list[Delivery], booked_ns: int | None = None) -> BookResult:
        """Book ``deliveries`` in order, with the new position, in one transaction.

        Raises LedgerError (nothing booked, the state reloaded) if a booking
        breaks an invariant.
        """
        result = BookResult()
        db = self.db
        now = time.time_ns() if booked_ns is None else booked_ns
        self._batch_start()
        try:
            db.execute("BEGIN IMMEDIATE")
            for d in deliveries:
                m = d.message
                if m.seq <= self.seq:
                    result.skipped += 1
                    continue
                if m.prev != self.seq:
                    result.gap = (
                        f"message {m.seq} follows {m.prev}, but the ledger is at {self.seq}"
                    )
                    break
                self._message(m, now, result)
                self.seq, self.cursor = m.seq, d.cursor
                self.messages += 1
                result.booked += 1
            self._flush(now)
            db.execute("COMMIT")
        except BaseException as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._load()
            if isinstance(e, sqlite3.Error | AssertionError):
                raise LedgerError(f"{self.path}: booking failed, nothing booked: {e}") from e
            raise
        return result

    def _batch_start(self) -> None:
        self._entries: list[tuple[str, str, str, int]] = []
        self._trade_rows: list[tuple[object, ...]] = []
        self._deltas: dict[tuple[str, str], int] = {}
        self._dirty: set[Key] = set()
        self._closed: list[tuple[Closed, int]] = []
        self._new_assets: set[str] = set()
        self._new_accounts: dict[str, str] = {}

    def _txn(self, txn: str, kind: str, m: Message, moves: list[tuple[str, str, int]]) -> bool:
        """Insert one balanced transaction; False if its id was booked already."""
        total: dict[str, int] = {}
        for _, asset, amount in moves:
            total[asset] = total.get(asset, 0) + amount
        assert not any(total.values()), f"{txn} does not balance: {total}"
        cur = self.db.execute(
            "INSERT OR IGNORE INTO transactions VALUES (?, ?, ?, ?)", (txn, kind, m.seq, m.ts)
        )
        if cur.rowcount != 1:
            return False
        deltas = self._deltas
        balances = self.balances
        for account, asset, amount in moves:
            if not amount:
                continue
            self._entries.append((txn, account, asset, amount))
            key = (account, asset)
            deltas[key] = deltas.get(key, 0) + amount
            balances[key] = balances.get(key, 0) + amount
            if asset not in self.assets:
                self._new_assets.add(asset)
            if account not in self.accounts:
                self._new_accounts[account] = account
        return True

    def _message(self, m: Message, now: int, result: BookResult) -> None:
        corporate = 0
        rebases: list[tuple[str, str, int]] = []
        for record in m.records:
            kind = type(record)
            if kind is Trade:
                assert isinstance(record, Trade)
                self._trade(record, m, now, result)
            elif kind is Deposit or kind is Withdrawal:
                assert isinstance(record, Deposit | Withdrawal)
                sign = 1 if kind is Deposit else -1
                amount = sign * record.amount
                prefix = "D" if kind is Deposit else "W"
                self._txn(
                    f"{prefix}{m.seq}",
                    "deposit" if kind is Deposit else "withdrawal",
                    m,
                    [(record.account, record.asset, amount), (EXTERNAL, record.asset, -amount)],
                )
            elif kind is Rebase:
                assert isinstance(record, Rebase)
                change = record.after - record.before
                rebases += [(record.account, record.asset, change)]
                rebases += [(CORPORATE, record.asset, -change)]
            elif kind is CorporateAction:
                assert isinstance(record, CorporateAction)
                corporate += 1
                txn = f"C{m.seq}.{corporate}"
                if self._txn(txn, "corporate_action", m, rebases):
                    self.db.execute(
                        "INSERT INTO corporate_actions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            txn,
                            m.seq,
                            record.symbol,
                            record.kind,
                            record.asset,
                            record.num,
                            record.den,
                            record.dust_num,
                            record.dust_den,
                        ),
                    )
                rebases = []
        assert not rebases, f"message {m.seq}: rebases without their corporate action"
        self._check(m)

    def _trade(self, t: Trade, m: Message, now: int, result: BookResult) -> None:
        moves = legs(t)
        if not self._txn(f"T{t.trade_id}", "trade", m, moves):
            return
        self._trade_rows.append(
            (
                t.trade_id,
                m.seq,
                m.ts,
                t.symbol,
                t.price,
                t.qty,
                t.quote_qty,
                t.buyer,
                t.buyer_order,
                t.buyer_fee,
                t.seller,
                t.seller_order,
                t.seller_fee,
                t.maker_side,
                m.fed_ns,
                now,
            )
        )
        self.trades += 1
        result.trades += 1
        self.last_trade_id = max(self.last_trade_id, t.trade_id)
        self.last_ts = m.ts
        closed = self.netter.add(m.ts, moves)
        if closed is not None:
            self._closed.append((closed, m.seq))
            result.closed.append(closed.window)
            self._dirty = set()
        chain_of = self.chain_of
        self._dirty.update((a, s, chain_of(a)) for a, s, _ in moves)

    def _check(self, m: Message) -> None:
        balances = self.balances
        for c in m.checks:
            self.checked += 1
            mine = balances.get((c.account, c.asset), 0)
            if mine != c.balance:
                self.mismatched += 1
                self.db.execute(
                    "INSERT INTO mismatches (seq, account, asset, ledger, engine)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (m.seq, c.account, c.asset, mine, c.balance),
                )

    def _flush(self, now: int) -> None:
        """Write what the batch gathered: entries, trades, balances, netting, the position."""
        db = self.db
        if self._new_assets:
            db.executemany(
                "INSERT OR IGNORE INTO assets VALUES (?)", [(a,) for a in self._new_assets]
            )
            self.assets |= self._new_assets
        if self._new_accounts:
            db.executemany(
                "INSERT OR IGNORE INTO accounts VALUES (?, ?, ?)",
                [(a, _kind(a), self.chain_of(a)) for a in self._new_accounts],
            )
            self.accounts |= set(self._new_accounts)
        db.executemany(
            "INSERT INTO entries (txn, account, asset, amount) VALUES (?, ?, ?, ?)", self._entries
        )
        db.executemany(
            "INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self._trade_rows,
        )
        db.executemany(
            "INSERT INTO balances VALUES (?, ?, ?) ON CONFLICT (account, asset)"
            " DO UPDATE SET balance = balance + excluded.balance",
            [(a, s, v) for (a, s), v in self._deltas.items()],
        )
        for closed, seq in self._closed:
            self._close_window(closed, seq, now)
        netter = self.netter
        if netter.window:
            db.execute(
                "INSERT OR IGNORE INTO windows (id, start_ts) VALUES (?, ?)",
                (netter.window, netter.start_ts),
            )
            db.executemany(
                "INSERT OR REPLACE INTO netting VALUES (?, ?, ?, ?, ?)",
                [(netter.window, *k, netter.totals.get(k, 0)) for k in self._dirty],
            )
        db.execute(
            "UPDATE position SET seq = ?, cursor = ?, messages = ?, trades = ?,"
            " last_trade_id = ?, last_ts = ?, booked_ns = ?, checked = ?, mismatched = ?",
            (
                self.seq,
                self.cursor,
                self.messages,
                self.trades,
                self.last_trade_id,
                self.last_ts,
                now,
                self.checked,
                self.mismatched,
            ),
        )

    def _close_window(self, closed: Closed, seq: int, now: int) -> None:
        """Record a closed window's totals and make one pending instruction per total."""
        db = self.db
        db.execute(
            "INSERT OR IGNORE INTO windows (id, start_ts) VALUES (?, ?)",
            (closed.window, closed.start_ts),
        )
        db.execute("DELETE FROM netting WHERE window = ?", (closed.window,))
        rows = sorted(closed.totals.items())
        db.executemany(
            "INSERT INTO netting VALUES (?, ?, ?, ?, ?)",
            [(closed.window, *k, v) for k, v in rows],
        )
        start = db.execute("SELECT COALESCE(MAX(id), 0) FROM instructions").fetchone()[0]
        db.executemany(
            "INSERT INTO instructions (id, key, window, account, asset, chain, kind, amount,"
            " status, attempts, created_ns, updated_ns, next_ns)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, 0)",
            [
                (
                    start + n,
                    f"tkx-{start + n}",
                    closed.window,
                    account,
                    asset,
                    chain,
                    "cash_movement" if asset in self.cash else "token_transfer",
                    amount,
                    now,
                    now,
                )
                for n, ((account, asset, chain), amount) in enumerate(rows, 1)
            ],
        )
        db.execute(
            "UPDATE windows SET closed_seq = ?, closed_ns = ?, instructions = ? WHERE id = ?",
            (seq, now, len(rows), closed.window),
        )

    def close_due_window(self, now: int) -> int | None:
        """Close the open window if exchange time ``now`` is past its end; its id, or None."""
        if not self.netter.due(now):
            return None
        self._batch_start()
        closed = self.netter.close()
        assert closed is not None
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            self._close_window(closed, self.seq, time.time_ns())
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._load()
            raise
        return closed.window

    # ---------------------------------------------------------------- reading

    def engine_balances(self) -> dict[tuple[str, str], int]:
        """The ledger's balance of every engine account (system accounts left out), non-zero."""
        return {k: v for k, v in self.balances.items() if v and not k[0].startswith("@")}


def _kind(account: str) -> str:
    return "system" if account.startswith("@") else "account"
