"""The core stays pure: no clock, randomness, I/O, concurrency or logging.

Read from the source (AST), so it holds whatever a third-party library
imports for itself. ruff's banned-api rule (engine/ruff.toml and its copies
in risk/ and model/) says the same for imports; this test also covers the
builtins ruff cannot ban (open, print). The direction of imports between
packages is tests/unit/test_layers.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_PACKAGES = ("model", "engine", "risk")

# Everything a pure module may import: computation only.
ALLOWED_TOP_LEVEL = {
    "__future__",
    "array",  # balances and holds as signed 64-bit integers (risk.accounts.Account.funds)
    "bisect",
    "collections",
    "dataclasses",
    "datetime",  # date arithmetic only; clock reads are banned below
    "decimal",
    "enum",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "itertools",
    "math",
    "msgspec",
    "operator",
    "sortedcontainers",
    "typing",
    "re",
    "zlib",  # checksums
    "model",
    "engine",
    "risk",
}
# model/build.py picks the compiled or the pure build once, at import: it reads
# the environment (TOKEX_PURE) and hashes the sources to catch a stale compiled
# core. Nothing it reads reaches the engine while it runs; these are all it may add.
IMPORT_TIME_ONLY = {"model/build.py": {"importlib", "os", "pathlib", "types"}}
BANNED_CALLS = {"open", "print", "input", "exec", "eval", "compile", "__import__", "breakpoint"}
BANNED_ATTRIBUTE_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def _modules(package: str) -> list[Path]:
    path = ROOT / package
    if path.suffix == ".py":
        return [path]
    return sorted(path.rglob("*.py"))


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _pure_modules() -> list[Path]:
    return [m for p in PURE_PACKAGES for m in _modules(p)]


@pytest.mark.parametrize("module", _pure_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_imports_only_computation(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    extra = IMPORT_TIME_ONLY.get(str(module.relative_to(ROOT)), set())
    allowed = ALLOWED_TOP_LEVEL | extra
    bad = [name for name in _imports(tree) if name.split(".")[0] not in allowed]
    assert not bad, f"{module.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("module", _pure_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_reads_no_clock_and_does_no_io(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in BANNED_CALLS:
            found.append(f"{func.id}() at line {node.lineno}")
        if isinstance(func, ast.Attribute) and func.attr in BANNED_ATTRIBUTE_CALLS:
            found.append(f".{func.attr}() at line {node.lineno}")
    assert not found, f"{module.relative_to(ROOT)}: {found}"


def test_the_checker_catches_a_clock_read() -> None:
    """The AST checks above do fire on impure code (so they cannot pass vacuously)."""
    tree = ast.parse("import time\nfrom datetime import datetime\nx = datetime.now()\nprint(x)\n")
    assert [n for n in _imports(tree) if n.split(".")[0] not in ALLOWED_TOP_LEVEL] == ["time"]
    calls = [
        n.func
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and (
            (isinstance(n.func, ast.Attribute) and n.func.attr in BANNED_ATTRIBUTE_CALLS)
            or (isinstance(n.func, ast.Name) and n.func.id in BANNED_CALLS)
        )
    ]
    assert len(calls) == 2
