"""The benchmark suite's plumbing: stages, metadata, progress, the micro-benchmark comparison."""

from __future__ import annotations

import importlib.machinery
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench import suite
from bench.meta import Load, build, commit, new_run_id, run_meta
from bench.microcompare import compare
from bench.suite import Context, Plan, Progress, Stage, register, run_suite

META_KEYS = {
    "run_id",
    "stage",
    "started_utc",
    "machine",
    "python",
    "implementation",
    "build",
    "commit",
    "fsync",
    "config",
    "load",
}


@pytest.fixture
def stages() -> Iterator[list[Stage]]:
    """The registered stages, restored after the test."""
    from bench import stages as _  # noqa: F401  (the built-in stages)

    saved = list(suite.STAGES)
    yield suite.STAGES
    suite.STAGES[:] = saved


def test_the_built_in_stages_are_the_documented_set_in_order(stages: list[Stage]) -> None:
    names = [s.name for s in stages]
    assert names[:6] == ["engine", "peers", "recovery", "ws", "fix", "settlement"]
    for plan in (Plan(), Plan.full(), Plan.smoke()):
        assert all(s.units(plan) >= 1 for s in stages)
    # Several runs of every figure in make bench's own plan.
    assert Plan().runs >= 3 and Plan().e2e_runs >= 3


def test_a_registered_stage_runs_and_its_result_carries_the_metadata(
    stages: list[Stage], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(ctx: Context) -> None:
        load = Load.start()
        for i in range(3):
            ctx.progress.advance(f"step {i}")
        ctx.write(
            "extra",
            {"figure": 42},
            stage="extra",
            fsync="off",
            config={"size": ctx.plan.commands},
            load=load,
            started=datetime.now(UTC),
        )

    register(Stage("extra", "a stage added by another module", lambda p: 3, run))
    summary = run_suite(Plan(commands=7), only=["extra"], results=tmp_path, plain=True)
    assert list(summary["stages"]) == ["extra"]
    assert summary["written"] == ["extra.json"]
    report = json.loads((tmp_path / "extra.json").read_text())
    assert report["figure"] == 42
    meta = report["meta"]
    assert set(meta) == META_KEYS
    assert meta["run_id"] == summary["run_id"] and meta["stage"] == "extra"
    assert meta["fsync"] == "off" and meta["config"] == {"size": 7}
    assert meta["build"]["kind"] in ("pure", "compiled")
    assert set(meta["load"]) >= {"machine_busy_cores", "bench_cores", "other_cores", "wall_s"}
    progress = capsys.readouterr().err
    assert "[bench 3/3 units" in progress and "another module): step 2" in progress


def test_a_stage_that_cannot_run_here_is_skipped_and_says_why(
    stages: list[Stage], tmp_path: Path
) -> None:
    def run(ctx: Context) -> None:
        raise AssertionError("must not run")

    register(Stage("needy", "needs a tool", lambda p: 2, run, needs=lambda: "no such tool"))
    summary = run_suite(Plan(), only=["needy"], results=tmp_path, plain=True)
    assert summary["stages"] == {"needy": {"skipped": "no such tool"}}
    assert list(tmp_path.iterdir()) == []


def test_register_replaces_a_stage_of_the_same_name(stages: list[Stage]) -> None:
    before = len(stages)
    register(Stage("x-stage", "first", lambda p: 1, lambda c: None))
    register(Stage("x-stage", "second", lambda p: 1, lambda c: None))
    assert len(stages) == before + 1
    assert [s.what for s in stages if s.name == "x-stage"] == ["second"]


def test_an_unknown_stage_is_refused_with_the_known_ones(stages: list[Stage]) -> None:
    with pytest.raises(SystemExit, match="stage 'nope': unknown; stages: engine, peers"):
        run_suite(Plan(), only=["nope"])


def test_progress_counts_units_and_never_passes_the_total(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Progress(2, plain=True) as p:
        p.stage("s")
        p.advance("a")
        p.advance("b", units=5)
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("[bench 2/2 units") and err[-1].endswith("s: b")


def test_the_build_is_compiled_when_an_extension_module_stands_in_the_packages(
    tmp_path: Path,
) -> None:
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "book.py").write_text("")
    assert build(tmp_path, ["engine"], env={}) == {"kind": "pure", "compiled": []}
    # Another interpreter's module (the 3.12 core beside the 3.11 one) is not this build.
    (tmp_path / "engine" / "book.cpython-399-x86_64-linux-gnu.so").write_bytes(b"")
    assert build(tmp_path, ["engine"], env={}) == {"kind": "pure", "compiled": []}
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (tmp_path / "engine" / f"book{suffix}").write_bytes(b"")
    assert build(tmp_path, ["engine"], env={}) == {
        "kind": "compiled",
        "compiled": ["engine.book"],
    }
    # TOKEX_PURE=1 runs the pure build whatever is built, and the result says so
    assert build(tmp_path, ["engine"], env={"TOKEX_PURE": "1"}) == {
        "kind": "pure",
        "compiled": [],
        "forced_pure": True,
    }
    assert build(tmp_path, ["engine"], env={"TOKEX_PURE": "0"})["kind"] == "compiled"


def test_the_commit_and_whether_the_tree_had_changes(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-qm", "a")
    sha = git("rev-parse", "HEAD")
    assert commit(tmp_path) == {"sha": sha, "dirty": False}
    # The run's own output does not make the tree dirty; a code change does.
    (tmp_path / "bench" / "results").mkdir(parents=True)
    (tmp_path / "bench" / "results" / "x.json").write_text("{}")
    assert commit(tmp_path) == {"sha": sha, "dirty": False}
    (tmp_path / "a.py").write_text("x = 2\n")
    assert commit(tmp_path) == {"sha": sha, "dirty": True}
    assert commit(tmp_path / "not-a-repo") == {"sha": "unknown", "dirty": None}


def test_load_counts_the_bench_own_cpu_apart_from_other_work() -> None:
    load = Load.start()
    end = time.process_time() + 0.3
    while time.process_time() < end:  # this process keeps a core busy
        pass
    rep = load.stop().report()
    assert rep["bench_cpu_s"] >= 0.3
    assert rep["machine_busy_cores"] is not None and rep["machine_busy_cores"] >= 0
    other = max(0.0, rep["machine_busy_cores"] - rep["bench_cores"])
    assert abs(rep["other_cores"] - other) <= 0.02


def test_run_meta_names_everything_a_result_must_say() -> None:
    meta = run_meta(run_id=new_run_id(), stage="s", fsync="batch", config={"a": 1})
    assert set(meta) == META_KEYS
    assert len(meta["run_id"]) == len("20261205T031500Z") and meta["run_id"].endswith("Z")


def _micro(times: dict[str, float], cpu: str = "CPU A") -> dict[str, Any]:
    return {
        "machine_info": {"cpu": {"brand_raw": cpu}},
        "commit_info": {"id": "abcdef1234567"},
        "datetime": "2026-12-05T00:00:00",
        "benchmarks": [
            {"name": n, "stats": {"min": t, "median": t * 1.1}} for n, t in times.items()
        ],
    }


def test_micro_compare_names_a_hot_function_that_got_slower() -> None:
    base = _micro({"test_rest": 4e-6, "test_cancel": 1e-6, "test_old": 1e-6})
    now = _micro({"test_rest": 5.5e-6, "test_cancel": 1.1e-6, "test_new": 2e-6})
    lines, slower = compare(now, base, 0.25)
    assert slower == ["test_rest"]
    text = "\n".join(lines)
    assert "test_rest got slower: 4.00 us -> 5.50 us (+38%; at most +25% allowed)" in text
    assert "test_new" in text and "(new)" in text
    assert "test_old" in text and "(gone from this run)" in text
    lines, slower = compare(now, base, 0.5)
    assert slower == []


def test_micro_compare_warns_when_the_baseline_came_from_another_cpu() -> None:
    lines, _ = compare(_micro({"t": 1e-6}, "CPU B"), _micro({"t": 1e-6}, "CPU A"))
    assert any("baseline was taken on another CPU (CPU A, now CPU B)" in line for line in lines)


def test_the_saved_micro_baseline_covers_every_micro_benchmark() -> None:
    root = Path(__file__).resolve().parents[3]
    baseline = json.loads((root / "bench" / "micro" / "baseline.json").read_text())
    names = {b["name"] for b in baseline["benchmarks"]}
    source = (root / "bench" / "micro" / "test_hot_paths.py").read_text()
    defined = {
        line.split("(")[0][4:] for line in source.splitlines() if line.startswith("def test_")
    }
    assert names == defined
