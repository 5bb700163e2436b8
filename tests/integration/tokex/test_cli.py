"""The command line as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_demo_prints_every_book_and_a_state_hash() -> None:
    proc = run("-m", "tokex.cli", "demo", "--commands", "3000", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for symbol in ("AAPLx/USD", "TSLAx/USD", "SPYx/USD", "NVDAx/USD"):
        assert symbol in out
    assert "TradeExecuted" in out and "fees collected" in out
    hash_line = [line for line in out.splitlines() if line.startswith("state hash ")]
    assert len(hash_line) == 1 and len(hash_line[0].split()[-1]) == 64
    # Seeded and deterministic: the same run prints the same report.
    again = run("-m", "tokex.cli", "demo", "--commands", "3000", "--seed", "3")
    assert again.stdout == out


def test_demo_rejects_a_bad_count_with_a_clear_error() -> None:
    proc = run("-m", "tokex.cli", "demo", "--commands", "0")
    assert proc.returncode == 2
    assert "--commands 0: must be at least 1" in proc.stderr


def test_serve_refuses_a_port_out_of_range(tmp_path: Path) -> None:
    proc = run("-m", "tokex.cli", "serve", "--data", str(tmp_path), "--fix-port", "70000")
    assert proc.returncode == 2
    assert "--fix-port 70000: must be 0 to 65535" in proc.stderr
    assert not (tmp_path / "genesis.tkx").exists()  # refused before anything was created


def test_bench_engine_writes_the_documented_json(tmp_path: Path) -> None:
    out = tmp_path / "engine.json"
    proc = run(
        "-m", "bench", "engine", "--workload", "peer-flow", "--commands", "2000", "--runs", "1",
        "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    for key in ("workload", "commands", "runs", "throughput_cmd_s", "throughput_range"):
        assert key in report
    assert report["workload"] == "peer-flow" and report["commands"] == 2000
    assert set(report["latency_ns"]) == {"p50", "p99", "p999", "max"}
    assert report["latency_ns"]["p50"] <= report["latency_ns"]["max"]
    assert report["python"] and report["machine"]
    assert report["trades"] > 0


def test_bench_refuses_an_unknown_workload() -> None:
    proc = run("-m", "bench", "engine", "--workload", "nope", "--commands", "10")
    assert proc.returncode != 0
    assert "--workload 'nope': unknown" in proc.stderr


def test_bench_xstocks_runs_the_schedule_a_halt_and_its_auction(tmp_path: Path) -> None:
    out = tmp_path / "xstocks.json"
    proc = run(
        "-m", "bench", "engine", "--workload", "xstocks", "--commands", "3000", "--runs", "1",
        "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["workload"] == "xstocks" and report["commands"] == 3000
    events = report["events"]
    # The 16:00 close moves all 60 instruments to extended; the halted one also
    # goes through its call: halted, auction, back.
    assert events["PhaseChanged"] == 60 + 3
    assert events["AuctionUncrossed"] == 1
    for kind in ("TradeExecuted", "OrderTriggered", "OrderExpired", "IcebergRefilled"):
        assert events[kind] > 0, kind
    assert events["OrderRejected"] > 0  # poor accounts, limit-only after the close


def test_verify_and_replay_report_a_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    lines = [
        b'{"type":"deposit","seq":0,"ts":0,"account":"trader1","asset":"USD","amount":100000000}',
        b'{"type":"deposit","seq":0,"ts":0,"account":"trader2","asset":"AAPLx","amount":1000000000}',
        b'{"type":"new_order","seq":0,"ts":0,"account":"trader2","symbol":"AAPLx/USD",'
        b'"side":"sell","qty":5000,"price":23000}',
        b'{"type":"new_order","seq":0,"ts":0,"account":"trader1","symbol":"AAPLx/USD",'
        b'"side":"buy","qty":2000,"price":23000}',
    ]
    writer = subprocess.run(
        [sys.executable, "-m", "node.writer", "--data", str(data)],
        cwd=ROOT,
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert writer.returncode == 0, writer.stderr
    assert [json.loads(x)["seq"] for x in writer.stdout.splitlines()] == [1, 2, 3, 4]
    before = sorted((p.name, p.stat().st_size) for p in data.rglob("*"))
    verify = run("-m", "tokex.cli", "verify", "--data", str(data))
    assert verify.returncode == 0, verify.stderr
    assert "journal: seq 1 to 4" in verify.stdout and "torn tail: none" in verify.stdout
    replay = run("-m", "tokex.cli", "replay", "--data", str(data), "--from-genesis")
    assert replay.returncode == 0, replay.stderr
    assert "TradeExecuted: 1" in replay.stdout
    hashes = {
        line.split()[-1]
        for out in (verify.stdout, replay.stdout)
        for line in out.splitlines()
        if line.startswith("state hash:")
    }
    assert len(hashes) == 1  # the same state both ways
    assert sorted((p.name, p.stat().st_size) for p in data.rglob("*")) == before  # read-only
    # A damaged record in the middle is refused with the file and offset named.
    segment = next((data / "journal").glob("*.seg"))
    raw = bytearray(segment.read_bytes())
    raw[40] ^= 0xFF
    segment.write_bytes(bytes(raw))
    broken = run("-m", "tokex.cli", "verify", "--data", str(data))
    assert broken.returncode == 1
    assert "cannot be recovered" in broken.stderr and "offset 16" in broken.stderr


def test_bench_recovery_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "recovery.json"
    proc = run(
        "-m", "bench", "recovery", "--commands", "3000", "--runs", "1", "--json", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["commands"] == 3000
    assert set(report["append_records_s"]) == {"off", "batch", "always"}
    assert report["replay_records_s"] > 0 and report["restore_s"] > 0
    assert report["snapshot_seq"] == 2700
    restarts = report["restarts"]["restarts"]  # 12 lifetimes of 250 records, a start before each
    assert [r["journal_records"] for r in restarts] == [250 * k for k in range(13)]
    assert all(r["restart_s"] > 0 for r in restarts)
