"""The node-worker channel (node/channel.py): messages survive encoding, frames survive any
split of the byte stream, and a broken length closes the channel."""

from __future__ import annotations

import asyncio
from pathlib import Path

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
    ChannelReader,
    Enqueue,
    FrameProtocol,
    FrameReader,
    Frames,
    GatewayCounts,
    Login,
    Presence,
    Release,
    Requests,
    Stats,
    Touch,
    applied_from_journal,
    decode_applied,
    decode_down,
    decode_up,
    encode,
    encode_applied,
    frame,
)
from node.journal import encode_command

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


def test_a_worker_reads_frames_then_has_them_pushed_as_read(tmp_path: Path) -> None:
    """ChannelReader (a worker's end, node.worker.connect): frames taken with ``frames()``
    until ``push``, then handed over as each chunk is read, however the chunks are cut;
    what was read and not taken comes first; the end is told once."""
    messages = [encode(Requests([Enqueue(n, [ORDER], False)])) for n in range(40)]
    stream = b"".join(frame(m) for m in messages)

    async def run() -> tuple[list[bytes], list[bytes], int]:
        peers: list[asyncio.StreamWriter] = []
        accepted = asyncio.Event()

        async def node(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peers.append(writer)
            accepted.set()

        path = str(tmp_path / "channel.sock")
        server = await asyncio.start_unix_server(node, path=path)
        loop = asyncio.get_running_loop()
        transport, reader = await loop.create_unix_connection(ChannelReader, path)
        await accepted.wait()
        [peer] = peers
        first = len(frame(messages[0]))
        peer.write(stream[: first + 5])  # one frame and a piece of the next
        await peer.drain()
        pulled = await reader.frames()
        pushed: list[bytes] = []
        ends: list[int] = []
        done: asyncio.Future[None] = loop.create_future()

        def ended() -> None:
            ends.append(1)
            done.set_result(None)

        reader.push(pushed.extend, ended)
        for start in range(first + 5, len(stream), 7):  # the rest, 7 bytes at a time
            peer.write(stream[start : start + 7])
            await peer.drain()
        peer.close()
        await asyncio.wait_for(done, 10)
        transport.close()
        server.close()
        return pulled, pushed, len(ends)

    pulled, pushed, ends = asyncio.run(run())
    assert pulled == messages[:1]
    assert pushed == messages[1:]
    assert ends == 1


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


def test_frames_cut_at_every_byte_come_out_whole_and_in_order() -> None:
    messages = [encode(Requests([Enqueue(n, [ORDER] * (n % 4), False)])) for n in range(6)]
    messages.append(b"")  # an empty frame is a frame too
    stream = b"".join(frame(m) for m in messages)
    # One cut at every position, and two cuts at every pair of positions.
    for cut in range(len(stream) + 1):
        frames = Frames()
        assert frames.feed(stream[:cut]) + frames.feed(stream[cut:]) == messages
        assert not frames.buffer
    for first in range(0, len(stream) + 1, 5):
        for second in range(first, len(stream) + 1, 3):
            frames = Frames()
            parts = (stream[:first], stream[first:second], stream[second:])
            assert [f for part in parts for f in frames.feed(part)] == messages
    # Byte by byte: each frame comes out with the byte that completes it, not before.
    frames = Frames()
    ends = [pos + 1 for pos in range(len(stream)) if frames.feed(stream[pos : pos + 1])]
    expected, at = [], 0
    for m in messages:
        at += HEADER.size + len(m)
        expected.append(at)
    assert ends == expected


def test_a_length_over_the_limit_is_refused_at_once_by_the_cutter() -> None:
    frames = Frames()
    assert frames.feed(HEADER.pack(MAX_FRAME + 1)[:3]) == []
    with pytest.raises(ConnectionError, match=f"a frame of {MAX_FRAME + 1} bytes"):
        frames.feed(HEADER.pack(MAX_FRAME + 1)[3:])


def test_the_protocol_reads_frames_from_a_real_socket_and_closes_a_broken_peer(
    tmp_path: Path,
) -> None:
    messages = [encode(Requests([Enqueue(n, [ORDER], False)])) for n in range(40)]
    stream = b"".join(frame(m) for m in messages)

    async def run() -> tuple[list[bytes], int, list[bytes], int]:
        got: list[bytes] = []
        lost: list[FrameProtocol] = []
        loop = asyncio.get_running_loop()
        path = str(tmp_path / "channel.sock")

        def make() -> FrameProtocol:
            return FrameProtocol(lambda _conn, frames: got.extend(frames), lost.append)

        server = await loop.create_unix_server(make, path=path)
        _, writer = await asyncio.open_unix_connection(path)
        for start in range(0, len(stream), 7):  # cut into small writes
            writer.write(stream[start : start + 7])
            await writer.drain()
        writer.close()
        for _ in range(500):
            if lost:
                break
            await asyncio.sleep(0.01)
        first = (list(got), len(lost))
        # A peer that sends a length over the limit: its connection is closed.
        got.clear()
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(frame(messages[0]))
        await writer.drain()
        for _ in range(500):
            if got:
                break
            await asyncio.sleep(0.01)
        writer.write(HEADER.pack(MAX_FRAME + 1) + frame(messages[1]))
        await writer.drain()
        closed = await asyncio.wait_for(reader.read(), 5)  # EOF: the node closed it
        writer.close()
        server.close()
        assert closed == b""
        return first[0], first[1], list(got), len(lost)

    got, lost, broken, lost_after = asyncio.run(run())
    assert got == messages and lost == 1
    assert broken == [messages[0]] and lost_after == 2


def test_commands_from_the_journal_payloads_encode_as_the_channel_does() -> None:
    for count in (0, 1, 15, 16, 300, 70_000):
        commands = [msgspec.structs.replace(ORDER, seq=n + 1) for n in range(count)]
        payloads = [encode_command(c) for c in commands]
        raw = applied_from_journal(payloads)
        assert bytes(raw) == bytes(encode_applied([(c, []) for c in commands]))
        assert decode_applied(raw) == commands
