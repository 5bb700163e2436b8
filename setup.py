"""Builds the compiled core (Cython) when a C compiler and Python's headers are there.

node._journal also needs zlib's header and library (it calls zlib's crc32).

Everything else is in pyproject.toml. Without a compiler (or with
``TOKEX_PURE=1`` at install) tokex installs as the pure-Python build; see
model/build.py for how the build in use is chosen, and docs/MATCHING.md
("The compiled core").
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
MODULES = ("model._order", "risk._fast", "engine._core", "node._journal")


def _source_hash() -> str:
    spec = importlib.util.spec_from_file_location("_tokex_build", ROOT / "model" / "build.py")
    assert spec is not None and spec.loader is not None
    # model/build.py hashes SOURCES; load it by path (the package is not importable yet).
    os.environ["TOKEX_PURE"] = "1"  # loading it must not try to import a compiled core
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.source_hash(ROOT))


class OptionalBuildExt(build_ext):
    """Compile the core; on any failure say why and install the pure build."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # no compiler, no headers: the pure build runs
            print(f"tokex: the compiled core was not built ({e}); the pure build runs")

    def build_extension(self, ext):  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as e:
            print(f"tokex: {ext.name} was not built ({e}); the pure build runs")


def _extensions() -> list[object]:
    if os.environ.get("TOKEX_PURE", "") not in ("", "0"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("tokex: Cython is missing; the pure build runs", file=sys.stderr)
        return []
    (ROOT / "model" / "_build_hash.pxi").write_text(
        f'BUILD_HASH = "{_source_hash()}"\n', encoding="utf-8"
    )
    paths = [f"{m.replace('.', '/')}.pyx" for m in MODULES]
    extensions = cythonize(
        paths,
        compiler_directives={"language_level": "3"},
        quiet=True,
        force=True,
    )
    for ext in extensions:
        ext.include_dirs.append(str(ROOT / "model"))  # model/_slots.h
        if ext.name == "node._journal":
            ext.libraries.append("z")  # zlib's crc32, the one zlib.crc32 calls
    return list(extensions)


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
