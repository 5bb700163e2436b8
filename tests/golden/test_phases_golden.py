"""Golden event streams for the trading phases the engine runs from each instrument's schedule.

Every expectation is worked out by hand from docs/SESSIONS.md (the rulebook as built) and
MARKET_RULES.md sections 3-4, never copied from the engine's output:

- phases: ``regular`` 09:30 to the close (16:00, 13:00 on an early-close day), ``extended``
  04:00-09:30 and close-20:00 on a trading day, ``overnight`` 20:00 on D to 04:00 on D+1
  iff D+1 trades, ``weekend`` otherwise (``closed`` for a ``24/5`` instrument);
- tier-1 bands: 500 bps in ``regular``, 1000 in 09:30-09:45 and the last 25 minutes before
  the close, 1000 ``extended``, 2000 ``overnight``/``weekend``, None ``closed``/``halted``;
  edges ``low = ceil(ref * (10000 - bps) / 10000)``, ``high = floor(ref * (10000 + bps) / 10000)``;
- order kinds: everything in ``regular``, limit kinds only otherwise (``limit_only``),
  nothing in ``closed`` (``market_closed``) or ``halted`` (``halted``); cancels always work;
- the account's max order notional is divided by 4 in ``overnight`` and ``weekend``.

Instants are built with ``eastern_to_utc_ns``; the DST tests also write the UTC instants out
literally. The Driver stamps each command with the current time (1 us apart), and
``run_until`` sends one RunTimers per due instant, so a stream's seq counts distinct instants.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import msgspec
import pytest

from engine.calendar import eastern_to_utc_ns
from engine.events import (
    Event,
    FundsDeposited,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    PhaseChanged,
    TradeExecuted,
)
from model.commands import AmendOrder, CancelOrder, Halt, NewOrder
from tests.builders import Driver, instrument, risk_for

A, T = "AAPLx/USD", "TSLAx/USD"  # 24/7 and 24/5
NS = 10**9
MINUTE = 60 * NS

Change = tuple[int, str, int, str]
"""(UTC instant, phase of the 24/7 instrument, its band_bps, reason)."""


def et(y: int, mo: int, d: int, hhmm: str) -> int:
    """The UTC instant of an Eastern wall time written ``"HH:MM"``."""
    hour, minute = map(int, hhmm.split(":"))
    return eastern_to_utc_ns(date(y, mo, d), hour, minute)


def utc(y: int, mo: int, d: int, hour: int) -> int:
    """A UTC instant written out literally (independent of the engine's calendar)."""
    return int(datetime(y, mo, d, hour, tzinfo=UTC).timestamp()) * NS


def on(day: tuple[int, int, int], *changes: tuple[str, str, int, str]) -> list[Change]:
    """Changes on one local day, each written ``(HH:MM, phase, band_bps, reason)``."""
    return [(et(*day, hhmm), phase, band, why) for hhmm, phase, band, why in changes]


# A full trading day up to (not including) its 20:00 change.
OPEN = ("09:30", "regular", 1000, "schedule")  # extended 1000 -> regular, doubled: still 1000
FULL_DAY = (
    ("04:00", "extended", 1000, "schedule"),
    OPEN,
    ("09:45", "regular", 500, "band"),
    ("15:35", "regular", 1000, "band"),
    ("16:00", "extended", 1000, "schedule"),
)
CLOSE_TAIL = FULL_DAY[3:]  # 15:35 band, 16:00 extended
EARLY_TAIL = (("12:35", "regular", 1000, "band"), ("13:00", "extended", 1000, "schedule"))
OVERNIGHT = ("20:00", "overnight", 2000, "schedule")
WEEKEND = ("20:00", "weekend", 2000, "schedule")


def stream(changes: list[Change], first_seq: int = 1) -> list[PhaseChanged]:
    """Both instruments' events, one RunTimers (seq) per instant, the 24/7 one first.

    The 24/5 instrument has the same instants; it is ``closed`` with no band where the
    24/7 one is in ``weekend``.
    """
    out: list[PhaseChanged] = []
    for seq, (at, phase, band, why) in enumerate(changes, first_seq):
        out.append(PhaseChanged(seq, at, A, phase, band, why))
        if phase == "weekend":
            out.append(PhaseChanged(seq, at, T, "closed", None, why))
        else:
            out.append(PhaseChanged(seq, at, T, phase, band, why))
    return out


def pair(start: int, risk: bool = False, ref: tuple[int, int] = (23_000, 40_000)) -> Driver:
    """A 24/7 AAPLx and a 24/5 TSLAx from ``start``; with ``risk``, accounts a, b, c."""
    insts = [
        instrument(A, schedule="24/7", reference_price=ref[0]),
        instrument(T, schedule="24/5", reference_price=ref[1]),
    ]
    return Driver(risk=risk_for(insts) if risk else None, start_ts=start, instruments=insts)


# ------------------------------------------------------------------ 1. a full week


THANKSGIVING_WEEK: list[Change] = [
    *on((2026, 11, 20), *CLOSE_TAIL, WEEKEND),  # Friday
    *on((2026, 11, 22), OVERNIGHT),  # Sunday night leads into Monday
    *on((2026, 11, 23), *FULL_DAY, OVERNIGHT),
    *on((2026, 11, 24), *FULL_DAY, OVERNIGHT),
    *on((2026, 11, 25), *FULL_DAY, WEEKEND),  # the night before Thanksgiving
    *on((2026, 11, 26), OVERNIGHT),  # nothing at 04:00; the holiday's evening leads into Friday
    *on((2026, 11, 27), *FULL_DAY[:3], *EARLY_TAIL, WEEKEND),  # 13:00 close, 12:35 window
    *on((2026, 11, 29), OVERNIGHT),
]


def test_thanksgiving_week_24_7_and_24_5_side_by_side() -> None:
    """Fri 20 Nov 12:00 to Sun 29 Nov 20:00 ET: every PhaseChanged, in order, nothing else."""
    d = pair(et(2026, 11, 20, "12:00"))
    assert len(THANKSGIVING_WEEK) == 3 + 1 + 6 + 6 + 6 + 1 + 6 + 1
    assert d.run_until(et(2026, 11, 29, "20:00")) == stream(THANKSGIVING_WEEK)
    assert d.engine.next_timer() == et(2026, 11, 30, "04:00")


# ------------------------------------------------------------------ 2. daylight-saving switches


@pytest.mark.parametrize(
    ("friday", "sunday", "fri_2000", "sun_2000", "mon_0400"),
    [
        # Spring: Fri 20:00 EST = 01:00 UTC; Sun 20:00 EDT = 00:00 UTC; Mon 04:00 EDT = 08:00 UTC.
        ((2026, 3, 6), (2026, 3, 8), utc(2026, 3, 7, 1), utc(2026, 3, 9, 0), utc(2026, 3, 9, 8)),
        # Autumn: Fri 20:00 EDT = 00:00 UTC; Sun 20:00 EST = 01:00 UTC; Mon 04:00 EST = 09:00 UTC.
        (
            (2026, 10, 30),
            (2026, 11, 1),
            utc(2026, 10, 31, 0),
            utc(2026, 11, 2, 1),
            utc(2026, 11, 2, 9),
        ),
    ],
    ids=["2026-03-08", "2026-11-01"],
)
def test_dst_weekend(
    friday: tuple[int, int, int],
    sunday: tuple[int, int, int],
    fri_2000: int,
    sun_2000: int,
    mon_0400: int,
) -> None:
    """The switch at 02:00 Sunday changes nothing; Sunday 20:00 is 20:00 at the new offset."""
    d = pair(et(*friday, "19:00"))
    assert et(*friday, "20:00") == fri_2000
    # Through Sunday 04:00 local, well past the 02:00 switch: only Friday's 20:00 change.
    assert d.run_until(et(*sunday, "04:00")) == stream([(fri_2000, "weekend", 2000, "schedule")])
    assert d.engine.next_timer() == sun_2000
    assert d.run_until(mon_0400) == stream(
        [(sun_2000, "overnight", 2000, "schedule"), (mon_0400, "extended", 1000, "schedule")], 2
    )


# ------------------------------------------------------------------ 3. other holidays

HOLIDAYS: dict[str, tuple[tuple[int, int, int, str], tuple[int, int, int, str], list[Change]]] = {
    # Good Friday 3 Apr: Thursday is a full day, its night is weekend, Sunday night overnight.
    "good-friday-2026": (
        (2026, 4, 2, "15:00"),
        (2026, 4, 6, "09:30"),
        [
            *on((2026, 4, 2), *CLOSE_TAIL, WEEKEND),
            *on((2026, 4, 5), OVERNIGHT),
            *on((2026, 4, 6), *FULL_DAY[:2]),
        ],
    ),
    # Memorial Day Mon 25 May: Sunday night is weekend; the holiday's evening is overnight.
    "memorial-day-2026": (
        (2026, 5, 22, "15:00"),
        (2026, 5, 26, "09:30"),
        [
            *on((2026, 5, 22), *CLOSE_TAIL, WEEKEND),
            *on((2026, 5, 25), OVERNIGHT),
            *on((2026, 5, 26), *FULL_DAY[:2]),
        ],
    ),
    # 4 July is a Saturday: observed Fri 3 July; Thu 2 July is a full day (no 12:35 window).
    "independence-day-observed-2026": (
        (2026, 7, 2, "12:00"),
        (2026, 7, 6, "04:00"),
        [
            *on((2026, 7, 2), *CLOSE_TAIL, WEEKEND),
            *on((2026, 7, 5), OVERNIGHT),
            *on((2026, 7, 6), FULL_DAY[0]),
        ],
    ),
    # Christmas Fri 25 Dec: Thu 24 Dec closes at 13:00, then extended to 20:00, then weekend.
    "christmas-2026": (
        (2026, 12, 24, "12:00"),
        (2026, 12, 28, "04:00"),
        [
            *on((2026, 12, 24), *EARLY_TAIL, WEEKEND),
            *on((2026, 12, 27), OVERNIGHT),
            *on((2026, 12, 28), FULL_DAY[0]),
        ],
    ),
}


@pytest.mark.parametrize("case", list(HOLIDAYS))
def test_holiday_and_its_neighbouring_nights(case: str) -> None:
    """The night before a holiday and the holiday itself are weekend/closed, nothing in between."""
    start, end, changes = HOLIDAYS[case]
    d = pair(et(*start))
    assert d.run_until(et(*end)) == stream(changes)


# ------------------------------------------------------------------ helpers for orders


def untext(events: list[Event]) -> list[Event]:
    """The events with each rejection's text blanked (after checking there is one)."""
    out: list[Event] = []
    for e in events:
        if isinstance(e, OrderRejected):
            assert e.text, e
            e = msgspec.structs.replace(e, text="")
        out.append(e)
    return out


def place(
    d: Driver, account: str, side: str, qty: int, price: int | None, symbol: str = A, **kw: Any
) -> tuple[NewOrder, list[Event]]:
    """Send one new order: the command sent and its events (rejection texts blanked)."""
    events = untext(d.new(account, side, qty, price, symbol=symbol, **kw))
    c = d.log[-1]
    assert isinstance(c, NewOrder)
    return c, events


def ok(c: NewOrder) -> list[Event]:
    return [OrderAccepted(c.seq, c.ts, c.seq, c)]


def no(c: NewOrder | AmendOrder, reason: str, order_id: int | None = None) -> list[Event]:
    return [OrderRejected(c.seq, c.ts, c.account, reason, "", order_id, None)]


def fund(d: Driver, account: str, asset: str, amount: int) -> None:
    assert [type(e) for e in d.deposit(account, asset, amount)] == [FundsDeposited]


def cancel(d: Driver, account: str, order_id: int, symbol: str, leaves: int) -> None:
    """Cancel an open order and check the one OrderCancelled it gives."""
    events = d.cancel(account, order_id=order_id)
    c = d.log[-1]
    assert isinstance(c, CancelOrder)
    assert events == [OrderCancelled(c.seq, c.ts, order_id, account, symbol, leaves, "user")]


# ------------------------------------------------------------------ 4. admission per phase

LIMIT_KINDS: list[tuple[str, dict[str, Any]]] = [
    ("limit", {"price": 23_000}),
    ("iceberg", {"price": 23_000, "display_qty": 1}),
    ("stop-loss-limit", {"price": 23_500, "trigger_price": 23_400}),
    ("take-profit-limit", {"price": 22_500, "trigger_price": 22_600}),
]
MARKET_KINDS: list[tuple[str, dict[str, Any]]] = [
    ("market", {"price": None}),
    ("stop-loss", {"price": None, "trigger_price": 23_400}),
    ("take-profit", {"price": None, "trigger_price": 22_600}),
]


@pytest.mark.parametrize(
    "start",
    [et(2026, 12, 7, "05:00"), et(2026, 12, 7, "21:00"), et(2026, 12, 5, "12:00")],
    ids=["extended", "overnight", "weekend"],
)
def test_outside_regular_only_limit_kinds(start: int) -> None:
    """Extended, overnight, weekend: limit kinds accepted; market, stop-loss, take-profit not."""
    d = pair(start, risk=True)
    fund(d, "a", "USD", 10**8)
    for kind, fields in LIMIT_KINDS:
        c, events = place(d, "a", "buy", 2, order_type=kind, **fields)
        assert events == ok(c), kind
    for kind, fields in MARKET_KINDS:
        c, events = place(d, "a", "buy", 2, order_type=kind, **fields)
        assert events == no(c, "limit_only"), kind


def test_regular_accepts_market_and_stop_orders() -> None:
    """Mon 10:00: a market buy trades against a resting sell; stop-loss and take-profit rest."""
    d = pair(et(2026, 12, 7, "10:00"), risk=True)
    fund(d, "a", "USD", 10**8)
    fund(d, "b", "AAPLx", 10**8)  # one share
    sell, events = place(d, "b", "sell", 10_000, 23_000)
    assert events == ok(sell)
    buy, events = place(d, "a", "buy", 10_000, None, order_type="market")
    # $230.00 of notional; 25 bps taker fee 57.5 -> 58 (paid rounded up), 10 bps maker
    # fee: the seller nets floor(22977.0) = 22977, so 23.
    assert events == [
        *ok(buy),
        TradeExecuted(
            buy.seq, buy.ts, 1, A, 23_000, 10_000, "buy", buy.seq, "a", 0, sell.seq, "b", 0,
            23_000, 58, 23,
        ),
    ]  # fmt: skip
    for kind, fields in MARKET_KINDS[1:]:
        c, events = place(d, "a", "buy", 2, order_type=kind, **fields)
        assert events == ok(c), kind


def test_24_5_closed_refuses_orders_and_amends_but_cancels() -> None:
    """Friday 20:00 closes the 24/5 instrument: new orders and amends get market_closed,
    a cancel of its resting order works, and Sunday 20:00 reopens it (overnight)."""
    d = pair(et(2026, 12, 4, "19:00"), risk=True)
    fund(d, "a", "USD", 10**8)
    resting, events = place(d, "a", "buy", 3, 40_000, symbol=T)
    assert events == ok(resting)
    seq = d.next_seq
    assert d.run_until(et(2026, 12, 5, "12:00")) == stream(
        [(et(2026, 12, 4, "20:00"), "weekend", 2000, "schedule")], seq
    )
    for kind, fields in [*LIMIT_KINDS, *MARKET_KINDS]:
        c, events = place(d, "a", "buy", 2, symbol=T, order_type=kind, **fields)
        assert events == no(c, "market_closed"), kind
    events = untext(d.amend("a", order_id=resting.seq, qty=5))
    amend = d.log[-1]
    assert isinstance(amend, AmendOrder)
    assert events == no(amend, "market_closed", resting.seq)
    c, events = place(d, "a", "buy", 2, 23_000)  # the 24/7 instrument trades on (weekend)
    assert events == ok(c)
    cancel(d, "a", resting.seq, T, 3)
    seq = d.next_seq
    assert d.run_until(et(2026, 12, 6, "20:00")) == stream(
        [(et(2026, 12, 6, "20:00"), "overnight", 2000, "schedule")], seq
    )
    c, events = place(d, "a", "buy", 2, 40_000, symbol=T)
    assert events == ok(c)


def test_halted_refuses_orders_and_amends_but_cancels() -> None:
    """A halt in regular hours: PhaseChanged(halted, no band, the halt's reason); new orders
    and amends get ``halted``; a cancel works; the other instrument is untouched."""
    d = pair(et(2026, 12, 7, "10:00"), risk=True)
    fund(d, "a", "USD", 10**8)
    resting, events = place(d, "a", "buy", 3, 23_000)
    assert events == ok(resting)
    events = d.halt(A)
    halt = d.log[-1]
    assert isinstance(halt, Halt)
    assert events == [PhaseChanged(halt.seq, halt.ts, A, "halted", None, "operator", None)]
    for kind, fields in [*LIMIT_KINDS, *MARKET_KINDS]:
        c, events = place(d, "a", "buy", 2, order_type=kind, **fields)
        assert events == no(c, "halted"), kind
    events = untext(d.amend("a", order_id=resting.seq, price=22_900))
    amend = d.log[-1]
    assert isinstance(amend, AmendOrder)
    assert events == no(amend, "halted", resting.seq)
    cancel(d, "a", resting.seq, A, 3)
    c, events = place(d, "a", "buy", 2, 40_000, symbol=T)
    assert events == ok(c)


# ------------------------------------------------------------------ 5. bands per phase

REF = 23_457  # $234.57: every edge needs rounding
EDGES = {  # bps -> (low, high), by hand
    500: (22_285, 24_629),  # 22284.15 up, 24629.85 down
    1000: (21_112, 25_802),  # 21111.3 up, 25802.7 down
    2000: (18_766, 28_148),  # 18765.6 up, 28148.4 down
}
BAND_WALK: list[tuple[str, int, int]] = [  # (what, when, band bps), in time order
    ("early-close day, regular", et(2026, 11, 27, "12:00"), 500),
    ("early-close day, 12:35 window", et(2026, 11, 27, "12:35"), 1000),
    ("weekend", et(2026, 12, 5, "12:00"), 2000),
    ("extended", et(2026, 12, 7, "05:00"), 1000),
    ("opening window, 09:30", et(2026, 12, 7, "09:30"), 1000),
    ("opening window, 09:44:59.99", et(2026, 12, 7, "09:44") + 59_990_000_000, 1000),
    ("regular, 09:45", et(2026, 12, 7, "09:45"), 500),
    ("regular, 15:34", et(2026, 12, 7, "15:34"), 500),
    ("closing window, 15:35", et(2026, 12, 7, "15:35"), 1000),
    ("post-market extended", et(2026, 12, 7, "16:00"), 1000),
    ("overnight", et(2026, 12, 7, "21:00"), 2000),
]


def test_band_edges_per_phase() -> None:
    """At each step of one walk through the clock: a buy one tick above the high edge and a
    sell one tick below the low edge get ``price_band``; orders at the edges are accepted."""
    for bps, edges in EDGES.items():  # the hand figures agree with ceil/floor of the formula
        assert edges == (-(-REF * (10_000 - bps) // 10_000), REF * (10_000 + bps) // 10_000)
    d = pair(BAND_WALK[0][1], risk=True, ref=(REF, 40_000))
    fund(d, "a", "USD", 10**8)
    fund(d, "b", "AAPLx", 10**10)
    for what, when, bps in BAND_WALK:
        d.run_until(when)
        # The walk spans ten days without a trade: the operator renews the
        # reference at each step, or it would go stale (docs/SESSIONS.md 3b).
        d.reference(REF, A)
        low, high = EDGES[bps]
        for account, side, edge, beyond in (
            ("a", "buy", high, high + 1),
            ("b", "sell", low, low - 1),
        ):
            c, events = place(d, account, side, 1, beyond)
            assert events == no(c, "price_band"), (what, side)
            c, events = place(d, account, side, 1, edge)
            assert events == ok(c), (what, side)
            cancel(d, account, c.seq, A, 1)


# ------------------------------------------------------------------ 6. max order notional

LIMIT = 100_000  # cents: $1000; at $200.00 a lot (0.0001 share) is 2 cents, 50,000 lots $1000
NOTIONAL_WALK: list[tuple[str, int, int]] = [  # (phase, when, divisor)
    ("weekend", et(2026, 12, 5, "12:00"), 4),
    ("extended", et(2026, 12, 7, "05:00"), 1),
    ("regular", et(2026, 12, 7, "10:00"), 1),
    ("overnight", et(2026, 12, 7, "21:00"), 4),
    ("regular again", et(2026, 12, 8, "10:00"), 1),
]
QTYS = (12_500, 12_501, 49_999, 50_000, 50_001)  # $250 (= limit / 4), ..., $1000 (= limit), ...


@pytest.mark.parametrize(
    ("phase", "when", "divisor"), NOTIONAL_WALK, ids=[w[0] for w in NOTIONAL_WALK]
)
def test_max_order_notional_per_phase(phase: str, when: int, divisor: int) -> None:
    """Orders up to the account limit pass in extended and regular; overnight and weekend
    allow a quarter of it (the quarter itself included)."""
    insts = [instrument(A, schedule="24/7", reference_price=20_000)]
    d = Driver(
        risk=risk_for(insts, max_order_notional=LIMIT),
        start_ts=NOTIONAL_WALK[0][1],
        instruments=insts,
    )
    fund(d, "a", "USD", 10**8)
    d.run_until(when)
    for qty in QTYS:
        c, events = place(d, "a", "buy", qty, 20_000)
        fits = qty * 2 * divisor <= LIMIT
        assert events == (ok(c) if fits else no(c, "max_notional")), (phase, qty)
