"""Events: what a command did, in the order it happened.

Each event carries the ``seq`` and ``ts`` of the command that caused it, so a
consumer lines events up with the journal. The list returned for one command
is its complete effect: nothing in the books changes that is not in it.
Quantities are lots, prices ticks. ``leaves`` is what is still open of an
order after the event (visible plus hidden).
"""

from __future__ import annotations

import msgspec
from model.commands import NewOrder

__all__ = [
    "CANCEL_REASONS",
    "REJECT_REASONS",
    "AuctionIndicated",
    "AuctionUncrossed",
    "BalanceRebased",
    "CorporateActionAnnounced",
    "CorporateActionApplied",
    "DeadManSwitchSet",
    "Event",
    "FundsDeposited",
    "FundsWithdrawn",
    "IcebergRefilled",
    "KillSwitchSet",
    "OrderAccepted",
    "OrderAmended",
    "OrderCancelled",
    "OrderExpired",
    "OrderRejected",
    "OrderTriggered",
    "PhaseChanged",
    "ReferencePriceSet",
    "ReferencePriceStale",
    "TradeExecuted",
    "event_symbol",
]

# Why an open order stopped being open without filling (the WebSocket
# ``reason`` words). ``replaced`` marks the old half of a cancel-and-replace.
CANCEL_REASONS = frozenset(
    {
        "user",
        "ioc_remainder",
        "fok_unfillable",
        "self_trade",
        "price_band",
        "corporate_action",
        "dead_man_switch",
        "kill_switch",
        "halted",
        "replaced",
        "operator",
    }
)

# Why a command was refused with no change to any state.
REJECT_REASONS = frozenset(
    {
        "invalid_arguments",
        "unknown_symbol",
        "unknown_order",
        "unknown_account",
        "duplicate_cl_ord_id",
        "post_only",
        # pre-trade risk
        "account_disabled",
        "order_minimum",
        "cost_minimum",
        "price_band",
        "max_notional",
        "orders_limit",
        "insufficient_funds",
        # trading phases
        "limit_only",
        "market_closed",
        "halted",
    }
)


class OrderAccepted(msgspec.Struct, frozen=True, gc=False, tag="order_accepted"):
    """A new order passed every check. Fills, if any, follow as their own events.

    ``order`` is the order as placed: the command itself, or for a
    cancel-and-replace the new order the engine built from it. ``order_id``
    is its id; ``replaces`` the order id it replaced, if any.
    """

    seq: int
    ts: int
    order_id: int
    order: NewOrder
    replaces: int | None = None


class OrderRejected(msgspec.Struct, frozen=True, gc=False, tag="order_rejected"):
    """A command was refused and changed nothing.

    ``reason`` is one of :data:`REJECT_REASONS`; ``text`` names the field,
    value and rule for ``invalid_arguments``. ``order_id`` is the order the
    command named (cancels, amends, replaces); None for a rejected new order,
    which created nothing.
    """

    seq: int
    ts: int
    account: str
    reason: str
    text: str = ""
    order_id: int | None = None
    cl_ord_id: str | None = None


class TradeExecuted(msgspec.Struct, frozen=True, gc=False, tag="trade"):
    """A fill between the incoming (taker) order and a resting (maker) one.

    Always at the maker's price. ``taker_side`` is the taker's side. With
    pre-trade risk the money is on the event too: the quote amount and each
    side's fee, rounded cumulatively per order in the venue's favour (so a
    fee can be -1 on one fill; see risk/money.py).
    """

    seq: int
    ts: int
    trade_id: int
    symbol: str
    price: int
    qty: int
    taker_side: str
    taker_order_id: int
    taker_account: str
    taker_leaves: int
    maker_order_id: int
    maker_account: str
    maker_leaves: int
    quote_qty: int = 0
    """Quote units moved from buyer to seller (0 when the engine runs without risk)."""
    taker_fee: int = 0
    """Quote units the taker paid the fee account for this fill."""
    maker_fee: int = 0
    """Quote units the maker paid the fee account for this fill."""


class OrderCancelled(msgspec.Struct, frozen=True, gc=False, tag="order_cancelled"):
    """An open order (or an incoming order's remainder) was cancelled.

    ``leaves`` is the quantity that was open and is now cancelled.
    """

    seq: int
    ts: int
    order_id: int
    account: str
    symbol: str
    leaves: int
    reason: str


class OrderExpired(msgspec.Struct, frozen=True, gc=False, tag="order_expired"):
    """A GTD or DAY order reached its expiry time with ``leaves`` still open."""

    seq: int
    ts: int
    order_id: int
    account: str
    symbol: str
    leaves: int


class OrderAmended(msgspec.Struct, frozen=True, gc=False, tag="order_amended"):
    """An open order was changed in place.

    ``priority_kept`` is False when the change sent it to the back of the
    queue (price change or quantity increase).
    """

    seq: int
    ts: int
    order_id: int
    account: str
    symbol: str
    qty: int
    price: int | None
    leaves: int
    display_qty: int | None
    trigger_price: int | None
    priority_kept: bool


class OrderTriggered(msgspec.Struct, frozen=True, gc=False, tag="order_triggered"):
    """A stop's trigger was reached by ``last_price``; it now enters the book."""

    seq: int
    ts: int
    order_id: int
    account: str
    symbol: str
    trigger_price: int
    last_price: int


class IcebergRefilled(msgspec.Struct, frozen=True, gc=False, tag="iceberg_refilled"):
    """An iceberg's slice was used up; a new one of ``shown`` went to the back."""

    seq: int
    ts: int
    order_id: int
    account: str
    symbol: str
    shown: int
    hidden: int


class FundsDeposited(msgspec.Struct, frozen=True, gc=False, tag="deposit"):
    """Operator credited ``amount`` units of ``asset``; ``balance`` is the new balance."""

    seq: int
    ts: int
    account: str
    asset: str
    amount: int
    balance: int


class FundsWithdrawn(msgspec.Struct, frozen=True, gc=False, tag="withdrawal"):
    """Operator debited ``amount`` units of ``asset``; ``balance`` is the new balance."""

    seq: int
    ts: int
    account: str
    asset: str
    amount: int
    balance: int


class KillSwitchSet(msgspec.Struct, frozen=True, gc=False, tag="kill_switch"):
    """The kill switch of ``account`` is now ``enabled`` (cancels follow when turned on)."""

    seq: int
    ts: int
    account: str
    enabled: bool


class ReferencePriceSet(msgspec.Struct, frozen=True, gc=False, tag="reference_price"):
    """``symbol``'s reference price is now ``price``; its band is ``low`` to ``high``."""

    seq: int
    ts: int
    symbol: str
    price: int
    low: int
    high: int


class DeadManSwitchSet(msgspec.Struct, frozen=True, gc=False, tag="dead_man_switch"):
    """``account``'s orders will all be cancelled at ``deadline`` (None: disarmed)."""

    seq: int
    ts: int
    account: str
    deadline: int | None


class PhaseChanged(msgspec.Struct, frozen=True, gc=False, tag="phase_changed"):
    """``symbol`` is now in ``phase`` (see docs/SESSIONS.md) with price band ``band_bps``.

    ``reason`` says why: ``schedule`` (the clock), ``band`` (only the band
    width changed), ``operator`` text for a halt, ``resume``, ``uncross``.
    ``until`` is when the phase ends by itself (an auction call), or None.
    """

    seq: int
    ts: int
    symbol: str
    phase: str
    band_bps: int | None
    reason: str
    until: int | None = None


class AuctionIndicated(msgspec.Struct, frozen=True, gc=False, tag="auction_indicated"):
    """During a call: the price the book would uncross at now, and what would trade.

    ``price`` is None when nothing would trade. ``imbalance`` is the buy
    quantity less the sell quantity willing to trade at that price (lots).
    """

    seq: int
    ts: int
    symbol: str
    price: int | None
    volume: int
    imbalance: int


class AuctionUncrossed(msgspec.Struct, frozen=True, gc=False, tag="auction_uncrossed"):
    """The call ended: ``volume`` lots traded at the single ``price`` (trades precede it)."""

    seq: int
    ts: int
    symbol: str
    price: int | None
    volume: int


class CorporateActionAnnounced(
    msgspec.Struct, frozen=True, gc=False, tag="corporate_action_announced"
):
    """A corporate action on ``symbol`` takes effect at ``effective_ts`` (see the command)."""

    seq: int
    ts: int
    symbol: str
    kind: str
    num: int
    den: int
    effective_ts: int


class CorporateActionApplied(msgspec.Struct, frozen=True, gc=False, tag="corporate_action_applied"):
    """A corporate action took effect on ``asset`` (BalanceRebased events precede it).

    ``dust_num / dust_den`` units of ``asset`` were lost to rounding every
    rebased balance down to the unit, over all accounts together.
    """

    seq: int
    ts: int
    symbol: str
    kind: str
    asset: str
    num: int
    den: int
    dust_num: int
    dust_den: int


class BalanceRebased(msgspec.Struct, frozen=True, gc=False, tag="balance_rebased"):
    """``account``'s balance of ``asset`` went from ``before`` to ``after`` (a corporate action)."""

    seq: int
    ts: int
    account: str
    asset: str
    before: int
    after: int


class ReferencePriceStale(msgspec.Struct, frozen=True, gc=False, tag="reference_price_stale"):
    """``symbol``'s reference ``price`` was not renewed for too long: it no longer counts.

    Until a new one (a regular-hours trade, an auction, the operator), the
    instrument has no band: only orders that rest are accepted.
    """

    seq: int
    ts: int
    symbol: str
    price: int


Event = (
    OrderAccepted
    | OrderRejected
    | TradeExecuted
    | OrderCancelled
    | OrderExpired
    | OrderAmended
    | OrderTriggered
    | IcebergRefilled
    | FundsDeposited
    | FundsWithdrawn
    | KillSwitchSet
    | ReferencePriceSet
    | DeadManSwitchSet
    | PhaseChanged
    | AuctionIndicated
    | AuctionUncrossed
    | CorporateActionAnnounced
    | CorporateActionApplied
    | BalanceRebased
    | ReferencePriceStale
)


def event_symbol(event: Event) -> str | None:
    """The instrument an event concerns, or None (funding and account events)."""
    if isinstance(event, OrderAccepted):
        return event.order.symbol
    symbol: str | None = getattr(event, "symbol", None)
    return symbol
