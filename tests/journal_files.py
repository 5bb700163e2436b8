"""For the journal tests: its format read independently, damage, journals, command strategies."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import msgspec
from hypothesis import strategies as st

from model.commands import (
    MARKET_KINDS,
    STOP_KINDS,
    AmendOrder,
    BatchOrder,
    CancelAll,
    CancelAllAfter,
    CancelOrder,
    Command,
    CorporateAction,
    CorporateActionKind,
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
from node.journal import (
    JournalWriter,
)

# ---------------------------------------------------------------- the format

SEG_HEADER = struct.Struct("<4sHxxQ")
REC_HEADER = struct.Struct("<IQI")
HEAD = SEG_HEADER.size  # 16
REC = REC_HEADER.size  # 16
BIG = 1 << 30  # a segment size no test reaches: everything in one segment


@dataclass(frozen=True)
class Rec:
    """One record of a segment file, as the documented layout says."""

    path: Path
    offset: int
    length: int  # of the payload
    seq: int
    crc: int

    @property
    def end(self) -> int:
        return self.offset + REC + self.length


def records(path: Path) -> list[Rec]:
    """The records of an undamaged segment file (asserts it parses exactly)."""
    data = path.read_bytes()
    magic, version, _ = SEG_HEADER.unpack_from(data, 0)
    assert (magic, version) == (b"TKXJ", 1)
    out: list[Rec] = []
    pos = HEAD
    while pos < len(data):
        length, seq, crc = REC_HEADER.unpack_from(data, pos)
        out.append(Rec(path, pos, length, seq, crc))
        pos += REC + length
    assert pos == len(data)
    return out


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def header_seq(path: Path) -> int:
    seq: int = SEG_HEADER.unpack_from(path.read_bytes(), 0)[2]
    return seq


def flip_bit(path: Path, offset: int, bit: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def deposits(first: int, count: int) -> list[Command]:
    """``count`` distinct Deposit commands with seq ``first`` onwards."""
    return [
        Deposit(s, 1_000_000 + s, "trader1", "USD", 100 + s) for s in range(first, first + count)
    ]


def write_journal(
    directory: Path, commands: Sequence[Command], segment_bytes: int = BIG, batch: int = 1
) -> None:
    writer = JournalWriter(directory, commands[0].seq, fsync="off", segment_bytes=segment_bytes)
    for i in range(0, len(commands), batch):
        writer.append(commands[i : i + batch])
    writer.close()


POS = st.integers(1, (1 << 63) - 1)
TS = st.integers(0, 1 << 62)
STP: st.SearchStrategy[StpType] = st.sampled_from(get_args(StpType))
INT64 = st.integers(-(1 << 63), (1 << 63) - 1)
TEXT = st.text(st.characters(codec="utf-8"), max_size=24)
SIDES: st.SearchStrategy[Side] = st.sampled_from(get_args(Side))


@st.composite
def new_orders(draw: st.DrawFn) -> NewOrder:
    """Any well-formed NewOrder, of every order type and time in force."""
    seq, ts = draw(POS), draw(TS)
    kind: OrderType = draw(st.sampled_from(get_args(OrderType)))
    side = draw(SIDES)
    qty = draw(st.integers(2, (1 << 63) - 1))
    price = draw(st.none() | POS) if kind in MARKET_KINDS else draw(POS)
    trigger = draw(POS) if kind in STOP_KINDS else None
    display = draw(st.integers(1, qty - 1)) if kind == "iceberg" else None
    tifs: list[TimeInForce] = ["gtc", "ioc", "fok", "gtd", "day"]
    if kind == "market":
        tifs = ["gtc", "ioc", "fok"]
    elif kind == "iceberg":
        tifs = ["gtc", "gtd", "day"]
    tif = draw(st.sampled_from(tifs))
    expire = draw(st.integers(ts + 1, (1 << 63) - 1)) if tif in ("gtd", "day") else None
    can_post = kind in ("limit", "iceberg") and tif not in ("ioc", "fok")
    post_only = draw(st.booleans()) if can_post else False
    cash = draw(st.none() | POS) if kind == "market" and side == "buy" else None
    return NewOrder(
        seq,
        ts,
        draw(TEXT),
        draw(TEXT),
        side,
        qty,
        price,
        kind,
        tif,
        expire,
        post_only,
        display,
        trigger,
        draw(st.none() | TEXT),
        draw(st.none() | INT64),
        draw(STP),
        cash,
    )


@st.composite
def cancel_orders(draw: st.DrawFn) -> CancelOrder:
    which = draw(st.sampled_from(["order_id", "cl_ord_id", "userref"]))
    return CancelOrder(
        draw(POS),
        draw(TS),
        draw(TEXT),
        draw(POS) if which == "order_id" else None,
        draw(TEXT) if which == "cl_ord_id" else None,
        draw(INT64) if which == "userref" else None,
    )


@st.composite
def amends(draw: st.DrawFn) -> AmendOrder:
    by_id = draw(st.booleans())
    maybe = st.none() | POS
    return AmendOrder(
        draw(POS),
        draw(TS),
        draw(TEXT),
        draw(POS) if by_id else None,
        None if by_id else draw(TEXT),
        draw(maybe),
        draw(maybe),
        draw(maybe),
        draw(maybe),
        draw(st.booleans()),
    )


@st.composite
def replaces(draw: st.DrawFn) -> ReplaceOrder:
    by_id = draw(st.booleans())
    maybe = st.none() | POS
    return ReplaceOrder(
        draw(POS),
        draw(TS),
        draw(TEXT),
        draw(POS) if by_id else None,
        None if by_id else draw(TEXT),
        draw(maybe),
        draw(maybe),
        draw(maybe),
        draw(maybe),
        draw(st.none() | st.booleans()),
        draw(st.none() | TEXT),
        draw(st.none() | INT64),
    )


@st.composite
def corporate_actions(draw: st.DrawFn) -> CorporateAction:
    kind: CorporateActionKind = draw(st.sampled_from(get_args(CorporateActionKind)))
    num, den = draw(st.integers(1, 10**9)), draw(st.integers(1, 10**9))
    if kind == "split" and num == den:
        num += 1
    if kind == "dividend":
        num, den = max(num, den), min(num, den)
    return CorporateAction(
        draw(POS),
        draw(TS),
        draw(TEXT),
        draw(TEXT),
        kind,
        num,
        den,
        draw(st.none() | st.integers(0, (1 << 63) - 1)),
    )


@st.composite
def batch_orders(draw: st.DrawFn) -> BatchOrder:
    """A new order turned into one part of a batch."""
    order = draw(new_orders())
    parts = draw(st.integers(2, 15))
    fields = msgspec.structs.asdict(order)
    return BatchOrder(**fields, part=draw(st.integers(0, parts - 1)), parts=parts)


REASON = st.text(st.characters(codec="utf-8"), min_size=1, max_size=100)

any_command: st.SearchStrategy[Command] = st.one_of(
    new_orders(),
    batch_orders(),
    cancel_orders(),
    amends(),
    replaces(),
    st.builds(CancelAll, POS, TS, TEXT, st.none() | TEXT, TEXT),
    st.builds(RunTimers, POS, TS),
    st.builds(Deposit, POS, TS, TEXT, TEXT, POS),
    st.builds(Withdraw, POS, TS, TEXT, TEXT, POS),
    st.builds(SetKillSwitch, POS, TS, TEXT, st.booleans()),
    st.builds(SetReferencePrice, POS, TS, TEXT, TEXT, POS),
    st.builds(CancelAllAfter, POS, TS, TEXT, st.integers(0, 86_400 * 10**9 - 1)),
    st.builds(Halt, POS, TS, TEXT, TEXT, REASON),
    st.builds(Resume, POS, TS, TEXT, TEXT, st.integers(0, 3_600 * 10**9)),
    corporate_actions(),
)


def one_of_each() -> list[Command]:
    """One command of every type, with seq 1 onwards."""
    made: list[Command] = [
        NewOrder(0, 10, "a", "AAPLx/USD", "buy", 5, 100, cl_ord_id="c1", userref=-3),
        NewOrder(0, 10, "a", "AAPLx/USD", "sell", 9, 101, "iceberg", "gtd", 99, True, 3),
        NewOrder(0, 10, "a", "AAPLx/USD", "buy", 9, None, "stop-loss", trigger_price=7),
        BatchOrder(0, 10, "a", "AAPLx/USD", "buy", 2, 100, cl_ord_id="b1", part=0, parts=2),
        BatchOrder(0, 10, "a", "AAPLx/USD", "buy", 3, 99, cl_ord_id="b2", part=1, parts=2),
        CancelOrder(0, 11, "a", order_id=1),
        CancelOrder(0, 11, "a", cl_ord_id="c1"),
        CancelOrder(0, 11, "a", userref=7),
        AmendOrder(0, 12, "a", 1, None, 4, 99, None, None, True),
        ReplaceOrder(0, 13, "a", None, "c1", 6, 98, new_cl_ord_id="c2", userref=1),
        CancelAll(0, 14, "a", "AAPLx/USD", "kill_switch"),
        RunTimers(0, 15),
        Deposit(0, 16, "a", "USD", 1_000),
        Withdraw(0, 17, "a", "USD", 10),
        SetKillSwitch(0, 18, "a", True),
        SetReferencePrice(0, 19, "ops", "AAPLx/USD", 23_000),
        CancelAllAfter(0, 20, "a", 60 * 10**9),
        Halt(0, 21, "ops", "AAPLx/USD", "news pending"),
        Resume(0, 22, "ops", "AAPLx/USD", 0),
        CorporateAction(0, 23, "ops", "AAPLx/USD", "split", 3, 2, 10**18),
    ]
    return [msgspec.structs.replace(c, seq=i) for i, c in enumerate(made, 1)]
