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

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from engine.engine import Engine, SequenceError
from engine.events import Event, OrderAccepted, OrderAmended, OrderTriggered
from model.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    NewOrder,
    ReplaceOrder,
    RunTimers,
)
from tests.builders import instrument
from tests.property.choosers import Chooser, DrawChooser, run_mix, step
from tests.property.reference import Rec, Reference, View, engine_view, reference_view

SYMBOLS = ("AAPLx/USD", "TSLAx/USD")
UNLISTED = "NOPEx/USD"
ACCOUNTS = ("alice", "bob", "carol")
SIDES = ("buy", "sell")
LOW, HIGH = 95, 106  # twelve ticks
CLIDS = ("c1", "c2", "c3", "c4")
STPS = ("cancel_newest", "cancel_oldest", "cancel_both")
STOP_KINDS = ("stop-loss", "stop-loss-limit", "take-profit", "take-profit-limit")
TICK = 1_000  # nanoseconds between two commands

T = TypeVar("T")


# ---------------------------------------------------------------- the harness


def observe(engine: Engine) -> tuple[View, int | None]:
    """Every read-only check made after a command: invariants, canonical view, next expiry."""
    engine.check_invariants()
    return engine_view(engine), engine.next_timer()


class Harness:
    """One engine and one reference fed the same commands, compared after each."""

    def __init__(self) -> None:
        self.engine = Engine([instrument(s) for s in SYMBOLS])
        self.ref = Reference(list(SYMBOLS))
        self.seq = 0
        self.now = 0
        self.log: list[tuple[Command, list[Event]]] = []
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
        got = self.engine.process(cmd)
        self.log.append((cmd, got))
        assert got == want, self.explain(cmd, got, want)
        expected = (reference_view(self.ref), self.ref.next_timer())
        assert observe(self.engine) == expected, self.explain(cmd, got, want)
        for ev in want:
            if isinstance(ev, OrderAccepted):
                self.ids.append(ev.order_id)
                self.owner[ev.order_id] = ev.order.account

    def explain(self, cmd: Command, got: list[Event], want: list[Event]) -> str:
        lines = [f"  {c!r}" for c, _ in self.log[-60:]]
        got_lines = [f"  {e!r}" for e in got]
        want_lines = [f"  {e!r}" for e in want]
        views = [f"engine view:    {engine_view(self.engine)!r}"]
        views.append(f"reference view: {reference_view(self.ref)!r}")
        head = ["commands (last 60):", *lines, f"failing: {cmd!r}"]
        return "\n".join([*head, "engine:", *got_lines, "reference:", *want_lines, *views])

    def check_replay(self) -> None:
        """A fresh engine fed the same log gives the same events and the same state_hash."""
        fresh = Engine([instrument(s) for s in SYMBOLS])
        for cmd, events in self.log:
            assert fresh.process(cmd) == events, f"replay differs at {cmd!r}"
            observe(fresh)  # the same reads as the live run: see test_reads_do_not_change_hash
        states = [repr(self.engine.canonical_state()), repr(fresh.canonical_state())]
        lines = [f"  {c!r}" for c, _ in self.log[-60:]]
        why = "\n".join([*lines, "state after the run, then replayed:", *states])
        assert fresh.state_hash() == self.engine.state_hash(), why


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
    account, symbol, side = ch.pick(ACCOUNTS), _symbol(ch), ch.pick(SIDES)
    return NewOrder(seq, ts, account, symbol, side, qty, protection, "market", tif, **_tags(ch))


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
    due = h.engine.next_timer()
    if due is not None and ch.chance(60):
        ts = max(ts, due)
    return RunTimers(seq, ts)


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


def random_run(seed: int, commands: int) -> Harness:
    return run_mix(Harness(), MIX, seed, commands)


# ------------------------------------------------------------- the machine


class EngineVsReference(RuleBasedStateMachine):
    """One rule per command kind; limits twice, as the bulk of real traffic."""

    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()

    def _step(self, gen: Generator, data: st.DataObject) -> None:
        step(self.h, gen, DrawChooser(data))

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


def covered(log: list[tuple[Command, list[Event]]]) -> set[str]:
    """What a command log exercised, as words (to catch a generator that stopped reaching it)."""
    seen: set[str] = set()
    for cmd, events in log:
        names = [type(e).__name__ for e in events]
        seen.update(names)
        seen.update(f"{type(e).__name__}:{e.reason}" for e in events if hasattr(e, "reason"))
        seen.update(f"kept:{e.priority_kept}" for e in events if isinstance(e, OrderAmended))
        done = "OrderCancelled" in names or "OrderExpired" in names
        if len({e.last_price for e in events if isinstance(e, OrderTriggered)}) > 1:
            seen.add("cascade")  # a stop set off by the trades of another triggered stop
        if isinstance(cmd, NewOrder):
            seen.update({f"type:{cmd.order_type}", f"tif:{cmd.tif}"})
            if any(getattr(e, "reason", "") == "self_trade" for e in events):
                seen.add(f"stp:{cmd.stp}")
            if cmd.tif == "fok" and "TradeExecuted" in names:
                seen.add("fok:filled")
        elif isinstance(cmd, CancelOrder) and done:
            how = [k for k in ("order_id", "cl_ord_id", "userref") if getattr(cmd, k) is not None]
            seen.add(f"cancel_by:{how[0]}")
        elif isinstance(cmd, CancelAll) and done:
            seen.add(f"cancel_all:{cmd.symbol is None}")
    return seen


REQUIRED = {
    *(f"type:{t}" for t in ("limit", "market", "iceberg", *STOP_KINDS)),
    *(f"tif:{t}" for t in ("gtc", "ioc", "fok", "gtd", "day")),
    *(f"stp:{s}" for s in STPS),
    *(f"cancel_by:{k}" for k in ("order_id", "cl_ord_id", "userref")),
    *("OrderCancelled:" + r for r in ("user", "ioc_remainder", "fok_unfillable", "self_trade")),
    *("OrderCancelled:" + r for r in ("price_band", "replaced", "kill_switch")),
    *("OrderRejected:" + r for r in ("unknown_symbol", "unknown_order", "duplicate_cl_ord_id")),
    *("OrderRejected:" + r for r in ("post_only", "invalid_arguments")),
    *("IcebergRefilled", "OrderTriggered", "OrderExpired", "cascade", "fok:filled"),
    *("kept:True", "kept:False", "cancel_all:True", "cancel_all:False"),
}


def test_long_seeded_run_matches_reference_and_replays() -> None:
    h = random_run(seed=20_240_611, commands=20_000)
    h.check_replay()
    missing = REQUIRED - covered(h.log)
    assert not missing, f"the generators no longer reach: {sorted(missing)}"


def test_replay_gives_identical_events_and_hash_at_every_step() -> None:
    log = [cmd for cmd, _ in random_run(seed=7, commands=1_500).log]
    first = Engine([instrument(s) for s in SYMBOLS])
    second = Engine([instrument(s) for s in SYMBOLS])
    for cmd in log:
        assert first.process(cmd) == second.process(cmd)
        assert first.state_hash() == second.state_hash()


def test_stale_sequence_number_raises_and_changes_nothing() -> None:
    h = random_run(seed=3, commands=300)
    before = h.engine.state_hash()
    stale = NewOrder(h.seq, h.now + TICK, "alice", SYMBOLS[0], "buy", 5, 100)
    with pytest.raises(SequenceError):
        h.engine.process(stale)
    assert h.engine.state_hash() == before


def test_reads_do_not_change_hash() -> None:
    """Two engines fed the same commands hash the same, whether or not one was queried.

    A read (best_ask, check_invariants) drops a stale heap key, which decides
    whether the next plain limit takes the fast path; neither may show in the
    hash.
    """
    sym = SYMBOLS[0]
    commands: list[Command] = [
        NewOrder(1, 1000, "alice", sym, "sell", 5, 100),
        NewOrder(2, 2000, "alice", sym, "sell", 5, 101),
        CancelOrder(3, 3000, "alice", order_id=2),  # not on top: its key goes stale
        CancelOrder(4, 4000, "alice", order_id=1),  # the stale key comes on top
        NewOrder(5, 5000, "bob", sym, "buy", 5, 101),  # rests without trading
    ]
    queried, plain = Engine([instrument(sym)]), Engine([instrument(sym)])
    for c in commands:
        assert queried.process(c) == plain.process(c)
        queried.books[sym].best_ask()
    assert queried.state_hash() == plain.state_hash()
