"""Order-entry messages to commands, and the numbers reports write (pure, table-driven)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.fix.codec import Message, Parser, encode, render
from gateway.fix.orders import (
    Refused,
    _whole,
    order_ref,
    parse_mass_cancel,
    parse_new_order,
    parse_quotes,
)
from gateway.fix.reports import Numbers
from gateway.fix.spec import MESSAGES
from gateway.fix.validate import Problem, validate
from model.commands import NewOrder
from model.instrument import GridError, Instrument

AAPL = Instrument(
    symbol="AAPLx/USD",
    base="AAPLx",
    quote="USD",
    price_increment=Decimal("0.01"),
    qty_increment=Decimal("0.0001"),
    reference_price=23_000,
)
INSTRUMENTS = {AAPL.symbol: AAPL}
PRECISION = {"USD": 2, "AAPLx": 8}
NOW = 1_796_400_000 * 10**9
HEAD = "35=D\x0149=C\x0156=TOKEX\x0134=2\x0152=20261204-10:00:00\x01"
BASE = {11: "C1", 55: "AAPLx/USD", 54: "1", 60: "20261204-10:00:00", 38: "1.5", 40: "2", 44: "230"}


def _message(fields: dict[int, str | None], msg_type: str = "D") -> Message:
    body = render([(t, v) for t, v in fields.items() if v is not None])
    (message,) = Parser().feed(encode(HEAD.replace("35=D", f"35={msg_type}"), body))
    assert isinstance(message, Message)
    return message


def _order(**changes: str | None) -> NewOrder:
    fields: dict[int, str | None] = {**BASE, **{int(k[1:]): v for k, v in changes.items()}}
    return parse_new_order(_message(fields), "mm", INSTRUMENTS, PRECISION, NOW)


NEW_ORDERS = [
    (
        "limit gtc",
        {"t59": "1"},
        {"order_type": "limit", "tif": "gtc", "qty": 15_000, "price": 23_000},
    ),
    ("day by default", {}, {"tif": "day"}),
    ("market", {"t40": "1", "t44": None, "t59": "3"}, {"order_type": "market", "price": None}),
    ("market with protection", {"t40": "1", "t59": "3"}, {"order_type": "market", "price": 23_000}),
    (
        "stop",
        {"t40": "3", "t44": None, "t99": "220"},
        {"order_type": "stop-loss", "trigger_price": 22_000},
    ),
    (
        "stop limit",
        {"t40": "4", "t99": "231"},
        {"order_type": "stop-loss-limit", "trigger_price": 23_100},
    ),
    ("market if touched", {"t40": "J", "t44": None, "t99": "240"}, {"order_type": "take-profit"}),
    ("iceberg", {"t111": "0.5", "t59": "1"}, {"order_type": "iceberg", "display_qty": 5_000}),
    ("post-only", {"t18": "6", "t59": "1"}, {"post_only": True}),
    (
        "gtd",
        {"t59": "6", "t126": "20261205-10:00:00"},
        {"tif": "gtd", "expire_ts": NOW + 64_800 * 10**9},
    ),
    (
        "cash market buy",
        {"t40": "1", "t44": None, "t38": None, "t152": "100.50", "t59": "3"},
        {"cash_qty": 10_050, "qty": AAPL.qty_max},
    ),
]


@pytest.mark.parametrize(("name", "changes", "wanted"), NEW_ORDERS, ids=[n[0] for n in NEW_ORDERS])
def test_new_order_single_becomes_a_new_order(
    name: str, changes: dict[str, str | None], wanted: dict[str, object]
) -> None:
    order = _order(**changes)
    assert {k: getattr(order, k) for k in wanted} == wanted
    assert (order.account, order.symbol, order.side, order.cl_ord_id) == (
        "mm",
        "AAPLx/USD",
        "buy",
        "C1",
    )


REFUSED = [
    ("limit without Price", {"t44": None}, 44, "Price (44)"),
    ("stop without StopPx", {"t40": "3", "t44": None}, 99, "StopPx (99)"),
    ("gtd without ExpireTime", {"t59": "6"}, 126, "ExpireTime (126)"),
    ("no OrderQty", {"t38": None}, 38, "OrderQty (38)"),
    ("no Symbol", {"t55": None}, 55, "Symbol (55)"),
    (
        "unlisted Symbol",
        {"t55": "XYZ/USD"},
        0,
        "EGeneral:Invalid arguments:Symbol (55) 'XYZ/USD': not listed",
    ),
    (
        "off-grid Price",
        {"t44": "230.001"},
        0,
        "EGeneral:Invalid arguments:Price (44) '230.001': not a multiple of price_increment 0.01",
    ),
    ("off-grid OrderQty", {"t38": "0.00001"}, 0, "EGeneral:Invalid arguments:OrderQty (38)"),
    ("sell short", {"t54": "5"}, 0, "EGeneral:Invalid arguments:Side (54) '5'"),
    ("pegged", {"t40": "P"}, 0, "EGeneral:Invalid arguments:OrdType (40) 'P'"),
    ("good till crossing", {"t59": "5"}, 0, "EGeneral:Invalid arguments:TimeInForce (59) '5'"),
    ("ExecInst other than 6", {"t18": "6 E"}, 0, "EGeneral:Invalid arguments:ExecInst (18) 'E'"),
    ("MaxFloor on a market order", {"t40": "1", "t111": "1"}, 0, "MaxFloor (111): only for limit"),
    ("iceberg that cannot rest", {"t111": "0.5", "t59": "3"}, 0, "an iceberg must be able to rest"),
    ("ClOrdID too long", {"t11": "x" * 65}, 0, "at most 64 characters"),
    (
        "negative cash",
        {"t40": "1", "t44": None, "t38": None, "t152": "-1"},
        0,
        "CashOrderQty (152)",
    ),
]


@pytest.mark.parametrize(
    ("name", "changes", "missing", "text"), REFUSED, ids=[r[0] for r in REFUSED]
)
def test_new_order_single_refusals_name_the_field(
    name: str, changes: dict[str, str | None], missing: int, text: str
) -> None:
    with pytest.raises(Refused) as refused:
        _order(**changes)
    assert refused.value.missing == missing
    assert text in str(refused.value)


def test_order_ids_read_as_written() -> None:
    assert [order_ref(v) for v in ("O17", "17", "O", "x17", "O0", None)] == [
        17,
        17,
        None,
        None,
        None,
        None,
    ]


def test_mass_cancel_of_one_symbol_or_all() -> None:
    one = parse_mass_cancel(
        _message({11: "M1", 530: "1", 55: "AAPLx/USD", 60: "20261204-10:00:00"}, "q"),
        "mm",
        INSTRUMENTS,
    )
    every = parse_mass_cancel(
        _message({11: "M2", 530: "7", 60: "20261204-10:00:00"}, "q"), "mm", INSTRUMENTS
    )
    assert (one.symbol, every.symbol) == ("AAPLx/USD", None)
    with pytest.raises(Refused):
        parse_mass_cancel(
            _message({11: "M3", 530: "3", 60: "20261204-10:00:00"}, "q"), "mm", INSTRUMENTS
        )


def test_mass_quote_entries_are_read_from_their_groups_and_checked_one_by_one() -> None:
    body = (
        "117=Q1\x01296=1\x01302=S1\x01304=3\x01295=3\x01"
        "299=E1\x0155=AAPLx/USD\x01132=229.50\x01133=230.50\x01134=2\x01135=3\x01"
        "299=E2\x0155=NOPE/USD\x01132=1\x01134=1\x01"
        "299=E3\x0155=AAPLx/USD\x01133=230.505\x01135=1\x01"
    )
    (message,) = Parser().feed(encode(HEAD.replace("35=D", "35=i"), body))
    assert isinstance(message, Message)
    groups = validate(message, MESSAGES["i"])
    assert not isinstance(groups, Problem)
    [(set_id, entries)] = parse_quotes(groups, INSTRUMENTS)
    assert set_id == "S1"
    assert (entries[0].bid, entries[0].offer, entries[0].problem) == (
        (22_950, 20_000),
        (23_050, 30_000),
        "",
    )
    assert entries[1].reason == "1" and "not listed" in entries[1].problem
    assert entries[2].reason == "8" and "OfferPx (133)" in entries[2].problem


def test_numbers_are_written_exactly_with_the_instrument_precision() -> None:
    n = Numbers(AAPL, 2)
    assert (n.price(23_050), n.qty(15_000), n.money(-1), n.money(12_345)) == (
        "230.50",
        "1.5000",
        "-0.01",
        "123.45",
    )
    assert n.average(23_000 * 3 + 23_001, 4) == "230.0025"
    assert n.average(0, 0) == "0"
    assert n.average(2 * 23_000 + 23_001, 3) == "230.003333"


_decimal_text = st.from_regex(r"-?[0-9]{1,12}(\.[0-9]{0,10})?", fullmatch=True)
_increments = st.sampled_from(
    [Decimal(x) for x in ("0.01", "0.0001", "0.05", "1", "5", "2.5", "1E+1")]
)


@given(_decimal_text, _increments)
def test_the_fast_exact_conversion_agrees_with_the_instruments(
    value: str, increment: Decimal
) -> None:
    inst = Instrument(
        symbol="X/Y", base="X", quote="Y", price_increment=increment, qty_increment=increment
    )
    fast = _whole(value, increment)
    try:
        exact = inst.price_to_ticks(value)
    except GridError:
        exact = None
    assert fast == exact
