"""Choosing the build: a stale compiled core is refused, never run silently."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def _compiled_files() -> dict[str, Path]:
    if os.environ.get(build.PURE_ENV, "") not in ("", "0"):
        pytest.skip("TOKEX_PURE=1: the compiled modules are not the build under test")
    files = build.compiled_files()
    assert sorted(files) == sorted(build.MODULES), "the compiled core is not built (make core)"
    return files


def _restamp(path: Path, new_hash: str) -> None:
    """Rewrite the build hash a compiled module's file carries (same length, real bytes)."""
    data = path.read_bytes()
    old = build.built_hash(path)
    assert old is not None and len(new_hash) == len(old)
    marker = b"tokex-build-hash:"
    path.write_bytes(data.replace(marker + old.encode(), marker + new_hash.encode()))
    assert build.built_hash(path) == new_hash


def test_every_compiled_module_carries_the_hash_of_these_sources() -> None:
    files = _compiled_files()
    want = source_hash(ROOT)
    for name, path in files.items():
        assert build.built_hash(path) == want, name
    build.check_build(files, ROOT)
    build.check_build(files, None)


@pytest.mark.parametrize("module", build.MODULES)
def test_a_module_from_another_build_is_refused(tmp_path: Path, module: str) -> None:
    """One module's file from an older build beside fresh ones: StaleCore names that file."""
    files = {}
    for name, path in _compiled_files().items():
        files[name] = tmp_path / path.name
        shutil.copy(path, files[name])
    _restamp(files[module], "0" * 32)
    for root in (ROOT, None):  # a source checkout, and an installed build without sources
        with pytest.raises(StaleCore, match="part-finished") as e:
            build.check_build(files, root)
        assert str(files[module]) in str(e.value) and "0" * 32 in str(e.value)
        if root is not None:  # the fresh modules are not named as stale
            assert all(str(p) not in str(e.value) for n, p in files.items() if n != module)


def test_a_module_without_a_build_hash_is_refused(tmp_path: Path) -> None:
    files = {}
    for name, path in _compiled_files().items():
        files[name] = tmp_path / path.name
        shutil.copy(path, files[name])
    data = files["engine._core"].read_bytes()
    files["engine._core"].write_bytes(data.replace(b"tokex-build-hash:", b"tokex-build-hush:"))
    with pytest.raises(StaleCore, match="no build hash"):
        build.check_build(files, ROOT)


def test_importing_a_part_finished_build_fails_naming_the_stale_file(tmp_path: Path) -> None:
    """The real import path: a copy of the tree in which one compiled module is stale."""
    files = _compiled_files()
    for package in ("model", "risk", "engine", "node", "gateway"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    # An older build of node._journal beside a fresh build of the rest.
    stale = tmp_path / files["node._journal"].relative_to(ROOT)
    _restamp(stale, "f" * 32)
    env = {k: v for k, v in os.environ.items() if k != build.PURE_ENV}
    code = "import engine.engine"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "StaleCore" in proc.stderr and "part-finished" in proc.stderr
    assert str(stale) in proc.stderr and "f" * 32 in proc.stderr
    # The same copy with the module's hash put back imports the compiled build.
    _restamp(stale, source_hash(ROOT))
    ok = subprocess.run(
        [
            sys.executable,
            "-c",
            "import engine.engine; from model import build; "
            "print(build.COMPILED, build.compiled_files()['engine._core'])",
        ],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split()[0] == "True" and str(tmp_path) in ok.stdout
