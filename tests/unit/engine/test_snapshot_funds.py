"""Snapshots of balances and holds since ``Account.funds`` became an ``array('q')``.

The snapshot format did not change (``FORMAT`` 1): an account's ``funds`` is
still a list of integers in the data, so a snapshot written while they were a
Python list loads as it did, and the same engine writes the same bytes.
``fixtures/snapshot-format1-b1fce7e.msgpack`` is :func:`scenario`'s engine encoded
by main at b1fce7e (funds as lists, compiled build), before the change.
A balance or hold past 2**63 - 1 (MessagePack's integers reach 2**64 - 1) is
no longer something an account can hold: restoring one is refused.
"""

from __future__ import annotations

from array import array
from pathlib import Path

import msgspec
import pytest

from engine import snapshot
from engine.engine import Engine
from risk.risk import MAX_UNITS
from tests.builders import Driver, instrument, risk_for

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "snapshot-format1-b1fce7e.msgpack"
REF = 23_000


def scenario() -> Driver:
    """Balances, holds, fees, a partly filled resting order and a resting sell."""
    inst = {"reference_price": REF}
    d = Driver(risk=risk_for([instrument(**inst)]), **inst)
    d.deposit("a", "USD", 5_000_000_000)
    d.deposit("b", "AAPLx", 40 * 10**8)
    d.deposit("c", "AAPLx", 10**8)
    d.deposit("c", "USD", MAX_UNITS - 5_000_000_000)  # the USD total at the edge
    d.new("b", "sell", 3_000, REF + 5)
    d.new("b", "sell", 2_000, REF + 9)
    d.new("a", "buy", 4_000, REF + 9)  # takes the first, 1,000 of the second
    d.new("a", "buy", 700, REF - 20)
    d.new("c", "sell", 500, REF - 20)  # fills 500 of a's buy: 200 rest
    return d


def test_the_scenario_trades() -> None:
    risk = scenario().engine.risk
    assert risk is not None
    usd = [risk.accounts[x].funds[0] for x in ("a", "b", "c", "fees")]
    assert sum(usd) == MAX_UNITS and all(v > 0 for v in usd)  # b, c and fees were paid
    assert risk.accounts["a"].funds[1] > 0  # the resting buy's hold
    assert risk.accounts["a"].funds[2] == 4_500 * 10**4  # AAPLx bought, in units
    assert risk.accounts["b"].funds[3] == 1_000 * 10**4  # the resting sell's hold


def test_the_same_engine_writes_the_same_bytes_as_before() -> None:
    assert snapshot.encode(scenario().engine) == FIXTURE.read_bytes()


def test_a_snapshot_written_with_list_funds_loads() -> None:
    d = scenario()
    restored = snapshot.decode(FIXTURE.read_bytes())
    assert restored.state_hash() == d.engine.state_hash()
    assert restored.risk is not None and d.engine.risk is not None
    for acct in restored.risk.accounts.values():
        assert isinstance(acct.funds, array) and acct.funds.typecode == "q"
        assert list(acct.funds) == list(d.engine.risk.accounts[acct.id].funds)
    restored.check_invariants()
    # The same commands after it give the same events and state.
    _go_on(d.engine, restored, d.next_seq)


def _go_on(engine: Engine, restored: Engine, seq: int) -> None:
    first, second = Driver(), Driver()
    first.engine, first.next_seq = engine, seq
    second.engine, second.next_seq = restored, seq
    for step in (
        lambda x: x.new("b", "buy", 300, REF - 20),
        lambda x: x.new("a", "sell", 100, REF - 30),
        lambda x: x.cancel("a", order_id=8),  # the rest of a's buy
        lambda x: x.withdraw("c", "USD", 10**9),
    ):
        assert step(first) == step(second)
    assert first.engine.state_hash() == second.engine.state_hash()


def test_funds_past_64_bits_are_refused() -> None:
    snap = snapshot.capture(scenario().engine)
    assert snap.risk is not None
    for bad in (MAX_UNITS + 1, (1 << 64) - 1):
        accounts = list(snap.risk.accounts)
        a = accounts[0]
        accounts[0] = msgspec.structs.replace(a, funds=[bad, *a.funds[1:]])
        risk = msgspec.structs.replace(snap.risk, accounts=accounts)
        data = msgspec.msgpack.encode(msgspec.structs.replace(snap, risk=risk))
        with pytest.raises(snapshot.SnapshotFormatError, match=r"risk\.accounts\[a\]\.funds"):
            snapshot.decode(data)
