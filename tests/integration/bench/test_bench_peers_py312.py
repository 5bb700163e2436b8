"""tokex's compiled core on Python 3.12, built in the peers' venv, and `bench peers`' rows.

Needs Python 3.12 (pyenv or PATH), a C compiler with Python's and zlib's
headers, and the package index for the venv's pinned packages: the same as
`python -m bench peers`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from bench.peers.env import core_build, ensure_core, ensure_env, runner_env
from bench.peers.run import check_build, run_runner
from bench.workloads import WORKLOADS
from model.build import MODULES, source_hash

ROOT = Path(__file__).resolve().parents[3]


def _copy_checkout(to: Path) -> None:
    """The packages and setup.py, without any compiled module, venv or result."""
    skip = shutil.ignore_patterns(
        "__pycache__", ".peers", "results", "*.so", "*.c", "_build_hash.h", "node_modules"
    )
    shutil.copy(ROOT / "setup.py", to / "setup.py")
    for package in ("model", "risk", "engine", "node", "bench", "gateway", "settlement"):
        shutil.copytree(ROOT / package, to / package, ignore=skip)
    # The builds' comparison flow (tests/property/build_flow.py) and what it imports.
    for name in ("__init__.py", "builders.py", "property/__init__.py", "property/build_flow.py"):
        (to / "tests" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "tests" / name, to / "tests" / name)


def test_the_312_core_is_built_in_the_peers_venv_and_runs_peer_flow(tmp_path: Path) -> None:
    python = ensure_env("tokex-py3.12")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    _copy_checkout(checkout)
    assert core_build(python, checkout)["kind"] == "pure"  # nothing built there yet

    built = ensure_core(python, checkout)
    assert built == {"kind": "compiled", "modules": sorted(MODULES)}
    for name in MODULES:
        *package, module = name.split(".")
        (so,) = checkout.joinpath(*package).glob(f"{module}.cpython-312-*.so")
        assert f"tokex-build-hash:{source_hash(ROOT)}".encode() in so.read_bytes()
    # Built once: a second call finds it fresh and builds nothing.
    stamps = {p: p.stat().st_mtime_ns for p in checkout.rglob("*.cpython-312-*.so")}
    assert ensure_core(python, checkout)["kind"] == "compiled"
    assert {p: p.stat().st_mtime_ns for p in checkout.rglob("*.cpython-312-*.so")} == stamps

    ops = tmp_path / "ops.json"
    ops.write_text(json.dumps({"workload": "peer-flow", "ops": WORKLOADS["peer-flow"](2000, 3)}))
    runner = checkout / "bench" / "peers" / "runner_tokex.py"
    reports = {}
    for row in ("tokex-py3.12", "tokex-py3.12-pure"):
        rep = run_runner(
            row, python, runner, ops, 1, latency=False, env=runner_env(row, checkout), timeout=300
        )
        check_build(row, rep)
        assert str(rep["python"]).startswith("3.12.")
        reports[row] = rep
    compiled, pure = reports["tokex-py3.12"], reports["tokex-py3.12-pure"]
    modules = compiled["build"]["modules"]  # type: ignore[index]
    assert compiled["build"]["kind"] == "compiled"  # type: ignore[index]
    assert sorted(m.split(".")[0] for m in modules) == sorted(m.split(".")[-1] for m in MODULES)
    assert all(".cpython-312-" in m for m in modules)
    assert pure["build"] == {"kind": "pure", "modules": []}
    # The same commands end in the same book and trades on both builds.
    assert compiled["trades"] == pure["trades"] > 0
    assert compiled["resting_orders_end"] == pure["resting_orders_end"] > 0

    # And on Python 3.12 the two builds give the same events and state hash on
    # a random flow of every order type (as tests/property/test_builds.py
    # holds on the harness's Python), with costs past 64 bits too.
    for mode in ("", "wide"):
        docs = {}
        for row in ("tokex-py3.12", "tokex-py3.12-pure"):
            proc = subprocess.run(
                [str(python), "-m", "tests.property.build_flow", "7", "3000", mode],
                cwd=checkout,
                env=runner_env(row, checkout),
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
            docs[row] = json.loads(proc.stdout)
        compiled_doc, pure_doc = docs["tokex-py3.12"], docs["tokex-py3.12-pure"]
        assert (compiled_doc.pop("build"), pure_doc.pop("build")) == ("compiled", "pure")
        assert compiled_doc["events"] and compiled_doc == pure_doc, mode


def test_bench_peers_reports_both_312_rows_and_the_equal_interpreter_ratio(
    tmp_path: Path,
) -> None:
    out = tmp_path / "peers.json"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "bench", "peers", "--commands", "1000", "--runs", "1"),
            *("--instructions", "0", "--json", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    engines = report["engines"]
    assert list(engines)[1:] == ["tokex-py3.12", "tokex-py3.12-pure", "matching-engine", "fastlob"]
    assert engines["tokex-py3.12"]["build"]["kind"] == "compiled"
    assert engines["tokex-py3.12-pure"]["build"]["kind"] == "pure"
    same = report["equal_python_ratio"]["matching-engine"]
    assert same["tokex"] == "tokex-py3.12" and same["pure"]["tokex"] == "tokex-py3.12-pure"
    assert report["tokex_ratio"]["matching-engine"]["tokex"] == next(iter(engines))
    assert "same Python: tokex-py3.12 is" in proc.stdout
