"""FIX UTCTimestamp text (``YYYYMMDD-HH:MM:SS.sss``) to and from nanoseconds since the epoch."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_timestamp", "parse_timestamp"]

_EPOCH_DAYS = datetime(1970, 1, 1).toordinal()
_second: list[object] = [None, ""]
_days: dict[str, int] = {}


def format_timestamp(ns: int) -> str:
    """``ns`` as a FIX UTCTimestamp with milliseconds (what every engine reads).

    Every message carries one; the formatted second is kept and only the
    milliseconds are written while the second is the same.
    """
    seconds, rest = divmod(ns, 10**9)
    if _second[0] != seconds:
        _second[0] = seconds
        _second[1] = datetime.fromtimestamp(seconds, UTC).strftime("%Y%m%d-%H:%M:%S")
    return f"{_second[1]}.{rest // 1_000_000:03d}"


def parse_timestamp(text: str) -> int:
    """A UTCTimestamp (seconds, or up to nine decimal places) as ns since the epoch.

    The text must already have the format (``gateway.fix.validate``); a date
    that does not exist (February 30) raises ValueError.
    """
    days = _days.get(text[:8])
    if days is None:
        days = datetime(int(text[0:4]), int(text[4:6]), int(text[6:8])).toordinal() - _EPOCH_DAYS
        if len(_days) < 10_000:  # the dates a session uses are few
            _days[text[:8]] = days
    seconds = days * 86_400 + int(text[9:11]) * 3600 + int(text[12:14]) * 60 + int(text[15:17])
    fraction = text[18:]
    return seconds * 10**9 + (int(fraction.ljust(9, "0")) if fraction else 0)
