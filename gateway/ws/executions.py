"""The ``executions`` channel's events in Kraken's event model (WS_API.md, private channels).

Client libraries (python-kraken-sdk, ccxt) are written against Kraken's
model, so tokex follows it exactly:

* every fill is one ``exec_type: trade`` event with the fill's fields
  (``exec_id``, ``trade_id``, ``last_qty``, ``last_price``, ``cost``,
  ``liquidity_ind``, ``fees``) and ``order_status`` partially_filled or
  filled; a fill that completes the order is followed by a separate
  ``exec_type: filled`` event without fill fields;
* every event carries the order's identity and state: ``order_id``,
  ``cl_ord_id`` and ``order_userref`` where the order has them, ``symbol``,
  ``side``, ``order_type``, ``order_status``, ``cum_qty``, ``cum_cost``,
  ``avg_price`` and ``timestamp``;
* the gateway sends one event per message (clients route a message by its
  first event).

Events carry only what changed, so :class:`OrderBook` keeps, for the
accounts someone is subscribed to, each open order's identity and what has
filled (``filled`` lots, ``cost`` in ticks x lots), seeded from the node's
open orders when an account's first subscription is taken (at a pipeline
barrier: exactly the durable state) and kept up to date from the events
after that. Accounts nobody watches cost nothing.

``cum_cost`` is the exact notional of the fills (price x quantity) written
with the quote asset's precision (rounded half-even); ``avg_price`` is
``cum_cost / cum_qty`` with the price precision (0 before any fill).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from engine.events import (
    Event,
    IcebergRefilled,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderTriggered,
    TradeExecuted,
)
from gateway.ws.wire import order_id_text, plain, rfc3339
from model.instrument import Instrument
from node.interface import ClosedOrder, Node, OrderView, TradeRecord

__all__ = ["OrderBook", "TrackedOrder"]

_CLOSED_LOOKUP = 500
"""Closed orders read to name the orders of a snapshot's fills (their type and client ids)."""


@dataclass
class TrackedOrder:
    """One order of a watched account: its identity and what has filled."""

    order_id: int
    account: str
    symbol: str
    side: str
    order_type: str
    tif: str
    qty: int
    price: int | None
    cl_ord_id: str | None
    userref: int | None
    filled: int = 0
    cost: int = 0
    """Sum of price x qty over the fills (ticks x lots)."""
    untriggered: bool = False

    @classmethod
    def of_view(cls, o: OrderView) -> TrackedOrder:
        return cls(
            o.order_id,
            o.account,
            o.symbol,
            o.side,
            o.order_type,
            o.tif,
            o.qty,
            o.price or None,
            o.cl_ord_id,
            o.userref,
            o.filled,
            o.cost,
            o.stop,
        )

    @classmethod
    def of_closed(cls, o: ClosedOrder) -> TrackedOrder:
        return cls(
            o.order_id,
            o.account,
            o.symbol,
            o.side,
            o.order_type,
            o.tif,
            o.qty,
            o.price,
            o.cl_ord_id,
            o.userref,
            o.filled,
            o.cost,
        )


class OrderBook:
    """The open orders of the watched accounts, and their events as Kraken's executions."""

    def __init__(
        self, node: Node, instruments: dict[str, Instrument], quote_precision: dict[str, int]
    ) -> None:
        self.node = node
        self.instruments = instruments
        self.quote_precision = quote_precision
        self.orders: dict[int, TrackedOrder] = {}
        self.accounts: set[str] = set()
        self._scales: dict[str, Decimal] = {}
        """Quote asset -> its smallest unit as a Decimal (0.01 for USD), made once."""

    # ------------------------------------------------------------ watching

    def watch(self, account: str) -> None:
        """Start following ``account`` (at a barrier: the node's state is the durable one)."""
        if account in self.accounts:
            return
        self.accounts.add(account)
        for o in self.node.open_orders(account):
            self.orders[o.order_id] = TrackedOrder.of_view(o)

    def unwatch(self, keep: set[str]) -> None:
        """Forget every account not in ``keep`` (nobody is subscribed to it any more)."""
        gone = self.accounts - keep
        if not gone:
            return
        self.accounts -= gone
        self.orders = {i: o for i, o in self.orders.items() if o.account not in gone}

    # ------------------------------------------------------------ formatting

    def _state(self, o: TrackedOrder, inst: Instrument) -> dict[str, Any]:
        """``cum_qty``, ``cum_cost`` and ``avg_price`` of ``o`` now."""
        return {
            "cum_qty": inst.lots_to_qty(o.filled),
            "cum_cost": self._cost(inst, o.cost),
            "avg_price": self._average(inst, o.filled, o.cost),
        }

    def _scale(self, quote: str) -> Decimal:
        """The smallest unit of ``quote`` (every report's cost and fees are written in it)."""
        scale = self._scales.get(quote)
        if scale is None:
            scale = self._scales[quote] = Decimal(1).scaleb(-self.quote_precision[quote])
        return scale

    def _cost(self, inst: Instrument, cost: int) -> Any:
        exact = Decimal(cost) * inst.price_increment * inst.qty_increment
        return plain(exact.quantize(self._scale(inst.quote), rounding=ROUND_HALF_EVEN))

    @staticmethod
    def _average(inst: Instrument, filled: int, cost: int) -> Decimal:
        if not filled:
            return inst.ticks_to_price(0)
        exact = Decimal(cost) / Decimal(filled) * inst.price_increment
        return exact.quantize(inst.ticks_to_price(1), rounding=ROUND_HALF_EVEN)

    @staticmethod
    def _status(o: TrackedOrder) -> str:
        if o.untriggered:
            return "untriggered"
        if o.filled >= o.qty:
            return "filled"
        return "partially_filled" if o.filled else "new"

    def _item(self, exec_type: str, o: TrackedOrder, status: str, ts: int) -> dict[str, Any]:
        """An event of ``o`` with its identity and state (the fields every event carries)."""
        inst = self.instruments[o.symbol]
        item: dict[str, Any] = {
            "exec_type": exec_type,
            "order_id": order_id_text(o.order_id),
            "symbol": o.symbol,
            "side": o.side,
            "order_type": o.order_type,
            "order_qty": inst.lots_to_qty(o.qty),
            "time_in_force": o.tif,
            "order_status": status,
            **self._state(o, inst),
            "timestamp": rfc3339(ts),
        }
        if o.price is not None:
            item["limit_price"] = inst.ticks_to_price(o.price)
        if o.cl_ord_id is not None:
            item["cl_ord_id"] = o.cl_ord_id
        if o.userref is not None:
            item["order_userref"] = o.userref
        return item

    def _fill(
        self,
        o: TrackedOrder,
        trade: TradeExecuted | TradeRecord,
        maker: bool,
        leaves: int,
        fee: int,
    ) -> dict[str, Any]:
        """The ``trade`` event of ``o``'s side of ``trade`` (``o`` already counts the fill)."""
        inst = self.instruments[o.symbol]
        scale = self._scale(inst.quote)
        status = "filled" if leaves == 0 else "partially_filled"
        item = self._item("trade", o, status, trade.ts)
        item.update(
            {
                "exec_id": f"T{trade.trade_id}",
                "trade_id": trade.trade_id,
                "last_qty": inst.lots_to_qty(trade.qty),
                "last_price": inst.ticks_to_price(trade.price),
                "cost": plain(trade.quote_qty * scale),
                "liquidity_ind": "m" if maker else "t",
                "fees": [{"asset": inst.quote, "qty": plain(fee * scale)}],
                "leaves_qty": inst.lots_to_qty(leaves),
            }
        )
        return item

    # ------------------------------------------------------------ events

    def _order(self, order_id: int, account: str, symbol: str) -> TrackedOrder:
        """A tracked order; one not seen before (it cannot be: the seed has every open order)
        is looked up in the node, or named with what the event says."""
        o = self.orders.get(order_id)
        if o is None:
            view = self.node.order(order_id)
            if view is not None:
                o = TrackedOrder.of_view(view)
            else:
                o = TrackedOrder(
                    order_id, account, symbol, "buy", "limit", "gtc", 0, None, None, None
                )
            self.orders[order_id] = o
        return o

    def events(self, events: list[Event]) -> list[tuple[str, dict[str, Any]]]:
        """The executions of one command's events for the watched accounts, in engine order."""
        out: list[tuple[str, dict[str, Any]]] = []
        watched = self.accounts
        for ev in events:
            if isinstance(ev, TradeExecuted):
                taker = (ev.taker_account, ev.taker_order_id, ev.taker_leaves, ev.taker_fee, False)
                maker = (ev.maker_account, ev.maker_order_id, ev.maker_leaves, ev.maker_fee, True)
                for account, order_id, leaves, fee, is_maker in (taker, maker):
                    if account not in watched:
                        continue
                    o = self._order(order_id, account, ev.symbol)
                    o.filled += ev.qty
                    o.cost += ev.price * ev.qty
                    if leaves == 0:
                        o.qty = o.filled  # what the engine closed it at
                    out.append((account, self._fill(o, ev, is_maker, leaves, fee)))
                    if leaves == 0:
                        out.append((account, self._item("filled", o, "filled", ev.ts)))
                        del self.orders[order_id]
                continue
            owner: str | None = getattr(ev, "account", None)
            if isinstance(ev, OrderAccepted):
                owner = ev.order.account
            if owner is None or owner not in watched:
                continue
            account = owner
            if isinstance(ev, OrderAccepted):
                n = ev.order
                o = self.orders[ev.order_id] = TrackedOrder(
                    ev.order_id,
                    n.account,
                    n.symbol,
                    n.side,
                    n.order_type,
                    n.tif,
                    n.qty,
                    n.price,
                    n.cl_ord_id,
                    n.userref,
                    untriggered=n.trigger_price is not None,
                )
                out.append((account, self._item("new", o, self._status(o), ev.ts)))
            elif isinstance(ev, OrderCancelled | OrderExpired):
                o = self._order(ev.order_id, account, ev.symbol)
                expired = isinstance(ev, OrderExpired)
                word = "expired" if expired else "canceled"
                item = self._item(word, o, word, ev.ts)
                item["leaves_qty"] = self.instruments[o.symbol].lots_to_qty(ev.leaves)
                if isinstance(ev, OrderCancelled):
                    item["reason"] = ev.reason
                out.append((account, item))
                self.orders.pop(ev.order_id, None)
            elif isinstance(ev, OrderAmended):
                o = self._order(ev.order_id, account, ev.symbol)
                o.qty = ev.qty
                if ev.price is not None:
                    o.price = ev.price
                item = self._item("amended", o, self._status(o), ev.ts)
                item["leaves_qty"] = self.instruments[o.symbol].lots_to_qty(ev.leaves)
                if ev.display_qty is not None:
                    item["display_qty"] = self.instruments[o.symbol].lots_to_qty(ev.display_qty)
                out.append((account, item))
            elif isinstance(ev, OrderTriggered):
                o = self._order(ev.order_id, account, ev.symbol)
                o.untriggered = False
                out.append((account, self._item("triggered", o, self._status(o), ev.ts)))
            elif isinstance(ev, IcebergRefilled):
                o = self._order(ev.order_id, account, ev.symbol)
                item = self._item("iceberg_refill", o, self._status(o), ev.ts)
                item["display_qty"] = self.instruments[o.symbol].lots_to_qty(ev.shown)
                out.append((account, item))
        return out

    # ------------------------------------------------------------ snapshots

    def open_items(self, account: str) -> list[dict[str, Any]]:
        """The snapshot of ``account``'s open orders: ``exec_type: new`` with ``leaves_qty``."""
        now = self.node.now()
        items = []
        for view in self.node.open_orders(account):
            o = TrackedOrder.of_view(view)
            item = self._item("new", o, self._status(o), now)
            item["leaves_qty"] = self.instruments[o.symbol].lots_to_qty(view.leaves)
            if view.stop and view.trigger_price:
                item["triggers"] = {
                    "price": self.instruments[o.symbol].ticks_to_price(view.trigger_price)
                }
            items.append(item)
        return items

    def trade_items(self, account: str, limit: int) -> list[dict[str, Any]]:
        """The snapshot of ``account``'s last ``limit`` fills (from the node's history).

        Each carries its order's state as it was after that fill: the order's
        final ``filled`` and ``cost`` (open, or as it closed) less the later
        fills in the list.
        """
        fills = self.node.fills(account, limit)
        known: dict[int, TrackedOrder] = {}
        wanted = {
            f.taker_order_id if f.taker_account == account else f.maker_order_id for f in fills
        }
        for view in self.node.open_orders(account):
            if view.order_id in wanted:
                known[view.order_id] = TrackedOrder.of_view(view)
        if wanted - known.keys():
            for closed in self.node.closed_orders(account, _CLOSED_LOOKUP):
                if closed.order_id in wanted:
                    known[closed.order_id] = TrackedOrder.of_closed(closed)
        items: list[dict[str, Any]] = []
        for f in reversed(fills):  # newest first: take each fill off its order's total
            taker = f.taker_account == account
            order_id = f.taker_order_id if taker else f.maker_order_id
            leaves = f.taker_leaves if taker else f.maker_leaves
            fee = f.taker_fee if taker else f.maker_fee
            o = known.get(order_id)
            if o is None:  # older than the closed orders read: named from the fill alone
                side = f.taker_side if taker else ("sell" if f.taker_side == "buy" else "buy")
                kind = f.taker_type if taker else "limit"
                cost = f.price * f.qty
                o = known[order_id] = TrackedOrder(
                    order_id, account, f.symbol, side, kind, "gtc", f.qty, None, None, None
                )
                o.filled, o.cost = f.qty, cost
            state = TrackedOrder(**{**o.__dict__})
            items.append(self._fill(state, f, not taker, leaves, fee))
            o.filled -= f.qty
            o.cost -= f.price * f.qty
        items.reverse()
        return items
