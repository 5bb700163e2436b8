"""The compiled journal reader's CRC-32 (node/_crc32.h) is zlib's, to the bit.

The reader checks every record's checksum with its own CRC-32 (carry-less
multiplication where the processor has PCLMULQDQ, zlib's ``crc32``
otherwise). Held here: for every length up to past a kilobyte, at every
alignment and from any starting value, it gives what ``zlib.crc32`` gives;
and a record damaged anywhere (one bit of its header or payload) is not
taken. Only the compiled build has the reader (skipped in the pure build,
whose scan calls ``zlib.crc32``).
"""

from __future__ import annotations

import random
import zlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import build
from model.commands import NewOrder
from node.journal import MAX_RECORD, encode_command, frame

pytestmark = pytest.mark.skipif(not build.COMPILED, reason="the compiled build's reader")

if build.COMPILED:
    from node._journal import CRC32_PATH, crc32, take_records


def test_the_path_is_named() -> None:
    assert CRC32_PATH in ("pclmulqdq", "zlib")


def test_every_length_and_alignment_gives_zlibs_crc() -> None:
    rng = random.Random(16)
    block = rng.randbytes(1_200)
    for length in range(1_101):
        for offset in (0, 1, 7, 8, 15) if length < 300 else (0, 5):
            value = rng.getrandbits(32)
            data = memoryview(block)[offset : offset + length]
            assert crc32(data, value) == zlib.crc32(data, value), (length, offset)
            assert crc32(data) == zlib.crc32(data), (length, offset)


def test_a_long_buffer_and_the_edge_values() -> None:
    data = random.Random(3).randbytes(1 << 20)
    for value in (0, 1, 0xFFFFFFFF, 0x80000000):
        assert crc32(data, value) == zlib.crc32(data, value)
    for data in (b"", b"\0" * 64, b"\xff" * 64, b"\0" * 4_096):
        assert crc32(data, 0xFFFFFFFF) == zlib.crc32(data, 0xFFFFFFFF)


@settings(max_examples=300)
@given(st.binary(max_size=700), st.integers(0, 2**32 - 1))
def test_any_bytes_from_any_value(data: bytes, value: int) -> None:
    assert crc32(data, value) == zlib.crc32(data, value)


def test_a_value_out_of_range_is_refused() -> None:
    with pytest.raises(OverflowError):
        crc32(b"abc", 2**32)


def _record(seq: int, clid_len: int) -> bytes:
    command = NewOrder(seq, 5, "acct1", "AAPLx/USD", "buy", 3, 100, cl_ord_id="c" * clid_len)
    return frame(seq, encode_command(command))


@pytest.mark.parametrize("clid_len", [1, 40, 64])
def test_one_flipped_bit_anywhere_stops_the_reader_there(clid_len: int) -> None:
    good = _record(1, clid_len)
    second = _record(2, clid_len)
    decode = msgspec.msgpack.Decoder().decode
    out: list[object] = []
    assert take_records(good + second, 0, 1, 0, decode, out, MAX_RECORD) == (
        len(good) + len(second),
        3,
    )
    assert [c.seq for c in out] == [1, 2]  # type: ignore[attr-defined]
    rng = random.Random(clid_len)
    # The length field's own bits are left alone: a longer length runs past the end.
    for byte in [*range(4, len(second)), *rng.sample(range(4, len(second)), 20)]:
        bit = rng.randrange(8)
        bad = bytearray(second)
        bad[byte] ^= 1 << bit
        out.clear()
        pos, expected = take_records(good + bytes(bad), 0, 1, 0, decode, out, MAX_RECORD)
        assert (pos, expected) == (len(good), 2), (byte, bit)
        assert len(out) == 1
