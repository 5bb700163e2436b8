"""The WebSocket dialect's numbers, times and execution reports.

Pure helpers shared by the gateway's modules: they turn ticks and lots into JSON numbers
written with the instrument's precision, nanoseconds into RFC 3339 times,
and engine events into ``executions`` items for the account they concern.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import msgspec

from gateway.words import order_id_text
from model.instrument import Instrument

__all__ = ["order_id_text", "plain", "rfc3339"]

_last_second: list[object] = [None, ""]


def rfc3339(ns: int) -> str:
    """``2026-11-20T15:00:00.000100Z``: UTC with microseconds.

    Every answer carries two and every report one; the formatted second is
    kept and only the microseconds are written when the second is the same.
    """
    seconds, rest = divmod(ns, 10**9)
    if _last_second[0] != seconds:
        stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second[0], _last_second[1] = seconds, stamp
    return f"{_last_second[1]}.{rest // 1_000:06d}Z"


def plain(value: Decimal) -> Decimal | msgspec.Raw:
    """``value`` as a JSON number never in exponent form (``0.00000000``, not ``0E-8``).

    A decimal's text uses an exponent when it has more than six places
    after leading zeros; those are written out as raw JSON text instead.
    """
    text = str(value)
    if "E" not in text:
        return value
    return msgspec.Raw(format(value, "f").encode())


def _price(inst: Instrument, ticks: int | None) -> Decimal | None:
    return None if ticks is None else inst.ticks_to_price(ticks)


def _qty(inst: Instrument, lots: int) -> Decimal:
    return inst.lots_to_qty(lots)
