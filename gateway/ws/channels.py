"""The WebSocket gateway's channels: executions (private) and book (public), per connection.

A mixin of :class:`gateway.ws.WsGateway`: subscriptions, snapshots, and the
pipeline's listener that turns each durable batch's events into pushes, in
engine order, after the batch's answers.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from websockets.asyncio.server import ServerConnection

from engine.events import PhaseChanged, ReferencePriceSet, TradeExecuted, event_symbol
from gateway.requests import RequestError, only, parse_flag
from gateway.words import STATUS
from gateway.ws.executions import OrderBook
from gateway.ws.ledger import ledger_entries
from gateway.ws.market import DEPTHS, Levels, checksum, diff, top
from gateway.ws.ohlc import INTERVALS, OhlcFeed
from gateway.ws.ticker import WINDOW_NS, Rolling24h
from gateway.ws.wire import plain, rfc3339
from model.commands import MARKET_KINDS, NewOrder
from model.instrument import Instrument
from node.config import AccountAccess
from node.interface import Node, Sequenced

__all__ = ["BookSub", "Channels", "Connection", "run_request"]

_Invalid = RequestError


@dataclass
class Connection:
    ws: ServerConnection
    conn_id: int
    pending: list[bytes] = field(default_factory=list)
    """Encoded messages queued in this turn of the loop, written together."""
    last_sent: float = 0.0
    account: AccountAccess | None = None
    """Who logged in on this connection (kept after the login lapses: cancel-on-disconnect)."""
    token: str | None = None
    """The session token of the connection's login; it lapses like any token."""
    outstanding: int = 0
    """Requests read and not answered yet."""
    logging_in: int = 0
    """Logins waiting for their nonce and token to be durable."""
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a connection paused for its own backlog may be read again."""
    fd: int = -1
    reads: int = 0
    """Messages read (the kernel's unread count is checked every few)."""
    behind: bool = False
    """More of its requests wait unread than BEHIND_BYTES: its order entry is Busy."""
    executions: int | None = None
    """Sequence of the last executions message, None while not subscribed."""
    tokens: float = 0.0
    refilled: float = 0.0
    books: dict[str, BookSub] = field(default_factory=dict)
    trades: set[str] = field(default_factory=set)
    instrument: bool = False
    balances: int | None = None
    """Sequence of the last balances message, None while not subscribed."""
    tickers: set[str] = field(default_factory=set)
    ohlc: dict[str, set[int]] = field(default_factory=dict)
    """Symbol -> the bar intervals (minutes) subscribed on the ohlc channel."""
    names: dict[str, str] = field(default_factory=dict)
    """Symbols this client spells otherwise (symbols are case-insensitive, as Kraken's
    are): the listed symbol -> the client's spelling, which its pushes carry."""

    @property
    def subscribed(self) -> bool:
        """Has any subscription (so it gets heartbeats when idle)."""
        return bool(
            self.executions is not None
            or self.balances is not None
            or self.books
            or self.trades
            or self.tickers
            or self.ohlc
            or self.instrument
        )


@dataclass
class BookSub:
    """One connection's book subscription to one symbol: what it was last sent."""

    depth: int
    bids: Levels
    asks: Levels
    sequence: int = 0
    cleared: tuple[list[int], list[int]] | None = None
    """Bid and ask prices removed by the update that last emptied the book, until the next
    update sends them again (see :meth:`Channels._book_changes`)."""


class Channels:
    """Subscriptions and pushes; the gateway provides the attributes and ``_send``."""

    node: Node
    lot_units: dict[str, int]
    instruments: dict[str, Instrument]
    quote_precision: dict[str, int]
    connections: dict[int, Connection]
    subscribers: dict[str, set[int]]
    balance_subscribers: dict[str, set[int]]
    rolling: dict[str, Rolling24h]
    last_ticker: dict[str, dict[str, Any]]
    tracker: OrderBook

    def _send(self, conn: Connection, message: dict[str, Any]) -> None:
        raise NotImplementedError

    def _account(self, conn: Connection, params: dict[str, Any]) -> AccountAccess:
        raise NotImplementedError

    def _trader(self, conn: Connection, params: dict[str, Any]) -> AccountAccess:
        raise NotImplementedError

    def _queue(self, enqueue: Callable[[], None]) -> None:
        raise NotImplementedError  # gateway.ws.trading.Trading

    def _subscribe(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        """Subscribe once everything queued before is durable and published.

        The snapshot is taken there (``Node.enqueue_barrier``), so the
        updates that follow continue it with no gap and no repeat, and no
        snapshot ever shows a command that is not yet journaled.
        """
        channel = params.get("channel")
        if not isinstance(channel, str) or channel not in _SUBSCRIBE:
            raise _Invalid(f"EGeneral:Invalid arguments:channel {channel!r}: not available")
        subscribe = _SUBSCRIBE[channel]
        only(params, f"subscribe {channel}", _FIELDS[channel])
        if channel in ("executions", "balances"):
            self._trader(conn, params)  # refused at once; checked again at the barrier

        def now_durable() -> None:
            if conn.conn_id not in self.connections:
                return  # closed meanwhile
            run_request(lambda: subscribe(self, conn, params, answer), answer)

        self._queue(lambda: self.node.enqueue_barrier(now_durable))

    def _unsubscribe(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        """Undo a subscription; the answer echoes the channel (and symbols)."""
        channel = params.get("channel")
        if isinstance(channel, str) and channel in _FIELDS:
            only(params, f"unsubscribe {channel}", _UNSUBSCRIBE_FIELDS[channel])
        if channel in ("executions", "balances"):
            subs = self.subscribers if channel == "executions" else self.balance_subscribers
            if getattr(conn, channel) is None:
                raise _Invalid(f"EGeneral:Invalid arguments:channel {channel!r}: not subscribed")
            setattr(conn, channel, None)
            for ids in subs.values():
                ids.discard(conn.conn_id)
            answer({"channel": channel})
            return
        if channel == "instrument":
            if not conn.instrument:
                raise _Invalid("EGeneral:Invalid arguments:channel 'instrument': not subscribed")
            conn.instrument = False
            answer({"channel": channel})
            return
        if channel == "ohlc":
            self._unsubscribe_ohlc(conn, params, answer)
            return
        held: dict[str, Any] | set[str]
        if channel == "book":
            held = conn.books
        elif channel == "trade":
            held = conn.trades
        elif channel == "ticker":
            held = conn.tickers
        else:
            raise _Invalid(f"EGeneral:Invalid arguments:channel {channel!r}: not available")
        named = self._symbols(params)
        missing = [name for symbol, name in named if symbol not in held]
        if missing:
            raise _Invalid(
                f"EGeneral:Invalid arguments:symbol {missing[0]!r}: not subscribed on {channel}"
            )
        for symbol, _ in named:
            if isinstance(held, dict):
                del held[symbol]
            else:
                held.discard(symbol)
        echo = {k: v for k, v in params.items() if k in ("depth",)}
        for i, (_, name) in enumerate(named):
            # One answer per symbol, the symbol as a string (Kraken's shape).
            answer({"channel": channel, "symbol": name, **echo}, final=i == len(named) - 1)

    def _subscribe_instrument(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        snapshot = parse_flag(params, "snapshot", True)
        answer({"channel": "instrument", "snapshot": snapshot})
        conn.instrument = True
        if snapshot:
            data = self._instrument()
            self._send(conn, {"channel": "instrument", "type": "snapshot", "data": data})

    def _subscribe_executions(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        access = self._trader(conn, params)
        snap = parse_flag(params, "snap_orders", True)
        snap_trades = parse_flag(params, "snap_trades", False)
        answer(
            {
                "channel": "executions",
                "snapshot": snap or snap_trades,
                "snap_orders": snap,
                "snap_trades": snap_trades,
            }
        )
        conn.executions = 0
        self.subscribers.setdefault(access.account, set()).add(conn.conn_id)
        self.tracker.watch(access.account)
        # Open orders and fills go in two messages: clients route a message by its
        # first item's exec_type (new: orders, trade: fills).
        if snap:
            self._push_executions(conn, "snapshot", self.tracker.open_items(access.account))
        if snap_trades:
            # The account's last 50 fills, from the history (also after a restart).
            items = self.tracker.trade_items(access.account, TRADE_SNAPSHOT)
            self._push_executions(conn, "snapshot", items)

    def _push_executions(self, conn: Connection, kind: str, data: list[dict[str, Any]]) -> None:
        assert conn.executions is not None
        conn.executions += 1
        self._send(
            conn,
            {"channel": "executions", "type": kind, "data": data, "sequence": conn.executions},
        )

    def _symbols(self, params: dict[str, Any]) -> list[tuple[str, str]]:
        """A public channel's ``symbol`` list: non-empty, every one listed.

        Returns (listed symbol, the client's spelling) for each; symbols are
        case-insensitive, as Kraken's are.
        """
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols:
            raise _Invalid("EGeneral:Invalid arguments:symbol must be a non-empty list")
        out = []
        for name in symbols:
            symbol = self._listed(name)
            if symbol is None:
                raise _Invalid(f"EGeneral:Invalid arguments:symbol {name!r}: not listed")
            out.append((symbol, name))
        return out

    def _listed(self, name: object) -> str | None:
        """The listed symbol ``name`` spells (in any case), or None."""
        if not isinstance(name, str):
            return None
        if name in self.instruments:
            return name
        folded = getattr(self, "_folded", None)
        if folded is None:
            folded = self._folded = {s.casefold(): s for s in self.instruments}
        return folded.get(name.casefold())

    @staticmethod
    def _named(conn: Connection, symbol: str, name: str) -> None:
        """Remember how ``conn`` spells ``symbol`` (its pushes carry that spelling)."""
        if name != symbol:
            conn.names[symbol] = name
        else:
            conn.names.pop(symbol, None)

    @staticmethod
    def _renamed(conn: Connection, message: dict[str, Any]) -> dict[str, Any]:
        """``message`` with its items' ``symbol`` in ``conn``'s spelling."""
        if not conn.names:
            return message
        data = [
            {**item, "symbol": conn.names[item["symbol"]]}
            if item.get("symbol") in conn.names
            else item
            for item in message["data"]
        ]
        return {**message, "data": data}

    def _subscribe_book(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        named = self._symbols(params)
        depth = params.get("depth", 10)
        if depth not in DEPTHS:
            raise _Invalid(
                f"EGeneral:Invalid arguments:depth {depth!r}: one of {', '.join(map(str, DEPTHS))}"
            )
        snapshot = parse_flag(params, "snapshot", True)
        for i, (symbol, name) in enumerate(named):
            # One answer per symbol, the symbol as a string (Kraken's shape), then its snapshot.
            answer(
                {"channel": "book", "symbol": name, "depth": depth, "snapshot": snapshot},
                final=i == len(named) - 1,
            )
            self._named(conn, symbol, name)
            bids, asks = top(self.node, symbol, depth)
            sub = conn.books[symbol] = BookSub(depth, bids, asks)
            if snapshot:
                self._push_book(
                    conn, symbol, sub, "snapshot", list(bids.items()), list(asks.items())
                )

    def _push_book(
        self,
        conn: Connection,
        symbol: str,
        sub: BookSub,
        kind: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
    ) -> None:
        inst = self.instruments[symbol]
        sub.sequence += 1

        def side(levels: list[tuple[int, int]], reverse: bool) -> list[dict[str, Any]]:
            return [
                {"price": inst.ticks_to_price(p), "qty": inst.lots_to_qty(q)}
                for p, q in sorted(levels, reverse=reverse)
            ]

        self._send(
            conn,
            {
                "channel": "book",
                "type": kind,
                "data": [
                    {
                        "symbol": conn.names.get(symbol, symbol),
                        "bids": side(bids, True),
                        "asks": side(asks, False),
                        "checksum": checksum(inst, sub.bids, sub.asks),
                        "timestamp": rfc3339(self.node.now()),
                        "sequence": sub.sequence,
                    }
                ],
            },
        )

    def _on_applied(self, applied: list[Sequenced]) -> None:
        """The pipeline's listener: executions to their accounts, then book updates.

        Called once per durable batch, after its answers were queued.
        """
        self._publish_balances(applied)
        touched: set[str] = set()
        traded, trades = self._trades(applied)
        phases: set[str] = set()
        # Execution items are built only while someone is subscribed to them: the
        # same node serves FIX sessions, whose batches would otherwise pay for them.
        tracker = self.tracker
        watching = {a for a, ids in self.subscribers.items() if ids}
        tracker.unwatch(watching)
        watched = bool(watching)
        for _, events in applied:
            phases.update(
                e.symbol for e in events if isinstance(e, PhaseChanged | ReferencePriceSet)
            )
            if not watched:
                touched.update(s for s in map(event_symbol, events) if s is not None)
                continue
            # One event per message: clients route a message by its first event.
            for account, item in tracker.events(events):
                for conn_id in sorted(self.subscribers.get(account, ())):
                    conn = self.connections.get(conn_id)
                    if conn is not None and conn.executions is not None:
                        self._push_executions(conn, "update", [item])
            touched.update(s for s in map(event_symbol, events) if s is not None)
        if traded:
            if trades:
                self._publish_trades(trades)
            self._publish_ohlc(applied)
        if phases:
            update = self._instrument(phases)
            for conn in list(self.connections.values()):
                if conn.instrument:
                    self._send(conn, {"channel": "instrument", "type": "update", "data": update})
        if not touched:
            return
        self._publish_tickers(touched)
        node = self.node
        for conn in list(self.connections.values()):
            for symbol in sorted(touched & conn.books.keys()):
                sub = conn.books[symbol]
                bids, asks = top(node, symbol, sub.depth)
                changes = self._book_changes(sub, bids, asks)
                if changes is not None:
                    self._push_book(conn, symbol, sub, "update", *changes)

    @staticmethod
    def _book_changes(
        sub: BookSub, bids: Levels, asks: Levels
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
        """The update that takes ``sub`` to ``bids``/``asks`` (None if nothing changed).

        An update that empties the book carries checksum 0, the CRC32 of nothing,
        which python-kraken-sdk's order-book client takes for a missing checksum
        and skips, keeping the removed levels. So the next update repeats those
        removals (qty 0) for prices it does not set itself: a level removed twice
        is still removed for every client, and that one's book is right again
        before it checks the next checksum.
        """
        bid_changes, ask_changes = diff(sub.bids, bids), diff(sub.asks, asks)
        if not bid_changes and not ask_changes:
            return None
        if sub.cleared is not None:
            old_bids, old_asks = sub.cleared
            bid_changes += [(p, 0) for p in old_bids if p not in bids and p not in sub.bids]
            ask_changes += [(p, 0) for p in old_asks if p not in asks and p not in sub.asks]
            sub.cleared = None
        if not bids and not asks:
            sub.cleared = (list(sub.bids), list(sub.asks))
        sub.bids, sub.asks = bids, asks
        return bid_changes, ask_changes

    # --------------------------------------------------------------- balances

    def _units(self, asset: str, units: int) -> Any:
        """Units of ``asset`` as its decimal amount (never in exponent form)."""
        return plain(Decimal(units).scaleb(-self.quote_precision[asset]))

    def _subscribe_balances(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        access = self._trader(conn, params)
        snapshot = parse_flag(params, "snapshot", True)
        answer({"channel": "balances", "snapshot": snapshot})
        conn.balances = 0
        self.balance_subscribers.setdefault(access.account, set()).add(conn.conn_id)
        if not snapshot:
            return
        data = [
            {
                "asset": b.asset,
                "balance": self._units(b.asset, b.balance),
                "hold_trade": self._units(b.asset, b.held),
            }
            for b in (self.node.balance(access.account, a) for a in sorted(self.quote_precision))
        ]
        conn.balances = 1
        self._send(conn, {"channel": "balances", "type": "snapshot", "data": data, "sequence": 1})

    def _publish_balances(self, applied: list[Sequenced]) -> None:
        if not self.balance_subscribers:
            return
        node = self.node
        entries = ledger_entries(
            applied,
            self.instruments,
            lambda account, asset: node.balance(account, asset).balance,
            self.lot_units,
        )
        per_account: dict[str, list[dict[str, Any]]] = {}
        for seq, n, entry in entries:
            if entry.account not in self.balance_subscribers:
                continue
            held = node.balance(entry.account, entry.asset).held
            per_account.setdefault(entry.account, []).append(
                {
                    "ledger_id": f"L{seq}-{n}",
                    "ref_id": entry.ref_id,
                    "type": entry.kind,
                    "asset": entry.asset,
                    "amount": self._units(entry.asset, entry.amount),
                    "fee": self._units(entry.asset, entry.fee),
                    "balance": self._units(entry.asset, entry.balance),
                    "hold_trade": self._units(entry.asset, held),
                    "timestamp": rfc3339(entry.ts),
                }
            )
        for account, items in per_account.items():
            for conn_id in sorted(self.balance_subscribers.get(account, ())):
                conn = self.connections.get(conn_id)
                if conn is not None and conn.balances is not None:
                    conn.balances += 1
                    self._send(
                        conn,
                        {
                            "channel": "balances",
                            "type": "update",
                            "data": items,
                            "sequence": conn.balances,
                        },
                    )

    # ------------------------------------------------------------------ trade

    def _trades(self, applied: list[Sequenced]) -> tuple[bool, list[dict[str, Any]]]:
        """Whether the batch traded, and its public trade items on the symbols some
        connection subscribes to (every trade goes into its 24-hour statistics).

        The items are made only where someone reads them: a worker whose
        clients do not watch trades (or one with no clients while FIX sessions
        trade) would otherwise format every price, quantity and time for nothing.
        """
        kinds: dict[int, str] | None = None
        wanted: set[str] | None = None
        node = self.node
        traded = False
        out = []
        for _, events in applied:
            for e in events:
                if not isinstance(e, TradeExecuted):
                    continue
                traded = True
                self.rolling[e.symbol].add(e.ts, e.price, e.qty)
                if wanted is None:
                    wanted = set()
                    for conn in self.connections.values():
                        wanted |= conn.trades
                if e.symbol not in wanted:
                    continue
                if kinds is None:
                    kinds = {c.seq: c.order_type for c, _ in applied if isinstance(c, NewOrder)}
                taker = None if e.taker_order_id in kinds else node.order(e.taker_order_id)
                kind = kinds.get(e.taker_order_id) or (taker.order_type if taker else "limit")
                out.append(self._trade_item(e.symbol, e.taker_side, e.price, e.qty, kind, e))
        return traded, out

    def _trade_item(
        self, symbol: str, side: str, price: int, qty: int, kind: str, trade: Any
    ) -> dict[str, Any]:
        """One ``trade`` channel item. ``ord_type`` is Kraken's word for the taker:
        ``market`` for the order types that take at any price up to a protection
        (market, stop-loss, take-profit), ``limit`` for the rest."""
        inst = self.instruments[symbol]
        return {
            "symbol": symbol,
            "side": side,
            "price": inst.ticks_to_price(price),
            "qty": inst.lots_to_qty(qty),
            "ord_type": "market" if kind in MARKET_KINDS else "limit",
            "trade_id": trade.trade_id,
            "timestamp": rfc3339(trade.ts),
        }

    def _publish_trades(self, trades: list[dict[str, Any]]) -> None:
        by_symbol: dict[str, list[dict[str, Any]]] = {}
        for t in trades:
            by_symbol.setdefault(t["symbol"], []).append(t)
        for conn in list(self.connections.values()):
            for symbol in sorted(conn.trades & by_symbol.keys()):
                message = {"channel": "trade", "type": "update", "data": by_symbol[symbol]}
                self._send(conn, self._renamed(conn, message))

    def _subscribe_trade(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        named = self._symbols(params)
        snapshot = parse_flag(params, "snapshot", True)
        for i, (symbol, name) in enumerate(named):
            answer(
                {"channel": "trade", "symbol": name, "snapshot": snapshot},
                final=i == len(named) - 1,
            )
            self._named(conn, symbol, name)
            conn.trades.add(symbol)
            if snapshot:
                # The last 50 from the node's history: the same after a restart.
                data = [
                    self._trade_item(t.symbol, t.taker_side, t.price, t.qty, t.taker_type, t)
                    for t in self.node.recent_trades(symbol, TRADE_SNAPSHOT)
                ]
                if not data:
                    # Nothing traded yet: no snapshot (Kraken's markets always have one;
                    # ccxt cannot route an empty one: it fails on the missing symbol).
                    continue
                message = {"channel": "trade", "type": "snapshot", "data": data}
                self._send(conn, self._renamed(conn, message))

    def _seed_tickers(self) -> None:
        """Each symbol's 24-hour statistics from the node's history (they survive restarts)."""
        now = self.node.now()
        for symbol in self.instruments:
            stats = self.rolling[symbol] = Rolling24h()
            for t in self.node.trades(symbol, now - WINDOW_NS):
                stats.add(t.ts, t.price, t.qty)
            if stats.last is None:
                last = self.node.recent_trades(symbol, 1)
                stats.last = last[-1].price if last else None

    # ------------------------------------------------------------------- ohlc

    @property
    def _bars(self) -> OhlcFeed:
        feed: OhlcFeed | None = getattr(self, "_ohlc_feed", None)
        if feed is None:
            feed = self._ohlc_feed = OhlcFeed(self.node, self.instruments)
        return feed

    def _interval(self, params: dict[str, Any]) -> int:
        minutes = params.get("interval", 1)
        if minutes not in INTERVALS or isinstance(minutes, bool):
            raise _Invalid(
                f"EGeneral:Invalid arguments:interval {minutes!r}: one of"
                f" {', '.join(map(str, INTERVALS))} (minutes)"
            )
        return int(minutes)

    def _subscribe_ohlc(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        named = self._symbols(params)
        minutes = self._interval(params)
        snapshot = parse_flag(params, "snapshot", True)
        for i, (symbol, name) in enumerate(named):
            answer(
                {"channel": "ohlc", "symbol": name, "interval": minutes, "snapshot": snapshot},
                final=i == len(named) - 1,
            )
            self._named(conn, symbol, name)
            conn.ohlc.setdefault(symbol, set()).add(minutes)
            data = self._bars.snapshot(symbol, minutes)
            if snapshot and data:  # none without trades (as for the trade channel)
                message = {"channel": "ohlc", "type": "snapshot", "data": data}
                self._send(conn, self._renamed(conn, message))

    def _unsubscribe_ohlc(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        named = self._symbols(params)
        minutes = self._interval(params)
        missing = [n for s, n in named if minutes not in conn.ohlc.get(s, ())]
        if missing:
            raise _Invalid(
                f"EGeneral:Invalid arguments:symbol {missing[0]!r}: not subscribed on ohlc"
                f" {minutes}"
            )
        for symbol, _ in named:
            conn.ohlc[symbol].discard(minutes)
            if not conn.ohlc[symbol]:
                del conn.ohlc[symbol]
        for i, (_, name) in enumerate(named):
            answer(
                {"channel": "ohlc", "symbol": name, "interval": minutes},
                final=i == len(named) - 1,
            )

    def _publish_ohlc(self, applied: list[Sequenced]) -> None:
        watched = {
            (s, m) for c in self.connections.values() for s, ms in c.ohlc.items() for m in ms
        }
        if not watched:
            return
        for (symbol, minutes), item in sorted(self._bars.updates(applied, watched).items()):
            message = {"channel": "ohlc", "type": "update", "data": [item]}
            for conn in list(self.connections.values()):
                if minutes in conn.ohlc.get(symbol, ()):
                    self._send(conn, self._renamed(conn, message))

    # ----------------------------------------------------------------- ticker

    def _subscribe_ticker(self, conn: Connection, params: dict[str, Any], answer: Any) -> None:
        named = self._symbols(params)
        snapshot = parse_flag(params, "snapshot", True)
        for i, (symbol, name) in enumerate(named):
            answer(
                {"channel": "ticker", "symbol": name, "snapshot": snapshot},
                final=i == len(named) - 1,
            )
            self._named(conn, symbol, name)
            conn.tickers.add(symbol)
            if snapshot:
                item = self._ticker(symbol)
                message = {"channel": "ticker", "type": "snapshot", "data": [item]}
                self._send(conn, self._renamed(conn, message))

    def _ticker(self, symbol: str) -> dict[str, Any]:
        bids, asks = self.node.book(symbol, 1)
        stats = self.rolling[symbol]
        item = stats.ticker(
            self.instruments[symbol],
            self.node.now(),
            bids[0] if bids else None,
            asks[0] if asks else None,
        )
        self.last_ticker[symbol] = item
        return item

    def _publish_tickers(self, symbols: set[str]) -> None:
        """A ticker update for each symbol whose BBO or trades changed, to its subscribers."""
        watched = {s for c in self.connections.values() for s in c.tickers}
        for symbol in sorted(symbols & watched):
            before = self.last_ticker.get(symbol)
            item = self._ticker(symbol)
            if item == before:
                continue
            message = {"channel": "ticker", "type": "update", "data": [item]}
            for conn in list(self.connections.values()):
                if symbol in conn.tickers:
                    self._send(conn, self._renamed(conn, message))

    # ------------------------------------------------------------- instrument

    def _instrument(self, symbols: set[str] | None = None) -> dict[str, Any]:
        """The instrument channel's body: every asset, and the pairs (all, or ``symbols``)."""
        pairs = []
        for symbol, inst in sorted(self.instruments.items()):
            if symbols is not None and symbol not in symbols:
                continue
            state = self.node.market(symbol)
            phase, reference = state.phase, state.reference
            low, high = state.band_low, state.band_high
            pairs.append(
                {
                    "symbol": symbol,
                    "base": inst.base,
                    "quote": inst.quote,
                    "status": _STATUS[phase],
                    "price_precision": inst.price_precision,
                    "qty_precision": inst.qty_precision,
                    "price_increment": inst.price_increment,
                    "qty_increment": inst.qty_increment,
                    "qty_min": inst.lots_to_qty(inst.qty_min),
                    "cost_min": Decimal(inst.cost_min).scaleb(-self.quote_precision[inst.quote]),
                    "schedule": inst.schedule,
                    "phase": phase,
                    "reference_price": inst.ticks_to_price(reference) if reference else None,
                    "band_low": inst.ticks_to_price(low) if low else None,
                    "band_high": inst.ticks_to_price(high) if high else None,
                }
            )
        assets = [
            {"id": a, "status": "enabled", "precision": p}
            for a, p in sorted(self.quote_precision.items())
        ]
        return {"assets": assets, "pairs": pairs}


_STATUS = STATUS
TRADE_SNAPSHOT = 50


def run_request(handle: Callable[[], None], answer: Any) -> None:
    """Run a request's handler; a refusal is answered with its error string.

    Anything else is a bug: printed to stderr and answered
    ``EGeneral:Internal error``, and the connection and the pipeline go on.
    """
    try:
        handle()
    except _Invalid as e:
        answer(error=str(e))
    except Exception:
        traceback.print_exc(file=sys.stderr)
        answer(error="EGeneral:Internal error")


_PUBLIC = frozenset({"channel", "symbol", "snapshot", "req_id"})
_FIELDS: dict[str, frozenset[str]] = {
    "book": _PUBLIC | {"depth"},
    "trade": _PUBLIC,
    "ticker": _PUBLIC | {"event_trigger"},
    "ohlc": _PUBLIC | {"interval"},
    "instrument": frozenset({"channel", "snapshot"}),
    "executions": frozenset({"channel", "token", "snap_orders", "snap_trades"}),
    "balances": frozenset({"channel", "token", "snapshot"}),
}
"""The params each subscription takes (anything else is refused by name)."""
_UNSUBSCRIBE_FIELDS: dict[str, frozenset[str]] = {
    **{c: frozenset({"channel", "symbol", "depth"}) for c in ("book", "trade", "ticker")},
    "ohlc": frozenset({"channel", "symbol", "interval"}),
    "instrument": frozenset({"channel"}),
    "executions": frozenset({"channel", "token"}),
    "balances": frozenset({"channel", "token"}),
}

_SUBSCRIBE = {
    "book": Channels._subscribe_book,
    "trade": Channels._subscribe_trade,
    "ticker": Channels._subscribe_ticker,
    "ohlc": Channels._subscribe_ohlc,
    "instrument": Channels._subscribe_instrument,
    "executions": Channels._subscribe_executions,
    "balances": Channels._subscribe_balances,
}
"""The handler of each channel a client may subscribe to."""
