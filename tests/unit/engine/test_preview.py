"""``engine.matching._preview``: the dry run behind fill-or-kill and cash-sized orders.

The compiled build walks the side's heap best first instead of sorting every
level key within the limit (engine/_core.pyx ``_preview``). Both builds are
held here to the plain reference below, on books whose heaps carry stale keys
(levels emptied below the top) and icebergs, for every self-trade prevention
mode. Runs on both builds.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.book import BookSide
from engine.matching import NO_LIMIT, _fok_fillable, _preview
from tests.builders import Driver

ACCOUNTS = ("a", "b", "c")


def _reference(
    side: BookSide, limit_key: int, qty: int, account: str, stp: str
) -> list[tuple[int, int]]:
    """Every level within the limit in key order; each live order, then each
    iceberg's refills at the back of the level, as matching takes them."""
    fills: list[tuple[int, int]] = []
    need = qty
    for key in sorted(k for k in side.levels if k <= limit_key):
        level = side.levels[key]
        queue = [(o.account, o.shown, o.hidden, o.display_qty) for o in level.queue if o.shown]
        for acct, shown, hidden, display in queue:  # grows as icebergs refill
            if acct == account:
                if stp != "cancel_oldest":
                    return fills
                continue
            take = min(need, shown)
            fills.append((level.price, take))
            need -= take
            if not need:
                return fills
            if hidden:
                piece = min(display, hidden)
                queue.append((acct, piece, hidden - piece, display))
    return fills


ORDERS = st.lists(
    st.tuples(
        st.integers(100, 160),  # price
        st.integers(1, 30),  # qty
        st.sampled_from(ACCOUNTS),
        st.integers(0, 6),  # display (0: a plain limit order)
        st.booleans(),  # cancelled after it rests
    ),
    min_size=1,
    max_size=60,
)
QUERIES = st.lists(
    st.tuples(
        st.one_of(st.integers(95, 170), st.just(NO_LIMIT)),
        st.integers(1, 400),
        st.sampled_from((*ACCOUNTS, "z")),
        st.sampled_from(("cancel_newest", "cancel_oldest", "cancel_both")),
    ),
    min_size=1,
    max_size=20,
)


def _book(orders: list[tuple[int, int, str, int, bool]], sell: bool) -> tuple[Driver, BookSide]:
    d = Driver()
    side = "sell" if sell else "buy"
    placed = []
    for price, qty, account, display, _ in orders:
        p = price if sell else 300 - price  # buys rest below every sell
        if display and display < qty:
            d.new(account, side, qty, p, order_type="iceberg", display_qty=display)
        else:
            d.new(account, side, qty, p)
        placed.append(d.next_seq - 1)
    for (_, _, account, _, cancel), order_id in zip(orders, placed, strict=True):
        if cancel:
            d.cancel(account, order_id=order_id)
    book = d.engine.books["AAPLx/USD"]
    return d, (book.asks if sell else book.bids)


@settings(max_examples=300, deadline=None)
@given(ORDERS, QUERIES, st.booleans())
def test_preview_gives_the_reference_fills(
    orders: list[tuple[int, int, str, int, bool]],
    queries: list[tuple[int, int, str, str]],
    sell: bool,
) -> None:
    _, side = _book(orders, sell)
    heap, stale = list(side.heap), set(side.stale)
    for limit, qty, account, stp in queries:
        limit_key = limit if limit == NO_LIMIT or sell else -(300 - limit)
        want = _reference(side, limit_key, qty, account, stp)
        assert _preview(side, limit_key, qty, account, stp) == want
        assert _fok_fillable(side, limit_key, qty, account, stp) == (
            sum(lots for _, lots in want) == qty
        )
    assert side.heap == heap and side.stale == stale  # a dry run: nothing popped


def test_stale_keys_are_stepped_over() -> None:
    # Levels emptied below the top leave their keys in the heap (stale): the
    # walk must pass them, and the levels behind them, in price order.
    orders = [(p, 5, "a", 0, p in (101, 103, 104)) for p in (100, 101, 102, 103, 104, 105)]
    _, side = _book(orders, sell=True)
    assert side.stale == {101, 103, 104}
    assert _preview(side, 200, 12, "b", "cancel_newest") == [(100, 5), (102, 5), (105, 2)]
    assert _preview(side, 104, 12, "b", "cancel_newest") == [(100, 5), (102, 5)]
    assert _preview(side, 99, 12, "b", "cancel_newest") == []
