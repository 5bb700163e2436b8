"""The compiled framing (gateway/fix/_codec.pyx) against the pure one, read for read.

Both parsers are fed the same stream in the same pieces; after every piece
they must have returned the same items (a Message's fields, index and raw
bytes; a Garbled's raw bytes and reason) and hold the same bytes. Streams mix
good messages with every way tests/unit/gateway/fix/test_codec.py knows to
break one, data fields, long and zero-led tags, noise and random bytes.
Only the compiled build has the compiled parser to compare.
"""

from __future__ import annotations

from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.fix.codec import PURE_NEXT, Garbled, Message, Parser, encode, render
from model.build import COMPILED
from tests.unit.gateway.fix.test_codec import GARBLED, GOOD, HEAD, _fields

pytestmark = pytest.mark.skipif(not COMPILED, reason="the pure build has no compiled parser")


def _seen(items: list[Message | Garbled]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for item in items:
        if isinstance(item, Message):
            out.append(("M", item.fields, item.raw, item.index, item.seq, item.msg_type))
        else:
            out.append(("G", item.raw, item.why))
    return out


def _same(chunks: list[bytes], max_size: int = 64 * 1024) -> None:
    fast, pure = Parser(max_size), Parser(max_size)
    pure._next = partial(PURE_NEXT, pure)  # type: ignore[method-assign]
    for chunk in chunks:
        got = fast.feed(chunk)
        want = pure.feed(chunk)
        assert _seen(got) == _seen(want), chunk
        assert bytes(fast._buf) == bytes(pure._buf)


_pieces = st.one_of(
    st.just(GOOD),
    st.builds(lambda f: encode(HEAD, render(f)), _fields),
    st.sampled_from([g[1] for g in GARBLED]),
    st.sampled_from(
        [
            encode(HEAD, "95=5\x0196=a\x01b=c\x01"),  # a data field holding SOH
            encode(HEAD, "1234567890=x\x01"),  # a tag of ten digits
            encode(HEAD, "0=x\x01"),
            encode(HEAD, "58=a=b=c\x01"),  # "=" inside a value
            b"8=FIX.4.4\x019=0\x0110=000\x01",
            b"8=FIX.4.4\x019=00000000005\x0135=0\x0110=000\x01",
            b"8=8=FIX.4.4\x01",
            GOOD.replace(b"\x0110=", b"\x0110=x", 1),
        ]
    ),
    st.binary(max_size=60),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_pieces, max_size=8), st.lists(st.integers(1, 300), max_size=12))
def test_the_compiled_parser_reads_every_stream_as_the_pure_one(
    parts: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(parts)
    chunks, pos = [], 0
    for cut in cuts:
        chunks.append(stream[pos : pos + cut])
        pos += cut
    chunks.append(stream[pos:])
    _same(chunks)
    _same([stream])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_read_the_same_in_both(data: bytes) -> None:
    _same([data, GOOD], max_size=1024)


def test_every_byte_of_a_good_message_flipped_reads_the_same() -> None:
    for at in range(len(GOOD)):
        for value in (0, 1, ord("="), ord("0"), ord("9"), 255):
            broken = GOOD[:at] + bytes([value]) + GOOD[at + 1 :]
            _same([broken + GOOD])
