"""The import contract: packages import downward only (README, "Architecture").

From the bottom up::

    model        instruments, commands, the order record (imports nothing of ours)
    risk         pre-trade risk and money             -> model
    engine       the pure matching core               -> model, risk
    node         the running exchange                 -> model, risk, engine
    gateway/X    one protocol each (ws, fix, rest)    -> the node and the core's types,
                                                         gateway's shared modules, itself;
                                                         never another gateway/Y
    settlement   the settlement queue and worker      -> model, risk, engine, node
    console      operator console and metrics         -> model, risk, engine, node, settlement
    tokex        the command line and the server      -> everything but bench
    bench        the benchmark harness                -> anything; nothing imports it

Read from the source (AST), relative imports resolved, so every import counts
whether or not it runs. The checker itself is tested on planted examples, so
an upward import cannot slip through a checker that never fires.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CORE = {"model", "risk", "engine"}
MAY_IMPORT: dict[str, set[str]] = {
    "model": {"model"},
    "risk": {"model", "risk"},
    "engine": {"model", "risk", "engine"},
    "node": CORE | {"node"},
    "gateway": CORE | {"node", "gateway"},
    "settlement": CORE | {"node", "settlement"},
    "console": CORE | {"node", "settlement", "console"},
    "tokex": CORE | {"node", "gateway", "settlement", "console", "tokex"},
    "bench": CORE | {"node", "gateway", "settlement", "console", "tokex", "bench"},
    "tests": set(),  # anything of ours: see problem()
}
OURS = set(MAY_IMPORT)

# Finer rules inside a package: (module, package or module it must not import).
NARROWER = [
    ("engine.book", "risk"),  # the book knows nothing of money
    ("engine.stops", "risk"),
]


def _gateway_room(module: str, root: Path) -> str | None:
    """The gateway subpackage a dotted module lives in (``gateway.ws.x`` -> ``ws``).

    None for gateway's own shared modules (``gateway/<name>.py``).
    """
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "gateway":
        return None
    return parts[1] if (root / "gateway" / parts[1]).is_dir() else None


def problem(importer: str, imported: str, root: Path = ROOT) -> str | None:
    """Why ``importer`` may not import ``imported`` (dotted names), or None if it may."""
    top, target = importer.split(".")[0], imported.split(".")[0]
    if target not in OURS or top not in OURS:
        return None  # the standard library or a third party
    if top == "tests":
        return None
    if target not in MAY_IMPORT[top]:
        return f"{top} sits below {target}: {importer} imports {imported}"
    for module, banned in NARROWER:
        if importer == module and (imported == banned or imported.startswith(banned + ".")):
            return f"{importer} must not import {banned}"
    if top == "gateway" and target == "gateway":
        mine, theirs = _gateway_room(importer, root), _gateway_room(imported, root)
        if theirs is not None and theirs != mine:
            where = f"gateway/{mine}" if mine else "gateway's shared modules"
            return f"{where} imports gateway/{theirs} ({imported}): no gateway imports another"
    return None


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """Every module ``path`` imports: (line, absolute dotted name), relative ones resolved."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            if node.module is None or node.level:
                # ``from . import x``: each name may be a module of that package.
                out.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
            out.append((node.lineno, base))
    return out


def violations(root: Path = ROOT) -> list[str]:
    """Every import in the project's packages that breaks the contract."""
    found = []
    for package in sorted(OURS):
        folder = root / package
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.py")):
            if ".peers" in path.parts or ".venv" in path.parts:
                continue
            importer = _module_name(path, root)
            lines = set()  # one finding per import statement
            for line, imported in imports_of(path, root):
                why = problem(importer, imported, root)
                if why is not None and line not in lines:
                    lines.add(line)
                    found.append(f"{path.relative_to(root)}:{line}: {why}")
    return found


def test_the_project_imports_downward_only() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("risk.risk", "engine.engine"),  # risk below engine
        ("model.order", "risk.money"),
        ("engine.engine", "node.exchange"),
        ("engine.book", "risk.risk"),
        ("node.exchange", "gateway.ws.server"),
        ("node.exchange", "settlement.worker"),
        ("gateway.fix.session", "gateway.ws.wire"),  # a gateway reaching into another
        ("gateway.reasons", "gateway.ws.wire"),  # shared modules serve every gateway
        ("gateway.ws.server", "tokex.serve"),
        ("settlement.worker", "gateway.ws.server"),
        ("tokex.cli", "bench.cli"),  # nothing imports bench
        ("engine.engine", "tests.builders"),
    ],
)
def test_the_checker_refuses_an_upward_import(importer: str, imported: str) -> None:
    assert problem(importer, imported) is not None


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("engine.engine", "risk.risk"),
        ("risk.risk", "model.commands"),
        ("node.exchange", "engine.engine"),
        ("gateway.ws.server", "node.interface"),
        ("gateway.ws.server", "gateway.ws.channels"),
        ("gateway.ws.server", "engine.events"),
        ("tokex.serve", "gateway.ws.server"),
        ("bench.cli", "tokex.cli"),
        ("tests.unit.test_layers", "bench.cli"),
        ("engine.engine", "collections"),
    ],
)
def test_the_checker_allows_a_downward_import(importer: str, imported: str) -> None:
    assert problem(importer, imported) is None


def test_a_planted_upward_import_is_found(tmp_path: Path) -> None:
    """A tree with a risk module importing the engine, and two gateways importing each other."""
    for folder in ("engine", "risk", "gateway/ws", "gateway/fix"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "engine" / "engine.py").write_text("from risk.risk import Risk\n")
    (tmp_path / "risk" / "risk.py").write_text("import engine.engine\nclass Risk: ...\n")
    (tmp_path / "gateway" / "fix" / "session.py").write_text("from ..ws import wire\n")
    (tmp_path / "gateway" / "ws" / "wire.py").write_text("from . import server\n")
    found = violations(tmp_path)
    assert len(found) == 2, found
    assert found[0].startswith("gateway/fix/session.py:1: gateway/fix imports gateway/ws")
    assert found[1].startswith("risk/risk.py:1: risk sits below engine")
