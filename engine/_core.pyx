# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled build's hot paths of the engine: process, cancel and the matching loop.

Each function here stands in for the method of the same name in the pure
build and follows it line by line: ``process`` for :meth:`Engine.process`
(engine/engine.py, with its plain GTC limit fast path), ``_on_cancel`` and
``_match`` for the methods of those names (engine/engine.py,
engine/matching.py; the same names, so a bound method pickles as the pure
build's would). Read those first: the comments there explain the
steps. The state is the pure build's (books, levels, heaps, deques, the
order indexes); what changes is that the order record is a typed extension
class (model/_order.pyx) whose quantities are C integers, the risk steps are
called as C functions (risk/_fast.pyx), and locals are C integers. Every
other command handler, and everything rare (stops, auctions, corporate
actions), runs the pure build's code on the same state.
"""

from heapq import heappop

from model._order cimport Order
from model._slots cimport slot, slot_offset, slot_set
from risk._fast cimport c_admit, c_fill, c_release

from engine.book import COMPACT_SLACK as _COMPACT_SLACK, BookSide, Level, OrderBook
from engine.events import (
    IcebergRefilled,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    TradeExecuted,
)
from model.commands import CancelOrder, NewOrder


cdef long long COMPACT_SLACK = _COMPACT_SLACK
cdef int PRIORITY_SHIFT = 32

# Offsets of the slots read on every command (model/_slots.h): the command's
# fields (read once each), and the book's sides and levels.
cdef Py_ssize_t C_SEQ = slot_offset(NewOrder, "seq")
cdef Py_ssize_t C_TS = slot_offset(NewOrder, "ts")
cdef Py_ssize_t C_ACCOUNT = slot_offset(NewOrder, "account")
cdef Py_ssize_t C_SYMBOL = slot_offset(NewOrder, "symbol")
cdef Py_ssize_t C_SIDE = slot_offset(NewOrder, "side")
cdef Py_ssize_t C_QTY = slot_offset(NewOrder, "qty")
cdef Py_ssize_t C_PRICE = slot_offset(NewOrder, "price")
cdef Py_ssize_t C_ORDER_TYPE = slot_offset(NewOrder, "order_type")
cdef Py_ssize_t C_TIF = slot_offset(NewOrder, "tif")
cdef Py_ssize_t C_POST_ONLY = slot_offset(NewOrder, "post_only")
cdef Py_ssize_t C_CL_ORD_ID = slot_offset(NewOrder, "cl_ord_id")
cdef Py_ssize_t C_USERREF = slot_offset(NewOrder, "userref")
cdef Py_ssize_t C_STP = slot_offset(NewOrder, "stp")
cdef Py_ssize_t X_SEQ = slot_offset(CancelOrder, "seq")
cdef Py_ssize_t X_TS = slot_offset(CancelOrder, "ts")
cdef Py_ssize_t X_ACCOUNT = slot_offset(CancelOrder, "account")
cdef Py_ssize_t X_ORDER_ID = slot_offset(CancelOrder, "order_id")
cdef Py_ssize_t B_FAST = slot_offset(OrderBook, "fast")
cdef Py_ssize_t B_BIDS = slot_offset(OrderBook, "bids")
cdef Py_ssize_t B_ASKS = slot_offset(OrderBook, "asks")
cdef Py_ssize_t B_WINDOW = slot_offset(OrderBook, "window")
cdef Py_ssize_t S_HEAP = slot_offset(BookSide, "heap")
cdef Py_ssize_t S_LEVELS = slot_offset(BookSide, "levels")
cdef Py_ssize_t S_STALE = slot_offset(BookSide, "stale")
cdef Py_ssize_t S_SIGN = slot_offset(BookSide, "sign")
cdef Py_ssize_t L_QTY = slot_offset(Level, "qty")
cdef Py_ssize_t L_DEAD = slot_offset(Level, "dead")
cdef Py_ssize_t L_QUEUE = slot_offset(Level, "queue")
cdef Py_ssize_t L_PRICE = slot_offset(Level, "price")


cdef inline Order _new_limit(long long seq, str account, str symbol, str side,
                             long long price, long long qty, str stp, object clid,
                             object userref):
    """The record of a plain GTC limit order (``Order(seq, account, ...)`` in engine.py)."""
    cdef Order o = Order.__new__(Order)
    o.order_id = seq
    o.account = account
    o.symbol = symbol
    o.side = side
    o.price = price
    o.qty = qty
    o.shown = qty
    o.stp = stp
    o.cl_ord_id = clid
    o.userref = userref
    o.priority = 0
    o.order_type = "limit"
    o.tif = "gtc"
    o.cost = 0
    o.fee = 0
    return o


def process(self, c):
    """Engine.process, compiled (see engine/engine.py)."""
    cdef Order order
    cdef long long price, qty, key
    cdef bint duplicate
    cdef list heap
    cdef dict levels
    seq = c.seq
    last = self.last_seq
    if seq <= last:
        from engine.engine import SequenceError

        raise SequenceError(f"seq {seq} is not after {last}")
    self.last_seq = seq
    kind = type(c)
    if kind is not NewOrder:
        if kind is CancelOrder:
            out = _on_cancel(self, c)
        else:
            out = self._handlers[kind](c)
        if self.hooks:
            self._after(out, seq, c.ts)
        return out
    # A NewOrder: every field it has is read once, by offset.
    symbol = slot(c, C_SYMBOL)
    book = self.books.get(symbol)
    if (
        book is None
        or not slot(book, B_FAST)
        or slot(c, C_ORDER_TYPE) != "limit"
        or slot(c, C_TIF) != "gtc"
        or slot(c, C_POST_ONLY)
    ):
        out = self._on_new_order(c)
        if self.hooks:
            self._after(out, seq, slot(c, C_TS))
        return out
    account = slot(c, C_ACCOUNT)
    clid = slot(c, C_CL_ORD_ID)
    by_clid = self.by_clid
    duplicate = clid is not None and (account, clid) in by_clid
    side = slot(c, C_SIDE)
    qty = slot(c, C_QTY)
    price = slot(c, C_PRICE)
    ts = slot(c, C_TS)
    order = _new_limit(
        seq, account, symbol, side, price, qty, slot(c, C_STP), clid, slot(c, C_USERREF)
    )
    risk = self.risk
    by_account = self.by_account
    if risk is not None:
        mine = by_account.get(account)
        refusal = c_admit(risk, c, order, len(mine) if mine else 0, duplicate, True)
        if refusal is not None:
            return [OrderRejected(seq, ts, account, refusal[0], refusal[1], None, clid)]
    elif duplicate:
        text = f"cl_ord_id {clid!r}: already open"
        return [OrderRejected(seq, ts, account, "duplicate_cl_ord_id", text, None, clid)]
    events = [OrderAccepted(seq, ts, seq, c)]
    if side == "buy":
        opp = slot(book, B_ASKS)
        own = slot(book, B_BIDS)
        key = price
    else:
        opp = slot(book, B_BIDS)
        own = slot(book, B_ASKS)
        key = -price
    heap = slot(opp, S_HEAP)
    if heap and <long long>heap[0] <= key:
        self._execute(order, book, events, seq, ts, False)
        if book.lo is not None:
            self._run_stops(book, events, seq, ts)
        if self.hooks:
            self._after(events, seq, ts)
        return events
    order.priority = seq << PRIORITY_SHIFT
    levels = slot(own, S_LEVELS)
    level = levels.get(-key)
    if level is None:
        own.add(order)
    else:
        slot(level, L_QUEUE).append(order)
        slot_set(level, L_QTY, slot(level, L_QTY) + qty)
    self.orders[seq] = order
    acct = by_account.get(account)
    if acct is None:
        by_account[account] = {seq: order}
    else:
        acct[seq] = order
    if clid is not None:
        by_clid[(account, clid)] = order
    if slot(book, B_WINDOW) is not None:
        self._check_edge(self.sessions[symbol], ts)
    return events


def _on_cancel(self, c):
    """Engine._on_cancel, compiled (see engine/engine.py)."""
    cdef Order order
    cdef long long shown, leaves, key, dead, qty
    order_id = slot(c, X_ORDER_ID)
    if order_id is None:
        return self._cancel_by_tag(c)
    seq = slot(c, X_SEQ)
    ts = slot(c, X_TS)
    account = slot(c, X_ACCOUNT)
    order = self.orders.get(order_id)
    if order is None or order.account != account:
        return [OrderRejected(seq, ts, account, "unknown_order", "", order_id, None)]
    if order.stop:
        events = []
        self._cancel_open(order, "user", events, seq, ts)
        return events
    shown = order.shown
    leaves = shown + order.hidden
    risk = self.risk
    if risk is not None:
        c_release(risk, order)
    book = self.books[order.symbol]
    side = slot(book, B_BIDS) if order.side == "buy" else slot(book, B_ASKS)
    key = order.price * <long long>slot(side, S_SIGN)
    level = (<dict>slot(side, S_LEVELS))[key]
    qty = slot(level, L_QTY)
    qty -= shown
    slot_set(level, L_QTY, qty)
    order.shown = 0
    order.hidden = 0
    if not qty:
        side.drop_level(key)
    else:
        dead = slot(level, L_DEAD)
        dead += 1
        slot_set(level, L_DEAD, dead)
        if dead > COMPACT_SLACK and 2 * dead > len(slot(level, L_QUEUE)):
            level.compact()
    del self.orders[order_id]
    del self.by_account[account][order_id]
    if order.cl_ord_id is not None:
        del self.by_clid[(account, order.cl_ord_id)]
    return [OrderCancelled(seq, ts, order_id, account, order.symbol, leaves, "user")]


def _match(self, Order taker, book, opp, long long limit_key, long long remaining,
          long long budget, list events, seq, ts):
    """Matcher._match, compiled (see engine/matching.py)."""
    cdef Order maker
    cdef long long key, price, shown, fill, hidden, slice_, level_qty
    cdef long long first_price = 0, last_price = 0
    cdef long long traded = 0
    cdef list heap = slot(opp, S_HEAP)
    cdef dict levels = slot(opp, S_LEVELS)
    cdef set stale = slot(opp, S_STALE)
    cdef dict orders = self.orders
    cdef dict by_account = self.by_account
    account = taker.account
    taker_id = taker.order_id
    side = taker.side
    symbol = taker.symbol
    first_trade = trade_id = self.next_trade_id
    risk = self.risk
    cdef bint settle = risk is not None
    append = events.append
    notional = 0
    price = 0
    while budget and heap:
        key = heap[0]
        if key in stale:
            stale.discard(key)
            heappop(heap)
            continue
        if key > limit_key:
            break
        level = levels[key]
        queue = slot(level, L_QUEUE)
        price = slot(level, L_PRICE)
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
                        OrderCancelled(seq, ts, taker_id, account, symbol, remaining, "self_trade")
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
            notional += <object>price * fill
            maker.shown = shown
            maker.filled += fill
            level_qty = slot(level, L_QTY)
            level_qty -= fill
            slot_set(level, L_QTY, level_qty)
            if settle:
                quote, taker_fee, maker_fee = c_fill(risk, taker, maker, price, fill, remaining)
            else:
                quote = taker_fee = maker_fee = 0
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
                            seq, ts, maker.order_id, maker.account, symbol, slice_, maker.hidden
                        )
                    )
                else:
                    if settle and maker.hold:
                        c_release(risk, maker)
                    maker_id = maker.order_id
                    del orders[maker_id]
                    del by_account[maker.account][maker_id]
                    if maker.cl_ord_id is not None:
                        del self.by_clid[(maker.account, maker.cl_ord_id)]
                    if not slot(level, L_QTY):
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
            book.note_prints(first_price, last_price)
        window = book.window
        if window is not None:
            self._new_reference(book, window.add(ts, notional, traded), events, seq, ts)
    return remaining
