"""The engine's state as explicit, versioned data: what a snapshot holds, in either build.

:func:`capture` turns an engine into an :class:`EngineSnapshot` (msgspec
Structs of integers, strings and lists, nothing else) and :func:`restore`
builds an engine from one; :func:`encode` and :func:`decode` are the same as
MessagePack bytes. Decoding is data only: the schema below says every type,
msgspec checks each value against it, and a snapshot never names a class or
a function to call, so a snapshot file is never code. Either build (pure or
compiled, model/build.py) reads what the other wrote: the schema is the pure
build's record of the state, field for field.

What is kept, and why it is enough to go on exactly as the engine would have
(docs/MATCHING.md, "Snapshots"):

* every open order with every field (:data:`OrderFields`, the record's
  declaration order), in the order of the engine's order index;
* each book side's level prices in their dict order, the side's heap of
  level keys and its stale keys as they are (a stale key is reused if its
  price comes back, so they are kept rather than rebuilt); a level's queue
  is its resting orders in priority-stamp order (stamps increase strictly
  along every queue, so the orders say the queue order exactly); queue
  tombstones are not kept: a restored queue is compacted, which changes no
  outcome;
* each stop book's two heaps as they are (stale entries included), the
  expiry heap as it is, the rolling reference window's prints and sums;
* sessions (phase, clock, the next schedule change, a pause or call's end,
  the band-edge watch), pending auction indications, corporate actions
  pending, delisted symbols, the unfinished batch's parts;
* risk: the assets, each account's terms, controls and its balances and
  holds, the net deposits per asset, each market's reference, band and
  notional divisor (the band edges follow from them);
* the counters: last seq, next trade id, next priority stamp.

Everything else (the by-account and cl_ord_id indexes, level totals, the
pair scales) follows from these and is rebuilt. :data:`FORMAT` numbers the
schema: a change to it is a new number, and a snapshot of another number is
refused with a :class:`SnapshotFormatError` naming both.

Pure like the rest of the engine: no I/O; files are node/store.py's.
"""

from __future__ import annotations

from array import array
from itertools import starmap
from operator import attrgetter

import msgspec
from model.commands import BatchOrder, CorporateAction, OrderType, Side, StpType, TimeInForce
from model.instrument import Instrument
from model.order import Order, OrderIndex, order_tuple
from risk.accounts import AccountSpec, FeeTier, Role
from risk.money import Asset
from risk.risk import MAX_UNITS, Risk

from engine.book import BookSide, Level
from engine.engine import Engine
from engine.reference import ReferenceWindow
from engine.sessions import Phase

__all__ = [
    "FORMAT",
    "AccountState",
    "BookState",
    "EngineSnapshot",
    "MarketState",
    "OrderFields",
    "RiskState",
    "SessionState",
    "SideState",
    "SnapshotFormatError",
    "WindowState",
    "capture",
    "decode",
    "encode",
    "restore",
]

FORMAT = 1
"""The schema's number; every change to the Structs below makes a new one."""

Wide = int | str
"""An integer that may pass 64 bits (a sum of price x qty, or of fees): an int when
it fits MessagePack's integers, else its decimal digits."""

OrderFields = tuple[
    int,  # order_id
    str,  # account
    str,  # symbol
    Side,  # side
    int,  # price
    int,  # qty
    int,  # shown
    StpType,  # stp
    int,  # hidden
    int,  # filled
    bool,  # stop
    str | None,  # cl_ord_id
    int | None,  # userref
    int,  # priority (0 here and the value in EngineSnapshot.wide if past 64 bits)
    OrderType,  # order_type
    TimeInForce,  # tif
    int,  # display_qty
    int | None,  # expire_ts
    bool,  # post_only
    int,  # trigger_price
    int,  # hold
    int,  # cost (0 here and the value in EngineSnapshot.wide if past 64 bits)
    int,  # fee (likewise)
    int,  # paid
    int,  # notional
    int,  # cash_qty
]
"""One open order: every field of :class:`model.order.Order`, in declaration order."""

ORDER_FIELDS = (
    *("order_id", "account", "symbol", "side", "price", "qty", "shown", "stp", "hidden"),
    *("filled", "stop", "cl_ord_id", "userref", "priority", "order_type", "tif"),
    *("display_qty", "expire_ts", "post_only", "trigger_price", "hold", "cost", "fee"),
    *("paid", "notional", "cash_qty"),
)
"""The names of :data:`OrderFields`, for messages (and the test that they match the record)."""

_WIDE_AT = tuple(ORDER_FIELDS.index(f) for f in ("priority", "cost", "fee"))


class SnapshotFormatError(ValueError):
    """Snapshot data that does not describe an engine: names what is wrong and where."""


class WindowState(msgspec.Struct, frozen=True, kw_only=True):
    """A rolling reference window: ``(ts, ticks x lots, lots)`` prints, oldest first."""

    prints: list[tuple[int, Wide, int]]
    notional: Wide
    lots: int


class SideState(msgspec.Struct, frozen=True, kw_only=True):
    """One side of a book: its levels' prices, the heap of level keys and its stale keys.

    A level's queue is its resting orders (symbol, side and price) in priority
    order: priority stamps increase strictly along every queue, so the orders'
    own fields say the queue order exactly and no list of ids repeats it.
    """

    levels: list[int]
    """The price of each level, in the side's dict order."""
    heap: list[int]
    stale: list[int]


class BookState(msgspec.Struct, frozen=True, kw_only=True):
    """One instrument's book, its stop heaps and its price state."""

    symbol: str
    open: bool
    fast: bool
    last_price: int | None
    lo: int | None
    hi: int | None
    reference_ts: int | None
    window: WindowState | None
    bids: SideState
    asks: SideState
    rising: list[tuple[int, int, int]]
    """Stops waiting for the price to rise: the heap of (trigger, stamp, order id)."""
    falling: list[tuple[int, int, int]]
    """Stops waiting for the price to fall: the heap of (-trigger, stamp, order id)."""


class SessionState(msgspec.Struct, frozen=True, kw_only=True):
    """One instrument's phase state (engine/phases.py's Session)."""

    symbol: str
    phase: Phase
    clock: Phase
    next_change: int | None
    until: int | None
    edge_since: int | None


class AccountState(msgspec.Struct, frozen=True, kw_only=True):
    """One account: terms, controls, and ``funds`` (balance, hold) per asset in asset order."""

    id: str
    role: Role
    maker_bps: int
    taker_bps: int
    max_order_notional: int | None
    max_open_orders: int
    enabled: bool
    killed: bool
    dms_deadline: int | None
    funds: list[int]


class MarketState(msgspec.Struct, frozen=True, kw_only=True):
    """What risk keeps per instrument that changes: the reference, band and divisor."""

    symbol: str
    reference: int
    band_bps: int
    div: int


class RiskState(msgspec.Struct, frozen=True, kw_only=True):
    """Pre-trade risk: assets, accounts (in their order), net deposits, markets."""

    assets: list[Asset]
    fee_account: str
    accounts: list[AccountState]
    net_in: list[tuple[str, int]]
    markets: list[MarketState]


class EngineSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The whole engine (see the module docstring)."""

    format: int
    last_seq: int
    next_trade_id: int
    next_priority: Wide
    instruments: list[Instrument]
    risk: RiskState | None
    books: list[BookState]
    sessions: list[SessionState]
    orders: list[OrderFields]
    """Open orders (resting and waiting stops) in the order index's order."""
    wide: list[tuple[int, int, str]] = []
    """An order's priority stamp, cost or fee past MessagePack's 64-bit integers
    (rare: a stamp passes them once seq passes 2**32): (index in ``orders``, field
    index, decimal digits); the row holds 0 there."""
    order_accounts: list[str]
    """Accounts with an entry in the by-account index, in its order."""
    expiries: list[tuple[int, int]]
    """The expiry heap of (expire ts, order id), stale entries included."""
    armed: list[tuple[str, int]]
    """Dead man's switches armed: (account, deadline), in arming order."""
    calls: list[tuple[str, tuple[int | None, int, int]]]
    """Auction calls running: the last indication published per symbol."""
    actions: list[CorporateAction]
    delisted: list[str]
    batch: list[BatchOrder]
    hooks: bool


class _Head(msgspec.Struct):
    format: int


# ---------------------------------------------------------------- capture


def _side(side: BookSide) -> SideState:
    return SideState(
        levels=[level.price for level in side.levels.values()],
        heap=list(side.heap),
        stale=sorted(side.stale),
    )


def _risk(risk: Risk) -> RiskState:
    return RiskState(
        assets=list(risk.assets.values()),
        fee_account=risk.fee_account,
        accounts=[
            AccountState(
                id=a.id,
                role=a.role,
                maker_bps=a.maker_bps,
                taker_bps=a.taker_bps,
                max_order_notional=a.max_order_notional,
                max_open_orders=a.max_open_orders,
                enabled=a.enabled,
                killed=a.killed,
                dms_deadline=a.dms_deadline,
                funds=list(a.funds),
            )
            for a in risk.accounts.values()
        ],
        net_in=list(risk.net_in.items()),
        markets=[
            MarketState(symbol=s, reference=m.reference, band_bps=m.band_bps, div=m.div)
            for s, m in risk.markets.items()
        ],
    )


def capture(engine: Engine) -> EngineSnapshot:
    """The state of ``engine`` as data; shares nothing mutable with it. O(orders + levels)."""
    books = []
    for book in engine.books.values():
        window = book.window
        books.append(
            BookState(
                symbol=book.symbol,
                open=book.open,
                fast=book.fast,
                last_price=book.last_price,
                lo=book.lo,
                hi=book.hi,
                reference_ts=book.reference_ts,
                window=None
                if window is None
                else WindowState(
                    prints=list(window.prints), notional=window.notional, lots=window.lots
                ),
                bids=_side(book.bids),
                asks=_side(book.asks),
                rising=list(book.stops.rising),
                falling=list(book.stops.falling),
            )
        )
    return EngineSnapshot(
        format=FORMAT,
        last_seq=engine.last_seq,
        next_trade_id=engine.next_trade_id,
        next_priority=engine.next_priority,
        instruments=list(engine.instruments.values()),
        risk=None if engine.risk is None else _risk(engine.risk),
        books=books,
        sessions=[
            SessionState(
                symbol=symbol,
                phase=x.phase,
                clock=x.clock,
                next_change=x.next_change,
                until=x.until,
                edge_since=x.edge_since,
            )
            for symbol, x in engine.sessions.items()
        ],
        orders=[order_tuple(o) for o in engine.orders.values()],  # type: ignore[misc]
        order_accounts=list(engine.by_account),
        expiries=list(engine.expiries),
        armed=list(engine.armed.items()),
        calls=list(engine.calls.items()),
        actions=list(engine.actions.values()),
        delisted=sorted(engine.delisted),
        batch=list(engine.batch),
        hooks=engine.hooks,
    )


_ORDER_ID = attrgetter("order_id")
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EngineSnapshot)
_INT_MIN, _UINT_MAX = -(1 << 63), (1 << 64) - 1


def _narrow(value: Wide) -> Wide:
    if isinstance(value, int) and not _INT_MIN <= value <= _UINT_MAX:
        return str(value)
    return value


def _narrowed(snapshot: EngineSnapshot) -> EngineSnapshot:
    """``snapshot`` with every :data:`Wide` integer past MessagePack's range as digits."""
    orders = list(snapshot.orders)
    wide = []
    for index, row in enumerate(orders):
        past = [i for i in _WIDE_AT if not _INT_MIN <= row[i] <= _UINT_MAX]  # type: ignore[operator]
        if past:
            fields = list(row)
            for i in past:
                wide.append((index, i, str(row[i])))
                fields[i] = 0
            orders[index] = tuple(fields)  # type: ignore[assignment]
    books = []
    for book in snapshot.books:
        if book.window is not None:
            window = WindowState(
                prints=[(ts, _narrow(n), lots) for ts, n, lots in book.window.prints],
                notional=_narrow(book.window.notional),
                lots=book.window.lots,
            )
            book = msgspec.structs.replace(book, window=window)
        books.append(book)
    return msgspec.structs.replace(
        snapshot,
        orders=orders,
        wide=wide,
        books=books,
        next_priority=_narrow(snapshot.next_priority),
    )


def encode(engine: Engine) -> bytes:
    """``engine``'s snapshot as MessagePack bytes."""
    snapshot = capture(engine)
    try:
        return _encoder.encode(snapshot)
    except OverflowError:  # a sum past 64 bits (rare): written as digits
        return _encoder.encode(_narrowed(snapshot))


def decode(data: bytes) -> Engine:
    """The engine in :func:`encode`'s bytes; :class:`SnapshotFormatError` if they are not one."""
    try:
        snapshot = _decoder.decode(data)
    except msgspec.DecodeError as e:
        try:
            head = msgspec.msgpack.decode(data, type=_Head)
        except msgspec.DecodeError:
            head = None
        if head is not None and head.format != FORMAT:
            raise SnapshotFormatError(_other_format(head.format)) from None
        raise SnapshotFormatError(f"not an engine snapshot of format {FORMAT}: {e}") from None
    return restore(snapshot)


def _other_format(found: int) -> str:
    return (
        f"format {found}: this tokex reads engine snapshots of format {FORMAT} only "
        "(recover from the genesis and the journal instead)"
    )


# ---------------------------------------------------------------- restore


def _wide(value: int | str, where: str) -> int:
    if isinstance(value, int):
        return value
    if not value.lstrip("-").isdigit() or not value.isascii():
        raise SnapshotFormatError(f"{where} {value!r}: must be an integer")
    return int(value)


def _orders(s: EngineSnapshot) -> list[Order]:
    """The order records, built in one pass (wide sums patched in first)."""
    rows = s.orders
    if s.wide:
        rows = list(rows)
        for index, field, digits in s.wide:
            if not (0 <= index < len(rows) and field in _WIDE_AT):
                raise SnapshotFormatError(
                    f"wide: ({index}, {field}) names no order's priority, cost or fee"
                )
            fields = list(rows[index])
            fields[field] = _wide(digits, f"orders[{index}].{ORDER_FIELDS[field]}")
            rows[index] = tuple(fields)  # type: ignore[assignment]
    return list(starmap(Order, rows))


_SHOWN = attrgetter("shown")
_PRIORITY = attrgetter("priority")


def _queues(records: list[Order]) -> dict[tuple[str, str, int], list[Order]]:
    """The resting orders by (symbol, side, price), each list in priority (queue) order."""
    resting = [o for o in records if not o.stop]
    resting.sort(key=_PRIORITY)
    if len(set(map(_PRIORITY, resting))) != len(resting):
        raise SnapshotFormatError("orders: two resting orders with the same priority stamp")
    queues: dict[tuple[str, str, int], list[Order]] = {}
    for order in resting:
        key = (order.symbol, order.side, order.price)
        queue = queues.get(key)
        if queue is None:
            queues[key] = [order]
        else:
            queue.append(order)
    return queues


def _fill_side(
    side: BookSide,
    state: SideState,
    queues: dict[tuple[str, str, int], list[Order]],
    symbol: str,
) -> None:
    """Rebuild one side's levels (taking their queues out of ``queues``) and heap."""
    levels = side.levels
    for price in state.levels:
        where = f"books[{symbol}].{side.side} level {price}"
        queue = queues.pop((symbol, side.side, price), None)
        if queue is None:
            raise SnapshotFormatError(f"{where}: no order rests there (or listed twice)")
        shown = list(map(_SHOWN, queue))
        if min(shown) <= 0:
            raise SnapshotFormatError(f"{where}: an order with nothing shown")
        level = Level(price)
        level.queue.extend(queue)
        level.qty = sum(shown)
        levels[price * side.sign] = level
    side.heap[:] = state.heap
    side.stale.update(state.stale)
    if len(side.heap) != len(set(side.heap)) or set(side.heap) != levels.keys() | side.stale:
        raise SnapshotFormatError(
            f"books[{symbol}].{side.side}: the heap does not hold each level key once"
        )
    # A snapshot written before the top was kept live may have a stale key on
    # top: popped here, as the book would have popped it (the state is the same).
    side.surface()


def _fill_risk(risk: Risk, state: RiskState) -> None:
    for a in state.accounts:
        acct = risk.accounts[a.id]
        funds = a.funds
        if (
            len(funds) != len(acct.funds)
            or min(funds, default=0) < 0
            or max(funds, default=0) > MAX_UNITS
        ):
            raise SnapshotFormatError(
                f"risk.accounts[{a.id}].funds: must be a balance and a hold, neither negative "
                f"nor above {MAX_UNITS}, for each of the {len(state.assets)} assets"
            )
        acct.funds[:] = array("q", funds)
        acct.set_killed(a.killed)
        acct.dms_deadline = a.dms_deadline
    net_in = dict(state.net_in)
    if list(net_in) != list(risk.assets):
        raise SnapshotFormatError("risk.net_in: must name every asset once, in asset order")
    risk.net_in = net_in
    if [m.symbol for m in state.markets] != list(risk.markets):
        raise SnapshotFormatError("risk.markets: must name every instrument once, in order")
    for m in state.markets:
        market = risk.markets[m.symbol]
        market.band_bps = m.band_bps
        market.div = m.div
        risk.set_reference(m.symbol, m.reference)


def _new_risk(state: RiskState, instruments: list[Instrument]) -> Risk:
    specs = [
        AccountSpec(
            id=a.id,
            role=a.role,
            fee_tier=FeeTier("snapshot", a.maker_bps, a.taker_bps),
            max_order_notional=a.max_order_notional,
            max_open_orders=a.max_open_orders,
            enabled=a.enabled,
        )
        for a in state.accounts
    ]
    risk = Risk(state.assets, instruments, specs, fee_account=state.fee_account)
    if len(risk.accounts) != len(specs):
        raise SnapshotFormatError("risk.accounts: an account id twice, or no fee account")
    return risk


def restore(snapshot: EngineSnapshot) -> Engine:
    """The engine ``snapshot`` describes (:class:`SnapshotFormatError` if it cannot be one).

    O(orders + levels). Checks that every structure refers to what is there
    (each resting order in exactly one level and in queue order, each stop
    waiting, each level key in its side's heap once); the money invariants
    are :meth:`Engine.check_invariants`'.
    """
    if snapshot.format != FORMAT:
        raise SnapshotFormatError(_other_format(snapshot.format))
    try:
        return _restore(snapshot)
    except SnapshotFormatError:
        raise
    except (ValueError, KeyError, IndexError, TypeError) as e:
        # A configuration the constructors refuse (a pair's scale, a fee rate,
        # an unknown asset or symbol): named by them.
        raise SnapshotFormatError(f"cannot rebuild the engine: {type(e).__name__}: {e}") from None


def _restore(s: EngineSnapshot) -> Engine:
    instruments = s.instruments
    risk = None if s.risk is None else _new_risk(s.risk, instruments)
    engine = Engine(instruments, risk, None)
    if len(engine.instruments) != len(instruments):
        raise SnapshotFormatError("instruments: a symbol twice")
    if risk is not None:
        assert s.risk is not None
        _fill_risk(risk, s.risk)
    engine.last_seq = s.last_seq
    engine.next_trade_id = s.next_trade_id
    engine.next_priority = _wide(s.next_priority, "next_priority")

    records = _orders(s)
    orders = engine.orders
    orders.update(zip(map(_ORDER_ID, records), records, strict=True))
    if len(orders) != len(records):
        raise SnapshotFormatError("orders: an order id twice")
    by_account = engine.by_account
    for account in s.order_accounts:
        by_account[account] = OrderIndex()
    by_clid = engine.by_clid
    for order_id, order in orders.items():
        mine = by_account.get(order.account)
        if mine is None:
            raise SnapshotFormatError(
                f"order {order_id}: account {order.account!r} is not in order_accounts"
            )
        mine[order_id] = order
        if order.cl_ord_id is not None:
            by_clid[(order.account, order.cl_ord_id)] = order

    if [b.symbol for b in s.books] != list(engine.books):
        raise SnapshotFormatError("books: must name every instrument once, in order")
    queues = _queues(records)
    for b in s.books:
        book = engine.books[b.symbol]
        book.open = b.open
        book.fast = b.fast
        book.last_price = b.last_price
        book.lo = b.lo
        book.hi = b.hi
        book.reference_ts = b.reference_ts
        if b.window is None:
            book.window = None
        else:
            window = book.window = ReferenceWindow()
            where = f"books[{b.symbol}].window"
            window.prints.extend((t, _wide(n, where), q) for t, n, q in b.window.prints)
            window.notional = _wide(b.window.notional, where)
            window.lots = b.window.lots
        _fill_side(book.bids, b.bids, queues, b.symbol)
        _fill_side(book.asks, b.asks, queues, b.symbol)
        book.stops.rising[:] = b.rising
        book.stops.falling[:] = b.falling
    # Every resting order's level is listed on its side (each level once).
    for (symbol, side, price), queue in queues.items():
        raise SnapshotFormatError(
            f"order {queue[0].order_id}: rests at {symbol} {side} {price}, a level "
            "its book does not list"
        )
    for order in records:
        if order.stop and order.symbol not in engine.books:
            raise SnapshotFormatError(f"order {order.order_id}: symbol {order.symbol!r} not listed")

    if [x.symbol for x in s.sessions] != list(engine.sessions):
        raise SnapshotFormatError("sessions: must name every instrument once, in order")
    for x in s.sessions:
        session = engine.sessions[x.symbol]
        session.phase = x.phase
        session.clock = x.clock
        session.next_change = x.next_change
        session.until = x.until
        session.edge_since = x.edge_since

    engine.expiries[:] = s.expiries
    engine.armed = dict(s.armed)
    engine.calls = dict(s.calls)
    for symbol, _ in s.calls:
        if symbol not in engine.books:
            raise SnapshotFormatError(f"calls: symbol {symbol!r} not listed")
    engine.actions = {a.symbol: a for a in s.actions}
    engine.delisted = set(s.delisted)
    engine.batch = list(s.batch)
    engine.hooks = s.hooks
    return engine
