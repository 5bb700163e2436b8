"""The node's metrics: histograms, and counts kept from the events equal to the engine's state."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.xstocks import xstocks
from engine.events import Event, OrderCancelled, TradeExecuted
from model.commands import CorporateAction, Halt, NewOrder
from node.metrics import Histogram, Metrics, kind_name
from tests.golden.test_corporate_golden import S, act, funded


def test_a_histogram_counts_each_value_in_the_first_bucket_that_holds_it() -> None:
    hist = Histogram((0.001, 0.01, 0.1))
    for v in (0.0005, 0.001, 0.002, 0.01, 0.5, 7.0):
        hist.observe(v)
    buckets, count, total = hist.read()
    # ``le`` is inclusive: 0.001 falls in the 0.001 bucket, as Prometheus counts it.
    assert buckets == [(0.001, 2), (0.01, 4), (0.1, 4), (float("inf"), 6)]
    assert count == 6
    assert total == pytest.approx(0.0005 + 0.001 + 0.002 + 0.01 + 0.5 + 7.0)


@pytest.mark.parametrize("bounds", [(0.1, 0.01), (1.0, 1.0)])
def test_histogram_bounds_must_increase(bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="must increase strictly"):
        Histogram(bounds)


def _open_by_symbol(orders: object) -> dict[str, int]:
    return dict(Counter(o.symbol for o in orders.values()))  # type: ignore[attr-defined]


def _kept(metrics: Metrics) -> dict[str, int]:
    return {s: n for s, n in metrics.open_orders.items() if n}


def test_open_orders_follow_the_engine_over_a_venue_day() -> None:
    """Every order type, amends, replaces, expiries, a halt and its reopening auction."""
    commands, build = xstocks(6_000, seed=5)
    engine = build()
    metrics = Metrics()
    metrics.recovered(engine.orders.values(), engine.last_seq)
    trades = 0
    for n, command in enumerate(commands):
        events = engine.process(command)
        trades += sum(isinstance(e, TradeExecuted) for e in events)
        metrics.on_batch([(command, events)])
        if n % 250 == 0:
            assert _kept(metrics) == _open_by_symbol(engine.orders), n
    assert _kept(metrics) == _open_by_symbol(engine.orders)
    assert any(isinstance(c, Halt) for c in commands) and trades > 100
    assert sum(metrics.trades.values()) == trades
    assert metrics.commands[NewOrder] == sum(type(c) is NewOrder for c in commands)
    assert metrics.last_seq == commands[-1].seq


def test_open_orders_follow_cancels_by_the_operator_and_a_split() -> None:
    d = funded()
    metrics = Metrics()
    metrics.recovered(d.engine.orders.values(), d.engine.last_seq)

    def fed(events: list[Event]) -> None:
        metrics.on_batch([(d.log[-1], events)])

    fed(d.new("a", "buy", 1, 9_900))
    fed(d.new("a", "buy", 1, 9_800))
    fed(d.new("b", "sell", 2, 10_100))
    assert metrics.open_orders == {S: 3}
    fed(d.cancel_all("a", reason="operator"))
    assert metrics.open_orders == {S: 1} == _open_by_symbol(d.engine.orders)
    assert metrics.events[OrderCancelled] == 2
    fed(act(d, "split", 3, 2))  # cancels the book's orders and calls an auction
    assert _kept(metrics) == _open_by_symbol(d.engine.orders) == {}
    assert metrics.commands[CorporateAction] == 1


def test_flushes_snapshots_and_gateways_are_counted() -> None:
    metrics = Metrics()
    metrics.on_flush(0, 0, 0, 0)  # a batch with nothing to write is not a commit
    metrics.on_flush(3, 300, 40_000, 2_000_000)
    metrics.on_flush(1, 100, 10_000, 0)  # fsync off
    assert metrics.batch_records.read()[1:] == (2, 4.0)
    assert metrics.journal_bytes == 400
    assert metrics.journal_write.read()[1] == 2
    assert metrics.journal_fsync.read()[1:] == (1, 0.002)
    metrics.snapshot_written(100, 5.0)
    metrics.snapshot_written(50, 9.0)  # an older snapshot finishing late changes nothing
    assert (metrics.snapshot_seq, metrics.snapshot_wall) == (100, 5.0)
    ws = metrics.gateway("ws")
    assert metrics.gateway("ws") is ws and ws.protocol == "ws"
    ws.disconnected("slow_consumer")
    ws.disconnected("slow_consumer")
    assert ws.disconnects == {"slow_consumer": 2}
    ws.refused("EGeneral:Invalid arguments:limit_price 1.001: not a multiple of 0.01")
    ws.refused("EOrder:Insufficient funds")
    assert ws.errors == {"EGeneral:Invalid arguments": 1, "EOrder:Insufficient funds": 1}
    assert ws.ack_for("add_order") is ws.ack_for("add_order")
    metrics.set_settlement(7, 3, 1.5)
    assert metrics.settlement == {"queue_depth": 7.0, "lag_trades": 3.0, "lag_seconds": 1.5}


def test_kinds_are_named_by_their_wire_tag() -> None:
    assert kind_name(NewOrder) == "new_order"
    assert kind_name(TradeExecuted) == "trade"
    assert kind_name(int) == "int"
