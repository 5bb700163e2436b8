"""Order-entry messages turned into engine commands: pure, no sockets, no state.

Each ``parse_*`` takes a validated message (its fields are of the right
format and enumerated values, ``gateway.fix.validate``) and returns the
command, or raises :class:`Refused`: ``missing`` for a field the order needs
that the message lacks (a BusinessMessageReject, BusinessRejectReason 5,
QuickFIX's answer to a conditionally required field), otherwise a refusal the
order's own report carries (an ExecutionReport rejected, an OrderCancelReject,
a MassCancelReport or a quote entry rejected) with the WebSocket API's words
in Text (58). Prices and quantities are converted exactly, never rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from engine.sessions import trading_day_end_ns
from gateway.fix.codec import Message
from gateway.fix.reports import FIX_ORD_TYPE, FIX_TIF
from gateway.fix.times import parse_timestamp
from gateway.fix.validate import Group
from gateway.reasons import ERRORS, error_for
from model.commands import MAX_ID_TEXT, CancelAll, CancelOrder, CommandError, NewOrder, ReplaceOrder
from model.instrument import GridError, Instrument
from node.interface import OrderView

__all__ = [
    "QuoteEntry",
    "Refused",
    "order_ref",
    "parse_cancel",
    "parse_mass_cancel",
    "parse_new_order",
    "parse_quotes",
    "parse_replace",
]

_ORDER_TYPES = {"1": "market", "2": "limit", "3": "stop-loss", "4": "stop-loss-limit"}
_ORDER_TYPES["J"] = "take-profit"
_TIME_IN_FORCE = {"0": "day", "1": "gtc", "3": "ioc", "4": "fok", "6": "gtd"}
_SIDES = {"1": "buy", "2": "sell"}


class Fields(Protocol):
    """What a message or group instance offers to read: a tag's value."""

    def get(self, tag: int, /) -> str | None: ...


class Refused(Exception):
    """A request that cannot become a command; ``str()`` is the Text (58) to answer with.

    ``missing``: the tag of a required field that is absent (BusinessMessageReject
    5), else 0. ``reason``: OrdRejReason (103) when it is an order's rejection.
    """

    def __init__(self, text: str, missing: int = 0, reason: str = "99") -> None:
        super().__init__(text)
        self.missing = missing
        self.reason = reason


def _invalid(text: str, reason: str = "99") -> Refused:
    return Refused(error_for("invalid_arguments", text), reason=reason)


def _need(message: Fields, tag: int, name: str) -> str:
    value = message.get(tag)
    if value is None:
        raise Refused(f"{name} ({tag}) is required here", missing=tag)
    return value


def _instrument(instruments: dict[str, Instrument], symbol: str | None) -> Instrument:
    if symbol is None:
        raise Refused("Symbol (55) is required", missing=55)
    inst = instruments.get(symbol)
    if inst is None:
        raise Refused(f"EGeneral:Invalid arguments:Symbol (55) {symbol!r}: not listed", reason="1")
    return inst


def _grid(increment: Decimal) -> tuple[int, int]:
    """An increment as (integer, decimal places): 0.01 -> (1, 2), 5 -> (5, 0)."""
    sign, digits, exponent = increment.as_tuple()
    number = int("".join(map(str, digits)))
    assert isinstance(exponent, int) and not sign
    return (number, -exponent) if exponent < 0 else (number * 10**exponent, 0)


_GRIDS: dict[Decimal, tuple[int, int]] = {}


def _whole(value: str, increment: Decimal) -> int | None:
    """A FIX decimal (its format checked) as a positive whole number of ``increment``; None.

    Integer arithmetic on the text, exact: the common case of every order,
    where Decimal would cost more than the rest of the parsing. None sends
    the value to the instrument's own converter, which names the problem.
    """
    if len(value) > 30 or value.startswith("-"):
        return None
    grid = _GRIDS.get(increment)
    if grid is None:
        grid = _GRIDS[increment] = _grid(increment)
    whole, _, frac = value.partition(".")
    units, places = grid
    top = int(whole + frac or "0") * 10**places
    count, rest = divmod(top, units * 10 ** len(frac))
    return count if not rest and count > 0 else None


def _ticks(inst: Instrument, value: str | None, name: str) -> int | None:
    if value is None:
        return None
    found = _whole(value, inst.price_increment)
    if found is not None:
        return found
    try:
        return inst.price_to_ticks(value, name)
    except GridError as e:
        raise _invalid(str(e)) from None


def _lots(inst: Instrument, value: str | None, name: str) -> int | None:
    if value is None:
        return None
    found = _whole(value, inst.qty_increment)
    if found is not None:
        return found
    try:
        return inst.qty_to_lots(value, name)
    except GridError as e:
        raise _invalid(str(e), "13") from None


def _cl_ord_id(value: str, name: str = "ClOrdID (11)") -> str:
    if len(value) > MAX_ID_TEXT:
        raise _invalid(f"{name} {value!r}: at most {MAX_ID_TEXT} characters")
    return value


def order_ref(value: str | None) -> int | None:
    """An OrderID (37) as tokex writes it (``O17``; ``17`` is taken too), or None."""
    if value is None:
        return None
    digits = value[1:] if value.startswith("O") else value
    if not digits.isdecimal() or not digits.isascii() or len(digits) > 18:
        return None
    return int(digits) or None


def _post_only(message: Fields) -> bool:
    """ExecInst (18): 6 (participate, do not initiate) is post-only; nothing else is taken."""
    inst = message.get(18)
    if inst is None:
        return False
    for word in inst.split(" "):
        if word != "6":
            raise _invalid(f"ExecInst (18) {word!r}: only 6 (post-only) is supported", "11")
    return True


def _kind(message: Fields) -> tuple[str, str]:
    """(order type, time in force) of a D or G."""
    code = message.get(40) or ""
    kind = _ORDER_TYPES.get(code)
    if kind is None:
        raise _invalid(f"OrdType (40) {code!r}: one of 1, 2, 3, 4, J", "11")
    tif_code = message.get(59) or "0"
    tif = _TIME_IN_FORCE.get(tif_code)
    if tif is None:
        raise _invalid(f"TimeInForce (59) {tif_code!r}: one of 0, 1, 3, 4, 6", "11")
    if message.get(111) is not None:
        if kind != "limit":
            raise _invalid("MaxFloor (111): only for limit orders", "11")
        kind = "iceberg"
    return kind, tif


def parse_new_order(
    message: Message,
    account: str,
    instruments: dict[str, Instrument],
    quote_precision: dict[str, int],
    now: int,
) -> NewOrder:
    """A NewOrderSingle (D) as a NewOrder (seq and ts are the sequencer's)."""
    fields = message.index
    inst = _instrument(instruments, fields.get(55))
    side = _SIDES.get(fields.get(54) or "")
    if side is None:
        raise _invalid(f"Side (54) {fields.get(54)!r}: 1 (buy) or 2 (sell)", "11")
    kind, tif = _kind(fields)
    price = _ticks(inst, fields.get(44), "Price (44)")
    if price is None and kind in ("limit", "iceberg", "stop-loss-limit"):
        _need(fields, 44, "Price")
    trigger = _ticks(inst, fields.get(99), "StopPx (99)")
    if trigger is None and kind in ("stop-loss", "stop-loss-limit", "take-profit"):
        _need(fields, 99, "StopPx")
    cash = _cash(fields.get(152), quote_precision[inst.quote])
    qty = _lots(inst, fields.get(38), "OrderQty (38)")
    if qty is None:
        if cash is None:
            _need(fields, 38, "OrderQty")
        qty = inst.qty_max  # sized by what it may spend: at most the largest order
    expire = None
    if tif == "day":
        expire = trading_day_end_ns(now)
    elif tif == "gtd":
        expire = parse_timestamp(_need(fields, 126, "ExpireTime"))
    try:
        return NewOrder(
            0,
            0,
            account,
            inst.symbol,
            side,  # type: ignore[arg-type]
            qty,
            price,
            kind,  # type: ignore[arg-type]
            tif,  # type: ignore[arg-type]
            expire,
            _post_only(fields),
            _lots(inst, fields.get(111), "MaxFloor (111)"),
            trigger,
            _cl_ord_id(fields.get(11) or ""),
            None,
            "cancel_newest",
            cash,
        )
    except CommandError as e:
        raise _invalid(str(e), "11") from None


def _cash(text: str | None, precision: int) -> int | None:
    """CashOrderQty (152) in units of the quote asset (exact, positive)."""
    if text is None:
        return None
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    if whole.startswith("-") or len(frac) > precision:
        raise _invalid(f"CashOrderQty (152) {text!r}: a positive multiple of 1e-{precision}")
    scale: int = 10**precision
    units = int(whole or "0") * scale + int(frac.ljust(precision, "0") or "0")
    if units <= 0:
        raise _invalid(f"CashOrderQty (152) {text!r}: must be above zero")
    return units


def parse_cancel(message: Message, account: str) -> CancelOrder:
    """An OrderCancelRequest (F): the order by OrderID (37) if given, else OrigClOrdID (41)."""
    fields = message.index
    order_id = order_ref(fields.get(37))
    if fields.get(37) is not None and order_id is None:
        raise Refused(ERRORS["unknown_order"], reason="1")
    try:
        if order_id is not None:
            return CancelOrder(0, 0, account, order_id)
        return CancelOrder(0, 0, account, None, _cl_ord_id(fields.get(41) or "", "OrigClOrdID"))
    except CommandError as e:
        raise _invalid(str(e)) from None


def parse_replace(
    message: Message,
    account: str,
    instruments: dict[str, Instrument],
    current: OrderView | None,
) -> ReplaceOrder:
    """An OrderCancelReplaceRequest (G) as a ReplaceOrder (cancel and replace).

    ``current`` is the order now (None: unknown, which the engine answers).
    What a replace cannot change (Symbol, Side, OrdType, TimeInForce) must be
    restated as it is.
    """
    fields = message.index
    inst = _instrument(instruments, fields.get(55))
    order_id = order_ref(fields.get(37))
    if fields.get(37) is not None and order_id is None:
        raise Refused(ERRORS["unknown_order"], reason="1")
    kind, tif = _kind(fields)
    if current is not None:
        side = "1" if current.side == "buy" else "2"
        for name, tag, now, wanted in (
            ("Symbol", 55, current.symbol, inst.symbol),
            ("Side", 54, side, fields.get(54)),
            ("OrdType", 40, FIX_ORD_TYPE[current.order_type], FIX_ORD_TYPE[kind]),
            ("TimeInForce", 59, FIX_TIF[current.tif], FIX_TIF[tif]),
        ):
            if now != wanted:
                raise _invalid(f"{name} ({tag}) {wanted!r}: cannot change from {now!r}", "2")
    price = _ticks(inst, fields.get(44), "Price (44)")
    if price is None and kind in ("limit", "iceberg", "stop-loss-limit"):
        _need(fields, 44, "Price")
    try:
        return ReplaceOrder(
            0,
            0,
            account,
            order_id,
            None if order_id is not None else _cl_ord_id(fields.get(41) or "", "OrigClOrdID"),
            _lots(inst, fields.get(38), "OrderQty (38)"),
            price,
            _lots(inst, fields.get(111), "MaxFloor (111)"),
            _ticks(inst, fields.get(99), "StopPx (99)")
            if current is None or current.stop
            else None,
            _post_only(fields),
            _cl_ord_id(fields.get(11) or ""),
        )
    except CommandError as e:
        raise _invalid(str(e)) from None


def parse_mass_cancel(
    message: Message, account: str, instruments: dict[str, Instrument]
) -> CancelAll:
    """An OrderMassCancelRequest (q): 530 = 1 (one Symbol) or 7 (all orders)."""
    fields = message.index
    kind = fields.get(530)
    if kind == "7":
        return CancelAll(0, 0, account)
    if kind == "1":
        return CancelAll(0, 0, account, _instrument(instruments, fields.get(55)).symbol)
    raise Refused(f"MassCancelRequestType (530) {kind!r}: only 1 and 7 are supported", reason="0")


@dataclass(frozen=True)
class QuoteEntry:
    """One quote entry of a MassQuote: a symbol's bid and offer (either may be absent).

    ``problem`` is why it is refused (then ``reason`` is its
    QuoteEntryRejectReason, 368); such an entry places nothing.
    """

    entry_id: str
    symbol: str
    bid: tuple[int, int] | None
    """(price ticks, size lots)"""
    offer: tuple[int, int] | None
    problem: str = ""
    reason: str = ""


def parse_quotes(
    groups: dict[int, list[Group]], instruments: dict[str, Instrument]
) -> list[tuple[str, list[QuoteEntry]]]:
    """A MassQuote's (i) quote sets: [(QuoteSetID, entries)], each entry checked on its own."""
    out: list[tuple[str, list[QuoteEntry]]] = []
    for quote_set in groups.get(296, []):
        entries = [_quote_entry(entry, instruments) for entry in quote_set.groups.get(295, [])]
        out.append((quote_set.get(302) or "", entries))
    return out


def _quote_entry(entry: Group, instruments: dict[str, Instrument]) -> QuoteEntry:
    entry_id = entry.get(299) or ""
    symbol = entry.get(55) or ""
    inst = instruments.get(symbol)
    if inst is None:
        return QuoteEntry(entry_id, symbol, None, None, f"Symbol (55) {symbol!r}: not listed", "1")
    try:
        sides: list[tuple[int, int] | None] = []
        for px_tag, size_tag, name in ((132, 134, "Bid"), (133, 135, "Offer")):
            size = entry.get(size_tag)
            if size is None or _is_zero(size):
                sides.append(None)
                continue
            price = _ticks(inst, entry.get(px_tag), f"{name}Px ({px_tag})")
            if price is None:
                raise _invalid(f"{name}Px ({px_tag}) is required with a {name}Size", "8")
            lots = _lots(inst, size, f"{name}Size ({size_tag})")
            assert lots is not None
            sides.append((price, lots))
    except Refused as e:
        return QuoteEntry(entry_id, symbol, None, None, str(e), "8")
    return QuoteEntry(entry_id, symbol, sides[0], sides[1])


def _is_zero(text: str) -> bool:
    return text.strip("-0.") == ""
