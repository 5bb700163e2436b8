"""Instrument: exact decimal <-> tick/lot conversion, table-driven, plus a round-trip property."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model import instrument as instrument_module
from model.instrument import GridError, Instrument

MAX_UNITS = 2**63 - 1


def instrument(price_increment: str = "0.01", qty_increment: str = "0.0001") -> Instrument:
    return Instrument(
        symbol="AAPLx/USD",
        base="AAPLx",
        quote="USD",
        price_increment=Decimal(price_increment),
        qty_increment=Decimal(qty_increment),
    )


INST = instrument()


def from_json(text: str) -> object:
    """What a JSON decoder hands the edge for a bare number, e.g. 189.25 -> float."""
    return msgspec.json.decode(text.encode())


# ------------------------------------------------------------------ decimal -> integer


@pytest.mark.parametrize(
    ("value", "ticks"),
    [
        (189, 18900),
        ("189.25", 18925),
        ("189.2500", 18925),
        (" 189.25\n", 18925),
        ("+0.01", 1),
        ("1E+2", 10000),
        ("1.5e1", 1500),
        (Decimal("189.25"), 18925),
        (Decimal("0.010"), 1),
        (from_json("189.25"), 18925),
        (from_json("0.1"), 10),
        (from_json("0.07"), 7),
        (from_json("1e2"), 10000),
        (from_json("5"), 500),
        ("92233720368547758.07", MAX_UNITS),
    ],
)
def test_price_to_ticks(value: object, ticks: int) -> None:
    result = INST.price_to_ticks(value)
    assert result == ticks
    assert type(result) is int


@pytest.mark.parametrize(
    ("value", "lots"),
    [
        (1, 10000),
        ("0.5", 5000),
        ("0.0001", 1),
        (Decimal("0.00010"), 1),
        (Decimal("12.3456"), 123456),
        (from_json("0.3"), 3000),
        (from_json("0.0001"), 1),
        (from_json("1e-4"), 1),
        (from_json("2.5"), 25000),
        ("922337203685477.5807", MAX_UNITS),
    ],
)
def test_qty_to_lots(value: object, lots: int) -> None:
    result = INST.qty_to_lots(value)
    assert result == lots
    assert type(result) is int


PRICE_OFF_GRID = "not a multiple of price_increment 0.01"
QTY_OFF_GRID = "not a multiple of qty_increment 0.0001"
POSITIVE = "must be greater than zero"
FINITE = "must be a finite number"
NUMBER = "must be a number"
DECIMAL = "must be a decimal number"
RANGE = "out of range"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("189.255", PRICE_OFF_GRID),
        ("0.001", PRICE_OFF_GRID),
        (Decimal("1.001"), PRICE_OFF_GRID),
        (from_json("0.30000000000000004"), PRICE_OFF_GRID),  # 0.1 + 0.2 in binary
        ("1E-1000", PRICE_OFF_GRID),
        ("-0.005", PRICE_OFF_GRID),
        (0, POSITIVE),
        ("0", POSITIVE),
        ("0.00", POSITIVE),
        (Decimal("-0"), POSITIVE),
        (-0.0, POSITIVE),
        (-1, POSITIVE),
        ("-0.01", POSITIVE),
        (from_json("-189.25"), POSITIVE),
        (float("nan"), FINITE),
        (float("inf"), FINITE),
        (float("-inf"), FINITE),
        ("NaN", FINITE),
        ("sNaN", FINITE),
        ("Infinity", FINITE),
        ("-inf", FINITE),
        (Decimal("NaN"), FINITE),
        (Decimal("-Infinity"), FINITE),
        (True, NUMBER),
        (False, NUMBER),
        (None, NUMBER),
        (b"1", NUMBER),
        ([1], NUMBER),
        ({"price": 1}, NUMBER),
        (1 + 0j, NUMBER),
        ("", DECIMAL),
        ("   ", DECIMAL),
        ("abc", DECIMAL),
        ("1.2.3", DECIMAL),
        ("0x10", DECIMAL),
        ("1,5", DECIMAL),
        ("$1", DECIMAL),
        ("92233720368547758.08", RANGE),
        (2**63, RANGE),
        (10**40, RANGE),
        ("1e300", RANGE),
        (1e300, RANGE),
        ("1e999999999", RANGE),
        ("-1e300", RANGE),
    ],
)
def test_price_to_ticks_rejects(value: object, rule: str) -> None:
    with pytest.raises(GridError) as info:
        INST.price_to_ticks(value)
    error = info.value
    assert (error.field, error.rule) == ("limit_price", rule)
    assert error.value is value
    assert str(error) == f"limit_price {value!r}: {rule}"
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("0.00001", QTY_OFF_GRID),
        (from_json("0.00015"), QTY_OFF_GRID),
        ("1.23456", QTY_OFF_GRID),
        (0, POSITIVE),
        ("-0.0001", POSITIVE),
        (float("nan"), FINITE),
        ("inf", FINITE),
        (True, NUMBER),
        (None, NUMBER),
        ("one", DECIMAL),
        ("922337203685477.5808", RANGE),
        (10**20, RANGE),
    ],
)
def test_qty_to_lots_rejects(value: object, rule: str) -> None:
    with pytest.raises(GridError) as info:
        INST.qty_to_lots(value)
    assert (info.value.field, info.value.value, info.value.rule) == ("order_qty", value, rule)


@pytest.mark.parametrize(
    ("convert", "field"),
    [
        (INST.price_to_ticks, "trigger_price"),
        (INST.price_to_ticks, "price2"),
        (INST.qty_to_lots, "display_qty"),
        (INST.qty_to_lots, "cash_order_qty"),
    ],
)
def test_grid_error_names_the_field_given(convert: Callable[..., int], field: str) -> None:
    with pytest.raises(GridError) as info:
        convert("0.000001", field=field)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field} '0.000001': not a multiple of ")


@pytest.mark.parametrize("value", ["1_000", "\u0661\u0662", "\uff11"])
def test_python_only_decimal_syntax_is_rejected(value: str) -> None:
    with pytest.raises(GridError):
        INST.price_to_ticks(value)


# ------------------------------------------------------------------ integer -> decimal

GRIDS = [
    # (increment, units, text)
    ("0.01", 18925, "189.25"),
    ("0.01", 1, "0.01"),
    ("0.01", 100, "1.00"),
    ("0.01", MAX_UNITS, "92233720368547758.07"),
    ("0.0001", 5000, "0.5000"),
    ("0.0001", 1, "0.0001"),
    ("0.0001", 123456, "12.3456"),
    ("0.5", 3, "1.5"),
    ("0.25", 1, "0.25"),
    ("0.25", 4, "1.00"),
    ("5", 3, "15"),
    ("1", 42, "42"),
    ("1E+1", 3, "30"),
    ("0.010", 7, "0.07"),
    ("0.00000001", 1, "0.00000001"),
    ("0.00000001", 10**8, "1.00000000"),
]


@pytest.mark.parametrize(("increment", "units", "text"), GRIDS)
def test_price_round_trip(increment: str, units: int, text: str) -> None:
    inst = instrument(price_increment=increment)
    price = inst.ticks_to_price(units)
    assert isinstance(price, Decimal)
    assert price == Decimal(text)
    assert price.as_tuple().exponent == -inst.price_precision  # written with the precision
    assert inst.format_price(units) == text
    assert inst.price_to_ticks(text) == units
    assert inst.price_to_ticks(price) == units


@pytest.mark.parametrize(("increment", "units", "text"), GRIDS)
def test_qty_round_trip(increment: str, units: int, text: str) -> None:
    inst = instrument(qty_increment=increment)
    qty = inst.lots_to_qty(units)
    assert qty == Decimal(text)
    assert qty.as_tuple().exponent == -inst.qty_precision
    assert inst.format_qty(units) == text
    assert inst.qty_to_lots(text) == units
    assert inst.qty_to_lots(qty) == units


@pytest.mark.parametrize(
    ("increment", "precision"),
    [
        ("0.01", 2),
        ("0.0001", 4),
        ("0.010", 2),
        ("0.5", 1),
        ("0.25", 2),
        ("1", 0),
        ("5", 0),
        ("1E+1", 0),
        ("100", 0),
        ("1E-8", 8),
        ("0.00000001", 8),
    ],
)
def test_precision(increment: str, precision: int) -> None:
    inst = instrument(increment, increment)
    assert inst.price_precision == precision
    assert inst.qty_precision == precision


def test_instrument_defaults() -> None:
    inst = Instrument(
        symbol="NVDAx/USD",
        base="NVDAx",
        quote="USD",
        price_increment=Decimal("0.01"),
        qty_increment=Decimal("0.0001"),
    )
    assert (inst.qty_min, inst.qty_max, inst.cost_min) == (1, 10**12, 0)
    assert (inst.schedule, inst.calendar, inst.tier, inst.reference_price) == (
        "24/7",
        "XNYS",
        1,
        0,
    )
    assert (inst.price_precision, inst.qty_precision) == (2, 4)


# ------------------------------------------------------------------ property

INCREMENTS = ["0.01", "0.0001", "0.5", "0.25", "1", "5", "1E+1", "0.00000001"]


@given(st.sampled_from(INCREMENTS), st.integers(1, MAX_UNITS))
def test_any_ticks_round_trip_through_decimal(increment: str, ticks: int) -> None:
    inst = instrument(increment, increment)
    assert inst.price_to_ticks(inst.ticks_to_price(ticks)) == ticks
    assert inst.price_to_ticks(inst.format_price(ticks)) == ticks
    assert inst.qty_to_lots(inst.lots_to_qty(ticks)) == ticks
    assert inst.qty_to_lots(inst.format_qty(ticks)) == ticks


@given(st.sampled_from(["0.01", "0.0001", "1", "1E+1", "1E-8"]), st.integers(1, 10**15 - 1))
def test_json_float_of_a_formatted_price_converts_back_exactly(increment: str, ticks: int) -> None:
    # With one significant digit in the increment the price has at most 15 significant
    # digits, so the double a JSON decoder makes of it reprs back to the same decimal.
    inst = instrument(price_increment=increment)
    value = from_json(inst.format_price(ticks))
    assert isinstance(value, (int, float))
    assert inst.price_to_ticks(value) == ticks


# ------------------------------------------------------------------ memo


def test_remembered_conversions_equal_fresh_ones_even_for_equal_increments_written_apart() -> None:
    # "0.01" and "0.010" (or "10" and "1E+1") are equal keys in the memo: what one
    # remembered must be exactly what the other computes, digits and exponent alike.
    for first, second in (("0.01", "0.010"), ("10", "1E+1"), ("0.0001", "1E-4")):
        a, b = instrument(first, first), instrument(second, second)
        for units in (1, 7, 250, 10**12):
            for inst in (a, b, a):
                for got, increment in (
                    (inst.ticks_to_price(units), inst.price_increment),
                    (inst.lots_to_qty(units), inst.qty_increment),
                ):
                    fresh = (increment * units).quantize(Decimal(1).scaleb(-inst.price_precision))
                    assert got == fresh
                    assert got.as_tuple() == fresh.as_tuple()


def test_the_memo_is_bounded() -> None:
    inst = instrument()
    for ticks in range(1, instrument_module.MEMO_SIZE + 10):
        assert inst.ticks_to_price(ticks) == Decimal(ticks) / 100
    assert len(instrument_module._MEMO) <= instrument_module.MEMO_SIZE
