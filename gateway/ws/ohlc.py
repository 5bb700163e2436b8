"""The WebSocket ``ohlc`` channel: 1 and 5 minute (and longer) bars built from trades.

Kraken v2's shape: ``{"channel":"ohlc","type":"snapshot"|"update","data":[{"symbol",
"open","high","low","close","trades","volume","vwap","interval_begin","interval",
"timestamp"}]}``. The snapshot holds the bars of the last :data:`SNAPSHOT_BARS`
intervals that had trades (from the node's history, so also after a
restart); an update carries the bar of the interval a batch's trades fell
in, as it stands after the batch. Bars are :mod:`gateway.bars`'s.
"""

from __future__ import annotations

from typing import Any

from engine.events import TradeExecuted
from gateway.bars import Bar, bars, start_of
from gateway.ws.wire import rfc3339
from model.instrument import Instrument
from node.interface import Node, Sequenced

__all__ = ["INTERVALS", "SNAPSHOT_BARS", "OhlcFeed"]

INTERVALS = (1, 5, 15, 30, 60, 240, 1440)
"""Minutes a subscription may ask for (Kraken v2's list)."""
SNAPSHOT_BARS = 720


class OhlcFeed:
    """The current bar of each (symbol, interval) someone watches."""

    def __init__(self, node: Node, instruments: dict[str, Instrument]) -> None:
        self.node = node
        self.instruments = instruments
        self.current: dict[tuple[str, int], Bar | None] = {}

    def item(self, symbol: str, minutes: int, bar: Bar) -> dict[str, Any]:
        inst = self.instruments[symbol]
        return {
            "symbol": symbol,
            "open": inst.ticks_to_price(bar.open),
            "high": inst.ticks_to_price(bar.high),
            "low": inst.ticks_to_price(bar.low),
            "close": inst.ticks_to_price(bar.close),
            "trades": bar.count,
            "volume": inst.lots_to_qty(bar.volume),
            "vwap": bar.vwap(inst),
            "interval_begin": rfc3339(bar.start),
            "interval": minutes,
            "timestamp": rfc3339(bar.start + minutes * 60 * 10**9),
        }

    def snapshot(self, symbol: str, minutes: int) -> list[dict[str, Any]]:
        """The recent bars (and start following this symbol and interval)."""
        step = minutes * 60 * 10**9
        now = self.node.now()
        since = start_of(now, step) - (SNAPSHOT_BARS - 1) * step
        trades = self.node.trades(symbol, since)
        found = bars(((t.ts, t.price, t.qty) for t in trades), step)
        last = found[-1] if found else None
        self.current[symbol, minutes] = last
        return [self.item(symbol, minutes, b) for b in found]

    def updates(
        self, applied: list[Sequenced], watched: set[tuple[str, int]]
    ) -> dict[tuple[str, int], dict[str, Any]]:
        """The bar of each watched (symbol, interval) the batch's trades touched."""
        out: dict[tuple[str, int], dict[str, Any]] = {}
        symbols = {s for s, _ in watched}
        for _, events in applied:
            for e in events:
                if type(e) is not TradeExecuted or e.symbol not in symbols:
                    continue
                for key in watched:
                    symbol, minutes = key
                    if symbol != e.symbol:
                        continue
                    start = start_of(e.ts, minutes * 60 * 10**9)
                    bar = self.current.get(key)
                    if bar is None or bar.start != start:
                        bar = Bar(start, e.price, e.price, e.price, e.price, 0, 0, 0)
                        self.current[key] = bar
                    bar.add(e.price, e.qty)
                    out[key] = self.item(symbol, minutes, bar)
        for key in list(self.current):
            if key not in watched:
                del self.current[key]
        return out
