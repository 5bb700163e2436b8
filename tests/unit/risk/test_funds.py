"""Balances and holds as signed 64-bit integers: ``Account.funds`` is an ``array('q')``.

Every balance is at most MAX_UNITS = 2**63 - 1 (deposits and rebases check
it, and a fill moves units between accounts, so an asset's total never
grows), and a hold never passes its balance. The pure build indexes the
array; the compiled core (risk/_fast.pyx) reads and writes its buffer as C
integers. ``make unit`` runs this file on each build: the numbers must be the
same up to the edge, and a write past 64 bits (only a broken invariant gets
there) must raise OverflowError in both, at the same step, never wrap.
"""

from __future__ import annotations

from array import array

import pytest

from engine import snapshot
from engine.events import OrderAccepted, TradeExecuted
from model.commands import NewOrder
from risk.risk import MAX_UNITS
from tests.builders import SYMBOL, Driver, instrument, risk_for

REF = 10**12  # ticks: large, so that one order's hold can reach the edge


def _driver(ref: int = REF) -> Driver:
    inst = {"qty_max": 10**16, "reference_price": ref}
    return Driver(risk=risk_for([instrument(**inst)]), **inst)


def _funds(d: Driver, account: str) -> list[int]:
    risk = d.engine.risk
    assert risk is not None
    return list(risk.accounts[account].funds)


def test_funds_are_arrays_of_signed_64_bit_integers() -> None:
    d = _driver()
    risk = d.engine.risk
    assert risk is not None
    for acct in risk.accounts.values():
        assert isinstance(acct.funds, array) and acct.funds.typecode == "q"
        assert list(acct.funds) == [0] * (2 * len(risk.assets))


def test_deposits_up_to_the_edge_and_no_further() -> None:
    d = _driver()
    d.deposit("a", "USD", MAX_UNITS - 1)
    d.deposit("a", "USD", 1)
    assert _funds(d, "a")[0] == MAX_UNITS
    # One more unit: refused for the account and for the asset's total alike.
    for account in ("a", "b"):
        (event,) = d.deposit(account, "USD", 1)
        assert getattr(event, "reason", None) == "invalid_arguments", event
    assert _funds(d, "a")[0] == MAX_UNITS and _funds(d, "b")[0] == 0


def test_a_hold_and_a_fill_at_the_edge() -> None:
    """A buy holding nearly 2**63 - 1 units, filled in full: exact to the unit."""
    d = _driver()
    risk = d.engine.risk
    assert risk is not None
    m = risk.markets[SYMBOL]
    a_bps = risk.accounts["a"].max_bps
    # The largest quantity whose worst-case cost the whole of MAX_UNITS covers.
    qty = MAX_UNITS * m.den * 10_000 // (REF * (10_000 + a_bps) * m.num)
    hold = m.pair.buy_hold(0, 0, REF, qty, a_bps)
    assert MAX_UNITS - 2 * REF < hold <= MAX_UNITS
    d.deposit("a", "USD", MAX_UNITS)
    d.deposit("b", "AAPLx", qty * m.lot_units)
    (accepted,) = d.new("a", "buy", qty, REF)
    assert isinstance(accepted, OrderAccepted)
    assert _funds(d, "a")[:2] == [MAX_UNITS, hold]
    events = d.new("b", "sell", qty, REF)
    trades = [e for e in events if isinstance(e, TradeExecuted)]
    assert sum(t.qty for t in trades) == qty
    cost = REF * qty
    assert cost > 1 << 64  # the order's cost passes 64 bits; the balances do not
    paid = m.pair.paid(cost, cost * risk.accounts["a"].maker_bps)
    got = m.pair.received(cost, cost * risk.accounts["b"].taker_bps)
    assert _funds(d, "a")[:4] == [MAX_UNITS - paid, 0, qty * m.lot_units, 0]
    assert _funds(d, "b")[:4] == [got, 0, 0, 0]
    assert _funds(d, "fees")[0] == paid - got
    assert sum(_funds(d, x)[0] for x in ("a", "b", "c", "fees")) == MAX_UNITS
    risk.check_invariants(d.engine.orders.values())
    restored = snapshot.decode(snapshot.encode(d.engine))
    assert restored.state_hash() == d.engine.state_hash()
    assert restored.risk is not None
    assert list(restored.risk.accounts["a"].funds) == _funds(d, "a")


def test_a_fill_past_64_bits_raises_and_never_wraps() -> None:
    """The fee account's balance broken past the invariant: the fill's last write
    raises in both builds, after the same writes before it (the compiled core
    checks all seven first, and hands the fill to the exact path)."""
    d = _driver(20_000)
    risk = d.engine.risk
    assert risk is not None
    m = risk.markets[SYMBOL]
    d.deposit("a", "USD", 10**9)
    d.deposit("b", "AAPLx", 10 * m.lot_units)
    (accepted,) = d.new("b", "sell", 10, 20_000)
    assert isinstance(accepted, OrderAccepted)
    risk.accounts["fees"].funds[0] = MAX_UNITS  # no deposit could do this
    with pytest.raises(OverflowError):
        # Straight to the engine: the driver's invariant check would refuse the fees.
        d.engine.process(NewOrder(4, 4_000, "a", SYMBOL, "buy", 10, 20_000))
    cost = 20_000 * 10
    paid = m.pair.paid(cost, cost * risk.accounts["a"].taker_bps)
    got = m.pair.received(cost, cost * risk.accounts["b"].maker_bps)
    assert paid > got
    assert _funds(d, "fees")[0] == MAX_UNITS
    assert _funds(d, "a")[:3] == [10**9 - paid, 0, 10 * m.lot_units]
    assert _funds(d, "b")[:4] == [got, 0, 0, 0]


def test_a_hold_past_64_bits_raises_and_never_wraps() -> None:
    d = _driver(20_000)
    risk = d.engine.risk
    assert risk is not None
    d.deposit("a", "USD", 10**9)
    (accepted,) = d.new("a", "buy", 10, 20_000)
    assert isinstance(accepted, OrderAccepted)
    order = d.engine.orders[2]
    held = order.hold
    assert held > 0 and _funds(d, "a")[1] == held
    funds = risk.accounts["a"].funds
    funds[1] = MAX_UNITS - held + 1
    with pytest.raises(OverflowError):
        risk.reserve(order)
    assert funds[1] == MAX_UNITS - held + 1
    funds[1] = -(1 << 63) + held - 1
    with pytest.raises(OverflowError):
        risk.release(order)
    assert funds[1] == -(1 << 63) + held - 1 and order.hold == held
    funds[1] = held
    risk.release(order)
    assert funds[1] == 0 and order.hold == 0
