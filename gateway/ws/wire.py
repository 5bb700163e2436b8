"""The WebSocket dialect's numbers, times and execution reports.

Pure helpers shared by the gateway's modules: they turn ticks and lots into JSON numbers
written with the instrument's precision, nanoseconds into RFC 3339 times,
and engine events into ``executions`` items for the account they concern.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

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
from model.instrument import Instrument

__all__ = ["executions_for", "fill_item", "order_id_text", "rfc3339"]

_last_second: list[object] = [None, ""]


def rfc3339(ns: int) -> str:
    """``2026-11-20T15:00:00.000100Z``: UTC with microseconds.

    Every answer carries two and every report one; the formatted second is
    kept and only the microseconds are written when the second is the same.
    """
    seconds, rest = divmod(ns, 10**9)
    if _last_second[0] != seconds:
        stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second[0], _last_second[1] = seconds, stamp
    return f"{_last_second[1]}.{rest // 1_000:06d}Z"


def order_id_text(order_id: int) -> str:
    """An order id as the wire shows it (``O17``)."""
    return f"O{order_id}"


def _price(inst: Instrument, ticks: int | None) -> Decimal | None:
    return None if ticks is None else inst.ticks_to_price(ticks)


def _qty(inst: Instrument, lots: int) -> Decimal:
    return inst.lots_to_qty(lots)


class Fill(Protocol):
    """A trade as the engine reports it or the history keeps it (the same field names)."""

    @property
    def trade_id(self) -> int: ...
    @property
    def ts(self) -> int: ...
    @property
    def symbol(self) -> str: ...
    @property
    def price(self) -> int: ...
    @property
    def qty(self) -> int: ...
    @property
    def quote_qty(self) -> int: ...
    @property
    def taker_side(self) -> str: ...
    @property
    def taker_order_id(self) -> int: ...
    @property
    def taker_account(self) -> str: ...
    @property
    def taker_leaves(self) -> int: ...
    @property
    def taker_fee(self) -> int: ...
    @property
    def maker_order_id(self) -> int: ...
    @property
    def maker_account(self) -> str: ...
    @property
    def maker_leaves(self) -> int: ...
    @property
    def maker_fee(self) -> int: ...


def _fills(
    trade: Fill, inst: Instrument, quote_precision: dict[str, int]
) -> list[tuple[str, dict[str, Any]]]:
    """Both sides' ``executions`` items of one trade, taker first: (account, item)."""
    scale = Decimal(1).scaleb(-quote_precision[inst.quote])
    when = rfc3339(trade.ts)
    out = []
    for account, order_id, leaves, fee, liquidity in (
        (trade.taker_account, trade.taker_order_id, trade.taker_leaves, trade.taker_fee, "t"),
        (trade.maker_account, trade.maker_order_id, trade.maker_leaves, trade.maker_fee, "m"),
    ):
        done = leaves == 0
        side = trade.taker_side
        if liquidity == "m":
            side = "sell" if side == "buy" else "buy"
        item = {
            "exec_type": "filled" if done else "trade",
            "order_id": order_id_text(order_id),
            "exec_id": f"T{trade.trade_id}",
            "symbol": trade.symbol,
            "side": side,
            "last_qty": _qty(inst, trade.qty),
            "last_price": _price(inst, trade.price),
            "liquidity_ind": liquidity,
            "cost": trade.quote_qty * scale,
            "fees": [{"asset": inst.quote, "qty": fee * scale}],
            "leaves_qty": _qty(inst, leaves),
            "order_status": "filled" if done else "partially_filled",
            "timestamp": when,
        }
        out.append((account, item))
    return out


def fill_item(
    trade: Fill, account: str, inst: Instrument, quote_precision: dict[str, int]
) -> dict[str, Any]:
    """``account``'s side of a past trade as an ``executions`` snapshot item (``trade``)."""
    for who, item in _fills(trade, inst, quote_precision):
        if who == account:
            return {**item, "exec_type": "trade"}
    raise ValueError(f"trade {trade.trade_id}: {account} took no part in it")


def executions_for(
    events: list[Event], instruments: dict[str, Instrument], quote_precision: dict[str, int]
) -> dict[str, list[dict[str, Any]]]:
    """Each account's ``executions`` items for one command's events, in engine order."""
    out: dict[str, list[dict[str, Any]]] = {}

    def add(account: str, item: dict[str, Any]) -> None:
        out.setdefault(account, []).append(item)

    for ev in events:
        when = rfc3339(ev.ts)
        if isinstance(ev, OrderAccepted):
            o = ev.order
            inst = instruments[o.symbol]
            item: dict[str, Any] = {
                "exec_type": "new",
                "order_id": order_id_text(ev.order_id),
                "symbol": o.symbol,
                "side": o.side,
                "order_type": o.order_type,
                "order_qty": _qty(inst, o.qty),
                "time_in_force": o.tif,
                "order_status": "new" if o.trigger_price is None else "untriggered",
                "timestamp": when,
            }
            if o.price is not None:
                item["limit_price"] = _price(inst, o.price)
            if o.cl_ord_id is not None:
                item["cl_ord_id"] = o.cl_ord_id
            if o.userref is not None:
                item["order_userref"] = o.userref
            add(o.account, item)
        elif isinstance(ev, TradeExecuted):
            for account, item in _fills(ev, instruments[ev.symbol], quote_precision):
                add(account, item)
        elif isinstance(ev, OrderCancelled | OrderExpired):
            inst = instruments[ev.symbol]
            expired = isinstance(ev, OrderExpired)
            item = {
                "exec_type": "expired" if expired else "canceled",
                "order_id": order_id_text(ev.order_id),
                "symbol": ev.symbol,
                "order_status": "expired" if expired else "canceled",
                "leaves_qty": _qty(inst, ev.leaves),
                "timestamp": when,
            }
            if isinstance(ev, OrderCancelled):
                item["reason"] = ev.reason
            add(ev.account, item)
        elif isinstance(ev, OrderAmended):
            inst = instruments[ev.symbol]
            item = {
                "exec_type": "amended",
                "order_id": order_id_text(ev.order_id),
                "symbol": ev.symbol,
                "order_qty": _qty(inst, ev.qty),
                "leaves_qty": _qty(inst, ev.leaves),
                "timestamp": when,
            }
            if ev.price is not None:
                item["limit_price"] = _price(inst, ev.price)
            add(ev.account, item)
        elif isinstance(ev, OrderTriggered):
            add(
                ev.account,
                {
                    "exec_type": "triggered",
                    "order_id": order_id_text(ev.order_id),
                    "symbol": ev.symbol,
                    "order_status": "new",
                    "timestamp": when,
                },
            )
        elif isinstance(ev, IcebergRefilled):
            inst = instruments[ev.symbol]
            add(
                ev.account,
                {
                    "exec_type": "iceberg_refill",
                    "order_id": order_id_text(ev.order_id),
                    "symbol": ev.symbol,
                    "display_qty": _qty(inst, ev.shown),
                    "timestamp": when,
                },
            )
    return out
