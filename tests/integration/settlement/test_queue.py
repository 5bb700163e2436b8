"""The queue's contract, the same for both backends: order, tail, dedup, reading again from a
cursor, depth; what a reader fetched and never acknowledged comes again when it reopens."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from settlement.queue import QueueReader, open_reader, open_writer
from settlement.records import Message
from tests.integration.settlement.conftest import Setup
from tests.settlement_flow import flow


async def _drain(reader: QueueReader, limit: int, expected: int) -> list[Message]:
    """Fetch until ``expected`` messages came (a fetch may come back empty on a busy machine),
    then once more, to see that nothing else comes."""
    out: list[Message] = []
    deadline = time.monotonic() + 30
    while len(out) < expected and time.monotonic() < deadline:
        got = await reader.fetch(limit, 0.3)
        out += [d.message for d in got]
    out += [d.message for d in await reader.fetch(limit, 0.3)]
    return out


def test_messages_come_out_in_order_once_and_again_from_a_cursor(
    setup: Setup, tmp_path: Path
) -> None:
    _, messages = flow(800, seed=31)
    config = setup.config.settlement

    async def scenario() -> None:
        writer = open_writer(config, tmp_path)
        assert await writer.open() == 0
        half = len(messages) // 2
        writer.put(messages[:half])
        await writer.flush()
        assert writer.stored == messages[half - 1].seq
        await writer.close()
        # A new writer (the node restarted): the tail is where it stopped; what it holds
        # already is not stored twice.
        writer = open_writer(config, tmp_path)
        assert await writer.open() == messages[half - 1].seq
        writer.put(messages[half - 10 :])
        await writer.flush()
        assert writer.stored == messages[-1].seq

        reader = open_reader(config, tmp_path)
        await reader.open(0, 0)
        got = await _drain(reader, 97, len(messages))
        assert [m.seq for m in got] == [m.seq for m in messages]
        assert got == messages
        depth, first = await reader.depth(0)
        assert depth == len(messages) and first == messages[0].fed_ns

        # Fetched, never acknowledged, then read again from a cursor: the same, in order.
        await reader.open(0, 0)
        first_ten = await reader.fetch(10, 5.0)
        while len(first_ten) < 5:
            first_ten += await reader.fetch(10 - len(first_ten), 5.0)
        cursor = first_ten[4].cursor
        await reader.open(cursor, first_ten[4].message.seq)
        again = await reader.fetch(len(messages), 5.0)
        assert again[0].message == messages[5]
        assert [d.message.seq for d in again] == [m.seq for m in messages[5 : 5 + len(again)]]
        await reader.ack(again)
        assert (await reader.depth(again[-1].cursor))[0] == len(messages) - 5 - len(again)
        await reader.close()
        await writer.close()

    asyncio.run(scenario())


def test_the_nodes_puts_within_a_moment_are_stored_together_without_a_flush(
    tmp_path: Path,
) -> None:
    """The SQLite writer gathers the puts of PUT_EVERY_S (the node's batches that traded)
    and has its thread store them as one transaction, with no flush asked for."""
    from node.config import DEMO_CONFIG, parse_config
    from settlement.sqlite_queue import PUT_EVERY_S, SqliteWriter

    _, messages = flow(300, seed=5)
    config = parse_config(DEMO_CONFIG, "demo").settlement

    async def scenario() -> None:
        writer = open_writer(config, tmp_path)
        assert isinstance(writer, SqliteWriter)
        assert await writer.open() == 0
        third = len(messages) // 3
        for part in (messages[:third], messages[third : 2 * third], messages[2 * third :]):
            writer.put(part)
        assert writer.stored == 0  # gathered: the loop has not turned since
        deadline = time.monotonic() + 30
        while writer.stored < messages[-1].seq and time.monotonic() < deadline:
            await asyncio.sleep(PUT_EVERY_S)
        assert writer.stored == messages[-1].seq
        reader = open_reader(config, tmp_path)
        assert [m.seq for m in await _drain(reader, 1000, len(messages))] == [
            m.seq for m in messages
        ]
        await reader.close()
        await writer.close()

    asyncio.run(scenario())
