"""``python -m bench fix`` for real, briefly: the lean FIX client against a real ``tokex serve``.

Checks the report's structure and that every order sent over FIX was
acknowledged by an execution report, with no error or disconnect; no timing
is asserted (the machine may be busy).
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.cli import main as bench_main
from bench.fix import fix_report
from bench.ws import Load
from bench.wsservers import FIX_TARGET


def test_a_low_rate_run_over_fix_answers_every_order() -> None:
    load = Load(clients=2, seconds=1.5, procs=2, seed=3, clock="sim:2026-11-23T15:00:00Z")
    report = fix_report((FIX_TARGET,), [200], load, runs=1, do_sweep=False)
    assert report["benchmark"] == "fix" and report["runs"] == 1
    entry = report["targets"][FIX_TARGET]
    assert entry["server"]["transport"].startswith("FIX 4.4")
    [row] = entry["rates"]
    [step] = row["steps"]
    assert step["scheduled"] == step["sent"] == 300
    assert step["acked"] == step["sent"] and step["unanswered"] == 0
    assert step["errors"] == {} and step["disconnects"] == []
    assert step["adds"] + step["cancels"] == step["sent"] and step["cancels"] > 0
    assert step["acked_measured"] == step["measured"] > 0
    ack = step["latency_us"]["ack"]
    assert 0 < ack["p50"] <= ack["p99"] <= ack["max"]
    # Marketable IOCs that traded report their fill latency.
    fill = step["latency_us"]["exec"]
    assert fill is not None and 0 < fill["p50"] <= fill["max"]
    assert row["runs"] == 1 and row["achieved_orders_s"]["median"] > 0


def test_the_command_line_writes_both_gateways_into_one_report(tmp_path: Path) -> None:
    out = tmp_path / "fix.json"
    args = ["--rate", "100", "--clients", "1", "--seconds", "1", "--procs", "1"]
    bench_main(["fix", *args, "--json", str(out)])
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report["targets"]) == {FIX_TARGET, "tokex"}
    for entry in report["targets"].values():
        [row] = entry["rates"]
        [step] = row["steps"]
        assert step["acked"] == step["sent"] == 100 and step["errors"] == {}


def test_with_fix_gateway_the_websocket_steps_run_beside_an_idle_fix_worker(
    tmp_path: Path,
) -> None:
    out = tmp_path / "fix.json"
    args = ["--rate", "100", "--clients", "1", "--seconds", "1", "--procs", "1"]
    bench_main(
        ["fix", *args, "--target", "tokex", "--workers", "1", "--fix-gateway", "--json", str(out)]
    )
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["load"]["fix_gateway"] is True
    [row] = report["targets"]["tokex"]["rates"]
    [step] = row["steps"]
    assert step["acked"] == step["sent"] == 100 and step["errors"] == {}
    # The node, the WebSocket worker and the FIX worker, each measured.
    assert set(step["cpu_us_per_order"]) == {"node", "worker0", "fix"}
