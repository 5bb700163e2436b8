"""The ticker's 24-hour statistics against a brute-force recomputation over random trades."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ws.ticker import WINDOW_NS, Rolling24h
from tests.builders import instrument

INST = instrument()
HOUR = 3600 * 10**9

trades = st.lists(
    st.tuples(st.integers(0, 10 * HOUR), st.integers(1, 50_000), st.integers(1, 10**6)),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(trades, st.integers(0, 40 * HOUR))
def test_rolling_stats_equal_a_recomputation_over_the_window(
    raw: list[tuple[int, int, int]], later: int
) -> None:
    """Volume, VWAP, low, high, change and change_pct over exactly the last 24 hours."""
    stats = Rolling24h()
    ts = 0
    seen = []
    for gap, price, qty in raw:
        ts += gap
        stats.add(ts, price, qty)
        seen.append((ts, price, qty))
    now = ts + later
    item = stats.ticker(INST, now, (100, 5), None)
    window = [t for t in seen if t[0] > now - WINDOW_NS]
    assert item["bid"] == Decimal("1.00") and item["bid_qty"] == Decimal("0.0005")
    # Never null (WS_API.md): 0 where nothing has quoted or traded.
    assert item["ask"] == Decimal("0.00") and item["ask_qty"] == Decimal("0.0000")
    assert item["last"] == (INST.ticks_to_price(seen[-1][1]) if seen else Decimal("0.00"))
    volume = sum(q for _, _, q in window)
    assert item["volume"] == INST.lots_to_qty(volume)
    if not window:
        assert (item["vwap"], item["low"], item["high"], item["change_pct"]) == (0,) * 4
        assert item["change"] == 0
        return
    vwap = Decimal(sum(p * q for _, p, q in window)) / volume / 100
    assert item["vwap"] == vwap.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    assert item["low"] == INST.ticks_to_price(min(p for _, p, _ in window))
    assert item["high"] == INST.ticks_to_price(max(p for _, p, _ in window))
    change = seen[-1][1] - window[0][1]
    assert item["change"] == INST.ticks_to_price(change)
    pct = Decimal(change * 100) / window[0][1]
    assert item["change_pct"] == pct.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
