"""`bench peers`: which rows it measures, the ratios at equal interpreter versions, the report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.cli import (
    TOKEX,
    TOKEX_RUNNER,
    _xstocks_commands,
    equal_python_ratios,
    peers_engines,
    xstocks_row,
)
from bench.peers.run import run_runner
from bench.report import _peers_section, _row_build


def _row(python: str, rate: int, kind: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "python": python,
        "version": "x",
        "throughput_cmd_s": rate,
        "throughput_range": [rate, rate],
        "latency_ns": {"p50": 1, "p99": 2, "p999": 3, "max": 4},
    }
    if kind is not None:
        row["build"] = {"kind": kind, "modules": []}
    return row


def test_the_rows_tokex_on_both_pythons_then_the_peers() -> None:
    if sys.version_info[:2] == (3, 12):
        assert peers_engines(True) == [TOKEX, "tokex-py3.12-pure", "matching-engine", "fastlob"]
        return
    assert peers_engines(True) == [
        TOKEX,
        "tokex-py3.12",
        "tokex-py3.12-pure",
        "matching-engine",
        "fastlob",
    ]
    assert peers_engines(True, with_pure312=False) == [
        TOKEX,
        "tokex-py3.12",
        "matching-engine",
        "fastlob",
    ]
    assert peers_engines(False) == [TOKEX, "matching-engine", "fastlob"]


def _table() -> dict[str, Any]:
    return {
        "tokex-py3.11": _row("3.11.7", 800, "compiled"),
        "tokex-py3.12": _row("3.12.1", 900, "compiled"),
        "tokex-py3.12-pure": _row("3.12.1", 300, "pure"),
        "matching-engine": _row("3.12.1", 600),
        "fastlob": _row("3.11.7", 100),
    }


def test_the_equal_interpreter_ratio_pairs_the_peer_with_tokex_on_its_python() -> None:
    got = equal_python_ratios(_table(), "tokex-py3.11")
    assert got == {
        "matching-engine": {
            "tokex": "tokex-py3.12",
            "build": "compiled",
            "ratio": 1.5,
            "pure": {"tokex": "tokex-py3.12-pure", "build": "pure", "ratio": 0.5},
        }
    }
    # Instructions: how many times fewer tokex runs than the peer.
    counts = {n: {"python": r["python"], "n": r["throughput_cmd_s"]} for n, r in _table().items()}
    assert equal_python_ratios(counts, "tokex-py3.11", "n", fewer=True)["matching-engine"][
        "ratio"
    ] == round(600 / 900, 2)
    # No tokex row on the peer's Python: no equal-interpreter ratio.
    table = {k: v for k, v in _table().items() if not k.startswith("tokex-py3.12")}
    assert equal_python_ratios(table, "tokex-py3.11") == {}


def test_the_report_names_each_rows_build_and_both_ratios() -> None:
    table = _table()
    peers = {
        "commands": 1000,
        "runs": 2,
        "python": "3.11.7",
        "engines": table,
        "tokex_ratio": {
            "matching-engine": {"tokex": "tokex-py3.11", "ratio": 1.33},
            "fastlob": {"tokex": "tokex-py3.11", "ratio": 8.0},
        },
        "equal_python_ratio": equal_python_ratios(table, "tokex-py3.11"),
        "instructions": {},
    }
    text = "\n".join(_peers_section(peers))
    assert "| tokex-py3.12 | compiled | 3.12.1 |" in text
    assert "| tokex-py3.12-pure | pure | 3.12.1 |" in text
    assert "| matching-engine | - | 3.12.1 |" in text
    assert "tokex-py3.11 (compiled) / matching-engine (Python 3.11.7 and 3.12.1): **1.33x**" in text
    assert "tokex-py3.12 (compiled) / matching-engine (Python 3.12.1 both): **1.5x**" in text
    assert "tokex-py3.12-pure (pure): 0.5x" in text


def test_rows_of_runs_that_did_not_record_their_build() -> None:
    """Older peers.json: tokex on the harness's Python ran the run's build, on 3.12 pure."""
    table = {k: {kk: vv for kk, vv in v.items() if kk != "build"} for k, v in _table().items()}
    del table["tokex-py3.12-pure"]
    peers = {
        "commands": 1000,
        "runs": 2,
        "python": "3.11.7",
        "meta": {"python": "3.11.7", "build": {"kind": "compiled"}},
        "engines": table,
        "tokex_ratio": {},
    }
    assert _row_build("tokex-py3.11", table["tokex-py3.11"], peers) == "compiled"
    assert _row_build("tokex-py3.12", table["tokex-py3.12"], peers) == "pure"
    assert _row_build("fastlob", table["fastlob"], peers) == "-"


def test_the_xstocks_row_against_each_peer_s_peer_flow() -> None:
    row = xstocks_row(
        5_000,
        [500.0, 400.0, 600.0],
        {"p99": 9},
        {"matching-engine": [600.0, 500.0, 500.0], "fastlob": [100.0, 100.0, 100.0]},
    )
    assert row["throughput_cmd_s"] == 500 and row["throughput_range"] == [400, 600]
    me = row["against_peer_flow"]["matching-engine"]
    assert me["ratio"] == 1.0  # the medians': 500 / 500
    assert me["round_ratios"] == [0.83, 0.8, 1.2]  # each round's own pair
    assert me["round_ratio_median"] == 0.83
    assert row["against_peer_flow"]["fastlob"]["ratio"] == 5.0
    with pytest.raises(ValueError, match="one xstocks rate a round"):
        xstocks_row(5_000, [1.0, 2.0], None, {"fastlob": [1.0]})


@pytest.mark.parametrize(("text", "why"), [("x", "not a whole number"), ("999", "at least 1,000")])
def test_a_bad_xstocks_size_is_refused_naming_the_rule(text: str, why: str) -> None:
    assert _xstocks_commands("0") == 0 and _xstocks_commands("2000") == 2_000
    with pytest.raises(argparse.ArgumentTypeError, match=why):
        _xstocks_commands(text)


def test_the_tokex_runner_times_xstocks_from_a_size_and_seed(tmp_path: Path) -> None:
    # The runner generates the workload itself, in its own process, and
    # reports as for peer-flow: one rate a run and the latency pass.
    doc = tmp_path / "xstocks.json"
    doc.write_text(json.dumps({"workload": "xstocks", "commands": 2_000, "seed": 3}))
    rep = run_runner(TOKEX, Path(sys.executable), TOKEX_RUNNER, doc, 2, latency=True)
    assert rep["workload"] == "xstocks" and rep["commands"] == 2_000
    rates = rep["throughput_cmd_s"]
    assert isinstance(rates, list) and len(rates) == 2 and all(r > 0 for r in rates)
    assert set(rep["latency_ns"]) >= {"p50", "p99"}  # type: ignore[arg-type]
    assert rep["build"]["kind"] in ("compiled", "pure")  # type: ignore[index]
