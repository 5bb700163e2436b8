"""Commands: everything that can change the engine's state, as immutable data.

Every command carries the ``seq`` and ``ts`` the sequencer stamped on it
(``ts`` in integer nanoseconds since the Unix epoch, UTC). The engine derives
every id from them (a new order's id is its command's ``seq``), so replaying
the same commands always rebuilds the same state.

Commands are frozen ``msgspec`` structs in one tagged union (:data:`Command`),
so the journal and the wire encode and decode them with no hand-written
serializer. Prices are integer ticks and quantities integer lots of the
instrument named by ``symbol``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

import msgspec

from model import build

__all__ = [
    "CORPORATE_ACTION_KINDS",
    "MARKET_KINDS",
    "MAX_BATCH",
    "ORDER_TYPES",
    "STOP_KINDS",
    "STP_TYPES",
    "TIME_IN_FORCE",
    "AmendOrder",
    "BatchOrder",
    "CancelAll",
    "CancelAllAfter",
    "CancelOrder",
    "Command",
    "CommandError",
    "CorporateAction",
    "CorporateActionKind",
    "Deposit",
    "Halt",
    "NewOrder",
    "OrderType",
    "ReplaceOrder",
    "Resume",
    "RunTimers",
    "SetKillSwitch",
    "SetReferencePrice",
    "Side",
    "StpType",
    "TimeInForce",
    "Withdraw",
]

Side = Literal["buy", "sell"]
OrderType = Literal[
    "limit",
    "market",
    "iceberg",
    "stop-loss",
    "stop-loss-limit",
    "take-profit",
    "take-profit-limit",
]
TimeInForce = Literal["gtc", "ioc", "fok", "gtd", "day"]
StpType = Literal["cancel_newest", "cancel_oldest", "cancel_both"]

ORDER_TYPES: frozenset[str] = frozenset(get_args(OrderType))
TIME_IN_FORCE: frozenset[str] = frozenset(get_args(TimeInForce))
STP_TYPES: frozenset[str] = frozenset(get_args(StpType))
# Order types that trade at any price up to their protection price.
MARKET_KINDS: frozenset[str] = frozenset({"market", "stop-loss", "take-profit"})
STOP_KINDS: frozenset[str] = frozenset(
    {"stop-loss", "stop-loss-limit", "take-profit", "take-profit-limit"}
)
_MAX = (1 << 63) - 1


class CommandError(ValueError):
    """A command's fields break a rule of its own (no engine state needed to see it).

    Raised when the command is built or decoded, so a malformed command never
    reaches the sequencer or the journal. ``field`` is the wire name of the
    field at fault.
    """

    def __init__(self, field: str, value: object, rule: str) -> None:
        super().__init__(f"{field} {value!r}: {rule}")
        self.field = field
        self.value = value
        self.rule = rule


def _positive(field: str, value: int | None) -> None:
    if value is not None and not 0 < value <= _MAX:
        raise CommandError(field, value, "must be a positive 64-bit integer")


MAX_ID_TEXT = 64
"""The longest client order id (cl_ord_id) a command may carry."""


def _text_id(field: str, value: object) -> None:
    """A client order id: text of at most :data:`MAX_ID_TEXT` characters (or none)."""
    if value is not None and (type(value) is not str or len(value) > MAX_ID_TEXT):
        raise CommandError(field, value, f"must be text of at most {MAX_ID_TEXT} characters")


def _int64(field: str, value: object) -> None:
    """An order_userref: a signed 64-bit integer (or none)."""
    if value is not None and (type(value) is not int or not -_MAX - 1 <= value <= _MAX):
        raise CommandError(field, value, "must be a signed 64-bit integer")


def _one_of(field: str, value: object, allowed: frozenset[str]) -> None:
    if value not in allowed:
        raise CommandError(field, value, f"must be one of {', '.join(sorted(allowed))}")


class NewOrder(msgspec.Struct, frozen=True, gc=False, tag="new_order"):
    """Place an order. Its order id will be ``seq``.

    ``price`` is the limit price for limit, iceberg and the ``-limit`` stop
    kinds. For ``market``, ``stop-loss`` and ``take-profit`` it is the
    protection price: the worst price the order may trade at (``None``: no
    cap); what would execute beyond it is cancelled with reason
    ``price_band``. ``expire_ts`` is required for ``gtd`` and ``day`` (the
    edge computes a DAY order's end of trading day). ``display_qty`` is the
    visible slice of an iceberg; ``trigger_price`` the trigger of a stop.
    ``cash_qty`` sizes a market buy by what it may spend, in quote units,
    fees included; ``qty`` is then the most it may buy.
    """

    seq: int
    ts: int
    account: str
    symbol: str
    side: Side
    qty: int
    price: int | None = None
    order_type: OrderType = "limit"
    tif: TimeInForce = "gtc"
    expire_ts: int | None = None
    post_only: bool = False
    display_qty: int | None = None
    trigger_price: int | None = None
    cl_ord_id: str | None = None
    userref: int | None = None
    stp: StpType = "cancel_newest"
    cash_qty: int | None = None

    def __post_init__(self) -> None:
        # The plain GTC limit order (most of all traffic, and of every journal
        # replay) passes one expression that implies every rule below.
        if not _plain_limit(self):
            _check_new_order(self)

    if build.COMPILED and not TYPE_CHECKING:
        # The compiled build's (model/_order.pyx): the same two steps with no
        # Python frame. msgspec keeps the __post_init__ a struct class is made
        # with, so it is chosen here; bind_commands (below) gives it its offsets.
        __post_init__ = build.compiled_order().new_order_post_init


def _plain_limit(c: NewOrder) -> bool:
    """A GTC limit order with nothing optional but tags, every field in range.

    Implies every rule of :func:`_check_new_order` (tests/unit/model/test_commands_fast.py).
    """
    price = c.price
    userref = c.userref
    clid = c.cl_ord_id
    return (
        c.order_type == "limit"
        and c.tif == "gtc"
        and c.expire_ts is None
        and c.display_qty is None
        and c.trigger_price is None
        and c.cash_qty is None
        and (c.side == "buy" or c.side == "sell")
        and c.stp in STP_TYPES
        and type(price) is int
        and 0 < price <= _MAX
        and type(c.qty) is int
        and 0 < c.qty <= _MAX
        and (clid is None or (type(clid) is str and len(clid) <= MAX_ID_TEXT))
        and (userref is None or (type(userref) is int and -_MAX - 1 <= userref <= _MAX))
    )


def _check_new_order(self: NewOrder) -> None:
    """Every rule a new order's own fields follow (CommandError naming the first broken)."""
    _one_of("side", self.side, _SIDES)
    if self.cash_qty is not None:
        _positive("cash_order_qty", self.cash_qty)
        if self.order_type != "market" or self.side != "buy":
            raise CommandError("cash_order_qty", self.cash_qty, "only for market buy orders")
    kind = self.order_type
    _one_of("order_type", kind, ORDER_TYPES)
    tif = self.tif
    _one_of("time_in_force", tif, TIME_IN_FORCE)
    _one_of("stp_type", self.stp, STP_TYPES)
    _text_id("cl_ord_id", self.cl_ord_id)
    _int64("order_userref", self.userref)
    _positive("order_qty", self.qty)
    _positive("limit_price", self.price)
    market = kind in MARKET_KINDS
    if self.price is None and not market:
        raise CommandError("limit_price", None, f"required for {kind} orders")
    if kind in STOP_KINDS:
        if self.trigger_price is None:
            raise CommandError("triggers", None, f"a trigger price is required for {kind}")
        _positive("triggers", self.trigger_price)
    elif self.trigger_price is not None:
        raise CommandError("triggers", self.trigger_price, f"not allowed for {kind} orders")
    display = self.display_qty
    if kind == "iceberg":
        if display is None or not 0 < display < self.qty:
            raise CommandError("display_qty", display, "must be above 0 and below order_qty")
        if tif == "ioc" or tif == "fok":
            raise CommandError("time_in_force", tif, "an iceberg must be able to rest")
    elif display is not None:
        raise CommandError("display_qty", display, "only for iceberg orders")
    if tif == "gtd" or tif == "day":
        if self.expire_ts is None:
            raise CommandError("expire_time", None, f"required for {tif} orders")
        if self.expire_ts <= self.ts:
            raise CommandError("expire_time", self.expire_ts, "must be in the future")
        if self.expire_ts > _MAX:
            raise CommandError("expire_time", self.expire_ts, "must be before the year 2262")
        if kind == "market":
            raise CommandError("time_in_force", tif, "a market order cannot rest")
    elif self.expire_ts is not None:
        raise CommandError("expire_time", self.expire_ts, "only for gtd and day orders")
    if self.post_only and (market or kind in STOP_KINDS or tif == "ioc" or tif == "fok"):
        raise CommandError("post_only", True, "only for limit and iceberg orders that rest")


MAX_BATCH = 15
"""The most orders one batch may hold (WS_API.md: batch_add takes 2 to 15)."""


class BatchOrder(NewOrder, frozen=True, gc=False, tag="batch_order"):
    """One order of an all-or-nothing batch: part ``part`` of ``parts``, in one symbol.

    A batch is journaled as consecutive commands, one per order, so each
    order's id is still its own ``seq``. The engine holds the parts until
    the last one arrives, then checks them together (funds held across the
    whole batch, open-order limit, duplicate ids within it) and places all
    or none. A part that does not continue the batch it follows (a batch cut
    short by a crash, never acknowledged) starts over or is dropped.
    """

    part: int = 0
    parts: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 2 <= self.parts <= MAX_BATCH:
            raise CommandError("orders", self.parts, f"a batch holds 2 to {MAX_BATCH} orders")
        if not 0 <= self.part < self.parts:
            raise CommandError("part", self.part, f"must be at least 0 and below {self.parts}")


class CancelOrder(msgspec.Struct, frozen=True, gc=False, tag="cancel_order"):
    """Cancel the account's open orders named by exactly one of the three ids.

    ``userref`` cancels every open order of the account carrying it.
    """

    seq: int
    ts: int
    account: str
    order_id: int | None = None
    cl_ord_id: str | None = None
    userref: int | None = None

    def __post_init__(self) -> None:
        order_id = self.order_id
        if (
            self.cl_ord_id is None
            and self.userref is None
            and type(order_id) is int
            and 0 < order_id <= _MAX
        ):
            return  # by order id alone (most cancels): the rules below hold
        _check_cancel_order(self)

    if build.COMPILED and not TYPE_CHECKING:
        # The compiled build's (model/_order.pyx), as for NewOrder.
        __post_init__ = build.compiled_order().cancel_order_post_init


def _check_cancel_order(self: CancelOrder) -> None:
    """Every rule a cancel's own fields follow (CommandError naming the first broken)."""
    _positive("order_id", self.order_id)
    _text_id("cl_ord_id", self.cl_ord_id)
    _int64("order_userref", self.userref)
    named = (self.order_id is not None) + (self.cl_ord_id is not None)
    if named + (self.userref is not None) != 1:
        raise CommandError(
            "order_id", self.order_id, "give exactly one of order_id, cl_ord_id, order_userref"
        )


class AmendOrder(msgspec.Struct, frozen=True, gc=False, tag="amend_order"):
    """Change an open order in place; the order keeps its id.

    ``qty`` is the new total order quantity (filled part included). A lower
    quantity at the same price keeps queue priority; a price change or a
    higher quantity loses it. ``post_only`` makes a price change that would
    take liquidity fail instead.
    """

    seq: int
    ts: int
    account: str
    order_id: int | None = None
    cl_ord_id: str | None = None
    qty: int | None = None
    price: int | None = None
    display_qty: int | None = None
    trigger_price: int | None = None
    post_only: bool = False

    def __post_init__(self) -> None:
        _one_id(self.order_id, self.cl_ord_id)
        _positive("order_qty", self.qty)
        _positive("limit_price", self.price)
        _positive("display_qty", self.display_qty)
        _positive("triggers", self.trigger_price)


class ReplaceOrder(msgspec.Struct, frozen=True, gc=False, tag="replace_order"):
    """Cancel-and-replace (edit): the open order is cancelled, a new one placed.

    The new order gets id ``seq`` and new time priority. ``qty`` is the total
    quantity as in FIX: the new order's quantity is ``qty`` minus what the old
    one had filled, so an edit can never over-fill. Unset fields keep the old
    order's values.
    """

    seq: int
    ts: int
    account: str
    order_id: int | None = None
    cl_ord_id: str | None = None
    qty: int | None = None
    price: int | None = None
    display_qty: int | None = None
    trigger_price: int | None = None
    post_only: bool | None = None
    new_cl_ord_id: str | None = None
    userref: int | None = None

    def __post_init__(self) -> None:
        _one_id(self.order_id, self.cl_ord_id)
        _positive("order_qty", self.qty)
        _positive("limit_price", self.price)
        _positive("display_qty", self.display_qty)
        _positive("triggers", self.trigger_price)
        _text_id("new_cl_ord_id", self.new_cl_ord_id)
        _int64("order_userref", self.userref)


class CancelAll(msgspec.Struct, frozen=True, gc=False, tag="cancel_all"):
    """Cancel every open order of ``account``, or only those in ``symbol``.

    ``reason`` is what the cancels report: ``user`` for a request; the
    dead man's switch, kill switch and session rules use their own words.
    """

    seq: int
    ts: int
    account: str
    symbol: str | None = None
    reason: str = "user"


class RunTimers(msgspec.Struct, frozen=True, gc=False, tag="run_timers"):
    """Time has reached ``ts``: run every timer due at or before it.

    Expires GTD and DAY orders and fires dead man's switches. The sequencer
    sends it at the instant reported by ``Engine.next_timer``.
    """

    seq: int
    ts: int


_SIDES = frozenset({"buy", "sell"})


def _one_id(order_id: int | None, cl_ord_id: str | None) -> None:
    _positive("order_id", order_id)
    _text_id("cl_ord_id", cl_ord_id)
    if (order_id is None) == (cl_ord_id is None):
        raise CommandError("order_id", order_id, "give exactly one of order_id and cl_ord_id")


class Deposit(msgspec.Struct, frozen=True, gc=False, tag="deposit"):
    """Operator: credit ``amount`` units of ``asset`` to ``account``."""

    seq: int
    ts: int
    account: str
    asset: str
    amount: int

    def __post_init__(self) -> None:
        _positive("amount", self.amount)


class Withdraw(msgspec.Struct, frozen=True, gc=False, tag="withdraw"):
    """Operator: debit ``amount`` units of ``asset``; held funds cannot be taken."""

    seq: int
    ts: int
    account: str
    asset: str
    amount: int

    def __post_init__(self) -> None:
        _positive("amount", self.amount)


class SetKillSwitch(msgspec.Struct, frozen=True, gc=False, tag="kill_switch"):
    """Operator: on, cancel all of ``account``'s orders and refuse new ones; off, lift it."""

    seq: int
    ts: int
    account: str
    enabled: bool


class SetReferencePrice(msgspec.Struct, frozen=True, gc=False, tag="set_reference_price"):
    """Operator: the reference price of ``symbol`` (ticks) that price bands are set from."""

    seq: int
    ts: int
    account: str
    symbol: str
    price: int

    def __post_init__(self) -> None:
        _positive("price", self.price)


class CancelAllAfter(msgspec.Struct, frozen=True, gc=False, tag="cancel_all_orders_after"):
    """Dead man's switch: cancel all of ``account``'s orders at ``ts + timeout_ns``.

    Each call moves the deadline; ``timeout_ns`` 0 disarms it.
    """

    seq: int
    ts: int
    account: str
    timeout_ns: int

    def __post_init__(self) -> None:
        if not 0 <= self.timeout_ns < 86_400 * 10**9:
            raise CommandError("timeout", self.timeout_ns, "must be at least 0 and below 86400 s")


class Halt(msgspec.Struct, frozen=True, gc=False, tag="halt"):
    """Operator: halt ``symbol`` (cancels only) until a :class:`Resume`.

    ``reason`` is free text for the status channel (at most 100 characters).
    """

    seq: int
    ts: int
    account: str
    symbol: str
    reason: str = "operator"

    def __post_init__(self) -> None:
        if not 0 < len(self.reason) <= 100:
            raise CommandError("reason", self.reason, "must be 1 to 100 characters")


class Resume(msgspec.Struct, frozen=True, gc=False, tag="resume"):
    """Operator: end the halt of ``symbol`` with a call auction of ``auction_ns``.

    Orders collect without matching for ``auction_ns``, then the book
    uncrosses at one price (see docs/SESSIONS.md); 0 uncrosses at once.
    """

    seq: int
    ts: int
    account: str
    symbol: str
    auction_ns: int = 300 * 10**9

    def __post_init__(self) -> None:
        if not 0 <= self.auction_ns <= 3_600 * 10**9:
            raise CommandError(
                "auction_seconds", self.auction_ns, "must be at least 0 and at most 3600 s"
            )


CorporateActionKind = Literal["split", "dividend", "delist"]
CORPORATE_ACTION_KINDS: frozenset[str] = frozenset({"split", "dividend", "delist"})


class CorporateAction(msgspec.Struct, frozen=True, gc=False, tag="corporate_action"):
    """Operator: a corporate action on ``symbol``'s token, at ``effective_ts`` (None: now).

    ``split`` (a reverse split too): ratio ``num / den`` new tokens per old
    one. ``dividend``: a rebasing multiplier ``num / den`` (at least 1) on
    every balance of the token. ``delist``: cancels only from now, closed for
    good at the effective time. See docs/SESSIONS.md.
    """

    seq: int
    ts: int
    account: str
    symbol: str
    kind: CorporateActionKind
    num: int = 1
    den: int = 1
    effective_ts: int | None = None

    def __post_init__(self) -> None:
        _one_of("kind", self.kind, CORPORATE_ACTION_KINDS)
        field = "multiplier" if self.kind == "dividend" else "ratio"
        if not (0 < self.num <= _MAX and 0 < self.den <= _MAX):
            raise CommandError(field, f"{self.num}/{self.den}", "must be a positive ratio")
        if self.kind == "split" and self.num == self.den:
            raise CommandError(field, f"{self.num}/{self.den}", "a split ratio must not be 1")
        if self.kind == "dividend" and self.num < self.den:
            raise CommandError(field, f"{self.num}/{self.den}", "must be at least 1")
        if self.effective_ts is not None and not 0 <= self.effective_ts <= _MAX:
            raise CommandError("effective_time", self.effective_ts, "must be from 1970 to 2262")


Command = (
    NewOrder
    | BatchOrder
    | CancelOrder
    | AmendOrder
    | ReplaceOrder
    | CancelAll
    | RunTimers
    | Deposit
    | Withdraw
    | SetKillSwitch
    | SetReferencePrice
    | CancelAllAfter
    | Halt
    | Resume
    | CorporateAction
)


if build.COMPILED and not TYPE_CHECKING:
    # The compiled build's version of the plain limit order's check
    # (model/_order.pyx): the same expression on the fields read by offset.
    # Every journal replay and every order built at the edge runs it.
    build.compiled_order().bind_commands(
        NewOrder, CancelOrder, STP_TYPES, MAX_ID_TEXT, _check_new_order, _check_cancel_order
    )
    _plain_limit = build.compiled_order().plain_limit
