"""risk.accounts.Account: the compiled build's record against the pure class.

In the compiled build an account is the typed record of model/_order.pyx (its
fee rates and open-order limit C integers, a pointer to its funds' items kept
in it); risk/accounts.py's class is the reference, kept as ``PureAccount``.
Both must read and write the same attributes, give the same views, and keep
``funds`` an ``array('q')`` whose items risk's compiled steps write in place.
The limits' rules (``AccountSpec``) hold in both builds.
"""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.engine  # noqa: F401  (loads the core's modules in their order)
from model.build import COMPILED
from risk.accounts import MAX_OPEN_ORDERS, Account, AccountSpec, FeeTier, PureAccount

ASSETS = ("USD", "AAPLx", "TSLAx")

compiled_only = pytest.mark.skipif(not COMPILED, reason="model/_order.pyx's account record")

_specs = st.builds(
    AccountSpec,
    id=st.sampled_from(["a", "b", "mm-1"]),
    role=st.sampled_from(["trader", "market_maker", "operator"]),
    fee_tier=st.builds(
        FeeTier,
        name=st.just("t"),
        maker_bps=st.integers(0, 1_000),
        taker_bps=st.integers(0, 1_000),
    ),
    max_order_notional=st.one_of(st.none(), st.integers(0, 2**70)),
    max_open_orders=st.integers(0, MAX_OPEN_ORDERS),
    enabled=st.booleans(),
)

_ATTRS = (
    "id",
    "role",
    "maker_bps",
    "taker_bps",
    "max_bps",
    "max_order_notional",
    "max_open_orders",
    "enabled",
    "killed",
    "trading",
    "dms_deadline",
    "assets",
)


def _state(acct: object) -> dict[str, object]:
    out = {name: getattr(acct, name) for name in _ATTRS}
    out["funds"] = list(acct.funds)  # type: ignore[attr-defined]
    out["balance"] = acct.balance  # type: ignore[attr-defined]
    out["held"] = acct.held  # type: ignore[attr-defined]
    out["available"] = [acct.available(a) for a in ASSETS]  # type: ignore[attr-defined]
    out["slots"] = [acct.slot(a) for a in ASSETS]  # type: ignore[attr-defined]
    return out


@compiled_only
@settings(max_examples=150, deadline=None)
@given(
    spec=_specs,
    writes=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2**63 - 1)), max_size=8),
    kills=st.lists(st.booleans(), max_size=3),
    deadline=st.one_of(st.none(), st.integers(0, 2**63 - 1)),
)
def test_the_build_s_account_reads_and_writes_as_the_pure_class(
    spec: AccountSpec, writes: list[tuple[int, int]], kills: list[bool], deadline: int | None
) -> None:
    built, pure = Account(spec, ASSETS), PureAccount(spec, ASSETS)
    assert _state(built) == _state(pure)
    for i, v in writes:
        built.funds[i] = v
        pure.funds[i] = v
    for k in kills:
        built.set_killed(k)
        pure.set_killed(k)
    built.dms_deadline = pure.dms_deadline = deadline
    assert _state(built) == _state(pure)
    assert isinstance(built.funds, array) and built.funds.typecode == "q"


def test_funds_written_past_64_bits_raise_and_an_unknown_asset_is_refused() -> None:
    acct = Account(AccountSpec(id="a"), ASSETS)
    with pytest.raises(OverflowError):
        acct.funds[0] = 2**63
    assert list(acct.funds) == [0] * 6
    with pytest.raises(ValueError):
        acct.available("GME")


@pytest.mark.parametrize("bad", [-1, MAX_OPEN_ORDERS + 1])
def test_max_open_orders_outside_64_bits_is_refused_naming_the_field(bad: int) -> None:
    with pytest.raises(ValueError, match=rf"account 'a': max_open_orders {bad}: must be between"):
        AccountSpec(id="a", max_open_orders=bad)


@compiled_only
def test_the_record_s_funds_cannot_be_resized_under_its_pointer() -> None:
    acct = Account(AccountSpec(id="a"), ASSETS)
    funds = acct.funds
    with pytest.raises(BufferError):
        funds.append(0)
    with pytest.raises(BufferError):
        funds.extend([1, 2])
    # A snapshot restores in place (same length): allowed, and seen by the record.
    funds[:] = array("q", [7, 1, 2, 0, 3, 0])
    assert acct.balance == {"USD": 7, "AAPLx": 2, "TSLAx": 3}
    assert acct.available("USD") == 6


@compiled_only
def test_funds_given_anew_must_be_an_array_q_of_the_right_length() -> None:
    acct = Account(AccountSpec(id="a"), ASSETS)
    old = acct.funds
    with pytest.raises(TypeError, match=r"account 'a': funds must be an array\('q'\)"):
        acct.funds = [0] * 6
    with pytest.raises(ValueError, match=r"account 'a': funds must hold 6 items .* not 4"):
        acct.funds = array("q", [0] * 4)
    assert acct.funds is old
    new = array("q", [5, 0, 0, 0, 9, 4])
    acct.funds = new
    assert acct.funds is new and acct.available("TSLAx") == 5
    old.append(1)  # the record let go of the old array's buffer
    with pytest.raises(BufferError):
        new.append(1)


@compiled_only
def test_records_sit_on_a_cache_line_each() -> None:
    # The allocator gives each record a 64-byte boundary, so its header and
    # the fields admission reads share one line (model/_order.pyx). id() is
    # the address in CPython. Made and freed many times: the memory the
    # record's own allocator gave back is reused without harm.
    for _ in range(3):
        accounts = [Account(AccountSpec(id=f"a{n}"), ASSETS) for n in range(2_000)]
        assert {id(a) % 64 for a in accounts} == {0}
        for n, a in enumerate(accounts):
            a.funds[0] = n
        assert [a.available("USD") for a in accounts] == list(range(2_000))
        del accounts
