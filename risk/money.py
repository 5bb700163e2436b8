"""Money arithmetic: assets, the exact scale of each pair, and venue-favour rounding.

Prices are ticks and quantities lots (see :mod:`model.instrument`); balances
are integers in each asset's smallest unit. For a pair, one tick times one
lot is ``num / den`` units of the quote asset (a fraction: 0.01 USD x 0.0001
shares is 1/100 of a cent), and one lot is ``lot_units`` units of the base
asset (a whole number, checked when the pair is built).

Fees are basis points. Every amount is computed exactly as an integer
numerator over ``den * 10_000`` and rounded once, cumulatively per order, in
the venue's favour: what an order pays is rounded up, what it receives is
rounded down (MARKET_RULES.md section 6).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import msgspec
from model.instrument import Instrument

__all__ = ["BPS", "Asset", "MoneyError", "Pair", "ceil_div", "floor_div"]

BPS = 10_000


class MoneyError(ValueError):
    """An asset or pair whose numbers cannot be represented exactly."""


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for integers, ``b > 0``."""
    return -(-a // b)


def floor_div(a: int, b: int) -> int:
    """``floor(a / b)`` for integers, ``b > 0``."""
    return a // b


class Asset(msgspec.Struct, frozen=True):
    """A currency or token: balances are integers of ``10**-precision``."""

    id: str
    precision: int

    def to_units(self, value: Decimal, field: str = "amount") -> int:
        """An exact decimal amount in units; :class:`MoneyError` if it has more decimals."""
        units = value.scaleb(self.precision)
        if units != units.to_integral_value():
            raise MoneyError(f"{field} {value}: more than {self.precision} decimals for {self.id}")
        return int(units)

    def format(self, units: int) -> str:
        """``units`` as a fixed-precision decimal string."""
        return f"{Decimal(units).scaleb(-self.precision):.{self.precision}f}"


class Pair(msgspec.Struct, frozen=True):
    """The money scale of one instrument (see the module docstring)."""

    symbol: str
    base: str
    quote: str
    num: int
    den: int
    lot_units: int

    @classmethod
    def of(cls, inst: Instrument, base: Asset, quote: Asset) -> Pair:
        """Build the scale of ``inst``; :class:`MoneyError` if a lot is not whole base units."""
        lot = Fraction(inst.qty_increment) * 10**base.precision
        if lot.denominator != 1:
            raise MoneyError(
                f"{inst.symbol}: qty_increment {inst.qty_increment} is finer than "
                f"{base.id}'s precision {base.precision}"
            )
        scale = Fraction(inst.price_increment) * Fraction(inst.qty_increment) * 10**quote.precision
        return cls(inst.symbol, base.id, quote.id, scale.numerator, scale.denominator, int(lot))

    def notional_at_least(self, ticks_lots: int, units: int) -> bool:
        """Whether ``ticks_lots`` (price x qty) is worth at least ``units`` of the quote."""
        return ticks_lots * self.num >= units * self.den

    def notional_above(self, ticks_lots: int, units: int) -> bool:
        """Whether ``ticks_lots`` (price x qty) is worth more than ``units`` of the quote."""
        return ticks_lots * self.num > units * self.den

    def paid(self, cost: int, fee: int) -> int:
        """What a buyer has paid in all, rounded up: ``cost`` ticks x lots plus ``fee``.

        ``fee`` is the sum of ``price x qty x bps`` over its fills.
        """
        return ceil_div((cost * BPS + fee) * self.num, self.den * BPS)

    def notional_paid(self, cost: int) -> int:
        """A buyer's notional alone, rounded up: the quote that goes to sellers."""
        return ceil_div(cost * self.num, self.den)

    def received(self, cost: int, fee: int) -> int:
        """What a seller has received in all, rounded down: notional less fees."""
        return floor_div((cost * BPS - fee) * self.num, self.den * BPS)

    def buy_hold(self, cost: int, fee: int, limit: int, remaining: int, max_bps: int) -> int:
        """What a buy order can still pay: its rounded-up worst total less what it paid.

        The worst case fills ``remaining`` lots at ``limit`` with the larger of
        its maker and taker rates, so the hold always covers the next fills.
        """
        rest = limit * remaining
        worst = ceil_div(((cost + rest) * BPS + fee + rest * max_bps) * self.num, self.den * BPS)
        return worst - self.paid(cost, fee)
