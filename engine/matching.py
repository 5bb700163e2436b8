"""Matching: trading an incoming order against a book, resting it, triggering stops.

The :class:`Matcher` owns the engine's state (books, stop books, open-order
indexes, id counters) and the steps every order path shares. The command
handlers built on it are in :mod:`engine.engine`. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from heapq import heappush
from typing import TYPE_CHECKING

from model.build import COMPILED
from model.commands import MARKET_KINDS, STOP_KINDS, NewOrder
from model.instrument import Instrument
from model.order import Order, OrderIndex
from risk.risk import Risk

from engine.book import BookSide, OrderBook
from engine.events import (
    Event,
    IcebergRefilled,
    OrderAccepted,
    OrderCancelled,
    OrderTriggered,
    ReferencePriceSet,
    TradeExecuted,
)
from engine.state import EngineStateMixin

__all__ = ["NO_LIMIT", "PRIORITY_SHIFT", "Matcher", "crosses"]

# A limit key no level key can exceed: a market order with no protection price.
NO_LIMIT = 1 << 62

# Queue priority stamps: an order joining a queue during command ``seq`` gets
# ``seq << PRIORITY_SHIFT`` plus how many stamps that command already gave.
# Stamps thus increase in the order orders join queues, and the plain-limit
# fast path stamps with a shift alone, without touching a counter.
PRIORITY_SHIFT = 32


class Matcher(EngineStateMixin):
    """Engine state plus the shared steps of placing, matching and resting orders."""

    __slots__ = (
        "_by_account_at",
        "_by_account_for",
        "books",
        "by_account",
        "by_clid",
        "expiries",
        "instruments",
        "last_seq",
        "next_priority",
        "next_trade_id",
        "orders",
        "risk",
    )

    def __init__(self, instruments: Iterable[Instrument], risk: Risk | None = None) -> None:
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in instruments}
        self.books: dict[str, OrderBook] = {s: OrderBook(s) for s in self.instruments}
        # Open orders by id, and by account then id (model.order.OrderIndex:
        # a dict in the pure build).
        self.orders: dict[int, Order] = OrderIndex()
        self.by_account: dict[str, dict[int, Order]] = {}
        # The compiled build's shortcut to ``by_account`` (engine/_core.pyx
        # _mine_at): its entries by the account's place in risk.accounts (the
        # table in ``_by_account_for``). Not state: never saved or compared.
        self._by_account_at: list[dict[int, Order] | None] = []
        self._by_account_for: object = None
        self.by_clid: dict[tuple[str, str], Order] = {}
        self.expiries: list[tuple[int, int]] = []
        self.last_seq = 0
        self.next_trade_id = 1
        self.next_priority = 1
        # Pre-trade risk (balances, holds, fees, checks); None runs the
        # matching rules alone, as the matching tests do.
        self.risk = risk

    def stamp(self, seq: int) -> int:
        """The next queue priority stamp for an order joining a queue in command ``seq``."""
        stamp = seq << PRIORITY_SHIFT
        if stamp < self.next_priority:
            stamp = self.next_priority
        self.next_priority = stamp + 1
        return stamp

    def _place(
        self,
        c: NewOrder,
        order: Order,
        book: OrderBook,
        events: list[Event],
        replaces: int | None,
    ) -> None:
        """Accept a checked new order: take its hold, match it, rest it or park it as a stop."""
        seq = c.seq
        ts = c.ts
        events.append(OrderAccepted(seq, ts, seq, c, replaces))
        if self.risk is not None:
            self.risk.reserve(order)
        if order.order_type in STOP_KINDS:
            order.stop = True
            order.priority = self.stamp(seq)
            self._index(order)
            book.stops.push(order)
            if book.last_price is not None and book.open:
                # Already reached by the last trade price: it triggers at once.
                book.note_prints(book.last_price, book.last_price)
                self._run_stops(book, events, seq, ts)
            return
        if not book.open:
            # An auction call (the only closed phase that takes orders):
            # orders wait in the book, crossed or not, for the uncross.
            self._rest(order, book, order.shown, seq, False)
            return
        self._execute(order, book, events, seq, ts, False)
        if book.lo is not None:
            self._run_stops(book, events, seq, ts)

    # --------------------------------------------------------------- matching

    def _execute(
        self, order: Order, book: OrderBook, events: list[Event], seq: int, ts: int, indexed: bool
    ) -> None:
        """Trade ``order`` (leaves in ``order.shown``) against the book, then rest or cancel.

        ``indexed`` says whether the order is already in the open-order
        indexes (a triggered stop or an amended order) or not (a new one).
        An order that does not rest gives back what it still holds.
        """
        opp = book.asks if order.side == "buy" else book.bids
        market = order.order_type in MARKET_KINDS
        price = order.price
        limit_key = NO_LIMIT if market and not price else price * opp.sign
        remaining = order.shown
        tif = order.tif
        account, stp = order.account, order.stp
        reason = None
        budget = remaining  # the most it may fill now
        if order.cash_qty and self.risk is not None:
            # A market buy sized by what it may spend: it fills at most as
            # many lots as the fills it would get (a dry run) can pay for,
            # fees included; the rest of its quantity is cancelled below.
            budget = self.risk.affordable(order, _preview(opp, limit_key, remaining, account, stp))
        if not book.open:
            # Trading stopped earlier in this command (a volatility pause): an
            # order that can wait rests for the reopening call, one that cannot
            # is cancelled.
            if not (market or tif == "ioc" or tif == "fok"):
                self._rest(order, book, remaining, seq, indexed)
                return
            reason = "halted"
        elif book.window is not None and self._breaks_band(book, opp, order.side, limit_key):
            # Limit up-limit down: the next trade would print outside the band.
            # Trading pauses before it; an order that can wait rests (crossed,
            # for the reopening auction), one that cannot is cancelled.
            self._volatility_pause(book, events, seq, ts)
            if not (market or tif == "ioc" or tif == "fok"):
                self._rest(order, book, remaining, seq, indexed)
                return
            reason = "halted"
        elif tif == "fok" and not _fok_fillable(opp, limit_key, remaining, account, stp):
            reason = "fok_unfillable"
        else:
            if budget:
                remaining = self._match(
                    order, book, opp, limit_key, remaining, budget, events, seq, ts
                )
            if remaining > 0 and (market or tif == "ioc" or tif == "fok"):
                # Cut by the band: a market order stopped at its protection
                # price while liquidity lies beyond it.
                best = opp.best()
                beyond = market and best is not None and best.price * opp.sign > limit_key
                reason = "price_band" if beyond else "ioc_remainder"
        if reason is not None or remaining <= 0:
            # Done without resting: filled, cancelled by self-trade prevention
            # (remaining -1, the cancel already emitted) or cancelled here.
            if reason is not None:
                events.append(
                    OrderCancelled(
                        seq, ts, order.order_id, order.account, order.symbol, remaining, reason
                    )
                )
            order.shown = 0
            if self.risk is not None:
                self.risk.release(order)
            if indexed:
                self._forget(order)
            return
        self._rest(order, book, remaining, seq, indexed)

    def _breaks_band(self, book: OrderBook, opp: BookSide, side: str, limit_key: int) -> bool:
        """Whether the first trade against ``opp`` would print outside the band.

        Only the first level can: the taker's own limit is inside the band, and
        later levels lie between the first and that limit.
        """
        best = opp.best()
        if best is None or best.price * opp.sign > limit_key or self.risk is None:
            return False
        m = self.risk.markets[book.symbol]
        if m.low is None or m.high is None:
            return False
        return best.price < m.low if side == "buy" else best.price > m.high

    def _volatility_pause(self, book: OrderBook, events: list[Event], seq: int, ts: int) -> None:
        """Halt ``book`` for a volatility pause (the engine's phases implement it)."""
        raise NotImplementedError

    def _rest(self, order: Order, book: OrderBook, remaining: int, seq: int, indexed: bool) -> None:
        """Put ``order`` with ``remaining`` lots open at the back of its level."""
        order.filled = order.qty - remaining
        display = order.display_qty
        if display and remaining > display:
            order.shown = display
            order.hidden = remaining - display
        else:
            order.shown = remaining
            order.hidden = 0
        order.priority = self.stamp(seq)
        book.side(order.side).add(order)
        if not indexed:
            self._index(order)

    def _match(
        self,
        taker: Order,
        book: OrderBook,
        opp: BookSide,
        limit_key: int,
        remaining: int,
        budget: int,
        events: list[Event],
        seq: int,
        ts: int,
    ) -> int:
        """Cross the taker against ``opp``; return what is left, or -1 if STP cancelled it.

        ``remaining`` is the taker's open quantity and ``budget`` the most it
        may fill now (less than ``remaining`` only for a cash-sized buy).

        Always takes the head of the best level: price priority from the heap,
        time priority from the queue. Emits trades, iceberg refills and
        self-trade cancels as they happen.
        """
        levels = opp.levels
        heap = opp.heap
        account = taker.account
        taker_id = taker.order_id
        side = taker.side
        symbol = taker.symbol
        orders = self.orders
        by_account = self.by_account
        first_trade = trade_id = self.next_trade_id
        first_price = last_price = 0
        settle = None if self.risk is None else self.risk.fill
        append = events.append
        price = 0
        notional = traded = 0
        while budget and heap:
            key = heap[0]  # never stale (book.py)
            if key > limit_key:
                break
            level = levels[key]
            queue = level.queue
            price = level.price
            while True:
                maker = queue[0]
                shown = maker.shown
                if not shown:
                    queue.popleft()
                    level.dead -= 1
                    continue
                if maker.account == account:
                    stp = taker.stp
                    if stp != "cancel_newest":
                        self._cancel_open(maker, "self_trade", events, seq, ts)
                    if stp != "cancel_oldest":
                        append(
                            OrderCancelled(
                                seq, ts, taker_id, account, symbol, remaining, "self_trade"
                            )
                        )
                        remaining = -1
                        break
                    if key not in levels:
                        break
                    continue
                if budget < shown:
                    fill = budget
                    shown -= budget
                else:
                    fill = shown
                    shown = 0
                budget -= fill
                remaining -= fill
                traded += fill
                notional += price * fill
                maker.shown = shown
                maker.filled += fill
                level.qty -= fill
                if settle is None:
                    quote = taker_fee = maker_fee = 0
                else:
                    quote, taker_fee, maker_fee = settle(taker, maker, price, fill, remaining)
                append(
                    TradeExecuted(
                        seq,
                        ts,
                        trade_id,
                        symbol,
                        price,
                        fill,
                        side,
                        taker_id,
                        account,
                        remaining,
                        maker.order_id,
                        maker.account,
                        shown + maker.hidden,
                        quote,
                        taker_fee,
                        maker_fee,
                    )
                )
                trade_id += 1
                last_price = price
                if not first_price:
                    first_price = price
                if not shown:
                    queue.popleft()
                    hidden = maker.hidden
                    if hidden:
                        slice_ = maker.display_qty if hidden > maker.display_qty else hidden
                        maker.hidden = hidden - slice_
                        maker.shown = slice_
                        maker.priority = self.stamp(seq)
                        queue.append(maker)
                        level.qty += slice_
                        append(
                            IcebergRefilled(
                                seq,
                                ts,
                                maker.order_id,
                                maker.account,
                                symbol,
                                slice_,
                                maker.hidden,
                            )
                        )
                    else:
                        # Filled: give back any hold left (price improvement,
                        # rounding) and leave the indexes (_forget, inlined).
                        if settle is not None and maker.hold:
                            self.risk.release(maker)  # type: ignore[union-attr]
                        maker_id = maker.order_id
                        del orders[maker_id]
                        del by_account[maker.account][maker_id]
                        if maker.cl_ord_id is not None:
                            del self.by_clid[(maker.account, maker.cl_ord_id)]
                        if not level.qty:
                            opp.drop_level(key)
                            break
                if not budget:
                    break
            if remaining < 0:
                break
        if trade_id != first_trade:
            self.next_trade_id = trade_id
            book.last_price = last_price
            stops = book.stops
            if stops.rising or stops.falling:
                # Only a book with waiting stops needs its prints checked.
                book.note_prints(first_price, last_price)
            if book.window is not None:
                self._new_reference(book, book.window.add(ts, notional, traded), events, seq, ts)
        return remaining

    def _new_reference(
        self, book: OrderBook, price: int, events: list[Event], seq: int, ts: int
    ) -> None:
        """Move the reference (and the band) to ``price`` if it differs; publish it."""
        risk = self.risk
        assert risk is not None  # only books with risk keep a window
        m = risk.markets[book.symbol]
        book.reference_ts = ts
        if price != m.reference:
            risk.set_reference(book.symbol, price)
            assert m.low is not None and m.high is not None
            events.append(ReferencePriceSet(seq, ts, book.symbol, price, m.low, m.high))

    def _set_fast(self, book: OrderBook) -> None:
        """Allow the plain-limit fast path when matching is on and a band can be checked."""
        book.fast = book.open and (
            self.risk is None or self.risk.markets[book.symbol].high is not None
        )

    def _run_stops(self, book: OrderBook, events: list[Event], seq: int, ts: int) -> None:
        """Trigger every stop the prints since the last check reached, until none is due.

        Resets the book's unchecked print range; call it after anything that
        may have traded. Triggered stops execute in acceptance order; their
        own prints are checked in the next round.
        """
        stops = book.stops
        low, high = book.lo, book.hi
        while low is not None and high is not None and book.open:
            book.lo = book.hi = None
            if not stops:
                return
            risk = self.risk
            for order in stops.pop_due(low, high, self.orders):
                order.stop = False
                events.append(
                    OrderTriggered(
                        seq,
                        ts,
                        order.order_id,
                        order.account,
                        order.symbol,
                        order.trigger_price,
                        book.last_price or 0,
                    )
                )
                if risk is not None:
                    # It enters the book now: the band applies as to a new order,
                    # and with no reference price there is no band to trade in.
                    if risk.band(order.symbol) is None:
                        self._close(order, "price_band", events, seq, ts)
                        continue
                    if order.order_type in MARKET_KINDS:
                        risk.cap_market(order)
                    elif risk.band_check(order.symbol, order.side, order.price) is not None:
                        self._close(order, "price_band", events, seq, ts)
                        continue
                self._execute(order, book, events, seq, ts, True)
            low, high = book.lo, book.hi

    # ------------------------------------------------------------ bookkeeping

    def _index(self, order: Order) -> None:
        """Enter an order into the open-order indexes (id, account, cl_ord_id, expiry)."""
        order_id = order.order_id
        self.orders[order_id] = order
        acct = self.by_account.get(order.account)
        if acct is None:
            acct = self.by_account[order.account] = OrderIndex()
        acct[order_id] = order
        if order.cl_ord_id is not None:
            self.by_clid[(order.account, order.cl_ord_id)] = order
        if order.expire_ts is not None:
            heappush(self.expiries, (order.expire_ts, order_id))

    def _forget(self, order: Order) -> None:
        """Remove a no-longer-open order from the indexes. Expiry entries go stale."""
        order_id = order.order_id
        del self.orders[order_id]
        del self.by_account[order.account][order_id]
        if order.cl_ord_id is not None:
            del self.by_clid[(order.account, order.cl_ord_id)]

    def _unbook(self, order: Order) -> int:
        """Take an open order out of its book or stop book and the indexes; return its leaves."""
        leaves = order.leaves
        if self.risk is not None:
            self.risk.release(order)
        if order.stop:
            order.stop = False
            order.shown = 0
        else:
            self.books[order.symbol].side(order.side).remove(order)
        order.hidden = 0
        self._forget(order)
        return leaves

    def _close(self, order: Order, reason: str, events: list[Event], seq: int, ts: int) -> None:
        """Cancel an open order that is in neither a book nor a stop book (just triggered)."""
        leaves = order.leaves
        order.shown = order.hidden = 0
        if self.risk is not None:
            self.risk.release(order)
        self._forget(order)
        events.append(
            OrderCancelled(seq, ts, order.order_id, order.account, order.symbol, leaves, reason)
        )

    def _cancel_open(
        self, order: Order, reason: str, events: list[Event], seq: int, ts: int
    ) -> None:
        leaves = self._unbook(order)
        events.append(
            OrderCancelled(seq, ts, order.order_id, order.account, order.symbol, leaves, reason)
        )

    def find_order(self, account: str, order_id: int | None, cl_ord_id: str | None) -> Order | None:
        """The account's open order by id or cl_ord_id; None if unknown or someone else's."""
        return self._find(account, order_id, cl_ord_id)

    def _find(self, account: str, order_id: int | None, cl_ord_id: str | None) -> Order | None:
        """The account's open order by id or cl_ord_id; None if unknown or someone else's."""
        if order_id is not None:
            order = self.orders.get(order_id)
            if order is None or order.account != account:
                return None
            return order
        if cl_ord_id is not None:
            return self.by_clid.get((account, cl_ord_id))
        return None


def crosses(opp: BookSide, price: int) -> bool:
    """Whether an order at ``price`` would take liquidity from side ``opp``."""
    best = opp.best()
    return best is not None and best.price * opp.sign <= price * opp.sign


def _preview(
    opp: BookSide, limit_key: int, qty: int, account: str, stp: str
) -> list[tuple[int, int]]:
    """The fills an incoming order of ``qty`` would get now, as (price, lots). Reads only.

    A dry run of the matcher over every level within the limit: own orders
    stop the taker (cancel_newest, cancel_both) or vanish (cancel_oldest),
    and iceberg slices refill to the back, exactly as matching would do.
    O(levels log levels + orders touched).
    """
    fills: list[tuple[int, int]] = []
    need = qty
    levels = opp.levels
    for key in sorted(k for k in levels if k <= limit_key):
        level = levels[key]
        queue = [(o.account, o.shown, o.hidden, o.display_qty) for o in level.live()]
        i = 0
        while i < len(queue):
            acct, shown, hidden, display = queue[i]
            i += 1
            if acct == account:
                if stp != "cancel_oldest":
                    return fills
                continue
            take = need if need < shown else shown
            fills.append((level.price, take))
            need -= take
            if not need:
                return fills
            if hidden:
                slice_ = display if hidden > display else hidden
                queue.append((acct, slice_, hidden - slice_, display))
    return fills


def _fok_fillable(opp: BookSide, limit_key: int, qty: int, account: str, stp: str) -> bool:
    """Whether a fill-or-kill taker of ``qty`` would fill completely now. Reads only."""
    return sum(lots for _, lots in _preview(opp, limit_key, qty, account, stp)) == qty


if COMPILED and not TYPE_CHECKING:
    # The compiled build's _place, _execute, _rest, _unbook, _cancel_open,
    # _run_stops, matching loop and dry run (engine/_core.pyx), on the same state.
    from engine import _core

    Matcher._match = _core._match  # type: ignore[method-assign]
    Matcher._place = _core._place  # type: ignore[method-assign]
    Matcher._execute = _core._execute  # type: ignore[method-assign]
    Matcher._rest = _core._rest  # type: ignore[method-assign]
    Matcher._unbook = _core._unbook  # type: ignore[method-assign]
    Matcher._run_stops = _core._run_stops  # type: ignore[method-assign]
    Matcher._cancel_open = _core._cancel_open  # type: ignore[method-assign]
    _preview = _core._preview
    _fok_fillable = _core._fok_fillable
