"""Where command generators get their choices, shared by the property tests.

A generator asks a :class:`Chooser` for each decision; the same generator
then serves a hypothesis state machine (:class:`DrawChooser`, which shrinks)
and a long seeded run (:class:`SeededChooser`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

from model.commands import Command, CommandError

T = TypeVar("T")


class Chooser(Protocol):
    """Where a command generator gets its choices: hypothesis data or a seeded Random."""

    def pick(self, options: Sequence[T]) -> T: ...

    def number(self, lo: int, hi: int) -> int: ...

    def chance(self, percent: int) -> bool: ...


class SeededChooser:
    """Choices from a seeded :class:`random.Random`: reproducible long runs."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def number(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def chance(self, percent: int) -> bool:
        return self.rng.randrange(100) < percent


_RANGES: dict[tuple[int, int], st.SearchStrategy[int]] = {}  # built once: drawing is hot


class DrawChooser:
    """Draws from hypothesis; shrinks towards the first option, ``lo`` and False."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def pick(self, options: Sequence[T]) -> T:
        return options[self.number(0, len(options) - 1)]

    def number(self, lo: int, hi: int) -> int:
        strategy = _RANGES.get((lo, hi))
        if strategy is None:
            strategy = _RANGES[lo, hi] = st.integers(lo, hi)
        return self.data.draw(strategy)

    def chance(self, percent: int) -> bool:
        return self.number(0, 99) >= 100 - percent


class Applies(Protocol):
    def apply(self, cmd: Command) -> Any: ...


H = TypeVar("H", bound=Applies)


def step(h: H, gen: Callable[[H, Chooser], Command], ch: Chooser) -> None:
    """Build one command and apply it; one that breaks its own field rules is skipped."""
    try:
        cmd = gen(h, ch)
    except CommandError:
        return
    h.apply(cmd)


def run_mix(
    h: H, mix: Sequence[tuple[Callable[[H, Chooser], Command], int]], seed: int, commands: int
) -> H:
    """Apply ``commands`` generators drawn by weight from ``mix`` with a seeded chooser."""
    rng = random.Random(seed)
    ch = SeededChooser(rng)
    gens = [g for g, _ in mix]
    weights = [w for _, w in mix]
    for gen in rng.choices(gens, weights, k=commands):
        step(h, gen, ch)
    return h
