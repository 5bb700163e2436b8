"""The plain GTC limit order's one-expression check implies every rule of a new order.

``NewOrder.__post_init__`` skips the full rules (``_check_new_order``) when
``_plain_limit`` holds: most traffic and every journal replay goes that way.
Here any field values that pass ``_plain_limit`` must pass the full rules too,
and values that break a rule must be refused by a constructed command.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.commands import (
    _MAX,
    MAX_ID_TEXT,
    CancelOrder,
    CommandError,
    NewOrder,
    _check_new_order,
    _plain_limit,
)

EDGES = st.sampled_from([None, -1, 0, 1, 7, _MAX, _MAX + 1, -_MAX - 1, -_MAX - 2, True, "5"])
FIELDS = {
    "side": st.sampled_from(["buy", "sell", "hold", None]),
    "qty": EDGES,
    "price": EDGES,
    "order_type": st.sampled_from(["limit", "market", "iceberg", "stop-loss-limit", "x"]),
    "tif": st.sampled_from(["gtc", "ioc", "gtd", "day", "x"]),
    "expire_ts": EDGES,
    "post_only": st.booleans(),
    "display_qty": EDGES,
    "trigger_price": EDGES,
    "cl_ord_id": st.one_of(
        st.none(), st.text(max_size=MAX_ID_TEXT + 2), st.integers(), st.just("x" * 65)
    ),
    "userref": EDGES,
    "stp": st.sampled_from(["cancel_newest", "cancel_oldest", "cancel_both", "none"]),
    "cash_qty": EDGES,
}


def _base() -> NewOrder:
    return NewOrder(1, 1_000, "alice", "AAPLx/USD", "buy", 10, 100)


@given(st.fixed_dictionaries({}, optional=FIELDS))
def test_the_fast_check_implies_every_rule(fields: dict[str, Any]) -> None:
    order = _base()
    for name, value in fields.items():
        msgspec.structs.force_setattr(order, name, value)
    if _plain_limit(order):
        _check_new_order(order)  # raises if the fast check let a broken order through


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", 0),
        ("price", _MAX + 1),
        ("qty", 0),
        ("cl_ord_id", "x" * (MAX_ID_TEXT + 1)),
        ("userref", _MAX + 1),
        ("stp", "none"),
        ("side", "hold"),
    ],
)
def test_a_plain_limit_order_breaking_a_rule_is_refused(field: str, value: object) -> None:
    fields = msgspec.structs.asdict(_base())
    fields[field] = value
    with pytest.raises(CommandError):
        NewOrder(**fields)


def test_a_cancel_by_order_id_out_of_range_is_refused() -> None:
    assert CancelOrder(1, 1, "alice", 5).order_id == 5
    with pytest.raises(CommandError, match="order_id"):
        CancelOrder(1, 1, "alice", 0)
    with pytest.raises(CommandError, match="order_id"):
        CancelOrder(1, 1, "alice", _MAX + 1)
