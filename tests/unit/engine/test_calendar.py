"""The XNYS calendar and US Eastern time, against hand-checked NYSE dates and zoneinfo."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import calendar as cal

NEW_YORK = ZoneInfo("America/New_York")
HOUR = cal.NS_PER_HOUR


def utc_ns(text: str) -> int:
    """'2026-03-08T07:00' (UTC) as integer nanoseconds since the epoch."""
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(moment.timestamp()) * cal.NS_PER_SECOND


# Published NYSE holiday calendars, checked by hand.
HOLIDAYS: dict[int, list[date]] = {
    2025: [
        date(2025, 1, 1),
        date(2025, 1, 9),  # national day of mourning for President Carter (one-off)
        date(2025, 1, 20),
        date(2025, 2, 17),
        date(2025, 4, 18),
        date(2025, 5, 26),
        date(2025, 6, 19),
        date(2025, 7, 4),
        date(2025, 9, 1),
        date(2025, 11, 27),
        date(2025, 12, 25),
    ],
    2026: [
        date(2026, 1, 1),
        date(2026, 1, 19),
        date(2026, 2, 16),
        date(2026, 4, 3),
        date(2026, 5, 25),
        date(2026, 6, 19),
        date(2026, 7, 3),  # Independence Day (Saturday) observed
        date(2026, 9, 7),
        date(2026, 11, 26),
        date(2026, 12, 25),
    ],
    2027: [
        date(2027, 1, 1),
        date(2027, 1, 18),
        date(2027, 2, 15),
        date(2027, 3, 26),
        date(2027, 5, 31),
        date(2027, 6, 18),  # Juneteenth (Saturday) observed
        date(2027, 7, 5),  # Independence Day (Sunday) observed
        date(2027, 9, 6),
        date(2027, 11, 25),
        date(2027, 12, 24),  # Christmas (Saturday) observed
    ],
}

EARLY_CLOSES: dict[int, list[date]] = {
    2025: [date(2025, 7, 3), date(2025, 11, 28), date(2025, 12, 24)],
    2026: [date(2026, 11, 27), date(2026, 12, 24)],  # no Jul 2: Jul 3 is the holiday
    2027: [date(2027, 11, 26)],  # no Dec 23: Dec 24 is the holiday
    2020: [date(2020, 11, 27), date(2020, 12, 24)],  # Jul 4 on a Saturday, as in 2026
    2021: [date(2021, 11, 26)],  # Jul 4 Sunday, Christmas Saturday
    2015: [date(2015, 11, 27), date(2015, 12, 24)],  # Jul 4 on a Saturday
    2024: [date(2024, 7, 3), date(2024, 11, 29), date(2024, 12, 24)],  # Jul 3 a Wednesday
    2002: [date(2002, 7, 5), date(2002, 11, 29), date(2002, 12, 24)],  # pre-2013 Jul 5 rule
    2003: [date(2003, 7, 3), date(2003, 11, 28), date(2003, 12, 24), date(2003, 12, 26)],
}


@pytest.mark.parametrize("year", sorted(HOLIDAYS))
def test_holidays_match_the_published_calendar(year: int) -> None:
    assert sorted(cal.holidays(year)) == HOLIDAYS[year]


@pytest.mark.parametrize("year", sorted(EARLY_CLOSES))
def test_early_closes_match_the_published_calendar(year: int) -> None:
    assert sorted(cal.early_closes(year)) == EARLY_CLOSES[year]


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 7, 3), "Independence Day (observed)"),
        (date(2027, 12, 24), "Christmas Day (observed)"),
        (date(2023, 1, 2), "New Year's Day (observed)"),
        (date(2026, 4, 3), "Good Friday"),
        (date(2025, 1, 9), "National Day of Mourning for Jimmy Carter"),
        (date(2022, 6, 20), "Juneteenth National Independence Day (observed)"),
    ],
)
def test_holiday_names(day: date, name: str) -> None:
    assert cal.holidays(day.year)[day] == name


@pytest.mark.parametrize(
    ("day", "trading"),
    [
        (date(2021, 12, 31), True),  # New Year's Day 2022 is a Saturday: not observed
        (date(2022, 1, 3), True),
        (date(2010, 12, 31), True),  # same rule, 2011
        (date(2027, 12, 31), True),  # same rule, 2028
        (date(2017, 1, 2), False),  # Sunday New Year's Day observed on Monday
        (date(2021, 6, 18), True),  # Juneteenth only from 2022
        (date(2021, 6, 21), True),
        (date(2022, 6, 20), False),
        (date(1999, 1, 18), False),  # MLK day from 1998
        (date(2001, 9, 11), False),
        (date(2001, 9, 14), False),
        (date(2001, 9, 17), True),
        (date(2004, 6, 11), False),
        (date(2007, 1, 2), False),
        (date(2012, 10, 29), False),
        (date(2012, 10, 30), False),
        (date(2018, 12, 5), False),
        (date(2025, 1, 9), False),
        (date(2026, 11, 28), False),  # Saturday
        (date(2026, 11, 29), False),  # Sunday
        (date(2026, 11, 27), True),  # early close is still a trading day
    ],
)
def test_is_trading_day(day: date, trading: bool) -> None:
    assert cal.is_trading_day(day) is trading


@pytest.mark.parametrize(
    "good_friday",
    [
        date(2000, 4, 21),
        date(2008, 3, 21),
        date(2011, 4, 22),
        date(2019, 4, 19),
        date(2024, 3, 29),
        date(2025, 4, 18),
        date(2026, 4, 3),
        date(2027, 3, 26),
        date(2038, 4, 23),
        date(2049, 4, 16),
        date(2095, 4, 22),
        date(2100, 3, 26),
    ],
)
def test_good_friday(good_friday: date) -> None:
    assert cal.easter_sunday(good_friday.year) == good_friday + timedelta(days=2)
    assert cal.holidays(good_friday.year)[good_friday] == "Good Friday"


def test_easter_needs_the_gregorian_calendar() -> None:
    with pytest.raises(ValueError, match="1583"):
        cal.easter_sunday(1500)


@pytest.mark.parametrize(
    ("day", "after", "before"),
    [
        (date(2026, 11, 25), date(2026, 11, 27), date(2026, 11, 24)),
        (date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 25)),
        (date(2026, 11, 27), date(2026, 11, 30), date(2026, 11, 25)),
        (date(2026, 4, 2), date(2026, 4, 6), date(2026, 4, 1)),
        (date(2026, 1, 17), date(2026, 1, 20), date(2026, 1, 16)),
        (date(2001, 9, 10), date(2001, 9, 17), date(2001, 9, 7)),
        (date(2001, 9, 17), date(2001, 9, 18), date(2001, 9, 10)),
        (date(2025, 12, 31), date(2026, 1, 2), date(2025, 12, 30)),
    ],
)
def test_next_and_previous_trading_day(day: date, after: date, before: date) -> None:
    assert cal.next_trading_day(day) == after
    assert cal.previous_trading_day(day) == before


def test_close_minutes() -> None:
    assert cal.is_early_close(date(2026, 11, 27))
    assert not cal.is_early_close(date(2026, 11, 25))
    assert cal.regular_close_minute(date(2026, 11, 27)) == 13 * 60
    assert cal.regular_close_minute(date(2026, 11, 25)) == 16 * 60


def test_every_year_follows_the_rules() -> None:
    """2000-2100: counts, weekdays and the trading-day set are consistent year by year."""
    for year in range(cal.FIRST_YEAR, cal.LAST_YEAR + 1):
        found = cal.holidays(year)
        regular = {d for d in found if d not in cal.SPECIAL_CLOSURES}
        expected = 9 + (year >= 2022) - (date(year, 1, 1).weekday() == 5)
        assert len(regular) == expected, year
        assert all(d.weekday() < 5 and d.year == year for d in found), year
        early = cal.early_closes(year)
        assert 1 <= len(early) <= 4, year
        assert all(cal.is_trading_day(d) for d in early), year
        assert all(not cal.is_trading_day(d) for d in found), year


def test_calendar_results_are_copies() -> None:
    cal.holidays(2026).clear()
    cal.early_closes(2026).clear()
    assert len(cal.holidays(2026)) == 10
    assert len(cal.early_closes(2026)) == 2


@pytest.mark.parametrize(
    ("year", "start", "end"),
    [
        (2025, "2025-03-09T07:00", "2025-11-02T06:00"),
        (2026, "2026-03-08T07:00", "2026-11-01T06:00"),
        (2006, "2006-04-02T07:00", "2006-10-29T06:00"),  # pre-2007 rule
        (2007, "2007-03-11T07:00", "2007-11-04T06:00"),
    ],
)
def test_dst_switch_instants(year: int, start: str, end: str) -> None:
    start_ns, end_ns = utc_ns(start), utc_ns(end)
    assert cal.dst_bounds_utc_ns(year) == (start_ns, end_ns)
    for instant in (start_ns, end_ns):
        for probe in (instant - 1, instant):
            seconds, rest = divmod(probe, cal.NS_PER_SECOND)
            moment = datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=rest // 1000)
            offset = moment.astimezone(NEW_YORK).utcoffset()
            assert offset is not None
            assert cal.utc_offset_ns(probe) == int(offset.total_seconds()) * cal.NS_PER_SECOND
    assert cal.utc_offset_ns(start_ns - 1) == cal.EST_OFFSET_NS
    assert cal.utc_offset_ns(start_ns) == cal.EDT_OFFSET_NS
    assert cal.utc_offset_ns(end_ns - 1) == cal.EDT_OFFSET_NS
    assert cal.utc_offset_ns(end_ns) == cal.EST_OFFSET_NS


@pytest.mark.parametrize(
    ("day", "hour", "minute", "expected"),
    [
        (date(2026, 3, 8), 1, 59, "2026-03-08T06:59"),
        (date(2026, 3, 8), 2, 30, "2026-03-08T07:30"),  # in the gap: read as EST
        (date(2026, 3, 8), 3, 0, "2026-03-08T07:00"),
        (date(2026, 11, 1), 0, 59, "2026-11-01T04:59"),
        (date(2026, 11, 1), 1, 30, "2026-11-01T05:30"),  # repeated: first (EDT) occurrence
        (date(2026, 11, 1), 2, 0, "2026-11-01T07:00"),
        (date(2026, 11, 27), 13, 0, "2026-11-27T18:00"),
        (date(2026, 7, 2), 20, 0, "2026-07-03T00:00"),
    ],
)
def test_eastern_to_utc(day: date, hour: int, minute: int, expected: str) -> None:
    assert cal.eastern_to_utc_ns(day, hour, minute) == utc_ns(expected)
    wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)
    assert int(wall.timestamp()) * cal.NS_PER_SECOND == utc_ns(expected)  # zoneinfo, fold=0


@pytest.mark.parametrize(("hour", "minute"), [(24, 0), (-1, 0), (12, 60), (12, -1)])
def test_eastern_to_utc_rejects_bad_wall_times(hour: int, minute: int) -> None:
    with pytest.raises(ValueError, match="no wall time"):
        cal.eastern_to_utc_ns(date(2026, 1, 5), hour, minute)


def test_to_eastern_across_the_autumn_repeat() -> None:
    first = cal.to_eastern(utc_ns("2026-11-01T05:30"))
    second = cal.to_eastern(utc_ns("2026-11-01T06:30"))
    assert first == cal.EasternTime(date(2026, 11, 1), 90 * cal.NS_PER_MINUTE, -4 * HOUR)
    assert second == cal.EasternTime(date(2026, 11, 1), 90 * cal.NS_PER_MINUTE, -5 * HOUR)
    assert first.minute_of_day == 90


FIRST_NS = utc_ns("2000-01-01T00:00")
LAST_NS = utc_ns("2101-01-01T00:00")


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=FIRST_NS, max_value=LAST_NS))
def test_offset_and_local_time_agree_with_zoneinfo(instant: int) -> None:
    seconds, rest = divmod(instant, cal.NS_PER_SECOND)
    local = datetime.fromtimestamp(seconds, UTC).astimezone(NEW_YORK)
    offset = local.utcoffset()
    assert offset is not None
    assert cal.utc_offset_ns(instant) == int(offset.total_seconds()) * cal.NS_PER_SECOND
    got = cal.to_eastern(instant)
    assert got.day == local.date()
    since_midnight = (local.hour * 3600 + local.minute * 60 + local.second) * cal.NS_PER_SECOND
    assert got.ns_of_day == since_midnight + rest


@settings(max_examples=300, deadline=None)
@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
    st.integers(min_value=0, max_value=23),
    st.integers(min_value=0, max_value=59),
)
def test_wall_time_to_utc_agrees_with_zoneinfo_fold0(day: date, hour: int, minute: int) -> None:
    wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)
    assert cal.eastern_to_utc_ns(day, hour, minute) == int(wall.timestamp()) * cal.NS_PER_SECOND
