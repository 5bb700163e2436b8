"""``python -m bench all`` end to end at smoke sizes: real stages, JSON, plots, README."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.report import PLOTS, expected_plots, load_results, readme_section, render

ROOT = Path(__file__).resolve().parents[3]


def test_the_suite_writes_json_with_metadata_plots_and_a_readme_that_agree(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results"
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- bench:begin -->\nold\n<!-- bench:end -->\n\ntail\n")
    command = [sys.executable, "-m", "bench", "all", "--smoke", "--plain"]
    command += ["--only", "engine", "--only", "recovery", "--results", str(results)]
    command += ["--readme", str(readme)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # Progress: every unit accounted for, and what is left shown as it goes.
    assert "[bench 8/8 units" in done.stderr, done.stderr[-2000:]
    names = sorted(p.name for p in results.glob("*.json"))
    assert names == [
        "engine-ecore-mix.json",
        "engine-peer-flow.json",
        "engine-xstocks.json",
        "recovery.json",
    ]
    loaded = load_results(results)
    run_ids = {r["meta"]["run_id"] for r in loaded.values()}
    assert len(run_ids) == 1
    for rep in loaded.values():
        meta = rep["meta"]
        assert meta["python"] and meta["machine"] and meta["commit"]["sha"]
        assert meta["build"]["kind"] in ("pure", "compiled") and meta["fsync"] and meta["config"]
        assert meta["load"]["wall_s"] >= 0
    assert loaded["engine-peer-flow"]["meta"]["config"]["commands"] == 2_000
    assert loaded["recovery"]["restarts"]["lifetimes"] == 2
    # The plots the JSON allows were drawn as PNG files.
    plots = expected_plots(loaded)
    assert plots == ["throughput.png", "latency-ccdf.png", "restart-vs-journal.png"]
    for name in plots:
        assert (results / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(PLOTS) >= set(plots)
    # The README section is exactly what the JSON renders to, the rest untouched.
    assert readme_section(readme) == render(loaded)
    text = readme.read_text()
    assert text.startswith("# x\n\n<!-- bench:begin -->\n") and text.endswith("\n\ntail\n")
    rep = loaded["engine-peer-flow"]
    assert f"{rep['throughput_cmd_s']:,}" in text
    assert next(iter(run_ids)) in text
    # Rendering follows the JSON: another figure, another table.
    rep["throughput_cmd_s"] += 1
    assert render(loaded) != readme_section(readme)
    json.dumps(loaded)  # still plain JSON
