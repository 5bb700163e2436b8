"""The node-worker channel (node/channel.py): messages survive encoding, frames survive any
split of the byte stream, and a broken length closes the channel."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from engine.events import OrderAccepted
from model.commands import CancelAll, NewOrder
from node.channel import (
    HEADER,
    MAX_FRAME,
    Admit,
    Admitted,
    Advance,
    Answer,
    Batch,
    Enqueue,
    FrameReader,
    GatewayCounts,
    Login,
    Presence,
    Release,
    Requests,
    Stats,
    Touch,
    decode_applied,
    decode_down,
    decode_up,
    encode,
    encode_applied,
    frame,
)

ORDER = NewOrder(7, 11, "alice", "AAPLx/USD", "buy", 100, 22_950)


def test_requests_and_batches_round_trip() -> None:
    up = Requests(
        [
            Enqueue(1, [ORDER], False),
            Presence("carol", -1, CancelAll(0, 0, "carol", None, "dead_man_switch")),
            Touch(b"\x01" * 32, 5),
            Login(2, "alice-key", 9),
            Login(3, "alice-key", 10, False),  # a nonce only (a signed REST call)
        ]
    )
    assert decode_up(encode(up)) == up
    assert [i.issue for i in up.items if isinstance(i, Login)] == [True, False]
    accepted = OrderAccepted(7, 11, 7, ORDER)
    applied = [(ORDER, [accepted])]
    batch = Batch([Answer(1, 7, 1)], encode_applied(applied), False)
    down = decode_down(encode(batch))
    assert isinstance(down, Batch)
    assert down.replies == [Answer(1, 7, 1)]
    assert decode_applied(down.applied) == [ORDER]


def test_quota_clock_and_stats_messages_round_trip() -> None:
    """The messages of the shared address quota, the simulated clock and the metrics."""
    up = Requests([Admit(4, "127.0.0.1"), Release("127.0.0.1"), Advance(60 * 10**9)])
    assert decode_up(encode(up)) == up
    stats = Stats(
        [
            GatewayCounts(
                "ws",
                2,
                5,
                40,
                80,
                1,
                {"slow_consumer": 1},
                {"EAPI:Invalid nonce": 2},
                {"add_order": ([3, 1] + [0] * 11, 0.004)},
            )
        ],
        1.25,
        50_000_000,
        ([9] + [0] * 10, 0.0),
    )
    assert decode_up(encode(stats)) == stats
    # A batch carries the simulated clock's time; without it (the system clock) it is 0.
    down = decode_down(encode(Batch([Admitted(4, False)], encode_applied([]), False, 7)))
    assert isinstance(down, Batch) and (down.clock, down.replies) == (7, [Admitted(4, False)])
    plain = decode_down(encode(Batch([], encode_applied([]), False)))
    assert isinstance(plain, Batch) and plain.clock == 0


def test_frames_are_read_whole_however_the_stream_is_cut() -> None:
    messages = [encode(Requests([Enqueue(n, [ORDER], False)])) for n in range(50)]
    stream = b"".join(frame(m) for m in messages)

    async def run(step: int) -> list[bytes]:
        reader = asyncio.StreamReader()
        for start in range(0, len(stream), step):
            reader.feed_data(stream[start : start + step])
        reader.feed_eof()
        frames = FrameReader(reader)
        out: list[bytes] = []
        while got := await frames.frames():
            out += got
        return out

    for step in (1, 3, 7, 64, len(stream)):
        assert asyncio.run(run(step)) == messages


def test_a_frame_longer_than_the_limit_is_a_broken_peer() -> None:
    async def run() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(HEADER.pack(MAX_FRAME + 1) + b"x")
        await FrameReader(reader).frames()

    with pytest.raises(ConnectionError, match="broken"):
        asyncio.run(run())


def test_a_wrong_message_is_refused_by_the_decoder() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_up(encode(Batch([], encode_applied([]), False)))
