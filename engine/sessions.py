"""Trading phases of an instrument as a pure function of its schedule and the time.

Pure: time enters as data (``utc_ns``, integer nanoseconds since the Unix epoch, UTC); no
clock, no I/O. The rules (``docs/SESSIONS.md`` is the rulebook as built), in US Eastern
local time, for a day D:

- D a trading day: 04:00-09:30 ``extended``, 09:30-close ``regular`` (close 16:00, or 13:00
  on an early-close day), close-20:00 ``extended``.
- D not a trading day (weekend day, holiday, one-off closure): 04:00-20:00 ``weekend``.
- The night from 20:00 on D to 04:00 on D+1 is ``overnight`` iff D+1 is a trading day,
  else ``weekend``. So Sunday to Thursday nights of a normal week are overnight, the night
  before a holiday is weekend, and a holiday's own evening opens the overnight session that
  leads into the next trading day.
- A ``24/5`` instrument is ``closed`` whenever a ``24/7`` one is ``weekend``.

Every interval is half-open, ``[start, end)``: at a boundary instant the new phase is in
force. ``halted`` and ``auction`` are imposed by the engine, never by the clock; they are
part of ``Phase`` so one type names every phase, and the per-phase rules below cover them.

Complexity: each local date's boundaries are computed once and cached in module-level dicts
keyed by date and by epoch day (deterministic, so the cache is invisible). ``phase_at`` and
the per-order rules are then O(1), about half a microsecond; ``next_phase_change`` walks at
most the few days to the next change.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final, Literal, NamedTuple

from engine.calendar import (
    NS_PER_DAY,
    NS_PER_HOUR,
    NS_PER_MINUTE,
    REGULAR_OPEN_MINUTE,
    eastern_to_utc_ns,
    epoch_day_to_date,
    is_trading_day,
    next_trading_day,
    regular_close_minute,
    to_eastern,
    utc_offset_ns,
)

__all__ = [
    "AUCTION",
    "CLOSED",
    "EXTENDED",
    "HALTED",
    "LIMIT_ORDER_TYPES",
    "ORDER_TYPES",
    "OVERNIGHT",
    "PHASES",
    "REGULAR",
    "REGULAR_BAND_BPS",
    "SCHEDULES",
    "WEEKEND",
    "Phase",
    "RejectReason",
    "Schedule",
    "accepts",
    "band_bps",
    "max_notional_divisor",
    "next_phase_change",
    "next_rule_change",
    "phase_at",
    "phase_changes",
    "reject_reason",
    "trading_day",
    "trading_day_end_ns",
]

Phase = Literal["regular", "extended", "overnight", "weekend", "closed", "halted", "auction"]
Schedule = Literal["24/7", "24/5"]
RejectReason = Literal["limit_only", "market_closed", "halted"]

REGULAR: Final = "regular"
EXTENDED: Final = "extended"
OVERNIGHT: Final = "overnight"
WEEKEND: Final = "weekend"
CLOSED: Final = "closed"
HALTED: Final = "halted"
AUCTION: Final = "auction"
PHASES: Final[tuple[Phase, ...]] = (
    REGULAR,
    EXTENDED,
    OVERNIGHT,
    WEEKEND,
    CLOSED,
    HALTED,
    AUCTION,
)
SCHEDULES: Final[tuple[Schedule, ...]] = ("24/7", "24/5")

ORDER_TYPES: Final = frozenset(
    {
        "limit",
        "market",
        "stop-loss",
        "stop-loss-limit",
        "take-profit",
        "take-profit-limit",
        "iceberg",
    }
)
LIMIT_ORDER_TYPES: Final = frozenset({"limit", "iceberg", "stop-loss-limit", "take-profit-limit"})
"""Order types that can only ever execute at a limit price: accepted outside regular hours."""

_EXTENDED_OPEN_NS: Final = 4 * NS_PER_HOUR
_REGULAR_OPEN_NS: Final = REGULAR_OPEN_MINUTE * NS_PER_MINUTE
_DAY_END_NS: Final = 20 * NS_PER_HOUR
_OPENING_DOUBLE_NS: Final = 15 * NS_PER_MINUTE
_CLOSING_DOUBLE_NS: Final = 25 * NS_PER_MINUTE
_ONE_DAY: Final = timedelta(days=1)
_MAX_SCAN_DAYS: Final = 31  # the longest constant phase in history is under 7 days

REGULAR_BAND_BPS: Final[dict[int, int]] = {1: 500, 2: 1000}
_FLAT_BAND_BPS: Final[dict[str, int | None]] = {
    EXTENDED: 1000,
    OVERNIGHT: 2000,
    WEEKEND: 2000,
    AUCTION: 2000,
    HALTED: None,
    CLOSED: None,
}


class _DayPlan(NamedTuple):
    trading: bool  # D is a trading day: its 00:00-04:00 is overnight
    next_trading: bool  # D+1 is a trading day: D's 20:00-24:00 is overnight
    close_ns: int  # regular close, ns after local midnight
    segments: tuple[tuple[int, Phase], ...]  # (UTC start, phase), from D 00:00; WEEKEND = off


_PLANS: dict[date, _DayPlan] = {}
_PLANS_BY_EPOCH_DAY: dict[int, _DayPlan] = {}  # the hot path skips building a date


def _plan(day: date) -> _DayPlan:
    plan = _PLANS.get(day)
    if plan is not None:
        return plan
    trading = is_trading_day(day)
    next_trading = is_trading_day(day + _ONE_DAY)
    close_minute = regular_close_minute(day)
    night: Phase = OVERNIGHT if next_trading else WEEKEND
    segments: tuple[tuple[int, Phase], ...]
    if trading:
        segments = (
            (eastern_to_utc_ns(day, 0), OVERNIGHT),
            (eastern_to_utc_ns(day, 4), EXTENDED),
            (eastern_to_utc_ns(day, 9, 30), REGULAR),
            (eastern_to_utc_ns(day, *divmod(close_minute, 60)), EXTENDED),
            (eastern_to_utc_ns(day, 20), night),
        )
    else:
        segments = ((eastern_to_utc_ns(day, 0), WEEKEND), (eastern_to_utc_ns(day, 20), night))
    plan = _PLANS[day] = _DayPlan(trading, next_trading, close_minute * NS_PER_MINUTE, segments)
    return plan


def _local(utc_ns: int) -> tuple[_DayPlan, int]:
    """The plan of the local date of ``utc_ns`` and the ns since local midnight."""
    day, ns = divmod(utc_ns + utc_offset_ns(utc_ns), NS_PER_DAY)
    plan = _PLANS_BY_EPOCH_DAY.get(day)
    if plan is None:
        plan = _PLANS_BY_EPOCH_DAY[day] = _plan(epoch_day_to_date(day))
    return plan, ns


def _off_phase(schedule: str) -> Phase:
    """The phase a schedule is in when the underlying market is shut."""
    if schedule == "24/7":
        return WEEKEND
    if schedule == "24/5":
        return CLOSED
    raise ValueError(f"unknown schedule {schedule!r}: expected one of {SCHEDULES}")


def phase_at(schedule: str, utc_ns: int) -> Phase:
    """The clock phase of an instrument on ``schedule`` at the instant ``utc_ns``.

    Returns one of ``regular``, ``extended``, ``overnight``, and ``weekend`` (``24/7``) or
    ``closed`` (``24/5``); never ``halted`` or ``auction``. O(1) (amortised: the first query
    on a local date computes that date's plan).

    Raises:
        ValueError: if ``schedule`` is not ``"24/7"`` or ``"24/5"``.
    """
    off = _off_phase(schedule)
    plan, ns = _local(utc_ns)
    if ns < _EXTENDED_OPEN_NS:
        return OVERNIGHT if plan.trading else off
    if ns >= _DAY_END_NS:
        return OVERNIGHT if plan.next_trading else off
    if not plan.trading:
        return off
    if _REGULAR_OPEN_NS <= ns < plan.close_ns:
        return REGULAR
    return EXTENDED


def next_phase_change(schedule: str, utc_ns: int) -> tuple[int, Phase]:
    """The next instant strictly after ``utc_ns`` at which the clock phase changes.

    Returns ``(instant, phase)``: ``phase_at(schedule, instant) == phase``, which differs
    from ``phase_at(schedule, utc_ns)``, and every instant in ``[utc_ns, instant)`` has the
    phase of ``utc_ns``. Boundaries where the phase stays the same (local midnight, or two
    weekend-like stretches meeting) are skipped. O(days until the change), at most a week.

    Raises:
        ValueError: if ``schedule`` is unknown.
    """
    off = _off_phase(schedule)
    current = phase_at(schedule, utc_ns)
    day = to_eastern(utc_ns).day
    for _ in range(_MAX_SCAN_DAYS):
        for start, phase in _plan(day).segments:
            if start <= utc_ns:
                continue
            shown = off if phase == WEEKEND else phase
            if shown != current:
                return start, shown
        day += _ONE_DAY
    raise AssertionError(f"no phase change within {_MAX_SCAN_DAYS} days of {utc_ns}")


def next_rule_change(schedule: str, utc_ns: int) -> int:
    """The next instant strictly after ``utc_ns`` at which the phase or its band width changes.

    That is :func:`next_phase_change`, or earlier, in ``regular``, the end of the doubled
    opening band (09:45) or the start of the doubled closing band (25 minutes before the
    close). The engine re-reads its per-phase rules at each of these instants.

    Raises:
        ValueError: if ``schedule`` is unknown.
    """
    change, _ = next_phase_change(schedule, utc_ns)
    if phase_at(schedule, utc_ns) != REGULAR:
        return change
    plan, ns = _local(utc_ns)
    midnight = utc_ns - ns
    for edge in (_REGULAR_OPEN_NS + _OPENING_DOUBLE_NS, plan.close_ns - _CLOSING_DOUBLE_NS):
        # No DST switch falls inside a regular session, so local offsets add up here.
        if utc_ns < midnight + edge < change:
            return midnight + edge
    return change


def phase_changes(schedule: str, start_ns: int, end_ns: int) -> list[tuple[int, Phase]]:
    """Every phase change at an instant in ``(start_ns, end_ns]``, in time order.

    A convenience over repeated ``next_phase_change`` for planning and tests.
    """
    changes: list[tuple[int, Phase]] = []
    instant = start_ns
    while True:
        instant, phase = next_phase_change(schedule, instant)
        if instant > end_ns:
            return changes
        changes.append((instant, phase))


def trading_day(utc_ns: int) -> date:
    """The US trading day an instant belongs to, for DAY orders and daily accounting.

    Trading day D runs up to, but excluding, 20:00 ET on D. An instant before 20:00 on a
    trading day belongs to that day; any other instant (20:00 or later, a weekend day, a
    holiday, and so the overnight and weekend sessions) belongs to the next trading day.
    """
    local = to_eastern(utc_ns)
    if local.ns_of_day < _DAY_END_NS and is_trading_day(local.day):
        return local.day
    return next_trading_day(local.day)


def trading_day_end_ns(utc_ns: int) -> int:
    """The instant a DAY order entered at ``utc_ns`` expires: 20:00 ET of ``trading_day``.

    Always strictly after ``utc_ns``. At exactly 20:00 on a trading day that day has ended,
    so the answer is 20:00 on the next trading day.
    """
    return eastern_to_utc_ns(trading_day(utc_ns), 20)


def band_bps(phase: str, tier: int, utc_ns: int) -> int | None:
    """The price band half-width, in basis points of the reference price, or None.

    - ``regular``: 500 (tier 1) or 1000 (tier 2), doubled in the first 15 minutes of the
      session (09:30-09:45) and in its last 25 minutes (15:35-16:00, or 12:35-13:00 on an
      early-close day). Windows are half-open: 09:45:00 is no longer doubled, 15:35:00 is.
    - ``extended``: 1000; ``overnight``, ``weekend`` and ``auction``: 2000 (of the frozen
      reference), for either tier.
    - ``halted`` and ``closed``: None, since nothing can execute.

    ``utc_ns`` is only read in ``regular``. O(1).

    Raises:
        ValueError: on an unknown phase or a tier other than 1 or 2.
    """
    base = REGULAR_BAND_BPS.get(tier)
    if base is None:
        raise ValueError(f"unknown band tier {tier!r}: expected 1 or 2")
    if phase != REGULAR:
        if phase not in _FLAT_BAND_BPS:
            raise ValueError(f"unknown phase {phase!r}")
        return _FLAT_BAND_BPS[phase]
    plan, ns = _local(utc_ns)
    close_ns = plan.close_ns
    if _REGULAR_OPEN_NS <= ns < _REGULAR_OPEN_NS + _OPENING_DOUBLE_NS or (
        close_ns - _CLOSING_DOUBLE_NS <= ns < close_ns
    ):
        return 2 * base
    return base


def max_notional_divisor(phase: str) -> int:
    """The account's maximum order notional is divided by this in ``phase``.

    4 in ``overnight`` and ``weekend``, else 1.

    Raises:
        ValueError: on an unknown phase.
    """
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}")
    return 4 if phase in (OVERNIGHT, WEEKEND) else 1


def reject_reason(phase: str, order_type: str) -> RejectReason | None:
    """Why a new order of ``order_type`` is refused in ``phase``, or None if it is accepted.

    - ``regular``: every order type.
    - ``extended``, ``overnight``, ``weekend``, ``auction``: the limit kinds only
      (``LIMIT_ORDER_TYPES``: limit, iceberg, stop-loss-limit, take-profit-limit); market,
      stop-loss and take-profit get ``"limit_only"``.
    - ``closed``: nothing, ``"market_closed"``; ``halted``: nothing, ``"halted"``.
      Cancels are always allowed; they are not orders and never come here.

    Raises:
        ValueError: on an unknown phase or order type.
    """
    if order_type not in ORDER_TYPES:
        raise ValueError(f"unknown order type {order_type!r}")
    if phase == REGULAR:
        return None
    if phase in (EXTENDED, OVERNIGHT, WEEKEND, AUCTION):
        return None if order_type in LIMIT_ORDER_TYPES else "limit_only"
    if phase == CLOSED:
        return "market_closed"
    if phase == HALTED:
        return "halted"
    raise ValueError(f"unknown phase {phase!r}")


def accepts(phase: str, order_type: str) -> bool:
    """True iff a new order of ``order_type`` is accepted in ``phase`` (see ``reject_reason``).

    Raises:
        ValueError: on an unknown phase or order type.
    """
    return reject_reason(phase, order_type) is None
