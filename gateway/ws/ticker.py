"""The ``ticker`` channel's 24-hour statistics of one symbol: pure, exact, amortized O(1).

:class:`Rolling24h` keeps the trades of the last 24 hours (on the exchange
clock) with running sums for volume and notional, and two monotonic queues
for the low and the high, so adding a trade and expiring old ones cost
O(1) amortized whatever the rate. Prices stay integer ticks and quantities
integer lots; only :meth:`Rolling24h.ticker` turns them into the decimals
the wire shows (VWAP and the percentage change rounded half-even to the
instrument's price precision and to two places).
"""

from __future__ import annotations

from collections import deque
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from model.instrument import Instrument

__all__ = ["WINDOW_NS", "Rolling24h"]

WINDOW_NS = 24 * 3600 * 10**9


class Rolling24h:
    """Trades of the last 24 hours of one symbol, and the last trade price ever seen."""

    __slots__ = ("highs", "last", "lows", "notional", "trades", "volume")

    def __init__(self) -> None:
        self.trades: deque[tuple[int, int, int]] = deque()
        """(ts, price ticks, qty lots), oldest first."""
        self.volume = 0
        self.notional = 0
        """Sum of price x qty (ticks x lots) over the window."""
        self.lows: deque[tuple[int, int]] = deque()
        """(ts, price) with prices strictly increasing: the front is the window's low."""
        self.highs: deque[tuple[int, int]] = deque()
        """(ts, price) with prices strictly decreasing: the front is the window's high."""
        self.last: int | None = None

    def add(self, ts: int, price: int, qty: int) -> None:
        """One trade (in time order)."""
        self.trades.append((ts, price, qty))
        self.volume += qty
        self.notional += price * qty
        lows = self.lows
        while lows and lows[-1][1] >= price:
            lows.pop()
        lows.append((ts, price))
        highs = self.highs
        while highs and highs[-1][1] <= price:
            highs.pop()
        highs.append((ts, price))
        self.last = price

    def expire(self, now: int) -> None:
        """Forget the trades at or before ``now`` - 24 h."""
        cutoff = now - WINDOW_NS
        trades = self.trades
        while trades and trades[0][0] <= cutoff:
            _, price, qty = trades.popleft()
            self.volume -= qty
            self.notional -= price * qty
        while self.lows and self.lows[0][0] <= cutoff:
            self.lows.popleft()
        while self.highs and self.highs[0][0] <= cutoff:
            self.highs.popleft()

    def ticker(
        self,
        inst: Instrument,
        now: int,
        bid: tuple[int, int] | None,
        ask: tuple[int, int] | None,
    ) -> dict[str, Any]:
        """The channel's item at ``now``: best bid and ask (price, visible qty) and the stats.

        Every field is a number, never null (WS_API.md): with no trade in the
        window, ``volume``, ``vwap``, ``low``, ``high``, ``change`` and
        ``change_pct`` are 0; ``last`` is the last trade price seen (0 before
        the first); ``bid`` and ``ask`` are 0 while that side is empty.
        """
        self.expire(now)
        price = inst.ticks_to_price
        item: dict[str, Any] = {
            "symbol": inst.symbol,
            "bid": price(bid[0] if bid else 0),
            "bid_qty": inst.lots_to_qty(bid[1] if bid else 0),
            "ask": price(ask[0] if ask else 0),
            "ask_qty": inst.lots_to_qty(ask[1] if ask else 0),
            "last": price(self.last if self.last is not None else 0),
            "volume": inst.lots_to_qty(self.volume),
            "vwap": price(0),
            "low": price(0),
            "high": price(0),
            "change": price(0),
            "change_pct": Decimal("0.00"),
        }
        if self.trades:
            step = Decimal(inst.price_increment)
            vwap = Decimal(self.notional) / Decimal(self.volume) * step
            opening = self.trades[0][1]
            assert self.last is not None
            change = self.last - opening
            item["vwap"] = vwap.quantize(price(1), rounding=ROUND_HALF_EVEN)
            item["low"] = price(self.lows[0][1])
            item["high"] = price(self.highs[0][1])
            item["change"] = price(change)
            pct = Decimal(change * 100) / Decimal(opening)
            item["change_pct"] = pct.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        return item
