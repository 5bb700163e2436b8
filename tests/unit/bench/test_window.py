"""``python -m bench window``: callgrind's counts for the commands after a warm-up.

The child runs the warm-up and then the window through the deque callgrind
collects in; it must leave the engine exactly where running every command
one by one leaves it. Under valgrind (which this machine has: the stage is
the README's source for its "after a warm-up" figures), both builds are
counted, end in the same state, and each count is of the window alone
(thousands of instructions a command, not the millions the interpreter's
start and the warm-up would add).
"""

from __future__ import annotations

import argparse
import shutil

import pytest

from bench.window import window_child, window_report
from bench.xstocks import xstocks


def _args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = dict(
        workload="peer-flow",
        commands=300,
        warm=200,
        until=None,
        seed=3,
        cache=False,
        d1="",
        ll="",
    )
    base.update(kw)
    return argparse.Namespace(**base)


def test_the_child_leaves_the_engine_as_running_every_command_does() -> None:
    out = window_child("xstocks", 1_500, 1_000, 2)
    cmds, make = xstocks(1_500, 2)
    engine = make()
    for c in cmds:
        engine.process(c)
    assert out["window"] == 500
    assert out["state_hash"] == engine.state_hash()


def test_until_ends_the_window_early_and_leaves_the_engine_there() -> None:
    out = window_child("xstocks", 1_500, 600, 2, until=900)
    cmds, make = xstocks(1_500, 2)
    engine = make()
    for c in cmds[:900]:
        engine.process(c)
    assert out["window"] == 300
    assert out["state_hash"] == engine.state_hash()


@pytest.mark.parametrize("until", [200, 150, 301])
def test_an_until_outside_the_warm_up_and_the_commands_is_refused(until: int) -> None:
    with pytest.raises(
        SystemExit, match=f"--until {until}: must be above --warm \\(200\\) and at most --commands"
    ):
        window_report(_args(until=until))


def test_a_warm_up_not_below_the_commands_is_refused() -> None:
    with pytest.raises(SystemExit, match="--warm 300: must be at least 0 and below --commands"):
        window_report(_args(commands=300, warm=300))


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind (Debian valgrind)")
def test_both_builds_are_counted_on_the_window_alone() -> None:
    report = window_report(_args(cache=True, d1="49152,12,64", ll="1048576,16,64", until=290))
    assert report["window"] == 90
    assert report["until"] == 290
    assert [b["build"] for b in report["builds"]] == ["compiled", "pure"]
    for b in report["builds"]:
        # A peer-flow command is thousands of instructions in either build;
        # the interpreter's start, the imports, the workload's generation or
        # the warm-up in the count would make it millions a command.
        assert 1_000 < b["instructions_per_command"] < 100_000
        assert b["instructions"] == pytest.approx(90 * b["instructions_per_command"], abs=50)
        assert b["ll_read_misses_per_command"] > 0
        assert b["d1_read_misses_per_command"] >= b["ll_read_misses_per_command"]
    compiled, pure = report["builds"]
    assert compiled["instructions_per_command"] < pure["instructions_per_command"]
