"""The matching engine: commands in, events out, one instrument book per symbol.

Pure and deterministic: no clock, no randomness, no I/O. The only input is a
:class:`~model.commands.Command` stamped with ``seq`` and ``ts``; the only
output is the list of events it caused. The same commands replayed into a
fresh engine give the same events and the same :meth:`Engine.state_hash`.

Matching is price-time priority. A trade prints at the resting order's
price. The rules for each order type, time in force, amend, replace and
self-trade prevention are in docs/MATCHING.md; the code below follows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from model.build import COMPILED
from model.commands import (
    MARKET_KINDS,
    STOP_KINDS,
    AmendOrder,
    BatchOrder,
    CancelAll,
    CancelAllAfter,
    CancelOrder,
    Command,
    CommandError,
    CorporateAction,
    Deposit,
    Halt,
    NewOrder,
    ReplaceOrder,
    Resume,
    RunTimers,
    SetKillSwitch,
    SetReferencePrice,
    Withdraw,
)
from model.instrument import Instrument
from model.order import Order, OrderIndex, order_for
from risk.risk import Risk

from engine.batch import Batches
from engine.book import COMPACT_SLACK, OrderBook
from engine.events import (
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderRejected,
)
from engine.matching import PRIORITY_SHIFT, crosses

__all__ = ["Engine", "SequenceError"]


class SequenceError(ValueError):
    """A command arrived with a sequence number that is not after the last one."""


class _Invalid(Exception):
    """A command's arguments broke a rule; carries the reject reason and text."""

    def __init__(self, reason: str, text: str = "") -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text


class Engine(Batches):
    """All books of one engine shard: call :meth:`process` with each command in order."""

    __slots__ = ("_handlers",)

    def __init__(
        self,
        instruments: Iterable[Instrument],
        risk: Risk | None = None,
        start_ts: int | None = None,
    ) -> None:
        """Books for ``instruments``; ``risk`` None runs matching alone.

        ``start_ts`` (ns since the epoch, UTC) starts each instrument's
        schedule at that instant; None runs without one (always ``regular``).
        """
        super().__init__(instruments, risk, start_ts)
        self._handlers: dict[type, Callable[[Any], list[Event]]] = {
            NewOrder: self._on_new_order,
            BatchOrder: self._on_batch_order,
            CancelOrder: self._on_cancel,
            AmendOrder: self._on_amend,
            ReplaceOrder: self._on_replace,
            CancelAll: self._on_cancel_all,
            RunTimers: self._on_timers,
            Deposit: self._on_deposit,
            Withdraw: self._on_withdraw,
            SetKillSwitch: self._on_kill_switch,
            SetReferencePrice: self._on_reference,
            CancelAllAfter: self._on_cancel_all_after,
            Halt: self._on_halt,
            Resume: self._on_resume,
            CorporateAction: self._on_corporate_action,
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
            # The cancel, most of the rest of the traffic, skips the table.
            out = self._on_cancel(c) if type(c) is CancelOrder else self._handlers[type(c)](c)
            if self.hooks:
                self._after(out, seq, c.ts)
            return out
        book = self.books.get(c.symbol)
        if (
            book is None
            or not book.fast
            or c.order_type != "limit"
            or c.tif != "gtc"
            or c.post_only
        ):
            out = self._on_new_order(c)
            if self.hooks:
                self._after(out, seq, c.ts)
            return out
        # The plain GTC limit order, most of all traffic: the steps of
        # _check_new, _place and _execute inlined, and a non-crossing order
        # added in place.
        account = c.account
        clid = c.cl_ord_id
        duplicate = clid is not None and (account, clid) in self.by_clid
        side = c.side
        qty = c.qty
        price: int = c.price  # type: ignore[assignment]  # a limit order has one
        ts = c.ts
        order = Order(
            seq, account, c.symbol, side, price, qty, qty, c.stp, 0, 0, False, clid, c.userref
        )
        risk = self.risk
        if risk is not None:
            mine = self.by_account.get(account)
            refusal = risk.admit(c, order, len(mine) if mine else 0, duplicate, True)
            if refusal is not None:
                return [OrderRejected(seq, ts, account, refusal[0], refusal[1], None, clid)]
        elif duplicate:
            text = f"cl_ord_id {clid!r}: already open"
            return [OrderRejected(seq, ts, account, "duplicate_cl_ord_id", text, None, clid)]
        events: list[Event] = [OrderAccepted(seq, ts, seq, c)]
        if side == "buy":
            opp = book.asks
            own = book.bids
            key = price
        else:
            opp = book.bids
            own = book.asks
            key = -price
        heap = opp.heap
        if heap and heap[0] <= key:
            self._execute(order, book, events, seq, ts, False)
            if book.lo is not None:
                self._run_stops(book, events, seq, ts)
            if self.hooks:
                self._after(events, seq, ts)
            return events
        order.priority = seq << PRIORITY_SHIFT
        level = own.levels.get(-key)
        if level is None:
            own.add(order)
        else:
            level.queue.append(order)
            level.qty += qty
        self.orders[seq] = order
        acct = self.by_account.get(account)
        if acct is None:
            acct = self.by_account[account] = OrderIndex()
        acct[seq] = order
        if clid is not None:
            self.by_clid[(account, clid)] = order
        if book.window is not None:
            self._check_edge(self.sessions[c.symbol], ts)
        return events

    # -------------------------------------------------------------- new order

    def _on_new_order(self, c: NewOrder) -> list[Event]:
        book = self.books.get(c.symbol)
        if book is None:
            text = f"symbol {c.symbol!r}: not listed"
            return [
                OrderRejected(c.seq, c.ts, c.account, "unknown_symbol", text, None, c.cl_ord_id)
            ]
        refusal = self._phase_refusal(c.symbol, c.order_type, c.tif)
        if refusal is not None:
            return [_reject(c, refusal[0], refusal[1], None)]
        order = order_for(c)
        refusal = self._admit(c, order, book, None)
        if refusal is not None:
            return [_reject(c, refusal[0], refusal[1], None)]
        events: list[Event] = []
        self._place(c, order, book, events, None)
        return events

    def _admit(
        self,
        c: NewOrder,
        order: Order,
        book: OrderBook,
        replacing: Order | None,
        pending: int = 0,
    ) -> tuple[str, str] | None:
        """Every check a new order faces, in the rulebook's order; changes nothing.

        The command checked its own fields when it was built. ``replacing`` is
        the order a cancel-and-replace is about to cancel: its cl_ord_id is not
        a duplicate and it does not count against the open-order limit.
        ``pending`` orders of a batch ahead of this one count as open.
        """
        clid = c.cl_ord_id
        holder = None if clid is None else self.by_clid.get((c.account, clid))
        duplicate = holder is not None and holder is not replacing
        if self.risk is not None:
            mine = len(self.by_account.get(c.account, ())) - (replacing is not None) + pending
            refusal = self.risk.admit(c, order, mine, duplicate)
            if refusal is not None:
                return refusal
        elif duplicate:
            return "duplicate_cl_ord_id", f"cl_ord_id {clid!r}: already open"
        if c.post_only:
            assert c.price is not None
            if crosses(book.opposite(c.side), c.price):
                return "post_only", "post_only: order would take liquidity"
        if not book.fast and book.open and c.order_type not in STOP_KINDS:
            # No reference price (market orders were refused by risk already).
            assert c.price is not None
            if crosses(book.opposite(c.side), c.price):
                return "price_band", _NO_REFERENCE
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
            if self.risk is not None:
                self.risk.release(order)
            book = self.books[order.symbol]
            side = book.bids if order.side == "buy" else book.asks
            key = order.price * side.sign
            level = side.levels[key]
            level.qty -= shown
            order.shown = 0
            order.hidden = 0
            if not level.qty:
                side.drop_level(key)
            else:
                level.dead += 1
                if level.dead > COMPACT_SLACK and 2 * level.dead > len(level.queue):
                    level.compact()
            del self.orders[order_id]
            del self.by_account[c.account][order_id]
            if order.cl_ord_id is not None:
                del self.by_clid[(c.account, order.cl_ord_id)]
            return [OrderCancelled(c.seq, c.ts, order_id, c.account, order.symbol, leaves, "user")]
        return self._cancel_by_tag(c)

    def _cancel_by_tag(self, c: CancelOrder) -> list[Event]:
        """A cancel naming its orders by userref or cl_ord_id, not by order id."""
        if c.userref is not None:
            targets = [
                o for o in self.by_account.get(c.account, {}).values() if o.userref == c.userref
            ]
        else:
            order = self._find(c.account, None, c.cl_ord_id)
            targets = [] if order is None else [order]
        if not targets:
            return [_reject(c, "unknown_order", "", None)]
        events: list[Event] = []
        for order in targets:
            self._cancel_open(order, "user", events, c.seq, c.ts)
        return events

    # ----------------------------------------------------------------- amends

    def _on_amend(self, c: AmendOrder) -> list[Event]:
        order = self._find(c.account, c.order_id, c.cl_ord_id)
        if order is None:
            return [_reject(c, "unknown_order", "", c.order_id, c.cl_ord_id)]
        refusal = self._phase_refusal(order.symbol, "amend", order.tif)
        if refusal is not None:
            return [_reject(c, refusal[0], refusal[1], order.order_id, order.cl_ord_id)]
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
        if c.display_qty is not None and (
            order.order_type != "iceberg" or not 0 < display < qty - order.filled
        ):
            raise _Invalid(
                "invalid_arguments",
                f"display_qty {display}: must be above 0 and below the open quantity",
            )
        if c.trigger_price is not None and not order.stop:
            raise _Invalid(
                "invalid_arguments", f"triggers {trigger}: only a waiting stop has a trigger"
            )
        book = self.books[order.symbol]
        leaves = qty - order.filled
        seq, ts = c.seq, c.ts
        risk = self.risk
        if risk is not None:
            _refuse(risk.check_amend(order, qty, price))
        events: list[Event] = []
        if order.stop:
            if risk is not None:
                _refuse(risk.rehold(order, price, leaves))
            order.qty, order.price, order.shown, order.display_qty = qty, price, leaves, display
            kept = trigger == order.trigger_price
            if not kept:
                order.trigger_price = trigger
                order.priority = self.stamp(c.seq)
                book.stops.push(order)
            events.append(self._amended(c, order, kept))
            if not kept and book.last_price is not None and book.open:
                # A new trigger already reached by the last trade price fires at once.
                book.note_prints(book.last_price, book.last_price)
                self._run_stops(book, events, seq, ts)
            return events
        shown_now = order.shown
        if price == order.price and leaves <= shown_now + order.hidden:
            # Nothing grows: the order keeps its place. The hidden reserve
            # shrinks first; a smaller display applies to the current slice.
            new_shown = min(shown_now, leaves, display) if display else leaves
            if risk is not None:
                _refuse(risk.rehold(order, price, leaves))  # smaller: never refused
            own = book.side(order.side)
            own.levels[price * own.sign].qty += new_shown - shown_now
            order.qty, order.shown, order.hidden = qty, new_shown, leaves - new_shown
            order.display_qty = display
            events.append(self._amended(c, order, True))
            return events
        if (c.post_only or order.post_only) and crosses(book.opposite(order.side), price):
            raise _Invalid("post_only", "post_only: the amended order would take liquidity")
        if not book.fast and book.open and crosses(book.opposite(order.side), price):
            raise _Invalid("price_band", _NO_REFERENCE)
        if risk is not None:
            _refuse(risk.rehold(order, price, leaves))
        book.side(order.side).remove(order)
        # A new record for the same order id: the old one stays in its level's
        # queue as a tombstone (positional arguments: see model/order.py).
        moved = Order(
            order.order_id,
            order.account,
            order.symbol,
            order.side,
            price,
            qty,
            leaves,
            order.stp,
            0,
            order.filled,
            False,
            order.cl_ord_id,
            order.userref,
            0,
            order.order_type,
            order.tif,
            display,
            order.expire_ts,
            order.post_only or c.post_only,
            order.trigger_price,
            order.hold,
            order.cost,
            order.fee,
            order.paid,
            order.notional,
            order.cash_qty,
        )
        order.hold = 0  # the new record holds it now
        self._reindex(moved)
        events.append(self._amended(c, moved, False))
        opp = book.opposite(moved.side)
        heap = opp.heap
        if book.open and heap and heap[0] <= price * opp.sign:
            self._execute(moved, book, events, seq, ts, True)
            if book.lo is not None:
                self._run_stops(book, events, seq, ts)
        else:
            # Nothing to cross (the common amend): straight to the back of
            # its new level, as _execute would do after an empty match.
            self._rest(moved, book, leaves, seq, True)
        return events

    def _amended(self, c: AmendOrder, order: Order, kept: bool) -> OrderAmended:
        return OrderAmended(
            c.seq,
            c.ts,
            order.order_id,
            order.account,
            order.symbol,
            order.qty,
            order.price or None,
            order.leaves,
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
        new_qty = qty - old.filled
        kind = old.order_type
        display = (old.display_qty or None) if c.display_qty is None else c.display_qty
        trigger = (old.trigger_price or None) if c.trigger_price is None else c.trigger_price
        if kind in STOP_KINDS and not old.stop:
            # A stop-limit that has triggered rests as a limit order; its
            # replacement is that limit order, not a new waiting stop.
            if c.trigger_price is not None:
                text = f"triggers {c.trigger_price}: only a waiting stop has a trigger"
                return [_reject(c, "invalid_arguments", text, old.order_id, old.cl_ord_id)]
            kind, trigger = "limit", None
        if kind == "iceberg" and c.display_qty is None and display and display >= new_qty:
            # Fills have left less than one slice: the replacement shows it all.
            kind, display = "limit", None
        try:
            new = NewOrder(
                c.seq,
                c.ts,
                old.account,
                old.symbol,
                old.side,  # type: ignore[arg-type]
                new_qty,
                (old.price or None) if c.price is None else c.price,
                kind,  # type: ignore[arg-type]
                old.tif,  # type: ignore[arg-type]
                old.expire_ts,
                old.post_only if c.post_only is None else c.post_only,
                display,
                trigger,
                old.cl_ord_id if c.new_cl_ord_id is None else c.new_cl_ord_id,
                old.userref if c.userref is None else c.userref,
                old.stp,  # type: ignore[arg-type]
            )
        except CommandError as e:
            return [_reject(c, "invalid_arguments", str(e), old.order_id, old.cl_ord_id)]
        refusal = self._phase_refusal(new.symbol, new.order_type, new.tif)
        if refusal is not None:
            return [_reject(c, refusal[0], refusal[1], old.order_id, old.cl_ord_id)]
        book = self.books[old.symbol]
        order = order_for(new)
        # The new order may use what the old one holds: check it with the old
        # hold given back, and take it back if the replace is refused.
        held = old.hold
        if self.risk is not None:
            self.risk.release(old)
        refusal = self._admit(new, order, book, old)
        if refusal is not None:
            if self.risk is not None:
                old.hold = held
                self.risk.reserve(old)
            return [_reject(c, refusal[0], refusal[1], old.order_id, old.cl_ord_id)]
        events: list[Event] = []
        self._cancel_open(old, "replaced", events, c.seq, c.ts)
        self._place(new, order, book, events, old.order_id)
        return events


_NO_REFERENCE = "limit_price: no reference price, so only an order that rests is accepted"


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


def _refuse(refusal: tuple[str, str] | None) -> None:
    """Raise a risk refusal as an :class:`_Invalid`."""
    if refusal is not None:
        raise _Invalid(*refusal)


if COMPILED and not TYPE_CHECKING:
    # The compiled build (model/build.py): the hot paths of engine/_core.pyx
    # stand in for the methods above, on the same state.
    from engine import _core

    # The offsets of Engine's own slots (hooks, the handler table, sessions),
    # and the pure methods the compiled ones fall back on (read before the
    # compiled ones replace them below).
    _core.bind(Engine, _NO_REFERENCE, _reject)
    Engine.process = _core.process  # type: ignore[method-assign]
    Engine._admit = _core._admit  # type: ignore[method-assign]
    Engine._on_replace = _core._on_replace  # type: ignore[method-assign]
    # engine/phases.py's band-edge watch after each command, and its timers' scan.
    Engine._after = _core._after  # type: ignore[method-assign]
    Engine._check_edge = _core._check_edge  # type: ignore[method-assign]
    Engine._next_due = _core._next_due  # type: ignore[method-assign]
    Engine._sessions_due = _core._sessions_due  # type: ignore[method-assign]
    Engine._phase_refusal = _core._phase_refusal  # type: ignore[method-assign]
    Engine._expire = _core._expire  # type: ignore[method-assign]
    # A RunTimers with no dead man's switch armed and no corporate action
    # pending: the expiries and the sessions' timers without the three
    # Python methods above them (the pure chain otherwise).
    Engine._on_timers = _core._on_timers  # type: ignore[method-assign]
    Engine._on_cancel = _core._on_cancel  # type: ignore[method-assign]
    Engine._on_amend = _core._on_amend  # type: ignore[method-assign]
