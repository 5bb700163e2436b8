"""The compiled build keeps an open order's risk account in its record.

risk/_fast.pyx ``c_order_account``: a new order's account is looked up once,
when it is admitted, and its holds, fills, amends and cancel reach the
account through the record instead of the table of accounts. A record made
elsewhere (a snapshot's) has none and looks it up the first time. These
tests hold that the kept account is the table's, that money lands where the
table says on every path, and that a restored book works the same. Compiled
build only (the pure record has no such slot); both builds' money is
compared on long flows in tests/property/test_builds.py.
"""

from __future__ import annotations

import pytest

from engine import snapshot
from model.build import COMPILED
from tests.builders import Driver, instrument, risk_for

pytestmark = pytest.mark.skipif(not COMPILED, reason="the compiled record's own slot")


def _funded() -> Driver:
    d = Driver(risk=risk_for([instrument()]))
    for account in ("a", "b"):
        d.deposit(account, "USD", 10_000_000)
        d.deposit(account, "AAPLx", 10**12)
    d.reference(10_000)  # orders that trade need a reference price to band against
    return d


def _usd(d: Driver, account: str) -> tuple[int, int]:
    return _usd_of(d.engine, account)


def _placed(d: Driver, account: str, side: str, qty: int, price: int) -> int:
    events = d.new(account, side, qty, price)
    assert type(events[0]).__name__ == "OrderAccepted", events
    return int(events[0].order_id)  # type: ignore[attr-defined]


def test_an_admitted_order_keeps_the_tables_account() -> None:
    d = _funded()
    oid = _placed(d, "a", "buy", 10_000, 10_000)
    order = d.engine.orders[oid]
    assert order.acct is d.engine.risk.accounts["a"]


def test_holds_and_fills_reach_the_right_accounts() -> None:
    d = _funded()
    oid = _placed(d, "a", "buy", 10_000, 10_000)
    held = _usd(d, "a")[1]
    assert held > 0
    d.amend("a", order_id=oid, price=10_100)
    assert _usd(d, "a")[1] > held
    d.new("b", "sell", 2_000, 10_100)  # a fill: a's hold shrinks, b is paid
    assert _usd(d, "b")[0] > 10_000_000
    d.cancel("a", order_id=oid)
    assert _usd(d, "a")[1] == 0
    assert _usd(d, "b")[1] == 0


def test_a_restored_record_looks_its_account_up_once() -> None:
    d = _funded()
    oid = _placed(d, "a", "buy", 10_000, 10_000)
    before = _usd(d, "a")
    engine = snapshot.decode(snapshot.encode(d.engine))
    order = engine.orders[oid]
    assert order.acct is None
    assert _usd_of(engine, "a") == before
    d.engine = engine
    d.cancel("a", order_id=oid)
    assert _usd_of(engine, "a") == (before[0], 0)
    assert order.acct is engine.risk.accounts["a"]


def _usd_of(engine: object, account: str) -> tuple[int, int]:
    acct = engine.risk.accounts[account]  # type: ignore[attr-defined]
    return acct.balance["USD"], acct.held["USD"]
