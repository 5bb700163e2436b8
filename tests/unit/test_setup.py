"""setup.py: TOKEX_CORE_REQUIRED=1 makes a core that cannot be built a failed build."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model.build import SOURCES

ROOT = Path(__file__).resolve().parents[2]


def _copy(to: Path) -> None:
    """setup.py and the compiled modules' packages, without any build of them."""
    shutil.copy(ROOT / "setup.py", to / "setup.py")
    skip = shutil.ignore_patterns("__pycache__", "*.so", "*.c", "_build_hash.h")
    for package in sorted({name.split("/")[0] for name in SOURCES}):
        shutil.copytree(ROOT / package, to / package, ignore=skip)


def _setup(where: Path, **env: str) -> subprocess.CompletedProcess[str]:
    drop = ("TOKEX_PURE", "TOKEX_CORE_REQUIRED", "PYTHONPATH")
    base = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=where,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    pytest.importorskip("Cython")
    _copy(tmp_path)
    return tmp_path


def test_a_module_that_fails_to_compile_fails_the_build_when_required(tree: Path) -> None:
    # A C compiler that fails every module: `false`.
    proc = _setup(tree, CC="false", TOKEX_CORE_REQUIRED="1")
    assert proc.returncode != 0
    assert "CoreNotBuilt" in proc.stderr, proc.stderr[-3000:]
    assert "model._order was not built" in proc.stderr
    assert not list(tree.rglob("*.so"))


def test_without_it_the_same_failure_leaves_the_pure_build(tree: Path) -> None:
    proc = _setup(tree, CC="false")
    assert proc.returncode == 0, proc.stderr
    assert "engine._core was not built" in proc.stdout and "the pure build runs" in proc.stdout
    assert not list(tree.rglob("*.so"))


def test_the_pure_build_cannot_be_asked_for_when_the_core_is_required(tree: Path) -> None:
    proc = _setup(tree, TOKEX_PURE="1", TOKEX_CORE_REQUIRED="1")
    assert proc.returncode != 0
    assert "TOKEX_PURE and TOKEX_CORE_REQUIRED are both set" in proc.stderr
