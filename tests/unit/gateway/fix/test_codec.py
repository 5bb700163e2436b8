"""FIX framing: what is a message and what is garbage, and any byte stream handled safely."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.fix.codec import Garbled, Message, Parser, checksum, encode, render

HEAD = "35=D\x0149=CLIENT\x0156=TOKEX\x0134=2\x0152=20261204-10:00:00.000\x01"
BODY = "11=C1\x0155=AAPLx/USD\x0154=1\x0138=1\x0140=2\x0144=230\x01"
GOOD = encode(HEAD, BODY)
LENGTH = f"9={len(HEAD + BODY)}".encode()


def _feed(*chunks: bytes) -> list[Message | Garbled]:
    parser = Parser()
    out: list[Message | Garbled] = []
    for chunk in chunks:
        out += parser.feed(chunk)
    return out


def test_encode_writes_bodylength_and_checksum() -> None:
    text = GOOD.decode()
    head, _, rest = text.partition("\x0110=")
    assert text.startswith(f"8=FIX.4.4\x019={len(HEAD + BODY)}\x0135=D\x01")
    assert rest == f"{checksum((head + chr(1)).encode()):03d}\x01"
    (message,) = _feed(GOOD)
    assert isinstance(message, Message)
    assert message.msg_type == "D" and message.get(11) == "C1" and message.get(999) is None
    assert message.fields[-1][0] == 10


def test_every_split_of_a_message_frames_it_once() -> None:
    for cut in range(1, len(GOOD)):
        out = _feed(GOOD[:cut], GOOD[cut:])
        assert [type(m) for m in out] == [Message], cut


GARBLED = [
    ("checksum wrong", GOOD[:-4] + b"000\x01", "CheckSum"),
    ("bodylength short", GOOD.replace(LENGTH, LENGTH[:-1] + b"0", 1), "BodyLength"),
    ("bodylength long", GOOD.replace(LENGTH, b"9=190", 1) + GOOD, "BodyLength"),
    ("bodylength not a number", GOOD.replace(LENGTH, b"9=9x", 1), "not a number"),
    (
        "bodylength not second",
        GOOD.replace(b"8=FIX.4.4\x01" + LENGTH, b"8=FIX.4.4\x0135=D\x01" + LENGTH),
        "second",
    ),
    ("msgtype not third", encode("49=CLIENT\x0135=D\x0156=TOKEX\x01", ""), "MsgType"),
    ("a tag that is not a number", encode(HEAD, "1x=2\x01"), "tag=value"),
    ("an empty tag", encode(HEAD, "=2\x01"), "tag=value"),
    ("a field without =", encode(HEAD, "55\x01"), "tag=value"),
    ("a tag with a leading zero", encode(HEAD, "055=X\x01"), "tag=value"),
]


@pytest.mark.parametrize(("name", "data", "why"), GARBLED, ids=[g[0] for g in GARBLED])
def test_garbled_messages_are_reported_as_such(name: str, data: bytes, why: str) -> None:
    out = _feed(data)
    assert isinstance(out[0], Garbled) and why in out[0].why, out


def test_a_wrong_bodylength_never_swallows_the_next_message() -> None:
    """2m: a too-long BodyLength ends the message at its first trailer; the next one stands."""
    out = _feed(GOOD.replace(LENGTH, b"9=190", 1) + GOOD)
    assert [type(m) for m in out] == [Garbled, Message]


def test_noise_before_a_message_is_skipped() -> None:
    out = _feed(b"\x00\xffhello 8=", b"FIX", GOOD)
    assert [type(m) for m in out] == [Message]


def test_a_run_without_a_trailer_is_dropped_past_the_limit() -> None:
    parser = Parser(max_size=1000)
    out = parser.feed(b"8=FIX.4.4\x019=5000\x0135=D\x01" + b"55=X\x01" * 300)
    assert [type(m) for m in out] == [Garbled]
    assert parser.pending < 1000
    assert [type(m) for m in parser.feed(GOOD)] == [Message]


def test_a_data_field_may_hold_soh_and_trailer_text() -> None:
    raw_data = "a\x0110=123\x01b"
    out = _feed(encode(HEAD, f"95={len(raw_data)}\x0196={raw_data}\x0155=X\x01"))
    (message,) = out
    assert isinstance(message, Message)
    assert message.get(96) == raw_data and message.get(55) == "X"


def test_latin1_values_round_trip_byte_for_byte() -> None:
    data = encode(HEAD, "11=\xe9t\xe9\x01")
    (message,) = _feed(data)
    assert isinstance(message, Message)
    assert message.get(11) == "\xe9t\xe9" and message.raw == data


def test_text_beyond_latin1_is_written_in_utf8_with_its_byte_length() -> None:
    data = encode(HEAD, "58=\u20ac\x01")
    (message,) = _feed(data)
    assert isinstance(message, Message)
    assert message.get(58) == "\u20ac".encode().decode("latin-1")


# ---------------------------------------------------------------- hypothesis

_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x01"),
    min_size=0,
    max_size=12,
)
_fields = st.lists(
    st.tuples(
        st.integers(min_value=11, max_value=9999).filter(
            lambda t: t not in (89, 91, 96, 213, 349, 351, 353, 355, 357, 359, 361, 363, 365)
        ),
        _values,
    ),
    max_size=12,
)


@given(_fields)
def test_encode_then_parse_round_trips(fields: list[tuple[int, str]]) -> None:
    data = encode(HEAD, render(fields))
    (message,) = _feed(data)
    assert isinstance(message, Message)
    assert message.fields[7:-1] == fields
    assert message.raw == data


@settings(max_examples=300, deadline=1000)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_crash_or_hang_the_parser(data: bytes) -> None:
    parser = Parser(max_size=1024)
    out = parser.feed(data)
    assert all(isinstance(m, Message | Garbled) for m in out)
    assert parser.pending <= 1024 + len(b"8=FIX")
    # Whatever it holds, a good message afterwards is not lost for good: at most
    # the one in progress is taken as garbage.
    after = parser.feed(GOOD + GOOD)
    assert any(isinstance(m, Message) and m.raw == GOOD for m in after)


_streams = st.lists(
    st.one_of(
        st.just(GOOD),
        st.builds(lambda f: encode(HEAD, render(f)), _fields),
        st.sampled_from([g[1] for g in GARBLED]),
        st.binary(max_size=40).filter(lambda b: b"8=" not in b),
    ),
    max_size=8,
)


@given(_streams, st.lists(st.integers(min_value=1, max_value=400), max_size=20))
def test_any_split_into_reads_parses_the_same(parts: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(parts)
    whole = [(type(m), m.raw) for m in _feed(stream)]
    chunks, pos = [], 0
    for cut in cuts:
        chunks.append(stream[pos : pos + cut])
        pos += cut
    chunks.append(stream[pos:])
    assert [(type(m), m.raw) for m in _feed(*chunks)] == whole


@settings(max_examples=500)
@given(st.binary(max_size=2000), st.sampled_from([bytes, bytearray, memoryview]))
def test_checksum_is_the_sum_of_the_bytes_modulo_256(data: bytes, kind: type) -> None:
    assert checksum(kind(data)) == sum(data) % 256


def test_checksum_at_the_chunk_edges() -> None:
    for size in (0, 1, 255, 256, 257, 511, 512, 513, 4096):
        for fill in (0, 1, 255):
            data = bytes([fill]) * size
            assert checksum(data) == sum(data) % 256, (size, fill)
