"""The call auction's price: where a crossed book uncrosses, by the rulebook's tie-breaks.

Pure arithmetic over what the book holds; the engine executes the result
(:mod:`engine.phases`). At a candidate price ``p`` the buy side offers every
lot bid at ``p`` or higher and the sell side every lot offered at ``p`` or
lower; ``min`` of the two can trade. The uncross price

1. maximises that executable volume,
2. then minimises the imbalance ``|buy - sell|`` at the price,
3. then is nearest the reference price,
4. then, if two prices are equally near (one each side of the reference),
   is the lower one.

Every tick is a candidate. Volume and imbalance only change at limit prices,
so between two adjacent limit prices one representative stands for all the
ticks in between: the one nearest the reference (the lowest with none). The
candidates are thus the limit prices plus at most one tick per gap, and the
result is the best over every tick. An inside tick matters: when the
imbalance changes sign between two limit prices, a price between them can
have a smaller imbalance than either.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import accumulate, pairwise
from typing import NamedTuple

__all__ = ["Uncross", "uncross_price"]


class Uncross(NamedTuple):
    """The chosen price, the lots that trade there, and buy less sell lots willing at it."""

    price: int
    volume: int
    imbalance: int


def uncross_price(
    bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]], reference: int = 0
) -> Uncross | None:
    """The uncross of a book given as ``(price, lots)`` pairs per side, or None if nothing trades.

    Pairs may repeat a price (one per order); ``reference`` 0 means none.
    O((B + A) log(B + A)).
    """
    bid_list = sorted(bids)
    ask_list = sorted(asks)
    if not bid_list or not ask_list or bid_list[-1][0] < ask_list[0][0]:
        return None
    bid_prices = [p for p, _ in bid_list]
    ask_prices = [p for p, _ in ask_list]
    # bid_from[i]: lots bid at bid_prices[i] or higher; ask_upto[i]: lots offered at or below.
    bid_from = list(accumulate(reversed([q for _, q in bid_list])))[::-1]
    ask_upto = list(accumulate(q for _, q in ask_list))
    levels = sorted(set(bid_prices) | set(ask_prices))
    candidates = list(levels)
    for low, high in pairwise(levels):
        if high - low > 1:
            inside = low + 1 if reference <= 0 else reference
            candidates.append(min(max(inside, low + 1), high - 1))
    best: tuple[int, int, int, int] | None = None
    chosen: Uncross | None = None
    for p in candidates:
        i = bisect_left(bid_prices, p)
        buy = bid_from[i] if i < len(bid_from) else 0
        j = bisect_right(ask_prices, p)
        sell = ask_upto[j - 1] if j else 0
        volume = min(buy, sell)
        if not volume:
            continue
        distance = abs(p - reference) if reference > 0 else 0
        rank = (-volume, abs(buy - sell), distance, p)
        if best is None or rank < best:
            best = rank
            chosen = Uncross(p, volume, buy - sell)
    return chosen
