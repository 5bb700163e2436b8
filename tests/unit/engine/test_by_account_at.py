"""An account's open orders, found through the compiled build's shortcut.

engine/_core.pyx ``_mine_at`` keeps the entries of ``Engine.by_account`` in
a list by the account's place in ``risk.accounts``, for the new order's
look-up. These tests hold that the orders land under the right account
however the accounts' places and first orders interleave, and that a risk
put in the engine's place (another table, other places) is not read
through the old list. They run on both builds (the pure one has no
shortcut: the same answers).
"""

from __future__ import annotations

from engine.engine import Engine
from tests.builders import SYMBOL, Driver, instrument, risk_for

ACCOUNTS = ("a", "b", "c", "d", "e")


def _funded(accounts: tuple[str, ...]) -> Driver:
    d = Driver(risk=risk_for([instrument()], accounts=accounts))
    for account in accounts:
        d.deposit(account, "USD", 10**9)
    d.reference(5_000)  # the plain limit order's path needs a band
    return d


def _open(engine: Engine) -> dict[str, list[int]]:
    return {a: sorted(orders) for a, orders in engine.by_account.items() if orders}


def test_orders_land_under_their_accounts() -> None:
    d = _funded(ACCOUNTS)
    placed: dict[str, list[int]] = {a: [] for a in ACCOUNTS}
    # Later accounts first, then back and forth: places and first orders interleave.
    for n, account in enumerate(["e", "a", "c", "a", "e", "b", "d", "c", "b", "e"]):
        events = d.new(account, "buy", 1_000, 4_990 + n)
        placed[account].append(events[0].order_id)  # type: ignore[union-attr]
    assert _open(d.engine) == {a: sorted(ids) for a, ids in placed.items() if ids}
    d.cancel("c", order_id=placed["c"][0])
    d.new("c", "buy", 1_000, 4_995)
    assert len(d.engine.by_account["c"]) == 2


def test_a_new_risk_table_is_not_read_through_the_old_places() -> None:
    d = _funded(ACCOUNTS)
    for account in ACCOUNTS:
        events = d.new(account, "buy", 1_000, 5_000)
        d.cancel(account, order_id=events[0].order_id)  # type: ignore[union-attr]
    d.new("e", "buy", 1_000, 5_000)  # e's entry in by_account, through the shortcut
    d.cancel("e", order_id=d.engine.last_seq)
    # The same accounts in the reverse order: every place now names another account.
    other = risk_for([instrument()], accounts=tuple(reversed(ACCOUNTS)))
    for account in ACCOUNTS:
        other.deposit(account, "USD", 10**9)
    other.set_reference(SYMBOL, 5_000)
    d.engine.risk = other
    events = d.new("a", "buy", 1_000, 4_999)
    assert type(events[0]).__name__ == "OrderAccepted", events
    assert len(d.engine.by_account["a"]) == 1
    assert all(len(d.engine.by_account[x]) == 0 for x in ACCOUNTS if x != "a")
