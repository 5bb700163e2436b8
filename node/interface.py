"""The node's one way in for every gateway: the :class:`Node` protocol and what crosses it.

WebSocket, FIX, REST and the operator console are all written against this
contract and nothing else of the running exchange, so none of them reaches
into the engine, the journal or another gateway. Three things cross it:

* commands in, each with the callbacks that answer it (``enqueue*``): they
  are stamped, journaled and applied in pipeline order, and the callback
  runs once the command is durable, before any listener hears of its events;
* the ordered stream of what was applied (:meth:`Node.add_listener`): one
  call per durable batch with every ``(command, events)`` in engine order;
* queries against the engine's state (:meth:`Node.open_orders`,
  :meth:`Node.book`, ...) and its history (:meth:`Node.recent_trades`,
  :meth:`Node.fills`, :meth:`Node.closed_orders`, :meth:`Node.ledger`, ...).
  Called from a listener or a barrier callback they see exactly the state
  after the batch just published; called at any other moment, the state
  after the last applied command;
* logins and sessions (:meth:`Node.login`, :meth:`Node.session`): nonces
  per API key and session tokens, durable across restarts and shared by
  every gateway. Signatures are the gateway's to check.

Everything that crosses is plain data: commands and events are frozen
``msgspec`` structs (:mod:`model.commands`, :mod:`engine.events`) and the
query answers are the frozen structs below, copied out of the engine, never
live engine objects. A gateway could therefore run in a process of its own
with this contract carried over a socket; the engine's internal storage
(how orders, accounts and books are held) can change without a gateway
noticing. Prices are integer ticks, quantities integer lots, money integer
units of the asset, times integer nanoseconds since the epoch (UTC).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from engine.engine import Engine
from model.commands import Command, NewOrder
from model.order import Order
from node.config import Config
from node.metrics import Metrics
from node.sequencer import Sequenced

__all__ = [
    "Balance",
    "Busy",
    "ClosedOrder",
    "Done",
    "Failed",
    "InProcessNode",
    "LedgerEntry",
    "Listener",
    "MarketState",
    "Node",
    "NonceUsed",
    "OrderView",
    "Refusal",
    "Sequenced",
    "TradeRecord",
]

Listener = Callable[[list[Sequenced]], None]
"""Hears each durable batch, in engine order, after the batch's answers."""

Done = Callable[[list[Sequenced]], None]
"""Answers a command once it is durable: the timers that ran first, then the command."""

Failed = Callable[[Exception], None]
"""Answers a command the journal could not take (nothing was applied)."""


class OrderView(msgspec.Struct, frozen=True, kw_only=True):
    """One open order (resting, or a stop not yet triggered), as the engine holds it now."""

    order_id: int
    account: str
    symbol: str
    side: str
    order_type: str
    tif: str
    price: int
    """Limit (or protection) price in ticks; 0: none."""
    qty: int
    """Total quantity in lots, the filled part included."""
    leaves: int
    """Still open: the shown slice plus an iceberg's hidden reserve."""
    filled: int
    cost: int
    """Sum of price x qty (ticks x lots) over its fills, for the average price."""
    stop: bool
    """True while it is a stop waiting for its trigger."""
    trigger_price: int
    display_qty: int
    expire_ts: int | None
    post_only: bool
    stp: str
    cl_ord_id: str | None
    userref: int | None


def order_view(o: Order) -> OrderView:
    """A copy of an open order as plain data (what crosses to a gateway)."""
    return OrderView(
        order_id=o.order_id,
        account=o.account,
        symbol=o.symbol,
        side=o.side,
        order_type=o.order_type,
        tif=o.tif,
        price=o.price,
        qty=o.qty,
        leaves=o.shown + o.hidden,
        filled=o.filled,
        cost=o.cost,
        stop=o.stop,
        trigger_price=o.trigger_price,
        display_qty=o.display_qty,
        expire_ts=o.expire_ts,
        post_only=o.post_only,
        stp=o.stp,
        cl_ord_id=o.cl_ord_id,
        userref=o.userref,
    )


def open_order_views(engine: Engine, account: str) -> list[OrderView]:
    """``account``'s open orders in ``engine``, oldest first, as plain data."""
    mine = engine.by_account.get(account, {})
    return [order_view(o) for o in sorted(mine.values(), key=_order_id)]


def _order_id(order: Order) -> int:
    return order.order_id


class Balance(msgspec.Struct, frozen=True):
    """One asset of one account, in units of the asset."""

    asset: str
    balance: int
    held: int
    """Held for open orders (the rest is available)."""


class MarketState(msgspec.Struct, frozen=True):
    """What changes about an instrument while it trades: its phase and reference price."""

    symbol: str
    phase: str
    """regular, extended, overnight, weekend, closed, halted or auction."""
    reference: int
    """Reference price in ticks; 0 while there is none."""
    band_low: int = 0
    """The price band's lowest price in ticks; 0 while there is no band."""
    band_high: int = 0
    """The price band's highest price in ticks; 0 while there is no band."""


class Refusal(msgspec.Struct, frozen=True):
    """Why a dry run (``validate``) would refuse orders: the first order that fails."""

    index: int
    reason: str
    text: str


class TradeRecord(msgspec.Struct, frozen=True):
    """One trade as the history keeps it (both sides; money in quote units)."""

    trade_id: int
    seq: int
    ts: int
    symbol: str
    price: int
    qty: int
    quote_qty: int
    taker_side: str
    taker_type: str
    """The taker's order type (``limit``, ``market``, ``stop-loss``...)."""
    taker_order_id: int
    taker_account: str
    taker_leaves: int
    taker_fee: int
    maker_order_id: int
    maker_account: str
    maker_leaves: int
    maker_fee: int


class ClosedOrder(msgspec.Struct, frozen=True):
    """An order as it closed (filled, canceled or expired), with its fills summed."""

    order_id: int
    account: str
    symbol: str
    side: str
    order_type: str
    tif: str
    price: int | None
    qty: int
    trigger_price: int | None
    cl_ord_id: str | None
    userref: int | None
    opened_ts: int
    status: str
    """filled, canceled or expired."""
    reason: str | None
    """Why it was cancelled (the executions channel's ``reason`` words)."""
    closed_ts: int
    filled: int
    cost: int
    """Sum of price x qty (ticks x lots) over its fills."""


class LedgerEntry(msgspec.Struct, frozen=True):
    """One movement of one asset of one account, and the balance after it (asset units).

    Its id is ``(seq, n)``: the n-th movement (from 0) caused by command ``seq``.
    """

    seq: int
    n: int
    ts: int
    account: str
    asset: str
    kind: str
    """trade, deposit, withdrawal or corporate_action."""
    amount: int
    fee: int
    balance: int
    ref_id: str
    """``T<trade_id>``, ``D<seq>``, ``W<seq>`` or ``C<seq>``."""


class EngineQueries:
    """The :class:`Node` queries answered from a copy of the engine (``self.engine``): the
    node's own, or a worker's (node/worker.py), kept to the node's durable state."""

    if TYPE_CHECKING:  # the node's is a property, a worker's an attribute

        @property
        def engine(self) -> Engine: ...

    def open_orders(self, account: str) -> list[OrderView]:
        return open_order_views(self.engine, account)

    def order(self, order_id: int) -> OrderView | None:
        order = self.engine.orders.get(order_id)
        return None if order is None else order_view(order)

    def find_order(
        self, account: str, order_id: int | None, cl_ord_id: str | None
    ) -> OrderView | None:
        order = self.engine.find_order(account, order_id, cl_ord_id)
        return None if order is None else order_view(order)

    def book(self, symbol: str, depth: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return self.engine.books[symbol].depth(depth)

    def balance(self, account: str, asset: str) -> Balance:
        risk = self.engine.risk
        if risk is None:
            return Balance(asset, 0, 0)
        acct = risk.accounts[account]
        return Balance(asset, acct.balance[asset], acct.held[asset])

    def market(self, symbol: str) -> MarketState:
        engine = self.engine
        risk = engine.risk
        if risk is None:
            return MarketState(symbol, engine.sessions[symbol].phase, 0)
        band = risk.band(symbol) or (0, 0)
        reference = risk.markets[symbol].reference or 0
        return MarketState(symbol, engine.sessions[symbol].phase, reference, *band)


class Busy(RuntimeError):
    """The pipeline is full: nothing was queued (answered ``EService:Busy``)."""


class NonceUsed(ValueError):
    """A login's nonce is not above every nonce used before with its API key."""


class Node(Protocol):
    """The running exchange as a gateway sees it.

    Order entry (new orders, batches, amends, replaces, dry runs) raises
    :class:`Busy` when more commands than the configured ``queue_limit``
    already wait for the sequencer; cancels, operator commands, barriers and
    ticks are always taken (they reduce risk or cost nothing). Every
    ``enqueue*`` raises ``RuntimeError`` while the node shuts down. Nothing
    is queued when one raises. Callbacks run on the node's event loop; an
    exception in one is printed and never stops the pipeline.
    """

    @property
    def config(self) -> Config:
        """The static configuration: instruments, assets, accounts and their access."""
        ...

    @property
    def metrics(self) -> Metrics:
        """The node's metrics (node/metrics.py): each gateway counts its own part there."""
        ...

    # ---------------------------------------------------------------- time

    def now(self) -> int:
        """The exchange clock (system or simulated), ns since the epoch."""
        ...

    @property
    def simulated_clock(self) -> bool:
        """True when the clock moves only by :meth:`advance_clock`."""
        ...

    def advance_clock(self, ns: int) -> int:
        """Move a simulated clock on; the new time. ValueError on the system clock."""
        ...

    # ---------------------------------------------------------------- commands

    def enqueue(
        self, command: Command, on_done: Done | None = None, on_error: Failed | None = None
    ) -> None:
        """Queue one command (its seq and ts are stamped by the sequencer)."""
        ...

    def enqueue_group(
        self,
        commands: list[Command],
        on_done: Done | None = None,
        on_error: Failed | None = None,
    ) -> None:
        """Queue commands to be applied back to back at one instant, nothing between them."""
        ...

    def enqueue_check(
        self, orders: Sequence[NewOrder], on_done: Callable[[Refusal | None], None]
    ) -> None:
        """Dry-run ``orders`` together in their turn in the pipeline; journal nothing."""
        ...

    def enqueue_barrier(self, after: Callable[[], None]) -> None:
        """Call ``after`` once everything queued before is durable and published."""
        ...

    def enqueue_tick(self, on_done: Done | None = None) -> None:
        """Run the timers due now (after a clock advance) through the pipeline."""
        ...

    # ---------------------------------------------------------------- events

    def add_listener(self, listener: Listener) -> None:
        """Hear every durable batch from now on."""
        ...

    # ---------------------------------------------------------------- queries

    def open_orders(self, account: str) -> list[OrderView]:
        """The account's open orders, oldest first."""
        ...

    def order(self, order_id: int) -> OrderView | None:
        """One open order by id (None once it is closed)."""
        ...

    def find_order(
        self, account: str, order_id: int | None, cl_ord_id: str | None
    ) -> OrderView | None:
        """The account's open order with that id or client order id."""
        ...

    def book(self, symbol: str, depth: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The best ``depth`` visible levels: bids high to low, asks low to high.

        Each level is ``(price ticks, visible lots)``; iceberg reserves and
        stops never show.
        """
        ...

    def balance(self, account: str, asset: str) -> Balance:
        """One asset of an account."""
        ...

    def market(self, symbol: str) -> MarketState:
        """An instrument's phase, reference price and price band now."""
        ...

    def report(self, name: str) -> dict[str, Any] | None:
        """A named status report of a part running beside the node (``settlement``), as
        plain JSON-able data; None when no such part runs."""
        ...

    @property
    def queued(self) -> int:
        """Commands waiting for the sequencer now."""
        ...

    @property
    def busy(self) -> bool:
        """True while order entry is refused (``queue_limit`` commands or more waiting)."""
        ...

    # ---------------------------------------------------------------- history

    def recent_trades(self, symbol: str, limit: int = 50) -> list[TradeRecord]:
        """The last ``limit`` (at most 50) trades in ``symbol``, oldest first."""
        ...

    def trades(self, symbol: str, since_ts: int) -> list[TradeRecord]:
        """Every trade in ``symbol`` at or after ``since_ts``, oldest first."""
        ...

    def fills(self, account: str, limit: int = 50) -> list[TradeRecord]:
        """The last ``limit`` trades ``account`` took part in, oldest first."""
        ...

    def closed_orders(self, account: str, limit: int = 50) -> list[ClosedOrder]:
        """The last ``limit`` orders of ``account`` that closed, oldest first."""
        ...

    def ledger(self, account: str, limit: int = 50) -> list[LedgerEntry]:
        """The last ``limit`` ledger entries of ``account``, oldest first."""
        ...

    # ---------------------------------------------------------------- access

    def login(
        self,
        api_key: str,
        nonce: int,
        on_done: Callable[[str], None],
        on_error: Failed,
    ) -> None:
        """Take ``nonce`` for ``api_key`` (a configured key) and issue a session token.

        Raises :class:`NonceUsed` at once if ``nonce`` is not above every nonce
        used with the key before (on any gateway, before any restart), and
        ValueError if it is not 1 to 2**63 - 1. Otherwise ``on_done(token)``
        runs once the nonce and the token are durable, or ``on_error`` if they
        cannot be written.
        """
        ...

    def use_nonce(
        self, api_key: str, nonce: int, on_done: Callable[[], None], on_error: Failed
    ) -> None:
        """Take ``nonce`` for ``api_key`` without issuing a token (a signed REST call).

        The nonces are :meth:`login`'s: :class:`NonceUsed` at once if ``nonce``
        is not above every nonce used with the key (by a login or a REST call,
        on any gateway, before any restart); ``on_done()`` once it is durable.
        """
        ...

    def session(self, token: str) -> str | None:
        """The account ``token`` acts for, marking it used now; None if unknown or lapsed.

        A token lapses 15 minutes of exchange-clock time after its last use.
        """
        ...


class InProcessNode(Node, Protocol):
    """The node as a gateway running in its own process sees it (the FIX gateway), or
    in the FIX worker, whose :class:`node.worker.RemoteNode` hears every batch early.

    Such a gateway may prepare what it says about a batch while the journal
    syncs it (:meth:`add_early_listener`), as long as nothing of it leaves
    before the batch is durable and published.
    """

    @property
    def applied_seq(self) -> int:
        """The journal number of the last record applied (durable or not yet)."""
        ...

    def add_early_listener(self, listener: Listener) -> None:
        """Hear every batch as soon as it is applied, before it is durable."""
        ...

    def connected(self, delta: int) -> None:
        """The gateway's client connections changed by ``delta`` (the FIX worker's node
        holds its batches while it has none; in the node's own process, nothing)."""
        ...

    def enqueue_early(
        self,
        commands: list[Command],
        on_applied: Done,
        on_done: Done | None = None,
        on_error: Failed | None = None,
    ) -> None:
        """Queue commands back to back; ``on_applied`` hears them applied, before durable."""
        ...
