"""The engine with pre-trade risk under random flow: money is conserved and holds are exact.

Two symbols (a tier-1 and a tier-2 band), four traders on different fee tiers
(zero, standard, high, and maker-above-taker with an order-notional and an
open-order limit) and small balances, so insufficient-funds and price-band
rejects happen all the time next to fills. The flow covers every order type
and time in force, post-only, amends, replaces, the three ways to cancel,
cancel-all, deposits, withdrawals (some above what is available), the kill
switch, reference price moves (bands move with them), the dead man's switch
and timers.

After every command the harness checks, from the events alone where it can:

(a) ``engine.check_invariants()`` (books and risk);
(b) for every asset, the sum of all balances equals the deposits less the
    withdrawals the test saw in ``FundsDeposited`` / ``FundsWithdrawn``, and
    every account's balance equals what the events say it should be;
(c) every open order holds exactly what it can still need (a sell its base
    leaves, a buy ``Pair.buy_hold`` of its fills so far, a cash-sized buy its
    budget left), and every account's holds are the sum of its orders';
(d) no balance and no available amount is negative (the fee account too);
(e) a rejected command (one ``OrderRejected`` and nothing else) changed no
    state at all;
(f) every trade moves ``quote_qty >= 0``, no fee below -1, and each order's
    total paid (buyer) or received (seller) is the exact cumulative total of
    its fills rounded in the venue's favour (a cash-sized buy within budget);

and also that the events account for every open order and its leaves
(accepted qty, less fills, until a cancel or expiry of exactly what is
left), that a killed account has nothing open, and the open-order limits.
Withdrawals sometimes sweep the fee account, whose rounding reserve must
keep it from going negative.

Driven by a hypothesis state machine and by a long seeded run; both replay
their command log into a fresh engine at the end (same events, same hash).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any, TypeVar

import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from engine.calendar import eastern_to_utc_ns
from engine.engine import Engine
from engine.events import (
    AuctionUncrossed,
    BalanceRebased,
    CorporateActionApplied,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    KillSwitchSet,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    PhaseChanged,
    ReferencePriceSet,
    TradeExecuted,
)
from model.commands import (
    AmendOrder,
    BatchOrder,
    CancelAll,
    CancelAllAfter,
    CancelOrder,
    Command,
    CorporateAction,
    Deposit,
    Halt,
    NewOrder,
    OrderType,
    ReplaceOrder,
    Resume,
    RunTimers,
    SetKillSwitch,
    SetReferencePrice,
    Side,
    StpType,
    TimeInForce,
    Withdraw,
)
from model.order import Order
from risk.accounts import AccountSpec, FeeTier
from risk.money import Asset
from risk.risk import Risk
from tests.builders import Driver, instrument, risk_for
from tests.property.choosers import Chooser, DrawChooser, run_mix, step

# ------------------------------------------------------------------ the venue

AAPL, TSLA = "AAPLx/USD", "TSLAx/USD"
SYMBOLS = (AAPL, TSLA)
BASE_REFERENCE = {AAPL: 10_000, TSLA: 2_500}  # $100.00 and $25.00
INSTRUMENTS = (
    instrument(AAPL, reference_price=BASE_REFERENCE[AAPL]),
    instrument(
        TSLA, reference_price=BASE_REFERENCE[TSLA], tier=2, qty_min=2, qty_max=5_000, cost_min=25
    ),
)
ASSETS = (Asset("USD", 2), Asset("AAPLx", 8), Asset("TSLAx", 8))
ASSET_IDS = tuple(a.id for a in ASSETS)
PRECISION = {a.id: a.precision for a in ASSETS}
FEES = "fees"
TIERS = {
    "alice": FeeTier("zero", 0, 0),
    "bob": FeeTier("standard", 10, 25),
    "carol": FeeTier("high", 30, 50),
    "dave": FeeTier("maker-heavy", 5, 0),
}
TRADERS = tuple(TIERS)
DAVE_NOTIONAL = 2_000  # cents
DAVE_OPEN_ORDERS = 6
BPS = 10_000
MAX_BPS = {a: max(t.maker_bps, t.taker_bps) for a, t in TIERS.items()}
INST = {i.symbol: i for i in INSTRUMENTS}
# One tick times one lot in quote units, and one lot in base units: computed
# here from the instrument, not taken from risk.money.
SCALE = {
    i.symbol: Fraction(i.price_increment) * Fraction(i.qty_increment) * 10 ** PRECISION[i.quote]
    for i in INSTRUMENTS
}
LOT_UNITS = {
    i.symbol: int(Fraction(i.qty_increment) * 10 ** PRECISION[i.base]) for i in INSTRUMENTS
}
START_QUOTE = 20_000  # $200 per trader
START_LOTS = {AAPL: 2_000, TSLA: 4_000}
CLIDS = ("k1", "k2", "k3", "k4")
SIDES: tuple[Side, ...] = ("buy", "sell")
STPS: tuple[StpType, ...] = ("cancel_newest", "cancel_oldest", "cancel_both")
STOP_KINDS: tuple[OrderType, ...] = (
    "stop-loss",
    "stop-loss-limit",
    "take-profit",
    "take-profit-limit",
)
TIFS: tuple[TimeInForce, ...] = ("gtc", "gtc", "ioc", "fok", "gtd", "day")
RESTING_TIFS: tuple[TimeInForce, ...] = ("gtc", "gtd", "day")
TAKING_TIFS: tuple[TimeInForce, ...] = ("gtc", "ioc", "fok")
TICK = 1_000  # nanoseconds between two commands
BAND_BPS = {1: 500, 2: 1_000}  # band half-width per tier, regular session (MARKET_RULES 3)
MAX_OPEN = {a: DAVE_OPEN_ORDERS if a == "dave" else 500 for a in TRADERS}


def band(symbol: str, reference: int, bps: int | None = None) -> tuple[int, int]:
    """The band edges around ``reference``, rounded inward to the tick (MARKET_RULES 4).

    ``bps`` is the half-width in force (the tier's regular band by default).
    """
    if bps is None:
        bps = BAND_BPS[INST[symbol].tier]
    low = math.ceil(Fraction(reference * (BPS - bps), BPS))
    return low, math.floor(Fraction(reference * (BPS + bps), BPS))


def make_risk() -> Risk:
    specs = [AccountSpec(id=a, fee_tier=t) for a, t in TIERS.items() if a != "dave"]
    specs.append(
        AccountSpec(
            id="dave",
            fee_tier=TIERS["dave"],
            max_order_notional=DAVE_NOTIONAL,
            max_open_orders=DAVE_OPEN_ORDERS,
        )
    )
    return Risk(ASSETS, INSTRUMENTS, specs, fee_account=FEES)


def make_engine(start_ts: int | None = None) -> Engine:
    return Engine(INSTRUMENTS, make_risk(), start_ts)


# --------------------------------------------------------------- choosers

T = TypeVar("T")


# ----------------------------------------------------------------- harness


@dataclass
class Fills:
    """One order's fills as the trade events report them."""

    cost: int = 0  # sum of price x qty (ticks x lots)
    fee: int = 0  # sum of price x qty x the bps of its role in each fill
    paid: int = 0  # buyer: sum of quote_qty + its fee
    received: int = 0  # seller: sum of quote_qty - its fee
    lots: int = 0


def _is_reject(events: list[Event]) -> bool:
    return len(events) == 1 and isinstance(events[0], OrderRejected)


def _reject_reason(events: list[Event]) -> str | None:
    """The reason of a rejected command; None if it was not rejected."""
    first = events[0] if len(events) == 1 else None
    return first.reason if isinstance(first, OrderRejected) else None


class Harness:
    """One engine with risk, its command log, and a money ledger kept from events only."""

    def __init__(self, start_ts: int | None = None) -> None:
        self.start_ts = start_ts
        self.engine = make_engine(start_ts)
        assert self.engine.risk is not None
        self.risk: Risk = self.engine.risk
        self.seq = 0
        self.now = start_ts or 0
        self.log: list[tuple[Command, list[Event]]] = []
        self.ledger: dict[tuple[str, str], int] = {}
        self.net: dict[str, int] = dict.fromkeys(ASSET_IDS, 0)
        self.fills: dict[int, Fills] = {}
        self.cash: dict[int, int] = {}  # cash-sized market buys: order id -> budget
        self.ids: list[int] = []
        self.owner: dict[int, str] = {}
        self.reference = dict(BASE_REFERENCE)  # from ReferencePriceSet events
        self.killed: set[str] = set()  # from KillSwitchSet events
        self.band_bps: dict[str, int] = {}  # from PhaseChanged events
        self.leaves: dict[int, int] = {}  # open orders and their leaves, from events
        for account in TRADERS:
            self.apply(Deposit(*self.stamp(), account, "USD", START_QUOTE))
            for symbol in SYMBOLS:
                lots = START_LOTS[symbol]
                base = INST[symbol].base
                self.apply(Deposit(*self.stamp(), account, base, lots * LOT_UNITS[symbol]))

    def stamp(self) -> tuple[int, int]:
        return self.seq + 1, self.now + TICK

    def open_orders(self) -> list[Order]:
        return sorted(self.engine.orders.values(), key=lambda o: o.order_id)

    # ------------------------------------------------------------- apply

    def apply(self, cmd: Command) -> list[Event]:
        engine = self.engine
        before = engine.canonical_state()
        balances = self.balances()
        events = engine.process(cmd)
        self.seq = cmd.seq
        self.now = max(self.now, cmd.ts)
        self.log.append((cmd, events))
        for ev in events:
            self.see(ev)
        # (e) a rejected command left no trace
        if _is_reject(events):
            after = engine.canonical_state()
            # (the seq aside, and the parts of a batch it consumed)
            same = after[1:-1] == before[1:-1]
            assert same, self.explain(f"rejected {cmd!r} changed the state")
            assert self.balances() == balances, self.explain("a rejected command moved money")
        self.check(cmd)
        return events

    def balances(self) -> dict[tuple[str, str], int]:
        return {
            (a.id, asset): units
            for a in self.risk.accounts.values()
            for asset, units in a.balance.items()
        }

    def see(self, ev: Event) -> None:
        """Book one event into the test's own ledger and per-order fill totals."""
        if isinstance(ev, FundsDeposited | FundsWithdrawn):
            sign = 1 if isinstance(ev, FundsDeposited) else -1
            key = (ev.account, ev.asset)
            self.ledger[key] = self.ledger.get(key, 0) + sign * ev.amount
            self.net[ev.asset] += sign * ev.amount
            assert ev.amount > 0, self.explain(f"funding event with amount {ev.amount}")
            assert ev.balance == self.ledger[key], self.explain(f"{ev!r}: balance differs")
        elif isinstance(ev, OrderAccepted):
            self.ids.append(ev.order_id)
            self.owner[ev.order_id] = ev.order.account
            self.leaves[ev.order_id] = ev.order.qty
            if ev.order.cash_qty is not None:
                self.cash[ev.order_id] = ev.order.cash_qty
        elif isinstance(ev, TradeExecuted):
            self.see_trade(ev)
        elif isinstance(ev, OrderCancelled | OrderExpired):
            open_lots = self.leaves.pop(ev.order_id, None)
            assert open_lots == ev.leaves, self.explain(f"{ev!r}: {open_lots} were open")
        elif isinstance(ev, OrderAmended):
            assert ev.order_id in self.leaves, self.explain(f"{ev!r}: not open")
            self.leaves[ev.order_id] = ev.leaves
        elif isinstance(ev, KillSwitchSet):
            if ev.enabled:
                self.killed.add(ev.account)
            else:
                self.killed.discard(ev.account)
        elif isinstance(ev, ReferencePriceSet):
            self.reference[ev.symbol] = ev.price
            edges = band(ev.symbol, ev.price, self.band_bps.get(ev.symbol))
            assert (ev.low, ev.high) == edges, self.explain(f"{ev!r}: band")
        elif isinstance(ev, BalanceRebased):
            # A corporate action: the balance is what the event says, and the
            # asset's total moves with it (the dust is the rounding).
            key = (ev.account, ev.asset)
            assert self.ledger.get(key, 0) == ev.before, self.explain(f"{ev!r}: before")
            self.ledger[key] = ev.after
            self.net[ev.asset] += ev.after - ev.before
        elif isinstance(ev, PhaseChanged) and ev.band_bps is not None:
            # A halt keeps the last band; a call has its own, then back to the tier's.
            self.band_bps[ev.symbol] = ev.band_bps

    def see_trade(self, ev: TradeExecuted) -> None:
        """(f): the money on a trade event against the exact cumulative totals."""
        symbol = ev.symbol
        scale = SCALE[symbol]
        pair = self.risk.markets[symbol].pair
        quote, base = INST[symbol].quote, INST[symbol].base
        assert ev.quote_qty >= 0, self.explain(f"{ev!r}: negative quote_qty")
        assert ev.taker_fee >= -1 and ev.maker_fee >= -1, self.explain(f"{ev!r}: fee below -1")
        assert ev.taker_fee + ev.maker_fee >= -1, self.explain(f"{ev!r}: fees below -1")
        assert ev.taker_account != ev.maker_account, self.explain(f"{ev!r}: self-trade")
        if ev.taker_side == "buy":
            buyer_id, buyer, buyer_fee = ev.taker_order_id, ev.taker_account, ev.taker_fee
            seller_id, seller, seller_fee = ev.maker_order_id, ev.maker_account, ev.maker_fee
            buyer_bps, seller_bps = TIERS[buyer].taker_bps, TIERS[seller].maker_bps
        else:
            buyer_id, buyer, buyer_fee = ev.maker_order_id, ev.maker_account, ev.maker_fee
            seller_id, seller, seller_fee = ev.taker_order_id, ev.taker_account, ev.taker_fee
            buyer_bps, seller_bps = TIERS[buyer].maker_bps, TIERS[seller].taker_bps
        for order_id, left in (
            (ev.taker_order_id, ev.taker_leaves),
            (ev.maker_order_id, ev.maker_leaves),
        ):
            open_lots = self.leaves.get(order_id)
            assert open_lots == left + ev.qty, self.explain(f"{ev!r}: {open_lots} were open")
            if left:
                self.leaves[order_id] = left
            else:
                del self.leaves[order_id]
        worth = ev.price * ev.qty
        b = self.fills.setdefault(buyer_id, Fills())
        b.cost += worth
        b.fee += worth * buyer_bps
        b.paid += ev.quote_qty + buyer_fee
        b.lots += ev.qty
        exact_paid = (b.cost + Fraction(b.fee, BPS)) * scale
        assert b.paid == math.ceil(exact_paid) == pair.paid(b.cost, b.fee), self.explain(
            f"{ev!r}: buyer order {buyer_id} paid {b.paid}, exact {exact_paid}"
        )
        if buyer_id in self.cash:
            budget = self.cash[buyer_id]
            assert b.paid <= budget, self.explain(f"cash buy {buyer_id}: {b.paid} > {budget}")
        s = self.fills.setdefault(seller_id, Fills())
        s.cost += worth
        s.fee += worth * seller_bps
        s.received += ev.quote_qty - seller_fee
        s.lots += ev.qty
        exact_got = (s.cost - Fraction(s.fee, BPS)) * scale
        assert s.received == math.floor(exact_got) == pair.received(s.cost, s.fee), self.explain(
            f"{ev!r}: seller order {seller_id} received {s.received}, exact {exact_got}"
        )
        units = ev.qty * LOT_UNITS[symbol]
        led = self.ledger
        led[buyer, quote] = led.get((buyer, quote), 0) - ev.quote_qty - buyer_fee
        led[buyer, base] = led.get((buyer, base), 0) + units
        led[seller, quote] = led.get((seller, quote), 0) + ev.quote_qty - seller_fee
        led[seller, base] = led.get((seller, base), 0) - units
        led[FEES, quote] = led.get((FEES, quote), 0) + ev.taker_fee + ev.maker_fee

    # ------------------------------------------------------------- checks

    def check(self, cmd: Command) -> None:
        engine, risk = self.engine, self.risk
        # (a)
        engine.check_invariants()
        accounts = risk.accounts
        # (b) conservation against the test's own deposit/withdrawal totals,
        # and every balance against the ledger kept from the events
        for asset in ASSET_IDS:
            total = sum(a.balance.get(asset, 0) for a in accounts.values())
            assert total == self.net[asset], self.explain(
                f"after {cmd!r}: {asset} balances sum to {total}, net deposits {self.net[asset]}"
            )
            for a in accounts.values():
                want = self.ledger.get((a.id, asset), 0)
                got = a.balance.get(asset, 0)
                assert got == want, self.explain(
                    f"after {cmd!r}: {a.id} {asset} balance {got}, events say {want}"
                )
        # (c) holds are exactly what open orders need
        needs: dict[tuple[str, str], int] = {}
        open_count: dict[str, int] = {}
        for order in engine.orders.values():
            symbol = order.symbol
            inst = INST[symbol]
            leaves = order.shown + order.hidden
            f = self.fills.get(order.order_id, Fills())
            assert (order.cost, order.fee, order.filled) == (f.cost, f.fee, f.lots), self.explain(
                f"after {cmd!r}: {order!r} disagrees with its trades {f!r}"
            )
            if order.side == "sell":
                asset, want = inst.base, leaves * LOT_UNITS[symbol]
            elif order.cash_qty:
                asset, want = inst.quote, order.cash_qty - f.paid
            else:
                asset = inst.quote
                want = risk.markets[symbol].pair.buy_hold(
                    f.cost, f.fee, order.price, leaves, MAX_BPS[order.account]
                )
            assert order.hold == want, self.explain(f"after {cmd!r}: {order!r} needs {want}")
            key = (order.account, asset)
            needs[key] = needs.get(key, 0) + want
            open_count[order.account] = open_count.get(order.account, 0) + 1
        for a in accounts.values():
            for asset in ASSET_IDS:
                held = a.held.get(asset, 0)
                need = needs.get((a.id, asset), 0)
                assert held == need, self.explain(
                    f"after {cmd!r}: {a.id} holds {held} {asset}, its orders need {need}"
                )
                # (d)
                balance = a.balance.get(asset, 0)
                assert balance >= 0 and balance - held >= 0, self.explain(
                    f"after {cmd!r}: {a.id} {asset} balance {balance}, held {held}"
                )
        # the events account for every open order and its leaves
        live = {o.order_id: o.shown + o.hidden for o in engine.orders.values()}
        assert live == self.leaves, self.explain(
            f"after {cmd!r}: open {live}, events {self.leaves}"
        )
        # account controls: a killed account has nothing open, limits hold,
        # and the fee account never trades
        for account, count in open_count.items():
            assert account not in self.killed, self.explain(f"killed {account} has open orders")
            assert count <= MAX_OPEN.get(account, 0), self.explain(
                f"{account}: {count} open orders"
            )

    def explain(self, what: str) -> str:
        lines = [f"  {c!r}\n    -> {e!r}" for c, e in self.log[-40:]]
        return "\n".join([what, "last commands:", *lines])

    def check_replay(self) -> None:
        """A fresh engine fed the same log gives the same events and state hash."""
        fresh = make_engine(self.start_ts)
        for cmd, events in self.log:
            assert fresh.process(cmd) == events, f"replay differs at {cmd!r}"
            fresh.check_invariants()  # the same reads as the live run
        assert fresh.state_hash() == self.engine.state_hash()
        assert fresh.canonical_state() == self.engine.canonical_state()


# ------------------------------------------------------------- generators

Generator = Callable[[Harness, Chooser], Command]


def _symbol(ch: Chooser) -> str:
    return ch.pick(SYMBOLS)


def _price(h: Harness, ch: Chooser, symbol: str, side: str | None = None) -> int:
    """Around the current reference: both sides of each band edge, and the edges themselves.

    With ``side``, mostly on that side's own half (so books build depth).
    """
    ref = h.reference[symbol]
    if ch.chance(15):
        low, high = band(symbol, ref)
        return max(1, ch.pick((low, high)) + ch.number(-1, 1))
    step = max(1, ref * BAND_BPS[INST[symbol].tier] // (5 * BPS))  # a fifth of the band
    jitter = ch.number(-3, 3) if ch.chance(30) else 0
    lo, hi = -7, 7
    if side is not None and h.engine.sessions[symbol].phase == "auction" and ch.chance(50):
        # In a call, often across the middle, so the uncross has something to trade.
        lo, hi = (0, 3) if side == "buy" else (-3, 0)
    elif side is not None and ch.chance(60):
        lo, hi = (-7, 1) if side == "buy" else (-1, 7)
    return max(1, ref + ch.number(lo, hi) * step + jitter)


def _qty(ch: Chooser) -> int:
    return ch.number(1, 20) if ch.chance(15) else ch.number(20, 1_200)


def _account(ch: Chooser) -> str:
    return ch.pick(TRADERS)


def _expiry(ch: Chooser, tif: str, ts: int) -> int | None:
    return ts + ch.number(1, 300) * TICK if tif in ("gtd", "day") else None


def _tags(ch: Chooser) -> dict[str, Any]:
    return {
        "cl_ord_id": ch.pick(CLIDS) if ch.chance(30) else None,
        "userref": ch.number(1, 3) if ch.chance(30) else None,
        "stp": ch.pick(STPS),
    }


def gen_limit(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    symbol, side, tif = _symbol(ch), ch.pick(SIDES), ch.pick(TIFS)
    return NewOrder(
        seq,
        ts,
        _account(ch),
        symbol,
        side,
        _qty(ch),
        _price(h, ch, symbol, side),
        tif=tif,
        expire_ts=_expiry(ch, tif, ts),
        post_only=tif in ("gtc", "gtd", "day") and ch.chance(15),
        **_tags(ch),
    )


def gen_market(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    symbol = _symbol(ch)
    protection = _price(h, ch, symbol) if ch.chance(40) else None
    tif = ch.pick(TAKING_TIFS)
    side = ch.pick(SIDES)
    return NewOrder(
        seq, ts, _account(ch), symbol, side, _qty(ch), protection, "market", tif, **_tags(ch)
    )


def gen_cash_market(h: Harness, ch: Chooser) -> Command:
    """A market buy sized by what it may spend (rarely a sell: a command error, skipped)."""
    seq, ts = h.stamp()
    symbol = _symbol(ch)
    protection = _price(h, ch, symbol) if ch.chance(30) else None
    side: Side = "sell" if ch.chance(3) else "buy"
    return NewOrder(
        seq,
        ts,
        _account(ch),
        symbol,
        side,
        ch.number(1, 6_000),
        protection,
        "market",
        ch.pick(TAKING_TIFS),
        cash_qty=ch.number(1, 6_000),
        **_tags(ch),
    )


def gen_iceberg(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    symbol, side, tif = _symbol(ch), ch.pick(SIDES), ch.pick(RESTING_TIFS)
    qty = max(2, _qty(ch))
    return NewOrder(
        seq,
        ts,
        _account(ch),
        symbol,
        side,
        qty,
        _price(h, ch, symbol, side),
        "iceberg",
        tif,
        expire_ts=_expiry(ch, tif, ts),
        post_only=ch.chance(15),
        display_qty=ch.number(1, min(qty - 1, 800)),
        **_tags(ch),
    )


def gen_stop(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    symbol, kind, tif = _symbol(ch), ch.pick(STOP_KINDS), ch.pick(TIFS)
    price = _price(h, ch, symbol) if kind.endswith("-limit") or ch.chance(40) else None
    return NewOrder(
        seq,
        ts,
        _account(ch),
        symbol,
        ch.pick(SIDES),
        _qty(ch),
        price,
        kind,
        tif,
        expire_ts=_expiry(ch, tif, ts),
        trigger_price=_price(h, ch, symbol),
        **_tags(ch),
    )


def _target(h: Harness, ch: Chooser) -> tuple[int, Order | None]:
    """An order to act on: mostly an open one, sometimes a closed or never-seen id."""
    open_orders = h.open_orders()
    if open_orders and ch.chance(85):
        order = ch.pick(open_orders)
        return order.order_id, order
    if h.ids and ch.chance(80):
        return ch.pick(h.ids), None
    return h.seq + 1_000, None


def _owner(h: Harness, ch: Chooser, order_id: int) -> str:
    owner = h.owner.get(order_id)
    return owner if owner is not None and ch.chance(92) else _account(ch)


def gen_cancel(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    order_id, order = _target(h, ch)
    account = _owner(h, ch, order_id)
    how = ch.pick(("order_id", "cl_ord_id", "userref"))
    if how == "cl_ord_id":
        clid = order.cl_ord_id if order is not None and ch.chance(85) else None
        return CancelOrder(seq, ts, account, cl_ord_id=clid or ch.pick(CLIDS))
    if how == "userref":
        ref = order.userref if order is not None and ch.chance(85) else None
        return CancelOrder(seq, ts, account, userref=ref or ch.number(1, 3))
    return CancelOrder(seq, ts, account, order_id=order_id)


def _changes(h: Harness, ch: Chooser, order: Order | None) -> dict[str, Any]:
    """New qty / price / display / trigger for an amend or a replace of ``order``."""
    qty = order.qty if order is not None else 500
    symbol = order.symbol if order is not None else _symbol(ch)
    iceberg = order is not None and order.order_type == "iceberg"
    stop = order is not None and order.stop
    how = ch.pick(("same", "down", "up", "up", "any"))
    return {
        "qty": {
            "same": None,
            "down": max(1, qty - ch.number(1, max(1, qty // 2))),
            "up": qty + ch.number(1, 2_000),
            "any": ch.number(1, 6_000),
        }[how],
        "price": _price(h, ch, symbol) if ch.chance(45) else None,
        "display_qty": ch.number(1, 800) if ch.chance(40 if iceberg else 3) else None,
        "trigger_price": _price(h, ch, symbol) if ch.chance(50 if stop else 3) else None,
    }


def _named(ch: Chooser, order_id: int, order: Order | None) -> dict[str, Any]:
    if order is not None and order.cl_ord_id is not None and ch.chance(40):
        return {"cl_ord_id": order.cl_ord_id}
    if ch.chance(4):
        return {"cl_ord_id": ch.pick(CLIDS)}
    return {"order_id": order_id}


def gen_amend(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    order_id, order = _target(h, ch)
    return AmendOrder(
        seq,
        ts,
        _owner(h, ch, order_id),
        **_named(ch, order_id, order),
        **_changes(h, ch, order),
        post_only=ch.chance(15),
    )


def gen_replace(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    order_id, order = _target(h, ch)
    return ReplaceOrder(
        seq,
        ts,
        _owner(h, ch, order_id),
        **_named(ch, order_id, order),
        **_changes(h, ch, order),
        post_only=ch.pick((None, None, False, True)),
        new_cl_ord_id=ch.pick(CLIDS) if ch.chance(25) else None,
        userref=ch.number(1, 3) if ch.chance(20) else None,
    )


def gen_cancel_all(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    return CancelAll(seq, ts, _account(ch), ch.pick((None, *SYMBOLS)))


def gen_timers(h: Harness, ch: Chooser) -> Command:
    """Time passes: a tick, a jump, or (as the sequencer does) the next timer's instant."""
    seq, ts = h.stamp()
    due = h.engine.next_timer()
    if due is not None and ch.chance(60):
        ts = max(ts, due)
    elif ch.chance(30):
        ts += ch.number(1, 40) * TICK
    return RunTimers(seq, ts)


def gen_deposit(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    account = ch.pick((FEES, "mallory")) if ch.chance(6) else _account(ch)
    asset = ch.pick((*ASSET_IDS, "USD", "GME"))
    if asset == "USD":
        amount = ch.number(1, 8_000)
    else:
        amount = ch.number(1, 2_000) * 10_000 + (ch.number(1, 9_999) if ch.chance(20) else 0)
    if ch.chance(3):
        amount = ch.pick((0, -5))
    return Deposit(seq, ts, account, asset, amount)


def gen_withdraw(h: Harness, ch: Chooser) -> Command:
    """Withdraw all that is available, more than that, part of it, or any amount.

    Sometimes from the fee account, whose rounding reserve must keep it from
    ever going negative.
    """
    seq, ts = h.stamp()
    if ch.chance(15):
        account = FEES
    else:
        account = ch.pick((*TRADERS, "mallory")) if ch.chance(5) else _account(ch)
    asset = ch.pick((*ASSET_IDS, "USD"))
    acct = h.risk.accounts.get(account)
    available = acct.available(asset) if acct is not None else 0
    how = ch.pick(("all", "above", "part", "any", "zero"))
    amount = {
        "all": available,
        "above": available + ch.number(1, 100),
        "part": ch.number(1, max(1, available)),
        "any": ch.number(1, 30_000),
        "zero": 0,  # refused when the command is built (CommandError), so skipped
    }[how]
    if how != "zero":
        amount = max(1, amount)
    return Withdraw(seq, ts, account, asset, amount)


def gen_kill_switch(h: Harness, ch: Chooser) -> Command:
    """Mostly lift a switch that is on (so accounts trade most of the time), else flip one."""
    seq, ts = h.stamp()
    killed = sorted(a.id for a in h.risk.accounts.values() if a.killed)
    if killed and ch.chance(85):
        return SetKillSwitch(seq, ts, ch.pick(killed), False)
    account = "mallory" if ch.chance(3) else _account(ch)
    return SetKillSwitch(seq, ts, account, ch.chance(60))


def gen_reference(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    symbol = _symbol(ch)
    price = BASE_REFERENCE[symbol] * (100 + ch.number(-6, 6)) // 100
    if ch.chance(40):
        price += ch.number(-9, 9)
    return SetReferencePrice(seq, ts, "ops", symbol, price)


def gen_dead_man(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    account = "mallory" if ch.chance(3) else _account(ch)
    timeout = 0 if ch.chance(40) else ch.number(1, 120) * TICK
    return CancelAllAfter(seq, ts, account, timeout)


def gen_halt(h: Harness, ch: Chooser) -> Command:
    """Halt a symbol (a halted one now and then: refused)."""
    seq, ts = h.stamp()
    return Halt(seq, ts, "ops", _symbol(ch), "test")


def gen_resume(h: Harness, ch: Chooser) -> Command:
    """Resume a halted symbol with a call (uncrossed by a later RunTimers) or at once."""
    seq, ts = h.stamp()
    halted = sorted(s for s, x in h.engine.sessions.items() if x.phase == "halted")
    symbol = ch.pick(halted) if halted and ch.chance(90) else _symbol(ch)
    auction = 0 if ch.chance(40) else ch.number(1, 30) * TICK
    return Resume(seq, ts, "ops", symbol, auction)


def gen_corporate(h: Harness, ch: Chooser) -> Command:
    """A split, a reverse split or a rebasing dividend, now or a little later."""
    seq, ts = h.stamp()
    kind = ch.pick(("split", "dividend"))
    if kind == "split":
        num, den = ch.pick(((3, 2), (2, 1), (1, 3), (7, 10)))
    else:
        num, den = ch.pick(((51, 50), (1_000_271, 1_000_000)))
    at = None if ch.chance(50) else ts + ch.number(1, 20) * TICK
    return CorporateAction(seq, ts, "ops", _symbol(ch), kind, num, den, at)  # type: ignore[arg-type]


def gen_batch(h: Harness, ch: Chooser) -> Command:
    """An all-or-nothing batch of 2 to 4 orders of one account in one symbol.

    Every part but the last is applied here (each must cause nothing); the
    last is returned, and with it the batch is checked and placed or refused.
    """
    parts = ch.number(2, 4)
    kinds = (gen_limit, gen_limit, gen_iceberg, gen_stop, gen_market)
    orders = [msgspec.structs.asdict(ch.pick(kinds)(h, ch)) for _ in range(parts)]
    seq, ts = h.stamp()
    first = orders[0]
    same = {"ts": ts, "account": first["account"], "symbol": first["symbol"]}
    built = [
        BatchOrder(**{**o, **same, "seq": seq + i}, part=i, parts=parts)
        for i, o in enumerate(orders)
    ]
    for part in built[:-1]:
        assert h.apply(part) == [], h.explain(f"{part!r}: a part caused events")
    return built[-1]


MIX: tuple[tuple[Generator, int], ...] = (
    (gen_limit, 30),
    (gen_batch, 3),
    (gen_market, 5),
    (gen_cash_market, 4),
    (gen_iceberg, 7),
    (gen_stop, 9),
    (gen_cancel, 7),
    (gen_amend, 11),
    (gen_replace, 7),
    (gen_cancel_all, 1),
    (gen_timers, 4),
    (gen_deposit, 6),
    (gen_withdraw, 3),
    (gen_kill_switch, 3),
    (gen_reference, 3),
    (gen_dead_man, 2),
    (gen_halt, 1),
    (gen_resume, 2),
    (gen_corporate, 1),
)


def random_run(seed: int, commands: int) -> Harness:
    return run_mix(Harness(), MIX, seed, commands)


# ------------------------------------------------------------- the machine


class RiskMachine(RuleBasedStateMachine):
    """One rule per command kind; limit orders three times, as most of the traffic."""

    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()

    def _step(self, gen: Generator, data: st.DataObject) -> None:
        step(self.h, gen, DrawChooser(data))

    @rule(data=st.data())
    def limit(self, data: st.DataObject) -> None:
        self._step(gen_limit, data)

    @rule(data=st.data())
    def limit_again(self, data: st.DataObject) -> None:
        self._step(gen_limit, data)

    @rule(data=st.data())
    def limit_once_more(self, data: st.DataObject) -> None:
        self._step(gen_limit, data)

    @rule(data=st.data())
    def batch(self, data: st.DataObject) -> None:
        self._step(gen_batch, data)

    @rule(data=st.data())
    def market(self, data: st.DataObject) -> None:
        self._step(gen_market, data)

    @rule(data=st.data())
    def cash_market(self, data: st.DataObject) -> None:
        self._step(gen_cash_market, data)

    @rule(data=st.data())
    def iceberg(self, data: st.DataObject) -> None:
        self._step(gen_iceberg, data)

    @rule(data=st.data())
    def stop(self, data: st.DataObject) -> None:
        self._step(gen_stop, data)

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        self._step(gen_cancel, data)

    @rule(data=st.data())
    def amend(self, data: st.DataObject) -> None:
        self._step(gen_amend, data)

    @rule(data=st.data())
    def replace(self, data: st.DataObject) -> None:
        self._step(gen_replace, data)

    @rule(data=st.data())
    def cancel_all(self, data: st.DataObject) -> None:
        self._step(gen_cancel_all, data)

    @rule(data=st.data())
    def timers(self, data: st.DataObject) -> None:
        self._step(gen_timers, data)

    @rule(data=st.data())
    def deposit(self, data: st.DataObject) -> None:
        self._step(gen_deposit, data)

    @rule(data=st.data())
    def withdraw(self, data: st.DataObject) -> None:
        self._step(gen_withdraw, data)

    @rule(data=st.data())
    def kill_switch(self, data: st.DataObject) -> None:
        self._step(gen_kill_switch, data)

    @rule(data=st.data())
    def reference(self, data: st.DataObject) -> None:
        self._step(gen_reference, data)

    @rule(data=st.data())
    def dead_man(self, data: st.DataObject) -> None:
        self._step(gen_dead_man, data)

    @rule(data=st.data())
    def halt(self, data: st.DataObject) -> None:
        self._step(gen_halt, data)

    @rule(data=st.data())
    def resume(self, data: st.DataObject) -> None:
        self._step(gen_resume, data)

    @rule(data=st.data())
    def corporate(self, data: st.DataObject) -> None:
        self._step(gen_corporate, data)

    def teardown(self) -> None:
        self.h.check_replay()


TestRiskMachine = RiskMachine.TestCase
TestRiskMachine.settings = settings(
    max_examples=120,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ------------------------------------------------------------ seeded runs


def covered(h: Harness) -> set[str]:
    """What a command log exercised, as words (to catch a generator that stopped reaching it)."""
    seen: set[str] = set()
    for cmd, events in h.log:
        seen.update(type(e).__name__ for e in events)
        seen.update(f"{type(e).__name__}:{e.reason}" for e in events if hasattr(e, "reason"))
        seen.update(
            f"CorporateActionApplied:{e.kind}"
            for e in events
            if isinstance(e, CorporateActionApplied)
        )
        seen.update(f"kept:{e.priority_kept}" for e in events if isinstance(e, OrderAmended))
        trades = [e for e in events if isinstance(e, TradeExecuted)]
        for t in trades:
            seen.update({f"trade:{t.taker_account}", f"trade:{t.maker_account}"})
            if t.taker_fee < 0 or t.maker_fee < 0:
                seen.add("fee:-1")
        if any(isinstance(e, AuctionUncrossed) and e.volume for e in events):
            seen.add("auction:traded")
        name = type(cmd).__name__
        reason = _reject_reason(events)
        if reason is not None:
            seen.add(f"rejected:{name}:{reason}")
        if isinstance(cmd, Withdraw) and cmd.account == FEES:
            seen.add(f"fees:withdraw:{reason or 'done'}")
        if isinstance(cmd, NewOrder):
            seen.update({f"type:{cmd.order_type}", f"tif:{cmd.tif}"})
            if cmd.cash_qty is not None and trades:
                seen.add("cash:filled")
        elif isinstance(cmd, AmendOrder | ReplaceOrder) and trades:
            seen.add(f"{name}:traded")
        elif isinstance(cmd, CancelOrder) and not _is_reject(events):
            how = [k for k in ("order_id", "cl_ord_id", "userref") if getattr(cmd, k) is not None]
            seen.add(f"cancel_by:{how[0]}")
    return seen


REQUIRED = {
    *(f"type:{t}" for t in ("limit", "market", "iceberg", *STOP_KINDS)),
    *(f"tif:{t}" for t in ("gtc", "ioc", "fok", "gtd", "day")),
    *(f"trade:{a}" for a in TRADERS),
    *(f"cancel_by:{k}" for k in ("order_id", "cl_ord_id", "userref")),
    *(f"rejected:NewOrder:{r}" for r in ("insufficient_funds", "price_band", "cost_minimum")),
    *(f"rejected:NewOrder:{r}" for r in ("order_minimum", "invalid_arguments", "max_notional")),
    *(f"rejected:NewOrder:{r}" for r in ("orders_limit", "account_disabled", "post_only")),
    "rejected:NewOrder:duplicate_cl_ord_id",
    *(f"rejected:AmendOrder:{r}" for r in ("insufficient_funds", "price_band", "unknown_order")),
    "rejected:AmendOrder:max_notional",
    *(f"rejected:ReplaceOrder:{r}" for r in ("insufficient_funds", "price_band")),
    "rejected:Withdraw:insufficient_funds",
    "rejected:Deposit:unknown_account",
    *("OrderCancelled:" + r for r in ("user", "ioc_remainder", "fok_unfillable", "self_trade")),
    *("OrderCancelled:" + r for r in ("price_band", "replaced", "kill_switch", "dead_man_switch")),
    *("IcebergRefilled", "OrderTriggered", "OrderExpired", "FundsWithdrawn"),
    *("KillSwitchSet", "ReferencePriceSet", "DeadManSwitchSet", "kept:True", "kept:False"),
    *("cash:filled", "fee:-1", "AmendOrder:traded", "ReplaceOrder:traded"),
    *("fees:withdraw:done", "fees:withdraw:insufficient_funds"),
    *("PhaseChanged:resume", "PhaseChanged:uncross", "AuctionIndicated", "AuctionUncrossed"),
    *(f"rejected:NewOrder:{r}" for r in ("halted", "limit_only")),
    "rejected:AmendOrder:halted",
    "auction:traded",
    *("CorporateActionApplied:split", "CorporateActionApplied:dividend", "BalanceRebased"),
    "OrderCancelled:corporate_action",
}


def test_long_seeded_run_keeps_money_exact_and_replays() -> None:
    h = random_run(seed=20_250_301, commands=5_000)
    h.check_replay()
    missing = REQUIRED - covered(h)
    assert not missing, f"the generators no longer reach: {sorted(missing)}"
    trades = sum(isinstance(e, TradeExecuted) for _, events in h.log for e in events)
    funds = sum(_reject_reason(events) == "insufficient_funds" for _, events in h.log)
    assert trades > 300 and funds > 100, (trades, funds)


SCHEDULED = {
    *("PhaseChanged:schedule", "PhaseChanged:volatility", "PhaseChanged:uncross"),
    *("ReferencePriceSet", "OrderCancelled:halted", "auction:traded"),
    *(f"rejected:NewOrder:{r}" for r in ("limit_only", "halted", "insufficient_funds")),
}


def test_seeded_run_through_the_schedule_keeps_money_exact_and_replays() -> None:
    """From Friday 15:00 ET through the weekend into Monday: phases, pauses, calls."""
    start = eastern_to_utc_ns(date(2026, 11, 20), 15, 0)
    h = run_mix(Harness(start), MIX, seed=1, commands=5_000)
    h.check_replay()
    missing = SCHEDULED - covered(h)
    assert not missing, f"the generators no longer reach: {sorted(missing)}"


def test_replay_gives_identical_events_and_hash_at_every_step() -> None:
    log = [cmd for cmd, _ in random_run(seed=11, commands=800).log]
    first, second = make_engine(), make_engine()
    for cmd in log:
        assert first.process(cmd) == second.process(cmd)
        assert first.state_hash() == second.state_hash()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_short_seeded_runs_keep_money_exact_and_replay(seed: int) -> None:
    h = random_run(seed=seed, commands=600)
    h.check_replay()
    seen = covered(h)
    assert {"TradeExecuted", "rejected:NewOrder:insufficient_funds"} <= seen, sorted(seen)


# ------------------------------------------------------- targeted cases


def _zero_fee_risk() -> Risk:
    """AAPLx/USD at a 100.00 reference, accounts a to d all on a zero-fee tier."""
    inst = instrument(AAPL, reference_price=10_000)
    return risk_for([inst], ("a", "b", "c", "d"), FeeTier("zero", 0, 0))


def test_cash_sized_market_buy_accounts_for_its_whole_quantity() -> None:
    """Events are a command's complete effect: an order's fills plus what is cancelled is its qty.

    A market buy of 400 lots with a 1.00 USD budget buys 100 lots (the book
    has 500); the other 300 must be reported cancelled, not vanish with
    ``taker_leaves`` 0 (as they did at 0d5822b).
    """
    d = Driver(AAPL, risk=_zero_fee_risk(), reference_price=10_000)
    d.deposit("a", "USD", 100_000)
    d.deposit("b", "AAPLx", 1_000 * 10_000)
    d.new("b", "sell", 500, 10_000, symbol=AAPL)
    buy = d.next_seq
    events = d.new("a", "buy", 400, None, symbol=AAPL, order_type="market", cash_qty=100)
    filled = sum(e.qty for e in events if isinstance(e, TradeExecuted))
    assert filled == 100  # the budget buys exactly 100 lots at 1.00 USD
    cancelled = sum(e.leaves for e in events if isinstance(e, OrderCancelled) and e.order_id == buy)
    assert filled + cancelled == 400, events


def test_fee_account_never_goes_negative_after_a_withdrawal() -> None:
    """MARKET_RULES 6: one fill may move the fee account by -1; its balance never goes negative.

    Cumulative rounding makes the fee account's balance include what open
    orders' later fills can take back (-1 on one fill). At 0d5822b a
    withdrawal of the whole balance took that reserve too, and the next such
    fill drove the fee account to -1.
    """
    risk = _zero_fee_risk()
    d = Driver(AAPL, risk=risk, reference_price=10_000)
    for account in "abcd":
        d.deposit(account, "USD", 100_000)
        d.deposit(account, "AAPLx", 1_000 * 10_000)
    buy = d.next_seq
    d.new("a", "buy", 180, 10_005, symbol=AAPL)  # rests
    d.new("c", "sell", 60, 10_005, symbol=AAPL)  # a pays ceil(60.03) = 61, c gets 60
    d.new("b", "sell", 220, 10_050, symbol=AAPL)  # rests
    d.new("d", "buy", 100, 10_050, symbol=AAPL)  # d pays 101, b gets floor(100.5) = 100
    fees = risk.accounts[FEES]
    assert fees.balance["USD"] == 2
    d.withdraw(FEES, "USD", fees.balance["USD"])  # the operator sweeps the fees
    # a crosses b for 120 lots at 10 050: a pays 181 - 61 = 120, b gets 221 - 100 = 121
    trades = [e for e in d.amend("a", order_id=buy, price=10_050) if isinstance(e, TradeExecuted)]
    assert [(t.qty, t.quote_qty, t.taker_fee, t.maker_fee) for t in trades] == [(120, 120, 0, -1)]
    assert fees.balance["USD"] >= 0


def test_amend_cannot_raise_an_order_above_max_order_notional() -> None:
    """MARKET_RULES 6 lists max order notional among the order checks; an amend passes it too.

    A new order of the same size is rejected ``max_notional``; at 0d5822b
    amending a small order up to it was accepted, bypassing the limit.
    """
    risk = Risk(ASSETS, [INST[AAPL]], [AccountSpec(id="a", max_order_notional=1_000)], FEES)
    d = Driver(AAPL, risk=risk, reference_price=BASE_REFERENCE[AAPL])
    d.deposit("a", "USD", 1_000_000)
    small = d.next_seq
    assert isinstance(d.new("a", "buy", 500, 10_000, symbol=AAPL)[0], OrderAccepted)  # $5
    big = d.new("a", "buy", 5_000, 10_000, symbol=AAPL)  # $50: above the $10 limit
    assert _reject_reason(big) == "max_notional"
    amended = d.amend("a", order_id=small, qty=5_000)
    assert _reject_reason(amended) == "max_notional", amended
