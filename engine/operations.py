"""Time-driven and account-wide commands: timers, mass cancels, operator commands.

Part of the engine (see :mod:`engine.engine`); pure like the rest of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from heapq import heappop

from model.commands import (
    CancelAll,
    CancelAllAfter,
    Command,
    Deposit,
    RunTimers,
    SetKillSwitch,
    SetReferencePrice,
    Withdraw,
)
from model.instrument import Instrument
from risk.risk import Risk

from engine.events import (
    DeadManSwitchSet,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    KillSwitchSet,
    OrderExpired,
    OrderRejected,
    ReferencePriceSet,
)
from engine.matching import Matcher

__all__ = ["Operations"]


class Operations(Matcher):
    """Timers (expiries, dead man's switches), cancel-all and the operator commands."""

    __slots__ = ("armed",)

    def __init__(self, instruments: Iterable[Instrument], risk: Risk | None = None) -> None:
        super().__init__(instruments, risk)
        # Accounts whose dead man's switch is armed -> its deadline (the same
        # as Account.dms_deadline; kept here so timers never scan every account).
        self.armed: dict[str, int] = {}

    def next_timer(self) -> int | None:
        """The earliest instant a timer is due (an expiry or a dead man's switch), or None.

        The sequencer sends :class:`RunTimers` at that instant.
        """
        heap = self.expiries
        orders = self.orders
        due = None
        while heap:
            expire_ts, order_id = heap[0]
            order = orders.get(order_id)
            if order is not None and order.expire_ts == expire_ts:
                due = expire_ts
                break
            heappop(heap)
        if self.armed:
            deadline = min(self.armed.values())
            if due is None or deadline < due:
                due = deadline
        return due

    def _on_cancel_all(self, c: CancelAll) -> list[Event]:
        events: list[Event] = []
        self._cancel_account(c.account, c.symbol, c.reason, events, c.seq, c.ts)
        return events

    def _on_timers(self, c: RunTimers) -> list[Event]:
        """Expire due GTD and DAY orders, then fire due dead man's switches."""
        events: list[Event] = []
        ts = c.ts
        self._expire(c, events)
        if self.risk is not None and self.armed:
            for account in sorted(a for a, deadline in self.armed.items() if deadline <= ts):
                del self.armed[account]
                self.risk.accounts[account].dms_deadline = None
                events.append(DeadManSwitchSet(c.seq, ts, account, None))
                self._cancel_account(account, None, "dead_man_switch", events, c.seq, ts)
        return events

    def _expire(self, c: RunTimers, events: list[Event]) -> None:
        """Expire the GTD and DAY orders due at ``c.ts``, in order of expiry time then
        order id. Entries of orders no longer open, or re-stamped, are dropped."""
        heap = self.expiries
        orders = self.orders
        ts = c.ts
        while heap and heap[0][0] <= ts:
            expire_ts, order_id = heappop(heap)
            order = orders.get(order_id)
            if order is None or order.expire_ts != expire_ts:
                continue
            leaves = self._unbook(order)
            events.append(OrderExpired(c.seq, ts, order_id, order.account, order.symbol, leaves))

    def _cancel_account(
        self,
        account: str,
        symbol: str | None,
        reason: str,
        events: list[Event],
        seq: int,
        ts: int,
    ) -> None:
        """Cancel the account's open orders (in one symbol, or all), oldest first."""
        mine = self.by_account.get(account)
        if mine:
            for order in [o for o in mine.values() if symbol is None or o.symbol == symbol]:
                self._cancel_open(order, reason, events, seq, ts)

    # --------------------------------------------------------------- operator

    def _on_deposit(self, c: Deposit) -> list[Event]:
        risk = self._need_risk(c)
        refusal = risk.deposit(c.account, c.asset, c.amount)
        if refusal is not None:
            return [OrderRejected(c.seq, c.ts, c.account, *refusal)]
        balance = risk.accounts[c.account].balance[c.asset]
        return [FundsDeposited(c.seq, c.ts, c.account, c.asset, c.amount, balance)]

    def _on_withdraw(self, c: Withdraw) -> list[Event]:
        risk = self._need_risk(c)
        reserve = 0
        if c.account == risk.fee_account:
            # Cumulative rounding can move the fee account by -1 on a fill,
            # paid back from what an order's earlier fills rounded in; keep
            # two units per open order that has traded (one per side).
            reserve = 2 * sum(1 for o in self.orders.values() if o.cost)
        refusal = risk.withdraw(c.account, c.asset, c.amount, reserve)
        if refusal is not None:
            return [OrderRejected(c.seq, c.ts, c.account, *refusal)]
        balance = risk.accounts[c.account].balance[c.asset]
        return [FundsWithdrawn(c.seq, c.ts, c.account, c.asset, c.amount, balance)]

    def _on_kill_switch(self, c: SetKillSwitch) -> list[Event]:
        acct = self._need_risk(c).accounts.get(c.account)
        if acct is None:
            text = f"account {c.account!r}: not known"
            return [OrderRejected(c.seq, c.ts, c.account, "unknown_account", text)]
        acct.set_killed(c.enabled)
        events: list[Event] = [KillSwitchSet(c.seq, c.ts, c.account, c.enabled)]
        if c.enabled:
            self._cancel_account(c.account, None, "kill_switch", events, c.seq, c.ts)
        return events

    def _on_reference(self, c: SetReferencePrice) -> list[Event]:
        risk = self._need_risk(c)
        if c.symbol not in self.books:
            text = f"symbol {c.symbol!r}: not listed"
            return [OrderRejected(c.seq, c.ts, c.account, "unknown_symbol", text)]
        risk.set_reference(c.symbol, c.price)
        book = self.books[c.symbol]
        book.reference_ts = c.ts
        self._set_fast(book)
        band = risk.band(c.symbol)
        assert band is not None  # the price is positive
        low, high = band
        return [ReferencePriceSet(c.seq, c.ts, c.symbol, c.price, low, high)]

    def _on_cancel_all_after(self, c: CancelAllAfter) -> list[Event]:
        acct = self._need_risk(c).accounts.get(c.account)
        if acct is None:
            text = f"account {c.account!r}: not known"
            return [OrderRejected(c.seq, c.ts, c.account, "unknown_account", text)]
        acct.dms_deadline = c.ts + c.timeout_ns if c.timeout_ns else None
        if acct.dms_deadline is None:
            self.armed.pop(c.account, None)
        else:
            self.armed[c.account] = acct.dms_deadline
        return [DeadManSwitchSet(c.seq, c.ts, c.account, acct.dms_deadline)]

    def _need_risk(self, c: Command) -> Risk:
        if self.risk is None:
            raise TypeError(f"{type(c).__name__} needs an engine with pre-trade risk")
        return self.risk
