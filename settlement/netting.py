"""Netting: each trade's legs summed per account, asset and chain over a window of exchange time.

Pure. A trade moves five amounts (:func:`legs`): base to the buyer and from
the seller, quote from the buyer (price plus fee) and to the seller (price
less fee), and both fees to the fee account. :class:`Netter` adds them up
per ``(account, asset, chain)`` in the open window; a window opens with the
first trade after the last one closed, at that trade's engine time, and
closes when a trade comes at or after ``start + window_ns`` (before that
trade is added) or when the worker finds itself idle past the end
(:meth:`Netter.close`). A closed window yields its non-zero totals: one
settlement instruction each. So, per key, the instructions of all closed
windows plus the open window's totals always equal the sum of the legs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from settlement.records import Trade

__all__ = ["Closed", "Key", "Leg", "Netter", "legs", "net"]

Key = tuple[str, str, str]
"""(account, asset, chain)"""

Leg = tuple[str, str, int]
"""(account, asset, signed amount): positive moves units to the account."""


def legs(t: Trade) -> list[Leg]:
    """What one trade moves for each party, in units (summing to zero per asset)."""
    return [
        (t.buyer, t.base, t.base_units),
        (t.seller, t.base, -t.base_units),
        (t.buyer, t.quote, -(t.quote_qty + t.buyer_fee)),
        (t.seller, t.quote, t.quote_qty - t.seller_fee),
        (t.fee_account, t.quote, t.buyer_fee + t.seller_fee),
    ]


def net(moves: Iterable[Leg], chain_of: Callable[[str], str]) -> dict[Key, int]:
    """The sum of ``moves`` per (account, asset, chain), zeros left out."""
    out: dict[Key, int] = {}
    for account, asset, amount in moves:
        key = (account, asset, chain_of(account))
        out[key] = out.get(key, 0) + amount
    return {k: v for k, v in out.items() if v}


@dataclass
class Closed:
    """A closed window: its id, its start (engine ns) and its non-zero totals."""

    window: int
    start_ts: int
    totals: dict[Key, int]


@dataclass
class Netter:
    """The open window's running totals; see the module docstring for when windows close."""

    window_ns: int
    chain_of: Callable[[str], str]
    window: int = 0
    """Id of the open window (0: none open); ids count up from 1."""
    start_ts: int = 0
    last_id: int = 0
    totals: dict[Key, int] = field(default_factory=dict)

    def add(self, ts: int, moves: Iterable[Leg]) -> Closed | None:
        """Add one trade's legs at engine time ``ts``; the window it closed first, if any."""
        closed = None
        if self.window and ts >= self.start_ts + self.window_ns:
            closed = self.close()
        if not self.window:
            self.last_id += 1
            self.window, self.start_ts = self.last_id, ts
        totals = self.totals
        chain_of = self.chain_of
        for account, asset, amount in moves:
            key = (account, asset, chain_of(account))
            totals[key] = totals.get(key, 0) + amount
        return closed

    def due(self, now: int) -> bool:
        """Whether the open window has reached its end at exchange time ``now``."""
        return bool(self.window) and now >= self.start_ts + self.window_ns

    def close(self) -> Closed | None:
        """Close the open window (None if none is open)."""
        if not self.window:
            return None
        closed = Closed(self.window, self.start_ts, {k: v for k, v in self.totals.items() if v})
        self.window, self.start_ts, self.totals = 0, 0, {}
        return closed
