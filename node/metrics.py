"""The running exchange's metrics: plain counters on the hot path, read at scrape time.

One :class:`Metrics` per node. The pipeline (:mod:`node.exchange`) counts
each durable batch here, the journal's timings and the snapshots; every
gateway takes its own :class:`GatewayMetrics` (``metrics.gateway("ws")``)
and counts its connections, messages, refusals and answers; settlement sets
its gauges (:meth:`Metrics.set_settlement`). The console renders them in
Prometheus' text format (console/metrics.py, docs/CONSOLE.md).

Why plain attributes and not ``prometheus_client``'s metric objects: those
take a lock and a label lookup on every update (about a microsecond), and
the engine's loop updates these several times per request. Here an update
is an integer addition or one :func:`bisect` on a histogram's bounds, all on
the event loop's thread (a value measured in a worker thread, like the
journal's fsync, is observed back on the loop), so nothing is locked. A
scrape copies O(instruments + kinds) numbers and never walks the orders:
the open orders of each instrument are kept up to date from the events.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any

from engine.events import (
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    TradeExecuted,
)
from model.order import Order
from node.sequencer import Sequenced

__all__ = [
    "ACK_SECONDS",
    "BATCH_RECORDS",
    "IO_SECONDS",
    "LAG_SECONDS",
    "GatewayMetrics",
    "Histogram",
    "Metrics",
    "WorkerMetrics",
]

IO_SECONDS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
"""Bucket bounds of the journal's write and fsync histograms (seconds)."""

ACK_SECONDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
"""Bucket bounds of the gateways' answer latency (seconds, request read to answer queued)."""

LAG_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
"""Bucket bounds of the event loop's lag (seconds late)."""

BATCH_RECORDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
"""Bucket bounds of the group commit's batch size (journal records per write)."""

LOOP_PROBE_S = 0.1
"""How often the event loop's lag is probed."""


class Histogram:
    """A Prometheus-style histogram without locks: updated on one thread, read by a scrape.

    ``counts[i]`` counts the observations in bucket ``i`` alone (``le`` its
    bound, the last bucket is +Inf); the scrape makes them cumulative.
    :meth:`observe` is O(log buckets).
    """

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Iterable[float]) -> None:
        self.bounds = tuple(bounds)
        if list(self.bounds) != sorted(set(self.bounds)):
            raise ValueError(f"bucket bounds {self.bounds}: must increase strictly")
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count one observation of ``value``."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def add(self, other: Histogram) -> None:
        """Add ``other``'s observations (the same bounds) to these."""
        if other.bounds != self.bounds:
            raise ValueError(f"bucket bounds {other.bounds}: not {self.bounds}")
        counts = self.counts
        for i, n in enumerate(list(other.counts)):
            counts[i] += n
        self.total += other.total

    def read(self) -> tuple[list[tuple[float, int]], int, float]:
        """``(cumulative buckets as (le, count) with +Inf last, count, sum)``, a consistent copy."""
        counts, total = list(self.counts), self.total
        out = []
        running = 0
        for bound, n in zip((*self.bounds, float("inf")), counts, strict=True):
            running += n
            out.append((bound, running))
        return out, running, total


class GatewayMetrics:
    """What one gateway (one protocol) counts; the gateway updates the attributes itself."""

    __slots__ = (
        "ack",
        "connections",
        "connections_total",
        "disconnects",
        "errors",
        "protocol",
        "rate_limited",
        "received",
        "sent",
    )

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.connections = 0
        """Open now."""
        self.connections_total = 0
        """Accepted since the start."""
        self.received = 0
        """Messages read from clients."""
        self.sent = 0
        """Messages written to clients."""
        self.rate_limited = 0
        """Requests refused by the rate limit."""
        self.disconnects: dict[str, int] = {}
        """Connections the gateway closed, by reason (``slow_consumer``, ...)."""
        self.errors: dict[str, int] = {}
        """Requests answered with an error, by the error's code (``EOrder:Insufficient funds``)."""
        self.ack: dict[str, Histogram] = {}
        """Time from reading a request to queuing its answer, by method."""

    def ack_for(self, method: str) -> Histogram:
        """The answer-latency histogram of ``method`` (made on first use)."""
        hist = self.ack.get(method)
        if hist is None:
            hist = self.ack[method] = Histogram(ACK_SECONDS)
        return hist

    def refused(self, error: str) -> None:
        """Count an error answer by its code: the text up to a second colon (no details)."""
        code = ":".join(error.split(":", 2)[:2])
        self.errors[code] = self.errors.get(code, 0) + 1

    def disconnected(self, reason: str) -> None:
        """Count a connection the gateway closed for ``reason``."""
        self.disconnects[reason] = self.disconnects.get(reason, 0) + 1

    def add(self, other: GatewayMetrics, gauges: bool = True) -> None:
        """Add ``other``'s counts to these (``gauges`` False: its open connections not)."""
        if gauges:
            self.connections += other.connections
        self.connections_total += other.connections_total
        self.received += other.received
        self.sent += other.sent
        self.rate_limited += other.rate_limited
        for mine, theirs in ((self.disconnects, other.disconnects), (self.errors, other.errors)):
            for key, n in list(theirs.items()):
                mine[key] = mine.get(key, 0) + n
        for method, hist in list(other.ack.items()):
            self.ack_for(method).add(hist)


class WorkerMetrics:
    """What the node last heard of one gateway worker process (node/hub.py, every second)."""

    __slots__ = ("cpu_seconds", "gateways", "index", "loop_lag", "pid", "resident_bytes")

    def __init__(self, index: int, pid: int) -> None:
        self.index = index
        self.pid = pid
        self.gateways: dict[str, GatewayMetrics] = {}
        self.cpu_seconds = 0.0
        self.resident_bytes = 0
        self.loop_lag = Histogram(LAG_SECONDS)


class Metrics:
    """The node's counters, gauges and histograms (see the module docstring)."""

    def __init__(self) -> None:
        self.commands: dict[type, int] = {}
        """Commands applied, by type (the journal's records, timers included)."""
        self.events: dict[type, int] = {}
        self.rejects: dict[str, int] = {}
        """Refused commands, by the engine's reason."""
        self.trades: dict[str, int] = {}
        self.traded_lots: dict[str, int] = {}
        self.traded_quote: dict[str, int] = {}
        """Quote asset units that changed hands, by symbol (0 without pre-trade risk)."""
        self.open_orders: dict[str, int] = {}
        """Open orders (resting, or stops waiting for their trigger) by symbol."""
        self.last_seq = 0
        self.journal_write = Histogram(IO_SECONDS)
        self.journal_fsync = Histogram(IO_SECONDS)
        self.batch_records = Histogram(BATCH_RECORDS)
        self.journal_bytes = 0
        self.pipelined_batches = 0
        """Batches applied while the one before them was being synced (pipelined commit)."""
        self.inline_syncs = 0
        """Batches synced on the event loop rather than in a worker thread (a quiet pipeline)."""
        self.loop_lag = Histogram(LAG_SECONDS)
        self.snapshot_seq = 0
        """The seq the newest durable snapshot covers (0: none)."""
        self.snapshot_wall: float | None = None
        """When it was written (Unix time, seconds), None while there is none."""
        self.settlement: dict[str, float] | None = None
        """``queue_depth``, ``lag_trades``, ``lag_seconds`` once settlement reports them."""
        self.pipeline_depth: Callable[[], int] = lambda: 0
        """Requests waiting for the pipeline now (the node sets the reader)."""
        self.gateways: dict[str, GatewayMetrics] = {}
        """The gateways in this process."""
        self.workers: dict[int, WorkerMetrics] = {}
        """Gateway worker processes now, by index, as they last reported (node/hub.py)."""
        self.retired: dict[str, GatewayMetrics] = {}
        """The counters of worker processes that exited (their last report), by protocol:
        so a total over the workers never goes back when one is restarted."""
        self.worker_restarts = 0

    def gateway_totals(self) -> list[GatewayMetrics]:
        """Every gateway's metrics by protocol: this process', every worker's, and the
        counters of workers that exited, added up (O(protocols x workers))."""
        totals: dict[str, GatewayMetrics] = {}

        def total(protocol: str) -> GatewayMetrics:
            found = totals.get(protocol)
            if found is None:
                found = totals[protocol] = GatewayMetrics(protocol)
            return found

        for g in list(self.gateways.values()):
            total(g.protocol).add(g)
        for worker in list(self.workers.values()):
            for g in list(worker.gateways.values()):
                total(g.protocol).add(g)
        for g in list(self.retired.values()):
            total(g.protocol).add(g, gauges=False)
        return [totals[p] for p in sorted(totals)]

    def worker_gone(self, index: int, pid: int) -> None:
        """Worker ``index`` (process ``pid``) exited: keep its counters (not its open
        connections) in the totals."""
        worker = self.workers.get(index)
        if worker is None or worker.pid != pid:
            return
        del self.workers[index]
        for g in worker.gateways.values():
            kept = self.retired.get(g.protocol)
            if kept is None:
                kept = self.retired[g.protocol] = GatewayMetrics(g.protocol)
            kept.add(g, gauges=False)

    def gateway(self, protocol: str) -> GatewayMetrics:
        """The metrics of the gateway speaking ``protocol`` (``ws``, ``fix``, ``rest``)."""
        found = self.gateways.get(protocol)
        if found is None:
            found = self.gateways[protocol] = GatewayMetrics(protocol)
        return found

    # ------------------------------------------------------------ the node's side

    def recovered(self, orders: Iterable[Order], last_seq: int) -> None:
        """Start from a recovered engine: its open orders by symbol. O(orders), once."""
        counts: dict[str, int] = {}
        for order in orders:
            counts[order.symbol] = counts.get(order.symbol, 0) + 1
        self.open_orders = counts
        self.last_seq = last_seq

    def on_batch(self, applied: list[Sequenced]) -> None:
        """Count a durable batch: commands and events by kind, rejects, trades, open orders.

        One pass over the batch's events; the open orders of an instrument
        go up by one per order accepted and down by one per order that
        closed (cancelled, expired, or a fill that left nothing: the taker's
        and the maker's ``leaves`` say so).
        """
        if not applied:
            return
        commands, events = self.commands, self.events
        rejects, open_orders = self.rejects, self.open_orders
        trades, lots, quote = self.trades, self.traded_lots, self.traded_quote
        for command, evs in applied:
            kind = type(command)
            commands[kind] = commands.get(kind, 0) + 1
            for e in evs:
                t = type(e)
                events[t] = events.get(t, 0) + 1
                # Most frequent first; ``type(e) is`` is cheaper than isinstance.
                if type(e) is OrderAccepted:
                    symbol = e.order.symbol
                    open_orders[symbol] = open_orders.get(symbol, 0) + 1
                elif type(e) is TradeExecuted:
                    symbol = e.symbol
                    open_orders[symbol] -= (e.taker_leaves == 0) + (e.maker_leaves == 0)
                    trades[symbol] = trades.get(symbol, 0) + 1
                    lots[symbol] = lots.get(symbol, 0) + e.qty
                    quote[symbol] = quote.get(symbol, 0) + e.quote_qty
                elif type(e) is OrderCancelled or type(e) is OrderExpired:
                    open_orders[e.symbol] -= 1
                elif type(e) is OrderRejected:
                    rejects[e.reason] = rejects.get(e.reason, 0) + 1
        self.last_seq = applied[-1][0].seq

    def on_flush(self, records: int, written: int, write_ns: int, fsync_ns: int) -> None:
        """Count one group commit: ``records`` in ``written`` bytes, its write and fsync times."""
        if not records:
            return
        self.batch_records.observe(records)
        self.journal_bytes += written
        self.journal_write.observe(write_ns / 1e9)
        if fsync_ns:
            self.journal_fsync.observe(fsync_ns / 1e9)

    def snapshot_written(self, seq: int, wall: float) -> None:
        """A snapshot covering ``seq`` is durable; it was taken at Unix time ``wall``."""
        if seq >= self.snapshot_seq:
            self.snapshot_seq, self.snapshot_wall = seq, wall

    # ------------------------------------------------------------ settlement's side

    def set_settlement(self, queue_depth: int, lag_trades: int, lag_seconds: float) -> None:
        """Settlement's gauges: messages queued, trades not yet booked, and how late it is."""
        self.settlement = {
            "queue_depth": float(queue_depth),
            "lag_trades": float(lag_trades),
            "lag_seconds": float(lag_seconds),
        }

    # ------------------------------------------------------------ the event loop

    async def watch_loop(self, interval: float = LOOP_PROBE_S) -> None:
        """Probe how late the event loop wakes a sleeper, every ``interval`` seconds, forever.

        Lateness is time the loop spent on other work (or the process was
        not scheduled) while a timer was due: what every request waits too.
        """
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(interval)
            self.loop_lag.observe(max(0.0, loop.time() - start - interval))


def kind_name(kind: type) -> str:
    """A command's or event's kind as its journal and wire tag (``new_order``, ``trade``)."""
    config: Any = getattr(kind, "__struct_config__", None)
    tag = getattr(config, "tag", None)
    return tag if isinstance(tag, str) else kind.__name__
