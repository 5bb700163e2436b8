"""``python -m bench settlement``'s booking figure runs end to end on a small queue."""

from __future__ import annotations

from bench.settlement import booking_rate


def test_the_booking_rate_books_every_queued_trade() -> None:
    report = booking_rate("sqlite", None, trades=400, runs=2)
    assert (report["backend"], report["trades"], report["runs"]) == ("sqlite", 400, 2)
    low, high = report["range"]
    assert 0 < low <= report["trades_per_s"] <= high
