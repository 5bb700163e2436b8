"""The engine's record of one open order."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from model import build

if TYPE_CHECKING:
    from model.commands import NewOrder

__all__ = ["Order", "OrderIndex", "TextIndex", "order_for", "order_from_fields", "order_tuple"]


class Order(msgspec.Struct, gc=False):
    """An open order: resting in a book, or an untriggered stop.

    Mutable on purpose: fills decrement ``shown`` in place. ``shown`` is the
    visible quantity (the whole remainder for a plain order, the current slice
    for an iceberg) and ``hidden`` the iceberg's reserve, so the order's leaves
    quantity is ``shown + hidden``. An order whose ``shown`` is 0 while it
    still sits in a level's queue is a tombstone (cancelled, filled or moved
    by an amend) and is skipped; see :mod:`engine.book`.

    ``gc=False`` is safe: an order refers only to strings and integers, never
    to another container, so it can be part of no reference cycle. With a
    million resting orders this keeps them out of every garbage collection.
    """

    # Field order follows use: the first two cache lines hold what matching,
    # cancels and the indexes touch; the rest is read rarely.
    order_id: int
    account: str
    symbol: str
    side: str
    price: int
    """Limit price in ticks; for market stops the protection price, 0 if none."""
    qty: int
    """Total order quantity in lots, filled part included."""
    shown: int
    stp: str = "cancel_newest"
    hidden: int = 0
    filled: int = 0
    stop: bool = False
    """True while the order is an untriggered stop, held out of the book."""
    cl_ord_id: str | None = None
    userref: int | None = None
    priority: int = 0
    """Queue position stamp: strictly increasing along every level's queue."""
    order_type: str = "limit"
    tif: str = "gtc"
    display_qty: int = 0
    expire_ts: int | None = None
    post_only: bool = False
    trigger_price: int = 0
    # Money, owned by pre-trade risk (risk/): the book never reads these.
    hold: int = 0
    """Units held for the order: quote for a buy, base for a sell."""
    cost: int = 0
    """Sum of price x qty (ticks x lots) over its fills."""
    fee: int = 0
    """Sum of price x qty x fee bps over its fills."""
    paid: int = 0
    """Quote units moved so far: paid in all by a buy, received net by a sell."""
    notional: int = 0
    """A buy's notional paid so far (quote units, rounded up): what sellers got of it."""
    cash_qty: int = 0
    """A market buy sized by quote amount: the budget in quote units (0: none)."""

    @property
    def leaves(self) -> int:
        """Quantity still open: visible plus hidden."""
        return self.shown + self.hidden


OrderIndex = dict
"""Open orders by order id (``Matcher.orders`` and each account's table in
``Matcher.by_account``): a dict in the pure build; in the compiled build the
open-addressing table of model/_order.pyx, a mapping with the dict methods the
engine uses that iterates in increasing id, as such a dict does."""


TextIndex = dict
"""Accounts by their text (``Risk.accounts``): a dict in the pure build; in the
compiled build the table of model/_order.pyx, whose look-up by a text that is
a new object (a command's account) reads one slot instead of hashing the text
and reading the key's. A mapping with the dict methods risk uses, iterating in
the order its entries were made, as a dict does."""


def order_tuple(order: Order) -> tuple[object, ...]:
    """Every field of ``order`` in declaration order (either build's record)."""
    return msgspec.structs.astuple(order)


def order_from_fields(*fields: object) -> Order:
    """An order from every field in declaration order (how the compiled record pickles)."""
    return Order(*fields)  # type: ignore[arg-type]


if build.COMPILED and not TYPE_CHECKING:
    # The compiled build's record (model/_order.pyx): the same fields, typed,
    # never tracked by the garbage collector. Everything below and every
    # caller use whichever record the build has.
    Order = build.compiled_order().Order
    OrderIndex = build.compiled_order().OrderIndex
    TextIndex = build.compiled_order().TextIndex
    order_tuple = build.compiled_order().order_tuple


def order_for(c: NewOrder) -> Order:
    """The engine's record of the order ``c`` places (its id is the command's seq)."""
    return Order(
        c.seq,
        c.account,
        c.symbol,
        c.side,
        c.price or 0,
        c.qty,
        c.qty,
        c.stp,
        0,
        0,
        False,
        c.cl_ord_id,
        c.userref,
        0,
        c.order_type,
        c.tif,
        c.display_qty or 0,
        c.expire_ts,
        c.post_only,
        c.trigger_price or 0,
        cash_qty=c.cash_qty or 0,
    )
