"""Choosing the build: a stale compiled core is refused, never run silently."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from model import build
from model.build import SOURCES, StaleCore, check_fresh, source_hash
from model.order import Order

ROOT = Path(__file__).resolve().parents[3]


def _copy_sources(to: Path) -> None:
    for name in SOURCES:
        (to / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, to / name)


def test_the_hash_of_unchanged_sources_passes(tmp_path: Path) -> None:
    _copy_sources(tmp_path)
    check_fresh(source_hash(ROOT), tmp_path)


@pytest.mark.parametrize("edited", ["engine/engine.py", "risk/_fast.pyx", "model/order.py"])
def test_an_edited_source_makes_the_core_stale(tmp_path: Path, edited: str) -> None:
    _copy_sources(tmp_path)
    built = source_hash(tmp_path)
    with (tmp_path / edited).open("a", encoding="utf-8") as f:
        f.write("\n# edited after the build\n")
    with pytest.raises(StaleCore, match="Rebuild it") as e:
        check_fresh(built, tmp_path)
    assert edited in str(e.value) and "TOKEX_PURE=1" in str(e.value)


def test_the_build_in_use_is_the_one_asked_for() -> None:
    """TOKEX_PURE=1 gives the pure record; otherwise the compiled core, built from these sources."""
    if os.environ.get(build.PURE_ENV, "") not in ("", "0"):
        assert not build.COMPILED
        assert Order.__module__ == "model.order"
        return
    assert build.COMPILED, "the compiled core is not built (make core needs a C compiler)"
    assert Order.__module__ == "model._order"
    assert source_hash(ROOT) == build.compiled_order().BUILD_HASH
