"""The /metrics text of known counters: names, labels, units, cumulative buckets, exact money."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from console.metrics import NodeCollector, collectors, render
from engine.events import OrderAccepted, TradeExecuted
from model.commands import NewOrder
from node.config import DEMO_CONFIG, parse_config
from node.metrics import Metrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def text_of(metrics: Metrics) -> tuple[str, Samples]:
    config = parse_config(DEMO_CONFIG, "demo")
    body = asyncio.run(render(collectors(NodeCollector(metrics, config, "demo", "9.9"))))
    text = body.decode()
    samples: Samples = {}
    types = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    assert types["tokex_commands"] == "counter" and types["tokex_open_orders"] == "gauge"
    assert types["tokex_journal_fsync_seconds"] == "histogram"
    return text, samples


def get(samples: Samples, metric: str, **labels: str) -> float:
    return samples[(metric, frozenset(labels.items()))]


def test_counters_are_written_in_base_units_with_prometheus_names() -> None:
    m = Metrics()
    m.commands[NewOrder] = 7
    m.events[OrderAccepted] = 6
    m.events[TradeExecuted] = 2
    m.rejects["insufficient_funds"] = 1
    m.trades["AAPLx/USD"] = 2
    m.traded_lots["AAPLx/USD"] = 12_345  # lots of 0.0001
    m.traded_quote["AAPLx/USD"] = 123_456_789_012  # cents: $1,234,567,890.12
    m.open_orders["AAPLx/USD"] = 4
    m.last_seq = 40
    m.snapshot_written(30, 0.0)
    m.on_flush(5, 500, 30_000, 3_000_000)
    gw = m.gateway("ws")
    gw.connections, gw.received, gw.sent = 2, 10, 12
    gw.ack_for("add_order").observe(0.0007)
    text, samples = text_of(m)
    assert get(samples, "tokex_info", name="demo", version="9.9") == 1
    assert get(samples, "tokex_commands_total", kind="new_order") == 7
    assert get(samples, "tokex_events_total", kind="trade") == 2
    assert get(samples, "tokex_rejects_total", reason="insufficient_funds") == 1
    assert get(samples, "tokex_open_orders", symbol="AAPLx/USD") == 4
    assert get(samples, "tokex_open_orders", symbol="TSLAx/USD") == 0
    assert get(samples, "tokex_traded_volume_total", symbol="AAPLx/USD", asset="AAPLx") == 1.2345
    # Money is converted from integer units only when written, exactly.
    assert 'tokex_traded_notional_total{asset="USD",symbol="AAPLx/USD"} 1.23456789012e+09' in text
    assert get(samples, "tokex_snapshot_age_records") == 10
    assert get(samples, "tokex_snapshot_age_seconds") > 0
    assert get(samples, "tokex_journal_fsync_seconds_bucket", le="0.0025") == 0
    assert get(samples, "tokex_journal_fsync_seconds_bucket", le="0.005") == 1
    assert get(samples, "tokex_journal_fsync_seconds_sum") == 0.003
    assert get(samples, "tokex_journal_batch_records_sum") == 5
    ack = {"protocol": "ws", "method": "add_order"}
    assert get(samples, "tokex_ack_latency_seconds_bucket", le="0.0005", **ack) == 0
    assert get(samples, "tokex_ack_latency_seconds_bucket", le="0.001", **ack) == 1
    assert get(samples, "tokex_ack_latency_seconds_bucket", le="+Inf", **ack) == 1
    assert get(samples, "tokex_gateway_connections", protocol="ws") == 2
    assert get(samples, "tokex_gateway_messages_sent_total", protocol="ws") == 12
    assert get(samples, "process_resident_memory_bytes") > 0
    assert any(name == "python_info" for name, _ in samples)
    assert not any(name.startswith("tokex_settlement") for name, _ in samples)


def test_settlement_gauges_appear_once_settlement_reports() -> None:
    m = Metrics()
    m.set_settlement(12, 4, 0.25)
    _, samples = text_of(m)
    assert get(samples, "tokex_settlement_queue_depth") == 12
    assert get(samples, "tokex_settlement_lag_trades") == 4
    assert get(samples, "tokex_settlement_lag_seconds") == 0.25
