"""Snapshot files that cannot be used are refused by name, saying what is wrong and where.

The format is engine/snapshot.py's schema in MessagePack behind node/store.py's
header (magic, version 2, seq, length, CRC-32). Each case writes a real file
whose header checks pass where the case needs it (the CRC recomputed over a
doctored payload), so the refusal comes from the layer under test.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine import snapshot
from engine.engine import Engine
from model.order import Order, order_tuple
from node.store import SnapshotError, read_snapshot, write_snapshot
from tests.property.snapshot_flow import flow, make_engine

HEADER = struct.Struct("<4sHxxQQI")


@pytest.fixture(scope="module")
def engine() -> Engine:
    engine = make_engine()
    for command in flow(5, 600):
        engine.process(command)
    assert engine.orders and any(b.bids.levels for b in engine.books.values())
    return engine


def _file(path: Path, seq: int, payload: bytes, version: int = 2) -> Path:
    path.write_bytes(
        HEADER.pack(b"TKXS", version, seq, len(payload), zlib.crc32(payload)) + payload
    )
    return path


def _doctored(path: Path, engine: Engine, change: Any) -> Path:
    """A snapshot of ``engine`` with ``change(doc)`` applied to its plain decoded data."""
    doc = msgspec.msgpack.decode(snapshot.encode(engine))
    change(doc)
    return _file(path, engine.last_seq, msgspec.msgpack.encode(doc))


def test_a_snapshot_file_round_trips(tmp_path: Path, engine: Engine) -> None:
    path = write_snapshot(tmp_path, engine)
    assert HEADER.unpack_from(path.read_bytes())[:3] == (b"TKXS", 2, engine.last_seq)
    loaded = read_snapshot(path)
    assert loaded.state_hash() == engine.state_hash()
    loaded.check_invariants()


def test_a_truncated_snapshot_names_its_length(tmp_path: Path, engine: Engine) -> None:
    path = write_snapshot(tmp_path, engine)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(SnapshotError, match=r"bytes where the header says") as info:
        read_snapshot(path)
    assert str(info.value).startswith(f"{path}: ")


def test_a_payload_cut_short_under_a_matching_checksum(tmp_path: Path, engine: Engine) -> None:
    payload = snapshot.encode(engine)
    path = _file(tmp_path / "cut.snap", engine.last_seq, payload[: len(payload) // 2])
    with pytest.raises(SnapshotError, match="not an engine snapshot of format 1") as info:
        read_snapshot(path)
    assert str(info.value).startswith(f"{path}: cannot be loaded")


def test_a_flipped_bit_fails_the_checksum(tmp_path: Path, engine: Engine) -> None:
    path = write_snapshot(tmp_path, engine)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="checksum"):
        read_snapshot(path)


def test_another_format_number_is_named(tmp_path: Path, engine: Engine) -> None:
    def newer(doc: dict[str, Any]) -> None:
        doc["format"] = 2
        doc["something_new"] = [1, 2, 3]
        del doc["orders"]

    path = _doctored(tmp_path / "newer.snap", engine, newer)
    with pytest.raises(SnapshotError, match=r"format 2: this tokex reads .* format 1 only"):
        read_snapshot(path)


def test_another_header_version_is_named(tmp_path: Path, engine: Engine) -> None:
    path = _file(tmp_path / "v3.snap", engine.last_seq, snapshot.encode(engine), version=3)
    with pytest.raises(
        SnapshotError, match="version 3 of a tokex TKXS file; this tokex reads version 2"
    ):
        read_snapshot(path)


def test_a_value_of_the_wrong_type_is_named_with_its_place(tmp_path: Path, engine: Engine) -> None:
    def bad_price(doc: dict[str, Any]) -> None:
        doc["orders"][3][4] = "12.5"

    path = _doctored(tmp_path / "type.snap", engine, bad_price)
    with pytest.raises(
        SnapshotError, match=r"Expected `int`, got `str` - at `\$\.orders\[3\]\[4\]`"
    ):
        read_snapshot(path)


def test_an_unknown_phase_is_refused(tmp_path: Path, engine: Engine) -> None:
    def bad_phase(doc: dict[str, Any]) -> None:
        doc["sessions"][0]["phase"] = "lunch"

    path = _doctored(tmp_path / "phase.snap", engine, bad_phase)
    with pytest.raises(SnapshotError, match=r"sessions\[0\]\.phase"):
        read_snapshot(path)


def test_a_level_where_no_order_rests_is_refused(tmp_path: Path, engine: Engine) -> None:
    book = next(b for b in engine.books.values() if b.bids.levels)
    index = list(engine.books).index(book.symbol)
    empty = min(level.price for level in book.bids.levels.values()) - 1

    def invent(doc: dict[str, Any]) -> None:
        side = doc["books"][index]["bids"]
        side["levels"].append(empty)
        side["heap"].append(-empty)

    path = _doctored(tmp_path / "invented.snap", engine, invent)
    with pytest.raises(SnapshotError) as info:
        read_snapshot(path)
    assert f"books[{book.symbol}].buy level {empty}: no order rests there" in str(info.value)


def test_an_order_resting_at_an_unlisted_level_is_refused(tmp_path: Path, engine: Engine) -> None:
    book = next(b for b in engine.books.values() if b.bids.levels)
    index = list(engine.books).index(book.symbol)

    def unlist(doc: dict[str, Any]) -> None:
        side = doc["books"][index]["bids"]
        side["levels"] = []
        side["stale"] = side["stale"] + [k for k in side["heap"] if k not in side["stale"]]

    path = _doctored(tmp_path / "orphan.snap", engine, unlist)
    with pytest.raises(
        SnapshotError, match=rf"order \d+: rests at {book.symbol} buy \d+, a level its book does"
    ):
        read_snapshot(path)


def test_two_resting_orders_with_one_priority_are_refused(tmp_path: Path, engine: Engine) -> None:
    def same(doc: dict[str, Any]) -> None:
        resting = [row for row in doc["orders"] if not row[10]]
        resting[1][13] = resting[0][13]

    path = _doctored(tmp_path / "priority.snap", engine, same)
    with pytest.raises(SnapshotError, match="two resting orders with the same priority stamp"):
        read_snapshot(path)


def test_a_heap_missing_a_level_key_is_refused(tmp_path: Path, engine: Engine) -> None:
    book = next(b for b in engine.books.values() if b.asks.levels)
    index = list(engine.books).index(book.symbol)

    def lose(doc: dict[str, Any]) -> None:
        doc["books"][index]["asks"]["heap"].pop()

    path = _doctored(tmp_path / "heap.snap", engine, lose)
    with pytest.raises(SnapshotError, match=rf"books\[{book.symbol}\]\.sell: the heap"):
        read_snapshot(path)


def test_a_header_seq_other_than_the_engine_is_refused(tmp_path: Path, engine: Engine) -> None:
    path = _file(tmp_path / "seq.snap", engine.last_seq + 1, snapshot.encode(engine))
    with pytest.raises(SnapshotError, match=rf"at seq {engine.last_seq}, the header says"):
        read_snapshot(path)


def test_sums_past_64_bits_round_trip_as_digits(engine: Engine) -> None:
    """An order's cost and fee sums are unbounded integers: kept exactly."""
    copy = snapshot.decode(snapshot.encode(engine))
    order = next(iter(copy.orders.values()))
    order.cost = 3**50
    order.fee = -(2**90)
    again = snapshot.decode(snapshot.encode(copy))
    assert [order_tuple(o) for o in again.orders.values()] == [
        order_tuple(o) for o in copy.orders.values()
    ]
    twin = again.orders[order.order_id]
    assert (twin.cost, twin.fee) == (3**50, -(2**90))


def test_the_schema_names_every_field_of_the_order_record() -> None:
    assert tuple(Order.__struct_fields__) == snapshot.ORDER_FIELDS
    assert len(snapshot.OrderFields.__args__) == len(snapshot.ORDER_FIELDS)
