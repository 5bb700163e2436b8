"""``/metrics``: the node's metrics (node/metrics.py) in Prometheus' text format.

:class:`NodeCollector` turns the node's plain counters into metric families
when scraped (``prometheus_client`` writes the format); :func:`render`
writes a few samples per turn of the event loop, so a scrape never holds
the engine's loop for longer than those take, and it reads
O(instruments + kinds) numbers, never the orders. The names are listed
and explained in docs/CONSOLE.md.

Money stays integer until here: traded notional is counted in units of the
quote asset and volume in lots, and turned into the asset's decimal amount
only when written out (exact in the text up to 15 significant digits;
Prometheus itself stores every value as a 64-bit float).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from decimal import Decimal

from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from node.config import Config
from node.metrics import GatewayMetrics, Histogram, Metrics, kind_name

__all__ = ["CONTENT_TYPE", "NodeCollector", "ProcessCollector", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Prometheus' text exposition format."""

CHUNK = 4
"""Samples written per turn of the event loop."""


def _le(bound: float) -> str:
    """A bucket's ``le`` label as Prometheus writes it (``0.005``, ``+Inf``)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


def _histogram(
    family: HistogramMetricFamily, labels: list[str], hist: Histogram
) -> HistogramMetricFamily:
    buckets, _, total = hist.read()
    family.add_metric(labels, [(_le(le), n) for le, n in buckets], total)
    return family


class NodeCollector:
    """The families of one node's :class:`~node.metrics.Metrics` (a prometheus_client Collector)."""

    def __init__(self, metrics: Metrics, config: Config, name: str, version: str) -> None:
        self.metrics = metrics
        self.config = config
        self.info = {"name": name, "version": version}
        self.instruments = config.instruments
        self.precision = {a.id: a.precision for a in config.genesis.assets}

    def collect(self) -> Iterator[Metric]:
        """Every family, one at a time (the renderer yields the loop between them)."""
        m = self.metrics
        info = GaugeMetricFamily("tokex_info", "This exchange", labels=list(self.info))
        info.add_metric(list(self.info.values()), 1)
        yield info
        yield from self._engine(m)
        yield from self._journal(m)
        for gateway in m.gateway_totals():
            yield from self._gateway(gateway)
        yield from self._workers(m)
        yield from self._settlement(m)
        lag = HistogramMetricFamily(
            "tokex_event_loop_lag_seconds",
            "How late the event loop woke a timer (probed every 0.1 s)",
        )
        yield _histogram(lag, [], m.loop_lag)

    def _engine(self, m: Metrics) -> Iterator[Metric]:
        commands = CounterMetricFamily(
            "tokex_commands_total", "Commands applied by the engine, by kind", labels=["kind"]
        )
        for kind, n in sorted((kind_name(k), n) for k, n in list(m.commands.items())):
            commands.add_metric([kind], n)
        yield commands
        events = CounterMetricFamily(
            "tokex_events_total", "Events the engine emitted, by kind", labels=["kind"]
        )
        for kind, n in sorted((kind_name(k), n) for k, n in list(m.events.items())):
            events.add_metric([kind], n)
        yield events
        rejects = CounterMetricFamily(
            "tokex_rejects_total", "Commands the engine refused, by reason", labels=["reason"]
        )
        for reason, n in sorted(m.rejects.items()):
            rejects.add_metric([reason], n)
        yield rejects
        open_orders = GaugeMetricFamily(
            "tokex_open_orders",
            "Open orders (resting, or stops waiting for their trigger), by instrument",
            labels=["symbol"],
        )
        trades = CounterMetricFamily(
            "tokex_trades_total", "Trades, by instrument", labels=["symbol"]
        )
        volume = CounterMetricFamily(
            "tokex_traded_volume_total",
            "Quantity traded, in the base asset, by instrument",
            labels=["symbol", "asset"],
        )
        notional = CounterMetricFamily(
            "tokex_traded_notional_total",
            "Value traded, in the quote asset, by instrument",
            labels=["symbol", "asset"],
        )
        for symbol, inst in sorted(self.instruments.items()):
            open_orders.add_metric([symbol], m.open_orders.get(symbol, 0))
            trades.add_metric([symbol], m.trades.get(symbol, 0))
            lots = m.traded_lots.get(symbol, 0)
            volume.add_metric([symbol, inst.base], float(inst.lots_to_qty(lots)))
            units = Decimal(m.traded_quote.get(symbol, 0)).scaleb(-self.precision[inst.quote])
            notional.add_metric([symbol, inst.quote], float(units))
        yield from (open_orders, trades, volume, notional)
        yield GaugeMetricFamily(
            "tokex_pipeline_queue_depth",
            "Requests waiting for the pipeline now",
            m.pipeline_depth(),
        )

    def _journal(self, m: Metrics) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "tokex_journal_last_seq", "Sequence number of the last journaled command", m.last_seq
        )
        yield CounterMetricFamily(
            "tokex_journal_written_bytes_total", "Bytes appended to the journal", m.journal_bytes
        )
        yield CounterMetricFamily(
            "tokex_journal_pipelined_batches_total",
            "Batches applied while the previous batch was being synced",
            m.pipelined_batches,
        )
        yield CounterMetricFamily(
            "tokex_journal_inline_syncs_total",
            "Batches synced on the event loop (nothing else queued, the disk quick)",
            m.inline_syncs,
        )
        yield _histogram(
            HistogramMetricFamily(
                "tokex_journal_write_seconds", "Time in write() per group commit"
            ),
            [],
            m.journal_write,
        )
        yield _histogram(
            HistogramMetricFamily(
                "tokex_journal_fsync_seconds", "Time in fsync() per group commit"
            ),
            [],
            m.journal_fsync,
        )
        yield _histogram(
            HistogramMetricFamily(
                "tokex_journal_batch_records", "Journal records per group commit (batch size)"
            ),
            [],
            m.batch_records,
        )
        yield GaugeMetricFamily(
            "tokex_snapshot_last_seq",
            "Sequence number the newest durable snapshot covers (0: none)",
            m.snapshot_seq,
        )
        yield GaugeMetricFamily(
            "tokex_snapshot_age_records",
            "Journal records applied since the newest snapshot",
            max(0, m.last_seq - m.snapshot_seq),
        )
        if m.snapshot_wall is not None:
            yield GaugeMetricFamily(
                "tokex_snapshot_age_seconds",
                "Seconds since the newest snapshot was written",
                max(0.0, time.time() - m.snapshot_wall),
            )

    def _gateway(self, g: GatewayMetrics) -> Iterator[Metric]:
        """One protocol's gateway: in this process and in every worker process, added up."""
        protocol = g.protocol
        labels = [protocol]
        families: list[tuple[type[GaugeMetricFamily | CounterMetricFamily], str, str, int]] = [
            (GaugeMetricFamily, "tokex_gateway_connections", "Open connections", g.connections),
            (
                CounterMetricFamily,
                "tokex_gateway_connections_total",
                "Connections accepted",
                g.connections_total,
            ),
            (
                CounterMetricFamily,
                "tokex_gateway_messages_received_total",
                "Messages read from clients",
                g.received,
            ),
            (
                CounterMetricFamily,
                "tokex_gateway_messages_sent_total",
                "Messages written to clients",
                g.sent,
            ),
            (
                CounterMetricFamily,
                "tokex_gateway_rate_limited_total",
                "Requests refused by the rate limit",
                g.rate_limited,
            ),
        ]
        for cls, name, doc, value in families:
            family = cls(name, doc, labels=["protocol"])
            family.add_metric(labels, value)
            yield family
        disconnects = CounterMetricFamily(
            "tokex_gateway_disconnects_total",
            "Connections the gateway closed, by reason",
            labels=["protocol", "reason"],
        )
        for reason in sorted({"slow_consumer", *g.disconnects}):
            disconnects.add_metric([protocol, reason], g.disconnects.get(reason, 0))
        yield disconnects
        errors = CounterMetricFamily(
            "tokex_gateway_errors_total",
            "Requests answered with an error, by its code",
            labels=["protocol", "error"],
        )
        for code, n in sorted(g.errors.items()):
            errors.add_metric([protocol, code], n)
        yield errors
        ack = HistogramMetricFamily(
            "tokex_ack_latency_seconds",
            "From reading a request to queuing its answer (after the journal), by method",
            labels=["protocol", "method"],
        )
        for method, hist in sorted(g.ack.items()):
            _histogram(ack, [protocol, method], hist)
        yield ack

    def _workers(self, m: Metrics) -> Iterator[Metric]:
        """The gateway worker processes (``tokex serve --workers N``), by index."""
        if not m.workers and not m.worker_restarts and not m.retired:
            return  # one process: no workers (docs/CONSOLE.md)
        workers = sorted(list(m.workers.values()), key=lambda w: w.index)
        up = GaugeMetricFamily(
            "tokex_worker_up",
            "Gateway worker processes connected to the node, by index (and pid)",
            labels=["worker", "pid"],
        )
        connections = GaugeMetricFamily(
            "tokex_worker_connections",
            "Open client connections on each gateway worker, by protocol",
            labels=["worker", "protocol"],
        )
        cpu = CounterMetricFamily(
            "tokex_worker_cpu_seconds_total",
            "User and system CPU time of each gateway worker process",
            labels=["worker"],
        )
        memory = GaugeMetricFamily(
            "tokex_worker_resident_memory_bytes",
            "Resident memory of each gateway worker process",
            labels=["worker"],
        )
        lag = HistogramMetricFamily(
            "tokex_worker_event_loop_lag_seconds",
            "How late each gateway worker's event loop woke a timer (probed every 0.1 s)",
            labels=["worker"],
        )
        for w in workers:
            index = str(w.index)
            up.add_metric([index, str(w.pid)], 1)
            for protocol, g in sorted(w.gateways.items()):
                connections.add_metric([index, protocol], g.connections)
            cpu.add_metric([index], w.cpu_seconds)
            memory.add_metric([index], w.resident_bytes)
            _histogram(lag, [index], w.loop_lag)
        yield from (up, connections, cpu, memory, lag)
        yield CounterMetricFamily(
            "tokex_worker_restarts_total",
            "Gateway worker processes that exited and were started again",
            m.worker_restarts,
        )

    def _settlement(self, m: Metrics) -> Iterator[Metric]:
        s = m.settlement
        if s is None:
            return  # absent until settlement reports (docs/CONSOLE.md)
        yield GaugeMetricFamily(
            "tokex_settlement_queue_depth", "Settlement messages not yet booked", s["queue_depth"]
        )
        yield GaugeMetricFamily(
            "tokex_settlement_lag_trades", "Trades not yet booked by settlement", s["lag_trades"]
        )
        yield GaugeMetricFamily(
            "tokex_settlement_lag_seconds",
            "Age of the oldest trade not yet booked",
            s["lag_seconds"],
        )


class ProcessCollector:
    """The process' standard ``process_*`` families, read cheaply from /proc and os.times().

    prometheus_client's own process collector also lists /proc/self/fd,
    which costs a system call per open descriptor (per connection) on the
    engine's loop; these are the usual names without that one.
    """

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.start = time.time()

    def collect(self) -> Iterator[Metric]:
        try:
            with open("/proc/self/statm", "rb") as f:
                size, resident = (int(x) for x in f.read().split()[:2])
        except OSError:
            size = resident = 0
        if resident:
            yield GaugeMetricFamily(
                "process_resident_memory_bytes", "Resident memory size", resident * self.page
            )
            yield GaugeMetricFamily(
                "process_virtual_memory_bytes", "Virtual memory size", size * self.page
            )
        times = os.times()
        yield CounterMetricFamily(
            "process_cpu_seconds_total", "User and system CPU time", times.user + times.system
        )
        yield GaugeMetricFamily(
            "process_start_time_seconds", "When the server started (Unix time)", self.start
        )


class _One:
    """One family as a collector, so prometheus_client writes it alone."""

    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> list[Metric]:
        return [self.family]


def collectors(node_collector: NodeCollector) -> list[Collector]:
    """What ``/metrics`` serves: the node's families, the process', Python's GC and version."""
    return [node_collector, ProcessCollector(), GC_COLLECTOR, PLATFORM_COLLECTOR]


async def render(sources: list[Collector]) -> bytes:
    """The text exposition of ``sources``, yielding the event loop every few samples.

    prometheus_client writes about ten microseconds of Python per sample, so
    a histogram with its buckets, or all of a family, would hold the loop
    for hundreds: each family is written :data:`CHUNK` samples at a time
    (the ``# HELP``/``# TYPE`` header only before the first), with a turn of
    the loop between, so the engine never waits for more than a few samples.
    """
    parts = []
    for source in sources:
        for family in source.collect():
            samples = family.samples
            for start in range(0, max(1, len(samples)), CHUNK):
                part = Metric(family.name, family.documentation, family.type, family.unit)
                part.samples = samples[start : start + CHUNK]
                text = generate_latest(_One(part))
                parts.append(text.split(b"\n", 2)[2] if start else text)
                await asyncio.sleep(0)
    return b"".join(parts)
