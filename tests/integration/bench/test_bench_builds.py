"""``python -m bench builds`` and ``memory``: both builds measured, each in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _bench(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_builds_reports_both_builds_interleaved(tmp_path: Path) -> None:
    out = tmp_path / "builds.json"
    text = _bench(
        "builds",
        "--workload",
        "peer-flow",
        "--commands",
        "3000",
        "--rounds",
        "2",
        "--json",
        str(out),
    )
    report = json.loads(out.read_text(encoding="utf-8"))
    (row,) = report["rows"]
    assert row["workload"] == "peer-flow"
    for build in ("compiled", "pure"):
        lo, hi = row[build]["throughput_range"]
        assert 0 < lo <= row[build]["throughput_cmd_s"] <= hi
        assert row[build]["p99_ns"] > 0
    assert row["ratio"] == round(
        row["compiled"]["throughput_cmd_s"] / row["pure"]["throughput_cmd_s"], 2
    )
    assert len(report["load_before"]) == 3
    assert "compiled/pure" in text


def test_memory_counts_what_resting_orders_cost(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    _bench("memory", "--orders", "20000", "--json", str(out))
    reports = json.loads(out.read_text(encoding="utf-8"))["memory"]
    assert [r["build"] for r in reports] == ["compiled", "pure"]
    for r in reports:
        assert r["resting_orders"] == 20_000
        assert r["rss_after"] > r["rss_before"]
        assert r["bytes_per_order"] == round((r["rss_after"] - r["rss_before"]) / 20_000)
