"""The matching engine: commands in, events out, one instrument book per symbol.

Pure and deterministic: no clock, no randomness, no I/O. The only input is a
:class:`~engine.commands.Command` stamped with ``seq`` and ``ts``; the only
output is the list of events it caused. The same commands replayed into a
fresh engine give the same events and the same :meth:`Engine.state_hash`.

Matching is price-time priority. A trade prints at the resting order's
price. The rules for each order type, time in force, amend, replace and
self-trade prevention are in docs/MATCHING.md; the code below follows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from heapq import heappop, heappush
from typing import Any

from engine.book import COMPACT_SLACK, BookSide, OrderBook
from engine.commands import (
    MARKET_KINDS,
    STOP_KINDS,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    ExpireOrders,
    NewOrder,
    ReplaceOrder,
)
from engine.events import (
    Event,
    IcebergRefilled,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    TradeExecuted,
)
from engine.instrument import Instrument
from engine.order import Order
from engine.state import EngineStateMixin
from engine.stops import StopBook

__all__ = ["Engine", "SequenceError"]

# A limit key no level key can exceed: a market order with no protection price.
_NO_LIMIT = 1 << 62


class SequenceError(ValueError):
    """A command arrived with a sequence number that is not after the last one."""


class _Invalid(Exception):
    """A command's arguments broke a rule; carries the reject reason and text."""

    def __init__(self, reason: str, text: str = "") -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text


class Engine(EngineStateMixin):
    """All books of one engine shard, the open-order indexes and the id counters.

    Call :meth:`process` with each command in sequence order.
    """

    __slots__ = (
        "_handlers",
        "books",
        "by_account",
        "by_clid",
        "expiries",
        "instruments",
        "last_seq",
        "next_priority",
        "next_trade_id",
        "orders",
        "stops",
    )

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in instruments}
        self.books: dict[str, OrderBook] = {s: OrderBook(s) for s in self.instruments}
        self.stops: dict[str, StopBook] = {s: StopBook() for s in self.instruments}
        self.orders: dict[int, Order] = {}
        self.by_account: dict[str, dict[int, Order]] = {}
        self.by_clid: dict[tuple[str, str], Order] = {}
        self.expiries: list[tuple[int, int]] = []
        self.last_seq = 0
        self.next_trade_id = 1
        self.next_priority = 1
        self._handlers: dict[type, Callable[[Any], list[Event]]] = {
            NewOrder: self._on_new_order,
            CancelOrder: self._on_cancel,
            AmendOrder: self._on_amend,
            ReplaceOrder: self._on_replace,
            CancelAll: self._on_cancel_all,
            ExpireOrders: self._on_expire,
        }

    # ------------------------------------------------------------------ entry

    def process(self, c: Command) -> list[Event]:
        """Apply one command and return everything it caused, in order.

        Raises :class:`SequenceError` if ``c.seq`` is not after the last
        command's; nothing changes then.
        """
        seq = c.seq
        if seq <= self.last_seq:
            raise SequenceError(f"seq {seq} is not after {self.last_seq}")
        self.last_seq = seq
        if type(c) is not NewOrder:
            return self._handlers[type(c)](c)
        book = self.books.get(c.symbol)
        if (
            book is None
            or c.order_type != "limit"
            or c.tif != "gtc"
            or c.post_only
            or c.cl_ord_id is not None
            or c.userref is not None
        ):
            return self._on_new_order(c)
        # The plain GTC limit order, most of all traffic: the same steps as
        # _place and _execute, inlined, and a resting order added in place.
        ts = c.ts
        price = c.price
        assert price is not None
        events: list[Event] = [
            OrderAccepted(seq, ts, seq, c.account, c.symbol, c.side, "limit", "gtc", c.qty, price)
        ]
        order = Order(seq, c.account, c.symbol, c.side, price, c.qty, c.qty)
        if c.side == "buy":
            opp = book.asks
            own = book.bids
            limit_key = price
        else:
            opp = book.bids
            own = book.asks
            limit_key = -price
        heap = opp.heap
        if heap and heap[0] <= limit_key:
            last = book.last_price
            self._execute(order, book, events, seq, ts, False)
            if book.last_price != last and self.stops[c.symbol]:
                self._run_stops(book, events, seq, ts)
            return events
        order.priority = self.next_priority
        self.next_priority += 1
        key = price * own.sign
        level = own.levels.get(key)
        if level is None:
            own.add(order)
        else:
            level.queue.append(order)
            level.qty += c.qty
            level.count += 1
        self.orders[seq] = order
        acct = self.by_account.get(c.account)
        if acct is None:
            acct = self.by_account[c.account] = {}
        acct[seq] = order
        return events

    def next_expiry(self) -> int | None:
        """The earliest time an open GTD or DAY order expires, or None.

        The sequencer sends :class:`ExpireOrders` at that instant.
        """
        heap = self.expiries
        orders = self.orders
        while heap:
            expire_ts, order_id = heap[0]
            order = orders.get(order_id)
            if order is not None and order.expire_ts == expire_ts:
                return expire_ts
            heappop(heap)
        return None

    # -------------------------------------------------------------- new order

    def _on_new_order(self, c: NewOrder) -> list[Event]:
        book = self.books.get(c.symbol)
        if book is None:
            return [
                OrderRejected(
                    c.seq,
                    c.ts,
                    c.account,
                    "unknown_symbol",
                    f"symbol {c.symbol!r}: not listed",
                    None,
                    c.cl_ord_id,
                )
            ]
        try:
            self._check_new(c, book, None)
        except _Invalid as e:
            return [_reject(c, e.reason, e.text, None)]
        events: list[Event] = []
        self._place(c, book, events, None)
        return events

    def _check_new(self, c: NewOrder, book: OrderBook, replacing: Order | None) -> None:
        """Raise :class:`_Invalid` if a new order breaks a rule that needs engine state.

        The command checked its own fields when it was built. ``replacing`` is
        the order a cancel-and-replace is about to cancel: its cl_ord_id does
        not count as a duplicate. Changes nothing.
        """
        clid = c.cl_ord_id
        if clid is not None:
            holder = self.by_clid.get((c.account, clid))
            if holder is not None and holder is not replacing:
                raise _Invalid("duplicate_cl_ord_id", f"cl_ord_id {clid!r}: already open")
        if c.post_only:
            assert c.price is not None
            if _crosses(book.opposite(c.side), c.price):
                raise _Invalid("post_only", "post_only: order would take liquidity")

    def _place(
        self, c: NewOrder, book: OrderBook, events: list[Event], replaces: int | None
    ) -> None:
        """Accept a checked new order: match it, rest it or park it as a stop."""
        order_id = c.seq
        seq = c.seq
        ts = c.ts
        kind = c.order_type
        events.append(
            OrderAccepted(
                seq,
                ts,
                order_id,
                c.account,
                c.symbol,
                c.side,
                kind,
                c.tif,
                c.qty,
                c.price,
                c.display_qty,
                c.trigger_price,
                c.expire_ts,
                c.post_only,
                c.cl_ord_id,
                c.userref,
                replaces,
            )
        )
        order = Order(
            order_id,
            c.account,
            c.symbol,
            c.side,
            c.price or 0,
            c.qty,
            c.qty,
            0,
            0,
            kind,
            c.tif,
            c.display_qty or 0,
            c.expire_ts,
            c.post_only,
            c.trigger_price or 0,
            c.cl_ord_id,
            c.userref,
            c.stp,
        )
        if kind in STOP_KINDS:
            order.stop = True
            order.priority = self.next_priority
            self.next_priority += 1
            self._index(order)
            self.stops[c.symbol].push(order)
            if book.last_price is not None:
                self._run_stops(book, events, seq, ts)
            return
        last = book.last_price
        self._execute(order, book, events, seq, ts, False)
        if book.last_price != last:
            self._run_stops(book, events, seq, ts)

    # --------------------------------------------------------------- matching

    def _execute(
        self, order: Order, book: OrderBook, events: list[Event], seq: int, ts: int, indexed: bool
    ) -> None:
        """Trade ``order`` (leaves in ``order.shown``) against the book, then rest or cancel.

        ``indexed`` says whether the order is already in the open-order
        indexes (a triggered stop or an amended order) or not (a new one).
        """
        opp = book.opposite(order.side)
        market = order.order_type in MARKET_KINDS
        price = order.price
        limit_key = _NO_LIMIT if market and not price else price * opp.sign
        remaining = order.shown
        tif = order.tif
        if tif == "fok" and not _fok_fillable(opp, limit_key, remaining, order.account, order.stp):
            order.shown = 0
            events.append(
                OrderCancelled(
                    seq,
                    ts,
                    order.order_id,
                    order.account,
                    order.symbol,
                    remaining,
                    "fok_unfillable",
                )
            )
            if indexed:
                self._forget(order)
            return
        remaining = self._match(order, book, opp, limit_key, remaining, events, seq, ts)
        if remaining < 0:  # self-trade prevention cancelled the rest of the order
            order.shown = 0
            if indexed:
                self._forget(order)
            return
        if not remaining:
            order.shown = 0
            if indexed:
                self._forget(order)
            return
        if market or tif == "ioc" or tif == "fok":
            order.shown = 0
            reason = "ioc_remainder"
            if market and opp.best() is not None:
                reason = "price_band"
            events.append(
                OrderCancelled(
                    seq, ts, order.order_id, order.account, order.symbol, remaining, reason
                )
            )
            if indexed:
                self._forget(order)
            return
        order.filled = order.qty - remaining
        display = order.display_qty
        if display and remaining > display:
            order.shown = display
            order.hidden = remaining - display
        else:
            order.shown = remaining
            order.hidden = 0
        order.priority = self.next_priority
        self.next_priority += 1
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
        events: list[Event],
        seq: int,
        ts: int,
    ) -> int:
        """Cross the taker against ``opp``; return what is left, or -1 if STP cancelled it.

        Always takes the head of the best level: price priority from the heap,
        time priority from the queue. Emits trades, iceberg refills and
        self-trade cancels as they happen.
        """
        levels = opp.levels
        heap = opp.heap
        stale = opp.stale
        account = taker.account
        taker_id = taker.order_id
        side = taker.side
        symbol = taker.symbol
        trade_id = self.next_trade_id
        append = events.append
        price = 0
        while remaining and heap:
            key = heap[0]
            if key in stale:
                stale.discard(key)
                heappop(heap)
                continue
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
                if remaining < shown:
                    fill = remaining
                    shown -= remaining
                    remaining = 0
                else:
                    fill = shown
                    remaining -= shown
                    shown = 0
                maker.shown = shown
                maker.filled += fill
                level.qty -= fill
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
                    )
                )
                trade_id += 1
                book.last_price = price
                if not shown:
                    queue.popleft()
                    hidden = maker.hidden
                    if hidden:
                        slice_ = maker.display_qty if hidden > maker.display_qty else hidden
                        maker.hidden = hidden - slice_
                        maker.shown = slice_
                        maker.priority = self.next_priority
                        self.next_priority += 1
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
                        level.count -= 1
                        self._forget(maker)
                        if not level.count:
                            opp.drop_level(key)
                            break
                if not remaining:
                    break
            if remaining < 0:
                break
        self.next_trade_id = trade_id
        return remaining

    def _run_stops(self, book: OrderBook, events: list[Event], seq: int, ts: int) -> None:
        """Trigger every stop the last trade price has reached, until none is due."""
        stops = self.stops[book.symbol]
        while stops:
            last = book.last_price
            if last is None:
                return
            due = stops.pop_due(last, self.orders)
            if not due:
                return
            for order in due:
                order.stop = False
                events.append(
                    OrderTriggered(
                        seq,
                        ts,
                        order.order_id,
                        order.account,
                        order.symbol,
                        order.trigger_price,
                        last,
                    )
                )
                self._execute(order, book, events, seq, ts, True)

    # ------------------------------------------------------------ bookkeeping

    def _index(self, order: Order) -> None:
        """Enter an order into the open-order indexes (id, account, cl_ord_id, expiry)."""
        order_id = order.order_id
        self.orders[order_id] = order
        acct = self.by_account.get(order.account)
        if acct is None:
            acct = self.by_account[order.account] = {}
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
        leaves = order.shown + order.hidden
        if order.stop:
            order.stop = False
            order.shown = 0
        else:
            self.books[order.symbol].side(order.side).remove(order)
        order.hidden = 0
        self._forget(order)
        return leaves

    def _cancel_open(
        self, order: Order, reason: str, events: list[Event], seq: int, ts: int
    ) -> None:
        leaves = self._unbook(order)
        events.append(
            OrderCancelled(seq, ts, order.order_id, order.account, order.symbol, leaves, reason)
        )

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

    # ---------------------------------------------------------------- cancels

    def _on_cancel(self, c: CancelOrder) -> list[Event]:
        order_id = c.order_id
        if order_id is not None:
            order = self.orders.get(order_id)
            if order is None or order.account != c.account:
                return [OrderRejected(c.seq, c.ts, c.account, "unknown_order", "", order_id, None)]
            if order.stop:
                events: list[Event] = []
                self._cancel_open(order, "user", events, c.seq, c.ts)
                return events
            # The common cancel of a resting order, inlined: BookSide.remove
            # and _forget without the calls.
            shown = order.shown
            leaves = shown + order.hidden
            side = self.books[order.symbol].side(order.side)
            key = order.price * side.sign
            level = side.levels[key]
            level.qty -= shown
            order.shown = 0
            order.hidden = 0
            level.count -= 1
            if not level.count:
                side.drop_level(key)
            elif len(level.queue) > 2 * level.count + COMPACT_SLACK:
                level.compact()
            del self.orders[order_id]
            del self.by_account[c.account][order_id]
            if order.cl_ord_id is not None:
                del self.by_clid[(c.account, order.cl_ord_id)]
            return [OrderCancelled(c.seq, c.ts, order_id, c.account, order.symbol, leaves, "user")]
        if c.userref is not None:
            targets = [
                o for o in self.by_account.get(c.account, {}).values() if o.userref == c.userref
            ]
        else:
            order = self._find(c.account, None, c.cl_ord_id)
            targets = [] if order is None else [order]
        if not targets:
            return [_reject(c, "unknown_order", "", None)]
        events = []
        for order in targets:
            self._cancel_open(order, "user", events, c.seq, c.ts)
        return events

    def _on_cancel_all(self, c: CancelAll) -> list[Event]:
        events: list[Event] = []
        acct = self.by_account.get(c.account)
        if acct:
            symbol = c.symbol
            targets = [o for o in acct.values() if symbol is None or o.symbol == symbol]
            for order in targets:
                self._cancel_open(order, c.reason, events, c.seq, c.ts)
        return events

    def _on_expire(self, c: ExpireOrders) -> list[Event]:
        events: list[Event] = []
        heap = self.expiries
        orders = self.orders
        ts = c.ts
        while heap and heap[0][0] <= ts:
            expire_ts, order_id = heappop(heap)
            order = orders.get(order_id)
            if order is None or order.expire_ts != expire_ts:
                continue
            leaves = self._unbook(order)
            events.append(OrderExpired(c.seq, ts, order_id, order.account, order.symbol, leaves))
        return events

    # ----------------------------------------------------------------- amends

    def _on_amend(self, c: AmendOrder) -> list[Event]:
        order = self._find(c.account, c.order_id, c.cl_ord_id)
        if order is None:
            return [_reject(c, "unknown_order", "", c.order_id, c.cl_ord_id)]
        try:
            return self._amend(c, order)
        except _Invalid as e:
            return [_reject(c, e.reason, e.text, order.order_id, order.cl_ord_id)]

    def _amend(self, c: AmendOrder, order: Order) -> list[Event]:
        qty = order.qty if c.qty is None else c.qty
        price = order.price if c.price is None else c.price
        display = order.display_qty if c.display_qty is None else c.display_qty
        trigger = order.trigger_price if c.trigger_price is None else c.trigger_price
        if qty <= order.filled:
            raise _Invalid(
                "invalid_arguments", f"order_qty {qty}: at or below the filled {order.filled}"
            )
        if price <= 0 and (c.price is not None or order.order_type not in MARKET_KINDS):
            raise _Invalid("invalid_arguments", f"limit_price {price}: must be positive")
        if c.display_qty is not None and (order.order_type != "iceberg" or not 0 < display < qty):
            raise _Invalid(
                "invalid_arguments", f"display_qty {display}: must be above 0 and below order_qty"
            )
        if c.trigger_price is not None and (order.order_type not in STOP_KINDS or trigger <= 0):
            raise _Invalid("invalid_arguments", f"triggers {trigger}: not a valid trigger here")
        book = self.books[order.symbol]
        leaves = qty - order.filled
        seq, ts = c.seq, c.ts
        events: list[Event] = []
        if order.stop:
            order.qty, order.price, order.shown, order.display_qty = qty, price, leaves, display
            if trigger != order.trigger_price:
                order.trigger_price = trigger
                order.priority = self.next_priority
                self.next_priority += 1
                self.stops[order.symbol].push(order)
            events.append(self._amended(c, order, True))
            self._run_stops(book, events, seq, ts)
            return events
        shown_now = order.shown
        if price == order.price and leaves <= shown_now + order.hidden:
            # Nothing grows: the order keeps its place. The hidden reserve
            # shrinks first; a smaller display applies to the current slice.
            new_shown = min(shown_now, leaves, display) if display else leaves
            own = book.side(order.side)
            own.levels[price * own.sign].qty += new_shown - shown_now
            order.qty, order.shown, order.hidden = qty, new_shown, leaves - new_shown
            order.display_qty = display
            events.append(self._amended(c, order, True))
            return events
        if (c.post_only or order.post_only) and _crosses(book.opposite(order.side), price):
            raise _Invalid("post_only", "post_only: the amended order would take liquidity")
        book.side(order.side).remove(order)
        moved = Order(
            order.order_id,
            order.account,
            order.symbol,
            order.side,
            price,
            qty,
            leaves,
            0,
            order.filled,
            order.order_type,
            order.tif,
            display,
            order.expire_ts,
            order.post_only or c.post_only,
            order.trigger_price,
            order.cl_ord_id,
            order.userref,
            order.stp,
        )
        self._reindex(moved)
        events.append(self._amended(c, moved, False))
        last = book.last_price
        self._execute(moved, book, events, seq, ts, True)
        if book.last_price != last:
            self._run_stops(book, events, seq, ts)
        return events

    def _amended(self, c: AmendOrder, order: Order, kept: bool) -> OrderAmended:
        return OrderAmended(
            c.seq,
            c.ts,
            order.order_id,
            order.account,
            order.symbol,
            order.qty,
            order.price,
            order.shown + order.hidden,
            order.display_qty or None,
            order.trigger_price or None,
            kept,
        )

    def _reindex(self, order: Order) -> None:
        """Point the indexes at a new record for the same order id."""
        self.orders[order.order_id] = order
        self.by_account[order.account][order.order_id] = order
        if order.cl_ord_id is not None:
            self.by_clid[(order.account, order.cl_ord_id)] = order

    def _on_replace(self, c: ReplaceOrder) -> list[Event]:
        old = self._find(c.account, c.order_id, c.cl_ord_id)
        if old is None:
            return [_reject(c, "unknown_order", "", c.order_id, c.cl_ord_id)]
        qty = old.qty if c.qty is None else c.qty
        if qty <= old.filled:
            return [
                _reject(
                    c,
                    "invalid_arguments",
                    f"order_qty {qty}: at or below the filled {old.filled}",
                    old.order_id,
                    old.cl_ord_id,
                )
            ]
        new = NewOrder(
            c.seq,
            c.ts,
            old.account,
            old.symbol,
            old.side,  # type: ignore[arg-type]
            qty - old.filled,
            (old.price or None) if c.price is None else c.price,
            old.order_type,  # type: ignore[arg-type]
            old.tif,  # type: ignore[arg-type]
            old.expire_ts,
            old.post_only if c.post_only is None else c.post_only,
            (old.display_qty or None) if c.display_qty is None else c.display_qty,
            (old.trigger_price or None) if c.trigger_price is None else c.trigger_price,
            old.cl_ord_id if c.new_cl_ord_id is None else c.new_cl_ord_id,
            old.userref if c.userref is None else c.userref,
            old.stp,  # type: ignore[arg-type]
        )
        try:
            self._check_new(new, self.books[old.symbol], old)
        except _Invalid as e:
            return [_reject(c, e.reason, e.text, old.order_id, old.cl_ord_id)]
        events: list[Event] = []
        self._cancel_open(old, "replaced", events, c.seq, c.ts)
        self._place(new, self.books[old.symbol], events, old.order_id)
        return events


def _crosses(opp: BookSide, price: int) -> bool:
    """Whether an order at ``price`` would take liquidity from side ``opp``."""
    best = opp.best()
    return best is not None and best.price * opp.sign <= price * opp.sign


def _fok_fillable(opp: BookSide, limit_key: int, qty: int, account: str, stp: str) -> bool:
    """Whether a fill-or-kill taker of ``qty`` would fill completely now. Reads only.

    A dry run of the matcher over every level within the limit: own orders
    stop the taker (cancel_newest, cancel_both) or vanish (cancel_oldest),
    and iceberg slices refill to the back, exactly as matching would do.
    """
    need = qty
    levels = opp.levels
    for key in sorted(k for k in levels if k <= limit_key):
        queue = [(o.account, o.shown, o.hidden, o.display_qty) for o in levels[key].live()]
        i = 0
        while i < len(queue):
            acct, shown, hidden, display = queue[i]
            i += 1
            if acct == account:
                if stp != "cancel_oldest":
                    return False
                continue
            if need <= shown:
                return True
            need -= shown
            if hidden:
                slice_ = display if hidden > display else hidden
                queue.append((acct, slice_, hidden - slice_, display))
    return False


def _reject(
    c: NewOrder | CancelOrder | AmendOrder | ReplaceOrder,
    reason: str,
    text: str,
    order_id: int | None,
    cl_ord_id: str | None = None,
) -> OrderRejected:
    return OrderRejected(
        c.seq,
        c.ts,
        c.account,
        reason,
        text,
        order_id,
        c.cl_ord_id if cl_ord_id is None else cl_ord_id,
    )
