"""The application messages a session delivers, answered or queued on the node's pipeline.

A mixin of :class:`gateway.fix.server.FixGateway`. Each request is parsed into
commands (:mod:`gateway.fix.orders`, pure) and queued with a callback that
runs once they are durable. That callback records, by command sequence
number, which session asked and with which ClOrdIDs (:class:`Context`); the
pipeline's listener then reports every event of the batch
(:mod:`gateway.fix.executions`) with those ids. Answers that are not
execution reports (MassCancelReport r, MassQuoteAcknowledgement b) are sent
from the callback itself, so they come before the reports of the orders
they touched, as a WebSocket answer comes before its executions.

Drop-copy sessions may not enter orders (BusinessMessageReject 6). Order
entry takes a token from the session's bucket (the exchange's ``rate_limit``);
over it, BusinessMessageReject 0 with ``EAPI:Rate limit exceeded``.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import Any

import msgspec

from engine.events import OrderCancelled, OrderRejected
from gateway.fix.codec import Message, render
from gateway.fix.handle import SessionHandle
from gateway.fix.marketdata import MarketData
from gateway.fix.orders import (
    QuoteEntry,
    Refused,
    order_ref,
    parse_cancel,
    parse_mass_cancel,
    parse_new_order,
    parse_quotes,
    parse_replace,
)
from gateway.fix.reports import (
    Numbers,
    Tracked,
    cancel_reject,
    execution_report,
    tracked_view,
)
from gateway.fix.session import Deliver
from gateway.fix.times import format_timestamp
from gateway.fix.validate import Group
from gateway.reasons import (
    BUSY,
    ERRORS,
    INTERNAL,
    PERMISSION_DENIED,
    RATE_LIMITED,
    UNAVAILABLE,
    error_for,
)
from model.commands import CancelOrder, Command, NewOrder
from model.instrument import Instrument
from node.interface import Busy, Done, InProcessNode, OrderView, Sequenced
from node.metrics import GatewayMetrics

__all__ = ["ORDER_ENTRY", "Context", "Requests", "quote_order_id"]

ORDER_ENTRY = frozenset("DFGqi")
"""The messages that change orders: refused on a drop-copy session, rate limited."""


@dataclass
class Context:
    """Which session's request a command answers, and the ids its reports echo.

    ``kind`` is the request's MsgType (D, F, G, q, i), or ``cod`` for the
    gateway's own cancel-on-disconnect.
    """

    handle: SessionHandle
    kind: str
    cl_ord_id: str | None = None
    orig_cl_ord_id: str | None = None
    message: Message | None = None


def quote_order_id(session: str, symbol: str, side: str) -> str:
    """The ClOrdID of a session's quote on one side of a symbol (``Q.MM.AAPLx/USD.B``).

    Fixed per (session, symbol, side), so a new MassQuote finds and replaces
    the last one by it, also after a restart, with nothing kept in memory.
    """
    return f"Q.{session}.{symbol}.{'B' if side == 'buy' else 'S'}"


_reject_ids = count(1)


class Requests:
    """D, F, G, q, i, H and V; the gateway provides the attributes and the sending."""

    node: InProcessNode
    instruments: dict[str, Instrument]
    quote_precision: dict[str, int]
    numbers: dict[str, Numbers]
    tracked: dict[int, Tracked]
    contexts: dict[int, Context]
    recovered: dict[tuple[str, str], int]
    metrics: GatewayMetrics
    read_at: int
    """When the message being handled was read (``perf_counter_ns``), for the ack latency."""

    def _send(self, handle: SessionHandle, msg_type: str, body: str) -> None:
        raise NotImplementedError

    def _gated(self, callback: Done) -> Done:
        raise NotImplementedError

    def _save(self, handle: SessionHandle) -> None:
        raise NotImplementedError

    # The gateway's Executions (after this class in its bases) provides it.
    _owned: Callable[[str, int, SessionHandle | None, int | None], None]

    # ------------------------------------------------------------ dispatch

    def _deliver(self, handle: SessionHandle, deliver: Deliver) -> None:
        """Answer one application message, or queue its commands (never waits)."""
        message = deliver.message
        msg_type = message.msg_type
        handler = _HANDLERS.get(msg_type)
        if handler is None:
            return  # a BusinessMessageReject from the counterparty: nothing to answer
        if msg_type in ORDER_ENTRY:
            if handle.config.drop_copy:
                text = f"{PERMISSION_DENIED}:a drop-copy session enters no orders"
                self._business_reject(handle, message, 6, text)
                return
            if not self._allow(handle):
                self.metrics.rate_limited += 1
                self._business_reject(handle, message, 0, RATE_LIMITED)
                return
        try:
            handler(self, handle, message, deliver.groups)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self._business_reject(handle, message, 0, INTERNAL)

    def _allow(self, handle: SessionHandle) -> bool:
        """The session's token bucket: refill by elapsed time, then take one."""
        now = time.monotonic()
        config = self.node.config
        handle.tokens = min(
            float(config.rate_burst),
            handle.tokens + (now - handle.refilled) * config.rate_per_second,
        )
        handle.refilled = now
        if handle.tokens < 1:
            return False
        handle.tokens -= 1
        return True

    def _business_reject(
        self, handle: SessionHandle, message: Message, reason: int, text: str
    ) -> None:
        """BusinessMessageReject (j): 45, 372, 379 (the request's own id), 380, 58."""
        fields = [(45, message.get(34) or "0"), (372, message.msg_type)]
        ref = message.get(11) or message.get(117) or message.get(262)
        if ref is not None:
            fields.append((379, ref))
        fields += [(380, str(reason)), (58, text)]
        self.metrics.refused(text)
        self._send(handle, "j", render(fields))

    def _enqueue(
        self,
        handle: SessionHandle,
        message: Message,
        commands: list[Command],
        context: Context,
        answer: Callable[[list[Sequenced]], None] | None = None,
    ) -> None:
        """Queue ``commands`` for ``message``; ``answer`` gets their results once applied.

        The answer and the reports are made as soon as the engine applied the
        commands, while the journal syncs them, and wait with the store's
        frames until both are durable (:mod:`gateway.fix.server`). Until the
        commands are durable the message's number is in flight: the store's
        ``next_in`` stays before it (``SessionHandle.durable_in``).
        """
        seq = int(message.get(34) or "0")
        epoch = handle.epoch
        handle.in_flight[seq] = None
        contexts = self.contexts
        ack, read_at = self.metrics.ack_for(message.msg_type), self.read_at

        def applied(result: list[Sequenced]) -> None:
            # Applied, not yet durable: whatever this queues waits for the journal.
            mine = result[-len(commands) :]
            for command, _ in mine:
                contexts[command.seq] = context
            if answer is not None:
                answer(mine)

        def done(_: list[Sequenced]) -> None:
            ack.observe((time.perf_counter_ns() - read_at) / 1e9)
            if handle.epoch == epoch:
                handle.in_flight.pop(seq, None)
                self._save(handle)

        def failed(error: Exception) -> None:
            if handle.epoch == epoch:
                handle.in_flight.pop(seq, None)
            # Through a worker's channel the node's refusals come here, not raised below.
            if isinstance(error, Busy):
                self._business_reject(handle, message, 4, BUSY)
            elif str(error).startswith(UNAVAILABLE):
                self._business_reject(handle, message, 4, str(error))
            else:
                text = error_for("invalid_arguments", str(error))
                self._business_reject(handle, message, 0, text)

        try:
            self.node.enqueue_early(commands, self._gated(applied), done, failed)
        except Busy:
            handle.in_flight.pop(seq, None)
            self._business_reject(handle, message, 4, BUSY)
        except RuntimeError as e:
            handle.in_flight.pop(seq, None)
            self._business_reject(handle, message, 4, f"{UNAVAILABLE}:{e}")

    def _barrier(self, handle: SessionHandle, after: Callable[[], None]) -> bool:
        """Run ``after`` once everything queued before is durable and published; False: not."""
        epoch = handle.epoch

        def run() -> None:
            if handle.epoch == epoch and handle.session.logged_on:
                after()

        try:
            self.node.enqueue_barrier(run)
        except (Busy, RuntimeError):
            return False
        return True

    # ------------------------------------------------------------ orders

    def _new_order(self, handle: SessionHandle, message: Message, groups: Any) -> None:
        try:
            order = parse_new_order(
                message, handle.account, self.instruments, self.quote_precision, self.node.now()
            )
        except Refused as e:
            self._refused_order(handle, message, e)
            return
        if message.get(43) == "Y" and order.cl_ord_id is not None:
            # Resent after a crash that lost our count of it: if that order is open, it
            # was placed; say where it stands instead of placing it twice.
            existing = self.node.find_order(handle.account, None, order.cl_ord_id)
            recovered = self.recovered.pop((handle.account, order.cl_ord_id), None)
            if existing is not None:
                if recovered == existing.order_id and recovered not in handle.owned:
                    # Entered through this session: the store lost that with the count.
                    self._owned(handle.account, recovered, handle, None)
                self._status(handle, existing)
                return
            if recovered is not None:
                # Journaled after the floor and closed since (filled, cancelled): the
                # reports of it are resent; placing it again would trade it twice.
                duplicate = Refused(ERRORS["duplicate_cl_ord_id"], reason="6")
                self._refused_order(handle, message, duplicate)
                return
        self._enqueue(handle, message, [order], Context(handle, "D", message=message))

    def _refused_order(self, handle: SessionHandle, message: Message, e: Refused) -> None:
        """An order that never reached the engine: BusinessMessageReject 5 or a rejected report."""
        if e.missing:
            self._business_reject(handle, message, 5, str(e))
            return
        fields = [
            (37, "NONE"),
            (11, message.get(11) or ""),
            (17, f"R{self.node.now()}.{next(_reject_ids)}"),
            (150, "8"),
            (39, "8"),
            (103, e.reason),
            (55, message.get(55) or "NONE"),
            (54, message.get(54) or "1"),
        ]
        fields += [(tag, message.get(tag) or "") for tag in (38, 40, 44) if message.get(tag)]
        fields += [(151, "0"), (14, "0"), (6, "0"), (60, format_timestamp(self.node.now()))]
        fields.append((58, str(e)))
        self._send(handle, "8", render(fields))

    def _cancel(self, handle: SessionHandle, message: Message, groups: Any) -> None:
        clid, orig = message.get(11) or "", message.get(41) or ""
        try:
            cancel = parse_cancel(message, handle.account)
        except Refused as e:
            self._cancel_refused(handle, message, "1", e)
            return
        self._enqueue(handle, message, [cancel], Context(handle, "F", clid, orig, message))

    def _cancel_refused(
        self, handle: SessionHandle, message: Message, response_to: str, e: Refused
    ) -> None:
        if e.missing:
            self._business_reject(handle, message, 5, str(e))
            return
        body = cancel_reject(
            order_ref(message.get(37)),
            message.get(11) or "",
            message.get(41) or "",
            "8",
            response_to,
            "1" if e.reason == "1" else "99",
            str(e),
            format_timestamp(self.node.now()),
        )
        self._send(handle, "9", body)

    def _replace(self, handle: SessionHandle, message: Message, groups: Any) -> None:
        clid, orig = message.get(11) or "", message.get(41) or ""
        order_id = order_ref(message.get(37))
        current = self.node.find_order(
            handle.account, order_id, None if order_id is not None else orig
        )
        try:
            replace = parse_replace(message, handle.account, self.instruments, current)
            tracked = None if current is None else self.tracked.get(current.order_id)
            if tracked is not None and tracked.carried and replace.qty is not None:
                # OrderQty counts what the orders this one replaced filled; the engine does not.
                if replace.qty <= tracked.carried:
                    raise Refused(
                        error_for("invalid_arguments", "OrderQty (38): at or below the filled"),
                        reason="99",
                    )
                replace = msgspec.structs.replace(replace, qty=replace.qty - tracked.carried)
        except Refused as e:
            self._cancel_refused(handle, message, "2", e)
            return
        self._enqueue(handle, message, [replace], Context(handle, "G", clid, orig, message))

    def _mass_cancel(self, handle: SessionHandle, message: Message, groups: Any) -> None:
        kind = message.get(530) or ""
        when = format_timestamp(self.node.now())
        clid = message.get(11) or ""
        try:
            command = parse_mass_cancel(message, handle.account, self.instruments)
        except Refused as e:
            fields = [(11, clid), (37, "NONE"), (530, kind), (531, "0")]
            fields += [(532, "1" if "Symbol" in str(e) else "0"), (60, when), (58, str(e))]
            self._send(handle, "r", render(fields))
            return

        def answer(mine: list[Sequenced]) -> None:
            command_seq, events = mine[-1][0].seq, mine[-1][1]
            cancelled = sum(1 for e in events if isinstance(e, OrderCancelled))
            fields = [(11, clid), (37, f"MC{command_seq}"), (530, kind)]
            fields += [(531, "1" if kind == "1" else "7"), (533, str(cancelled))]
            if command.symbol is not None:
                fields.append((55, command.symbol))
            fields.append((60, when))
            self._send(handle, "r", render(fields))

        self._enqueue(handle, message, [command], Context(handle, "q"), answer)

    def _status_request(self, handle: SessionHandle, message: Message, groups: Any) -> None:
        """OrderStatusRequest (H): the order's status report, at a barrier (journaled state)."""
        order_id = order_ref(message.get(37))
        clid = message.get(11)

        def answer() -> None:
            found = self.node.find_order(
                handle.account, order_id, None if order_id is not None else clid
            )
            if found is not None:
                self._status(handle, found)
                return
            fields = [(37, message.get(37) or "NONE"), (11, clid or ""), (17, "0")]
            fields += [(150, "I"), (39, "8"), (103, "5"), (55, message.get(55) or "NONE")]
            fields += [(54, message.get(54) or "1"), (151, "0"), (14, "0"), (6, "0")]
            fields += [(60, format_timestamp(self.node.now())), (58, ERRORS["unknown_order"])]
            self._send(handle, "8", render(fields))

        if not self._barrier(handle, answer):
            self._business_reject(handle, message, 4, BUSY)

    def _status(self, handle: SessionHandle, order: OrderView) -> None:
        """ExecutionReport 150=I: where ``order`` stands now."""
        tracked = self.tracked.get(order.order_id) or tracked_view(order)
        body = execution_report(
            tracked,
            self.numbers[order.symbol],
            "0",
            "I",
            tracked.status,
            format_timestamp(self.node.now()),
        )
        self._send(handle, "8", body)

    # ------------------------------------------------------------ quotes

    def _mass_quote(
        self, handle: SessionHandle, message: Message, groups: dict[int, list[Group]]
    ) -> None:
        """MassQuote (i): each symbol's two-sided quote replaces the session's last one.

        Per symbol, the old bid and offer are cancelled and the new ones
        placed back to back, all entries of the message in one group on the
        pipeline (nothing else runs between them). The acknowledgement (b)
        lists each entry, with QuoteEntryRejectReason (368) on those refused.
        """
        quote_sets = parse_quotes(groups, self.instruments)
        commands: list[Command] = []
        placed: dict[int, QuoteEntry] = {}  # index in commands of each new order
        account = handle.account
        for _, entries in quote_sets:
            for entry in entries:
                if entry.problem:
                    continue
                commands += [
                    CancelOrder(0, 0, account, None, quote_order_id(handle.name, entry.symbol, s))
                    for s in ("buy", "sell")
                ]
                for side, quote in (("buy", entry.bid), ("sell", entry.offer)):
                    if quote is None:
                        continue
                    placed[len(commands)] = entry
                    commands.append(
                        NewOrder(
                            0,
                            0,
                            account,
                            entry.symbol,
                            side,  # type: ignore[arg-type]
                            quote[1],
                            quote[0],
                            cl_ord_id=quote_order_id(handle.name, entry.symbol, side),
                        )
                    )
        refused: dict[int, tuple[str, str]] = {}  # id(entry) -> (368, text)

        def answer(mine: list[Sequenced]) -> None:
            for index, entry in placed.items():
                events = mine[index][1]
                if events and isinstance(events[0], OrderRejected):
                    bad = events[0]
                    refused[id(entry)] = ("99", error_for(bad.reason, bad.text))
            self._quote_ack(handle, message, quote_sets, refused)

        if not commands:
            self._quote_ack(handle, message, quote_sets, refused)
            return
        self._enqueue(handle, message, commands, Context(handle, "i", message=message), answer)

    def _quote_ack(
        self,
        handle: SessionHandle,
        message: Message,
        quote_sets: list[tuple[str, list[QuoteEntry]]],
        refused: dict[int, tuple[str, str]],
    ) -> None:
        """MassQuoteAcknowledgement (b), as QuoteResponseLevel (301) asks (absent: every one)."""
        level = message.get(301) or "2"
        entries = [e for _, es in quote_sets for e in es]
        bad = {id(e): (e.reason, e.problem) for e in entries if e.problem}
        bad.update(refused)
        if level == "0" or (level == "1" and not bad):
            return
        status = "5" if len(bad) == len(entries) else "0"
        fields: list[tuple[int, str]] = [(117, message.get(117) or ""), (297, status)]
        if bad:
            fields.append((58, next(iter(bad.values()))[1]))
        fields.append((296, str(len(quote_sets))))
        for set_id, quote_entries in quote_sets:
            listed = [e for e in quote_entries if level == "2" or id(e) in bad]
            fields += [(302, set_id), (304, str(len(quote_entries))), (295, str(len(listed)))]
            for e in listed:
                fields += [(299, e.entry_id), (55, e.symbol)]
                if id(e) in bad:
                    fields.append((368, bad[id(e)][0]))
        self._send(handle, "b", render(fields))


_HANDLERS: dict[str, Callable[[Any, SessionHandle, Message, dict[int, list[Group]]], None]] = {
    "D": Requests._new_order,
    "F": Requests._cancel,
    "G": Requests._replace,
    "q": Requests._mass_cancel,
    "i": Requests._mass_quote,
    "H": Requests._status_request,
    "V": MarketData._market_data_request,
}
"""The handler of each application message tokex takes (j needs none)."""
