"""Whole-engine state: a canonical fingerprint and the invariant checker.

Kept apart from the matching code: neither is on the hot path, and both read
the engine's structures without changing anything a command could observe.
"""

from __future__ import annotations

import hashlib

import msgspec
from model.instrument import Instrument
from model.order import Order, order_tuple
from risk.risk import Risk

from engine.book import BookSide, OrderBook
from engine.stops import StopBook, rises_to_trigger

__all__ = ["EngineStateMixin", "InvariantError", "fingerprint"]

_encode = msgspec.msgpack.Encoder().encode

# MessagePack holds integers from -2**63 to 2**64 - 1. An order's cost and fee
# (sums of price x qty, and of that x basis points) and its priority stamp
# (seq << 32) can pass that; the fingerprint writes such an integer as an
# extension of this type holding its two's-complement bytes, big-endian, so
# it stays exact and cannot be mistaken for any other value.
_WIDE_INT = 1
_MIN, _MAX = -(1 << 63), (1 << 64) - 1


def _exact(value: object) -> object:
    """``value`` with every integer MessagePack cannot hold as a wide-integer extension."""
    if type(value) is int:
        if _MIN <= value <= _MAX:
            return value
        size = (value.bit_length() + 8) // 8  # room for the sign bit
        return msgspec.msgpack.Ext(_WIDE_INT, value.to_bytes(size, "big", signed=True))
    if isinstance(value, (list, tuple)):
        return [_exact(v) for v in value]
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    return value


def fingerprint(state: object) -> str:
    """BLAKE2b (32 bytes, hex) of ``state`` as MessagePack, integers exact at any size.

    A state whose integers all fit 64 bits hashes as its plain MessagePack
    encoding; only a state holding a wider integer takes the slower walk.
    """
    try:
        data = _encode(state)
    except OverflowError:
        data = _encode(_exact(state))
    return hashlib.blake2b(data, digest_size=32).hexdigest()


class InvariantError(AssertionError):
    """The engine's state broke an invariant: a bug, never a user error."""


class EngineStateMixin:
    """State fingerprint and invariants for :class:`engine.engine.Engine`."""

    __slots__ = ()

    instruments: dict[str, Instrument]
    books: dict[str, OrderBook]
    orders: dict[int, Order]
    by_account: dict[str, dict[int, Order]]
    by_clid: dict[tuple[str, str], Order]
    last_seq: int
    next_trade_id: int
    risk: Risk | None

    def canonical_state(self) -> list[object]:
        """The state as plain data in a canonical order (queue order included).

        Two engines with equal canonical state react identically to any
        future command. O(orders log levels).
        """
        books: list[object] = []
        for symbol in sorted(self.books):
            book = self.books[symbol]
            stops = sorted(
                (o for o in self.orders.values() if o.stop and o.symbol == symbol),
                key=_order_id,
            )
            books.append(
                [
                    symbol,
                    book.last_price,
                    book.lo,
                    book.hi,
                    [order_tuple(o) for o in book.bids.orders()],
                    [order_tuple(o) for o in book.asks.orders()],
                    [order_tuple(o) for o in stops],
                ]
            )
        # next_priority is left out: it only orders stamps within one command
        # (see Matcher.stamp), so it carries nothing into the next one.
        money = None if self.risk is None else self.risk.canonical_state()
        return [self.last_seq, self.next_trade_id, books, money]

    def state_hash(self) -> str:
        """A hex fingerprint of :meth:`canonical_state` (:func:`fingerprint`)."""
        return fingerprint(self.canonical_state())

    def check_invariants(self) -> None:
        """Raise :class:`InvariantError` if any structural invariant is broken.

        Checks: no book is crossed; every level's totals equal its live
        orders; queues are in strictly increasing priority (FIFO); the heap
        holds each level key once; every open order is in exactly one place
        (its level or its stop book) and in every index that names it; with
        risk, assets conserved and holds equal to open orders' needs.
        O(orders + queue tombstones + accounts x assets).
        """
        seen: dict[int, Order] = {}
        for symbol, book in self.books.items():
            bid, ask = book.best_bid(), book.best_ask()
            if book.open:  # an auction call collects crossing orders on purpose
                _check(bid is None or ask is None or bid < ask, f"{symbol}: crossed {bid} >= {ask}")
            for side in (book.bids, book.asks):
                self._check_side(symbol, side, seen)
        for order in self.orders.values():
            if order.stop:
                _check(order.order_id not in seen, f"stop {order.order_id} also rests")
                _check(order.shown == order.qty - order.filled, f"stop {order.order_id} qty")
                stops = self.books[order.symbol].stops
                _check(_stop_watched(stops, order), f"stop {order.order_id}")
                seen[order.order_id] = order
        _check(seen.keys() == self.orders.keys(), "order index differs from the books")
        for order_id, order in seen.items():
            _check(self.orders[order_id] is order, f"order {order_id}: index holds another record")
        flat = {i: o for acct in self.by_account.values() for i, o in acct.items()}
        _check(flat == self.orders, "account index differs from the order index")
        for (account, clid), order in self.by_clid.items():
            _check(
                self.orders.get(order.order_id) is order
                and order.account == account
                and order.cl_ord_id == clid,
                f"cl_ord_id index entry {account}/{clid} is stale",
            )
        named = sum(1 for o in self.orders.values() if o.cl_ord_id is not None)
        _check(named == len(self.by_clid), "cl_ord_id index misses orders")
        if self.risk is not None:
            self.risk.check_invariants(self.orders.values())

    def _check_side(self, symbol: str, side: BookSide, seen: dict[int, Order]) -> None:
        heap_keys = list(side.heap)
        _check(len(heap_keys) == len(set(heap_keys)), f"{symbol} {side.side}: duplicate heap keys")
        _check(
            set(heap_keys) == side.levels.keys() | side.stale
            and not (side.levels.keys() & side.stale),
            f"{symbol} {side.side}: heap does not match levels and stale keys",
        )
        _check(
            not heap_keys or heap_keys[0] in side.levels,
            f"{symbol} {side.side}: a stale key on top of the heap",
        )
        for key, level in side.levels.items():
            _check(key == level.price * side.sign, f"{symbol}: level key {key} for {level.price}")
            live = list(level.live())
            where = f"{symbol} {side.side} {level.price}"
            _check(len(live) > 0, f"{where}: empty level kept")
            _check(level.dead == len(level.queue) - len(live), f"{where}: dead {level.dead}")
            _check(level.qty == sum(o.shown for o in live), f"{where}: qty {level.qty}")
            last_priority = 0
            for o in live:
                _check(o.priority > last_priority, f"{where}: order {o.order_id} out of FIFO")
                last_priority = o.priority
                _check(o.side == side.side and o.price == level.price, f"order {o.order_id}")
                _check(not o.stop and o.symbol == symbol, f"order {o.order_id}: misplaced")
                _check(o.hidden >= 0 and o.filled >= 0, f"order {o.order_id}: negative qty")
                _check(o.shown + o.hidden + o.filled == o.qty, f"order {o.order_id}: qty sum")
                _check(o.hidden == 0 or 0 < o.shown <= o.display_qty, f"iceberg {o.order_id}")
                _check(o.order_id not in seen, f"order {o.order_id} rests twice")
                seen[o.order_id] = o


def _order_id(order: Order) -> int:
    return order.order_id


def _stop_watched(stops: StopBook, order: Order) -> bool:
    if rises_to_trigger(order.order_type, order.side):
        entry = (order.trigger_price, order.priority, order.order_id)
        return entry in stops.rising
    return (-order.trigger_price, order.priority, order.order_id) in stops.falling


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise InvariantError(what)
