"""Call auctions in the engine: the indication during a call and the uncross trades.

Part of the engine (see :mod:`engine.engine`); pure. :class:`Auctions` holds
the calls in progress and executes an uncross at the price
:func:`engine.auction.uncross_price` chooses; :mod:`engine.phases` decides
when calls start and end. The rulebook as built is docs/SESSIONS.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from model.build import COMPILED
from model.instrument import Instrument
from model.order import Order
from risk.risk import Risk

from engine.auction import Uncross, uncross_price
from engine.book import BookSide, Level, OrderBook
from engine.events import AuctionIndicated, Event, IcebergRefilled, TradeExecuted
from engine.operations import Operations

__all__ = ["Auctions"]

_NO_TRADE: tuple[int | None, int, int] = (None, 0, 0)


class Auctions(Operations):
    """The calls in progress and the single-price uncross."""

    __slots__ = ("calls",)

    def __init__(self, instruments: Iterable[Instrument], risk: Risk | None = None) -> None:
        super().__init__(instruments, risk)
        # Instruments in an auction call -> the last indication published.
        self.calls: dict[str, tuple[int | None, int, int]] = {}

    def _indication(self, book: OrderBook) -> Uncross | None:
        """Where ``book`` would uncross now (every live lot counts, hidden ones too)."""
        best_bid, best_ask = book.bids.best(), book.asks.best()
        if best_bid is None or best_ask is None or best_bid.price < best_ask.price:
            return None
        bids = _lots(book.bids.levels.values(), lambda p: p >= best_ask.price)
        asks = _lots(book.asks.levels.values(), lambda p: p <= best_bid.price)
        if self.risk is not None:
            reference = self.risk.markets[book.symbol].reference
        else:
            reference = self.instruments[book.symbol].reference_price
        return uncross_price(bids, asks, reference)

    def _indicate(self, events: list[Event], seq: int, ts: int, touched: set[str]) -> None:
        """Publish the indication of each call in ``touched`` when the command changed it."""
        for symbol in sorted(self.calls):
            if symbol not in touched:
                continue
            last = self.calls[symbol]
            found = self._indication(self.books[symbol])
            now = _NO_TRADE if found is None else (found.price, found.volume, found.imbalance)
            if now != last:
                self.calls[symbol] = now
                events.append(AuctionIndicated(seq, ts, symbol, *now))

    def _trade_at(
        self, book: OrderBook, price: int, events: list[Event], seq: int, ts: int
    ) -> tuple[int, bool]:
        """Pair bids at ``price`` or better with asks at ``price`` or better, in priority order.

        Every trade prints at ``price``. Of each pair the order accepted
        later (the higher order id) is the taker (it pays the taker fee; its self-trade prevention
        applies). Returns the lots traded and whether anything changed (a
        self-trade cancel changes the book without trading).
        """
        bids, asks = book.bids, book.asks
        settle = None if self.risk is None else self.risk.fill
        trade_id = self.next_trade_id
        traded = 0
        changed = False
        while True:
            bid_level, ask_level = bids.best(), asks.best()
            if bid_level is None or ask_level is None:
                break
            if bid_level.price < price or ask_level.price > price:
                break
            buy, sell = _head(bid_level), _head(ask_level)
            # The later order is the one accepted later (a refilled iceberg
            # slice keeps its order's place in time for this).
            taker, maker = (buy, sell) if buy.order_id > sell.order_id else (sell, buy)
            changed = True
            if buy.account == sell.account:
                stp = taker.stp
                if stp != "cancel_newest":
                    self._cancel_open(maker, "self_trade", events, seq, ts)
                if stp != "cancel_oldest":
                    self._cancel_open(taker, "self_trade", events, seq, ts)
                continue
            qty = min(buy.shown, sell.shown)
            for order, level in ((buy, bid_level), (sell, ask_level)):
                order.shown -= qty
                order.filled += qty
                level.qty -= qty
            taker_left = taker.shown + taker.hidden
            quote = taker_fee = maker_fee = 0
            if settle is not None:
                quote, taker_fee, maker_fee = settle(taker, maker, price, qty, taker_left)
            events.append(
                TradeExecuted(
                    seq,
                    ts,
                    trade_id,
                    book.symbol,
                    price,
                    qty,
                    taker.side,
                    taker.order_id,
                    taker.account,
                    taker_left,
                    maker.order_id,
                    maker.account,
                    maker.shown + maker.hidden,
                    quote,
                    taker_fee,
                    maker_fee,
                )
            )
            trade_id += 1
            traded += qty
            for order, level, side in ((buy, bid_level, bids), (sell, ask_level, asks)):
                if not order.shown:
                    self._slice_done(order, level, side, events, seq, ts)
        self.next_trade_id = trade_id
        if traded:
            book.last_price = price
            book.note_prints(price, price)
        return traded, changed

    def _slice_done(
        self, order: Order, level: Level, side: BookSide, events: list[Event], seq: int, ts: int
    ) -> None:
        """The head order's visible slice traded away: refill an iceberg, or close the order."""
        level.queue.popleft()
        hidden = order.hidden
        if hidden:
            slice_ = order.display_qty if hidden > order.display_qty else hidden
            order.hidden = hidden - slice_
            order.shown = slice_
            order.priority = self.stamp(seq)
            level.queue.append(order)
            level.qty += slice_
            events.append(
                IcebergRefilled(
                    seq, ts, order.order_id, order.account, order.symbol, slice_, order.hidden
                )
            )
            return
        if self.risk is not None:
            self.risk.release(order)
        self._forget(order)
        if not level.qty:
            side.drop_level(level.price * side.sign)


def _head(level: Level) -> Order:
    """The first live order of a level, dropping tombstones in front of it."""
    queue = level.queue
    while not queue[0].shown:
        queue.popleft()
        level.dead -= 1
    return queue[0]


def _lots(levels: Iterable[Level], wanted: Callable[[int], bool]) -> list[tuple[int, int]]:
    """``(price, live lots)`` of each level whose price passes ``wanted``."""
    return [
        (level.price, sum(o.shown + o.hidden for o in level.live()))
        for level in levels
        if wanted(level.price)
    ]


if COMPILED and not TYPE_CHECKING:
    # The compiled build's indication (engine/_core.pyx): recomputed after
    # every command that touches a book in an auction call, and the pure
    # walk over every live order was most of its cost.
    from engine import _core

    Auctions._indication = _core._indication
