"""Instruments and the exact decimal <-> integer conversion of prices and quantities.

Inside the engine a price is an integer number of ticks (``price_increment``)
and a quantity an integer number of lots (``qty_increment``). Decimals exist
only at the edges (wire formats, config); they are converted here, exactly.
A value that is not a whole number of ticks or lots is rejected with a
:class:`GridError` naming the field, the value and the rule. Nothing is ever
rounded on the way in.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import msgspec

__all__ = [
    "GridError",
    "Instrument",
    "to_decimal",
]


class GridError(ValueError):
    """A decimal value that does not sit on the instrument's grid, or is not a number.

    ``field`` is the request field that carried it, ``value`` the value as given
    and ``rule`` the rule it broke, so an edge can answer with all three.
    """

    def __init__(self, field: str, value: object, rule: str) -> None:
        super().__init__(f"{field} {value!r}: {rule}")
        self.field = field
        self.value = value
        self.rule = rule


# Plain ASCII decimal text, as JSON writes numbers: no underscores, no
# non-ASCII digits, no "NaN" or "Infinity" (all of which Decimal accepts).
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)

_NON_FINITE = frozenset({"nan", "snan", "inf", "infinity"})


def to_decimal(field: str, value: object) -> Decimal:
    """Read a wire or config value as an exact Decimal.

    Accepts ``int``, ``Decimal`` and plain ASCII decimal strings (an optional
    sign, digits with at most one ``.``, an optional exponent; surrounding
    whitespace ignored). A ``float`` is accepted
    only through its shortest repr (what a JSON decoder gave for ``189.25``),
    never its binary expansion, so ``0.1`` means one tenth. ``bool``, NaN,
    infinities and anything else raise :class:`GridError`.
    """
    if isinstance(value, bool):
        raise GridError(field, value, "must be a number")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        return Decimal(value)
    elif isinstance(value, float):
        d = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_TEXT.fullmatch(text):
            if text.lstrip("+-").lower() in _NON_FINITE:
                raise GridError(field, value, "must be a finite number")
            raise GridError(field, value, "must be a decimal number")
        d = Decimal(text)
    else:
        raise GridError(field, value, "must be a number")
    if not d.is_finite():
        raise GridError(field, value, "must be a finite number")
    return d


_MAX_UNITS = 2**63 - 1


def _divmod(field: str, value: object, increment: Decimal) -> tuple[Decimal, Decimal]:
    """Whole increments in ``value`` and the remainder; bounded to a signed 64-bit count."""
    d = to_decimal(field, value)
    try:
        units, rest = divmod(d, increment)
    except InvalidOperation:
        raise GridError(field, value, "out of range") from None
    if units > _MAX_UNITS:
        raise GridError(field, value, "out of range")
    return units, rest


def _decimals(increment: Decimal) -> int:
    exponent = increment.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _scaled(increment: Decimal, count: int) -> Decimal:
    """``count`` increments as an exact Decimal written with the increment's precision."""
    return (increment * count).quantize(Decimal(1).scaleb(-_decimals(increment)))


MEMO_SIZE = 131_072
"""Conversions kept by :func:`_remember` (a gateway writes the same few prices and sizes
over and over: the levels near the mid, the usual order sizes)."""
_MEMO: dict[tuple[Decimal, int], Decimal] = {}
"""(increment, count) -> the Decimal of ``count`` increments (Decimals are immutable,
so one object serves every caller)."""


def _remember(key: tuple[Decimal, int], value: Decimal) -> Decimal:
    """Keep ``value`` for ``key``; the whole memo is dropped when it is full (bounded)."""
    if len(_MEMO) >= MEMO_SIZE:
        _MEMO.clear()
    _MEMO[key] = value
    return value


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """A tradable pair such as ``AAPLx/USD``: the token (base) quoted in cash (quote).

    Integer fields are already on the instrument's grid: ``qty_min`` and
    ``qty_max`` in lots, ``cost_min`` in the quote asset's smallest unit,
    ``reference_price`` in ticks (0 when none is known).
    """

    symbol: str
    base: str
    quote: str
    price_increment: Decimal
    qty_increment: Decimal
    qty_min: int = 1
    qty_max: int = 10**12
    cost_min: int = 0
    schedule: str = "24/7"
    calendar: str = "XNYS"
    tier: int = 1
    reference_price: int = 0

    @property
    def price_precision(self) -> int:
        """Decimal places a price is written with (0.01 -> 2)."""
        return _decimals(self.price_increment)

    @property
    def qty_precision(self) -> int:
        """Decimal places a quantity is written with (0.0001 -> 4)."""
        return _decimals(self.qty_increment)

    def price_to_ticks(self, value: object, field: str = "limit_price") -> int:
        """Convert a decimal price to ticks; reject off-grid, zero or negative prices."""
        ticks, rest = _divmod(field, value, self.price_increment)
        if rest != 0:
            raise GridError(
                field, value, f"not a multiple of price_increment {self.price_increment}"
            )
        if ticks <= 0:
            raise GridError(field, value, "must be greater than zero")
        return int(ticks)

    def qty_to_lots(self, value: object, field: str = "order_qty") -> int:
        """Convert a decimal quantity to lots; reject off-grid, zero or negative quantities."""
        lots, rest = _divmod(field, value, self.qty_increment)
        if rest != 0:
            raise GridError(field, value, f"not a multiple of qty_increment {self.qty_increment}")
        if lots <= 0:
            raise GridError(field, value, "must be greater than zero")
        return int(lots)

    def ticks_to_price(self, ticks: int) -> Decimal:
        """The exact decimal price of ``ticks``, written with the price precision."""
        key = (self.price_increment, ticks)
        found = _MEMO.get(key)
        if found is None:
            found = _remember(key, _scaled(self.price_increment, ticks))
        return found

    def lots_to_qty(self, lots: int) -> Decimal:
        """The exact decimal quantity of ``lots``, written with the quantity precision."""
        key = (self.qty_increment, lots)
        found = _MEMO.get(key)
        if found is None:
            found = _remember(key, _scaled(self.qty_increment, lots))
        return found

    def format_price(self, ticks: int) -> str:
        """``ticks`` as a fixed-precision decimal string (``189.25``)."""
        return f"{self.ticks_to_price(ticks):f}"

    def format_qty(self, lots: int) -> str:
        """``lots`` as a fixed-precision decimal string (``0.5000``)."""
        return f"{self.lots_to_qty(lots):f}"
