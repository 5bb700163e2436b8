"""Which build of the core runs: the compiled one, or the pure-Python reference.

``pip install`` (``make install``) compiles the core when a C compiler and
Python's headers are there (setup.py): model/_order.pyx, risk/_fast.pyx,
engine/_core.pyx and node/_journal.pyx, typed Cython versions of the hot
paths (the last one the journal reader's loop over good records). The pure-Python
modules stay the reference and run everything else; docs/MATCHING.md ("The
compiled core") says which functions each build runs.

Chosen once, at import:

* ``TOKEX_PURE=1`` in the environment: the pure build, compiled or not.
* No compiled modules (no compiler at install, or not built): the pure build.
* Compiled modules built from other sources than the ones on disk: an
  ImportError (:class:`StaleCore`) naming the files, never a silent run of
  stale code. The build records a hash of :data:`SOURCES` (the compiled
  modules and every Python file whose functions they stand in for) in every
  module it compiles (:data:`MODULES`): the C string
  ``tokex-build-hash:<hash>`` of model/_build_hash.h, which setup.py writes.
  Each module's file is checked before any of them is imported, so a
  part-finished build (one module rebuilt, another left from an older build)
  is refused too, naming the files that do not carry the sources' hash.
  Editing any source asks for a rebuild (``make core``, or ``pip install -e
  .``) or ``TOKEX_PURE=1``.

Reading the environment and hashing source files happens here, once, at
import: the engine itself stays pure (no I/O while it runs).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

__all__ = [
    "COMPILED",
    "MODULES",
    "PURE_ENV",
    "SOURCES",
    "StaleCore",
    "built_hash",
    "check_build",
    "check_fresh",
    "compiled_files",
    "compiled_order",
    "source_hash",
]

PURE_ENV = "TOKEX_PURE"

MODULES = ("model._order", "risk._fast", "engine._core", "node._journal", "gateway.fix._codec")
"""The compiled modules, built together by setup.py; each carries the build's hash."""

SOURCES = (
    "model/_build_hash.pxd",
    "model/_order.pxd",
    "model/_order.pyx",
    "model/_i128.h",
    "model/_i128.pxd",
    "model/_slots.h",
    "model/_slots.pxd",
    "model/order.py",
    "model/commands.py",
    "risk/_fast.pxd",
    "risk/_fast.pyx",
    "risk/accounts.py",
    "risk/risk.py",
    "engine/_core.pyx",
    "engine/book.py",
    "engine/engine.py",
    "engine/matching.py",
    "engine/operations.py",
    "engine/phases.py",
    "engine/uncross.py",
    "node/_crc32.h",
    "node/_journal.pyx",
    "node/journal.py",
    "gateway/fix/_codec.pyx",
    "gateway/fix/codec.py",
)
"""The compiled modules' sources and the Python files they stand in for, from the repo root."""

ROOT = Path(__file__).resolve().parent.parent


class StaleCore(ImportError):
    """The compiled core was built from sources that have changed since."""


def source_hash(root: Path = ROOT) -> str:
    """BLAKE2b over :data:`SOURCES` (names and bytes): what a build records."""
    h = hashlib.blake2b(digest_size=16)
    for name in SOURCES:
        h.update(name.encode())
        h.update(b"\0")
        h.update((root / name).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


_MARKER = re.compile(rb"tokex-build-hash:([0-9a-f]{32})")


def built_hash(path: Path) -> str | None:
    """The source hash a compiled module's file was built from, read from its bytes.

    ``None`` when the file carries none (a module built before every module
    carried one). Read from the file, not by importing it: the modules import
    the packages that import this one.
    """
    found = _MARKER.search(path.read_bytes())
    return found.group(1).decode("ascii") if found else None


def compiled_files() -> dict[str, Path]:
    """The file each of :data:`MODULES` would be imported from, for those that are built."""
    found = {}
    for name in MODULES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None and not spec.origin.endswith(".py"):
            found[name] = Path(spec.origin)
    return found


def check_build(files: Mapping[str, Path], root: Path | None = ROOT) -> None:
    """Raise :class:`StaleCore` unless every file in ``files`` was built from the same sources.

    ``files`` maps a module's name to its compiled file. With ``root`` (a
    source checkout) each must carry the hash of the sources under ``root``;
    without one (an installed build: no sources to hash) they must at least
    all carry the same hash, so a part-finished build is refused either way.
    """
    built = {name: built_hash(path) for name, path in files.items()}
    found = set(built.values())
    if root is None:
        if len(found) <= 1 and None not in found:
            return
        wrong = [f"{files[n]} ({h or 'no build hash'})" for n, h in built.items()]
        what = f"its modules were built from different sources: {', '.join(wrong)}"
    else:
        want = source_hash(root)
        if found <= {want}:
            return
        wrong = [f"{files[n]} ({h or 'no build hash'})" for n, h in built.items() if h != want]
        what = f"the sources hash to {want}, and {', '.join(wrong)} built from others"
    partial = " (a part-finished build: its modules disagree)" if len(found) > 1 else ""
    raise StaleCore(
        f"the compiled core is stale{partial}: {what}. One of {', '.join(SOURCES)} "
        f"changed since. Rebuild it (make core, or pip install -e .) "
        f"or run the pure build ({PURE_ENV}=1)."
    )


def _load() -> ModuleType | None:
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return None
    files = compiled_files()
    # The modules are built together; where one could not be built (no
    # compiler, no zlib header) the pure build runs. setup.py says which, and
    # fails instead with TOKEX_CORE_REQUIRED=1.
    if len(files) < len(MODULES):
        return None
    # Every module's file before any is imported: in a source checkout against
    # its sources, in an installed build (no sources) against each other.
    check_build(files, ROOT if (ROOT / SOURCES[0]).exists() else None)
    from model import _order  # type: ignore[attr-defined]

    return _order  # type: ignore[no-any-return]


def check_fresh(built: str, root: Path) -> None:
    """Raise :class:`StaleCore` unless ``built`` is the hash of the sources under ``root``."""
    now = source_hash(root)
    if built != now:
        raise StaleCore(
            f"the compiled core was built from other sources ({built}) than these ({now}): "
            f"one of {', '.join(SOURCES)} changed since. Rebuild it (make core, or "
            f"pip install -e .) or run the pure build ({PURE_ENV}=1)."
        )


_ORDER = _load()

COMPILED = _ORDER is not None
"""True when the compiled core runs; False for the pure-Python build.

The compiled modules are built together, and each was checked to carry
the sources' hash before model/_order was imported; risk/risk.py,
engine/engine.py and node/journal.py import theirs (risk._fast,
engine._core, node._journal) when this is True.
"""


def compiled_order() -> ModuleType:
    """The compiled build's model._order module (only when :data:`COMPILED`)."""
    assert _ORDER is not None, "the pure build runs: no compiled modules"
    return _ORDER
