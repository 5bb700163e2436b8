"""Commands' well-formedness rules and the msgspec wire round trip of commands and events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

import msgspec
import pytest

from engine.events import (
    AuctionIndicated,
    AuctionUncrossed,
    BalanceRebased,
    CorporateActionAnnounced,
    CorporateActionApplied,
    DeadManSwitchSet,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    IcebergRefilled,
    KillSwitchSet,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    PhaseChanged,
    ReferencePriceSet,
    ReferencePriceStale,
    TradeExecuted,
)
from model.commands import (
    AmendOrder,
    BatchOrder,
    CancelAll,
    CancelAllAfter,
    CancelOrder,
    Command,
    CommandError,
    CorporateAction,
    Deposit,
    Halt,
    NewOrder,
    ReplaceOrder,
    Resume,
    RunTimers,
    SetKillSwitch,
    SetReferencePrice,
    Withdraw,
)

S = "AAPLx/USD"
MAX = 2**63 - 1
BASE: dict[str, Any] = {
    "seq": 7,
    "ts": 7_000,
    "account": "a",
    "symbol": S,
    "side": "buy",
    "qty": 5,
    "price": 100,
}
STOPS = ["stop-loss", "stop-loss-limit", "take-profit", "take-profit-limit"]


def new(**overrides: Any) -> NewOrder:
    return NewOrder(**{**BASE, **overrides})


# ------------------------------------------------------------------ NewOrder rules

ICE = {"order_type": "iceberg", "display_qty": 2}
GTD = {"tif": "gtd", "expire_ts": 8_000}

BAD_NEW_ORDERS: list[tuple[str, dict[str, Any], str]] = [
    # (case, overrides, field at fault)
    ("side", {"side": "hold"}, "side"),
    ("side-case", {"side": "BUY"}, "side"),
    ("order-type", {"order_type": "stop"}, "order_type"),
    ("tif", {"tif": "gtx"}, "time_in_force"),
    ("stp", {"stp": "cancel_all"}, "stp_type"),
    ("qty-zero", {"qty": 0}, "order_qty"),
    ("qty-negative", {"qty": -1}, "order_qty"),
    ("qty-over-64-bit", {"qty": MAX + 1}, "order_qty"),
    ("price-zero", {"price": 0}, "limit_price"),
    ("price-negative", {"price": -100}, "limit_price"),
    ("price-over-64-bit", {"price": MAX + 1}, "limit_price"),
    ("market-protection-zero", {"order_type": "market", "price": 0}, "limit_price"),
    ("limit-no-price", {"price": None}, "limit_price"),
    ("iceberg-no-price", {**ICE, "price": None}, "limit_price"),
    *[
        (
            f"{kind}-no-price",
            {"order_type": kind, "trigger_price": 90, "price": None},
            "limit_price",
        )
        for kind in ("stop-loss-limit", "take-profit-limit")
    ],
    *[(f"{kind}-no-trigger", {"order_type": kind}, "triggers") for kind in STOPS],
    ("trigger-zero", {"order_type": "stop-loss", "trigger_price": 0}, "triggers"),
    ("trigger-negative", {"order_type": "take-profit", "trigger_price": -3}, "triggers"),
    ("trigger-over-64-bit", {"order_type": "stop-loss", "trigger_price": MAX + 1}, "triggers"),
    ("trigger-on-limit", {"trigger_price": 90}, "triggers"),
    ("trigger-on-market", {"order_type": "market", "trigger_price": 90}, "triggers"),
    ("trigger-on-iceberg", {**ICE, "trigger_price": 90}, "triggers"),
    ("iceberg-no-display", {"order_type": "iceberg"}, "display_qty"),
    ("iceberg-display-zero", {**ICE, "display_qty": 0}, "display_qty"),
    ("iceberg-display-negative", {**ICE, "display_qty": -1}, "display_qty"),
    ("iceberg-display-equal", {**ICE, "display_qty": 5}, "display_qty"),
    ("iceberg-display-above", {**ICE, "display_qty": 6}, "display_qty"),
    ("iceberg-ioc", {**ICE, "tif": "ioc"}, "time_in_force"),
    ("iceberg-fok", {**ICE, "tif": "fok"}, "time_in_force"),
    ("display-on-limit", {"display_qty": 2}, "display_qty"),
    ("display-on-market", {"order_type": "market", "display_qty": 2}, "display_qty"),
    (
        "display-on-stop",
        {"order_type": "stop-loss", "trigger_price": 9, "display_qty": 2},
        "display_qty",
    ),
    ("gtd-no-expiry", {"tif": "gtd"}, "expire_time"),
    ("day-no-expiry", {"tif": "day"}, "expire_time"),
    ("gtd-expiry-now", {"tif": "gtd", "expire_ts": 7_000}, "expire_time"),
    ("day-expiry-past", {"tif": "day", "expire_ts": 6_999}, "expire_time"),
    ("market-gtd", {"order_type": "market", **GTD}, "time_in_force"),
    ("market-day", {"order_type": "market", "tif": "day", "expire_ts": 9_000}, "time_in_force"),
    ("expiry-on-gtc", {"expire_ts": 8_000}, "expire_time"),
    ("expiry-on-ioc", {"tif": "ioc", "expire_ts": 8_000}, "expire_time"),
    ("expiry-on-fok", {"tif": "fok", "expire_ts": 8_000}, "expire_time"),
    ("post-only-market", {"order_type": "market", "post_only": True}, "post_only"),
    ("post-only-ioc", {"tif": "ioc", "post_only": True}, "post_only"),
    ("post-only-fok", {"tif": "fok", "post_only": True}, "post_only"),
    *[
        (
            f"post-only-{kind}",
            {"order_type": kind, "trigger_price": 90, "post_only": True},
            "post_only",
        )
        for kind in STOPS
    ],
]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [pytest.param(o, f, id=case) for case, o, f in BAD_NEW_ORDERS],
)
def test_ill_formed_new_order_raises_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(CommandError) as info:
        new(**overrides)
    error = info.value
    assert error.field == field
    assert error.rule
    assert str(error) == f"{field} {error.value!r}: {error.rule}"
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("overrides", "value"),
    [
        ({"qty": 0}, 0),
        ({"price": -100}, -100),
        ({"side": "hold"}, "hold"),
        ({"price": None}, None),
        ({**ICE, "display_qty": 6}, 6),
        ({"tif": "gtd", "expire_ts": 6_000}, 6_000),
        ({"trigger_price": 90}, 90),
        ({"tif": "ioc", "post_only": True}, True),
    ],
)
def test_command_error_carries_the_value(overrides: dict[str, Any], value: object) -> None:
    with pytest.raises(CommandError) as info:
        new(**overrides)
    assert info.value.value == value


GOOD_NEW_ORDERS: list[tuple[str, dict[str, Any]]] = [
    ("limit", {}),
    ("limit-max", {"qty": MAX, "price": MAX}),
    ("limit-ioc", {"tif": "ioc"}),
    ("limit-fok", {"tif": "fok"}),
    ("limit-gtd", GTD),
    ("limit-day", {"tif": "day", "expire_ts": 7_001}),
    ("limit-post-only", {"post_only": True}),
    ("limit-post-only-gtd", {"post_only": True, **GTD}),
    ("market", {"order_type": "market", "price": None}),
    ("market-protected", {"order_type": "market"}),
    ("market-ioc", {"order_type": "market", "tif": "ioc", "price": None}),
    ("market-fok", {"order_type": "market", "tif": "fok"}),
    ("iceberg", ICE),
    ("iceberg-display-1", {**ICE, "display_qty": 1}),
    ("iceberg-display-just-below-qty", {**ICE, "display_qty": 4}),
    ("iceberg-post-only-day", {**ICE, "post_only": True, "tif": "day", "expire_ts": 9_000}),
    ("stop-loss", {"order_type": "stop-loss", "trigger_price": 90, "price": None}),
    ("stop-loss-protected", {"order_type": "stop-loss", "trigger_price": 90}),
    ("take-profit", {"order_type": "take-profit", "trigger_price": 1, "price": None}),
    ("stop-loss-limit-gtd", {"order_type": "stop-loss-limit", "trigger_price": 90, **GTD}),
    (
        "take-profit-limit-fok",
        {"order_type": "take-profit-limit", "trigger_price": MAX, "tif": "fok"},
    ),
    (
        "stop-loss-day",
        {"order_type": "stop-loss", "trigger_price": 90, "tif": "day", "expire_ts": 9_000},
    ),
    ("all-ids", {"cl_ord_id": "c-1", "userref": -5, "stp": "cancel_both"}),
]


@pytest.mark.parametrize("overrides", [pytest.param(o, id=case) for case, o in GOOD_NEW_ORDERS])
def test_well_formed_new_orders_build(overrides: dict[str, Any]) -> None:
    order = new(**overrides)
    for name, value in overrides.items():
        assert getattr(order, name) == value


def test_new_order_defaults() -> None:
    order = NewOrder(1, 2, "a", S, "sell", 3, 4)
    assert (order.order_type, order.tif, order.stp, order.post_only) == (
        "limit",
        "gtc",
        "cancel_newest",
        False,
    )
    assert order.expire_ts is order.display_qty is order.trigger_price is None
    assert order.cl_ord_id is order.userref is None


# ------------------------------------------------------------------ cancel, amend, replace rules

BAD_OTHERS: list[tuple[str, Callable[[], object], str]] = [
    ("cancel-no-id", lambda: CancelOrder(1, 1, "a"), "order_id"),
    ("batch-of-one", lambda: BatchOrder(1, 1, "a", S, "buy", 1, 1, parts=1), "orders"),
    ("batch-of-16", lambda: BatchOrder(1, 1, "a", S, "buy", 1, 1, parts=16), "orders"),
    ("batch-part-out", lambda: BatchOrder(1, 1, "a", S, "buy", 1, 1, part=2, parts=2), "part"),
    ("batch-order-checked", lambda: BatchOrder(1, 1, "a", S, "hold", 1, 1), "side"),  # type: ignore[arg-type]
    ("cancel-id-and-clid", lambda: CancelOrder(1, 1, "a", 5, "x"), "order_id"),
    ("cancel-id-and-userref", lambda: CancelOrder(1, 1, "a", 5, userref=3), "order_id"),
    ("cancel-clid-and-userref", lambda: CancelOrder(1, 1, "a", None, "x", 3), "order_id"),
    ("cancel-all-three", lambda: CancelOrder(1, 1, "a", 5, "x", 3), "order_id"),
    ("halt-empty-reason", lambda: Halt(1, 1, "ops", S, ""), "reason"),
    ("halt-long-reason", lambda: Halt(1, 1, "ops", S, "x" * 101), "reason"),
    ("resume-negative", lambda: Resume(1, 1, "ops", S, -1), "auction_seconds"),
    ("resume-over-an-hour", lambda: Resume(1, 1, "ops", S, 3_601 * 10**9), "auction_seconds"),
    ("split-of-one", lambda: CorporateAction(1, 1, "ops", S, "split", 2, 2), "ratio"),
    ("split-zero", lambda: CorporateAction(1, 1, "ops", S, "split", 0, 1), "ratio"),
    ("split-negative", lambda: CorporateAction(1, 1, "ops", S, "split", 2, -1), "ratio"),
    (
        "dividend-below-one",
        lambda: CorporateAction(1, 1, "ops", S, "dividend", 99, 100),
        "multiplier",
    ),
    ("action-kind", lambda: CorporateAction(1, 1, "ops", S, "merger", 2, 1), "kind"),  # type: ignore[arg-type]
    (
        "action-time",
        lambda: CorporateAction(1, 1, "ops", S, "delist", effective_ts=-1),
        "effective_time",
    ),
]
for _name, _cls in (("amend", AmendOrder), ("replace", ReplaceOrder)):
    BAD_OTHERS += [
        (f"{_name}-no-id", lambda c=_cls: c(1, 1, "a", qty=3), "order_id"),
        (f"{_name}-both-ids", lambda c=_cls: c(1, 1, "a", 5, "x"), "order_id"),
        (f"{_name}-qty-zero", lambda c=_cls: c(1, 1, "a", 5, qty=0), "order_qty"),
        (f"{_name}-qty-over", lambda c=_cls: c(1, 1, "a", 5, qty=MAX + 1), "order_qty"),
        (f"{_name}-price-zero", lambda c=_cls: c(1, 1, "a", 5, price=0), "limit_price"),
        (f"{_name}-price-negative", lambda c=_cls: c(1, 1, "a", 5, price=-2), "limit_price"),
        (f"{_name}-display-zero", lambda c=_cls: c(1, 1, "a", 5, display_qty=0), "display_qty"),
        (f"{_name}-trigger-zero", lambda c=_cls: c(1, 1, "a", 5, trigger_price=0), "triggers"),
        (
            f"{_name}-trigger-negative",
            lambda c=_cls: c(1, 1, "a", cl_ord_id="x", trigger_price=-1),
            "triggers",
        ),
    ]


@pytest.mark.parametrize(
    ("build", "field"), [pytest.param(b, f, id=case) for case, b, f in BAD_OTHERS]
)
def test_ill_formed_cancel_amend_replace_raise_naming_the_field(
    build: Callable[[], object], field: str
) -> None:
    with pytest.raises(CommandError) as info:
        build()
    assert info.value.field == field
    assert str(info.value).startswith(f"{field} ")


@pytest.mark.parametrize(
    "build",
    [
        lambda: CancelOrder(1, 1, "a", order_id=5),
        lambda: CancelOrder(1, 1, "a", cl_ord_id="x"),
        lambda: CancelOrder(1, 1, "a", userref=0),
        lambda: AmendOrder(1, 1, "a", order_id=5),
        lambda: AmendOrder(1, 1, "a", cl_ord_id="x", qty=MAX, price=1, display_qty=1),
        lambda: AmendOrder(1, 1, "a", 5, trigger_price=9, post_only=True),
        lambda: ReplaceOrder(1, 1, "a", order_id=5),
        lambda: ReplaceOrder(1, 1, "a", cl_ord_id="x", new_cl_ord_id="y", userref=2),
        lambda: ReplaceOrder(1, 1, "a", 5, qty=1, price=2, display_qty=3, trigger_price=4),
        lambda: CancelAll(1, 1, "a"),
        lambda: CancelAll(1, 1, "a", S, "kill_switch"),
        lambda: RunTimers(1, 1),
    ],
)
def test_well_formed_other_commands_build(build: Callable[[], Command]) -> None:
    command = build()
    assert command.seq == 1


# ------------------------------------------------------------------ wire round trips

COMMANDS: list[Command] = [
    NewOrder(1, 1_000, "a", S, "buy", 5, 100),
    NewOrder(
        2,
        2_000,
        "a",
        S,
        "sell",
        9,
        100,
        "iceberg",
        "gtd",
        9_000,
        True,
        3,
        None,
        "c",
        4,
        "cancel_both",
    ),
    NewOrder(
        3,
        3_000,
        "b",
        S,
        "buy",
        MAX,
        None,
        "stop-loss",
        "day",
        9_000,
        False,
        None,
        MAX,
        None,
        -1,
        "cancel_oldest",
    ),
    NewOrder(4, 4_000, "b", S, "sell", 1, None, "market", "fok"),
    CancelOrder(5, 5_000, "a", order_id=1),
    CancelOrder(6, 6_000, "a", cl_ord_id="c"),
    CancelOrder(7, 7_000, "a", userref=4),
    AmendOrder(8, 8_000, "a", order_id=2, qty=8, price=101, display_qty=2, post_only=True),
    AmendOrder(9, 9_000, "b", cl_ord_id="x", trigger_price=95),
    ReplaceOrder(10, 10_000, "a", order_id=2),
    ReplaceOrder(11, 11_000, "a", None, "c", 7, 102, 2, 3, False, "d", 5),
    CancelAll(12, 12_000, "a"),
    CancelAll(13, 13_000, "a", S, "dead_man_switch"),
    RunTimers(14, 14_000),
    Deposit(15, 15_000, "a", "USD", 100_000),
    Withdraw(16, 16_000, "a", "AAPLx", 5),
    SetKillSwitch(17, 17_000, "a", True),
    SetReferencePrice(18, 18_000, "ops", S, 23_000),
    CancelAllAfter(19, 19_000, "a", 60 * 10**9),
    NewOrder(20, 20_000, "a", S, "buy", 10, None, "market", cash_qty=5_000),
    Halt(21, 21_000, "ops", S, "news pending"),
    Resume(22, 22_000, "ops", S, 0),
    Resume(23, 23_000, "ops", S),
    CorporateAction(24, 24_000, "ops", S, "split", 3, 2, 90_000),
    CorporateAction(25, 25_000, "ops", S, "dividend", 1_000_271, 1_000_000),
    CorporateAction(26, 26_000, "ops", S, "delist"),
    BatchOrder(27, 27_000, "a", S, "buy", 5, 100, cl_ord_id="b1", part=0, parts=2),
    BatchOrder(28, 27_000, "a", S, "sell", 5, 120, order_type="iceberg", display_qty=1, part=1),
]

EVENTS: list[Event] = [
    OrderAccepted(1, 1_000, 1, NewOrder(1, 1_000, "a", S, "buy", 5, 100)),
    OrderAccepted(
        2,
        2_000,
        2,
        NewOrder(2, 2_000, "a", S, "sell", 9, 100, "iceberg", "gtd", 9_000, True, 3, None, "c", 4),
        1,
    ),
    OrderAccepted(
        3,
        3_000,
        3,
        NewOrder(3, 3_000, "b", S, "buy", 5, None, "stop-loss", trigger_price=90),
    ),
    OrderRejected(4, 4_000, "a", "post_only", "post_only: order would take liquidity", 4, "c"),
    OrderRejected(5, 5_000, "a", "unknown_order"),
    TradeExecuted(6, 6_000, 1, S, 100, 2, "buy", 6, "b", 0, 2, "a", 7),
    OrderCancelled(7, 7_000, 2, "a", S, 7, "self_trade"),
    OrderExpired(8, 8_000, 2, "a", S, 7),
    OrderAmended(9, 9_000, 2, "a", S, 9, 101, 7, 3, None, False),
    OrderAmended(10, 10_000, 3, "b", S, 5, None, 5, None, 95, True),
    OrderTriggered(11, 11_000, 3, "b", S, 95, 94),
    IcebergRefilled(12, 12_000, 2, "a", S, 3, 1),
    TradeExecuted(13, 13_000, 2, S, 100, 2, "sell", 13, "a", 0, 9, "b", 1, 200, 1, -1),
    FundsDeposited(14, 14_000, "a", "USD", 100, 1_100),
    FundsWithdrawn(15, 15_000, "a", "USD", 100, 1_000),
    KillSwitchSet(16, 16_000, "a", True),
    ReferencePriceSet(17, 17_000, S, 23_000, 21_850, 24_150),
    DeadManSwitchSet(18, 18_000, "a", 78_000),
    DeadManSwitchSet(19, 19_000, "a", None),
    PhaseChanged(20, 20_000, "S", "auction", 2000, "resume", 320_000),
    PhaseChanged(21, 21_000, "S", "regular", 500, "schedule"),
    AuctionIndicated(22, 22_000, "S", 101, 7, -3),
    AuctionIndicated(23, 23_000, "S", None, 0, 0),
    AuctionUncrossed(24, 24_000, "S", 101, 7),
    AuctionUncrossed(25, 25_000, "S", None, 0),
    CorporateActionAnnounced(26, 26_000, "S", "split", 3, 2, 90_000),
    CorporateActionApplied(27, 27_000, "S", "split", "AAPLx", 3, 2, 1, 2),
    BalanceRebased(28, 28_000, "a", "AAPLx", 5, 7),
    ReferencePriceStale(29, 29_000, "S", 23_000),
]


def test_every_command_and_event_type_is_sampled() -> None:
    assert {type(c) for c in COMMANDS} == set(get_args(Command))
    assert {type(e) for e in EVENTS} == set(get_args(Event))


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{type(c).__name__}-{c.seq}")
def test_command_round_trips(command: Command) -> None:
    data = msgspec.json.encode(command)
    back = msgspec.json.decode(data, type=Command)
    assert back == command
    assert type(back) is type(command)
    assert msgspec.json.decode(data)["type"] == type(command).__struct_config__.tag
    packed = msgspec.msgpack.encode(command)
    assert msgspec.msgpack.decode(packed, type=Command) == command


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: f"{type(e).__name__}-{e.seq}")
def test_event_round_trips(event: Event) -> None:
    data = msgspec.json.encode(event)
    back = msgspec.json.decode(data, type=Event)
    assert back == event
    assert type(back) is type(event)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(event), type=Event) == event


def test_tags_are_the_documented_wire_names() -> None:
    def tag(cls: type) -> object:
        return cls.__struct_config__.tag  # type: ignore[attr-defined]

    assert [tag(c) for c in get_args(Command)] == [
        "new_order",
        "batch_order",
        "cancel_order",
        "amend_order",
        "replace_order",
        "cancel_all",
        "run_timers",
        "deposit",
        "withdraw",
        "kill_switch",
        "set_reference_price",
        "cancel_all_orders_after",
        "halt",
        "resume",
        "corporate_action",
    ]
    assert [tag(e) for e in get_args(Event)] == [
        "order_accepted",
        "order_rejected",
        "trade",
        "order_cancelled",
        "order_expired",
        "order_amended",
        "order_triggered",
        "iceberg_refilled",
        "deposit",
        "withdrawal",
        "kill_switch",
        "reference_price",
        "dead_man_switch",
        "phase_changed",
        "auction_indicated",
        "auction_uncrossed",
        "corporate_action_announced",
        "corporate_action_applied",
        "balance_rebased",
        "reference_price_stale",
    ]


def test_decoding_fills_defaults() -> None:
    data = b'{"type":"new_order","seq":1,"ts":2,"account":"a","symbol":"S","side":"buy",'
    data += b'"qty":3,"price":4}'
    assert msgspec.json.decode(data, type=Command) == NewOrder(1, 2, "a", "S", "buy", 3, 4)
    data = b'{"type":"cancel_all","seq":1,"ts":2,"account":"a"}'
    assert msgspec.json.decode(data, type=Command) == CancelAll(1, 2, "a", None, "user")


def _doc(**fields: object) -> bytes:
    return msgspec.json.encode(fields)


NEW = {
    "type": "new_order",
    "seq": 1,
    "ts": 2,
    "account": "a",
    "symbol": S,
    "side": "buy",
    "qty": 3,
    "price": 4,
}

ILL_FORMED: list[tuple[str, bytes, str]] = [
    # (case, document, text the error carries)
    ("rule-qty", _doc(**{**NEW, "qty": 0}), "order_qty"),
    ("rule-no-price", _doc(**{**NEW, "price": None}), "limit_price"),
    ("rule-display", _doc(**{**NEW, "display_qty": 1}), "display_qty"),
    ("rule-expiry", _doc(**{**NEW, "tif": "gtd"}), "expire_time"),
    ("rule-post-only", _doc(**{**NEW, "tif": "ioc", "post_only": True}), "post_only"),
    ("rule-trigger", _doc(**{**NEW, "order_type": "stop-loss"}), "triggers"),
    ("literal-side", _doc(**{**NEW, "side": "hold"}), "side"),
    ("literal-tif", _doc(**{**NEW, "tif": "gtx"}), "tif"),
    ("literal-stp", _doc(**{**NEW, "stp": "cancel_all"}), "stp"),
    ("type-qty", _doc(**{**NEW, "qty": "3"}), "qty"),
    ("type-price-float", _doc(**{**NEW, "price": 4.5}), "price"),
    ("missing-account", _doc(**{k: v for k, v in NEW.items() if k != "account"}), "account"),
    ("unknown-tag", _doc(**{**NEW, "type": "new_orders"}), "type"),
    ("no-tag", _doc(**{k: v for k, v in NEW.items() if k != "type"}), "type"),
    ("cancel-no-id", _doc(type="cancel_order", seq=1, ts=2, account="a"), "order_id"),
    (
        "amend-both-ids",
        _doc(type="amend_order", seq=1, ts=2, account="a", order_id=1, cl_ord_id="x"),
        "order_id",
    ),
    (
        "amend-qty",
        _doc(type="amend_order", seq=1, ts=2, account="a", order_id=1, qty=-1),
        "order_qty",
    ),
    ("replace-no-id", _doc(type="replace_order", seq=1, ts=2, account="a"), "order_id"),
    (
        "replace-trigger",
        _doc(type="replace_order", seq=1, ts=2, account="a", order_id=1, trigger_price=0),
        "triggers",
    ),
    ("expire-no-ts", _doc(type="run_timers", seq=1), "ts"),
]


@pytest.mark.parametrize(
    ("data", "text"), [pytest.param(d, t, id=case) for case, d, t in ILL_FORMED]
)
def test_decoding_an_ill_formed_command_raises_validation_error(data: bytes, text: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=text):
        msgspec.json.decode(data, type=Command)
    packed = msgspec.msgpack.encode(msgspec.json.decode(data))
    with pytest.raises(msgspec.ValidationError, match=text):
        msgspec.msgpack.decode(packed, type=Command)
