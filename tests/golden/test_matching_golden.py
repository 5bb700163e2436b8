"""Golden event streams: core matching (docs/MATCHING.md).

Each scenario drives a fresh engine through :class:`tests.builders.Driver`
(seq 1, 2, 3..., ts = seq * 1000, invariants checked after every command) and
asserts the complete list of events of every command. The small factories
below build the expected events; the other golden modules import them.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.events import (
    Event,
    IcebergRefilled,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    TradeExecuted,
)
from model.commands import NewOrder, StpType
from tests.builders import SYMBOL, Driver

S = SYMBOL
T = "TSLAx/USD"
Party = tuple[int, str, int]
"""(order id, account, leaves after the fill) of one side of a trade."""

POST_ONLY_TEXT = "post_only: order would take liquidity"


def ts(seq: int) -> int:
    return seq * 1000


def accepted(
    seq: int,
    account: str,
    side: str,
    qty: int,
    price: int | None = None,
    *,
    symbol: str = S,
    order_type: str = "limit",
    tif: str = "gtc",
    replaces: int | None = None,
    **extra: Any,
) -> OrderAccepted:
    """The acceptance of the order the command with ``seq`` placed (``extra``: its fields)."""
    order = NewOrder(seq, ts(seq), account, symbol, side, qty, price, order_type, tif, **extra)  # type: ignore[arg-type]
    return OrderAccepted(seq, ts(seq), seq, order, replaces)


def trade(
    seq: int,
    trade_id: int,
    price: int,
    qty: int,
    side: str,
    taker: Party,
    maker: Party,
    symbol: str = S,
) -> TradeExecuted:
    return TradeExecuted(seq, ts(seq), trade_id, symbol, price, qty, side, *taker, *maker)


def cancelled(
    seq: int, order_id: int, account: str, leaves: int, reason: str = "user", symbol: str = S
) -> OrderCancelled:
    return OrderCancelled(seq, ts(seq), order_id, account, symbol, leaves, reason)


def expired(
    seq: int, at: int, order_id: int, account: str, leaves: int, symbol: str = S
) -> OrderExpired:
    return OrderExpired(seq, at, order_id, account, symbol, leaves)


def amended(
    seq: int,
    order_id: int,
    account: str,
    qty: int,
    price: int,
    leaves: int,
    kept: bool,
    display_qty: int | None = None,
    trigger_price: int | None = None,
    symbol: str = S,
) -> OrderAmended:
    return OrderAmended(
        seq,
        ts(seq),
        order_id,
        account,
        symbol,
        qty,
        price,
        leaves,
        display_qty,
        trigger_price,
        kept,
    )


def triggered(
    seq: int, order_id: int, account: str, trigger: int, last: int, symbol: str = S
) -> OrderTriggered:
    return OrderTriggered(seq, ts(seq), order_id, account, symbol, trigger, last)


def refilled(
    seq: int, order_id: int, account: str, shown: int, hidden: int, symbol: str = S
) -> IcebergRefilled:
    return IcebergRefilled(seq, ts(seq), order_id, account, symbol, shown, hidden)


def rejected(
    seq: int,
    account: str,
    reason: str,
    text: str = "",
    order_id: int | None = None,
    cl_ord_id: str | None = None,
) -> OrderRejected:
    return OrderRejected(seq, ts(seq), account, reason, text, order_id, cl_ord_id)


def assert_new_order_rejected(events: list[Event], expected: OrderRejected) -> None:
    """A rejected NewOrder: one OrderRejected, compared on every field but ``order_id``.

    A rejected new order names no order (``order_id`` is None).
    """
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, OrderRejected)
    assert (event.seq, event.ts, event.account, event.reason, event.text, event.cl_ord_id) == (
        expected.seq,
        expected.ts,
        expected.account,
        expected.reason,
        expected.text,
        expected.cl_ord_id,
    )


def depth(d: Driver, symbol: str = S) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    return d.engine.books[symbol].depth()


# ------------------------------------------------------------------ fills and priority


def test_partial_fills_leave_the_maker_then_the_taker_resting() -> None:
    d = Driver()
    assert d.new("a", "sell", 10, 100) == [accepted(1, "a", "sell", 10, 100)]
    assert depth(d) == ([], [(100, 10)])
    assert d.new("b", "buy", 4, 100) == [
        accepted(2, "b", "buy", 4, 100),
        trade(2, 1, 100, 4, "buy", taker=(2, "b", 0), maker=(1, "a", 6)),
    ]
    assert depth(d) == ([], [(100, 6)])
    assert d.new("c", "buy", 10, 100) == [
        accepted(3, "c", "buy", 10, 100),
        trade(3, 2, 100, 6, "buy", taker=(3, "c", 4), maker=(1, "a", 0)),
    ]
    assert depth(d) == ([(100, 4)], [])
    assert d.engine.books[S].last_price == 100
    assert set(d.engine.orders) == {3}


def test_sweep_across_levels_prints_at_each_maker_price() -> None:
    d = Driver()
    d.new("a", "sell", 2, 101)
    d.new("b", "sell", 3, 102)
    d.new("c", "sell", 5, 104)
    # A buy limited at 103 takes 101 and 102 (price improvement), rests the rest at 103.
    assert d.new("d", "buy", 8, 103) == [
        accepted(4, "d", "buy", 8, 103),
        trade(4, 1, 101, 2, "buy", taker=(4, "d", 6), maker=(1, "a", 0)),
        trade(4, 2, 102, 3, "buy", taker=(4, "d", 3), maker=(2, "b", 0)),
    ]
    assert depth(d) == ([(103, 3)], [(104, 5)])
    assert d.engine.books[S].last_price == 102
    # A sell limited at 100 trades at the bid's 103, then rests its remainder at 100.
    assert d.new("e", "sell", 4, 100) == [
        accepted(5, "e", "sell", 4, 100),
        trade(5, 3, 103, 3, "sell", taker=(5, "e", 1), maker=(4, "d", 0)),
    ]
    assert depth(d) == ([], [(100, 1), (104, 5)])


def test_price_then_time_priority() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100)
    d.new("b", "sell", 5, 100)
    d.new("c", "sell", 5, 99)  # later but better: first
    assert depth(d) == ([], [(99, 5), (100, 10)])
    assert d.new("x", "buy", 12, 100) == [
        accepted(4, "x", "buy", 12, 100),
        trade(4, 1, 99, 5, "buy", taker=(4, "x", 7), maker=(3, "c", 0)),
        trade(4, 2, 100, 5, "buy", taker=(4, "x", 2), maker=(1, "a", 0)),
        trade(4, 3, 100, 2, "buy", taker=(4, "x", 0), maker=(2, "b", 3)),
    ]
    assert depth(d) == ([], [(100, 3)])


def test_a_limit_that_does_not_reach_the_best_price_rests() -> None:
    d = Driver()
    d.new("a", "sell", 5, 101)
    assert d.new("b", "buy", 5, 100) == [accepted(2, "b", "buy", 5, 100)]
    assert d.new("c", "sell", 5, 101) == [accepted(3, "c", "sell", 5, 101)]
    assert depth(d) == ([(100, 5)], [(101, 10)])
    assert d.engine.books[S].last_price is None


# ------------------------------------------------------------------ self-trade prevention


def routes() -> list[Any]:
    """Extra NewOrder fields: none (the plain GTC fast path) and a cl_ord_id (the full path)."""
    return [
        pytest.param({}, id="plain-gtc"),
        pytest.param({"cl_ord_id": "t"}, id="with-cl_ord_id"),
    ]


@pytest.mark.parametrize("extra", routes())
def test_stp_cancel_newest_keeps_earlier_fills_and_the_resting_order(extra: dict[str, Any]) -> None:
    d = Driver()
    d.new("b", "sell", 3, 99)
    d.new("a", "sell", 5, 100)
    assert d.new("a", "buy", 10, 100, stp="cancel_newest", **extra) == [
        accepted(3, "a", "buy", 10, 100, **extra),
        trade(3, 1, 99, 3, "buy", taker=(3, "a", 7), maker=(1, "b", 0)),
        cancelled(3, 3, "a", 7, "self_trade"),
    ]
    assert depth(d) == ([], [(100, 5)])
    assert set(d.engine.orders) == {2}


@pytest.mark.parametrize("extra", routes())
def test_stp_cancel_oldest_cancels_the_resting_order_and_continues(
    extra: dict[str, Any],
) -> None:
    d = Driver()
    d.new("b", "sell", 3, 99)
    d.new("a", "sell", 5, 100)
    d.new("c", "sell", 4, 100)
    assert d.new("a", "buy", 10, 100, stp="cancel_oldest", **extra) == [
        accepted(4, "a", "buy", 10, 100, stp="cancel_oldest", **extra),
        trade(4, 1, 99, 3, "buy", taker=(4, "a", 7), maker=(1, "b", 0)),
        cancelled(4, 2, "a", 5, "self_trade"),
        trade(4, 2, 100, 4, "buy", taker=(4, "a", 3), maker=(3, "c", 0)),
    ]
    assert depth(d) == ([(100, 3)], [])


@pytest.mark.parametrize("extra", routes())
def test_stp_cancel_both_cancels_resting_then_incoming(extra: dict[str, Any]) -> None:
    d = Driver()
    d.new("b", "sell", 3, 99)
    d.new("a", "sell", 5, 100)
    d.new("c", "sell", 4, 100)
    assert d.new("a", "buy", 10, 100, stp="cancel_both", **extra) == [
        accepted(4, "a", "buy", 10, 100, stp="cancel_both", **extra),
        trade(4, 1, 99, 3, "buy", taker=(4, "a", 7), maker=(1, "b", 0)),
        cancelled(4, 2, "a", 5, "self_trade"),
        cancelled(4, 4, "a", 7, "self_trade"),
    ]
    assert depth(d) == ([], [(100, 4)])


@pytest.mark.parametrize("extra", routes())
def test_stp_cancel_oldest_on_the_sell_side(extra: dict[str, Any]) -> None:
    d = Driver()
    d.new("a", "buy", 5, 100)
    d.new("b", "buy", 5, 100)
    assert d.new("a", "sell", 8, 100, stp="cancel_oldest", **extra) == [
        accepted(3, "a", "sell", 8, 100, stp="cancel_oldest", **extra),
        cancelled(3, 1, "a", 5, "self_trade"),
        trade(3, 1, 100, 5, "sell", taker=(3, "a", 3), maker=(2, "b", 0)),
    ]
    assert depth(d) == ([], [(100, 3)])


@pytest.mark.parametrize("extra", routes())
def test_stp_of_a_resting_order_applies_when_an_amend_makes_it_cross(
    extra: dict[str, Any],
) -> None:
    d = Driver()
    d.new("a", "sell", 5, 100)
    d.new("a", "buy", 5, 99, stp="cancel_oldest", **extra)
    assert d.amend("a", order_id=2, price=100) == [
        amended(3, 2, "a", 5, 100, 5, kept=False),
        cancelled(3, 1, "a", 5, "self_trade"),
    ]
    assert depth(d) == ([(100, 5)], [])


# ------------------------------------------------------------------ FOK, IOC, market


def test_fok_unfillable_changes_nothing_then_fills_once_liquidity_arrives() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100)
    before = d.engine.canonical_state()
    assert d.new("b", "buy", 8, 100, tif="fok") == [
        accepted(2, "b", "buy", 8, 100, tif="fok"),
        cancelled(2, 2, "b", 8, "fok_unfillable"),
    ]
    assert depth(d) == ([], [(100, 5)])
    assert d.engine.books[S].last_price is None
    assert d.engine.canonical_state()[1:] == before[1:]  # only last_seq moved
    d.new("c", "sell", 3, 101)
    # Liquidity beyond the limit does not count.
    assert d.new("b", "buy", 8, 100, tif="fok") == [
        accepted(4, "b", "buy", 8, 100, tif="fok"),
        cancelled(4, 4, "b", 8, "fok_unfillable"),
    ]
    assert depth(d) == ([], [(100, 5), (101, 3)])
    assert d.new("b", "buy", 8, 101, tif="fok") == [
        accepted(5, "b", "buy", 8, 101, tif="fok"),
        trade(5, 1, 100, 5, "buy", taker=(5, "b", 3), maker=(1, "a", 0)),
        trade(5, 2, 101, 3, "buy", taker=(5, "b", 0), maker=(3, "c", 0)),
    ]
    assert depth(d) == ([], [])
    assert d.engine.orders == {}


def test_fok_unfillable_leaves_the_state_as_it_was() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100, order_type="iceberg", display_qty=2)
    d.new("b", "sell", 1, 101)
    before = d.engine.canonical_state()
    d.new("c", "buy", 7, 101, tif="fok")
    after = d.engine.canonical_state()
    assert after[0] == before[0] + 1  # last_seq
    assert after[1:] == before[1:]


@pytest.mark.parametrize("stp", ["cancel_newest", "cancel_both"])
def test_fok_unfillable_because_of_self_trade_prevention(stp: StpType) -> None:
    d = Driver()
    d.new("b", "sell", 5, 100)
    d.new("a", "sell", 5, 100)
    d.new("c", "sell", 5, 100)
    assert d.new("a", "buy", 10, 100, tif="fok", stp=stp) == [
        accepted(4, "a", "buy", 10, 100, tif="fok", stp=stp),
        cancelled(4, 4, "a", 10, "fok_unfillable"),
    ]
    assert depth(d) == ([], [(100, 15)])
    assert set(d.engine.orders) == {1, 2, 3}


def test_fok_with_cancel_oldest_skips_own_orders_and_fills() -> None:
    d = Driver()
    d.new("b", "sell", 5, 100)
    d.new("a", "sell", 5, 100)
    d.new("c", "sell", 5, 100)
    assert d.new("a", "buy", 10, 100, tif="fok", stp="cancel_oldest") == [
        accepted(4, "a", "buy", 10, 100, tif="fok", stp="cancel_oldest"),
        trade(4, 1, 100, 5, "buy", taker=(4, "a", 5), maker=(1, "b", 0)),
        cancelled(4, 2, "a", 5, "self_trade"),
        trade(4, 2, 100, 5, "buy", taker=(4, "a", 0), maker=(3, "c", 0)),
    ]
    assert depth(d) == ([], [])


def test_ioc_remainder_is_cancelled() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100)
    d.new("a", "sell", 5, 102)
    assert d.new("b", "buy", 8, 101, tif="ioc") == [
        accepted(3, "b", "buy", 8, 101, tif="ioc"),
        trade(3, 1, 100, 5, "buy", taker=(3, "b", 3), maker=(1, "a", 0)),
        cancelled(3, 3, "b", 3, "ioc_remainder"),
    ]
    assert depth(d) == ([], [(102, 5)])
    assert d.new("b", "sell", 2, 90, tif="ioc") == [
        accepted(4, "b", "sell", 2, 90, tif="ioc"),
        cancelled(4, 4, "b", 2, "ioc_remainder"),
    ]
    assert depth(d) == ([], [(102, 5)])


def test_market_order_stops_at_its_protection_price() -> None:
    d = Driver()
    d.new("a", "sell", 2, 100)
    d.new("c", "sell", 3, 105)
    assert d.new("b", "buy", 10, 102, order_type="market") == [
        accepted(3, "b", "buy", 10, 102, order_type="market"),
        trade(3, 1, 100, 2, "buy", taker=(3, "b", 8), maker=(1, "a", 0)),
        cancelled(3, 3, "b", 8, "price_band"),
    ]
    assert depth(d) == ([], [(105, 3)])


def test_market_sell_with_protection_and_nothing_beyond_it_is_ioc_remainder() -> None:
    d = Driver()
    d.new("a", "buy", 2, 100)
    assert d.new("b", "sell", 5, 95, order_type="market", tif="ioc") == [
        accepted(2, "b", "sell", 5, 95, order_type="market", tif="ioc"),
        trade(2, 1, 100, 2, "sell", taker=(2, "b", 3), maker=(1, "a", 0)),
        cancelled(2, 2, "b", 3, "ioc_remainder"),
    ]


def test_market_order_without_protection_sweeps_the_side() -> None:
    d = Driver()
    d.new("a", "sell", 2, 100)
    d.new("c", "sell", 3, 105)
    # gtc behaves as ioc for a market order: it never rests.
    assert d.new("b", "buy", 10, order_type="market") == [
        accepted(3, "b", "buy", 10, order_type="market"),
        trade(3, 1, 100, 2, "buy", taker=(3, "b", 8), maker=(1, "a", 0)),
        trade(3, 2, 105, 3, "buy", taker=(3, "b", 5), maker=(2, "c", 0)),
        cancelled(3, 3, "b", 5, "ioc_remainder"),
    ]
    assert depth(d) == ([], [])
    assert d.new("b", "sell", 1, order_type="market", tif="ioc") == [
        accepted(4, "b", "sell", 1, order_type="market", tif="ioc"),
        cancelled(4, 4, "b", 1, "ioc_remainder"),
    ]
    assert d.engine.orders == {}


def test_market_fok() -> None:
    d = Driver()
    d.new("a", "sell", 2, 100)
    d.new("c", "sell", 3, 105)
    assert d.new("b", "buy", 4, 104, order_type="market", tif="fok") == [
        accepted(3, "b", "buy", 4, 104, order_type="market", tif="fok"),
        cancelled(3, 3, "b", 4, "fok_unfillable"),
    ]
    assert d.new("b", "buy", 4, order_type="market", tif="fok") == [
        accepted(4, "b", "buy", 4, order_type="market", tif="fok"),
        trade(4, 1, 100, 2, "buy", taker=(4, "b", 2), maker=(1, "a", 0)),
        trade(4, 2, 105, 2, "buy", taker=(4, "b", 0), maker=(2, "c", 1)),
    ]
    assert depth(d) == ([], [(105, 1)])


# ------------------------------------------------------------------ post-only


@pytest.mark.parametrize(
    ("account", "price"),
    [("b", 100), ("b", 101), ("a", 100), ("a", 105)],
    ids=["other-at", "other-through", "own-at", "own-through"],
)
def test_post_only_that_would_take_is_rejected(account: str, price: int) -> None:
    d = Driver()
    d.new("a", "sell", 5, 100)
    before = d.engine.canonical_state()
    events = d.new(account, "buy", 5, price, post_only=True, cl_ord_id="p")
    assert_new_order_rejected(
        events, rejected(2, account, "post_only", POST_ONLY_TEXT, cl_ord_id="p")
    )
    assert d.engine.canonical_state()[1:] == before[1:]
    assert depth(d) == ([], [(100, 5)])


def test_post_only_rests_when_it_does_not_cross() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100)
    assert d.new("b", "buy", 5, 99, post_only=True) == [
        accepted(2, "b", "buy", 5, 99, post_only=True)
    ]
    assert d.new("b", "sell", 6, 101, post_only=True, order_type="iceberg", display_qty=2) == [
        accepted(3, "b", "sell", 6, 101, post_only=True, order_type="iceberg", display_qty=2)
    ]
    assert depth(d) == ([(99, 5)], [(100, 5), (101, 2)])


def test_new_order_reject_names_no_order() -> None:
    d = Driver()
    d.new("a", "sell", 5, 100)
    [event] = d.new("b", "buy", 5, 100, post_only=True)
    assert isinstance(event, OrderRejected)
    assert event.order_id is None  # no order was created; the request is answered by req_id
