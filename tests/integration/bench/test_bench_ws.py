"""``python -m bench ws`` for real, briefly (a ``tokex serve`` process, two clients, 200 orders/s),
and its sweep on a simulated server.

Checks the report's structure and that every order sent was answered without
an error or a disconnect; no timing is asserted (the machine may be busy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.cli import main as bench_main
from bench.ws import Load, sweep, ws_report

_LATENCY_KEYS = {"p50", "p99", "p999", "max"}


def test_low_rate_run_answers_every_order_and_reports_its_figures() -> None:
    load = Load(clients=2, seconds=1.5, procs=2, seed=3, clock="sim:2026-11-23T15:00:00Z")
    report = ws_report(("tokex",), [200], load, do_sweep=False)
    assert {"python", "machine", "clients", "seconds", "targets", "elapsed_s"} <= report.keys()
    assert report["clients"] == 2 and "ratio_max_held" not in report
    entry = report["targets"]["tokex"]
    assert entry["server"]["name"] == "tokex" and "sweep" not in entry
    [step] = entry["rates"]
    assert step["offered_orders_s"] == 200
    assert step["scheduled"] == step["sent"] == 300  # 1.5 s at 100 orders/s for each of 2 clients
    assert step["acked"] == step["sent"] and step["unanswered"] == 0
    assert step["errors"] == {} and step["disconnects"] == [] and step["exec_missing"] == 0
    assert step["adds"] + step["cancels"] == step["sent"] and step["cancels"] > 0
    assert step["acked_measured"] == step["measured"] > 0
    assert step["achieved_orders_s"] > 0
    for kind in ("ack", "service", "exec"):
        latency = step["latency_us"][kind]
        assert set(latency) == _LATENCY_KEYS
        assert 0 < latency["p50"] <= latency["p99"] <= latency["p999"] <= latency["max"]


def test_a_run_with_gateway_workers_reports_each_process_and_the_disks_fsync() -> None:
    load = Load(clients=2, seconds=1.5, procs=2, seed=5, clock="system", workers=2)
    [step] = ws_report(("tokex",), [200], load, do_sweep=False)["targets"]["tokex"]["rates"]
    assert step["acked"] == step["sent"] == 300 and step["errors"] == {}
    assert step["disconnects"] == [] and step["exec_missing"] == 0
    # No FIX session in the bench's WebSocket config: no FIX worker either.
    assert set(step["cpu_pct_by_process"]) == {"node", "worker0", "worker1"}
    assert set(step["cpu_us_per_order"]) == {"node", "worker0", "worker1"}
    assert step["cpu_us_per_order"]["node"] > 0  # the node sequenced every order
    fsync = step["fsync_us"]
    assert fsync["count"] > 0 and 0 < fsync["p50"] <= fsync["p99"] <= fsync["max"]


def test_the_command_line_writes_the_json_report(tmp_path: Path) -> None:
    out = tmp_path / "ws.json"
    args = ["--target", "tokex", "--rate", "100", "--clients", "1", "--seconds", "1"]
    bench_main(["ws", *args, "--procs", "1", "--json", str(out)])
    report = json.loads(out.read_text(encoding="utf-8"))
    [step] = report["targets"]["tokex"]["rates"]
    assert step["acked"] == step["sent"] == 100 and step["errors"] == {}


def _fake_step(rate: float, capacity: float, other: int = 0) -> dict[str, Any]:
    return {
        "offered_orders_s": rate,
        "achieved_orders_s": min(rate, capacity),
        "held": rate <= capacity,
        "other_cpu_pct": other,
    }


def test_the_sweep_brackets_the_capacity_and_steps_down_after_an_overload() -> None:
    tried: list[float] = []

    def measure(rate: float) -> dict[str, Any]:
        tried.append(rate)
        return _fake_step(rate, 1_234)

    known = [_fake_step(10_000, 1_234), _fake_step(50_000, 1_234)]
    found = sweep(measure, known, start=1000, max_rate=400_000)
    assert 1_120 <= found["max_held_orders_s"] <= 1_234 < found["first_not_held_orders_s"]
    assert tried[0] == 1_100  # 90% of what the overloaded 10,000 achieved
    assert 10_000 not in tried and 50_000 not in tried
    # Not held while other processes were busy: measured again, the second result stands.
    busy = {**_fake_step(400, 300), "other_cpu_pct": 80}
    results = [busy, _fake_step(400, 1_000)]
    found = sweep(lambda rate: results.pop(0), [], start=400, max_rate=400)
    assert found["max_held_orders_s"] == 400 and len(found["steps"]) == 2


def test_the_overload_step_offers_twice_the_saturation_and_reports_busy_and_memory() -> None:
    """A short run whose overload step follows: twice the achieved rate, all answered."""
    load = Load(clients=2, seconds=1.5, procs=2, seed=4, clock="sim:2026-11-23T15:00:00Z")
    report = ws_report(("tokex",), [200], load, do_sweep=False, overload_seconds=1.5)
    entry = report["targets"]["tokex"]
    [step] = entry["rates"]
    summary = entry["overload"]["summary"]
    # The saturation counts orders taken: a step's refusals come off its rate, in proportion.
    taken = (step["acked"] - sum(step["errors"].values())) / step["acked"]
    assert summary["saturation_orders_s"] == round(step["achieved_orders_s"] * taken)
    assert summary["offered_orders_s"] == 2 * summary["saturation_orders_s"]
    assert summary["unanswered"] == 0 and summary["disconnects"] == []
    assert summary["answered"] == entry["overload"]["step"]["sent"]
    assert summary["busy"] == entry["overload"]["step"]["errors"].get("EService:Busy", 0)
    rss = summary["server_rss_mb"]
    assert 0 < rss["start"] <= rss["peak"] and rss["end"] > 0
    assert set(summary["ack_us"]) == _LATENCY_KEYS
