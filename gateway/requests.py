"""Requests of the Kraken dialects turned into engine commands: pure, no sockets.

Each ``parse_*`` takes a request's ``params`` (decoded JSON) and what it
needs to know (instruments, precisions, the time) and returns a command, or
raises :class:`RequestError` carrying the exact error string to answer with
(``EGeneral:Invalid arguments:<field> <value>: <rule>``).

Strict, field by field (docs/WS.md, "Bad input"): a parameter the method
does not take is refused by name; so is one that does not apply to this
order (``expire_time`` unless ``time_in_force`` is ``gtd``, ``triggers``
unless the order is a stop, ``display_qty`` unless it is an iceberg, an
amend's ``trigger_price`` unless the order is a stop waiting for its
trigger). Every field has one type. Prices and quantities are JSON numbers
(read exactly from the text: the gateway decodes them as decimals, never as
binary floats) or plain decimal strings (digits with at most one point: no
sign, spaces, exponent or other digits), converted exactly and refused when
off the grid, never rounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import msgspec

from engine.sessions import trading_day_end_ns
from model.commands import (
    MAX_BATCH,
    MAX_ID_TEXT,
    ORDER_TYPES,
    STOP_KINDS,
    STP_TYPES,
    TIME_IN_FORCE,
    AmendOrder,
    BatchOrder,
    CancelAllAfter,
    CancelOrder,
    CommandError,
    CorporateAction,
    Deposit,
    Halt,
    NewOrder,
    ReplaceOrder,
    Resume,
    SetKillSwitch,
    SetReferencePrice,
    Withdraw,
)
from model.instrument import GridError, Instrument, to_decimal
from node.interface import OrderView

__all__ = [
    "RequestError",
    "exact",
    "only",
    "parse_amend",
    "parse_batch",
    "parse_batch_cancel",
    "parse_cancel_after",
    "parse_cancels",
    "parse_edit",
    "parse_flag",
    "parse_new_order",
    "parse_operator",
    "parse_order_ref",
    "parse_time",
]


class RequestError(Exception):
    """A request that cannot be taken; ``str()`` is the error string for the answer."""


_INVALID = "EGeneral:Invalid arguments:"
_ORDER_ID = re.compile(r"O[0-9]{1,19}")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")

_ORDER_FIELDS = frozenset(
    {
        "order_type",
        "side",
        "order_qty",
        "symbol",
        "limit_price",
        "time_in_force",
        "expire_time",
        "post_only",
        "display_qty",
        "triggers",
        "cash_order_qty",
        "cl_ord_id",
        "order_userref",
        "stp_type",
    }
)
"""What one order takes (an add_order, or an order of a batch_add)."""
ADD_FIELDS = _ORDER_FIELDS | {"validate", "token"}
BATCH_FIELDS = frozenset({"symbol", "orders", "validate", "token"})
AMEND_FIELDS = frozenset(
    {
        "order_id",
        "cl_ord_id",
        "order_qty",
        "limit_price",
        "display_qty",
        "post_only",
        "trigger_price",
        "token",
    }
)
EDIT_FIELDS = frozenset(
    {
        "order_id",
        "symbol",
        "order_qty",
        "limit_price",
        "display_qty",
        "post_only",
        "new_cl_ord_id",
        "order_userref",
        "token",
    }
)
CANCEL_FIELDS = frozenset({"order_id", "cl_ord_id", "order_userref", "token"})
_OPERATOR_FIELDS: dict[str, frozenset[str]] = {
    "deposit": frozenset({"account", "asset", "amount", "token"}),
    "withdraw": frozenset({"account", "asset", "amount", "token"}),
    "halt": frozenset({"symbol", "reason", "token"}),
    "resume": frozenset({"symbol", "auction_seconds", "token"}),
    "set_reference_price": frozenset({"symbol", "price", "token"}),
    "kill_switch": frozenset({"account", "enabled", "token"}),
    "corporate_action": frozenset(
        {"symbol", "kind", "ratio", "multiplier", "effective_time", "token"}
    ),
}


def _invalid(what: str) -> RequestError:
    return RequestError(f"{_INVALID}{what}")


def only(p: dict[str, Any], what: str, allowed: frozenset[str]) -> None:
    """Refuse the first parameter of ``p`` that ``what`` (a method) does not take."""
    for key in p:
        if key not in allowed:
            raise _invalid(f"{key}: not a parameter of {what}")


def exact(value: object, field: str) -> object:
    """``value`` if it may be read as an exact number: a JSON number or a plain decimal string.

    A string must be ASCII digits with at most one point between digits:
    ``" 200.00"``, ``"+1"``, ``"1e2"``, ``".5"`` are refused (a JSON number
    in exponent form is a number, and is read exactly).
    """
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise _invalid(
            f"{field} {value!r}: must be a number or a decimal string of digits with at most"
            " one point (no sign, spaces or exponent)"
        )
    return value


def _not_here(p: dict[str, Any], field: str, why: str) -> None:
    """Refuse ``field`` where it does not apply, whatever its value (null is leaving it out)."""
    if p.get(field) is not None:
        raise _invalid(f"{field} {p[field]!r}: {why}")


def _instrument(instruments: dict[str, Instrument], symbol: object) -> Instrument:
    """The instrument ``symbol`` names, in any case (Kraken's symbols are case-insensitive)."""
    inst = instruments.get(symbol) if isinstance(symbol, str) else None
    if inst is None and isinstance(symbol, str):
        folded = symbol.casefold()
        inst = next((i for s, i in instruments.items() if s.casefold() == folded), None)
    if inst is None:
        raise _invalid(f"symbol {symbol!r}: not listed")
    return inst


def _whole(value: object, unit: Decimal, field: str) -> int:
    """A positive amount as a whole number of ``unit`` (exact)."""
    try:
        d = to_decimal(field, exact(value, field))
        whole, rest = divmod(d, unit)
    except GridError as e:
        raise _invalid(str(e)) from None
    except ArithmeticError:  # decimal.InvalidOperation: far beyond any amount
        raise _invalid(f"{field} {value!r}: too large") from None
    if rest or whole <= 0:
        raise _invalid(f"{field} {value!r}: must be a positive multiple of {unit}")
    return int(whole)


def parse_time(value: object, field: str = "expire_time") -> int:
    """An RFC 3339 time with a zone, in ns since the epoch (UTC)."""
    if not isinstance(value, str):
        raise _invalid(f"{field} {value!r}: must be an RFC 3339 time")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"{field} {value!r}: not an RFC 3339 time") from None
    if when.tzinfo is None:
        raise _invalid(f"{field} {value!r}: needs a time zone")
    return int(when.timestamp()) * 10**9 + when.microsecond * 1_000


def _grid(convert: Callable[[], int]) -> int:
    try:
        return convert()
    except GridError as e:
        raise _invalid(str(e)) from None


_UNITS: dict[tuple[Decimal, type, object], int] = {}
"""(increment, the value's type, the value) -> whole increments, for values already read
once: clients send the same few prices and sizes over and over, and reading a decimal
exactly (checks, Decimal arithmetic) is a good part of parsing an order. Only values that
were read without error are kept (an error names the field, which is not in the key);
the type is, so ``1``, ``1.0`` and ``"1"`` are each checked as what they are."""
UNITS_SIZE = 131_072
"""Entries of :data:`_UNITS` at most (it is dropped whole when full)."""


def _units(increment: Decimal, value: object, convert: Callable[[], int]) -> int:
    key = (increment, type(value), value)
    try:
        found = _UNITS.get(key)
    except TypeError:  # not hashable (a list, a dict): refused by the conversion
        return _grid(convert)
    if found is None:
        found = _grid(convert)
        if len(_UNITS) >= UNITS_SIZE:
            _UNITS.clear()
        _UNITS[key] = found
    return found


def _lots_of(inst: Instrument, value: object, field: str) -> int:
    return _units(inst.qty_increment, value, lambda: inst.qty_to_lots(exact(value, field), field))


def _ticks_of(inst: Instrument, value: object, field: str) -> int:
    return _units(
        inst.price_increment, value, lambda: inst.price_to_ticks(exact(value, field), field)
    )


def _lots(inst: Instrument, p: dict[str, Any], field: str) -> int | None:
    value = p.get(field)
    return None if value is None else _lots_of(inst, value, field)


def _ticks(inst: Instrument, p: dict[str, Any], field: str) -> int | None:
    value = p.get(field)
    return None if value is None else _ticks_of(inst, value, field)


def _member(p: dict[str, Any], field: str, allowed: frozenset[str], default: str) -> Any:
    """One of the ``allowed`` words (the default when absent)."""
    value = p.get(field, default)
    if not isinstance(value, str) or value not in allowed:
        raise _invalid(f"{field} {value!r}: unknown")
    return value


def _text(p: dict[str, Any], field: str) -> str:
    """A required text field (an account id)."""
    value = p.get(field)
    if not isinstance(value, str) or not value:
        raise _invalid(f"{field} {value!r}: must be text")
    return value


def _client_id(p: dict[str, Any], field: str) -> str | None:
    """A client order id: non-empty text of at most MAX_ID_TEXT characters (or absent)."""
    value = p.get(field)
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= MAX_ID_TEXT):
        raise _invalid(f"{field} {value!r}: must be text of 1 to {MAX_ID_TEXT} characters")
    return value


def parse_flag(p: dict[str, Any], field: str, default: bool) -> bool:
    """A boolean option that must be true or false when given (``validate``, ``snapshot``)."""
    value = p.get(field, default)
    if not isinstance(value, bool):
        raise _invalid(f"{field} {value!r}: must be true or false")
    return value


def _bool(p: dict[str, Any], field: str, default: bool | None) -> bool | None:
    value = p.get(field, default)
    if value is not None and not isinstance(value, bool):
        raise _invalid(f"{field} {value!r}: must be true or false")
    return value


def parse_new_order(
    account: str,
    p: dict[str, Any],
    instruments: dict[str, Instrument],
    quote_precision: dict[str, int],
    now: int,
    fields: frozenset[str] = ADD_FIELDS,
) -> NewOrder:
    """``add_order``'s params as a NewOrder (seq and ts are the sequencer's)."""
    only(p, "add_order", fields)
    inst = _instrument(instruments, p.get("symbol"))
    order_type = _member(p, "order_type", ORDER_TYPES, "limit")
    side = p.get("side")
    if side not in ("buy", "sell"):
        raise _invalid(f"side {side!r}: must be buy or sell")
    tif = _member(p, "time_in_force", TIME_IN_FORCE, "gtc")
    stp = _member(p, "stp_type", STP_TYPES, "cancel_newest")
    if tif != "gtd":
        _not_here(p, "expire_time", "only for time_in_force gtd")
    if order_type not in STOP_KINDS:
        _not_here(p, "triggers", "only for stop-loss and take-profit orders")
    if order_type != "iceberg":
        _not_here(p, "display_qty", "only for iceberg orders")
    if p.get("order_qty") is None and p.get("cash_order_qty") is not None:
        qty = inst.qty_max  # sized by what it may spend: at most the largest order
    else:
        qty = _lots_of(inst, p.get("order_qty"), "order_qty")
    price = _ticks(inst, p, "limit_price")
    display = _lots(inst, p, "display_qty")
    trigger = None
    if p.get("triggers") is not None:
        triggers = p["triggers"]
        if not isinstance(triggers, dict) or list(triggers) != ["price"]:
            raise _invalid(f'triggers {triggers!r}: must be {{"price": N}}')
        trigger = _ticks_of(inst, triggers["price"], "triggers")
    cash = None
    if p.get("cash_order_qty") is not None:
        unit = Decimal(1).scaleb(-quote_precision[inst.quote])
        cash = _whole(p["cash_order_qty"], unit, "cash_order_qty")
    expire = None
    if tif == "day":
        expire = trading_day_end_ns(now)
    elif tif == "gtd":
        expire = parse_time(p.get("expire_time"))
    try:
        return NewOrder(
            0,
            0,
            account,
            inst.symbol,
            side,
            qty,
            price,
            order_type,
            tif,
            expire,
            bool(_bool(p, "post_only", False)),
            display,
            trigger,
            _client_id(p, "cl_ord_id"),
            p.get("order_userref"),
            stp,
            cash,
        )
    except (CommandError, msgspec.ValidationError, TypeError) as e:
        raise _invalid(str(e)) from None


def parse_batch(
    account: str,
    p: dict[str, Any],
    instruments: dict[str, Instrument],
    quote_precision: dict[str, int],
    now: int,
) -> list[BatchOrder]:
    """``batch_add``'s params: 2 to 15 orders in ``symbol``, as the parts of one batch.

    Each order takes add_order's fields but ``symbol`` (the batch's); an error
    names the order: ``orders[2].order_qty ...``.
    """
    only(p, "batch_add", BATCH_FIELDS)
    inst = _instrument(instruments, p.get("symbol"))
    orders = p.get("orders")
    if not isinstance(orders, list) or not 2 <= len(orders) <= MAX_BATCH:
        raise _invalid(f"orders: must be a list of 2 to {MAX_BATCH} orders")
    parts: list[BatchOrder] = []
    for i, item in enumerate(orders):
        if not isinstance(item, dict):
            raise _invalid(f"orders[{i}]: must be an object")
        if item.get("symbol", inst.symbol) != inst.symbol:
            raise _invalid(f"orders[{i}].symbol {item['symbol']!r}: must be {inst.symbol}")
        try:
            order = parse_new_order(
                account,
                {**item, "symbol": inst.symbol},
                instruments,
                quote_precision,
                now,
                _ORDER_FIELDS,
            )
        except RequestError as e:
            raise _invalid(f"orders[{i}].{str(e).removeprefix(_INVALID)}") from None
        fields = msgspec.structs.asdict(order)
        parts.append(BatchOrder(**fields, part=i, parts=len(orders)))
    return parts


def parse_order_ref(value: object) -> int:
    """An order id as clients send it: ``"O17"``, ``"17"`` or ``17``."""
    if type(value) is int:
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise _invalid(f"order_id {value!r}: not an order id")
    digits = text[1:] if text.startswith("O") else text
    if not (digits.isascii() and digits.isdigit()):
        raise _invalid(f"order_id {value!r}: not an order id")
    return int(digits)


def parse_cancels(account: str, p: dict[str, Any]) -> list[tuple[str, CancelOrder | None]]:
    """``cancel_order``'s id lists as one CancelOrder each.

    Returns (the id as the client wrote it, the command), in the order given;
    an ``order_id`` that is not in tokex's format (``O17``, ``17``) was never
    issued, and comes with None: it is unknown (WS_API.md: a warning).
    """
    only(p, "cancel_order", CANCEL_FIELDS)
    commands: list[tuple[str, CancelOrder | None]] = []
    for key in ("order_id", "cl_ord_id", "order_userref"):
        values = p.get(key)
        if values is None:
            continue
        if not isinstance(values, list) or not values:
            raise _invalid(f"{key} must be a non-empty list")
        for value in values:
            if key == "order_id" and isinstance(value, str) and not _is_order_ref(value):
                commands.append((value, None))
                continue
            try:
                if key == "order_id":
                    cancel = CancelOrder(0, 0, account, parse_order_ref(value))
                elif key == "cl_ord_id":
                    if not isinstance(value, str):
                        raise ValueError("must be text")
                    cancel = CancelOrder(0, 0, account, None, value)
                elif type(value) is int:
                    cancel = CancelOrder(0, 0, account, userref=value)
                else:
                    raise ValueError("must be an integer")
            except (ValueError, TypeError, CommandError) as e:
                raise _invalid(f"{key} {value!r}: {e}") from None
            commands.append((str(value), cancel))
    if not commands:
        raise _invalid("order_id, cl_ord_id or order_userref")
    return commands


def _is_order_ref(text: str) -> bool:
    """Whether ``text`` is an order id in tokex's format (``O17`` or ``17``)."""
    digits = text[1:] if text.startswith("O") else text
    return digits.isascii() and digits.isdigit() and 0 < len(digits) <= 19


def parse_batch_cancel(account: str, p: dict[str, Any]) -> list[tuple[str, CancelOrder | None]]:
    """``batch_cancel``'s ``orders``: each an order id (``"O17"`` or 17) or else a cl_ord_id."""
    only(p, "batch_cancel", frozenset({"orders", "token"}))
    orders = p.get("orders")
    if not isinstance(orders, list) or not 1 <= len(orders) <= MAX_BATCH * 4:
        raise _invalid(f"orders: must be a list of 1 to {MAX_BATCH * 4} order ids or cl_ord_ids")
    commands: list[tuple[str, CancelOrder | None]] = []
    for i, value in enumerate(orders):
        try:
            if type(value) is int or (isinstance(value, str) and _ORDER_ID.fullmatch(value)):
                cancel = CancelOrder(0, 0, account, parse_order_ref(value))
            elif isinstance(value, str):
                cancel = CancelOrder(0, 0, account, None, value)
            else:
                raise ValueError("must be an order id or a cl_ord_id")
        except (ValueError, TypeError, CommandError) as e:
            raise _invalid(f"orders[{i}] {value!r}: {e}") from None
        commands.append((str(value), cancel))
    return commands


def parse_amend(
    account: str,
    p: dict[str, Any],
    instruments: dict[str, Instrument],
    find: Callable[[int | None, str | None], OrderView | None],
) -> AmendOrder:
    """``amend_order``'s params; ``find`` looks the open order up (None: unknown)."""
    only(p, "amend_order", AMEND_FIELDS)
    if (p.get("order_id") is None) == (p.get("cl_ord_id") is None):
        raise _invalid("order_id or cl_ord_id: exactly one of them names the order")
    order_id = None if p.get("order_id") is None else parse_order_ref(p["order_id"])
    clid = _client_id(p, "cl_ord_id")
    order = find(order_id, clid)
    if order is None:
        raise RequestError("EOrder:Unknown order")
    if not order.stop:
        _not_here(p, "trigger_price", "only for a stop order waiting for its trigger")
    if order.order_type != "iceberg":
        _not_here(p, "display_qty", "only for iceberg orders")
    inst = instruments[order.symbol]
    try:
        return AmendOrder(
            0,
            0,
            account,
            order_id,
            clid,
            _lots(inst, p, "order_qty"),
            _ticks(inst, p, "limit_price"),
            _lots(inst, p, "display_qty"),
            _ticks(inst, p, "trigger_price"),
            bool(_bool(p, "post_only", False)),
        )
    except (CommandError, msgspec.ValidationError, TypeError) as e:
        raise _invalid(str(e)) from None


def parse_edit(account: str, p: dict[str, Any], instruments: dict[str, Instrument]) -> ReplaceOrder:
    """``edit_order``'s params (cancel and replace) as a ReplaceOrder."""
    only(p, "edit_order", EDIT_FIELDS)
    inst = _instrument(instruments, p.get("symbol"))
    if p.get("order_id") is None:
        raise _invalid("order_id: required")
    order_id = parse_order_ref(p["order_id"])
    try:
        return ReplaceOrder(
            0,
            0,
            account,
            order_id,
            None,
            _lots(inst, p, "order_qty"),
            _ticks(inst, p, "limit_price"),
            _lots(inst, p, "display_qty"),
            None,
            _bool(p, "post_only", None),
            _client_id(p, "new_cl_ord_id"),
            p.get("order_userref"),
        )
    except (CommandError, msgspec.ValidationError, TypeError) as e:
        raise _invalid(str(e)) from None


def parse_cancel_after(account: str, p: dict[str, Any]) -> CancelAllAfter:
    """``cancel_all_orders_after``: ``timeout`` in whole seconds (0 disarms, under 86400)."""
    only(p, "cancel_all_orders_after", frozenset({"timeout", "token"}))
    timeout = p.get("timeout")
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 0 <= timeout < 86_400:
        raise _invalid(f"timeout {timeout!r}: whole seconds, at least 0 and below 86400")
    return CancelAllAfter(0, 0, account, timeout * 10**9)


def _ratio(value: object, field: str) -> tuple[int, int]:
    try:
        d = to_decimal(field, exact(value, field))
    except GridError as e:
        raise _invalid(str(e)) from None
    if d <= 0:
        raise _invalid(f"{field} {value!r}: must be positive")
    f = Fraction(d)
    return f.numerator, f.denominator


def parse_operator(
    method: str,
    operator: str,
    p: dict[str, Any],
    instruments: dict[str, Instrument],
    precision: dict[str, int],
) -> Deposit | Withdraw | Halt | Resume | SetReferencePrice | SetKillSwitch | CorporateAction:
    """An operator method's params as its command (WS_API.md, operator methods)."""
    only(p, method, _OPERATOR_FIELDS.get(method, frozenset()))
    try:
        if method in ("deposit", "withdraw"):
            asset = p.get("asset")
            if not isinstance(asset, str) or asset not in precision:
                raise _invalid(f"asset {asset!r}: not an asset")
            units = _whole(p.get("amount"), Decimal(1).scaleb(-precision[asset]), "amount")
            cls = Deposit if method == "deposit" else Withdraw
            return cls(0, 0, _text(p, "account"), asset, units)
        if method == "halt":
            inst = _instrument(instruments, p.get("symbol"))
            reason = p.get("reason", "operator")
            if not isinstance(reason, str):
                raise _invalid(f"reason {reason!r}: must be text")
            return Halt(0, 0, operator, inst.symbol, reason)
        if method == "resume":
            inst = _instrument(instruments, p.get("symbol"))
            seconds = p.get("auction_seconds", 300)
            if not isinstance(seconds, int) or isinstance(seconds, bool):
                raise _invalid(f"auction_seconds {seconds!r}: must be whole seconds")
            return Resume(0, 0, operator, inst.symbol, seconds * 10**9)
        if method == "set_reference_price":
            inst = _instrument(instruments, p.get("symbol"))
            ticks = _ticks_of(inst, p.get("price"), "price")
            return SetReferencePrice(0, 0, operator, inst.symbol, ticks)
        if method == "kill_switch":
            enabled = p.get("enabled")
            if not isinstance(enabled, bool):
                raise _invalid(f"enabled {enabled!r}: must be true or false")
            return SetKillSwitch(0, 0, _text(p, "account"), enabled)
        if method == "corporate_action":
            inst = _instrument(instruments, p.get("symbol"))
            kind = p.get("kind")
            num = den = 1
            if kind not in ("split", "dividend", "delist"):
                raise _invalid(f"kind {kind!r}: must be split, dividend or delist")
            if kind != "split":
                _not_here(p, "ratio", "only for a split")
            if kind != "dividend":
                _not_here(p, "multiplier", "only for a dividend")
            if kind == "split":
                num, den = _ratio(p.get("ratio"), "ratio")
            elif kind == "dividend":
                num, den = _ratio(p.get("multiplier"), "multiplier")
            effective = (
                None
                if p.get("effective_time") is None
                else parse_time(p["effective_time"], "effective_time")
            )
            return CorporateAction(0, 0, operator, inst.symbol, kind, num, den, effective)
    except (CommandError, msgspec.ValidationError, TypeError) as e:
        raise _invalid(str(e)) from None
    raise RequestError("EGeneral:Unknown method")
