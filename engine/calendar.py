"""The XNYS (New York Stock Exchange) trading calendar and US Eastern time, computed by rule.

Pure: no clock, no tz database (``zoneinfo`` reads files, so it is not used here), no I/O.
Time enters as data, integer nanoseconds since the Unix epoch in UTC (``utc_ns``); the
``datetime`` module is used only for date arithmetic.

Holidays follow NYSE rule 7.2 (see ``docs/SESSIONS.md`` for the full rulebook as built):

- New Year's Day, Martin Luther King Jr. Day (third Monday of January, from 1998),
  Washington's Birthday (third Monday of February), Good Friday (two days before Gregorian
  Easter), Memorial Day (last Monday of May), Juneteenth (June 19, from 2022), Independence
  Day, Labor Day (first Monday of September), Thanksgiving (fourth Thursday of November),
  Christmas Day.
- A fixed-date holiday on a Saturday is observed on the Friday before, on a Sunday on the
  Monday after; except New Year's Day on a Saturday, which is not observed at all (December
  31 stays a trading day, as NYSE rule 7.2 provides for the end of an accounting period).
- One-off closures since 2000 are included (``SPECIAL_CLOSURES``), and the one one-off early
  close (``SPECIAL_EARLY_CLOSES``).

Early closes (13:00 ET): July 3 when it falls Monday to Thursday (before 2013, when July 4
was a Thursday the early close was Friday July 5 instead of Wednesday July 3); the day after
Thanksgiving; December 24 when it falls Monday to Thursday.

US Eastern time follows the Energy Policy Act rules: from 2007, daylight time runs from the
second Sunday of March 02:00 local to the first Sunday of November 02:00 local; from 1987 to
2006 from the first Sunday of April to the last Sunday of October (earlier years use that
rule too and are not guaranteed). The rules are applied to every year; they are checked for
2000-2100, later years assuming today's law.

Complexity: every year's holidays, early closes and daylight-time bounds are computed once,
in O(1), and cached in module-level dicts (deterministic, so the cache is invisible);
``is_trading_day`` and the time conversions are then O(1) dict lookups and arithmetic, and
``next_trading_day``/``previous_trading_day`` step at most a handful of days.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final, NamedTuple

__all__ = [
    "EARLY_CLOSE_MINUTE",
    "EDT_OFFSET_NS",
    "EST_OFFSET_NS",
    "FIRST_YEAR",
    "LAST_YEAR",
    "NS_PER_DAY",
    "NS_PER_HOUR",
    "NS_PER_MINUTE",
    "NS_PER_SECOND",
    "REGULAR_CLOSE_MINUTE",
    "REGULAR_OPEN_MINUTE",
    "SPECIAL_CLOSURES",
    "SPECIAL_EARLY_CLOSES",
    "EasternTime",
    "date_to_epoch_day",
    "dst_bounds_utc_ns",
    "early_closes",
    "easter_sunday",
    "eastern_to_utc_ns",
    "epoch_day_to_date",
    "holidays",
    "is_early_close",
    "is_trading_day",
    "next_trading_day",
    "previous_trading_day",
    "regular_close_minute",
    "to_eastern",
    "utc_offset_ns",
]

NS_PER_SECOND: Final = 1_000_000_000
NS_PER_MINUTE: Final = 60 * NS_PER_SECOND
NS_PER_HOUR: Final = 60 * NS_PER_MINUTE
NS_PER_DAY: Final = 24 * NS_PER_HOUR

EST_OFFSET_NS: Final = -5 * NS_PER_HOUR
"""UTC offset of Eastern Standard Time."""
EDT_OFFSET_NS: Final = -4 * NS_PER_HOUR
"""UTC offset of Eastern Daylight Time."""

REGULAR_OPEN_MINUTE: Final = 9 * 60 + 30
"""Regular session open, minutes after local midnight (09:30 ET)."""
REGULAR_CLOSE_MINUTE: Final = 16 * 60
"""Regular session close on a full trading day (16:00 ET)."""
EARLY_CLOSE_MINUTE: Final = 13 * 60
"""Regular session close on an early-close day (13:00 ET)."""

FIRST_YEAR: Final = 2000
"""First year the calendar is checked against (the rules themselves apply to any year)."""
LAST_YEAR: Final = 2100
"""Last year the calendar is checked against."""

_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_MON, _TUE, _WED, _THU, _FRI, _SAT, _SUN = range(7)
_DAY: Final = timedelta(days=1)

SPECIAL_CLOSURES: Final[dict[date, str]] = {
    date(2001, 9, 11): "September 11 attacks",
    date(2001, 9, 12): "September 11 attacks",
    date(2001, 9, 13): "September 11 attacks",
    date(2001, 9, 14): "September 11 attacks",
    date(2004, 6, 11): "National Day of Mourning for Ronald Reagan",
    date(2007, 1, 2): "National Day of Mourning for Gerald Ford",
    date(2012, 10, 29): "Hurricane Sandy",
    date(2012, 10, 30): "Hurricane Sandy",
    date(2018, 12, 5): "National Day of Mourning for George H. W. Bush",
    date(2025, 1, 9): "National Day of Mourning for Jimmy Carter",
}
"""One-off full-day NYSE closures since 2000 (not derivable from any rule). A future one is
added here, a data change reviewed like code."""

SPECIAL_EARLY_CLOSES: Final[dict[date, str]] = {
    date(2003, 12, 26): "Friday after Christmas",
}
"""One-off 13:00 ET early closes since 2000."""


class _Year(NamedTuple):
    holidays: dict[date, str]  # never handed out: callers get copies
    early_closes: frozenset[date]
    dst_start_utc_ns: int
    dst_end_utc_ns: int
    dst_start_wall_ns: int  # first local wall time (epoch-based, naive) that is daylight time
    dst_end_wall_ns: int  # first local wall time that is standard time again


class EasternTime(NamedTuple):
    """A UTC instant seen on a US Eastern wall clock."""

    day: date
    """The local calendar date."""
    ns_of_day: int
    """Nanoseconds since local midnight, ``0 <= ns_of_day < NS_PER_DAY``."""
    offset_ns: int
    """The UTC offset in force (``EST_OFFSET_NS`` or ``EDT_OFFSET_NS``)."""

    @property
    def minute_of_day(self) -> int:
        """Whole minutes since local midnight."""
        return self.ns_of_day // NS_PER_MINUTE


_YEARS: dict[int, _Year] = {}
_DST_BY_UTC_DAY: dict[int, tuple[int, int]] = {}  # UTC epoch day -> that year's DST bounds


def date_to_epoch_day(d: date) -> int:
    """Days from 1970-01-01 to ``d`` (negative before the epoch)."""
    return d.toordinal() - _EPOCH_ORDINAL


def epoch_day_to_date(day: int) -> date:
    """Inverse of ``date_to_epoch_day``."""
    return date.fromordinal(day + _EPOCH_ORDINAL)


def easter_sunday(year: int) -> date:
    """Western (Gregorian) Easter Sunday of ``year``, by the anonymous Gregorian computus.

    Raises:
        ValueError: if ``year`` is before 1583 (the Gregorian reform).
    """
    if year < 1583:
        raise ValueError(f"year {year}: the Gregorian computus starts in 1583")
    golden = year % 19
    century, year_of_century = divmod(year, 100)
    leap_centuries, century_rest = divmod(century, 4)
    moon_correction = (century - (century + 8) // 25 + 1) // 3
    epact = (19 * golden + century - leap_centuries - moon_correction + 15) % 30
    leap_years, year_rest = divmod(year_of_century, 4)
    weekday_shift = (32 + 2 * century_rest + 2 * leap_years - epact - year_rest) % 7
    correction = (golden + 11 * epact + 22 * weekday_shift) // 451
    total = epact + weekday_shift - 7 * correction + 114
    return date(year, total // 31, total % 31 + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - _DAY
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _wall_ns(d: date, hour: int, minute: int) -> int:
    """A local wall time as if it were UTC: epoch-based, naive."""
    return date_to_epoch_day(d) * NS_PER_DAY + hour * NS_PER_HOUR + minute * NS_PER_MINUTE


def _build_year(year: int) -> _Year:
    found: dict[date, str] = {}

    def fixed(month: int, day: int, name: str) -> None:
        d = date(year, month, day)
        weekday = d.weekday()
        if weekday == _SAT:
            found[d - _DAY] = f"{name} (observed)"
        elif weekday == _SUN:
            found[d + _DAY] = f"{name} (observed)"
        else:
            found[d] = name

    new_year = date(year, 1, 1)
    if new_year.weekday() == _SUN:
        found[new_year + _DAY] = "New Year's Day (observed)"
    elif new_year.weekday() != _SAT:  # a Saturday New Year's Day is not observed on Dec 31
        found[new_year] = "New Year's Day"
    if year >= 1998:
        found[_nth_weekday(year, 1, _MON, 3)] = "Martin Luther King, Jr. Day"
    found[_nth_weekday(year, 2, _MON, 3)] = "Washington's Birthday"
    found[easter_sunday(year) - 2 * _DAY] = "Good Friday"
    found[_last_weekday(year, 5, _MON)] = "Memorial Day"
    if year >= 2022:
        fixed(6, 19, "Juneteenth National Independence Day")
    fixed(7, 4, "Independence Day")
    found[_nth_weekday(year, 9, _MON, 1)] = "Labor Day"
    thanksgiving = _nth_weekday(year, 11, _THU, 4)
    found[thanksgiving] = "Thanksgiving Day"
    fixed(12, 25, "Christmas Day")
    found.update((d, name) for d, name in SPECIAL_CLOSURES.items() if d.year == year)

    early: set[date] = {thanksgiving + _DAY}
    early.update(d for d in SPECIAL_EARLY_CLOSES if d.year == year)
    july3 = date(year, 7, 3)
    if july3.weekday() in (_MON, _TUE, _THU) or (july3.weekday() == _WED and year >= 2013):
        early.add(july3)
    elif july3.weekday() == _WED:  # before 2013 a Thursday July 4 closed Friday July 5 early
        early.add(date(year, 7, 5))
    christmas_eve = date(year, 12, 24)
    if christmas_eve.weekday() <= _THU:
        early.add(christmas_eve)
    early_set = frozenset(d for d in early if d not in found)

    if year >= 2007:
        dst_start = _nth_weekday(year, 3, _SUN, 2)
        dst_end = _nth_weekday(year, 11, _SUN, 1)
    else:
        dst_start = _nth_weekday(year, 4, _SUN, 1)
        dst_end = _last_weekday(year, 10, _SUN)
    # Clocks jump from 02:00 EST to 03:00 EDT, and fall back from 02:00 EDT to 01:00 EST.
    start_wall = _wall_ns(dst_start, 2, 0)
    end_wall = _wall_ns(dst_end, 2, 0)
    return _Year(
        holidays=found,
        early_closes=early_set,
        dst_start_utc_ns=start_wall - EST_OFFSET_NS,
        dst_end_utc_ns=end_wall - EDT_OFFSET_NS,
        dst_start_wall_ns=start_wall + NS_PER_HOUR,
        dst_end_wall_ns=end_wall,
    )


def _year(year: int) -> _Year:
    info = _YEARS.get(year)
    if info is None:
        info = _YEARS[year] = _build_year(year)
    return info


def holidays(year: int) -> dict[date, str]:
    """The weekdays of ``year`` on which XNYS is closed, each with its name.

    Observed holidays carry the suffix ``" (observed)"``; one-off closures from
    ``SPECIAL_CLOSURES`` are included. Weekend dates never appear. Returns a fresh dict
    (the caller may mutate it). O(1) after the first call for the year.
    """
    return dict(_year(year).holidays)


def early_closes(year: int) -> set[date]:
    """The trading days of ``year`` whose regular session closes at 13:00 ET (fresh set)."""
    return set(_year(year).early_closes)


def is_trading_day(d: date) -> bool:
    """True iff XNYS holds a regular session on ``d`` (a weekday that is not a holiday)."""
    return d.weekday() < _SAT and d not in _year(d.year).holidays


def is_early_close(d: date) -> bool:
    """True iff ``d`` is a trading day whose regular session closes at 13:00 ET."""
    return d in _year(d.year).early_closes


def regular_close_minute(d: date) -> int:
    """Minute of the local day at which the regular session of ``d`` closes.

    ``EARLY_CLOSE_MINUTE`` on an early-close day, else ``REGULAR_CLOSE_MINUTE`` (also for a
    non-trading day, which has no session: callers check ``is_trading_day`` first).
    """
    return EARLY_CLOSE_MINUTE if d in _year(d.year).early_closes else REGULAR_CLOSE_MINUTE


def next_trading_day(d: date) -> date:
    """The first trading day strictly after ``d``."""
    d += _DAY
    while not is_trading_day(d):
        d += _DAY
    return d


def previous_trading_day(d: date) -> date:
    """The last trading day strictly before ``d``."""
    d -= _DAY
    while not is_trading_day(d):
        d -= _DAY
    return d


def dst_bounds_utc_ns(year: int) -> tuple[int, int]:
    """The UTC instants at which daylight time starts and ends in ``year``.

    Daylight time is in force for ``start <= utc_ns < end``.
    """
    info = _year(year)
    return info.dst_start_utc_ns, info.dst_end_utc_ns


def utc_offset_ns(utc_ns: int) -> int:
    """The US Eastern UTC offset at ``utc_ns``: ``EDT_OFFSET_NS`` (-4 h) or ``EST_OFFSET_NS``.

    Both switches happen in spring and autumn, far from New Year, so the UTC year decides
    which year's rule applies.
    """
    day = utc_ns // NS_PER_DAY
    bounds = _DST_BY_UTC_DAY.get(day)
    if bounds is None:
        bounds = _DST_BY_UTC_DAY[day] = dst_bounds_utc_ns(epoch_day_to_date(day).year)
    if bounds[0] <= utc_ns < bounds[1]:
        return EDT_OFFSET_NS
    return EST_OFFSET_NS


def to_eastern(utc_ns: int) -> EasternTime:
    """The US Eastern local date, time of day and offset of the instant ``utc_ns``."""
    offset = utc_offset_ns(utc_ns)
    day, ns_of_day = divmod(utc_ns + offset, NS_PER_DAY)
    return EasternTime(epoch_day_to_date(day), ns_of_day, offset)


def eastern_to_utc_ns(d: date, hour: int, minute: int = 0) -> int:
    """The UTC instant of the US Eastern wall-clock time ``d hour:minute``.

    Wall times that do not exist or happen twice resolve like Python's ``fold=0``:
    a time in the spring gap (02:00-02:59 on the switch Sunday) is read with the standard
    offset it would have had, so 02:30 gives 07:30 UTC (03:30 EDT); a time in the autumn
    repeat (01:00-01:59) is its first occurrence, in daylight time. No session boundary lies
    in 01:00-03:00, so the venue never depends on this choice.

    Raises:
        ValueError: if ``hour`` is not in 0..23 or ``minute`` not in 0..59.
    """
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"no wall time {hour:02d}:{minute:02d}")
    wall = _wall_ns(d, hour, minute)
    info = _year(d.year)
    if info.dst_start_wall_ns <= wall < info.dst_end_wall_ns:
        return wall - EDT_OFFSET_NS
    return wall - EST_OFFSET_NS
