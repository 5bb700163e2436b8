"""Untriggered stop orders of one instrument, waiting for the last trade price.

Trigger rules (the last trade price ``last`` against the stop's trigger ``t``):

==================  ============  ============
kind                buy triggers  sell triggers
==================  ============  ============
stop-loss(-limit)   last >= t     last <= t
take-profit(-limit) last <= t     last >= t
==================  ============  ============

So every stop waits either for the price to rise to its trigger (``rising``)
or to fall to it (``falling``). Each group is a heap keyed so that the stop
nearest to triggering is on top, which makes "what is due now" O(k log n)
for k due stops. Entries are removed lazily: an entry whose order is no
longer a stop, or whose stamp no longer matches (the trigger was amended and
a fresh entry pushed), is discarded when it surfaces.
"""

from __future__ import annotations

from heapq import heappop, heappush

from model.order import Order

__all__ = ["StopBook", "rises_to_trigger"]


def rises_to_trigger(order_type: str, side: str) -> bool:
    """True if a stop of this kind and side triggers when the price rises to it."""
    stop_loss = order_type.startswith("stop-loss")
    return stop_loss == (side == "buy")


class StopBook:
    """The waiting stops of one instrument."""

    __slots__ = ("falling", "rising")

    def __init__(self) -> None:
        # (trigger, stamp, order_id): smallest trigger first, triggered when last >= trigger.
        self.rising: list[tuple[int, int, int]] = []
        # (-trigger, stamp, order_id): largest trigger first, triggered when last <= trigger.
        self.falling: list[tuple[int, int, int]] = []

    def __bool__(self) -> bool:
        return bool(self.rising or self.falling)

    def push(self, order: Order) -> None:
        """Start watching ``order`` with its current trigger price and priority stamp."""
        if rises_to_trigger(order.order_type, order.side):
            heappush(self.rising, (order.trigger_price, order.priority, order.order_id))
        else:
            heappush(self.falling, (-order.trigger_price, order.priority, order.order_id))

    def pop_due(self, low: int, high: int, orders: dict[int, Order]) -> list[Order]:
        """Remove and return every live stop that prints from ``low`` to ``high`` trigger.

        A rising stop is due if ``high`` reached its trigger, a falling one if
        ``low`` did. Returned in priority (acceptance) order. ``orders`` is the
        engine's open-order index, used to tell live entries from stale ones.
        O(k log n) for k popped entries.
        """
        due: list[Order] = []
        rising = self.rising
        while rising and rising[0][0] <= high:
            _, stamp, order_id = heappop(rising)
            order = orders.get(order_id)
            if order is not None and order.stop and order.priority == stamp:
                due.append(order)
        falling = self.falling
        while falling and -falling[0][0] >= low:
            _, stamp, order_id = heappop(falling)
            order = orders.get(order_id)
            if order is not None and order.stop and order.priority == stamp:
                due.append(order)
        due.sort(key=_priority)
        return due


def _priority(order: Order) -> int:
    return order.priority
