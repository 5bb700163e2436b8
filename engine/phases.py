"""Trading phases in the engine: the schedule's clock, halts, call auctions and the uncross.

Part of the engine (see :mod:`engine.engine`); pure like the rest of it. Each
instrument has a :class:`Session`: the phase its schedule gives at the
current time (``clock``) and the phase in force (``phase``), which is the
clock's unless the instrument is halted or in an auction call. The time only
moves through commands: the sequencer sends :class:`RunTimers` at
:meth:`Phases.next_timer`, which covers the schedule's next change, the end
of an auction call and the engine's other timers. Without a start time the
engine has no schedule: every instrument is in ``regular`` for good (halts
and auctions still work), which is what the matching tests and the
single-symbol benchmarks run.

The rulebook as built is docs/SESSIONS.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from model.commands import CorporateAction, Halt, NewOrder, Resume, RunTimers
from model.instrument import Instrument
from risk.risk import Risk

from engine.book import OrderBook
from engine.events import (
    AuctionUncrossed,
    Event,
    OrderRejected,
    PhaseChanged,
    ReferencePriceStale,
    event_symbol,
)
from engine.reference import ReferenceWindow
from engine.sessions import (
    AUCTION,
    CLOSED,
    EXTENDED,
    HALTED,
    OVERNIGHT,
    REGULAR,
    REGULAR_BAND_BPS,
    WEEKEND,
    Phase,
    band_bps,
    max_notional_divisor,
    next_rule_change,
    phase_at,
    reject_reason,
)
from engine.uncross import Auctions

__all__ = ["CONTINUOUS", "Phases", "Session", "refused"]

CONTINUOUS = frozenset({REGULAR, EXTENDED, OVERNIGHT, WEEKEND})
"""Phases in which orders match as they arrive."""

_NO_CALL = (None, -1, 0)  # an indication no call publishes: forces the first one out

PAUSE_NS = 5 * 60 * 10**9
"""A volatility pause halts for this long, then a call of :data:`CALL_NS` reopens."""
CALL_NS = 5 * 60 * 10**9
STALE_NS = 5 * 24 * 3_600 * 10**9
"""A reference price not renewed for this long is stale (a long weekend is shorter)."""
EDGE_NS = 15 * 10**9
"""A best bid or offer at the band edge this long pauses trading."""


class Session:
    """One instrument's phase state."""

    __slots__ = ("book", "clock", "edge_since", "inst", "next_change", "phase", "until")

    def __init__(self, inst: Instrument, book: OrderBook, start_ts: int | None) -> None:
        self.inst = inst
        self.book = book
        if start_ts is None:
            self.clock: Phase = REGULAR
            self.next_change: int | None = None
        else:
            self.clock = phase_at(inst.schedule, start_ts)
            self.next_change = next_rule_change(inst.schedule, start_ts)
        self.phase: Phase = self.clock
        self.until: int | None = None
        """When the phase ends by itself: a volatility pause, an auction call."""
        self.edge_since: int | None = None
        """Since when the best bid or offer has been at the band edge (regular hours)."""

    def stale_at(self) -> int | None:
        """When the reference goes stale (on a schedule, with one set), else None."""
        ts = self.book.reference_ts
        return None if ts is None or self.next_change is None else ts + STALE_NS

    def edge_deadline(self) -> int | None:
        """When the best bid or offer will have sat at the band edge too long."""
        return None if self.edge_since is None else self.edge_since + EDGE_NS

    def band(self, ts: int) -> int | None:
        """The band half-width in force at ``ts`` (bps), or None when nothing can trade."""
        if self.next_change is None and self.phase == REGULAR:
            return REGULAR_BAND_BPS[self.inst.tier]  # no schedule: no doubled windows
        return band_bps(self.phase, self.inst.tier, ts)


class Phases(Auctions):
    """Sessions per instrument: phase rules for new orders, halts, auctions, the uncross."""

    __slots__ = ("_session_list", "hooks", "sessions")

    def __init__(
        self,
        instruments: Iterable[Instrument],
        risk: Risk | None = None,
        start_ts: int | None = None,
    ) -> None:
        instruments = list(instruments)
        super().__init__(instruments, risk)
        self.sessions: dict[str, Session] = {}
        # Whether any command needs _after: a call to indicate, an edge to watch.
        self.hooks = False
        for inst in instruments:
            session = self.sessions[inst.symbol] = Session(inst, self.books[inst.symbol], start_ts)
            if start_ts is not None and risk is not None and inst.reference_price > 0:
                session.book.reference_ts = start_ts  # the configured close, as of the start
            self._apply(session, start_ts or 0)
        # The sessions in listing order, for the compiled timers' scan
        # (engine/_core.pyx _next_due_c), which walks a tuple faster than a
        # dict. Both are made here and never change: instruments are listed
        # when the engine is made (a snapshot must list the same ones).
        self._session_list = tuple(self.sessions.values())

    def canonical_state(self) -> list[object]:
        """The matching and money state, plus each instrument's phase state."""
        phases = [
            [
                s,
                x.phase,
                x.clock,
                x.next_change,
                x.until,
                self.calls.get(s),
                x.edge_since,
                None if x.book.window is None else x.book.window.state(),
                x.book.reference_ts,
            ]
            for s, x in sorted(self.sessions.items())
        ]
        return [*super().canonical_state(), phases]

    # ---------------------------------------------------------------- timers

    def next_timer(self) -> int | None:
        """The earliest instant any timer is due: expiries, dead man's switches, phases."""
        due = super().next_timer()
        sessions = self._sessions_due()
        if sessions is not None and (due is None or sessions < due):
            due = sessions
        return due

    def _sessions_due(self) -> int | None:
        """The earliest instant a session's timer is due (schedule change, end of a
        pause or call, band-edge deadline, stale reference), or None. O(instruments);
        the sequencer asks before every command."""
        due = None
        for session in self.sessions.values():
            for instant in (
                session.next_change,
                session.until,
                session.edge_deadline(),
                session.stale_at(),
            ):
                if instant is not None and (due is None or instant < due):
                    due = instant
        return due

    def _on_timers(self, c: RunTimers) -> list[Event]:
        """Expiries and dead man's switches, then phase changes and call ends, in time order."""
        events = super()._on_timers(c)
        seq, ts = c.seq, c.ts
        while True:
            due = self._next_due(ts)
            if due is None:
                return events
            instant, session = due
            self._fire(session, instant, events, seq, ts)

    def _fire(self, session: Session, instant: int, events: list[Event], seq: int, ts: int) -> None:
        """Fire ``session``'s timer due at ``instant`` (found by :meth:`_next_due`)."""
        if session.until == instant and session.phase == HALTED:
            # A volatility pause is over: the call that reopens it starts.
            self._enter(session, AUCTION, "resume", instant + CALL_NS, events, seq, ts)
        elif session.until == instant:
            self._uncross(session, events, seq, ts)
        elif session.edge_deadline() == instant:
            self._volatility_pause(session.book, events, seq, ts)
        elif session.stale_at() == instant:
            self._go_stale(session, events, seq, ts)
        else:
            self._clock_change(session, instant, events, seq, ts)

    def _next_due(self, ts: int) -> tuple[int, Session] | None:
        """The earliest session timer due at or before ``ts`` and its session, or None.

        Of equal instants the first found wins: sessions in listing order,
        and within one the end of a pause or call, the band-edge deadline,
        the reference going stale, the schedule's next change. O(instruments).
        """
        due: tuple[int, Session] | None = None
        for session in self.sessions.values():
            for instant in (
                session.until,
                session.edge_deadline(),
                session.stale_at(),
                session.next_change,
            ):
                if instant is not None and instant <= ts and (due is None or instant < due[0]):
                    due = (instant, session)
        return due

    def _clock_change(
        self, session: Session, instant: int, events: list[Event], seq: int, ts: int
    ) -> None:
        schedule = session.inst.schedule
        session.clock = phase_at(schedule, instant)
        session.next_change = next_rule_change(schedule, instant)
        if session.phase in (HALTED, AUCTION):
            return  # the clock moves on underneath; the halt or call stays in force
        before = (session.phase, session.band(instant - 1))
        session.phase = session.clock
        band = self._apply(session, instant)
        if before != (session.phase, band):
            reason = "schedule" if before[0] != session.phase else "band"
            events.append(PhaseChanged(seq, ts, session.inst.symbol, session.phase, band, reason))
        self._pending_stops(session.book, events, seq, ts)

    def _pending_stops(self, book: OrderBook, events: list[Event], seq: int, ts: int) -> None:
        """Once trading is on again, trigger the stops that prints reached while it was off."""
        if book.open and book.lo is not None:
            self._run_stops(book, events, seq, ts)

    def _apply(self, session: Session, ts: int) -> int | None:
        """Put the phase's rules in force (matching on or off, band, notional cap)."""
        phase = session.phase
        book = session.book
        book.open = phase in CONTINUOUS
        band = session.band(ts)
        if self.risk is not None:
            self.risk.set_phase(session.inst.symbol, band, max_notional_divisor(phase))
            # The reference follows trades in regular hours (with a schedule).
            rolling = phase == REGULAR and session.next_change is not None
            if not rolling:
                book.window = None
                session.edge_since = None  # the volatility rules are regular hours only
            elif book.window is None:
                book.window = ReferenceWindow()
        self._set_fast(book)
        self.hooks = bool(self.calls) or any(
            x.book.window is not None for x in self.sessions.values()
        )
        return band

    def _enter(
        self,
        session: Session,
        phase: Phase,
        reason: str,
        until: int | None,
        events: list[Event],
        seq: int,
        ts: int,
        run_stops: bool = True,
    ) -> None:
        symbol = session.inst.symbol
        session.phase = phase
        session.until = until
        session.edge_since = None
        band = self._apply(session, ts)
        events.append(PhaseChanged(seq, ts, symbol, phase, band, reason, until))
        if phase == AUCTION:
            self.calls[symbol] = _NO_CALL
        else:
            self.calls.pop(symbol, None)
        self.hooks = bool(self.calls) or any(
            x.book.window is not None for x in self.sessions.values()
        )
        if run_stops:
            self._pending_stops(session.book, events, seq, ts)

    def _go_stale(self, session: Session, events: list[Event], seq: int, ts: int) -> None:
        """The reference was not renewed in time: treat it as missing from now."""
        book = session.book
        book.reference_ts = None
        if self.risk is None:
            return
        price = self.risk.markets[book.symbol].reference
        self.risk.set_reference(book.symbol, 0)
        self._set_fast(book)
        events.append(ReferencePriceStale(seq, ts, book.symbol, price))

    # --------------------------------------------------- volatility pauses

    def _volatility_pause(self, book: OrderBook, events: list[Event], seq: int, ts: int) -> None:
        session = self.sessions[book.symbol]
        self._enter(session, HALTED, "volatility", ts + PAUSE_NS, events, seq, ts)

    def _after(self, events: list[Event], seq: int, ts: int) -> None:
        """After a command: publish changed auction indications, watch band edges.

        Only the instruments the command's events name can have changed.
        """
        touched = {s for s in map(event_symbol, events) if s is not None}
        if self.calls:
            self._indicate(events, seq, ts, touched)
        for symbol in touched:  # independent per instrument: order does not matter
            self._check_edge(self.sessions[symbol], ts)

    def _check_edge(self, session: Session, ts: int) -> None:
        """Start or stop the clock of a best bid or offer sitting at its band edge."""
        book = session.book
        at_edge = False
        if book.window is not None and self.risk is not None:
            m = self.risk.markets[book.symbol]
            if m.low is not None and m.high is not None:
                bid, ask = book.bids.best(), book.asks.best()
                at_edge = (bid is not None and bid.price >= m.high) or (
                    ask is not None and ask.price <= m.low
                )
        if not at_edge:
            session.edge_since = None
        elif session.edge_since is None:
            session.edge_since = ts

    # ------------------------------------------------------- order admission

    def _phase_refusal(self, symbol: str, order_type: str, tif: str) -> tuple[str, str] | None:
        """Why the phase refuses a new order of this type (or an amend, with ``"amend"``)."""
        phase = self.sessions[symbol].phase
        if phase == REGULAR:
            return None
        if phase == HALTED:
            return "halted", f"symbol {symbol}: trading halted, cancels only"
        if phase == CLOSED:
            return "market_closed", f"symbol {symbol}: market closed, cancels only"
        if order_type == "amend":
            return None
        if reject_reason(phase, order_type) is not None:
            return "limit_only", f"order_type {order_type}: only limit orders in the {phase} phase"
        if phase == AUCTION and tif in ("ioc", "fok"):
            return "limit_only", f"time_in_force {tif}: nothing matches during an auction call"
        return None

    # --------------------------------------------------------- halt, resume

    def _on_halt(self, c: Halt) -> list[Event]:
        session = self.sessions.get(c.symbol)
        if session is None:
            return [refused(c, "unknown_symbol", f"symbol {c.symbol!r}: not listed")]
        if session.phase == HALTED and session.until is None:
            return [refused(c, "invalid_arguments", f"symbol {c.symbol}: already halted")]
        # A volatility pause (halted until a set time) becomes an operator halt.
        events: list[Event] = []
        self._enter(session, HALTED, c.reason, None, events, c.seq, c.ts)
        return events

    def _on_resume(self, c: Resume) -> list[Event]:
        session = self.sessions.get(c.symbol)
        if session is None:
            return [refused(c, "unknown_symbol", f"symbol {c.symbol!r}: not listed")]
        if session.phase != HALTED:
            return [refused(c, "invalid_arguments", f"symbol {c.symbol}: not halted")]
        events: list[Event] = []
        self._enter(session, AUCTION, "resume", c.ts + c.auction_ns, events, c.seq, c.ts)
        if not c.auction_ns:
            self._uncross(session, events, c.seq, c.ts)
        return events

    # ------------------------------------------------------------ auctions

    def _uncross(self, session: Session, events: list[Event], seq: int, ts: int) -> None:
        """End a call: trade everything that crosses at one price, then trade on continuously."""
        book = session.book
        volume = 0
        price: int | None = None
        while True:
            found = self._indication(book)
            if found is None:
                break
            traded, changed = self._trade_at(book, found.price, events, seq, ts)
            if traded:
                volume += traded
                price = found.price
            if not changed:
                break
        events.append(AuctionUncrossed(seq, ts, book.symbol, price, volume))
        if book.last_price is not None:
            # Stops placed during the call meet the last price as soon as trading is on.
            book.note_prints(book.last_price, book.last_price)
        self._enter(session, session.clock, "uncross", None, events, seq, ts, run_stops=False)
        if price is not None and book.window is not None:
            self._new_reference(book, book.window.add(ts, price * volume, volume), events, seq, ts)
        self._pending_stops(book, events, seq, ts)


def refused(c: Halt | Resume | NewOrder | CorporateAction, reason: str, text: str) -> OrderRejected:
    """An operator command's refusal: nothing changed."""
    return OrderRejected(c.seq, c.ts, c.account, reason, text)
