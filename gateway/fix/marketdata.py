"""Market data over FIX: MarketDataRequest (V) answered with W snapshots and X increments.

A mixin of :class:`gateway.fix.server.FixGateway`. A request is checked at
once (an unlisted symbol, an entry type other than bid, offer and trade, a
non-aggregated book, a duplicate or unknown MDReqID: MarketDataRequestReject
Y with its MDReqRejReason), then taken at a pipeline barrier, as the
WebSocket book channel is: the snapshot shows exactly the journaled book and
the increments continue it with no gap and no repeat. After every durable
batch, each subscription to a symbol the batch touched gets the changes of
its top ``MarketDepth`` levels (279 = 0 new, 1 change, 2 delete, a level
that left the depth deleted) and the batch's trades (269 = 2), in one X; a
subscription asking for full refreshes (265 = 0) gets a new W instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.events import TradeExecuted
from gateway.fix.codec import Message, render
from gateway.fix.reports import Numbers
from gateway.fix.times import format_timestamp
from gateway.fix.validate import Group
from gateway.reasons import BUSY
from node.interface import InProcessNode, Sequenced

if TYPE_CHECKING:
    from gateway.fix.handle import SessionHandle

__all__ = ["MarketData", "Subscription"]

MAX_DEPTH = 1000
"""MarketDepth 0 (the whole book) means this many levels a side."""
_TYPES = frozenset("012")

Levels = dict[int, int]


@dataclass
class Subscription:
    """One MDReqID of a session: its symbols, depth, entry types, and what it was last sent."""

    req_id: str
    symbols: list[str]
    depth: int
    types: frozenset[str]
    incremental: bool
    books: dict[str, tuple[Levels, Levels]] = field(default_factory=dict)


class MarketData:
    """V, W, X, Y; the gateway provides the attributes and the sending."""

    node: InProcessNode
    numbers: dict[str, Numbers]
    last_trade: dict[str, tuple[int, int]]

    def _send(self, handle: SessionHandle, msg_type: str, body: str) -> None:
        raise NotImplementedError

    def _barrier(self, handle: SessionHandle, after: Callable[[], None]) -> bool:
        raise NotImplementedError

    def _md_reject(self, handle: SessionHandle, req_id: str, reason: str, text: str) -> None:
        self._send(handle, "Y", render([(262, req_id), (281, reason), (58, text)]))

    def _market_data_request(
        self, handle: SessionHandle, message: Message, groups: dict[int, list[Group]]
    ) -> None:
        req_id = message.get(262) or ""
        kind = message.get(263)
        subs = handle.subscriptions
        if kind == "2":
            if subs.pop(req_id, None) is None:
                self._md_reject(handle, req_id, "0", f"MDReqID {req_id!r} is not subscribed")
            return
        symbols = [g.get(55) or "" for g in groups.get(146, [])]
        for symbol in symbols:
            if symbol not in self.numbers:
                self._md_reject(handle, req_id, "0", f"Symbol (55) {symbol!r}: not listed")
                return
        types = frozenset(g.get(269) or "" for g in groups.get(267, []))
        if not types <= _TYPES:
            bad = sorted(types - _TYPES)[0]
            text = f"MDEntryType (269) {bad!r}: only 0 (bid), 1 (offer) and 2 (trade)"
            self._md_reject(handle, req_id, "8", text)
            return
        if message.get(266) == "N":
            self._md_reject(handle, req_id, "7", "AggregatedBook (266): only Y (by price level)")
            return
        if kind == "1" and req_id in subs:
            self._md_reject(handle, req_id, "1", f"MDReqID {req_id!r} is already subscribed")
            return
        depth = int(message.get(264) or "0")
        sub = Subscription(
            req_id,
            symbols,
            depth if 0 < depth <= MAX_DEPTH else MAX_DEPTH,
            types,
            message.get(265) != "0",
        )
        if kind == "1":
            subs[req_id] = sub  # taken now, so a second request with its id is a duplicate

        def now_durable() -> None:
            if kind == "1" and subs.get(req_id) is not sub:
                return  # unsubscribed (or the session reset) meanwhile
            for symbol in symbols:
                bids, asks = self._top(symbol, sub.depth)
                sub.books[symbol] = (bids, asks)
                self._snapshot(handle, sub, symbol, bids, asks)

        if not self._barrier(handle, now_durable):
            subs.pop(req_id, None)
            self._md_reject(handle, req_id, "2", BUSY)

    def _top(self, symbol: str, depth: int) -> tuple[Levels, Levels]:
        bids, asks = self.node.book(symbol, depth)
        return dict(bids), dict(asks)

    def _snapshot(
        self, handle: SessionHandle, sub: Subscription, symbol: str, bids: Levels, asks: Levels
    ) -> None:
        n = self.numbers[symbol]
        entries: list[tuple[int, str]] = []
        count = 0
        for entry_type, levels, reverse in (("0", bids, True), ("1", asks, False)):
            if entry_type not in sub.types:
                continue
            for position, price in enumerate(sorted(levels, reverse=reverse), 1):
                entries += [(269, entry_type), (270, n.price(price))]
                entries += [(271, n.qty(levels[price])), (290, str(position))]
                count += 1
        trade = self.last_trade.get(symbol)
        if "2" in sub.types and trade is not None:
            entries += [(269, "2"), (270, n.price(trade[0])), (271, n.qty(trade[1]))]
            count += 1
        head = [(262, sub.req_id), (55, symbol), (268, str(count))]
        self._send(handle, "W", render(head + entries))

    def _publish_market_data(
        self, applied: list[Sequenced], handles: list[SessionHandle], touched: set[str]
    ) -> None:
        """After a durable batch: each subscription's changes to the symbols it touched."""
        trades: dict[str, list[TradeExecuted]] = {}
        for _, events in applied:
            for e in events:
                if isinstance(e, TradeExecuted):
                    trades.setdefault(e.symbol, []).append(e)
                    self.last_trade[e.symbol] = (e.price, e.qty)
        tops: dict[tuple[str, int], tuple[Levels, Levels]] = {}
        for handle in handles:
            for sub in list(handle.subscriptions.values()):
                for symbol in sub.symbols:
                    if symbol not in touched or symbol not in sub.books:
                        continue
                    key = (symbol, sub.depth)
                    if key not in tops:
                        tops[key] = self._top(symbol, sub.depth)
                    self._update(handle, sub, symbol, *tops[key], trades.get(symbol, []))

    def _update(
        self,
        handle: SessionHandle,
        sub: Subscription,
        symbol: str,
        bids: Levels,
        asks: Levels,
        trades: list[TradeExecuted],
    ) -> None:
        n = self.numbers[symbol]
        old_bids, old_asks = sub.books[symbol]
        entries: list[tuple[int, str]] = []
        count = 0
        for entry_type, old, new in (("0", old_bids, bids), ("1", old_asks, asks)):
            if entry_type not in sub.types or old == new:
                continue
            for price in sorted(old.keys() | new.keys()):
                before, after = old.get(price), new.get(price)
                if before == after:
                    continue
                action = "2" if after is None else "0" if before is None else "1"
                entries += [(279, action), (269, entry_type), (55, symbol)]
                entries += [(270, n.price(price)), (271, n.qty(after or 0))]
                count += 1
        if "2" in sub.types:
            for t in trades:
                day, _, time = format_timestamp(t.ts).partition("-")
                entries += [(279, "0"), (269, "2"), (55, symbol), (270, n.price(t.price))]
                entries += [(271, n.qty(t.qty)), (272, day), (273, time)]
                count += 1
        sub.books[symbol] = (bids, asks)
        if not count:
            return
        if not sub.incremental:
            self._snapshot(handle, sub, symbol, bids, asks)
            return
        self._send(handle, "X", render([(262, sub.req_id), (268, str(count)), *entries]))
