"""The node's history store (node/history.py) on real files, fed by a real Exchange.

A seeded flow (resting and crossing orders, cancels, an amend, deposits and
withdrawals) goes through the exchange's sequencer in batches, each batch
handed to the history as the pipeline does. Checked: the ledger's running
balances equal the engine's, closed orders carry their fills, every query
agrees with a recount; and after a restart the history is the same whether
its file survived, was lost (rebuilt from the journal), or fell behind the
newest snapshot (recovery then starts from an older point), and when the
journal it would need was pruned it starts again where the engine is, with
the engine's balances.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

from model.commands import AmendOrder, CancelOrder, Command, Deposit, NewOrder, Withdraw
from node.clock import Clock
from node.config import DEMO_CONFIG, parse_config
from node.exchange import Exchange
from node.recovery import prune
from node.store import write_snapshot

START = 1_795_446_000 * 10**9  # Monday 2026-11-23 15:00 UTC: regular hours in New York
CONFIG = parse_config(DEMO_CONFIG, "demo")
SYMBOLS = {"AAPLx/USD": 23_000, "SPYx/USD": 59_000}  # 24/7 instruments and their references
ACCOUNTS = ("alice", "bob", "mm")


def _flow(count: int, seed: int, first_seq: int) -> list[Command]:
    """Orders near the references (a fifth crossing), cancels, amends, funding moves."""
    rng = random.Random(seed)
    placed: list[tuple[int, str]] = []
    out: list[Command] = []
    for n in range(count):
        seq = first_seq + n  # the seq this command will get (batches keep the order)
        account = rng.choice(ACCOUNTS)
        roll = rng.random()
        if placed and roll < 0.15:
            order_id, owner = placed.pop(rng.randrange(len(placed)))
            out.append(CancelOrder(0, 0, owner, order_id))
        elif placed and roll < 0.2:
            order_id, owner = rng.choice(placed)
            out.append(AmendOrder(0, 0, owner, order_id, qty=rng.randint(1, 50) * 100))
        elif roll < 0.23:
            out.append(Deposit(0, 0, account, "USD", rng.randint(1, 10_000)))
        elif roll < 0.25:
            out.append(Withdraw(0, 0, account, "USD", rng.randint(1, 10_000)))
        else:
            symbol, ref = rng.choice(sorted(SYMBOLS.items()))
            side = rng.choice(("buy", "sell"))
            away = -rng.randint(1, 20) if rng.random() < 0.2 else rng.randint(1, 200)
            price = ref - away if side == "buy" else ref + away
            qty = rng.randint(1, 100) * 100
            out.append(NewOrder(0, 0, account, symbol, side, qty, price))  # type: ignore[arg-type]
            placed.append((seq, account))
    return out


def _open(data: Path) -> Exchange:
    exchange = Exchange(CONFIG, data, Clock(START))
    exchange.open()
    return exchange


def _run(exchange: Exchange, commands: list[Command], batch: int = 17) -> None:
    """Sequence ``commands`` in batches, handing each durable batch to the history."""
    for i in range(0, len(commands), batch):
        exchange.history.apply(exchange.sequencer.commit(commands[i : i + batch]))


def _close(exchange: Exchange) -> None:
    asyncio.run(exchange.close())


def _contents(exchange: Exchange) -> tuple[object, ...]:
    """Everything the history answers, for comparing two stores."""
    h = exchange.history
    return (
        {s: h.trades(s, 0) for s in SYMBOLS},
        {a: h.ledger(a, 10**6) for a in ACCOUNTS},
        {a: h.closed_orders(a, 10**6) for a in ACCOUNTS},
        {a: h.fills(a, 10**6) for a in ACCOUNTS},
        {s: h.recent_trades(s) for s in SYMBOLS},
        dict(h.balances),
        h.seq,
    )


def _next_seq(exchange: Exchange) -> int:
    return exchange.engine.last_seq + 1


def test_ledger_balances_match_the_engine_and_queries_agree(tmp_path: Path) -> None:
    """Proves the history's derived figures against the engine and against each other."""
    exchange = _open(tmp_path / "data")
    _run(exchange, _flow(1_500, 1, _next_seq(exchange)))
    history = exchange.history
    trades = {s: history.trades(s, 0) for s in SYMBOLS}
    assert sum(map(len, trades.values())) > 100, "the flow should trade"
    # Running balances: every account and asset the ledger touched, as the engine has it.
    for account in ACCOUNTS:
        entries = history.ledger(account, 10**6)
        assert entries
        last: dict[str, int] = {}
        for e in entries:
            last[e.asset] = e.balance
        for asset, balance in last.items():
            assert balance == exchange.balance(account, asset).balance, (account, asset)
            assert history.balances[account, asset] == balance
        # Every trade the account took part in, as the ledger sees it: two entries each.
        fills = history.fills(account, 10**6)
        refs = Counter(e.ref_id for e in entries if e.kind == "trade")
        assert {f"T{t.trade_id}" for t in fills} == set(refs)
        assert set(refs.values()) <= {2, 4}  # 4: the account was on both sides (its own orders)
    # Closed orders: filled ones have their whole quantity filled; the sums are the trades'.
    by_order: Counter[int] = Counter()
    for records in trades.values():
        for t in records:
            by_order[t.taker_order_id] += t.qty
            by_order[t.maker_order_id] += t.qty
    statuses: Counter[str] = Counter()
    for account in ACCOUNTS:
        for order in history.closed_orders(account, 10**6):
            statuses[order.status] += 1
            assert order.filled == by_order[order.order_id]
            if order.status == "filled":
                assert order.filled == order.qty
            assert exchange.order(order.order_id) is None  # closed: no longer open
    assert statuses["filled"] and statuses["canceled"], statuses
    # The recent trades are the tail of the full list.
    for symbol, records in trades.items():
        assert history.recent_trades(symbol) == records[-50:]
    _close(exchange)


def test_the_history_is_the_same_after_a_restart_a_loss_or_falling_behind(tmp_path: Path) -> None:
    """Proves the store survives a restart and is rebuilt exactly when lost or behind.

    One uninterrupted run gives the reference. Then: (a) reopened as it is;
    (b) its file deleted: rebuilt from the genesis and the whole journal;
    (c) its file replaced by a copy taken earlier, behind the newest
    snapshot: recovery ignores the snapshots the history has not reached
    and the replayed events bring it level. Each time every query answers
    as in the reference, and the engine is the same.
    """
    data = tmp_path / "data"
    exchange = _open(data)
    _run(exchange, _flow(600, 2, _next_seq(exchange)))
    exchange.history.commit()
    early = tmp_path / "early"
    early.mkdir()
    for f in data.glob("history.sqlite*"):
        shutil.copy(f, early / f.name)
    _run(exchange, _flow(600, 3, _next_seq(exchange)))
    write_snapshot(data, exchange.engine)
    _run(exchange, _flow(300, 4, _next_seq(exchange)))
    reference, state = _contents(exchange), exchange.engine.state_hash()
    _close(exchange)

    again = _open(data)
    assert (_contents(again), again.engine.state_hash()) == (reference, state)
    assert again.recovered is not None and again.recovered.snapshot is not None
    _close(again)

    for f in data.glob("history.sqlite*"):
        f.unlink()
    rebuilt = _open(data)
    assert rebuilt.recovered is not None and rebuilt.recovered.snapshot is None
    assert (_contents(rebuilt), rebuilt.engine.state_hash()) == (reference, state)
    _close(rebuilt)

    for f in data.glob("history.sqlite*"):
        f.unlink()
    for f in early.iterdir():
        shutil.copy(f, data / f.name)
    behind = _open(data)
    assert behind.recovered is not None and behind.recovered.snapshot is None
    assert (_contents(behind), behind.engine.state_hash()) == (reference, state)
    _close(behind)


def test_a_lost_history_whose_journal_was_pruned_starts_again_with_the_engine_balances(
    tmp_path: Path,
) -> None:
    """Proves the one case where events are gone: the history restarts where the engine is.

    Three snapshots and a prune leave a journal that no longer reaches the
    genesis; more commands follow; the history file is deleted. The node still starts: the history
    begins after the last journaled command (``first_seq``), holding the
    engine's balances, and the ledger entries of later trades carry the
    engine's exact balances.
    """
    data = tmp_path / "data"
    exchange = _open(data)
    exchange.sequencer.writer.segment_bytes = 4096  # many small segments, so prune deletes some
    for seed in (5, 6, 7):
        _run(exchange, _flow(200, seed, _next_seq(exchange)))
        write_snapshot(data, exchange.engine)
    assert prune(data), "nothing was pruned"
    _run(exchange, _flow(100, 9, _next_seq(exchange)))  # a tail after the newest snapshot
    last = exchange.engine.last_seq
    _close(exchange)
    for f in data.glob("history.sqlite*"):
        f.unlink()
    again = _open(data)
    history = again.history
    assert history.first_seq == last + 1 and history.seq == last
    assert not any(history.trades(s, 0) for s in SYMBOLS)
    _run(again, _flow(400, 8, _next_seq(again)))
    for account in ACCOUNTS:
        for asset in ("USD", "AAPLx", "SPYx"):
            if (account, asset) in history.balances:
                expected = again.balance(account, asset).balance
                assert history.balances[account, asset] == expected, (account, asset)
    assert any(history.trades(s, 0) for s in SYMBOLS)
    _close(again)


def test_a_history_written_by_its_own_thread_is_the_same_and_on_file_after_commit(
    tmp_path: Path,
) -> None:
    """Proves :meth:`History.start_writer` (the node with gateway workers): the same flow
    gives the same answers as a store written on the loop, every query sees every batch
    applied so far (the rows go to the thread with each commit, and a query hands over
    what is left first), and after ``commit`` another connection (a worker reading the
    file) sees every row."""
    inline, threaded = _open(tmp_path / "inline"), _open(tmp_path / "threaded")
    threaded.history.start_writer()
    flow = _flow(1_200, 7, _next_seq(inline))
    assert _next_seq(threaded) == _next_seq(inline)
    for i in range(0, len(flow), 13):
        part = flow[i : i + 13]
        _run(inline, part)
        _run(threaded, part)
        if i % 260 == 0:  # a query right after a hand-over sees it
            assert _contents(threaded) == _contents(inline)
    assert _contents(threaded) == _contents(inline)
    threaded.history.commit()
    reader = sqlite3.connect(f"file:{tmp_path / 'threaded' / 'history.sqlite'}?mode=ro", uri=True)
    try:
        trades = reader.execute("SELECT count(*) FROM trades").fetchone()[0]
        seq = dict(reader.execute("SELECT key, value FROM meta"))["seq"]
    finally:
        reader.close()
    assert trades == sum(len(inline.history.trades(s, 0)) for s in SYMBOLS) > 50
    assert seq == threaded.engine.last_seq
    _close(inline)
    _close(threaded)
