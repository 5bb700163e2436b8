"""The node's durable batches as FIX execution reports: the pipeline's listener.

A mixin of :class:`gateway.fix.server.FixGateway`. For every event of an
account that has FIX sessions, in engine order, each of the account's
sessions (drop copies included) gets the ExecutionReport, whichever gateway
entered the order: new (150=0), trade (F), cancelled (4, Text the WebSocket
API's reason word), replaced (5), expired (C), triggered (L), an iceberg's
new slice (D, restated), with the order's state as of that event. A session
that is away gets them too: they take their sequence numbers and wait in the
store for its ResendRequest.

Refusals are reported only to the session that asked (and the account's drop
copies for a rejected order): an order's ExecutionReport 150=8, a cancel's or
replace's OrderCancelReject (9). A MassQuote's own cancels and new orders are
acknowledged by its MassQuoteAcknowledgement, not reported one by one; their
fills are.
"""

from __future__ import annotations

import sys

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
    event_symbol,
)
from gateway.fix.handle import SessionHandle
from gateway.fix.marketdata import MarketData
from gateway.fix.reports import (
    Numbers,
    Tracked,
    cancel_reject,
    execution_report,
    ord_rej_reason,
    tracked_order,
)
from gateway.fix.requests import Context
from gateway.fix.store import FixStore
from gateway.fix.times import format_timestamp
from gateway.reasons import error_for
from model.commands import Command, NewOrder
from node.interface import InProcessNode, Sequenced
from node.metrics import GatewayMetrics

__all__ = ["Executions"]

_ENTRY = ("D", "G", "i")
"""Requests whose new orders belong to the session that sent them."""


class Executions(MarketData):
    """The listener (and market data); the gateway provides the attributes and the sending."""

    node: InProcessNode
    store: FixStore
    numbers: dict[str, Numbers]
    tracked: dict[int, Tracked]
    contexts: dict[int, Context]
    by_account: dict[str, list[SessionHandle]]
    handles: dict[str, SessionHandle]
    metrics: GatewayMetrics

    def _send(self, handle: SessionHandle, msg_type: str, body: str) -> None:
        raise NotImplementedError

    def _save(self, handle: SessionHandle) -> None:
        raise NotImplementedError

    def _on_applied(self, applied: list[Sequenced]) -> None:
        """Report each event of a durable batch, in engine order; then market data."""
        by_account = self.by_account
        contexts = self.contexts
        if not by_account and not contexts and not self.handles:
            return  # no FIX session: nothing to report or publish (the common case)
        for command, events in applied:
            context = contexts.pop(command.seq, None) if contexts else None
            for index, event in enumerate(events):
                kind = type(event)
                if kind is TradeExecuted:
                    assert isinstance(event, TradeExecuted)
                    if event.taker_account in by_account:
                        self._fill(event, True)
                    if event.maker_account in by_account:
                        self._fill(event, False)
                    continue
                account = getattr(event, "account", None)
                if account is None:
                    account = event.order.account if kind is OrderAccepted else None  # type: ignore[union-attr]
                if account in by_account:
                    self._order_event(command, event, index, context)
        watching = [h for h in self.handles.values() if h.subscriptions]
        if watching:
            touched = {s for _, events in applied for s in map(event_symbol, events) if s}
            self._publish_market_data(applied, watching, touched)

    def _report(self, account: str, body: str, only: SessionHandle | None = None) -> None:
        """An ExecutionReport to every session of ``account`` (or ``only`` and the drop copies)."""
        for handle in self.by_account[account]:
            if only is None or handle is only or handle.config.drop_copy:
                self._send(handle, "8", body)

    def _owned(
        self, account: str, order_id: int, owner: SessionHandle | None, replaces: int | None
    ) -> None:
        """Note the session that entered ``order_id`` (or the order it replaced); store it."""
        for handle in self.by_account[account]:
            inherits = replaces is not None and replaces in handle.owned
            if handle is owner or inherits:
                handle.owned.add(order_id)
                handle.owned_added.append(order_id)
                if inherits and replaces is not None:
                    handle.owned.discard(replaces)
                    handle.owned_removed.append(replaces)
                self._save(handle)

    def _closed(self, account: str, order_id: int) -> None:
        """The order is no longer open: forget it."""
        self.tracked.pop(order_id, None)
        for handle in self.by_account[account]:
            if order_id in handle.owned:
                handle.owned.discard(order_id)
                handle.owned_removed.append(order_id)
                self._save(handle)

    def _fill(self, e: TradeExecuted, taker: bool) -> None:
        order_id = e.taker_order_id if taker else e.maker_order_id
        account = e.taker_account if taker else e.maker_account
        t = self.tracked.get(order_id)
        if t is None:
            print(f"tokex fix: a fill of order {order_id} it never saw", file=sys.stderr)
            return
        t.cum += e.qty
        t.cost += e.qty * e.price
        leaves = e.taker_leaves if taker else e.maker_leaves
        fee = e.taker_fee if taker else e.maker_fee
        body = execution_report(
            t,
            self.numbers[e.symbol],
            f"T{e.trade_id}",
            "F",
            "2" if leaves == 0 else "1",
            format_timestamp(e.ts),
            leaves=leaves,
            fill=(e.qty, e.price, "2" if taker else "1", fee),
        )
        self._report(account, body)
        if leaves == 0:
            self._closed(account, order_id)

    def _order_event(self, command: Command, e: Event, index: int, context: Context | None) -> None:
        exec_id = f"E{e.seq}.{index}"
        when = format_timestamp(e.ts)
        quote = context is not None and context.kind == "i"
        if isinstance(e, OrderAccepted):
            order = e.order
            t = tracked_order(e.order_id, order)
            orig = None
            if e.replaces is not None:
                old = self.tracked.pop(e.replaces, None)
                if old is not None:
                    t.carried = t.cum = old.cum
                    t.cost = old.cost
                    t.qty += old.cum
                    orig = old.cl_ord_id
                if context is not None and context.kind == "G":
                    orig = context.orig_cl_ord_id
            self.tracked[e.order_id] = t
            owner = context.handle if context is not None and context.kind in _ENTRY else None
            if owner is not None or e.replaces is not None:
                self._owned(order.account, e.order_id, owner, e.replaces)
            if quote:
                return
            exec_type = "0" if e.replaces is None else "5"
            body = execution_report(
                t,
                self.numbers[order.symbol],
                exec_id,
                exec_type,
                t.status,
                when,
                orig_cl_ord_id=orig,
            )
            self._report(order.account, body)
            return
        if isinstance(e, OrderRejected):
            self._rejected(command, e, exec_id, when, context)
            return
        found = self.tracked.get(getattr(e, "order_id", 0))
        if found is None:
            return
        t = found
        n = self.numbers[t.symbol]
        account: str = e.account  # type: ignore[union-attr]
        if isinstance(e, OrderCancelled):
            if e.reason == "replaced":
                return  # the replacement's report (150=5) says it
            self._closed(account, e.order_id)
            if quote:
                return
            clid = orig = None
            if context is not None and context.kind == "F":
                clid, orig = context.cl_ord_id, context.orig_cl_ord_id
            body = execution_report(
                t,
                n,
                exec_id,
                "4",
                "4",
                when,
                leaves=0,
                cl_ord_id=clid,
                orig_cl_ord_id=orig,
                text=e.reason,
            )
        elif isinstance(e, OrderExpired):
            self._closed(account, e.order_id)
            body = execution_report(t, n, exec_id, "C", "C", when, leaves=0, text="expired")
        elif isinstance(e, OrderAmended):
            t.qty = t.carried + e.qty
            t.price = e.price
            t.display = e.display_qty
            t.stop_px = e.trigger_price
            body = execution_report(t, n, exec_id, "5", t.status, when, orig_cl_ord_id=t.cl_ord_id)
        elif isinstance(e, OrderTriggered):
            t.stopped = False
            body = execution_report(t, n, exec_id, "L", t.status, when)
        elif isinstance(e, IcebergRefilled):
            body = execution_report(
                t, n, exec_id, "D", t.status, when, text="iceberg_refill", extra=((378, "99"),)
            )
        else:
            return
        self._report(account, body)

    def _rejected(
        self, command: Command, e: OrderRejected, exec_id: str, when: str, context: Context | None
    ) -> None:
        """A refusal, answered to the session that asked (nothing if no FIX session did)."""
        if context is None or context.kind in ("i", "q", "cod"):
            return  # a quote entry's refusal is in its acknowledgement
        handle = context.handle
        text = error_for(e.reason, e.text)
        self.metrics.refused(text)
        if context.kind == "D" and isinstance(command, NewOrder):
            t = tracked_order(0, command)
            body = execution_report(
                t,
                self.numbers[command.symbol],
                exec_id,
                "8",
                "8",
                when,
                leaves=0,
                text=text,
                extra=((103, ord_rej_reason(e.reason)),),
            ).replace("37=O0\x01", "37=NONE\x01", 1)
            self._report(e.account, body, only=handle)
            return
        order = self.tracked.get(e.order_id or 0)
        body = cancel_reject(
            e.order_id,
            context.cl_ord_id or "",
            context.orig_cl_ord_id or "",
            order.status if order is not None else "8",
            "1" if context.kind == "F" else "2",
            "1" if e.reason == "unknown_order" else "99",
            text,
            when,
        )
        self._send(handle, "9", body)
