"""``python -m bench.nodeload``: the node measured through its worker channel (real
``tokex serve --workers 1``, the bench config, a real Unix socket)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.nodeload import main, run


def test_the_node_answers_every_order_and_its_cpu_per_order_is_reported() -> None:
    result = run(seconds=1.5, warmup=0.5, inflight=200)
    assert result["failed"] == 0 and result["errors"] == {}
    assert result["orders_per_s"] > 0
    # The node sequenced every order: its process and its loop's thread spent CPU on them.
    assert result["node_us_per_order"] > 0 and result["node_loop_us_per_order"] > 0
    assert result["node_cpu_pct"] > 0 and len(result["load_average"]) == 3


def test_the_command_line_writes_its_rounds(tmp_path: Path) -> None:
    out = tmp_path / "node.json"
    assert main(["--seconds", "1", "--warmup", "0.5", "--inflight", "100", "--json", str(out)]) == 0
    [only] = json.loads(out.read_text(encoding="utf-8"))["rounds"]
    assert only["failed"] == 0 and only["orders_per_s"] > 0
