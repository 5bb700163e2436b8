"""Rebasing balances for corporate actions: exact up to documented dust, all or nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.accounts import AccountSpec
from risk.risk import MAX_UNITS, Risk
from tests.builders import ASSETS, instrument

ACCOUNTS = ("a", "b", "c", "d")


def make(balances: list[int]) -> Risk:
    risk = Risk(ASSETS, [instrument()], [AccountSpec(id=a) for a in ACCOUNTS])
    for account, units in zip(ACCOUNTS, balances, strict=False):
        if units:
            assert risk.deposit(account, "AAPLx", units) is None
    return risk


@settings(max_examples=300, deadline=None)
@given(
    balances=st.lists(st.integers(0, 10**15), min_size=1, max_size=4),
    num=st.integers(1, 1_000),
    den=st.integers(1, 1_000),
)
def test_rebase_conserves_everything_but_the_dust(balances: list[int], num: int, den: int) -> None:
    risk = make(balances)
    before = {a: risk.accounts[a].balance["AAPLx"] for a in ACCOUNTS}
    usd = {a: risk.accounts[a].balance["USD"] for a in ACCOUNTS}
    changes, dust = risk.rebase("AAPLx", num, den)
    after = {a: risk.accounts[a].balance["AAPLx"] for a in ACCOUNTS}
    # Each balance is the exact product rounded down to the unit...
    assert all(after[a] == before[a] * num // den for a in ACCOUNTS)
    # ...so the total is the exact product less the dust, which is under one unit per account.
    assert sum(after.values()) * den + dust == sum(before.values()) * num
    assert 0 <= dust < den * len(ACCOUNTS)
    # The events name exactly the balances that moved; other assets do not move.
    assert changes == [(a, before[a], after[a]) for a in ACCOUNTS if before[a] != after[a]]
    assert {a: risk.accounts[a].balance["USD"] for a in ACCOUNTS} == usd
    # The conservation invariant holds against the new total.
    risk.check_invariants([])


def test_rebase_that_would_overflow_changes_nothing() -> None:
    risk = make([MAX_UNITS // 2, 5])
    with pytest.raises(ValueError, match=r"does not fit|passes"):
        risk.rebase("AAPLx", 3, 1)
    assert risk.accounts["a"].balance["AAPLx"] == MAX_UNITS // 2
    assert risk.accounts["b"].balance["AAPLx"] == 5
    risk.check_invariants([])
