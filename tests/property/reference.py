"""A small, obviously correct reference of the matching rules in docs/MATCHING.md.

Written from the rulebook, not from ``engine/``: the book is one plain list of
resting records, sorted by (price priority, time priority) every time it is
read; time priority is a global counter stamped whenever an order joins the
back of a queue. Open orders are found by scanning lists. Fill-or-kill is
decided by matching on a deep copy and looking at what is left. Slow on
purpose: the only goal is to be easy to check by reading. Where the rulebook
leaves room, it takes the engine's reading (said where it does), and it
writes the engine's words for reject texts.

It takes the same commands as :class:`engine.engine.Engine` and returns the
same event objects, field for field, so a test can compare the two after
every command. :func:`reference_view` and :func:`engine_view` reduce both to
the same canonical plain data.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from engine.engine import Engine
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
from model.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    CommandError,
    NewOrder,
    ReplaceOrder,
    RunTimers,
)

__all__ = ["Rec", "Reference", "View", "engine_view", "reference_view"]

# Kinds that trade at any price up to an optional protection price.
MARKET = frozenset({"market", "stop-loss", "take-profit"})
STOPS = frozenset({"stop-loss", "stop-loss-limit", "take-profit", "take-profit-limit"})
# What a new order, its OrderAccepted and its record share (all but the id and stp).
_ORDER_FIELDS = ("account", "symbol", "side", "order_type", "tif", "price", "qty", "trigger_price")
_ORDER_FIELDS += ("display_qty", "expire_ts", "post_only", "cl_ord_id", "userref")

# Per symbol: (bids, asks, waiting stops, last price, details of every open order).
View = dict[str, tuple[Any, ...]]


@dataclass(eq=False)
class Rec:
    """One order. ``visible``/``hidden`` are meaningful only while it rests."""

    order_id: int
    account: str
    symbol: str
    side: str
    order_type: str
    tif: str
    price: int | None  # limit price; for market kinds the protection price or None
    qty: int  # total, filled part included
    trigger_price: int | None
    display_qty: int | None
    expire_ts: int | None
    post_only: bool
    cl_ord_id: str | None
    userref: int | None
    stp: str
    filled: int = 0
    visible: int = 0
    hidden: int = 0
    time: int = 0  # time priority (or, for a waiting stop, acceptance order)

    @property
    def leaves(self) -> int:
        return self.qty - self.filled


def _reaches(side: str, limit: int | None, price: int) -> bool:
    """Whether an order of ``side`` with ``limit`` (None: any) may trade at ``price``."""
    if limit is None:
        return True
    return price <= limit if side == "buy" else price >= limit


def _due(stop: Rec, low: int, high: int) -> bool:
    """Whether some print between ``low`` and ``high`` reached the stop's trigger."""
    assert stop.trigger_price is not None
    rising = stop.order_type.startswith("stop-loss") == (stop.side == "buy")
    return high >= stop.trigger_price if rising else low <= stop.trigger_price


class Reference:
    """The reference engine: ``process(command) -> list[Event]``."""

    def __init__(self, symbols: list[str]) -> None:
        self.last: dict[str, int | None] = dict.fromkeys(symbols)
        # Every trade price printed since stops were last checked, per symbol.
        self.prints: dict[str, list[int]] = {s: [] for s in symbols}
        self.book: list[Rec] = []  # resting orders of every symbol, in no order
        self.stops: list[Rec] = []  # untriggered stops of every symbol, in no order
        self.trade_id = 1
        self.clock = 0
        self.last_seq = 0
        self.seq = 0
        self.ts = 0
        self.out: list[Event] = []

    # ------------------------------------------------------------- queries

    def open_orders(self) -> list[Rec]:
        """Every open order (resting or waiting stop), oldest (lowest id) first."""
        return sorted(self.book + self.stops, key=lambda o: o.order_id)

    def side(self, symbol: str, side: str) -> list[Rec]:
        """Resting orders of one side, best price first, then oldest first."""
        sign = -1 if side == "buy" else 1
        mine = [o for o in self.book if o.symbol == symbol and o.side == side]
        return sorted(mine, key=lambda o: (sign * (o.price or 0), o.time))

    def next_timer(self) -> int | None:
        times = [o.expire_ts for o in self.open_orders() if o.expire_ts is not None]
        return min(times, default=None)

    def _find(self, account: str, order_id: int | None, cl_ord_id: str | None) -> Rec | None:
        """The account's open order with ``order_id``, or if that is None with ``cl_ord_id``."""
        for o in self.open_orders():
            named = o.order_id == order_id if order_id is not None else o.cl_ord_id == cl_ord_id
            if o.account == account and named:
                return o
        return None

    def _would_take(self, symbol: str, side: str, price: int | None) -> bool:
        opp = self.side(symbol, "sell" if side == "buy" else "buy")
        return bool(opp) and _reaches(side, price, opp[0].price or 0)

    # --------------------------------------------------------------- entry

    def process(self, c: Command) -> list[Event]:
        if c.seq <= self.last_seq:
            raise ValueError(f"seq {c.seq} is not after {self.last_seq}")
        self.last_seq = self.seq = c.seq
        self.ts = c.ts
        self.out = []
        if isinstance(c, NewOrder):
            self._new_order(c)
        elif isinstance(c, CancelOrder):
            self._cancel(c)
        elif isinstance(c, AmendOrder):
            self._amend(c)
        elif isinstance(c, ReplaceOrder):
            self._replace(c)
        elif isinstance(c, CancelAll):
            for o in self.open_orders():
                if o.account == c.account and c.symbol in (None, o.symbol):
                    self._remove(o, c.reason)
        else:
            assert isinstance(c, RunTimers)
            due = [o for o in self.open_orders() if o.expire_ts and o.expire_ts <= c.ts]
            for o in sorted(due, key=lambda o: (o.expire_ts, o.order_id)):
                self._take_out(o)
                self._emit(OrderExpired, o.order_id, o.account, o.symbol, o.leaves)
        return self.out

    def _emit(self, kind: type[Any], *fields: Any, **named: Any) -> None:
        self.out.append(kind(self.seq, self.ts, *fields, **named))

    def _reject(self, c: Any, reason: str, text: str, order_id: int | None, clid: Any) -> None:
        self._emit(OrderRejected, c.account, reason, text, order_id, clid)

    def _tick(self) -> int:
        self.clock += 1
        return self.clock

    def _take_out(self, o: Rec) -> None:
        if o in self.stops:
            self.stops.remove(o)
        else:
            self.book.remove(o)

    def _remove(self, o: Rec, reason: str) -> None:
        """Cancel an open order with ``reason``."""
        self._take_out(o)
        self._emit(OrderCancelled, o.order_id, o.account, o.symbol, o.leaves, reason)

    # ----------------------------------------------------------- new orders

    def _new_order(self, c: NewOrder) -> None:
        if c.symbol not in self.last:
            text = f"symbol {c.symbol!r}: not listed"
            self._reject(c, "unknown_symbol", text, None, c.cl_ord_id)
            return
        problem = self._check_new(c, None)
        if problem:
            self._reject(c, problem[0], problem[1], None, c.cl_ord_id)
            return
        self._place(c, None)

    def _check_new(self, c: NewOrder, replacing: Rec | None) -> tuple[str, str] | None:
        if c.cl_ord_id is not None:
            for o in self.open_orders():
                if o.account == c.account and o.cl_ord_id == c.cl_ord_id and o is not replacing:
                    return "duplicate_cl_ord_id", f"cl_ord_id {c.cl_ord_id!r}: already open"
        if c.post_only and self._would_take(c.symbol, c.side, c.price):
            return "post_only", "post_only: order would take liquidity"
        return None

    def _place(self, c: NewOrder, replaces: int | None) -> None:
        fields = {f: getattr(c, f) for f in _ORDER_FIELDS}
        self._emit(OrderAccepted, c.seq, c, replaces)
        o = Rec(c.seq, **fields, stp=c.stp)
        if c.order_type in STOPS:
            o.time = self._tick()
            self.stops.append(o)
            last = self.last[c.symbol]
            if last is not None:  # a trigger the last price already reached fires at once
                self.prints[c.symbol].append(last)
        else:
            self._execute(o)
        self._run_stops(c.symbol)

    # ------------------------------------------------------------- matching

    def _match(self, t: Rec) -> bool:
        """Trade the incoming ``t`` against the book. False if self-trade prevention killed it."""
        other = "sell" if t.side == "buy" else "buy"
        while t.leaves > 0:
            opp = self.side(t.symbol, other)
            if not opp or not _reaches(t.side, t.price, opp[0].price or 0):
                return True
            m = opp[0]
            if m.account == t.account:
                if t.stp in ("cancel_oldest", "cancel_both"):
                    self._remove(m, "self_trade")
                if t.stp in ("cancel_newest", "cancel_both"):
                    self._emit(
                        OrderCancelled, t.order_id, t.account, t.symbol, t.leaves, "self_trade"
                    )
                    return False
                continue
            fill = min(t.leaves, m.visible)
            t.filled += fill
            m.filled += fill
            m.visible -= fill
            price = m.price or 0
            taker = (t.side, t.order_id, t.account, t.leaves)
            maker = (m.order_id, m.account, m.leaves)
            self._emit(TradeExecuted, self.trade_id, t.symbol, price, fill, *taker, *maker)
            self.trade_id += 1
            self.last[t.symbol] = price
            self.prints[t.symbol].append(price)
            if m.visible == 0 and m.hidden > 0:
                assert m.display_qty is not None
                m.visible = min(m.display_qty, m.hidden)
                m.hidden -= m.visible
                m.time = self._tick()  # the new slice joins the back of the queue
                self._emit(IcebergRefilled, m.order_id, m.account, m.symbol, m.visible, m.hidden)
            elif m.visible == 0:
                self.book.remove(m)
        return True

    def _fills_completely(self, t: Rec) -> bool:
        """The fill-or-kill dry run: match a copy against a copy of everything."""
        trial = copy.deepcopy(self)
        probe = copy.deepcopy(t)
        return trial._match(probe) and probe.leaves == 0

    def _execute(self, t: Rec) -> None:
        """An incoming order (new, triggered or moved by an amend): match, then rest or cancel."""
        if t.tif == "fok" and not self._fills_completely(t):
            self._emit(OrderCancelled, t.order_id, t.account, t.symbol, t.leaves, "fok_unfillable")
            return
        if not self._match(t) or t.leaves == 0:
            return
        market = t.order_type in MARKET
        if market or t.tif in ("ioc", "fok"):
            other = "sell" if t.side == "buy" else "buy"
            # What is left of a market order's opposite side lies beyond its protection.
            beyond = market and bool(self.side(t.symbol, other))
            reason = "price_band" if beyond else "ioc_remainder"
            self._emit(OrderCancelled, t.order_id, t.account, t.symbol, t.leaves, reason)
            return
        t.visible = t.leaves
        if t.display_qty is not None:
            t.visible = min(t.display_qty, t.leaves)
        t.hidden = t.leaves - t.visible
        t.time = self._tick()
        self.book.append(t)

    def _run_stops(self, symbol: str) -> None:
        """Trigger every due stop, oldest acceptance first, until none is due.

        A stop is due when any trade printed since the last check reached its
        trigger (not only the last one); due stops fire in acceptance order, and
        the prints of their executions are checked in the next round.
        """
        while prints := self.prints[symbol]:
            low, high = min(prints), max(prints)
            prints.clear()
            due = [s for s in self.stops if s.symbol == symbol and _due(s, low, high)]
            for s in sorted(due, key=lambda s: s.time):
                self.stops.remove(s)
                last = self.last[symbol]
                assert last is not None
                self._emit(OrderTriggered, s.order_id, s.account, symbol, s.trigger_price, last)
                self._execute(s)

    # -------------------------------------------------------------- cancels

    def _cancel(self, c: CancelOrder) -> None:
        if c.order_id is not None:
            o = self._find(c.account, c.order_id, None)
            if o is None:
                self._reject(c, "unknown_order", "", c.order_id, None)
            else:
                self._remove(o, "user")
            return
        if c.userref is not None:
            mine = [o for o in self.open_orders() if o.account == c.account]
            targets = [o for o in mine if o.userref == c.userref]
        else:
            found = self._find(c.account, None, c.cl_ord_id)
            targets = [] if found is None else [found]
        if not targets:
            self._reject(c, "unknown_order", "", None, c.cl_ord_id)
        for o in targets:
            self._remove(o, "user")

    # --------------------------------------------------------------- amends

    def _amend(self, c: AmendOrder) -> None:
        o = self._find(c.account, c.order_id, c.cl_ord_id)
        if o is None:
            self._reject(c, "unknown_order", "", c.order_id, c.cl_ord_id)
            return
        qty = o.qty if c.qty is None else c.qty
        price = o.price if c.price is None else c.price
        display = o.display_qty if c.display_qty is None else c.display_qty
        trigger = o.trigger_price if c.trigger_price is None else c.trigger_price
        leaves = qty - o.filled
        text = None
        if qty <= o.filled:
            text = f"order_qty {qty}: at or below the filled {o.filled}"
        elif c.display_qty is not None and (
            o.order_type != "iceberg" or not 0 < c.display_qty < leaves
        ):
            text = f"display_qty {display}: must be above 0 and below the open quantity"
        elif c.trigger_price is not None and o not in self.stops:
            text = f"triggers {trigger}: only a waiting stop has a trigger"
        if text is not None:
            self._reject(c, "invalid_arguments", text, o.order_id, o.cl_ord_id)
        elif o in self.stops:
            kept = trigger == o.trigger_price
            o.qty, o.price, o.display_qty, o.trigger_price = qty, price, display, trigger
            self._amended(o, kept)
            last = self.last[o.symbol]
            if not kept:
                o.time = self._tick()  # a new trigger counts as a new acceptance
                if last is not None:  # and fires at once if the last price reached it
                    self.prints[o.symbol].append(last)
                    self._run_stops(o.symbol)
        elif price == o.price and leaves <= o.leaves:
            # Nothing grows: the order keeps its place; the hidden reserve shrinks first.
            o.qty, o.display_qty = qty, display
            o.visible = leaves if display is None else min(o.visible, leaves, display)
            o.hidden = leaves - o.visible
            self._amended(o, True)
        elif (c.post_only or o.post_only) and self._would_take(o.symbol, o.side, price):
            text = "post_only: the amended order would take liquidity"
            self._reject(c, "post_only", text, o.order_id, o.cl_ord_id)
        else:
            # Back of the queue at the (new) price, matching first as an incoming order.
            self.book.remove(o)
            o.qty, o.price, o.display_qty = qty, price, display
            o.post_only = o.post_only or c.post_only
            self._amended(o, False)
            self._execute(o)
            self._run_stops(o.symbol)

    def _amended(self, o: Rec, kept: bool) -> None:
        now = (o.qty, o.price, o.leaves, o.display_qty, o.trigger_price, kept)
        self._emit(OrderAmended, o.order_id, o.account, o.symbol, *now)

    def _replace(self, c: ReplaceOrder) -> None:
        old = self._find(c.account, c.order_id, c.cl_ord_id)
        if old is None:
            self._reject(c, "unknown_order", "", c.order_id, c.cl_ord_id)
            return
        qty = old.qty if c.qty is None else c.qty
        if qty <= old.filled:
            text = f"order_qty {qty}: at or below the filled {old.filled}"
            self._reject(c, "invalid_arguments", text, old.order_id, old.cl_ord_id)
            return
        fields = {f: getattr(old, f) for f in _ORDER_FIELDS}  # unset fields: copied
        fields["stp"] = old.stp
        fields["qty"] = qty - old.filled
        # A triggered stop-limit is replaced by a limit; giving it a trigger is an error.
        if old.order_type in STOPS and old not in self.stops:
            if c.trigger_price is not None:
                text = f"triggers {c.trigger_price}: only a waiting stop has a trigger"
                self._reject(c, "invalid_arguments", text, old.order_id, old.cl_ord_id)
                return
            fields["order_type"], fields["trigger_price"] = "limit", None
        inherited = old.display_qty if c.display_qty is None else None
        if old.order_type == "iceberg" and inherited is not None and inherited >= fields["qty"]:
            fields["order_type"], fields["display_qty"] = "limit", None  # under one slice left
        changes = {
            "price": c.price,
            "post_only": c.post_only,
            "display_qty": c.display_qty,
            "trigger_price": c.trigger_price,
            "cl_ord_id": c.new_cl_ord_id,
            "userref": c.userref,
        }
        fields.update((k, v) for k, v in changes.items() if v is not None)
        try:
            new = NewOrder(c.seq, c.ts, **fields)
        except CommandError as e:  # the replacement breaks a new order's own rules
            self._reject(c, "invalid_arguments", str(e), old.order_id, old.cl_ord_id)
            return
        problem = self._check_new(new, old)
        if problem:
            self._reject(c, problem[0], problem[1], old.order_id, old.cl_ord_id)
            return
        self._remove(old, "replaced")
        self._place(new, old.order_id)


# ------------------------------------------------------------ canonical views


def _resting(o: Any, shown: int) -> tuple[Any, ...]:
    return (o.order_id, o.account, o.price, shown, o.hidden, o.filled, o.qty)


def _details(o: Any) -> tuple[Any, ...]:
    # The engine writes 0 for "no price / trigger / display", the reference None.
    numbers = (o.price or None, o.trigger_price or None, o.display_qty or None)
    more = (o.side, o.order_type, o.tif, o.expire_ts, o.post_only, o.cl_ord_id, o.userref, o.stp)
    return (o.order_id, *numbers, *more)


def reference_view(ref: Reference) -> View:
    """Per symbol: bids and asks in priority order, waiting stops, last price, open orders.

    A resting order is ``(order_id, account, price, visible, hidden, filled, qty)``; a
    stop ``(order_id, account, trigger, leaves)``; the last part lists every open
    order's other fields, by id.
    """
    view: View = {}
    for symbol in sorted(ref.last):
        stops = [o for o in ref.stops if o.symbol == symbol]
        view[symbol] = (
            [_resting(o, o.visible) for o in ref.side(symbol, "buy")],
            [_resting(o, o.visible) for o in ref.side(symbol, "sell")],
            sorted((o.order_id, o.account, o.trigger_price, o.leaves) for o in stops),
            ref.last[symbol],
            [_details(o) for o in ref.open_orders() if o.symbol == symbol],
        )
    return view


def engine_view(engine: Engine) -> View:
    """The same view, read out of the real engine's books and open-order index."""
    view: View = {}
    for symbol in sorted(engine.books):
        book = engine.books[symbol]
        mine = sorted(
            (o for o in engine.orders.values() if o.symbol == symbol), key=lambda o: o.order_id
        )
        view[symbol] = (
            [_resting(o, o.shown) for o in book.bids.orders()],
            [_resting(o, o.shown) for o in book.asks.orders()],
            sorted((o.order_id, o.account, o.trigger_price, o.leaves) for o in mine if o.stop),
            book.last_price,
            [_details(o) for o in mine],
        )
    return view
