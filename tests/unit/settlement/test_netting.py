"""Netting: per account, asset and chain, the instructions of the closed windows plus the open
window's totals always equal the sum of the trades' legs (hypothesis), and windows close on time."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.netting import Closed, Netter, legs, net
from settlement.records import Trade

ACCOUNTS = ["alice", "bob", "carol", "mm"]
CHAINS = {
    "alice": "ethereum",
    "bob": "solana",
    "carol": "solana",
    "mm": "ethereum",
    "fees": "ethereum",
}


def trade(n: int, buyer: str, seller: str, units: int, quote: int, bfee: int, sfee: int) -> Trade:
    return Trade(
        trade_id=n,
        symbol="AAPLx/USD",
        base="AAPLx",
        quote="USD",
        price=23_000,
        qty=units,
        base_units=units * 10_000,
        quote_qty=quote,
        buyer=buyer,
        buyer_order=1,
        buyer_fee=bfee,
        seller=seller,
        seller_order=2,
        seller_fee=sfee,
        maker_side="sell",
        fee_account="fees",
    )


trades = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS),
        st.sampled_from(ACCOUNTS),
        st.integers(1, 10_000),
        st.integers(1, 10**9),
        st.integers(-1, 10**5),
        st.integers(-1, 10**5),
        st.integers(0, 3_000_000_000),  # time step, ns
    ),
    max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(trades, st.integers(1, 5_000_000_000), st.booleans())
def test_net_transfers_equal_the_sum_of_trade_legs(
    flow: list[tuple[str, str, int, int, int, int, int]], window: int, close_at_end: bool
) -> None:
    netter = Netter(window, CHAINS.__getitem__)
    closed: list[Closed] = []
    expected: Counter[tuple[str, str, str]] = Counter()
    ts = 1_700_000_000_000_000_000
    for n, (buyer, seller, units, quote, bfee, sfee, step) in enumerate(flow, 1):
        ts += step
        t = trade(n, buyer, seller, units, quote, bfee, sfee)
        for account, asset, amount in legs(t):
            expected[(account, asset, CHAINS[account])] += amount
        done = netter.add(ts, legs(t))
        if done is not None:
            closed.append(done)
    if close_at_end:
        done = netter.close()
        if done is not None:
            closed.append(done)
    got: Counter[tuple[str, str, str]] = Counter()
    for c in closed:
        assert all(c.totals.values()), "a closed window yields no zero instruction"
        got.update(c.totals)
    got.update(netter.totals)
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}
    # Windows are numbered in order, each starts after the last one started.
    assert [c.window for c in closed] == list(range(1, len(closed) + 1))
    assert all(a.start_ts < b.start_ts for a, b in itertools.pairwise(closed))
    # Every leg set balances per asset: base and quote are conserved by each trade.
    for asset in ("AAPLx", "USD"):
        assert sum(v for (_, a, _), v in got.items() if a == asset) == 0


def test_a_window_closes_when_a_trade_comes_at_its_end_not_before() -> None:
    netter = Netter(1_000, CHAINS.__getitem__)
    t = trade(1, "alice", "bob", 1, 100, 1, 1)
    assert netter.add(5_000, legs(t)) is None
    assert netter.add(5_999, legs(t)) is None
    assert not netter.due(5_999) and netter.due(6_000)
    closed = netter.add(6_000, legs(t))
    assert closed is not None and (closed.window, closed.start_ts) == (1, 5_000)
    assert closed.totals[("alice", "AAPLx", "ethereum")] == 20_000
    assert closed.totals[("bob", "USD", "solana")] == 2 * 99
    assert closed.totals[("fees", "USD", "ethereum")] == 4
    assert (netter.window, netter.start_ts) == (2, 6_000)


def test_net_leaves_out_what_cancels_and_keys_by_chain() -> None:
    moves = [("alice", "USD", 5), ("alice", "USD", -5), ("bob", "USD", 3)]
    assert net(moves, CHAINS.__getitem__) == {("bob", "USD", "solana"): 3}
