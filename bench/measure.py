"""In-process engine measurement: throughput runs and a per-command latency pass.

Method (the same one the peer runners use, so the figures compare):

* Commands are built before any timing.
* Throughput: each run feeds every command to a fresh engine inside one
  ``perf_counter_ns`` pair; the figure is commands / elapsed. The report
  gives the median over runs and the range.
* Latency: one more pass on a fresh engine times each ``process`` call on its
  own and records it in an HDR histogram (3 significant digits). The timer
  itself (two ``perf_counter_ns`` calls, about 50-80 ns here) is included.
* The garbage collector keeps the interpreter's defaults.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from hdrh.histogram import HdrHistogram

from engine.engine import Engine
from model.commands import Command

__all__ = ["CCDF_PERCENTILES", "ccdf", "machine", "measure_engine", "percentiles"]

# Latencies from 1 ns to 60 s at 3 significant digits.
_HDR_RANGE = (1, 60_000_000_000, 3)


def machine() -> str:
    """A one-line description of the machine: CPU model, cores, OS."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def percentiles(hist: HdrHistogram) -> dict[str, int]:
    """p50, p99, p99.9 and max of an HDR histogram, in its unit (ns)."""
    return {
        "p50": int(hist.get_value_at_percentile(50.0)),
        "p99": int(hist.get_value_at_percentile(99.0)),
        "p999": int(hist.get_value_at_percentile(99.9)),
        "max": int(hist.get_max_value()),
    }


CCDF_PERCENTILES = (
    0.0,
    10.0,
    25.0,
    50.0,
    75.0,
    90.0,
    95.0,
    98.0,
    99.0,
    99.5,
    99.8,
    99.9,
    99.95,
    99.98,
    99.99,
    100.0,
)
"""Where a latency distribution is sampled for its CCDF plot."""


def ccdf(hist: HdrHistogram) -> dict[str, Any]:
    """The distribution of ``hist`` at :data:`CCDF_PERCENTILES`: ``{"count", "points"}``.

    ``points`` are ``[percentile, value]`` pairs in the histogram's unit; the
    fraction of values above ``value`` is ``1 - percentile / 100``.
    """
    return {
        "count": int(hist.get_total_count()),
        "points": [[p, int(hist.get_value_at_percentile(p))] for p in CCDF_PERCENTILES],
    }


def measure_engine(
    make_engine: Callable[[], Engine],
    commands: Sequence[Command],
    runs: int,
    workload: str,
    warmup: Callable[[Engine], Any] | None = None,
    on_run: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run ``commands`` through fresh engines; return the BENCHMARKS.md JSON report.

    ``make_engine`` builds a ready engine (instruments listed, accounts
    funded); ``warmup``, if given, is applied to each fresh engine before the
    clock starts (for example to load a starting book). ``on_run``, if given,
    is called after each timed run and after the latency pass (progress).
    """
    throughputs: list[float] = []
    for _ in range(runs):
        engine = make_engine()
        if warmup is not None:
            warmup(engine)
        process = engine.process
        start = time.perf_counter_ns()
        for c in commands:
            process(c)
        elapsed = time.perf_counter_ns() - start
        throughputs.append(len(commands) / (elapsed / 1e9))
        if on_run is not None:
            on_run()
    engine = make_engine()
    if warmup is not None:
        warmup(engine)
    hist = HdrHistogram(*_HDR_RANGE)
    record = hist.record_value
    process = engine.process
    clock = time.perf_counter_ns
    kinds: Counter[str] = Counter()
    for c in commands:
        t0 = clock()
        events = process(c)
        record(clock() - t0)
        for e in events:
            kinds[type(e).__name__] += 1
    if on_run is not None:
        on_run()
    return {
        "workload": workload,
        "commands": len(commands),
        "runs": runs,
        "throughput_cmd_s": round(statistics.median(throughputs)),
        "throughput_range": [round(min(throughputs)), round(max(throughputs))],
        "throughput_runs": [round(t) for t in throughputs],
        "latency_ns": percentiles(hist),
        "latency_ccdf_ns": ccdf(hist),
        "resting_orders_end": len(engine.orders),
        "trades": engine.next_trade_id - 1,
        "events": dict(sorted(kinds.items())),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "machine": machine(),
    }
