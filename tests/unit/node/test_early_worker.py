"""The FIX worker's view of the pipeline over the channel: batches as soon as applied,
answers once durable (node/hub.py, node/worker.py; docs/WORKERS.md, "The FIX worker").

A real Exchange on a real data directory, the node's real hub listening on its Unix
socket, and a RemoteNode joined to it as an early worker in the same event loop (no
process is started: the hub's channel is what is under test). The journal's write is
held on an event, so the test decides when a batch becomes durable.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

import node.exchange as exchange_module
from engine import snapshot as engine_snapshot
from node.channel import (
    EMPTY,
    Batch,
    Welcome,
    decode_down,
    encode,
    encode_applied,
    frame,
)
from node.hub import WorkerHub
from node.sequencer import Sequenced
from node.worker import RemoteNode, connect
from tests.unit.node.test_pipelined_commit import HeldWriter, _exchange, _order, _wait


@pytest.fixture(autouse=True)
def _every_sync_in_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exchange_module, "INLINE_BATCH", 0)


def test_an_early_worker_hears_a_batch_applied_then_its_answer_once_durable(
    tmp_path: Path,
) -> None:
    async def run() -> None:
        exchange = _exchange(tmp_path / "data")
        hub = WorkerHub(exchange, 0, [])
        await exchange.start()
        await hub.start()
        frames, writer, welcome = await asyncio.wait_for(connect(str(hub.path), 3, early=True), 10)
        held = HeldWriter(exchange.sequencer.writer)  # from here the test decides
        remote = RemoteNode(exchange.config, welcome, tmp_path / "data" / "history.sqlite")
        remote.writer = writer
        seen: list[tuple[str, list[int]]] = []
        kinds: list[str] = []

        def note(what: str) -> object:
            return lambda applied: seen.append((what, [c.seq for c, _ in applied]))

        remote.add_early_listener(note("early"))  # type: ignore[arg-type]
        remote.add_listener(note("published"))  # type: ignore[arg-type]

        async def receive() -> None:
            while got := await frames.frames():
                for payload in got:
                    message = decode_down(payload)
                    kinds.append(type(message).__name__)
                    remote.on_message(message)

        receiving = asyncio.get_running_loop().create_task(receive())
        start = exchange.engine.last_seq

        def applied(result: list[Sequenced]) -> None:
            seen.append(("on_applied", [c.seq for c, _ in result]))

        def done(result: list[Sequenced]) -> None:
            seen.append(("on_done", [c.seq for c, _ in result]))

        remote.enqueue_early([_order(2), _order(4)], applied, done)
        await _wait(lambda: len(held.started) == 1, "the batch's sync began")
        await _wait(lambda: len(seen) == 2, "the worker heard the batch applied")
        batch = [start + 1, start + 2]
        # Applied, not durable: the worker's copy and its callbacks are ahead of the journal.
        assert seen == [("on_applied", batch), ("early", batch)]
        assert remote.applied_seq == start + 2
        assert held.durable == []
        held.release.release()
        await _wait(lambda: len(seen) == 4, "the worker heard the batch durable")
        assert seen[2:] == [("on_done", batch), ("published", batch)]
        assert kinds.index("Applied") < kinds.index("Durable")
        for _ in range(10):
            held.release.release()
        writer.close()
        await hub.close()
        await exchange.close()
        receiving.cancel()

    asyncio.run(run())


def test_a_frame_read_with_the_welcome_is_the_next_one_the_worker_gets(tmp_path: Path) -> None:
    """The node often writes the next batch right behind a worker's welcome; one read then
    takes both, and joining must hand the batch on, not drop it (the copy would lag)."""

    async def run() -> None:
        exchange = _exchange(tmp_path / "data")
        welcome = Welcome(engine_snapshot.encode(exchange.engine), {}, [], {}, 0)
        batch = Batch([], EMPTY, False, 0)
        hellos: list[bytes] = []

        async def node(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            hellos.append(await reader.read(1024))
            writer.write(frame(encode(welcome)) + frame(encode(batch)))  # one write, one read
            await writer.drain()
            await reader.read()  # until the worker goes
            writer.close()

        path = tmp_path / "channel.sock"
        server = await asyncio.start_unix_server(node, path=str(path))
        frames, writer, got = await asyncio.wait_for(connect(str(path), 1), 10)
        assert got.engine == welcome.engine and hellos
        after = await asyncio.wait_for(frames.frames(), 10)
        assert [type(decode_down(f)) for f in after] == [Batch]
        writer.close()
        server.close()
        await exchange.close()

    asyncio.run(run())


def test_a_batch_that_skips_records_stops_the_worker(tmp_path: Path) -> None:
    """A lost frame would leave the copy behind the node for good: the next batch says so."""

    async def run() -> None:
        exchange = _exchange(tmp_path / "data")
        await exchange.start()
        welcome = Welcome(engine_snapshot.encode(exchange.engine), {}, [], {}, 0)
        remote = RemoteNode(exchange.config, welcome, tmp_path / "data" / "history.sqlite")
        last = exchange.engine.last_seq
        ahead = msgspec.structs.replace(_order(2), seq=last + 2, ts=1)
        with pytest.raises(ConnectionError, match="a frame was lost"):
            remote.on_batch(Batch([], encode_applied([(ahead, [])]), False, 0))
        assert remote.engine.last_seq == last  # nothing of it applied
        await exchange.close()

    asyncio.run(run())
