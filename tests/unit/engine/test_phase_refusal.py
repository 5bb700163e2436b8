"""``Engine._phase_refusal``: what a phase refuses, against ``Phases._phase_refusal``.

In the compiled build the engine's method is engine/_core.pyx's: the phase
and the order type compared as texts, the refusal worded there. The pure
method in engine/phases.py is the reference: every phase, order type and
time in force (the known ones, unknown ones, and equal texts that are not the
same objects) must get the same answer, or the same ValueError. Runs on both
builds (on the pure one the two are the same method).
"""

from __future__ import annotations

import itertools

import pytest

from bench.xstocks import xstocks
from engine.engine import Engine
from engine.phases import Phases
from engine.sessions import ORDER_TYPES, PHASES

TIFS = ("gtc", "gtd", "day", "ioc", "fok")


def _fresh(text: str) -> str:
    """An equal text that is another object (as a decoded command's field is)."""
    return "".join(list(text))


@pytest.fixture(scope="module")
def engine() -> Engine:
    _, make = xstocks(10, 1)
    return make()


def _answer(method, engine: Engine, symbol: str, order_type: str, tif: str):  # type: ignore[no-untyped-def]
    try:
        return method(engine, symbol, order_type, tif)
    except ValueError as e:
        return ("raised", str(e))


@pytest.mark.parametrize("phase", [*PHASES, "lunch"])
def test_every_phase_order_type_and_tif(engine: Engine, phase: str) -> None:
    symbol = next(iter(engine.sessions))
    session = engine.sessions[symbol]
    kept = session.phase
    session.phase = _fresh(phase)
    answers = set()
    try:
        for order_type, tif in itertools.product([*sorted(ORDER_TYPES), "amend", "twap"], TIFS):
            for ot, tf in ((order_type, tif), (_fresh(order_type), _fresh(tif))):
                got = _answer(Engine._phase_refusal, engine, _fresh(symbol), ot, tf)
                assert got == _answer(Phases._phase_refusal, engine, symbol, order_type, tif)
                answers.add(got if got is None else got[0])
    finally:
        session.phase = kept
    # Each phase gave the answers its rules name, so the comparison saw them all.
    expected = {
        "regular": {None},
        "halted": {"halted"},
        "closed": {"market_closed"},
        "lunch": {None, "raised"},
    }.get(phase, {None, "limit_only", "raised"})
    assert answers == expected
