"""Corporate actions: splits, rebasing dividends and delistings, at their effective time.

Part of the engine (see :mod:`engine.engine`); pure like the rest of it. An
operator's :class:`CorporateAction` is announced at once and takes effect
at its effective time, through the same timers as everything else
(:meth:`CorporateActions.next_timer`, :class:`RunTimers`). The rulebook as
built is docs/SESSIONS.md, section "Corporate actions".
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from model.commands import CorporateAction, Halt, Resume, RunTimers
from model.instrument import Instrument
from risk.risk import Risk

from engine.events import (
    BalanceRebased,
    CorporateActionAnnounced,
    CorporateActionApplied,
    Event,
    ReferencePriceSet,
)
from engine.phases import CALL_NS, Phases, Session, refused
from engine.sessions import AUCTION, CLOSED, HALTED

__all__ = ["CorporateActions"]


class CorporateActions(Phases):
    """Pending corporate actions per symbol, applied when their time comes."""

    __slots__ = ("actions", "delisted")

    def __init__(
        self,
        instruments: Iterable[Instrument],
        risk: Risk | None = None,
        start_ts: int | None = None,
    ) -> None:
        super().__init__(instruments, risk, start_ts)
        self.actions: dict[str, CorporateAction] = {}
        """Announced, not yet effective: symbol -> the operator's command."""
        self.delisted: set[str] = set()

    def canonical_state(self) -> list[object]:
        """Everything else, plus the pending corporate actions."""
        pending = [[s, self.actions[s]] for s in sorted(self.actions)]
        return [*super().canonical_state(), pending, sorted(self.delisted)]

    # ---------------------------------------------------------------- timers

    def next_timer(self) -> int | None:
        due = super().next_timer()
        for action in self.actions.values():
            assert action.effective_ts is not None
            if due is None or action.effective_ts < due:
                due = action.effective_ts
        return due

    def _on_timers(self, c: RunTimers) -> list[Event]:
        events = super()._on_timers(c)
        due = sorted(
            (a.effective_ts or 0, symbol)
            for symbol, a in self.actions.items()
            if (a.effective_ts or 0) <= c.ts
        )
        for _, symbol in due:
            self._take_effect(self.actions.pop(symbol), events, c.seq, c.ts)
        return events

    # -------------------------------------------------------------- commands

    def _on_corporate_action(self, c: CorporateAction) -> list[Event]:
        risk = self._need_risk(c)
        session = self.sessions.get(c.symbol)
        if session is None:
            return [refused(c, "unknown_symbol", f"symbol {c.symbol!r}: not listed")]
        if c.symbol in self.actions:
            text = f"symbol {c.symbol}: a corporate action is already pending"
            return [refused(c, "invalid_arguments", text)]
        if c.symbol in self.delisted:
            return [refused(c, "invalid_arguments", f"symbol {c.symbol}: delisted")]
        if c.kind != "delist":
            asset = risk.instruments[c.symbol].base
            if not risk.rebase_fits(asset, c.num, c.den):
                return [refused(c, "invalid_arguments", _overflow(asset, c))]
        effective = c.ts if c.effective_ts is None or c.effective_ts < c.ts else c.effective_ts
        events: list[Event] = [
            CorporateActionAnnounced(c.seq, c.ts, c.symbol, c.kind, c.num, c.den, effective)
        ]
        if c.kind == "delist":
            # From the announcement on, the instrument is cancel-only (a volatility
            # pause's own end is forgotten with it).
            self._enter(session, HALTED, "delisting", None, events, c.seq, c.ts)
        pending = msgspec.structs.replace(c, effective_ts=effective)
        if effective <= c.ts:
            self._take_effect(pending, events, c.seq, c.ts)
        else:
            self.actions[c.symbol] = pending
        return events

    def _on_halt(self, c: Halt) -> list[Event]:
        if c.symbol in self.delisted:
            return [refused(c, "invalid_arguments", f"symbol {c.symbol}: delisted")]
        return super()._on_halt(c)

    def _on_resume(self, c: Resume) -> list[Event]:
        if c.symbol in self.delisted:
            return [refused(c, "invalid_arguments", f"symbol {c.symbol}: delisted")]
        action = self.actions.get(c.symbol)
        if action is not None and action.kind == "delist":
            text = f"symbol {c.symbol}: delisting pending, cancel-only until it is closed"
            return [refused(c, "invalid_arguments", text)]
        return super()._on_resume(c)

    # --------------------------------------------------------------- effects

    def _take_effect(self, c: CorporateAction, events: list[Event], seq: int, ts: int) -> None:
        risk = self._need_risk(c)
        symbol = c.symbol
        if c.kind == "delist":
            session = self.sessions[symbol]
            self._cancel_symbols({symbol}, events, seq, ts)
            if session.phase != HALTED:
                self._enter(session, HALTED, "delisting", None, events, seq, ts)
            # Closed for good: no schedule, no resume (a resume needs halted).
            session.clock = CLOSED
            session.next_change = None
            self.delisted.add(symbol)
            self._enter(session, CLOSED, "delisted", None, events, seq, ts)
            return
        asset = risk.instruments[symbol].base
        if not risk.rebase_fits(asset, c.num, c.den):
            # Balances grew since the announcement: nothing is done, the operator is told.
            events.append(refused(c, "invalid_arguments", _overflow(asset, c)))
            return
        # Every instrument trading this token, as base or as quote, moves together;
        # one that is delisted, or being delisted, stays as it is.
        touched = [s for s, i in self.instruments.items() if asset in (i.base, i.quote)]
        live = [
            self.sessions[s]
            for s in touched
            if s not in self.delisted
            and not (s in self.actions and self.actions[s].kind == "delist")
        ]
        if c.kind == "split":
            for session in live:
                if session.phase != HALTED:
                    self._enter(session, HALTED, "corporate_action", None, events, seq, ts)
            # Orders are priced and sized in the old token: none survives, and
            # with them every hold in it goes.
            self._cancel_symbols(set(touched), events, seq, ts)
        changes, dust = risk.rebase(asset, c.num, c.den)
        for account, before, after in changes:
            events.append(BalanceRebased(seq, ts, account, asset, before, after))
        events.append(
            CorporateActionApplied(seq, ts, symbol, c.kind, asset, c.num, c.den, dust, c.den)
        )
        if c.kind == "split":
            for session in live:
                base = session.inst.base == asset
                self._rescale(session, c.num, c.den, base, events, seq, ts)
                self._enter(session, AUCTION, "resume", ts + CALL_NS, events, seq, ts)

    def _cancel_symbols(self, symbols: set[str], events: list[Event], seq: int, ts: int) -> None:
        """Cancel every open order in ``symbols`` (stops too), oldest first."""
        doomed = sorted(
            (o for o in self.orders.values() if o.symbol in symbols), key=lambda o: o.order_id
        )
        for order in doomed:
            self._cancel_open(order, "corporate_action", events, seq, ts)

    def _rescale(
        self,
        session: Session,
        num: int,
        den: int,
        base: bool,
        events: list[Event],
        seq: int,
        ts: int,
    ) -> None:
        """A split divides the price of one token by ``num / den`` (multiplies it where the
        token is the quote): the reference, and the last price is forgotten."""
        risk = self.risk
        assert risk is not None  # corporate actions need risk (checked on the command)
        book = session.book
        book.last_price = None  # no trade yet in the new token
        m = risk.markets[book.symbol]
        if m.reference > 0:
            # Nearest tick, half a tick up.
            if base:
                price = (2 * m.reference * den + num) // (2 * num)
            else:
                price = (2 * m.reference * num + den) // (2 * den)
            price = max(price, 1)
            risk.set_reference(book.symbol, price)
            book.reference_ts = ts
            self._set_fast(book)
            assert m.low is not None and m.high is not None
            events.append(ReferencePriceSet(seq, ts, book.symbol, price, m.low, m.high))


def _overflow(asset: str, c: CorporateAction) -> str:
    return f"ratio {c.num}/{c.den}: {asset} balances would pass 2**63-1 units"
