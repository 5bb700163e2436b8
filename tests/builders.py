"""Small builders for tests: instruments, and a driver that stamps seq and ts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.engine import Engine
from engine.events import Event
from model.commands import (
    AmendOrder,
    BatchOrder,
    CancelAll,
    CancelAllAfter,
    CancelOrder,
    Command,
    Deposit,
    Halt,
    NewOrder,
    ReplaceOrder,
    Resume,
    RunTimers,
    SetKillSwitch,
    SetReferencePrice,
    Withdraw,
)
from model.instrument import Instrument
from risk.accounts import AccountSpec, FeeTier
from risk.money import Asset
from risk.risk import Risk

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


ASSETS = (Asset("USD", 2), Asset("AAPLx", 8), Asset("TSLAx", 8), Asset("SPYx", 8))
TIER = FeeTier("default", maker_bps=10, taker_bps=25)


def risk_for(
    instruments: list[Instrument],
    accounts: tuple[str, ...] = ("a", "b", "c"),
    tier: FeeTier = TIER,
    **limits: Any,
) -> Risk:
    """Pre-trade risk over the test assets: the accounts on ``tier``, no balances yet."""
    specs = [AccountSpec(id=a, fee_tier=tier, **limits) for a in accounts]
    return Risk(ASSETS, instruments, specs, fee_account="fees")


class Driver:
    """Feeds commands to an engine, stamping ``seq`` 1, 2, 3... and ``ts`` = seq * 1000.

    Each method builds one command, applies it, and returns its events.
    ``next_seq`` is the seq (and so the order id) the next command gets.
    With ``risk`` the engine runs pre-trade risk (see :func:`risk_for`).
    With ``start_ts`` the engine runs the instruments' schedules from that
    instant: commands are stamped ``now`` (which moves on 1 us per command)
    and :meth:`run_until` moves the clock, firing every timer on the way.
    """

    def __init__(
        self,
        *symbols: str,
        risk: Risk | None = None,
        start_ts: int | None = None,
        instruments: list[Instrument] | None = None,
        **inst: Any,
    ) -> None:
        if instruments is None:
            instruments = [instrument(s, **inst) for s in (symbols or (SYMBOL,))]
        self.engine = Engine(instruments, risk, start_ts)
        self.next_seq = 1
        self.log: list[Command] = []
        self.now = start_ts

    def _stamp(self) -> tuple[int, int]:
        seq = self.next_seq
        self.next_seq += 1
        if self.now is None:
            return seq, seq * 1000
        ts = self.now
        self.now += 1000
        return seq, ts

    def run_until(self, ts: int) -> list[Event]:
        """Move the clock to ``ts``, sending RunTimers at every timer due on the way."""
        events: list[Event] = []
        while True:
            due = self.engine.next_timer()
            if due is None or due > ts:
                break
            seq, _ = self._stamp()
            events += self.apply(RunTimers(seq, due))
        if self.now is not None:
            self.now = max(ts, self.now)
        return events

    def halt(self, symbol: str = SYMBOL, reason: str = "operator") -> list[Event]:
        seq, ts = self._stamp()
        return self.apply(Halt(seq, ts, "ops", symbol, reason))

    def resume(self, symbol: str = SYMBOL, auction_ns: int = 300 * 10**9) -> list[Event]:
        seq, ts = self._stamp()
        return self.apply(Resume(seq, ts, "ops", symbol, auction_ns))

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

    def batch(
        self, account: str, orders: list[dict[str, Any]], symbol: str = SYMBOL
    ) -> list[Event]:
        """Send ``orders`` (NewOrder fields) as one batch; return what its last part caused.

        Every part but the last must cause nothing: the engine waits for the
        whole batch.
        """
        events: list[Event] = []
        for part, fields in enumerate(orders):
            seq, ts = self._stamp()
            command = BatchOrder(seq, ts, account, symbol, part=part, parts=len(orders), **fields)
            events = self.apply(command)
            if part + 1 < len(orders):
                assert events == []
        return events

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
        return self.apply(RunTimers(seq, ts))

    def deposit(self, account: str, asset: str, amount: int) -> list[Event]:
        seq, ts = self._stamp()
        return self.apply(Deposit(seq, ts, account, asset, amount))

    def withdraw(self, account: str, asset: str, amount: int) -> list[Event]:
        seq, ts = self._stamp()
        return self.apply(Withdraw(seq, ts, account, asset, amount))

    def kill(self, account: str, enabled: bool = True) -> list[Event]:
        seq, ts = self._stamp()
        return self.apply(SetKillSwitch(seq, ts, account, enabled))

    def reference(self, price: int, symbol: str = SYMBOL) -> list[Event]:
        seq, ts = self._stamp()
        return self.apply(SetReferencePrice(seq, ts, "ops", symbol, price))

    def cancel_after(self, account: str, timeout_ns: int) -> list[Event]:
        seq, ts = self._stamp()
        return self.apply(CancelAllAfter(seq, ts, account, timeout_ns))
