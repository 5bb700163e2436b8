"""The rolling reference price: the volume-weighted average of the last five minutes of trades.

In regular hours an instrument's reference price (the centre of its price
band) follows its own trades: after every command that traded, it becomes
the volume-weighted average price of the trades printed in the five minutes
up to and including that command, rounded to the nearest tick (half a tick
rounds up). With no trade in the last five minutes it stays where it was.
Outside regular hours no window is kept and the reference stays frozen at
its last regular-hours value. Pure: time is the commands' ``ts``.
"""

from __future__ import annotations

from collections import deque

__all__ = ["WINDOW_NS", "ReferenceWindow"]

WINDOW_NS = 5 * 60 * 10**9


class ReferenceWindow:
    """Trades of the last :data:`WINDOW_NS`, summed per command. O(1) amortised per add."""

    __slots__ = ("lots", "notional", "prints")

    def __init__(self) -> None:
        self.prints: deque[tuple[int, int, int]] = deque()  # (ts, ticks x lots, lots)
        self.notional = 0
        self.lots = 0

    def add(self, ts: int, notional: int, lots: int) -> int:
        """Record ``lots`` traded for ``notional`` (ticks x lots) at ``ts``; return the average.

        The average covers the prints in ``(ts - WINDOW_NS, ts]``, in ticks,
        rounded to the nearest tick with halves rounded up.
        """
        prints = self.prints
        prints.append((ts, notional, lots))
        self.notional += notional
        self.lots += lots
        start = ts - WINDOW_NS
        while prints[0][0] <= start:
            _, old_notional, old_lots = prints.popleft()
            self.notional -= old_notional
            self.lots -= old_lots
        return (2 * self.notional + self.lots) // (2 * self.lots)

    def state(self) -> list[tuple[int, int, int]]:
        """The prints in the window, oldest first (for the engine's canonical state)."""
        return list(self.prints)
