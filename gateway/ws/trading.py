"""The WebSocket gateway's trading and operator methods (WS_API.md), as a mixin.

Every handler checks the session and role, parses the request into commands
(:mod:`gateway.ws.requests`, pure) and queues them on the exchange's pipeline
with the callback that answers: nothing waits here, so a connection keeps
reading while its earlier requests are being made durable, and the answers
still come in pipeline order. A success answer goes out only once the
command is journaled, and always before the executions it caused.

``validate`` (on ``add_order`` and ``batch_add``) is a read-only query run in
its turn in the pipeline: it sees the state exactly after the commands queued
before it, answers in order with them, and goes into no journal.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from engine.events import OrderRejected
from gateway.reasons import error_for
from gateway.requests import (
    RequestError,
    only,
    parse_amend,
    parse_batch,
    parse_batch_cancel,
    parse_cancel_after,
    parse_cancels,
    parse_edit,
    parse_flag,
    parse_new_order,
    parse_operator,
)
from gateway.ws.channels import Connection
from gateway.ws.wire import order_id_text, rfc3339
from model.commands import BatchOrder, CancelAll, CancelOrder, Command, NewOrder
from model.instrument import Instrument
from node.config import AccountAccess
from node.interface import Busy, Node, OrderView, Refusal, Sequenced

__all__ = ["Answer", "Trading"]

_Invalid = RequestError


class Answer(Protocol):
    """Answers one request: a result, or an error (with extra envelope fields)."""

    def __call__(
        self,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
        final: bool = True,
    ) -> None: ...


class Trading:
    """Trading and operator methods; the gateway provides the attributes used here."""

    node: Node
    instruments: dict[str, Instrument]
    quote_precision: dict[str, int]
    by_account: dict[str, AccountAccess]

    def _trader(self, conn: Connection, params: dict[str, Any]) -> AccountAccess:
        raise NotImplementedError

    def _entry(self, conn: Connection, params: dict[str, Any]) -> AccountAccess:
        """The trader placing or changing orders; ``EService:Busy`` at once, before any
        parsing, while the pipeline refuses order entry or the server is behind reading
        this connection."""
        access = self._trader(conn, params)
        if conn.behind or self.node.busy:
            raise _Invalid("EService:Busy")
        return access

    def _operator(self, conn: Connection, params: dict[str, Any]) -> AccountAccess:
        raise NotImplementedError

    # ------------------------------------------------------------ the pipeline

    def _queue(self, enqueue: Callable[[], None]) -> None:
        """Queue on the pipeline; a full or closing pipeline is answered, nothing placed."""
        try:
            enqueue()
        except Busy:
            raise _Invalid("EService:Busy") from None
        except RuntimeError as e:
            raise _Invalid(f"EService:Unavailable:{e}") from None

    def _one(
        self,
        command: Command,
        answer: Answer,
        result: Callable[[Sequenced], Any],
        funding: bool = False,
    ) -> None:
        """Queue one command; answer with ``result(applied)`` or the engine's refusal.

        ``funding``: an operator's deposit or withdrawal, whose shortfall is
        ``EFunding:Insufficient funds`` rather than an order's.
        """

        def done(applied: list[Sequenced]) -> None:
            last = applied[-1]
            events = last[1]
            if events and isinstance(events[0], OrderRejected):
                reason = events[0].reason
                if funding and reason == "insufficient_funds":
                    answer(error="EFunding:Insufficient funds")
                    return
                answer(error=error_for(reason, events[0].text))
            else:
                answer(result(last))

        self._queue(lambda: self.node.enqueue(command, done, _failed(answer)))

    def _validate(self, orders: list[NewOrder], answer: Answer, result: dict[str, Any]) -> None:
        """Queue the dry run of ``orders`` (taken together); answer ``result`` or the refusal."""

        def done(refusal: Refusal | None) -> None:
            if refusal is None:
                answer(result)
            else:
                extra = {"order_index": refusal.index} if len(orders) > 1 else None
                answer(error=error_for(refusal.reason, refusal.text), extra=extra)

        self._queue(lambda: self.node.enqueue_check(orders, done))

    # ------------------------------------------------------------ orders

    def _add_order(self, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        access = self._entry(conn, params)
        command = parse_new_order(
            access.account,
            params,
            self.instruments,
            self.quote_precision,
            self.node.now(),
        )
        tags = _tags(command)
        if parse_flag(params, "validate", False):
            self._validate([command], answer, tags)
            return
        # The order id is the command's seq, known once it is sequenced.
        self._one(command, answer, lambda last: {"order_id": order_id_text(last[0].seq), **tags})

    def _batch_add(self, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        access = self._entry(conn, params)
        parts = parse_batch(
            access.account,
            params,
            self.instruments,
            self.quote_precision,
            self.node.now(),
        )

        if parse_flag(params, "validate", False):
            self._validate(list(parts), answer, {"orders": [_tags(p) for p in parts]})
            return

        def done(applied: list[Sequenced]) -> None:
            placed = [c for c, _ in applied if isinstance(c, BatchOrder)]
            events = applied[-1][1]
            if events and isinstance(events[0], OrderRejected):
                bad = events[0]
                index = next(i for i, c in enumerate(placed) if c.seq == bad.seq)
                answer(error=error_for(bad.reason, bad.text), extra={"order_index": index})
                return
            orders = [{"order_id": order_id_text(c.seq), **_tags(c)} for c in placed]
            answer({"orders": orders})

        commands: list[Command] = list(parts)
        self._queue(lambda: self.node.enqueue_group(commands, done, _failed(answer)))

    def _amend_order(self, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        access = self._entry(conn, params)
        command = parse_amend(access.account, params, self.instruments, self._find(access))
        self._one(
            command,
            answer,
            lambda last: {
                "amend_id": f"A{last[0].seq}",
                "order_id": order_id_text(getattr(last[1][0], "order_id", 0)),
            },
        )

    def _edit_order(self, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        access = self._entry(conn, params)
        command = parse_edit(access.account, params, self.instruments)
        self._one(
            command,
            answer,
            lambda last: {
                "order_id": order_id_text(last[0].seq),
                "original_order_id": order_id_text(command.order_id or 0),
            },
        )

    def _cancel_order(self, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        access = self._trader(conn, params)
        self._cancel_named(parse_cancels(access.account, params), answer)

    def _cancel_named(self, named: list[tuple[str, CancelOrder | None]], answer: Answer) -> None:
        """Cancel each named order, as one group; count them, warn of the unknown ones.

        An id the exchange never issued (None: not in its format) is unknown
        without asking the engine. If no order matched at all, the answer is
        ``EOrder:Unknown order`` (WS_API.md).
        """
        placed = [(name, c) for name, c in named if c is not None]
        foreign = [name for name, c in named if c is None]

        def done(applied: list[Sequenced]) -> None:
            count = 0
            unknown: list[str] = []
            # Timers due may come first; the cancels are the last len(placed).
            for (name, _), (_, events) in zip(placed, applied[-len(placed) :], strict=True):
                if events and isinstance(events[0], OrderRejected):
                    unknown.append(name)
                else:
                    count += len(events)
            if not count:
                answer(error="EOrder:Unknown order")
                return
            result: dict[str, Any] = {"count": count}
            unknown += foreign
            if unknown:
                result["warnings"] = [f"EOrder:Unknown order:{name}" for name in unknown]
            answer(result)

        if not placed:
            raise _Invalid("EOrder:Unknown order")
        commands: list[Command] = [c for _, c in placed]
        self._queue(lambda: self.node.enqueue_group(commands, done, _failed(answer)))

    def _batch_cancel(self, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        access = self._trader(conn, params)
        self._cancel_named(parse_batch_cancel(access.account, params), answer)

    def _cancel_all(self, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        access = self._trader(conn, params)
        only(params, "cancel_all", frozenset({"symbol", "token"}))
        self._one(
            CancelAll(0, 0, access.account, self._symbol_param(params)),
            answer,
            lambda last: {"count": len(last[1])},
        )

    def _symbol_param(self, params: dict[str, Any]) -> str | None:
        """The optional ``symbol`` of a mass cancel: None, or a listed symbol."""
        symbol = params.get("symbol")
        if symbol is not None and (not isinstance(symbol, str) or symbol not in self.instruments):
            raise _Invalid(f"EGeneral:Invalid arguments:symbol {symbol!r}: not listed")
        return symbol

    def _cancel_after(self, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        access = self._trader(conn, params)
        command = parse_cancel_after(access.account, params)
        self._one(
            command,
            answer,
            lambda last: {
                "currentTime": rfc3339(last[0].ts),
                "triggerTime": rfc3339(last[0].ts + command.timeout_ns)
                if command.timeout_ns
                else "0",
            },
        )

    def _find(self, access: AccountAccess) -> Callable[[int | None, str | None], OrderView | None]:
        node = self.node
        return lambda order_id, clid: node.find_order(access.account, order_id, clid)

    # ------------------------------------------------------------ operator

    def _operator_method(
        self, conn: Connection, params: dict[str, Any], answer: Answer, method: str
    ) -> None:
        access = self._operator(conn, params)
        command = parse_operator(
            method, access.account, params, self.instruments, self.quote_precision
        )
        self._one(command, answer, lambda last: {"seq": last[0].seq}, funding=True)

    def _mass_cancel(self, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        """Operator: cancel every open order of ``account`` (in ``symbol`` only, if given).

        The cancels report reason ``operator``. The kill switch also stops
        new orders; this only clears the book of the account's orders.
        """
        self._operator(conn, params)
        only(params, "mass_cancel", frozenset({"account", "symbol", "token"}))
        account = params.get("account")
        if not isinstance(account, str) or account not in self.by_account:
            raise _Invalid(f"EGeneral:Invalid arguments:account {account!r}: not an account")
        command = CancelAll(0, 0, account, self._symbol_param(params), "operator")
        self._one(command, answer, lambda last: {"count": len(last[1])})

    def _settlement_status(self, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        self._operator(conn, params)
        only(params, "settlement_status", frozenset({"token"}))
        report = self.node.report("settlement")
        if report is None:
            raise _Invalid("EService:Unavailable:settlement is not running")
        answer(report)

    def _clock_advance(self, conn: Connection, params: dict[str, Any], answer: Answer) -> None:
        self._operator(conn, params)
        only(params, "clock_advance", frozenset({"seconds", "token"}))
        seconds = params.get("seconds")
        if not isinstance(seconds, int | Decimal) or isinstance(seconds, bool):
            raise _Invalid(f"EGeneral:Invalid arguments:seconds {seconds!r}: must be a number")
        if not 0 <= seconds <= 366 * 86_400:
            raise _Invalid(f"EGeneral:Invalid arguments:seconds {seconds}: 0 to a year")
        ns = Decimal(seconds) * 10**9
        if ns != ns.to_integral_value():
            raise _Invalid(f"EGeneral:Invalid arguments:seconds {seconds}: at most 9 decimals")
        try:
            now = self.node.advance_clock(int(ns))
        except ValueError as e:
            raise _Invalid(f"EGeneral:Invalid arguments:{e}") from None
        # Every timer the jump passed runs at its own instant, before the answer.
        self._queue(lambda: self.node.enqueue_tick(lambda _: answer({"time": rfc3339(now)})))


def _failed(answer: Answer) -> Callable[[Exception], None]:
    """The answer to a command the journal could not take (nothing was applied)."""

    def failed(e: Exception) -> None:
        if isinstance(e, Busy):  # refused by the node behind a gateway worker
            answer(error="EService:Busy")
        else:
            answer(error=f"EGeneral:Invalid arguments:{e}")

    return failed


def _tags(order: NewOrder) -> dict[str, Any]:
    """The client's own ids of an order, as its answer echoes them."""
    out: dict[str, Any] = {}
    if order.cl_ord_id is not None:
        out["cl_ord_id"] = order.cl_ord_id
    if order.userref is not None:
        out["order_userref"] = order.userref
    return out
