"""What travels on the settlement queue: one :class:`Message` per command that moved money.

A message carries, in engine order, the records of every balance movement
one command caused (MARKET_RULES.md section 7): trades with every field
settlement needs, deposits, withdrawals, corporate-action rebases and the
action's rounding dust. ``seq`` is the command's engine sequence (the
message's identity: the NATS ``Nats-Msg-Id``, the SQLite queue's key) and
``prev`` the seq of the message before it on the queue (0 for the first),
so a consumer sees at once whether it holds the whole queue up to here.

``checks`` are the engine's balances, after the command's batch, of every
(account, asset) the message's batch moved (on the last message of the
batch): once the worker has booked through this message the ledger must hold
exactly these, so the ledger reconciles with the engine at the same engine
seq, batch by batch. ``fed_ns`` is the wall-clock instant the message was
handed to the queue (for the lag figures; engine time may be simulated).

Everything is integers: ticks, lots and asset units. Messages are msgpack.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "Check",
    "CorporateAction",
    "Deposit",
    "Message",
    "Rebase",
    "Record",
    "Trade",
    "Withdrawal",
    "decode_message",
    "encode_message",
]


class Trade(msgspec.Struct, frozen=True, gc=False, tag="trade"):
    """One fill: base moves seller to buyer, quote buyer to seller, fees to the fee account.

    ``quote_qty`` is the quote that goes from buyer to seller; the buyer pays
    ``buyer_fee`` more and the seller receives ``seller_fee`` less, both to
    ``fee_account`` (cumulative venue-favour rounding can make one of them -1).
    """

    trade_id: int
    symbol: str
    base: str
    quote: str
    price: int
    """Ticks."""
    qty: int
    """Lots."""
    base_units: int
    """``qty`` in units of the base asset."""
    quote_qty: int
    buyer: str
    buyer_order: int
    buyer_fee: int
    seller: str
    seller_order: int
    seller_fee: int
    maker_side: str
    """``buy`` or ``sell``: the side of the resting order."""
    fee_account: str


class Deposit(msgspec.Struct, frozen=True, gc=False, tag="deposit"):
    account: str
    asset: str
    amount: int


class Withdrawal(msgspec.Struct, frozen=True, gc=False, tag="withdrawal"):
    account: str
    asset: str
    amount: int


class Rebase(msgspec.Struct, frozen=True, gc=False, tag="rebase"):
    """A corporate action moved ``account``'s ``asset`` balance from ``before`` to ``after``."""

    account: str
    asset: str
    before: int
    after: int


class CorporateAction(msgspec.Struct, frozen=True, gc=False, tag="corporate_action"):
    """A split or dividend took effect; ``dust_num / dust_den`` units were lost to rounding."""

    symbol: str
    kind: str
    asset: str
    num: int
    den: int
    dust_num: int
    dust_den: int


Record = Trade | Deposit | Withdrawal | Rebase | CorporateAction


class Check(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """The engine's balance of one account and asset at the message's batch end."""

    account: str
    asset: str
    balance: int


class Message(msgspec.Struct, frozen=True, gc=False):
    seq: int
    prev: int
    ts: int
    """Engine time of the command (ns since the epoch)."""
    records: list[Record]
    checks: list[Check] = []
    fed_ns: int = 0

    @property
    def trades(self) -> int:
        return sum(1 for r in self.records if type(r) is Trade)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


def encode_message(message: Message) -> bytes:
    return _encoder.encode(message)


def decode_message(data: bytes) -> Message:
    """The message in ``data`` (msgspec.DecodeError / ValidationError if it is not one)."""
    return _decoder.decode(data)
