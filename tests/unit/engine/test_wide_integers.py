"""The state hash and snapshots stay exact when an integer in the state passes 64 bits.

MessagePack (the encoding of both) holds integers from -2**63 to 2**64 - 1.
An order's priority stamp is ``seq << 32`` and its cost and fee are sums of
price x qty (x basis points), so a long-lived venue or a large order takes
them past that; the hash, and a snapshot of a stamp, used to raise
OverflowError then.
"""

from __future__ import annotations

import hashlib

import msgspec

from engine import snapshot
from engine.events import TradeExecuted
from engine.state import fingerprint
from tests.builders import SYMBOL, Driver, instrument, risk_for

REF = 23_000  # $230.00
BIG = 10**16  # qty_max: lots


def _plain(state: object) -> str:
    return hashlib.blake2b(msgspec.msgpack.encode(state), digest_size=32).hexdigest()


def test_fingerprint_is_plain_msgpack_within_64_bits() -> None:
    state = [1, [2, -(1 << 63), (1 << 64) - 1], "x", None]
    assert fingerprint(state) == _plain(state)


def test_fingerprint_tells_wide_integers_apart() -> None:
    values = [1 << 64, (1 << 64) + 1, 1 << 65, -(1 << 63) - 1, -(1 << 63) - 2, -(1 << 80)]
    hashes = {fingerprint([0, [v]]) for v in values}
    assert len(hashes) == len(values)
    # A wide integer is not confused with any value that fits.
    assert fingerprint([0, [1 << 64]]) not in {fingerprint([0, [v]]) for v in (0, 1, -1)}


def test_priority_stamp_past_64_bits() -> None:
    hashes = []
    for seq in (2**33, 2**33):
        d = Driver()
        d.next_seq = seq
        d.new("a", "buy", 1, 100)
        assert d.engine.orders[seq].priority == seq << 32 > (1 << 64)
        hashes.append(d.engine.state_hash())
    assert hashes[0] == hashes[1]


def _big_fill(lots: int) -> Driver:
    inst = {"qty_max": BIG, "reference_price": REF}
    d = Driver(risk=risk_for([instrument(**inst)]), **inst)
    d.deposit("a", "USD", 10**16)
    d.deposit("b", "AAPLx", 9 * 10**18)
    d.new("b", "sell", 9 * 10**14, REF)
    events = d.new("a", "buy", lots, REF)
    assert sum(e.qty for e in events if isinstance(e, TradeExecuted)) == lots
    return d


def test_cost_and_fee_past_64_bits() -> None:
    lots = 9 * 10**14 - 1
    d = _big_fill(lots)
    maker = d.engine.orders[3]  # the sell: one lot still rests
    assert maker.shown == 1
    assert maker.cost == REF * lots > (1 << 64)
    assert maker.fee == REF * lots * 10  # maker_bps 10
    first = d.engine.state_hash()
    assert first == _big_fill(lots).engine.state_hash()
    assert first != _big_fill(lots - 1).engine.state_hash()
    assert d.engine.orders[3].symbol == SYMBOL


def test_snapshot_of_a_wide_stamp_and_wide_sums() -> None:
    d = _big_fill(9 * 10**14 - 1)  # order 3 rests with a cost and a fee past 64 bits
    d.deposit("b", "AAPLx", 10**8)
    seq = 2**33
    d.next_seq = seq
    d.new("a", "buy", 1, REF - 1)
    # Takes that buy and rests its other lot, stamped past 64 bits (Matcher.stamp).
    d.new("b", "sell", 2, REF - 1)
    engine = d.engine
    assert engine.orders[seq + 1].priority == (seq + 1) << 32
    assert engine.next_priority > (1 << 64)
    assert engine.orders[3].fee > (1 << 64)
    restored = snapshot.decode(snapshot.encode(engine))
    assert restored.state_hash() == engine.state_hash()
    assert restored.next_priority == engine.next_priority
    assert restored.orders[seq + 1].priority == (seq + 1) << 32
    assert restored.orders[3].fee == engine.orders[3].fee
    restored.check_invariants()
