"""Small builders for tests: instruments, and a driver that stamps seq and ts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    ExpireOrders,
    NewOrder,
    ReplaceOrder,
)
from engine.engine import Engine
from engine.events import Event
from engine.instrument import Instrument

SYMBOL = "AAPLx/USD"


def instrument(symbol: str = SYMBOL, **overrides: Any) -> Instrument:
    """An xStocks-like instrument: 0.01 ticks, 0.0001 lots, tier 1, 24/7."""
    base = symbol.split("/")[0]
    fields: dict[str, Any] = {
        "symbol": symbol,
        "base": base,
        "quote": "USD",
        "price_increment": Decimal("0.01"),
        "qty_increment": Decimal("0.0001"),
    }
    fields.update(overrides)
    return Instrument(**fields)


class Driver:
    """Feeds commands to an engine, stamping ``seq`` 1, 2, 3... and ``ts`` = seq * 1000.

    Each method builds one command, applies it, and returns its events.
    ``next_seq`` is the seq (and so the order id) the next command gets.
    """

    def __init__(self, *symbols: str) -> None:
        self.engine = Engine([instrument(s) for s in (symbols or (SYMBOL,))])
        self.next_seq = 1
        self.log: list[Command] = []

    def _stamp(self) -> tuple[int, int]:
        seq = self.next_seq
        self.next_seq += 1
        return seq, seq * 1000

    def apply(self, command: Command) -> list[Event]:
        self.log.append(command)
        events = self.engine.process(command)
        self.engine.check_invariants()
        return events

    def new(
        self,
        account: str,
        side: str,
        qty: int,
        price: int | None = None,
        symbol: str = SYMBOL,
        **fields: Any,
    ) -> list[Event]:
        seq, ts = self._stamp()
        return self.apply(NewOrder(seq, ts, account, symbol, side, qty, price, **fields))  # type: ignore[arg-type]

    def cancel(self, account: str, **fields: Any) -> list[Event]:
        seq, ts = self._stamp()
        return self.apply(CancelOrder(seq, ts, account, **fields))

    def amend(self, account: str, **fields: Any) -> list[Event]:
        seq, ts = self._stamp()
        return self.apply(AmendOrder(seq, ts, account, **fields))

    def replace(self, account: str, **fields: Any) -> list[Event]:
        seq, ts = self._stamp()
        return self.apply(ReplaceOrder(seq, ts, account, **fields))

    def cancel_all(self, account: str, **fields: Any) -> list[Event]:
        seq, ts = self._stamp()
        return self.apply(CancelAll(seq, ts, account, **fields))

    def expire(self, ts: int) -> list[Event]:
        seq, _ = self._stamp()
        return self.apply(ExpireOrders(seq, ts))
