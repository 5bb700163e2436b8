"""The hand-written XNYS calendar against ``exchange-calendars``, every day from 2000 to 2100.

``engine/calendar.py`` computes the NYSE calendar by rule (the core may not
depend on a calendar package); ``exchange-calendars`` (a dev dependency,
pinned in pyproject.toml) is the calendar most Python market software uses.
For every calendar day of 2000-2100 both must agree on whether XNYS holds a
session, and for every session on its open and close instants in UTC (which
also checks the early closes at 13:00 and the US Eastern daylight-time rules).
Holidays are the weekdays without a session; they are compared year by year
so that a disagreement names the date and the holiday.
"""

from __future__ import annotations

from datetime import date, timedelta

import exchange_calendars as xcals
import pytest

from engine import calendar as cal

FIRST, LAST = date(2000, 1, 1), date(2100, 12, 31)


@pytest.fixture(scope="module")
def library() -> object:
    return xcals.get_calendar("XNYS", start=FIRST.isoformat(), end=LAST.isoformat())


def _ns(stamp: object) -> int:
    return int(stamp.value)


def test_every_session_open_and_close_agree_from_2000_to_2100(library: object) -> None:
    """Proves both calendars hold the same sessions, opening and closing at the same instants."""
    opens = {t.date(): _ns(t) for t in library.opens.index}
    sessions = library.schedule
    theirs = {
        day.date(): (_ns(row.open), _ns(row.close))
        for day, row in zip(sessions.index, sessions.itertuples(), strict=True)
    }
    assert len(opens) == len(theirs)
    wrong: list[str] = []
    day = FIRST
    while day <= LAST:
        ours = None
        if cal.is_trading_day(day):
            close = cal.regular_close_minute(day)
            ours = (
                cal.eastern_to_utc_ns(day, *divmod(cal.REGULAR_OPEN_MINUTE, 60)),
                cal.eastern_to_utc_ns(day, *divmod(close, 60)),
            )
        if ours != theirs.get(day):
            wrong.append(f"{day}: tokex {ours}, exchange-calendars {theirs.get(day)}")
        day += timedelta(days=1)
    assert not wrong, "\n".join(wrong[:50])
    # Sessions exist in both, over the whole century (the loop really compared something).
    assert sum(1 for d in theirs if FIRST <= d <= LAST) > 25_000


def test_every_holiday_and_early_close_agree_year_by_year(library: object) -> None:
    """Proves the holidays (weekdays without a session) and early closes are the same sets."""
    sessions = {t.date() for t in library.sessions}
    early = {t.date() for t in library.early_closes}
    wrong: list[str] = []
    for year in range(FIRST.year, LAST.year + 1):
        days = [date(year, 1, 1) + timedelta(days=n) for n in range(366)]
        weekdays = [d for d in days if d.year == year and d.weekday() < 5]
        theirs = {d for d in weekdays if d not in sessions}
        ours = cal.holidays(year)
        wrong += [
            f"{d}: a holiday for {'tokex only: ' + ours[d] if d in ours else 'the library only'}"
            for d in sorted(theirs ^ ours.keys())
        ]
        wrong += [
            f"{d}: an early close for {'tokex' if cal.is_early_close(d) else 'the library'} only"
            for d in sorted({d for d in early if d.year == year} ^ cal.early_closes(year))
        ]
    assert not wrong, "\n".join(wrong[:50])
    assert len(early) > 200  # two or three a year
