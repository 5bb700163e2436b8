"""From applied commands to queue messages: which events settlement takes, and what they carry.

:class:`Extractor` is pure given its inputs: the node's listener and the
journal replay (:mod:`settlement.backfill`) both run the same code, so a
message re-derived after a crash is byte for byte the message the listener
would have made (``fed_ns`` aside).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from engine.events import (
    BalanceRebased,
    CorporateActionApplied,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    TradeExecuted,
)
from model.commands import Command
from node.store import Genesis
from risk.money import Pair
from settlement.records import (
    Check,
    CorporateAction,
    Deposit,
    Message,
    Rebase,
    Record,
    Trade,
    Withdrawal,
)

__all__ = ["BalanceOf", "Extractor"]

BalanceOf = Callable[[str, str], int]
"""The engine's balance of (account, asset) now."""


class Extractor:
    """Turns ``(command, events)`` into :class:`Message`\\ s for an exchange's genesis."""

    def __init__(self, genesis: Genesis) -> None:
        assets = {a.id: a for a in genesis.assets}
        self.pairs = {
            i.symbol: Pair.of(i, assets[i.base], assets[i.quote]) for i in genesis.instruments
        }
        self.fee_account = genesis.fee_account

    def records(self, events: Iterable[Event]) -> list[Record]:
        """The settlement records among one command's events, in engine order."""
        out: list[Record] = []
        for e in events:
            kind = type(e)
            if kind is TradeExecuted:
                assert isinstance(e, TradeExecuted)
                out.append(self._trade(e))
            elif kind is FundsDeposited:
                assert isinstance(e, FundsDeposited)
                out.append(Deposit(e.account, e.asset, e.amount))
            elif kind is FundsWithdrawn:
                assert isinstance(e, FundsWithdrawn)
                out.append(Withdrawal(e.account, e.asset, e.amount))
            elif kind is BalanceRebased:
                assert isinstance(e, BalanceRebased)
                out.append(Rebase(e.account, e.asset, e.before, e.after))
            elif kind is CorporateActionApplied:
                assert isinstance(e, CorporateActionApplied)
                out.append(
                    CorporateAction(e.symbol, e.kind, e.asset, e.num, e.den, e.dust_num, e.dust_den)
                )
        return out

    def _trade(self, e: TradeExecuted) -> Trade:
        pair = self.pairs[e.symbol]
        if e.taker_side == "buy":
            buyer, border, bfee = e.taker_account, e.taker_order_id, e.taker_fee
            seller, sorder, sfee = e.maker_account, e.maker_order_id, e.maker_fee
            maker_side = "sell"
        else:
            buyer, border, bfee = e.maker_account, e.maker_order_id, e.maker_fee
            seller, sorder, sfee = e.taker_account, e.taker_order_id, e.taker_fee
            maker_side = "buy"
        return Trade(
            trade_id=e.trade_id,
            symbol=e.symbol,
            base=pair.base,
            quote=pair.quote,
            price=e.price,
            qty=e.qty,
            base_units=e.qty * pair.lot_units,
            quote_qty=e.quote_qty,
            buyer=buyer,
            buyer_order=border,
            buyer_fee=bfee,
            seller=seller,
            seller_order=sorder,
            seller_fee=sfee,
            maker_side=maker_side,
            fee_account=self.fee_account,
        )

    def batch(
        self,
        applied: Iterable[tuple[Command, list[Event]]],
        prev: int,
        balance_of: BalanceOf,
        fed_ns: int,
    ) -> list[Message]:
        """The messages of one batch, chained on from ``prev``.

        ``balance_of`` answers with the balances at the end of the batch; the
        last message carries the checks of every balance the batch moved.
        """
        out: list[Message] = []
        for command, events in applied:
            records = self.records(events)
            if records:
                out.append(Message(command.seq, prev, command.ts, records, [], fed_ns))
                prev = command.seq
        if out:
            touched = sorted({key for m in out for r in m.records for key in moved(r)})
            checks = [Check(a, s, balance_of(a, s)) for a, s in touched]
            last = out[-1]
            out[-1] = Message(last.seq, last.prev, last.ts, last.records, checks, fed_ns)
        return out


def moved(record: Record) -> list[tuple[str, str]]:
    """The (account, asset) balances a record changes."""
    if type(record) is Trade:
        assert isinstance(record, Trade)
        r = record
        return [
            (r.buyer, r.base),
            (r.buyer, r.quote),
            (r.seller, r.base),
            (r.seller, r.quote),
            (r.fee_account, r.quote),
        ]
    if isinstance(record, Deposit | Withdrawal | Rebase):
        return [(record.account, record.asset)]
    return []
