"""All-or-nothing batches of new orders (``batch_add``) and the dry run (``validate``).

Part of the engine (see :mod:`engine.engine`); pure like the rest of it. A
batch arrives as consecutive :class:`BatchOrder` commands, one per order, so
every order keeps its own ``seq`` as its id and the journal keeps one record
per sequence number. The parts wait in :attr:`Batches.batch` until the last
one; then :meth:`Batches._admit_together` checks them as one: each order
faces every check a lone order faces, with the funds the earlier ones would
hold already held, the earlier ones counted as open, and no cl_ord_id twice.
If any fails, none is placed and the one rejection names it; otherwise they
are placed in order and match as they would one after the other. What the
first order does (trades, even a volatility pause) does not un-validate the
rest: they were accepted together, at the batch's instant.

A part that does not continue the batch before it (only a batch cut short
by a crash can leave one, and it was never acknowledged) is dropped when the
next batch starts; nothing of it was ever placed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from model.commands import BatchOrder, NewOrder
from model.instrument import Instrument
from model.order import Order, order_for
from risk.risk import Risk

from engine.book import OrderBook
from engine.corporate import CorporateActions
from engine.events import Event, OrderRejected

__all__ = ["Batches", "Refusal"]

Refusal = tuple[int, str, str]
"""Which order of a batch failed (its index), the reject reason and the text."""


class Batches(CorporateActions):
    """The parts of the batch being received, and checking orders together."""

    __slots__ = ("batch",)

    def __init__(
        self,
        instruments: Iterable[Instrument],
        risk: Risk | None = None,
        start_ts: int | None = None,
    ) -> None:
        super().__init__(instruments, risk, start_ts)
        self.batch: list[BatchOrder] = []
        """The parts received so far of the batch whose last part has not come."""

    def canonical_state(self) -> list[object]:
        """Everything else, plus the parts of an unfinished batch."""
        return [*super().canonical_state(), list(self.batch)]

    def _admit(
        self,
        c: NewOrder,
        order: Order,
        book: OrderBook,
        replacing: Order | None,
        pending: int = 0,
    ) -> tuple[str, str] | None:
        raise NotImplementedError  # the engine's own checks (engine.engine.Engine)

    # ------------------------------------------------------------------ checks

    def check_orders(self, orders: Sequence[NewOrder]) -> Refusal | None:
        """Would these orders be accepted, all together, now? Changes nothing.

        The dry run behind ``validate``: the same checks as a batch (or, for
        one order, as a lone order), answered against the state as it is.
        """
        taken, refusal = self._admit_together(orders)
        self._give_back(taken)
        return refusal

    def _admit_together(self, orders: Sequence[NewOrder]) -> tuple[list[Order], Refusal | None]:
        """Check each order with the ones before it held and counted; stop at the first failure.

        Returns the orders checked so far with their holds taken (the caller
        gives them back) and the refusal, if any.
        """
        taken: list[Order] = []
        first = orders[0]
        seen: set[str] = set()
        for i, c in enumerate(orders):
            if c.account != first.account or c.symbol != first.symbol:
                return taken, (i, "invalid_arguments", "orders: one account and one symbol")
            book = self.books.get(c.symbol)
            if book is None:
                return taken, (i, "unknown_symbol", f"symbol {c.symbol!r}: not listed")
            refusal = self._phase_refusal(c.symbol, c.order_type, c.tif)
            if refusal is None and c.cl_ord_id is not None:
                if c.cl_ord_id in seen:
                    text = f"cl_ord_id {c.cl_ord_id!r}: twice in the batch"
                    refusal = "duplicate_cl_ord_id", text
                seen.add(c.cl_ord_id)
            order = order_for(c)
            if refusal is None:
                refusal = self._admit(c, order, book, None, len(taken))
            if refusal is not None:
                return taken, (i, refusal[0], refusal[1])
            if self.risk is not None:
                self.risk.reserve(order)
            taken.append(order)
        return taken, None

    def _give_back(self, taken: list[Order]) -> list[int]:
        """Release the holds a check took; return them, to take again when placing."""
        holds = [o.hold for o in taken]
        if self.risk is not None:
            for order in taken:
                self.risk.release(order)
        return holds

    # ------------------------------------------------------------------ batches

    def _on_batch_order(self, c: BatchOrder) -> list[Event]:
        parts = self.batch
        if c.part == 0:
            parts.clear()
        elif len(parts) != c.part or parts[-1].seq + 1 != c.seq or parts[-1].parts != c.parts:
            parts.clear()  # not the continuation of what came before: drop both
            return []
        parts.append(c)
        if c.part + 1 < c.parts:
            return []
        orders = list(parts)
        parts.clear()
        taken, refusal = self._admit_together(orders)
        holds = self._give_back(taken)
        if refusal is not None:
            i, reason, text = refusal
            b = orders[i]
            text = f"orders[{i}]: {text}"
            return [OrderRejected(b.seq, b.ts, b.account, reason, text, None, b.cl_ord_id)]
        events: list[Event] = []
        book = self.books[c.symbol]
        for order_c, order, hold in zip(orders, taken, holds, strict=True):
            order.hold = hold
            self._place(order_c, order, book, events, None)
        return events
