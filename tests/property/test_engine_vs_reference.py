"""The engine against the reference engine, command by command.

Both get identical commands: two symbols, three accounts, prices in a band of
twelve ticks (so orders cross often) and quantities of 1..20 lots (so icebergs
refill and fills are partial). After every command the event lists must be
equal, the canonical views of the books equal, and the engine's invariants
hold. Driven twice: by a hypothesis state machine (shrinks a failure to a
short command list) and by a long seeded random run. Both also replay their
command log into a fresh engine, which must give the same events and
``state_hash`` (determinism).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from engine.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    CommandError,
    ExpireOrders,
    NewOrder,
    ReplaceOrder,
)
from engine.engine import Engine, SequenceError
from engine.events import Event, OrderAccepted, OrderCancelled, OrderRejected
from tests.builders import instrument
from tests.property.reference import Rec, Reference, engine_view, reference_view

SYMBOLS = ("AAPLx/USD", "TSLAx/USD")
UNLISTED = "NOPEx/USD"
ACCOUNTS = ("alice", "bob", "carol")
SIDES = ("buy", "sell")
LOW, HIGH = 95, 106  # twelve ticks
CLIDS = ("c1", "c2", "c3", "c4")
STPS = ("cancel_newest", "cancel_oldest", "cancel_both")
STOP_KINDS = ("stop-loss", "stop-loss-limit", "take-profit", "take-profit-limit")
TICK = 1_000  # nanoseconds between two commands

# Engine bug: a ReplaceOrder whose replacement breaks a new order's own rules
# (an iceberg whose leaves fell to its display_qty or below, a GTD order past
# its expire_ts, display_qty/trigger_price/post_only where the kind forbids
# them) makes Engine.process raise CommandError instead of returning an
# OrderRejected. While True, that raise is accepted where the reference
# rejects with invalid_arguments and the same text. See the xfail test below.
KNOWN_REPLACE_RAISES = True
# Engine bug: the plain-GTC-limit fast path of Engine.process (no cl_ord_id,
# userref or post_only) drops the order's stp, so it matches, and later
# amends, as cancel_newest. While True, such orders are generated with the
# default stp only. See the xfail test below.
KNOWN_FAST_PATH_DROPS_STP = True

T = TypeVar("T")


class Chooser(Protocol):
    """Where a command generator gets its choices: hypothesis data or a seeded Random."""

    def pick(self, options: Sequence[T]) -> T: ...

    def number(self, lo: int, hi: int) -> int: ...

    def chance(self, percent: int) -> bool: ...


class RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)

    def number(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def chance(self, percent: int) -> bool:
        return self.rng.randrange(100) < percent


_INTEGERS: dict[tuple[int, int], st.SearchStrategy[int]] = {}  # built once: drawing is hot


class DataChooser:
    """Draws from hypothesis; shrinks towards the first option, ``lo`` and False."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def pick(self, options: Sequence[T]) -> T:
        return options[self.number(0, len(options) - 1)]

    def number(self, lo: int, hi: int) -> int:
        strategy = _INTEGERS.get((lo, hi))
        if strategy is None:
            strategy = _INTEGERS[lo, hi] = st.integers(lo, hi)
        return self.data.draw(strategy)

    def chance(self, percent: int) -> bool:
        return self.number(0, 99) >= 100 - percent


# ---------------------------------------------------------------- the harness

Outcome = list[Event] | CommandError


def run_engine(engine: Engine, cmd: Command) -> Outcome:
    """``engine.process(cmd)``, or the CommandError of the known replace bug."""
    try:
        return engine.process(cmd)
    except CommandError as e:
        if KNOWN_REPLACE_RAISES and isinstance(cmd, ReplaceOrder):
            return e
        raise


def same_outcome(got: Outcome, want: list[Event]) -> bool:
    if isinstance(got, CommandError):  # the known bug: the reference must reject the same way
        return [(type(w), getattr(w, "reason", ""), getattr(w, "text", "")) for w in want] == [
            (OrderRejected, "invalid_arguments", str(got))
        ]
    return got == want


class Harness:
    """One engine and one reference fed the same commands, compared after each."""

    def __init__(self) -> None:
        self.engine = Engine([instrument(s) for s in SYMBOLS])
        self.ref = Reference(list(SYMBOLS))
        self.seq = 0
        self.now = 0
        self.log: list[tuple[Command, Outcome]] = []
        self.ids: list[int] = []  # every order id ever accepted
        self.owner: dict[int, str] = {}

    def stamp(self) -> tuple[int, int]:
        """``seq`` and ``ts`` for the next command."""
        return self.seq + 1, self.now + TICK

    def open_orders(self) -> list[Rec]:
        return self.ref.open_orders()

    def apply(self, cmd: Command) -> None:
        self.seq = cmd.seq
        self.now = max(self.now, cmd.ts)
        want = self.ref.process(cmd)
        got = run_engine(self.engine, cmd)
        self.log.append((cmd, got))
        assert same_outcome(got, want), self.explain(cmd, got, want)
        assert engine_view(self.engine) == reference_view(self.ref), self.explain(cmd, got, want)
        self.engine.check_invariants()
        assert self.engine.next_expiry() == self.ref.next_expiry(), self.explain(cmd, got, want)
        for ev in want:
            if isinstance(ev, OrderAccepted):
                self.ids.append(ev.order_id)
                self.owner[ev.order_id] = ev.account

    def explain(self, cmd: Command, got: Outcome, want: list[Event]) -> str:
        lines = [f"  {c!r}" for c, _ in self.log[-60:]]
        got_lines = [f"  {e!r}" for e in got] if isinstance(got, list) else [f"  raised {got!r}"]
        want_lines = [f"  {e!r}" for e in want]
        views = [f"engine view:    {engine_view(self.engine)!r}"]
        views.append(f"reference view: {reference_view(self.ref)!r}")
        head = ["commands (last 60):", *lines, f"failing: {cmd!r}"]
        return "\n".join([*head, "engine:", *got_lines, "reference:", *want_lines, *views])

    def check_replay(self) -> None:
        """A fresh engine fed the same log gives the same events and the same state_hash."""
        fresh = Engine([instrument(s) for s in SYMBOLS])
        for cmd, outcome in self.log:
            again = run_engine(fresh, cmd)
            if isinstance(outcome, CommandError):
                assert isinstance(again, CommandError) and str(again) == str(outcome)
            else:
                assert again == outcome, f"replay differs at {cmd!r}"
        fresh.check_invariants()
        assert fresh.state_hash() == self.engine.state_hash()


# ------------------------------------------------------ command generators

Generator = Callable[[Harness, Chooser], Command]


def _symbol(ch: Chooser) -> str:
    return UNLISTED if ch.chance(2) else ch.pick(SYMBOLS)


def _price(ch: Chooser) -> int:
    return ch.number(LOW, HIGH)


def _limit_price(ch: Chooser, side: str) -> int:
    """Mostly on the own side of the band (so books build depth), sometimes anywhere."""
    if ch.chance(30):
        return _price(ch)
    return ch.number(LOW, HIGH - 4) if side == "buy" else ch.number(LOW + 4, HIGH)


def _expiry(ch: Chooser, tif: str, ts: int) -> int | None:
    return ts + ch.number(1, 40) * TICK if tif in ("gtd", "day") else None


def _tags(ch: Chooser) -> dict[str, Any]:
    return {
        "cl_ord_id": ch.pick(CLIDS) if ch.chance(30) else None,
        "userref": ch.number(1, 3) if ch.chance(30) else None,
        "stp": ch.pick(STPS),
    }


def gen_limit(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    side = ch.pick(SIDES)
    tif = ch.pick(("gtc", "gtc", "ioc", "fok", "gtd", "day"))
    post_only = tif in ("gtc", "gtd", "day") and ch.chance(15)
    tags = _tags(ch)
    plain = tif == "gtc" and not post_only and tags["cl_ord_id"] is tags["userref"] is None
    if KNOWN_FAST_PATH_DROPS_STP and plain:
        tags["stp"] = "cancel_newest"
    return NewOrder(
        seq,
        ts,
        ch.pick(ACCOUNTS),
        _symbol(ch),
        side,  # type: ignore[arg-type]
        ch.number(1, 20),
        _limit_price(ch, side),
        tif=tif,  # type: ignore[arg-type]
        expire_ts=_expiry(ch, tif, ts),
        post_only=post_only,
        **tags,
    )


def gen_market(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    protection = _price(ch) if ch.chance(50) else None
    tif = ch.pick(("gtc", "ioc", "fok"))
    qty = ch.number(1, 20)
    return NewOrder(
        seq, ts, ch.pick(ACCOUNTS), _symbol(ch), ch.pick(SIDES), qty, protection, "market", tif,
        **_tags(ch),
    )  # fmt: skip


def gen_iceberg(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    qty = ch.number(2, 20)
    side = ch.pick(SIDES)
    tif = ch.pick(("gtc", "gtd", "day"))
    return NewOrder(
        seq,
        ts,
        ch.pick(ACCOUNTS),
        _symbol(ch),
        side,  # type: ignore[arg-type]
        qty,
        _limit_price(ch, side),
        "iceberg",
        tif,
        expire_ts=_expiry(ch, tif, ts),
        post_only=ch.chance(15),
        display_qty=ch.number(1, min(4, qty - 1)),
        **_tags(ch),
    )


def gen_stop(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    kind = ch.pick(STOP_KINDS)
    price = _price(ch) if kind.endswith("-limit") or ch.chance(40) else None
    tif = ch.pick(("gtc", "gtc", "ioc", "fok", "gtd", "day"))
    return NewOrder(
        seq,
        ts,
        ch.pick(ACCOUNTS),
        _symbol(ch),
        ch.pick(SIDES),
        ch.number(1, 20),
        price,
        kind,  # type: ignore[arg-type]
        tif,  # type: ignore[arg-type]
        expire_ts=_expiry(ch, tif, ts),
        trigger_price=_price(ch),
        **_tags(ch),
    )


def _target(h: Harness, ch: Chooser) -> tuple[int, Rec | None]:
    """An order to act on: mostly an open one, sometimes a closed or never-seen id."""
    open_orders = h.open_orders()
    if open_orders and ch.chance(85):
        rec = ch.pick(open_orders)
        return rec.order_id, rec
    if h.ids and ch.chance(80):
        return ch.pick(h.ids), None
    return h.seq + 1000, None


def _account_for(h: Harness, ch: Chooser, order_id: int) -> str:
    owner = h.owner.get(order_id)
    return owner if owner is not None and ch.chance(92) else ch.pick(ACCOUNTS)


def gen_cancel(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    order_id, rec = _target(h, ch)
    account = _account_for(h, ch, order_id)
    how = ch.pick(("order_id", "cl_ord_id", "userref"))
    if how == "cl_ord_id":
        clid = rec.cl_ord_id if rec is not None and rec.cl_ord_id and ch.chance(85) else None
        return CancelOrder(seq, ts, account, cl_ord_id=clid or ch.pick(CLIDS))
    if how == "userref":
        ref = rec.userref if rec is not None and rec.userref and ch.chance(85) else None
        return CancelOrder(seq, ts, account, userref=ref or ch.number(1, 3))
    return CancelOrder(seq, ts, account, order_id=order_id)


def _changes(ch: Chooser, rec: Rec | None) -> dict[str, Any]:
    """New qty / price / display / trigger for an amend or a replace of ``rec``."""
    qty = rec.qty if rec is not None else 10
    how = ch.pick(("same", "down", "up", "any"))
    iceberg = rec is not None and rec.order_type == "iceberg"
    stop = rec is not None and rec.trigger_price is not None
    return {
        "qty": {
            "same": None,
            "down": max(1, qty - ch.number(1, 4)),
            "up": qty + ch.number(1, 6),
            "any": ch.number(1, 24),
        }[how],
        "price": _price(ch) if ch.chance(45) else None,
        "display_qty": ch.number(1, 5) if ch.chance(40 if iceberg else 3) else None,
        "trigger_price": _price(ch) if ch.chance(50 if stop else 3) else None,
    }


def _named(ch: Chooser, order_id: int, rec: Rec | None) -> dict[str, Any]:
    if rec is not None and rec.cl_ord_id is not None and ch.chance(40):
        return {"cl_ord_id": rec.cl_ord_id}
    if ch.chance(4):
        return {"cl_ord_id": ch.pick(CLIDS)}
    return {"order_id": order_id}


def gen_amend(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    order_id, rec = _target(h, ch)
    account = _account_for(h, ch, order_id)
    return AmendOrder(
        seq,
        ts,
        account,
        **_named(ch, order_id, rec),
        **_changes(ch, rec),
        post_only=ch.chance(15),
    )


def gen_replace(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    order_id, rec = _target(h, ch)
    account = _account_for(h, ch, order_id)
    return ReplaceOrder(
        seq,
        ts,
        account,
        **_named(ch, order_id, rec),
        **_changes(ch, rec),
        post_only=ch.pick((None, None, False, True)),
        new_cl_ord_id=ch.pick(CLIDS) if ch.chance(25) else None,
        userref=ch.number(1, 3) if ch.chance(20) else None,
    )


def gen_cancel_all(h: Harness, ch: Chooser) -> Command:
    seq, ts = h.stamp()
    symbol = ch.pick((None, *SYMBOLS, UNLISTED))
    reason = ch.pick(("user", "kill_switch", "dead_man_switch"))
    return CancelAll(seq, ts, ch.pick(ACCOUNTS), symbol, reason)


def gen_expire(h: Harness, ch: Chooser) -> Command:
    """Time passes: now, or (as the sequencer does) the instant the next order expires."""
    seq, ts = h.stamp()
    due = h.engine.next_expiry()
    if due is not None and ch.chance(60):
        ts = max(ts, due)
    return ExpireOrders(seq, ts)


MIX: tuple[tuple[Generator, int], ...] = (
    (gen_limit, 36),
    (gen_market, 6),
    (gen_iceberg, 9),
    (gen_stop, 11),
    (gen_cancel, 8),
    (gen_amend, 13),
    (gen_replace, 9),
    (gen_cancel_all, 1),
    (gen_expire, 4),
)


def step(h: Harness, gen: Generator, ch: Chooser) -> None:
    """Build one command and apply it; one that breaks its own field rules is skipped."""
    try:
        cmd = gen(h, ch)
    except CommandError:
        return
    h.apply(cmd)


def random_run(seed: int, commands: int) -> Harness:
    rng = random.Random(seed)
    ch = RandomChooser(rng)
    gens = [g for g, _ in MIX]
    weights = [w for _, w in MIX]
    h = Harness()
    for gen in rng.choices(gens, weights, k=commands):
        step(h, gen, ch)
    return h


# ------------------------------------------------------------- the machine


class EngineVsReference(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()

    def _step(self, gen: Generator, data: st.DataObject) -> None:
        step(self.h, gen, DataChooser(data))

    @rule(data=st.data())
    def limit(self, data: st.DataObject) -> None:
        self._step(gen_limit, data)

    @rule(data=st.data())
    def another_limit(self, data: st.DataObject) -> None:
        self._step(gen_limit, data)

    @rule(data=st.data())
    def market(self, data: st.DataObject) -> None:
        self._step(gen_market, data)

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
    def expire(self, data: st.DataObject) -> None:
        self._step(gen_expire, data)

    def teardown(self) -> None:
        self.h.check_replay()


TestEngineVsReference = EngineVsReference.TestCase
TestEngineVsReference.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ------------------------------------------------------------ seeded runs


def test_long_seeded_run_matches_reference_and_replays() -> None:
    h = random_run(seed=20_240_611, commands=20_000)
    h.check_replay()
    kinds = {type(c).__name__ for c, _ in h.log}
    assert kinds == {"NewOrder", "CancelOrder", "AmendOrder", "ReplaceOrder"} | {
        "CancelAll",
        "ExpireOrders",
    }


def test_replay_gives_identical_events_and_hash_at_every_step() -> None:
    log = [cmd for cmd, _ in random_run(seed=7, commands=1_500).log]
    first = Engine([instrument(s) for s in SYMBOLS])
    second = Engine([instrument(s) for s in SYMBOLS])
    for cmd in log:
        a, b = run_engine(first, cmd), run_engine(second, cmd)
        assert a == b if isinstance(a, list) else str(a) == str(b)
        assert first.state_hash() == second.state_hash()


def test_stale_sequence_number_raises_and_changes_nothing() -> None:
    h = random_run(seed=3, commands=300)
    before = h.engine.state_hash()
    stale = NewOrder(h.seq, h.now + TICK, "alice", SYMBOLS[0], "buy", 5, 100)
    with pytest.raises(SequenceError):
        h.engine.process(stale)
    assert h.engine.state_hash() == before


def _engine(*commands: Command) -> Engine:
    engine = Engine([instrument(SYMBOLS[0])])
    for c in commands:
        engine.process(c)
    return engine


@pytest.mark.xfail(strict=True, reason="engine bug: the fast path drops stp")
def test_plain_gtc_limit_keeps_its_stp() -> None:
    """A plain GTC limit with cancel_oldest against its own resting order cancels that one."""
    sym = SYMBOLS[0]
    engine = _engine(NewOrder(1, 1000, "alice", sym, "sell", 5, 100))
    events = engine.process(NewOrder(2, 2000, "alice", sym, "buy", 5, 100, stp="cancel_oldest"))
    assert [(e.order_id, e.reason) for e in events if isinstance(e, OrderCancelled)] == [
        (1, "self_trade")
    ]


@pytest.mark.xfail(strict=True, raises=CommandError, reason="engine bug: replace raises")
def test_replace_breaking_new_order_rules_is_rejected() -> None:
    """An iceberg with 2 lots left of display 3, replaced at a new price: a reject, no raise."""
    sym = SYMBOLS[0]
    engine = _engine(
        NewOrder(1, 1000, "alice", sym, "sell", 10, 100, "iceberg", display_qty=3),
        NewOrder(2, 2000, "bob", sym, "buy", 8, 100),
    )
    events = engine.process(ReplaceOrder(3, 3000, "alice", order_id=1, price=101))
    assert [(type(e), getattr(e, "reason", "")) for e in events] == [
        (OrderRejected, "invalid_arguments")
    ]
    assert [o.order_id for o in engine.books[sym].asks.orders()] == [1]
