"""The double-entry ledger: balanced transactions, exactly-once booking, netting."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from settlement.ledger import Ledger, LedgerError
from settlement.netting import legs
from settlement.queue import Delivery
from settlement.reconcile import compare, engine_balances
from settlement.records import Check, Message, Trade
from tests.settlement_flow import flow

CHAINS = {f"trader{i}": ("ethereum" if i % 3 else "solana") for i in range(1, 21)}


def chain_of(account: str) -> str:
    return CHAINS.get(account, "ethereum")


def open_ledger(tmp_path: Path, window_ns: int = 50_000_000) -> Ledger:
    return Ledger(tmp_path / "ledger.sqlite", window_ns, chain_of, {"USD"})


def deliveries(messages: list[Message]) -> list[Delivery]:
    return [Delivery(m, m.seq) for m in messages]


def book_in_chunks(ledger: Ledger, messages: list[Message], seed: int) -> None:
    rng = random.Random(seed)
    i = 0
    while i < len(messages):
        n = rng.randint(1, 40)
        result = ledger.book(deliveries(messages[i : i + n]))
        assert result.gap is None
        i += n


def snapshot(db: sqlite3.Connection) -> tuple[object, ...]:
    return tuple(
        db.execute(q).fetchall()
        for q in (
            "SELECT COUNT(*), SUM(amount) FROM entries",
            "SELECT * FROM balances ORDER BY account, asset",
            "SELECT COUNT(*) FROM trades",
            "SELECT id, key, account, asset, chain, amount FROM instructions ORDER BY id",
            "SELECT COUNT(*) FROM transactions",
        )
    )


def test_a_long_flow_books_balanced_and_reconciles_with_the_engine(tmp_path: Path) -> None:
    engine, messages = flow(3_000, seed=11)
    ledger = open_ledger(tmp_path)
    book_in_chunks(ledger, messages, seed=1)
    db = ledger.db
    # Every transaction's entries sum to zero per asset.
    assert (
        db.execute(
            "SELECT txn, asset, SUM(amount) FROM entries GROUP BY txn, asset"
            " HAVING SUM(amount) != 0"
        ).fetchall()
        == []
    )
    kinds = Counter(k for (k,) in db.execute("SELECT kind FROM transactions"))
    assert kinds["trade"] == engine.next_trade_id - 1 > 100
    assert kinds["deposit"] == 100 and kinds["withdrawal"] > 0 and kinds["corporate_action"] == 2
    # Each trade has its base, quote and both fee legs.
    legs_per_trade = db.execute(
        "SELECT MIN(n), MAX(n) FROM"
        " (SELECT COUNT(*) n FROM entries WHERE txn LIKE 'T%' GROUP BY txn)"
    ).fetchone()
    assert legs_per_trade[0] >= 4 and legs_per_trade[1] <= 8
    # The ledger equals the engine, balance by balance, and every check along the way agreed.
    assert compare(ledger.engine_balances(), engine_balances(engine)) == []
    assert ledger.mismatched == 0 and ledger.checked > 500
    # System accounts hold the other side: per asset, all balances sum to zero.
    assert (
        db.execute(
            "SELECT asset, SUM(balance) FROM balances GROUP BY asset HAVING SUM(balance) != 0"
        ).fetchall()
        == []
    )
    dust = db.execute("SELECT kind, dust_num, dust_den FROM corporate_actions").fetchall()
    assert sorted(k for k, _, _ in dust) == ["dividend", "split"]


def test_a_queue_replayed_into_a_ledger_that_booked_it_changes_nothing(tmp_path: Path) -> None:
    _, messages = flow(1_500, seed=12)
    ledger = open_ledger(tmp_path)
    book_in_chunks(ledger, messages, seed=2)
    before = snapshot(ledger.db)
    position = (ledger.seq, ledger.messages, ledger.trades)
    # The whole queue again, from the start, in other chunks: every message is a redelivery.
    rng = random.Random(3)
    i = 0
    while i < len(messages):
        n = rng.randint(1, 100)
        result = ledger.book(deliveries(messages[i : i + n]))
        assert (result.booked, result.skipped, result.gap) == (0, len(messages[i : i + n]), None)
        i += n
    assert snapshot(ledger.db) == before
    assert (ledger.seq, ledger.messages, ledger.trades) == position
    # Even with its position lost, the ledger books each transaction once: keyed by trade id.
    ledger.db.execute("UPDATE position SET seq = 0, cursor = 0")
    ledger.close()
    again = open_ledger(tmp_path)
    assert again.seq == 0
    book_in_chunks(again, messages, seed=4)
    assert snapshot(again.db)[:3] == before[:3]
    assert again.db.execute("SELECT COUNT(*) FROM transactions").fetchone() == before[4][0]


def test_booking_stops_at_a_gap_and_books_nothing_after_it(tmp_path: Path) -> None:
    _, messages = flow(600, seed=13)
    ledger = open_ledger(tmp_path)
    first, second, *rest = messages
    result = ledger.book(deliveries([first, *rest[:5]]))  # second is missing
    assert result.booked == 1
    assert result.gap is not None and f"follows {second.seq}" in result.gap
    assert ledger.seq == first.seq
    assert ledger.db.execute("SELECT seq FROM position").fetchone() == (first.seq,)
    assert ledger.book(deliveries(messages[1:])).gap is None
    assert ledger.seq == messages[-1].seq


def test_a_check_that_differs_is_recorded(tmp_path: Path) -> None:
    _, messages = flow(300, seed=14)
    ledger = open_ledger(tmp_path)
    m = messages[0]
    c = m.checks[0]
    wrong = Message(m.seq, m.prev, m.ts, m.records, [Check(c.account, c.asset, c.balance + 1)])
    ledger.book(deliveries([wrong, *messages[1:]]))
    assert ledger.mismatched == 1
    row = ledger.db.execute("SELECT seq, account, asset, ledger, engine FROM mismatches").fetchone()
    assert row == (m.seq, c.account, c.asset, c.balance, c.balance + 1)


def test_a_failed_transaction_books_nothing_and_the_ledger_goes_on(tmp_path: Path) -> None:
    engine, messages = flow(600, seed=15)
    ledger = open_ledger(tmp_path)
    ledger.book(deliveries(messages[:10]))
    entries = ledger.db.execute("SELECT COUNT(*) FROM entries").fetchone()
    balances = dict(ledger.balances)
    position = ledger.seq
    # The store fails in the middle of the transaction (deposits book, trades cannot).
    ledger.db.execute("ALTER TABLE trades RENAME TO trades_away")
    with pytest.raises(LedgerError, match="booking failed, nothing booked"):
        ledger.book(deliveries(messages[10:]))
    assert (ledger.seq, ledger.balances) == (position, balances)
    assert ledger.db.execute("SELECT seq FROM position").fetchone() == (position,)
    assert ledger.db.execute("SELECT COUNT(*) FROM entries").fetchone() == entries
    # Repaired, it books the rest once and reconciles.
    ledger.db.execute("ALTER TABLE trades_away RENAME TO trades")
    assert ledger.book(deliveries(messages[10:])).gap is None
    assert compare(ledger.engine_balances(), engine_balances(engine)) == []


def test_windows_close_into_instructions_that_net_the_legs(tmp_path: Path) -> None:
    _engine, messages = flow(2_000, seed=16)
    ledger = open_ledger(tmp_path, window_ns=200_000_000)  # 200 ms of exchange time
    book_in_chunks(ledger, messages, seed=5)
    assert ledger.close_due_window(messages[-1].ts + 10**9) is not None
    db = ledger.db
    windows = db.execute("SELECT COUNT(*) FROM windows WHERE closed_seq IS NOT NULL").fetchone()[0]
    assert windows > 3
    net: Counter[tuple[str, str, str]] = Counter()
    for m in messages:
        for r in m.records:
            if type(r) is Trade:
                assert isinstance(r, Trade)
                for account, asset, amount in legs(r):
                    net[(account, asset, chain_of(account))] += amount
    got: Counter[tuple[str, str, str]] = Counter()
    for account, asset, chain, amount, kind in db.execute(
        "SELECT account, asset, chain, amount, kind FROM instructions"
    ):
        got[(account, asset, chain)] += amount
        assert kind == ("cash_movement" if asset == "USD" else "token_transfer")
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in net.items() if v}
    keys = [k for (k,) in db.execute("SELECT key FROM instructions")]
    assert len(keys) == len(set(keys))
    assert {s for (s,) in db.execute("SELECT status FROM instructions")} == {"pending"}
