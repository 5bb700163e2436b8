"""Public market data for the WebSocket ``book`` channel: levels, diffs and Kraken's checksum.

Functions over the levels the node reports (:meth:`node.interface.Node.book`);
all but :func:`top` are pure. A subscription remembers the levels it last
sent; after every batch the gateway computes the top ``depth`` levels
now and sends only the differences (a level that left is sent with qty 0),
so a client applying updates to its snapshot holds exactly the top ``depth``
levels, and the checksum in each message is computed over that state.

The checksum is Kraken's: CRC32 (unsigned) of the concatenation of the top 10
asks (lowest first) then the top 10 bids (highest first), each level written
as its price then its quantity, each with the instrument's precision, the
decimal point removed and leading zeros stripped. Hidden iceberg quantity
and stops never show.
"""

from __future__ import annotations

import zlib
from decimal import Decimal

from model.instrument import Instrument
from node.interface import Node

__all__ = ["DEPTHS", "Levels", "checksum", "diff", "top"]

DEPTHS = (10, 25, 100, 500, 1000)

Levels = dict[int, int]
"""Price in ticks -> visible quantity in lots, for one side."""


def top(node: Node, symbol: str, depth: int) -> tuple[Levels, Levels]:
    """The best ``depth`` bid and ask levels of ``symbol``: price ticks -> visible lots."""
    bids, asks = node.book(symbol, depth)
    return dict(bids), dict(asks)


def diff(before: Levels, after: Levels) -> list[tuple[int, int]]:
    """The (price, qty) changes from ``before`` to ``after``; qty 0 removes a level."""
    changes = [(p, q) for p, q in after.items() if before.get(p) != q]
    changes += [(p, 0) for p in before if p not in after]
    return changes


def _digits(value: Decimal) -> str:
    return f"{value:f}".replace(".", "").lstrip("0")


def checksum(inst: Instrument, bids: Levels, asks: Levels) -> int:
    """Kraken's book checksum over the top 10 levels of each side."""

    def level(levels: Levels, price: int) -> str:
        return _digits(inst.ticks_to_price(price)) + _digits(inst.lots_to_qty(levels[price]))

    parts = [level(asks, p) for p in sorted(asks)[:10]]
    parts += [level(bids, p) for p in sorted(bids, reverse=True)[:10]]
    return zlib.crc32("".join(parts).encode())
