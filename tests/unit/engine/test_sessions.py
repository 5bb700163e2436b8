"""Trading phases, DAY-order expiry, bands and phase rules, against hand-listed instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import calendar as cal
from engine import sessions as s

NEW_YORK = ZoneInfo("America/New_York")


def utc_ns(text: str) -> int:
    """'2026-11-23T14:30' (UTC) as integer nanoseconds since the epoch."""
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(moment.timestamp()) * cal.NS_PER_SECOND


def et_ns(text: str) -> int:
    """'2026-11-23T09:30' (US Eastern wall time, fold=0) as UTC nanoseconds, via zoneinfo."""
    moment = datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)
    return int(moment.timestamp()) * cal.NS_PER_SECOND


def off(schedule: str, phase: str) -> str:
    return "closed" if schedule == "24/5" and phase == "weekend" else phase


# Thanksgiving week 2026 (EST, UTC-5): Thu Nov 26 closed, Fri Nov 27 closes at 13:00.
# Every phase change from Saturday Nov 21 to Monday Nov 30, in UTC, as (instant, new phase).
THANKSGIVING_WEEK_START = "2026-11-21T12:00"
THANKSGIVING_WEEK: list[tuple[str, str]] = [
    ("2026-11-23T01:00", "overnight"),  # Sun 20:00
    ("2026-11-23T09:00", "extended"),  # Mon 04:00
    ("2026-11-23T14:30", "regular"),  # Mon 09:30
    ("2026-11-23T21:00", "extended"),  # Mon 16:00
    ("2026-11-24T01:00", "overnight"),  # Mon 20:00
    ("2026-11-24T09:00", "extended"),  # Tue 04:00
    ("2026-11-24T14:30", "regular"),
    ("2026-11-24T21:00", "extended"),
    ("2026-11-25T01:00", "overnight"),  # Tue 20:00
    ("2026-11-25T09:00", "extended"),  # Wed 04:00
    ("2026-11-25T14:30", "regular"),
    ("2026-11-25T21:00", "extended"),
    ("2026-11-26T01:00", "weekend"),  # Wed 20:00: Thanksgiving is next
    ("2026-11-27T01:00", "overnight"),  # Thanksgiving 20:00: Friday trades
    ("2026-11-27T09:00", "extended"),  # Fri 04:00
    ("2026-11-27T14:30", "regular"),  # Fri 09:30
    ("2026-11-27T18:00", "extended"),  # Fri 13:00 early close
    ("2026-11-28T01:00", "weekend"),  # Fri 20:00
    ("2026-11-30T01:00", "overnight"),  # Sun Nov 29 20:00
    ("2026-11-30T09:00", "extended"),  # Mon 04:00
]

# Both 2026 DST switches, each with the week's close before and the open after.
DST_SPRING_START = "2026-03-06T12:00"
DST_SPRING: list[tuple[str, str]] = [
    ("2026-03-06T14:30", "regular"),  # Fri 09:30 EST
    ("2026-03-06T21:00", "extended"),  # Fri 16:00 EST
    ("2026-03-07T01:00", "weekend"),  # Fri 20:00 EST
    ("2026-03-09T00:00", "overnight"),  # Sun 20:00 EDT (clocks went forward at 07:00Z)
    ("2026-03-09T08:00", "extended"),  # Mon 04:00 EDT
    ("2026-03-09T13:30", "regular"),  # Mon 09:30 EDT
]
DST_AUTUMN_START = "2026-10-30T12:00"
DST_AUTUMN: list[tuple[str, str]] = [
    ("2026-10-30T13:30", "regular"),  # Fri 09:30 EDT
    ("2026-10-30T20:00", "extended"),  # Fri 16:00 EDT
    ("2026-10-31T00:00", "weekend"),  # Fri 20:00 EDT
    ("2026-11-02T01:00", "overnight"),  # Sun 20:00 EST (clocks went back at 06:00Z)
    ("2026-11-02T09:00", "extended"),  # Mon 04:00 EST
    ("2026-11-02T14:30", "regular"),  # Mon 09:30 EST
]
# Holidays inside a week: Martin Luther King Jr. Day (Monday) and Good Friday.
MLK_START = "2026-01-16T12:00"
MLK: list[tuple[str, str]] = [
    ("2026-01-16T14:30", "regular"),  # Fri 09:30
    ("2026-01-16T21:00", "extended"),
    ("2026-01-17T01:00", "weekend"),  # Fri 20:00: no overnight on Sunday, Monday is closed
    ("2026-01-20T01:00", "overnight"),  # Mon (MLK) 20:00: Tuesday trades
    ("2026-01-20T09:00", "extended"),  # Tue 04:00
]
GOOD_FRIDAY_START = "2026-04-02T12:00"
GOOD_FRIDAY: list[tuple[str, str]] = [
    ("2026-04-02T13:30", "regular"),  # Thu 09:30 EDT, a full day
    ("2026-04-02T20:00", "extended"),  # Thu 16:00
    ("2026-04-03T00:00", "weekend"),  # Thu 20:00: Good Friday is next
    ("2026-04-06T00:00", "overnight"),  # Sun 20:00
    ("2026-04-06T08:00", "extended"),
]

SCENARIOS = {
    "thanksgiving": (THANKSGIVING_WEEK_START, THANKSGIVING_WEEK),
    "dst_spring": (DST_SPRING_START, DST_SPRING),
    "dst_autumn": (DST_AUTUMN_START, DST_AUTUMN),
    "mlk": (MLK_START, MLK),
    "good_friday": (GOOD_FRIDAY_START, GOOD_FRIDAY),
}


@pytest.mark.parametrize("schedule", ["24/7", "24/5"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_phase_change_is_listed(schedule: str, scenario: str) -> None:
    start, listed = SCENARIOS[scenario]
    expected = [(utc_ns(t), off(schedule, p)) for t, p in listed]
    assert s.phase_changes(schedule, utc_ns(start), expected[-1][0]) == expected


@pytest.mark.parametrize("schedule", ["24/7", "24/5"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_phase_changes_are_exact(schedule: str, scenario: str) -> None:
    start, listed = SCENARIOS[scenario]
    changes = [(utc_ns(t), off(schedule, p)) for t, p in listed]
    previous = s.phase_at(schedule, utc_ns(start))
    for index, (instant, phase) in enumerate(changes):
        assert s.phase_at(schedule, instant - 1) == previous
        assert s.phase_at(schedule, instant) == phase
        assert s.next_phase_change(schedule, instant - 1) == (instant, phase)
        if index + 1 < len(changes):
            following = changes[index + 1]
            assert s.next_phase_change(schedule, instant) == following
            assert s.next_phase_change(schedule, (instant + following[0]) // 2) == following
        previous = phase


@pytest.mark.parametrize(
    ("eastern", "phase"),
    [
        ("2026-11-23T03:59:59.999999", "overnight"),
        ("2026-11-23T04:00", "extended"),
        ("2026-11-23T09:29:59", "extended"),
        ("2026-11-23T09:30", "regular"),
        ("2026-11-23T15:59:59", "regular"),
        ("2026-11-23T16:00", "extended"),
        ("2026-11-23T19:59:59", "extended"),
        ("2026-11-23T20:00", "overnight"),
        ("2026-11-24T00:00", "overnight"),
        ("2026-11-26T00:00", "weekend"),  # Thanksgiving morning
        ("2026-11-26T12:00", "weekend"),
        ("2026-11-26T23:00", "overnight"),
        ("2026-11-27T12:59:59", "regular"),
        ("2026-11-27T13:00", "extended"),
        ("2026-11-27T19:59", "extended"),
        ("2026-11-28T12:00", "weekend"),
        ("2026-11-29T19:59", "weekend"),
        ("2026-11-29T20:00", "overnight"),
        ("2026-03-08T02:30", "weekend"),  # the spring gap, read as 03:30 EDT
        ("2026-11-01T01:30", "weekend"),  # the autumn repeat
    ],
)
def test_phase_at_wall_times(eastern: str, phase: str) -> None:
    assert s.phase_at("24/7", et_ns(eastern)) == phase
    assert s.phase_at("24/5", et_ns(eastern)) == off("24/5", phase)


@pytest.mark.parametrize(
    ("eastern", "day", "expiry"),
    [
        ("2026-11-23T10:00", date(2026, 11, 23), "2026-11-23T20:00"),
        ("2026-11-23T03:00", date(2026, 11, 23), "2026-11-23T20:00"),  # overnight before Mon
        ("2026-11-23T19:59:59.999999", date(2026, 11, 23), "2026-11-23T20:00"),
        ("2026-11-23T20:00", date(2026, 11, 24), "2026-11-24T20:00"),  # the day has ended
        ("2026-11-25T21:00", date(2026, 11, 27), "2026-11-27T20:00"),  # over Thanksgiving
        ("2026-11-26T12:00", date(2026, 11, 27), "2026-11-27T20:00"),
        ("2026-11-27T14:00", date(2026, 11, 27), "2026-11-27T20:00"),  # after early close
        ("2026-11-27T20:00", date(2026, 11, 30), "2026-11-30T20:00"),
        ("2026-11-28T12:00", date(2026, 11, 30), "2026-11-30T20:00"),
        ("2026-11-29T22:00", date(2026, 11, 30), "2026-11-30T20:00"),
        ("2026-01-19T10:00", date(2026, 1, 20), "2026-01-20T20:00"),  # MLK Monday
        ("2026-03-07T12:00", date(2026, 3, 9), "2026-03-09T20:00"),  # across the DST switch
        ("2026-12-31T20:30", date(2027, 1, 4), "2027-01-04T20:00"),  # across New Year
    ],
)
def test_day_order_expiry(eastern: str, day: date, expiry: str) -> None:
    assert s.trading_day(et_ns(eastern)) == day
    assert s.trading_day_end_ns(et_ns(eastern)) == et_ns(expiry)


@pytest.mark.parametrize(
    ("phase", "tier", "eastern", "bps"),
    [
        ("regular", 1, "2026-11-23T09:30", 1000),  # opening 15 minutes: doubled
        ("regular", 2, "2026-11-23T09:30", 2000),
        ("regular", 1, "2026-11-23T09:44:59.999999", 1000),
        ("regular", 1, "2026-11-23T09:45", 500),
        ("regular", 2, "2026-11-23T09:45", 1000),
        ("regular", 1, "2026-11-23T12:00", 500),
        ("regular", 1, "2026-11-23T15:34:59.999999", 500),
        ("regular", 1, "2026-11-23T15:35", 1000),  # last 25 minutes: doubled
        ("regular", 2, "2026-11-23T15:59:59", 2000),
        ("regular", 1, "2026-11-27T12:34:59", 500),  # early close: last 25 minutes to 13:00
        ("regular", 1, "2026-11-27T12:35", 1000),
        ("regular", 2, "2026-11-27T12:59:59", 2000),
        ("regular", 1, "2026-11-27T15:40", 500),  # 15:35-16:00 is not special that day
        ("regular", 1, "2026-11-27T09:30", 1000),
        ("extended", 1, "2026-11-23T08:00", 1000),
        ("extended", 2, "2026-11-23T17:00", 1000),
        ("overnight", 1, "2026-11-23T22:00", 2000),
        ("overnight", 2, "2026-11-23T22:00", 2000),
        ("weekend", 1, "2026-11-28T12:00", 2000),
        ("weekend", 2, "2026-11-28T12:00", 2000),
        ("auction", 1, "2026-11-23T10:00", 2000),
        ("auction", 2, "2026-11-23T10:00", 2000),
        ("halted", 1, "2026-11-23T10:00", None),
        ("closed", 2, "2026-11-28T12:00", None),
    ],
)
def test_band_widths(phase: str, tier: int, eastern: str, bps: int | None) -> None:
    assert s.band_bps(phase, tier, et_ns(eastern)) == bps


@pytest.mark.parametrize(
    ("phase", "divisor"),
    [
        ("regular", 1),
        ("extended", 1),
        ("overnight", 4),
        ("weekend", 4),
        ("closed", 1),
        ("halted", 1),
        ("auction", 1),
    ],
)
def test_max_notional_divisor(phase: str, divisor: int) -> None:
    assert s.max_notional_divisor(phase) == divisor


ORDER_TYPES = [
    "limit",
    "iceberg",
    "stop-loss-limit",
    "take-profit-limit",
    "market",
    "stop-loss",
    "take-profit",
]
# Reason per phase for each ORDER_TYPES entry, in that order (None: accepted).
LIMIT_ONLY = [None, None, None, None, "limit_only", "limit_only", "limit_only"]
ACCEPTANCE: dict[str, list[str | None]] = {
    "regular": [None] * 7,
    "extended": LIMIT_ONLY,
    "overnight": LIMIT_ONLY,
    "weekend": LIMIT_ONLY,
    "auction": LIMIT_ONLY,
    "closed": ["market_closed"] * 7,
    "halted": ["halted"] * 7,
}


@pytest.mark.parametrize("phase", sorted(ACCEPTANCE))
def test_order_types_per_phase(phase: str) -> None:
    reasons = [s.reject_reason(phase, order_type) for order_type in ORDER_TYPES]
    assert reasons == ACCEPTANCE[phase]
    assert [s.accepts(phase, t) for t in ORDER_TYPES] == [r is None for r in reasons]


def test_constants_cover_every_phase_and_order_type() -> None:
    assert set(s.PHASES) == set(ACCEPTANCE)
    assert set(ORDER_TYPES) == s.ORDER_TYPES


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: s.phase_at("24/6", 0), "unknown schedule"),
        (lambda: s.next_phase_change("", 0), "unknown schedule"),
        (lambda: s.band_bps("regular", 3, 0), "unknown band tier"),
        (lambda: s.band_bps("lunch", 1, 0), "unknown phase"),
        (lambda: s.max_notional_divisor("lunch"), "unknown phase"),
        (lambda: s.reject_reason("lunch", "limit"), "unknown phase"),
        (lambda: s.reject_reason("regular", "trailing-stop"), "unknown order type"),
    ],
)
def test_bad_arguments_raise(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=message):
        call()


def test_a_year_of_changes_is_consistent() -> None:
    """2026: changes alternate, fall on the allowed wall times, and match phase_at."""
    allowed = {(0, 0), (4, 0), (9, 30), (13, 0), (16, 0), (20, 0)}
    for schedule in ("24/7", "24/5"):
        start, end = utc_ns("2026-01-01T00:00"), utc_ns("2027-01-01T00:00")
        changes = s.phase_changes(schedule, start, end)
        phase = s.phase_at(schedule, start)
        regular_opens = 0
        for instant, new in changes:
            assert new != phase
            assert s.phase_at(schedule, instant - 1) == phase
            assert s.phase_at(schedule, instant) == new
            local = cal.to_eastern(instant)
            assert divmod(local.minute_of_day, 60) in allowed
            assert local.ns_of_day % cal.NS_PER_MINUTE == 0
            regular_opens += new == "regular"
            phase = new
        assert regular_opens == 251  # the NYSE's 2026 trading days


def oracle_phase(schedule: str, instant: int) -> str:
    """An independent statement of the rules, on zoneinfo's wall clock."""
    local = datetime.fromtimestamp(instant // cal.NS_PER_SECOND, UTC).astimezone(NEW_YORK)
    day = local.date()
    hhmm = local.hour * 100 + local.minute
    if hhmm < 400:
        phase = "overnight" if cal.is_trading_day(day) else "weekend"
    elif hhmm >= 2000:
        phase = "overnight" if cal.is_trading_day(day + timedelta(days=1)) else "weekend"
    elif not cal.is_trading_day(day):
        phase = "weekend"
    elif 930 <= hhmm < (1300 if cal.is_early_close(day) else 1600):
        phase = "regular"
    else:
        phase = "extended"
    return off(schedule, phase)


INSTANTS = st.integers(min_value=utc_ns("2000-01-03T00:00"), max_value=utc_ns("2100-12-24T00:00"))


@settings(max_examples=300, deadline=None)
@given(INSTANTS, st.sampled_from(["24/7", "24/5"]), st.floats(min_value=0.0, max_value=1.0))
def test_next_phase_change_property(instant: int, schedule: str, fraction: float) -> None:
    phase = s.phase_at(schedule, instant)
    assert phase == oracle_phase(schedule, instant)
    change, new = s.next_phase_change(schedule, instant)
    assert change > instant
    assert new != phase
    assert s.phase_at(schedule, change) == new == oracle_phase(schedule, change)
    assert s.phase_at(schedule, change - 1) == phase
    inside = instant + int((change - instant) * fraction)
    if inside < change:
        assert s.phase_at(schedule, inside) == phase
