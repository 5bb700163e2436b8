"""The exchange clock: the system's, or a simulated one that only the operator moves.

Every gateway and the timer task read time here, never from the system
directly, so ``--clock sim:...`` runs a whole trading week in seconds. The
engine itself never reads a clock: the sequencer stamps each command with
:meth:`Clock.now`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["Clock", "parse_clock"]


class Clock:
    """The exchange's time in ns since the epoch (UTC): the system's, or a simulated one."""

    def __init__(self, start_ns: int | None = None) -> None:
        self.simulated = start_ns is not None
        self._now = start_ns or 0

    def now(self) -> int:
        return self._now if self.simulated else time.time_ns()

    def resume(self, ts: int) -> None:
        """After a restart: a simulated clock goes on from ``ts`` (the journal's last time)
        when that is later than where it was set to start; the system clock ignores it."""
        if self.simulated and ts > self._now:
            self._now = ts

    def advance(self, ns: int) -> int:
        """Move a simulated clock on (ValueError on the system clock or a step back)."""
        if not self.simulated:
            raise ValueError("clock_advance: the exchange runs on the system clock")
        if ns < 0:
            raise ValueError(f"seconds {ns / 1e9}: must not be negative")
        self._now += ns
        return self._now


def parse_clock(text: str) -> Clock:
    """``system`` or ``sim:ISO8601`` (the ``--clock`` option); ValueError naming the problem."""
    if text == "system":
        return Clock()
    if text.startswith("sim:"):
        stamp = text[4:]
        try:
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"--clock {text}: {stamp!r} is not an ISO 8601 time") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = int(when.timestamp())
        return Clock(seconds * 10**9 + when.microsecond * 1_000)
    raise ValueError(f"--clock {text}: must be 'system' or 'sim:<ISO 8601 time>'")
