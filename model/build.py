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
  modules and every Python file whose functions they stand in for); editing
  any of them asks for a rebuild (``make install``, or ``pip install -e .``)
  or ``TOKEX_PURE=1``.

Reading the environment and hashing source files happens here, once, at
import: the engine itself stays pure (no I/O while it runs).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

__all__ = [
    "COMPILED",
    "PURE_ENV",
    "SOURCES",
    "StaleCore",
    "check_fresh",
    "compiled_order",
    "source_hash",
]

PURE_ENV = "TOKEX_PURE"

SOURCES = (
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
    "risk/risk.py",
    "engine/_core.pyx",
    "engine/book.py",
    "engine/engine.py",
    "engine/matching.py",
    "engine/operations.py",
    "engine/phases.py",
    "engine/uncross.py",
    "node/_journal.pyx",
    "node/journal.py",
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


def _load() -> ModuleType | None:
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return None
    # The modules are built together; a build cut short leaves the pure build.
    if any(
        importlib.util.find_spec(m) is None for m in ("risk._fast", "engine._core", "node._journal")
    ):
        return None
    try:
        from model import _order  # type: ignore[attr-defined]
    except ImportError:
        return None
    if (ROOT / SOURCES[0]).exists():  # a source checkout (an installed wheel has no sources)
        check_fresh(str(_order.BUILD_HASH), ROOT)
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

The compiled modules are built together: model/_order carries the
build's hash, and risk/risk.py, engine/engine.py and node/journal.py import
theirs (risk._fast, engine._core, node._journal) when this is True.
"""


def compiled_order() -> ModuleType:
    """The compiled build's model._order module (only when :data:`COMPILED`)."""
    assert _ORDER is not None, "the pure build runs: no compiled modules"
    return _ORDER
