"""gateway/requests.py keeps the prices and sizes it has read (a memo): a value read again
gives exactly what reading it fresh gives, and a refused value is refused every time,
naming the field it came in."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import requests
from gateway.requests import RequestError, _lots_of, _ticks_of
from model.instrument import Instrument

INST = Instrument(
    symbol="AAPLx/USD",
    base="AAPLx",
    quote="USD",
    price_increment=Decimal("0.01"),
    qty_increment=Decimal("0.0001"),
)


def test_a_value_read_again_converts_as_it_did_the_first_time() -> None:
    for value, ticks in (("229.50", 22950), (229.5, 22950), (229, 22900), ("0.01", 1)):
        assert _ticks_of(INST, value, "limit_price") == ticks
        assert _ticks_of(INST, value, "limit_price") == ticks
    # The same text as a size: its own increment, its own count.
    assert _lots_of(INST, "229.50", "order_qty") == 2_295_000
    assert _lots_of(INST, 1, "order_qty") == _lots_of(INST, "1", "order_qty") == 10_000


def test_a_refused_value_is_refused_every_time_with_the_field_it_came_in() -> None:
    for field in ("limit_price", "trigger_price", "limit_price"):
        for value in ("229.505", 229.505, "0", -1, " 1", "1e2", True, [1]):
            with pytest.raises(RequestError, match=field):
                _ticks_of(INST, value, field)


def test_equal_values_of_other_types_are_each_checked_as_what_they_are() -> None:
    # True == 1 and hash alike: the memo must not hand True the answer for 1.
    assert _lots_of(INST, 1, "order_qty") == 10_000
    with pytest.raises(RequestError, match="order_qty"):
        _lots_of(INST, True, "order_qty")


def test_the_memo_is_bounded() -> None:
    for n in range(1, requests.UNITS_SIZE + 10):
        assert _lots_of(INST, n, "order_qty") == n * 10_000
    assert len(requests._UNITS) <= requests.UNITS_SIZE
