"""Golden event streams: cancels, client ids, unknown symbols and sequence numbers."""

from __future__ import annotations

import pytest

from engine.engine import SequenceError
from model.commands import NewOrder
from tests.builders import Driver
from tests.golden.test_matching_golden import (
    S,
    T,
    accepted,
    assert_new_order_rejected,
    cancelled,
    depth,
    rejected,
    trade,
)

# ------------------------------------------------------------------ cancels


def test_cancel_after_partial_fill_reports_leaves() -> None:
    d = Driver()
    d.new("a", "sell", 10, 100)
    d.new("b", "buy", 4, 100)
    assert d.cancel("a", order_id=1) == [cancelled(3, 1, "a", 6)]
    assert depth(d) == ([], [])
    assert d.cancel("a", order_id=1) == [rejected(4, "a", "unknown_order", order_id=1)]


def test_cancel_iceberg_reports_visible_plus_hidden() -> None:
    d = Driver()
    d.new("a", "buy", 10, 100, order_type="iceberg", display_qty=3)
    d.new("b", "sell", 4, 100)
    assert d.cancel("a", order_id=1) == [cancelled(3, 1, "a", 6)]
    assert depth(d) == ([], [])


def test_cancel_unknown_or_foreign_order_is_rejected() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100, cl_ord_id="x", userref=1)
    before = d.engine.canonical_state()
    assert d.cancel("b", order_id=1) == [rejected(2, "b", "unknown_order", order_id=1)]
    assert d.cancel("a", order_id=42) == [rejected(3, "a", "unknown_order", order_id=42)]
    assert d.cancel("b", cl_ord_id="x") == [rejected(4, "b", "unknown_order", cl_ord_id="x")]
    assert d.cancel("a", cl_ord_id="y") == [rejected(5, "a", "unknown_order", cl_ord_id="y")]
    assert d.cancel("b", userref=1) == [rejected(6, "b", "unknown_order")]
    assert d.cancel("a", userref=2) == [rejected(7, "a", "unknown_order")]
    assert d.engine.canonical_state()[1:] == before[1:]


def test_cancel_by_cl_ord_id() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100, cl_ord_id="x")
    d.new("a", "sell", 5, 101, cl_ord_id="y", symbol=S)
    assert d.cancel("a", cl_ord_id="x") == [cancelled(3, 1, "a", 5)]
    assert d.cancel("a", cl_ord_id="x") == [rejected(4, "a", "unknown_order", cl_ord_id="x")]
    assert depth(d) == ([], [(101, 5)])


def test_cancel_by_userref_cancels_every_matching_order_oldest_first() -> None:
    d = Driver(S, T)
    d.new("a", "sell", 5, 100, userref=7)  # 1
    d.new("a", "buy", 3, 90, userref=8)  # 2
    d.new("a", "sell", 2, 101, symbol=T, userref=7)  # 3
    d.new("a", "buy", 4, 95, order_type="stop-loss-limit", trigger_price=99, userref=7)  # 4
    d.new("b", "sell", 1, 102, userref=7)  # 5: another account
    d.new("a", "sell", 6, 103, userref=7)  # 6
    d.new("c", "buy", 1, 103)  # 7: trades with order 1
    assert d.cancel("a", userref=7) == [
        cancelled(8, 1, "a", 4),
        cancelled(8, 3, "a", 2, symbol=T),
        cancelled(8, 4, "a", 4),
        cancelled(8, 6, "a", 6),
    ]
    assert set(d.engine.orders) == {2, 5}
    assert depth(d) == ([(90, 3)], [(102, 1)])
    assert depth(d, T) == ([], [])
    assert d.cancel("a", userref=7) == [rejected(9, "a", "unknown_order")]


def test_cancel_all_for_the_account_and_for_one_symbol() -> None:
    d = Driver(S, T)
    d.new("a", "sell", 5, 100)  # 1
    d.new("a", "buy", 2, 50, symbol=T)  # 2
    d.new("b", "buy", 3, 90)  # 3
    d.new("a", "buy", 4, 95, order_type="stop-loss-limit", trigger_price=99)  # 4
    d.new("a", "sell", 1, 60, symbol=T, cl_ord_id="t")  # 5
    d.new("a", "buy", 1, 91)  # 6
    assert d.cancel_all("a", symbol=T) == [
        cancelled(7, 2, "a", 2, symbol=T),
        cancelled(7, 5, "a", 1, symbol=T),
    ]
    assert depth(d, T) == ([], [])
    assert d.cancel_all("a", reason="dead_man_switch") == [
        cancelled(8, 1, "a", 5, "dead_man_switch"),
        cancelled(8, 4, "a", 4, "dead_man_switch"),
        cancelled(8, 6, "a", 1, "dead_man_switch"),
    ]
    assert depth(d) == ([(90, 3)], [])
    assert set(d.engine.orders) == {3}
    assert d.cancel_all("a") == []
    assert d.cancel_all("nobody", symbol=T) == []
    # The cl_ord_id of a cancelled order is free again.
    assert d.new("a", "sell", 1, 60, symbol=T, cl_ord_id="t") == [
        accepted(11, "a", "sell", 1, 60, symbol=T, cl_ord_id="t")
    ]


# ------------------------------------------------------------------ client ids


def test_duplicate_cl_ord_id_is_rejected_in_any_symbol_and_free_once_closed() -> None:
    d = Driver(S, T)
    d.new("a", "sell", 5, 100, cl_ord_id="x")  # 1
    before = d.engine.canonical_state()
    text = "cl_ord_id 'x': already open"
    assert_new_order_rejected(
        d.new("a", "buy", 5, 90, cl_ord_id="x"),
        rejected(2, "a", "duplicate_cl_ord_id", text, cl_ord_id="x"),
    )
    assert_new_order_rejected(
        d.new("a", "buy", 5, 90, symbol=T, cl_ord_id="x"),
        rejected(3, "a", "duplicate_cl_ord_id", text, cl_ord_id="x"),
    )
    assert_new_order_rejected(
        d.new("a", "buy", 5, order_type="stop-loss", trigger_price=99, cl_ord_id="x"),
        rejected(4, "a", "duplicate_cl_ord_id", text, cl_ord_id="x"),
    )
    assert d.engine.canonical_state()[1:] == before[1:]
    # Another account may use the same id.
    assert d.new("b", "buy", 2, 90, cl_ord_id="x") == [
        accepted(5, "b", "buy", 2, 90, cl_ord_id="x")
    ]
    # Once order 1 is filled, its cl_ord_id can be used again.
    assert d.new("c", "buy", 5, 100) == [
        accepted(6, "c", "buy", 5, 100),
        trade(6, 1, 100, 5, "buy", taker=(6, "c", 0), maker=(1, "a", 0)),
    ]
    assert d.new("a", "sell", 1, 101, symbol=T, cl_ord_id="x") == [
        accepted(7, "a", "sell", 1, 101, symbol=T, cl_ord_id="x")
    ]
    assert d.cancel("a", cl_ord_id="x") == [cancelled(8, 7, "a", 1, symbol=T)]


def test_cl_ord_id_of_a_taker_that_fills_at_once_is_never_held() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100)
    assert d.new("b", "buy", 5, 100, cl_ord_id="k") == [
        accepted(2, "b", "buy", 5, 100, cl_ord_id="k"),
        trade(2, 1, 100, 5, "buy", taker=(2, "b", 0), maker=(1, "a", 0)),
    ]
    assert d.new("b", "buy", 1, 99, cl_ord_id="k", tif="ioc") == [
        accepted(3, "b", "buy", 1, 99, tif="ioc", cl_ord_id="k"),
        cancelled(3, 3, "b", 1, "ioc_remainder"),
    ]
    assert d.new("b", "buy", 1, 99, cl_ord_id="k") == [
        accepted(4, "b", "buy", 1, 99, cl_ord_id="k")
    ]


def test_unknown_symbol_is_rejected() -> None:
    d = Driver()
    before = d.engine.canonical_state()
    assert_new_order_rejected(
        d.new("a", "buy", 1, 100, symbol="MSFTx/USD", cl_ord_id="q"),
        rejected(1, "a", "unknown_symbol", "symbol 'MSFTx/USD': not listed", cl_ord_id="q"),
    )
    assert_new_order_rejected(
        d.new("a", "sell", 1, 100, symbol="aaplx/usd"),
        rejected(2, "a", "unknown_symbol", "symbol 'aaplx/usd': not listed"),
    )
    assert d.engine.canonical_state()[1:] == before[1:]


def test_trade_ids_count_across_symbols() -> None:
    d = Driver(S, T)
    d.new("a", "sell", 1, 100)
    d.new("a", "sell", 1, 200, symbol=T)
    assert d.new("b", "buy", 1, 200, symbol=T) == [
        accepted(3, "b", "buy", 1, 200, symbol=T),
        trade(3, 1, 200, 1, "buy", taker=(3, "b", 0), maker=(2, "a", 0), symbol=T),
    ]
    assert d.new("b", "buy", 1, 100) == [
        accepted(4, "b", "buy", 1, 100),
        trade(4, 2, 100, 1, "buy", taker=(4, "b", 0), maker=(1, "a", 0)),
    ]


# ------------------------------------------------------------------ sequence numbers


@pytest.mark.parametrize("seq", [3, 2, 1])
def test_a_seq_not_above_the_last_raises_and_changes_nothing(seq: int) -> None:
    d = Driver()
    d.new("a", "sell", 5, 100)
    d.new("b", "buy", 2, 100)
    d.new("c", "sell", 1, 101)
    before = d.engine.state_hash()
    with pytest.raises(SequenceError):
        d.engine.process(NewOrder(seq, 99_000, "z", S, "buy", 5, 101))
    assert d.engine.state_hash() == before
    assert d.engine.last_seq == 3
    assert depth(d) == ([], [(100, 3), (101, 1)])
    # The next good seq works, and gaps are allowed.
    assert d.engine.process(NewOrder(10, 10_000, "z", S, "buy", 1, 99)) == [
        accepted(10, "z", "buy", 1, 99)
    ]
