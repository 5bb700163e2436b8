"""``python -m bench replay``: fresh-process replays of the recovery journal, builds interleaved."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.replay import replay_report


def test_both_builds_replay_the_journal_to_one_state() -> None:
    report = replay_report(3_000, 2, 1, [sys.executable], pure=True)
    assert [(r["build"], r["python"]) for r in report["results"]] == [
        ("compiled", sys.executable),
        ("pure", sys.executable),
    ]
    assert len(report["runs"]) == 4
    # Rounds alternate the order, so drifting load hits both builds alike.
    assert [r["build"] for r in report["runs"]] == ["compiled", "pure", "pure", "compiled"]
    assert {r["records"] for r in report["runs"]} == {3_000}
    assert len(report["state_hash"]) == 64
    for result in report["results"]:
        assert 0 < result["replay"]["min"] <= result["replay"]["median"] <= result["replay"]["max"]


def test_the_command_writes_its_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "replay.json"
    main(["replay", "--commands", "2500", "--rounds", "1", "--json", str(out)])
    assert "records/s" in capsys.readouterr().out
    assert json.loads(out.read_text())["commands"] == 2_500


def test_an_interpreter_that_is_not_there_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "python")
    with pytest.raises(SystemExit, match="no such interpreter"):
        main(["replay", "--commands", "2500", "--python", missing])


def test_a_replay_that_fails_says_which(tmp_path: Path) -> None:
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho nope >&2\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(RuntimeError, match="the replay failed:\nnope"):
        replay_report(2_100, 1, 1, [str(broken)], pure=False)
