"""A book's risk market, kept in the book by the compiled build.

engine/_core.pyx ``_book_market`` keeps ``risk.markets[book.symbol]`` in the
book (``OrderBook._market``) with the table it came from, for the checks,
the first fill, the reference and the band-edge watch. These tests hold that
the market judging an order is the engine's risk's own, also after a risk
with other limits is put in the engine's place. They run on both builds (the
pure one looks the market up each time: the same answers).
"""

from __future__ import annotations

from engine.events import OrderAccepted, OrderRejected
from tests.builders import SYMBOL, Driver, instrument, risk_for

REF = 5_000


def _driver(**inst: int) -> Driver:
    d = Driver(risk=risk_for([instrument(**inst)]))
    for account in ("a", "b"):
        d.deposit(account, "USD", 10**12)
        d.deposit(account, "AAPLx", 10**12)
    d.reference(REF)
    return d


def _swap(d: Driver, **inst: int) -> None:
    other = risk_for([instrument(**inst)])
    for account in ("a", "b"):
        other.deposit(account, "USD", 10**12)
        other.deposit(account, "AAPLx", 10**12)
    other.set_reference(SYMBOL, REF)
    d.engine.risk = other


def test_a_new_risks_limits_judge_the_next_order() -> None:
    d = _driver()
    # An order that rests, one that trades with it, one refused: the market is
    # read on every path. Nothing is left open (the new risk holds nothing).
    assert type(d.new("a", "buy", 4_000, REF)[0]) is OrderAccepted
    trade = d.new("b", "sell", 4_000, REF)
    assert type(trade[0]) is OrderAccepted and len(trade) > 1
    assert type(d.new("a", "buy", 1_000, REF * 2)[0]) is OrderRejected  # past the band
    assert not d.engine.orders
    _swap(d, qty_max=5_000)
    refused = d.new("a", "buy", 6_000, REF)
    assert type(refused[0]) is OrderRejected
    assert "qty_max 5000" in refused[0].text, refused
    assert type(d.new("a", "buy", 5_000, REF)[0]) is OrderAccepted


def test_a_new_risks_band_judges_the_next_order() -> None:
    d = _driver()
    far = REF * 110 // 100  # past the 5% band around REF
    assert type(d.new("a", "buy", 1_000, far)[0]) is OrderRejected
    assert not d.engine.orders
    _swap(d)
    d.engine.risk.set_reference(SYMBOL, far)  # type: ignore[union-attr]
    assert type(d.new("a", "buy", 1_000, far)[0]) is OrderAccepted
    assert type(d.new("a", "buy", 1_000, far * 110 // 100)[0]) is OrderRejected
