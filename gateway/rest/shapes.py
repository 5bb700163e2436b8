"""Kraken's REST shapes for tokex's data: numbers as fixed-precision strings, pairs, orders.

Pure helpers of the REST gateway. Prices are written with the instrument's
price precision, volumes with its quantity precision, money with the
asset's precision, times as Unix seconds with decimals.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from gateway.words import order_id_text
from model.instrument import Instrument
from node.interface import ClosedOrder, OrderView, TradeRecord

__all__ = [
    "FIELD_NAMES",
    "amount",
    "closed_order",
    "descr",
    "open_order",
    "pair_id",
    "price",
    "seconds",
    "trade",
    "volume",
]

FIELD_NAMES = {
    "order_qty": "volume",
    "limit_price": "price",
    "time_in_force": "timeinforce",
    "expire_time": "expiretm",
    "display_qty": "displayvol",
    "order_userref": "userref",
    "symbol": "pair",
    "side": "type",
    "order_type": "ordertype",
    "triggers": "price",
    "cash_order_qty": "volume",
}
"""The WebSocket field names in errors, as the REST API calls them."""


def pair_id(inst: Instrument) -> str:
    """The REST name of a pair (its key and ``altname``): the symbol without the slash."""
    return inst.symbol.replace("/", "")


def price(inst: Instrument, ticks: int) -> str:
    return f"{inst.ticks_to_price(ticks):f}"


def volume(inst: Instrument, lots: int) -> str:
    return f"{inst.lots_to_qty(lots):f}"


def amount(units: int, precision: int) -> str:
    """``units`` of an asset as its decimal amount."""
    return f"{Decimal(units).scaleb(-precision):.{precision}f}"


def seconds(ns: int) -> Decimal:
    """A time as Unix seconds with four decimals (Kraken's ``opentm``, ``time``)."""
    return (Decimal(ns) / 10**9).quantize(Decimal("0.0001"))


def notional(inst: Instrument, cost: int, precision: int) -> str:
    """``cost`` (ticks x lots) as an amount of the quote asset, rounded half-even."""
    exact = Decimal(cost) * inst.price_increment * inst.qty_increment
    return f"{exact.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_EVEN):f}"


def average(inst: Instrument, filled: int, cost: int) -> str:
    if not filled:
        return price(inst, 0)
    exact = Decimal(cost) / Decimal(filled) * inst.price_increment
    return f"{exact.quantize(inst.ticks_to_price(1), rounding=ROUND_HALF_EVEN):f}"


def descr(
    inst: Instrument, side: str, order_type: str, qty: int, limit: int | None, trigger: int | None
) -> dict[str, Any]:
    """An order's ``descr``: pair, type, ordertype, price, price2 and the order as text."""
    main = trigger if trigger else limit
    second = limit if trigger and limit else None
    text = f"{side} {volume(inst, qty)} {pair_id(inst)} @ {order_type}"
    if main:
        text += f" {price(inst, main)}"
    if second:
        text += f" -> limit {price(inst, second)}"
    return {
        "pair": pair_id(inst),
        "type": side,
        "ordertype": order_type,
        "price": price(inst, main or 0),
        "price2": price(inst, second or 0),
        "leverage": "none",
        "order": text,
        "close": "",
    }


def _order(
    inst: Instrument,
    o: OrderView | ClosedOrder,
    status: str,
    opened: int,
    fee: int,
    precision: int,
) -> dict[str, Any]:
    limit = o.price or None
    trigger = o.trigger_price or None
    out: dict[str, Any] = {
        "refid": None,
        "userref": o.userref if o.userref is not None else 0,
        "status": status,
        "opentm": seconds(opened) if opened else 0,
        "starttm": 0,
        "expiretm": 0,
        "descr": descr(inst, o.side, o.order_type, o.qty, limit, trigger),
        "vol": volume(inst, o.qty),
        "vol_exec": volume(inst, o.filled),
        "cost": notional(inst, o.cost, precision),
        "fee": amount(fee, precision),
        "price": average(inst, o.filled, o.cost),
        "stopprice": price(inst, trigger or 0),
        "limitprice": price(inst, limit or 0),
        "misc": "",
        "oflags": "fciq",
        "timeinforce": o.tif.upper(),
    }
    if o.cl_ord_id is not None:
        out["cl_ord_id"] = o.cl_ord_id
    return out


def open_order(
    inst: Instrument, o: OrderView, opened: int, fee: int, precision: int
) -> dict[str, Any]:
    """An open order as ``OpenOrders`` and ``QueryOrders`` show it."""
    out = _order(inst, o, "open", opened, fee, precision)
    if o.post_only:
        out["oflags"] += ",post"
    if o.expire_ts:
        out["expiretm"] = seconds(o.expire_ts)
    return out


def closed_order(inst: Instrument, o: ClosedOrder, fee: int, precision: int) -> dict[str, Any]:
    """A closed order as ``ClosedOrders`` and ``QueryOrders`` show it (filled is ``closed``)."""
    status = "closed" if o.status == "filled" else o.status
    out = _order(inst, o, status, o.opened_ts, fee, precision)
    out["closetm"] = seconds(o.closed_ts)
    out["reason"] = o.reason
    return out


def trade(
    inst: Instrument, t: TradeRecord, account: str, order_types: dict[int, str], precision: int
) -> dict[str, Any]:
    """``account``'s side of a trade as ``TradesHistory`` and ``QueryTrades`` show it."""
    taker = t.taker_account == account
    side = t.taker_side if taker else ("sell" if t.taker_side == "buy" else "buy")
    order_id = t.taker_order_id if taker else t.maker_order_id
    fee = t.taker_fee if taker else t.maker_fee
    return {
        "ordertxid": order_id_text(order_id),
        "postxid": "",
        "pair": pair_id(inst),
        "time": seconds(t.ts),
        "type": side,
        "ordertype": t.taker_type if taker else order_types.get(order_id, "limit"),
        "price": price(inst, t.price),
        "cost": amount(t.quote_qty, precision),
        "fee": amount(fee, precision),
        "vol": volume(inst, t.qty),
        "margin": amount(0, precision),
        "misc": "",
        "trade_id": t.trade_id,
        "maker": not taker,
    }
