"""What happened, kept for queries: trades, orders and ledger entries (``DATA/history.sqlite``).

The engine holds only the present (open orders, balances); the gateways also
need the past: a trade channel's last 50 trades and a ticker's 24 hours after
a restart, an account's fills, and, for the REST API, closed orders, ledger
entries, public trades and candles. :class:`History` derives all of it from
the node's durable event stream and keeps it in SQLite (the standard
library's; WAL mode), one row per trade, per order and per ledger entry.

It is fed in engine order, one durable batch at a time (:meth:`History.apply`,
called by the pipeline before any gateway hears of the batch). Rows go into
an open transaction at once (queries on the same connection see them), and
the transaction is committed every :data:`COMMIT_S` seconds, with the
sequence number and time of the last command taken, so the commit's cost
is shared by many batches. After a crash it is behind the journal by at most
the batch in hand: recovery replays the journal from a snapshot no newer
than :attr:`History.seq` and hands every replayed command's events here
(:meth:`History.replayed`), which takes those after its own ``seq``. So
nothing is lost and nothing is counted twice.

Commits are ``synchronous=NORMAL``: a commit reaches the operating system at
once (it survives the process being killed) and the disk at the next
checkpoint. Before old snapshots are pruned the node commits and runs
:meth:`History.checkpoint`, which makes everything committed so far durable,
so the history is never behind every snapshot left on disk. If the file
cannot be written (a full disk), the store stops taking events
(:attr:`History.failed`), the exchange goes on, and the node prunes nothing
more: the next start derives what is missing from the journal.

Queries see exactly the state after the last applied batch: the store is
written and read through one connection. With :meth:`History.start_writer`
(the node with gateway workers, docs/WORKERS.md) the rows of each batch are
taken on the event loop (the running balances, the open orders' types, the
recent trades) and written and committed by a thread of its own, in order,
so the engine's loop does not wait for SQLite; a query, a commit that must
be on file (a worker's welcome, a barrier, before snapshots are pruned) and
closing wait until every batch handed over is written.

Ledger entries carry the balance after each movement. The store keeps each
account's running balance: a trade moves it by the entry's amount less its
fee; a deposit, withdrawal or corporate action sets it to the balance the
event reports. The fee account's takings have no entries.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from queue import SimpleQueue

import msgspec

from engine.events import (
    BalanceRebased,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    TradeExecuted,
)
from model.commands import Command
from model.instrument import Instrument
from node.interface import ClosedOrder, LedgerEntry, TradeRecord
from node.sequencer import Sequenced

__all__ = ["RECENT", "Entry", "History", "movements"]

RECENT = 50
"""Trades kept in memory per symbol (the trade channel's snapshot)."""
_REPLAY_CHUNK = 20_000
"""Replayed commands per transaction while recovering."""
COMMIT_S = 0.05
"""Seconds between commits while serving."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trades (
    trade_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, ts INTEGER NOT NULL,
    symbol TEXT NOT NULL, price INTEGER NOT NULL, qty INTEGER NOT NULL,
    quote_qty INTEGER NOT NULL, taker_side TEXT NOT NULL, taker_type TEXT NOT NULL,
    taker_order_id INTEGER NOT NULL, taker_account TEXT NOT NULL,
    taker_leaves INTEGER NOT NULL, taker_fee INTEGER NOT NULL,
    maker_order_id INTEGER NOT NULL, maker_account TEXT NOT NULL,
    maker_leaves INTEGER NOT NULL, maker_fee INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS trades_symbol ON trades (symbol, ts);
CREATE INDEX IF NOT EXISTS trades_taker ON trades (taker_account);
CREATE INDEX IF NOT EXISTS trades_maker ON trades (maker_account);
CREATE TABLE IF NOT EXISTS orders (
    order_id INTEGER PRIMARY KEY, account TEXT NOT NULL, symbol TEXT NOT NULL,
    side TEXT NOT NULL, order_type TEXT NOT NULL, tif TEXT NOT NULL, price INTEGER,
    qty INTEGER NOT NULL, trigger_price INTEGER, cl_ord_id TEXT, userref INTEGER,
    opened_ts INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT, closed_ts INTEGER,
    filled INTEGER NOT NULL DEFAULT 0, cost INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS orders_closed ON orders (account, closed_ts);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER NOT NULL, n INTEGER NOT NULL, ts INTEGER NOT NULL, account TEXT NOT NULL,
    asset TEXT NOT NULL, kind TEXT NOT NULL, amount INTEGER NOT NULL, fee INTEGER NOT NULL,
    balance INTEGER NOT NULL, ref_id TEXT NOT NULL, PRIMARY KEY (seq, n)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ledger_account ON ledger (account, seq);
CREATE TABLE IF NOT EXISTS balances (
    account TEXT NOT NULL, asset TEXT NOT NULL, balance INTEGER NOT NULL,
    PRIMARY KEY (account, asset)
) WITHOUT ROWID;
"""

_TRADE_COLUMNS = (
    "trade_id, seq, ts, symbol, price, qty, quote_qty, taker_side, taker_type, taker_order_id,"
    " taker_account, taker_leaves, taker_fee, maker_order_id, maker_account, maker_leaves,"
    " maker_fee"
)
_ORDER_COLUMNS = (
    "order_id, account, symbol, side, order_type, tif, price, qty, trigger_price, cl_ord_id,"
    " userref, opened_ts, status, reason, closed_ts, filled, cost"
)
_LEDGER_COLUMNS = "seq, n, ts, account, asset, kind, amount, fee, balance, ref_id"


@dataclass
class Entry:
    """One movement of one asset in one account (units of the asset), before its balance."""

    account: str
    asset: str
    kind: str  # trade | deposit | withdrawal | corporate_action
    amount: int
    fee: int
    ref_id: str
    ts: int
    balance: int = 0
    reported: int | None = None
    """The balance after it, where the event says (deposits, withdrawals, corporate actions)."""

    @property
    def change(self) -> int:
        return self.amount - self.fee


def movements(
    events: Iterable[Event], instruments: dict[str, Instrument], lot_units: dict[str, int]
) -> list[Entry]:
    """The ledger movements of ``events`` in engine order (balances not filled in).

    A trade moves four: the buyer's quote (paid, with the buyer's fee) and
    base, the seller's base and quote (received, less the seller's fee).
    """
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
            out.append(
                Entry(e.account, e.asset, "deposit", e.amount, 0, f"D{e.seq}", e.ts, 0, e.balance)
            )
        elif isinstance(e, FundsWithdrawn):
            amount = -e.amount
            out.append(
                Entry(e.account, e.asset, "withdrawal", amount, 0, f"W{e.seq}", e.ts, 0, e.balance)
            )
        elif isinstance(e, BalanceRebased):
            change = e.after - e.before
            out.append(
                Entry(
                    e.account, e.asset, "corporate_action", change, 0, f"C{e.seq}", e.ts, 0, e.after
                )
            )
    return out


_MOVES = (FundsDeposited, FundsWithdrawn, BalanceRebased)
"""The events besides trades that make ledger entries (:func:`movements`)."""


def _trade(row: Sequence[object]) -> TradeRecord:
    return TradeRecord(*row)  # type: ignore[arg-type]


class _Rows:
    """The rows one transaction writes."""

    __slots__ = ("amends", "balances", "closes", "fills", "ledger", "orders", "trades")

    def __init__(self) -> None:
        self.trades: list[tuple[object, ...]] = []
        self.orders: list[tuple[object, ...]] = []
        self.fills: list[tuple[int, int, int]] = []
        self.amends: list[tuple[int, int | None, int]] = []
        self.closes: list[tuple[str, str | None, int, int]] = []
        self.ledger: list[tuple[object, ...]] = []
        self.balances: list[tuple[str, str, int]] = []

    @property
    def empty(self) -> bool:
        return not (
            self.trades or self.orders or self.fills or self.amends or self.closes or self.ledger
        )


class _Writer:
    """One thread running the jobs it is given, in order (a queue and no futures: a
    hand-over costs the event loop one ``put``)."""

    def __init__(self) -> None:
        self._jobs: SimpleQueue[tuple[Callable[..., None], tuple[object, ...]] | None]
        self._jobs = SimpleQueue()
        self._dirty = False
        self._thread = threading.Thread(target=self._run, name="history", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[..., None], *args: object) -> None:
        self._dirty = True
        self._jobs.put((job, args))

    def drain(self) -> None:
        """Return once every job given so far has run."""
        if not self._dirty:
            return
        done = threading.Event()
        self._jobs.put((done.set, ()))
        done.wait()
        self._dirty = False

    def close(self) -> None:
        self.drain()
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            job, args = item
            try:
                job(*args)
            except Exception:  # a bug: say so, and go on with the next batch
                traceback.print_exc(file=sys.stderr)


class History:
    """The trades, orders and ledger entries of one data directory (see the module docstring).

    ``lot_units``: base-asset units in one lot of each symbol.
    """

    def __init__(
        self, path: Path, instruments: dict[str, Instrument], lot_units: dict[str, int]
    ) -> None:
        self.path = path
        self.instruments = instruments
        self.lot_units = lot_units
        self.seq = 0
        """The last command whose events are in the store."""
        self.ts = 0
        """That command's time (ns)."""
        self.first_seq = 1
        """The first command the store has seen (after a gap: where it starts again)."""
        self.recent: dict[str, deque[TradeRecord]] = {}
        self.types: dict[int, str] = {}
        """Order type of every open order (a trade names its taker's type)."""
        self.balances: dict[tuple[str, str], int] = {}
        self._db: sqlite3.Connection | None = None
        self._rows = _Rows()
        self._touched: set[tuple[str, str]] = set()
        self._replayed = 0
        self._committed_at = 0.0
        self._pool: _Writer | None = None
        self.failed: Exception | None = None
        """Why the file could not be written; the store takes nothing more then."""

    # ---------------------------------------------------------------- file

    def open(self) -> None:
        """Create or read the file; bring the recent trades, open orders and balances in."""
        # Written by the writer thread (when started) and read on the loop, never at once.
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints (copying the log into the file, with fsyncs) run in a worker
        # thread (:meth:`checkpoint`), never inside a commit on the event loop.
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.executescript(_SCHEMA)
        meta = dict(db.execute("SELECT key, value FROM meta"))
        self.seq, self.ts = meta.get("seq", 0), meta.get("ts", 0)
        self.first_seq = meta.get("first_seq", 1)
        self._db = db
        for symbol in self.instruments:
            rows = db.execute(
                f"SELECT {_TRADE_COLUMNS} FROM trades WHERE symbol = ?"
                " ORDER BY ts DESC, trade_id DESC LIMIT ?",
                (symbol, RECENT),
            ).fetchall()
            self.recent[symbol] = deque(map(_trade, reversed(rows)), maxlen=RECENT)
        self.types = dict(
            db.execute("SELECT order_id, order_type FROM orders WHERE status = 'open'")
        )
        self.balances = {
            (a, s): b for a, s, b in db.execute("SELECT account, asset, balance FROM balances")
        }

    def start_writer(self) -> None:
        """From now on, write and commit in a thread of this store's own (one, in order)."""
        if self._pool is None:
            self._pool = _Writer()

    def _drain(self) -> None:
        """Hand over what was taken, and wait until the writer thread has written it all."""
        if self._pool is not None:
            self._hand_over()
            self._pool.drain()

    def close(self) -> None:
        if self._db is not None:
            self.commit()
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            self._db.close()
            self._db = None

    def checkpoint(self) -> None:
        """Make everything committed so far durable (an fsync). Safe in a worker thread.

        Uses a connection of its own: a checkpoint in WAL mode first syncs
        the log, which holds every commit (SQLite's ``synchronous=NORMAL``).
        """
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def restart_at(self, seq: int, ts: int, balances: dict[tuple[str, str], int]) -> None:
        """Start again after ``seq``: the events before it cannot be derived any more.

        Only when the store was lost (or is new) and the journal before the
        snapshot has been pruned: the store then begins at ``seq + 1``, with
        the running balances the engine holds now; ``first_seq`` says so.
        """
        self.seq, self.ts, self.first_seq = seq, ts, seq + 1
        self.balances = dict(balances)
        self._touched = set(balances)
        self.commit()

    # ---------------------------------------------------------------- feeding

    def apply(self, applied: list[Sequenced]) -> None:
        """Take one durable batch, in engine order (the pipeline calls it before any listener).

        With the writer thread (:meth:`start_writer`) its rows go to the thread
        with the commit, once :data:`COMMIT_S` have passed since the last one
        (one hand-over and one wake-up of the thread per commit, not per batch:
        nothing uncommitted is visible to another reader anyway, and this
        store's own queries hand over first); without it they are written at
        once into the open transaction.
        """
        if self.failed is not None:
            return
        for command, events in applied:
            self._take(command, events)
        if self._pool is None:
            self._hand_over()
        self.commit_due()

    def commit_due(self) -> None:
        """Commit if anything is uncommitted and :data:`COMMIT_S` have passed since the last."""
        db = self._db
        if db is None or time.monotonic() - self._committed_at < COMMIT_S:
            return
        if self._pool is not None:
            self._hand_over()
            self._committed_at = time.monotonic()
            self._pool.submit(self._commit, self.seq, self.ts, self.first_seq)
        elif db.in_transaction:
            self.commit()

    def replayed(self, command: Command, events: list[Event]) -> None:
        """Recovery's hook: a command replayed from the journal, with its events."""
        self._take(command, events)
        self._replayed += 1
        if self._replayed % _REPLAY_CHUNK == 0:
            self.commit()
            self.checkpoint()

    def commit(self) -> None:
        """Write what was taken and commit it, with the last seq and time taken; on file
        when this returns (it waits for the writer thread)."""
        self._hand_over()
        self._committed_at = time.monotonic()
        if self._pool is not None:
            self._pool.submit(self._commit, self.seq, self.ts, self.first_seq)
            self._drain()
        else:
            self._commit(self.seq, self.ts, self.first_seq)

    def _commit(self, seq: int, ts: int, first_seq: int) -> None:
        db = self._db
        if db is None or self.failed is not None:
            return
        try:
            if not db.in_transaction:
                db.execute("BEGIN")
            db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                (("seq", seq), ("ts", ts), ("first_seq", first_seq)),
            )
            db.execute("COMMIT")
        except sqlite3.Error as e:
            self._fail(e)

    def _fail(self, error: sqlite3.Error) -> None:
        db = self._db
        if db is not None and db.in_transaction:
            db.execute("ROLLBACK")
        self.failed = error
        print(f"tokex: {self.path}: cannot be written, history stopped: {error}", file=sys.stderr)

    def _take(self, command: Command, events: list[Event]) -> None:
        seq = command.seq
        if seq <= self.seq:
            return  # already in the store
        self.seq, self.ts = seq, command.ts
        if not events:
            return
        rows = self._rows
        types = self.types
        moved = False  # any event that moves a balance? (most only rest or cancel an order)
        for e in events:
            if isinstance(e, TradeExecuted):
                moved = True
                taker_type = types.get(e.taker_order_id, "limit")
                record = TradeRecord(
                    e.trade_id,
                    e.seq,
                    e.ts,
                    e.symbol,
                    e.price,
                    e.qty,
                    e.quote_qty,
                    e.taker_side,
                    taker_type,
                    e.taker_order_id,
                    e.taker_account,
                    e.taker_leaves,
                    e.taker_fee,
                    e.maker_order_id,
                    e.maker_account,
                    e.maker_leaves,
                    e.maker_fee,
                )
                rows.trades.append(msgspec.structs.astuple(record))
                self.recent.setdefault(e.symbol, deque(maxlen=RECENT)).append(record)
                cost = e.price * e.qty
                rows.fills.append((e.qty, cost, e.taker_order_id))
                rows.fills.append((e.qty, cost, e.maker_order_id))
                if e.taker_leaves == 0:
                    self._close(e.taker_order_id, "filled", None, e.ts)
                if e.maker_leaves == 0:
                    self._close(e.maker_order_id, "filled", None, e.ts)
            elif isinstance(e, OrderAccepted):
                o = e.order
                types[e.order_id] = o.order_type
                rows.orders.append(
                    (
                        e.order_id,
                        o.account,
                        o.symbol,
                        o.side,
                        o.order_type,
                        o.tif,
                        o.price,
                        o.qty,
                        o.trigger_price,
                        o.cl_ord_id,
                        o.userref,
                        e.ts,
                        "open",
                        None,
                        None,
                        0,
                        0,
                    )
                )
            elif isinstance(e, OrderCancelled):
                self._close(e.order_id, "canceled", e.reason, e.ts)
            elif isinstance(e, OrderExpired):
                self._close(e.order_id, "expired", None, e.ts)
            elif isinstance(e, OrderAmended):
                rows.amends.append((e.qty, e.price, e.order_id))
            elif isinstance(e, _MOVES):
                moved = True
        if not moved:
            return  # no ledger entry: skip the second pass over the events
        entries = movements(events, self.instruments, self.lot_units)
        balances = self.balances
        touched = self._touched
        for n, entry in enumerate(entries):
            key = (entry.account, entry.asset)
            balance = entry.reported
            if balance is None:
                balance = balances.get(key, 0) + entry.change
            balances[key] = balance
            touched.add(key)
            rows.ledger.append(
                (
                    seq,
                    n,
                    entry.ts,
                    entry.account,
                    entry.asset,
                    entry.kind,
                    entry.amount,
                    entry.fee,
                    balance,
                    entry.ref_id,
                )
            )

    def _close(self, order_id: int, status: str, reason: str | None, ts: int) -> None:
        if self.types.pop(order_id, None) is not None:
            self._rows.closes.append((status, reason, ts, order_id))

    def _hand_over(self) -> None:
        """The rows taken so far, with the balances they leave, to be written: by the
        writer thread (in order), or now."""
        if self._db is None or self.failed is not None:
            return
        if not self._touched and self._rows.empty:
            return  # nothing taken since the last hand-over
        rows, self._rows = self._rows, _Rows()
        touched, self._touched = self._touched, set()
        balances = self.balances
        rows.balances = [(a, s, balances[a, s]) for a, s in touched]
        if self._pool is None:
            self._write(rows)
        else:
            self._pool.submit(self._write, rows)

    def _write(self, rows: _Rows) -> None:
        """Write ``rows`` into the open transaction."""
        db = self._db
        if db is None or self.failed is not None:
            return
        try:
            if not db.in_transaction:
                db.execute("BEGIN")
            if rows.orders:
                db.executemany(
                    f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows.orders,
                )
            if rows.trades:
                db.executemany(
                    f"INSERT INTO trades ({_TRADE_COLUMNS}) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows.trades,
                )
                db.executemany(
                    "UPDATE orders SET filled = filled + ?, cost = cost + ? WHERE order_id = ?",
                    rows.fills,
                )
            if rows.amends:
                db.executemany(
                    "UPDATE orders SET qty = ?, price = coalesce(?, price) WHERE order_id = ?",
                    rows.amends,
                )
            if rows.closes:
                db.executemany(
                    "UPDATE orders SET status = ?, reason = ?, closed_ts = ? WHERE order_id = ?",
                    rows.closes,
                )
            if rows.ledger:
                db.executemany(
                    f"INSERT INTO ledger ({_LEDGER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows.ledger,
                )
            if rows.balances:
                db.executemany("INSERT OR REPLACE INTO balances VALUES (?, ?, ?)", rows.balances)
        except sqlite3.Error as e:
            self._fail(e)

    # ---------------------------------------------------------------- queries

    def recent_trades(self, symbol: str, limit: int = RECENT) -> list[TradeRecord]:
        """The last ``limit`` (at most :data:`RECENT`) trades in ``symbol``, oldest first."""
        recent = self.recent.get(symbol, ())
        return list(recent)[-limit:] if limit > 0 else []

    def trades(self, symbol: str, since_ts: int, limit: int = 1_000_000) -> list[TradeRecord]:
        """The trades in ``symbol`` at or after ``since_ts`` (ns), oldest first."""
        self._drain()
        assert self._db is not None
        rows = self._db.execute(
            f"SELECT {_TRADE_COLUMNS} FROM trades WHERE symbol = ? AND ts >= ?"
            " ORDER BY ts, trade_id LIMIT ?",
            (symbol, since_ts, limit),
        )
        return list(map(_trade, rows))

    def fills(self, account: str, limit: int = RECENT) -> list[TradeRecord]:
        """The last ``limit`` trades ``account`` took part in, oldest first."""
        self._drain()
        assert self._db is not None
        rows = self._db.execute(
            f"SELECT * FROM (SELECT {_TRADE_COLUMNS} FROM trades WHERE taker_account = ?1"
            " ORDER BY trade_id DESC LIMIT ?2)"
            f" UNION SELECT * FROM (SELECT {_TRADE_COLUMNS} FROM trades"
            " WHERE maker_account = ?1 ORDER BY trade_id DESC LIMIT ?2)"
            " ORDER BY trade_id DESC LIMIT ?2",
            (account, limit),
        ).fetchall()
        return [_trade(r) for r in reversed(rows)]

    def closed_orders(self, account: str, limit: int = RECENT) -> list[ClosedOrder]:
        """The last ``limit`` orders of ``account`` that closed, oldest first."""
        self._drain()
        assert self._db is not None
        rows = self._db.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE account = ? AND closed_ts IS NOT NULL"
            " ORDER BY closed_ts DESC, order_id DESC LIMIT ?",
            (account, limit),
        ).fetchall()
        return [ClosedOrder(*r) for r in reversed(rows)]

    def ledger(self, account: str, limit: int = RECENT) -> list[LedgerEntry]:
        """The last ``limit`` ledger entries of ``account``, oldest first."""
        self._drain()
        assert self._db is not None
        rows = self._db.execute(
            f"SELECT {_LEDGER_COLUMNS} FROM ledger WHERE account = ?"
            " ORDER BY seq DESC, n DESC LIMIT ?",
            (account, limit),
        ).fetchall()
        return [LedgerEntry(*r) for r in reversed(rows)]
