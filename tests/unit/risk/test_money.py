"""Money arithmetic (risk/money.py) against an independent exact model.

Every expected amount here is computed from the instrument's decimal
increments with :class:`fractions.Fraction` and rounded with :func:`math.ceil`
/ :func:`math.floor`, never from the pair's own ``num`` / ``den``.
MARKET_RULES.md section 6: cumulative per-order rounding in the venue's
favour, and a buy hold that always covers the order's next fills.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.instrument import Instrument
from risk.money import BPS, Asset, MoneyError, Pair, ceil_div, floor_div

# ------------------------------------------------------------------ the model


@dataclass(frozen=True)
class Scale:
    """An instrument's increments and its assets' precisions, as plain decimals."""

    tick: str
    lot: str
    base_precision: int
    quote_precision: int

    def instrument(self) -> Instrument:
        return Instrument(
            symbol="X/Q",
            base="X",
            quote="Q",
            price_increment=Decimal(self.tick),
            qty_increment=Decimal(self.lot),
        )

    def pair(self) -> Pair:
        return Pair.of(
            self.instrument(), Asset("X", self.base_precision), Asset("Q", self.quote_precision)
        )

    def units(self, ticks_lots: int) -> Fraction:
        """The exact quote units that ``ticks_lots`` (price x qty) is worth."""
        return (
            Fraction(Decimal(self.tick))
            * Fraction(Decimal(self.lot))
            * ticks_lots
            * 10**self.quote_precision
        )


def exact_paid(s: Scale, cost: int, fee: int) -> Fraction:
    """What a buyer owes exactly: notional plus fee (``fee`` is in ticks x lots x bps)."""
    return s.units(cost) + s.units(fee) / BPS


def exact_received(s: Scale, cost: int, fee: int) -> Fraction:
    """What a seller is owed exactly: notional less fee."""
    return s.units(cost) - s.units(fee) / BPS


USD_TOKEN = Scale("0.01", "0.0001", 8, 2)
SCALES = [
    USD_TOKEN,
    Scale("0.01", "0.0001", 8, 4),
    Scale("0.05", "0.001", 8, 2),
    Scale("0.0001", "0.00000001", 8, 2),
    Scale("1", "10", 8, 2),
    Scale("0.25", "0.1", 1, 2),
    Scale("0.5", "1", 0, 0),
    Scale("0.001", "0.01", 6, 2),
]

# ------------------------------------------------------------------ ceil_div, floor_div


@pytest.mark.parametrize(
    ("a", "b", "ceil", "floor"),
    [
        (0, 1, 0, 0),
        (0, 7, 0, 0),
        (6, 3, 2, 2),
        (7, 2, 4, 3),
        (1, 10_000, 1, 0),
        (9_999, 10_000, 1, 0),
        (10_001, 10_000, 2, 1),
        (-6, 3, -2, -2),
        (-7, 2, -3, -4),
        (-1, 10_000, 0, -1),
        (-10_001, 10_000, -1, -2),
        (10**30 + 1, 10**15, 10**15 + 1, 10**15),
        (-(10**30) - 1, 10**15, -(10**15), -(10**15) - 1),
    ],
)
def test_ceil_and_floor_div(a: int, b: int, ceil: int, floor: int) -> None:
    assert ceil_div(a, b) == ceil == math.ceil(Fraction(a, b))
    assert floor_div(a, b) == floor == math.floor(Fraction(a, b))


@given(st.integers(-(10**40), 10**40), st.integers(1, 10**20))
@settings(max_examples=200, deadline=None)
def test_ceil_and_floor_div_agree_with_exact_fractions(a: int, b: int) -> None:
    assert ceil_div(a, b) == math.ceil(Fraction(a, b))
    assert floor_div(a, b) == math.floor(Fraction(a, b))
    assert ceil_div(a, b) - floor_div(a, b) == (0 if a % b == 0 else 1)


# ------------------------------------------------------------------ assets


@pytest.mark.parametrize(
    ("precision", "value", "units", "text"),
    [
        (2, "1.23", 123, "1.23"),
        (2, "1", 100, "1.00"),
        (2, "0.10", 10, "0.10"),
        (8, "0.00000001", 1, "0.00000001"),
        (4, "189.2500", 1_892_500, "189.2500"),
        (0, "17", 17, "17"),
    ],
)
def test_asset_units_round_trip(precision: int, value: str, units: int, text: str) -> None:
    asset = Asset("Q", precision)
    assert asset.to_units(Decimal(value)) == units
    assert asset.format(units) == text


@pytest.mark.parametrize(("precision", "value"), [(2, "1.234"), (0, "0.5"), (8, "1e-9")])
def test_asset_refuses_more_decimals_than_its_precision(precision: int, value: str) -> None:
    with pytest.raises(MoneyError, match="decimals"):
        Asset("Q", precision).to_units(Decimal(value))


# ------------------------------------------------------------------ Pair.of


@pytest.mark.parametrize(
    ("scale", "num", "den", "lot_units"),
    [
        # 0.01 USD x 0.0001 share = 1/100 of a cent; a lot is 10**4 token units.
        (USD_TOKEN, 1, 10_000, 10_000),
        (Scale("0.01", "0.0001", 8, 4), 1, 100, 10_000),
        (Scale("0.05", "0.001", 8, 2), 1, 200, 100_000),
        (Scale("0.0001", "0.00000001", 8, 2), 1, 10**10, 1),
        (Scale("1", "10", 8, 2), 1000, 1, 10**9),
        (Scale("0.25", "0.1", 1, 2), 5, 2, 1),
        (Scale("0.5", "1", 0, 0), 1, 2, 1),
        (Scale("0.001", "0.01", 6, 2), 1, 1000, 10_000),
    ],
)
def test_pair_of_scale(scale: Scale, num: int, den: int, lot_units: int) -> None:
    pair = scale.pair()
    assert (pair.symbol, pair.base, pair.quote) == ("X/Q", "X", "Q")
    assert (pair.num, pair.den, pair.lot_units) == (num, den, lot_units)
    assert math.gcd(pair.num, pair.den) == 1
    assert Fraction(pair.num, pair.den) == scale.units(1)
    assert pair.lot_units == Fraction(Decimal(scale.lot)) * 10**scale.base_precision


@pytest.mark.parametrize(
    "scale",
    [
        Scale("0.01", "0.000000001", 8, 2),  # a lot of 1/10 of a token unit
        Scale("0.01", "0.5", 0, 2),
        Scale("0.01", "0.0001", 3, 2),
        Scale("1", "0.01", 1, 2),
    ],
)
def test_pair_of_refuses_a_lot_finer_than_the_base_precision(scale: Scale) -> None:
    with pytest.raises(MoneyError, match="finer than"):
        scale.pair()


def test_pair_of_allows_a_tick_finer_than_the_quote_unit() -> None:
    # 0.0001 USD ticks with a cent-precise USD: the price grid is finer than money.
    pair = Scale("0.0001", "1", 0, 2).pair()
    assert (pair.num, pair.den, pair.lot_units) == (1, 100, 1)


# ------------------------------------------------------------------ paid, received, holds

# (cost, fee) pairs: ticks x lots, and ticks x lots x bps summed over fills.
AMOUNTS = [
    (0, 0),
    (1, 0),
    (1, 25),
    (9_999, 0),
    (10_000, 0),
    (10_001, 10_001 * 10),
    (76_659_000, 76_659_000 * 25),
    (76_659_000, 76_659_000 * 10),
    (23_000 * 10_000, 23_000 * 10_000 * 1_000),
    (123_456_789, 987_654_321),
]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize(("cost", "fee"), AMOUNTS)
def test_paid_and_received_round_the_exact_totals(scale: Scale, cost: int, fee: int) -> None:
    pair = scale.pair()
    assert pair.paid(cost, fee) == math.ceil(exact_paid(scale, cost, fee))
    assert pair.notional_paid(cost) == math.ceil(scale.units(cost))
    assert pair.received(cost, fee) == math.floor(exact_received(scale, cost, fee))
    assert pair.paid(cost, fee) >= pair.notional_paid(cost) >= pair.received(cost, fee)


def test_brief_example_fill_amounts() -> None:
    # 3333 lots at 23000 ticks: $230.00 x 0.3333 shares = 7665.9 cents exactly.
    pair = USD_TOKEN.pair()
    worth = 23_000 * 3_333
    assert USD_TOKEN.units(worth) == Fraction(76_659, 10)
    assert pair.notional_paid(worth) == 7_666
    # Taker at 25 bps pays 7665.9 x 1.0025 = 7685.06... -> 7686.
    assert pair.paid(worth, worth * 25) == 7_686
    # Maker at 10 bps receives 7665.9 x 0.999 = 7658.23... -> 7658.
    assert pair.received(worth, worth * 10) == 7_658


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize(
    ("cost", "fee", "limit", "remaining", "max_bps"),
    [
        (0, 0, 23_010, 3_333, 25),
        (0, 0, 1, 1, 0),
        (0, 0, 5_000, 1, 1_000),
        (76_659_000, 76_659_000 * 25, 23_010, 1_667, 25),
        (9_998, 99_980, 5_000, 1, 25),
        (123_456, 7_890_123, 999_999, 77, 999),
        (10_000, 0, 10_000, 0, 25),
    ],
)
def test_buy_hold_is_the_rounded_worst_total_less_what_was_paid(
    scale: Scale, cost: int, fee: int, limit: int, remaining: int, max_bps: int
) -> None:
    pair = scale.pair()
    rest = limit * remaining
    worst = exact_paid(scale, cost + rest, fee + rest * max_bps)
    expected = math.ceil(worst) - math.ceil(exact_paid(scale, cost, fee))
    assert pair.buy_hold(cost, fee, limit, remaining, max_bps) == expected
    assert expected >= 0


def test_new_buy_hold_is_price_qty_and_max_fee_rounded_up() -> None:
    pair = USD_TOKEN.pair()
    # $230.10 x 0.3333 x 1.0025 = 7688.406... cents -> 7689.
    assert pair.buy_hold(0, 0, 23_010, 3_333, 25) == 7_689
    assert math.ceil(Fraction(23_010 * 3_333, 10_000) * Fraction(10_025, 10_000)) == 7_689


def test_notional_comparisons_are_exact() -> None:
    pair = USD_TOKEN.pair()
    # 23000 ticks x 10000 lots = $230.00 x 1 share = 23000 cents exactly.
    worth = 23_000 * 10_000
    assert pair.notional_at_least(worth, 23_000)
    assert not pair.notional_at_least(worth - 1, 23_000)
    assert not pair.notional_above(worth, 23_000)
    assert pair.notional_above(worth + 1, 23_000)


# ------------------------------------------------------------------ properties

SCALE = st.sampled_from(SCALES)


@st.composite
def buy_fills(draw: st.DrawFn) -> tuple[int, int, int, list[tuple[int, int, int]]]:
    """A buy order (limit, qty, max bps) and fills at prices <= limit and rates <= max."""
    limit = draw(st.integers(1, 10**6))
    qty = draw(st.integers(1, 10**6))
    max_bps = draw(st.integers(0, 1_000))
    fills: list[tuple[int, int, int]] = []
    left = qty
    for _ in range(draw(st.integers(0, 8))):
        if not left:
            break
        q = draw(st.integers(1, left))
        price = draw(st.integers(1, limit))
        bps = draw(st.sampled_from([0, max_bps, draw(st.integers(0, max_bps))]))
        fills.append((price, q, bps))
        left -= q
    return limit, qty, max_bps, fills


@given(SCALE, buy_fills())
@settings(max_examples=300, deadline=None)
def test_buy_hold_always_covers_the_next_fill(
    scale: Scale, order: tuple[int, int, int, list[tuple[int, int, int]]]
) -> None:
    pair = scale.pair()
    limit, qty, max_bps, fills = order
    cost = fee = 0
    remaining = qty
    hold = pair.buy_hold(cost, fee, limit, remaining, max_bps)
    assert hold >= 0
    for price, q, bps in fills:
        before = math.ceil(exact_paid(scale, cost, fee))
        cost += price * q
        fee += price * q * bps
        remaining -= q
        payment = math.ceil(exact_paid(scale, cost, fee)) - before
        assert pair.paid(cost, fee) - pair.paid(cost - price * q, fee - price * q * bps) == payment
        # MARKET_RULES 6: the hold before a fill covers that fill's payment...
        assert 0 <= payment <= hold
        new_hold = pair.buy_hold(cost, fee, limit, remaining, max_bps)
        # ...and what stays held is never negative and never grows on a fill.
        assert 0 <= new_hold <= hold - payment
        hold = new_hold


@st.composite
def trades(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int]]]:
    """Buyer and seller fee rates, and fills (price, qty) between one buy and one sell."""
    buyer_bps = draw(st.integers(0, 1_000))
    seller_bps = draw(st.integers(0, 1_000))
    fills = draw(
        st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 10**5)), min_size=1, max_size=10)
    )
    return buyer_bps, seller_bps, fills


@given(SCALE, trades())
@settings(max_examples=300, deadline=None)
def test_cumulative_rounding_between_one_buyer_and_one_seller(
    scale: Scale, trade: tuple[int, int, list[tuple[int, int]]]
) -> None:
    pair = scale.pair()
    buyer_bps, seller_bps, fills = trade
    cost = buyer_fee = seller_fee = 0
    paid_total = received_total = fee_account = 0
    for price, qty in fills:
        worth = price * qty
        paid = pair.paid(cost + worth, buyer_fee + worth * buyer_bps) - pair.paid(cost, buyer_fee)
        got = pair.received(cost + worth, seller_fee + worth * seller_bps) - pair.received(
            cost, seller_fee
        )
        cost += worth
        buyer_fee += worth * buyer_bps
        seller_fee += worth * seller_bps
        assert paid >= 0 and got >= 0
        paid_total += paid
        received_total += got
        fee_account += paid - got
        exact_buy = exact_paid(scale, cost, buyer_fee)
        exact_sell = exact_received(scale, cost, seller_fee)
        # The buyer has paid the exact total rounded up, the seller received it rounded down.
        assert exact_buy <= paid_total < exact_buy + 1
        assert exact_sell - 1 < received_total <= exact_sell
        assert paid_total == math.ceil(exact_buy)
        assert received_total == math.floor(exact_sell)
        # What rounding and fees leave between them is the fee account's gain.
        assert fee_account == paid_total - received_total >= 0


@st.composite
def crowd(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int, int, int]]]:
    """Fills (buy order, sell order, price, qty) among a few orders of each side."""
    buyer_bps = draw(st.integers(0, 1_000))
    seller_bps = draw(st.integers(0, 1_000))
    fill = st.tuples(
        st.integers(0, 3), st.integers(0, 3), st.integers(1, 20_000), st.integers(1, 50)
    )
    return buyer_bps, seller_bps, draw(st.lists(fill, min_size=1, max_size=16))


@given(SCALE, crowd())
@settings(max_examples=300, deadline=None)
def test_fee_account_moves_at_least_minus_one_per_fill_and_never_goes_negative(
    scale: Scale, book: tuple[int, int, list[tuple[int, int, int, int]]]
) -> None:
    pair = scale.pair()
    buyer_bps, seller_bps, fills = book
    buys = [[0, 0] for _ in range(4)]  # cost, fee per buy order
    sells = [[0, 0] for _ in range(4)]
    fee_account = 0
    exact_gain = Fraction(0)
    for b, s, price, qty in fills:
        worth = price * qty
        buy, sell = buys[b], sells[s]
        paid = pair.paid(buy[0] + worth, buy[1] + worth * buyer_bps) - pair.paid(*buy)
        got = pair.received(sell[0] + worth, sell[1] + worth * seller_bps) - pair.received(*sell)
        buy[0] += worth
        buy[1] += worth * buyer_bps
        sell[0] += worth
        sell[1] += worth * seller_bps
        assert paid - got >= -1  # MARKET_RULES 6: "one fill may move it by minus one unit"
        fee_account += paid - got
        assert fee_account >= 0
        exact_gain += scale.units(worth * (buyer_bps + seller_bps)) / BPS
    # The fee account holds the exact fees plus what rounding left, within one unit per order.
    assert exact_gain <= fee_account < exact_gain + 8
