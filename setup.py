"""Builds the compiled core (Cython) when a C compiler and Python's headers are there.

node._journal also needs zlib's header and library (it calls zlib's crc32).

Everything else is in pyproject.toml. Without a compiler (or with
``TOKEX_PURE=1`` at install) tokex installs as the pure-Python build; see
model/build.py for how the build in use is chosen, and docs/MATCHING.md
("The compiled core").

``TOKEX_CORE_REQUIRED=1`` turns every reason the core would not be built
(Cython missing, ``TOKEX_PURE`` set, a module that fails to compile) into a
failure of the build, so that CI and the benchmarks' Python 3.12 venv
(bench/peers/env.py) cannot fall back to the pure build without saying so.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
MODULES = ("model._order", "risk._fast", "engine._core", "node._journal", "gateway.fix._codec")
REQUIRED_ENV = "TOKEX_CORE_REQUIRED"


def _required() -> bool:
    return os.environ.get(REQUIRED_ENV, "") not in ("", "0")


class CoreNotBuilt(RuntimeError):
    """With TOKEX_CORE_REQUIRED=1: the compiled core could not be built."""


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
        except CoreNotBuilt:
            raise
        except Exception as e:  # no compiler, no headers: the pure build runs
            if _required():
                raise CoreNotBuilt(f"tokex: the compiled core was not built: {e}") from e
            print(f"tokex: the compiled core was not built ({e}); the pure build runs")

    def build_extension(self, ext):  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as e:
            if _required():
                raise CoreNotBuilt(f"tokex: {ext.name} was not built: {e}") from e
            print(f"tokex: {ext.name} was not built ({e}); the pure build runs")


def _extensions() -> list[object]:
    if os.environ.get("TOKEX_PURE", "") not in ("", "0"):
        if _required():
            raise CoreNotBuilt(f"tokex: TOKEX_PURE and {REQUIRED_ENV} are both set")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError as e:
        if _required():
            raise CoreNotBuilt("tokex: Cython is missing; the core cannot be built") from e
        print("tokex: Cython is missing; the pure build runs", file=sys.stderr)
        return []
    # Every module carries this string in its binary (model/_build_hash.pxd);
    # model.build reads it from each module's file before importing any.
    (ROOT / "model" / "_build_hash.h").write_text(
        "/* Written by setup.py: model.build.source_hash() of the sources built. */\n"
        f'static const char tokex_build_hash[] = "tokex-build-hash:{_source_hash()}";\n',
        encoding="utf-8",
    )
    # Named explicitly: gateway/fix is a namespace package (no __init__.py), from
    # which cythonize could not tell a module's full name.
    modules = [Extension(m, [f"{m.replace('.', '/')}.pyx"]) for m in MODULES]
    extensions = cythonize(
        modules,
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
