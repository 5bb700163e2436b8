"""OHLC bars (candles) built from trades: pure, integer ticks and lots.

The REST ``OHLC`` method and the WebSocket ``ohlc`` channel both use these.
A bar covers ``[start, start + interval)`` on the exchange clock, ``start``
a whole multiple of the interval since the epoch (UTC): open, high, low and
close prices, the volume, the notional (price x qty, for the VWAP) and the
number of trades. An interval with no trade has no bar (Kraken's REST API
also skips empty intervals).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from model.instrument import Instrument

__all__ = ["INTERVALS", "Bar", "bars"]

INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
"""Bar lengths in minutes (Kraken's list)."""


@dataclass
class Bar:
    """One interval's trades summed up (prices in ticks, volume in lots)."""

    start: int
    """Nanoseconds since the epoch; a multiple of the interval."""
    open: int
    high: int
    low: int
    close: int
    volume: int
    notional: int
    """Sum of price x qty (ticks x lots)."""
    count: int

    def add(self, price: int, qty: int) -> None:
        """One more trade in this interval (in time order)."""
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += qty
        self.notional += price * qty
        self.count += 1

    def vwap(self, inst: Instrument) -> Decimal:
        """Volume-weighted average price, rounded half-even to the price precision."""
        exact = Decimal(self.notional) / Decimal(self.volume) * inst.price_increment
        return exact.quantize(inst.ticks_to_price(1), rounding=ROUND_HALF_EVEN)


def start_of(ts: int, interval_ns: int) -> int:
    """The start of the interval holding ``ts``."""
    return ts - ts % interval_ns


def bars(trades: Iterable[tuple[int, int, int]], interval_ns: int) -> list[Bar]:
    """The bars of ``trades`` (``(ts, price, qty)`` in time order), oldest first."""
    out: list[Bar] = []
    for ts, price, qty in trades:
        start = start_of(ts, interval_ns)
        if out and out[-1].start == start:
            out[-1].add(price, qty)
        else:
            out.append(Bar(start, price, price, price, price, qty, price * qty, 1))
    return out
