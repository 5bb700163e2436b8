"""A worker with no connection is sent the batches together (node/hub.py:
HOLD_COMMANDS, HOLD_S), and everything held before anything it asks: a WebSocket
worker with no connection admitted, and the FIX worker (an early worker) with no
client connected.

A real Exchange on a real data directory, the node's real hub on its Unix socket,
and a RemoteNode joined to it as a worker in the same event loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import node.hub as hub_module
from node.channel import Admitted, Applied, Batch, Durable, decode_applied, decode_down
from node.exchange import Exchange
from node.hub import WorkerHub
from node.worker import RemoteNode, connect
from tests.unit.node.test_pipelined_commit import _exchange, _order, _wait


async def _joined(
    tmp_path: Path, early: bool = False
) -> tuple[Exchange, WorkerHub, RemoteNode, list[object], asyncio.Task[None], asyncio.Transport]:
    exchange = _exchange(tmp_path / "data")
    hub = WorkerHub(exchange, 0, [])
    await exchange.start()
    await hub.start()
    frames, writer, welcome = await asyncio.wait_for(connect(str(hub.path), 0, early), 10)
    remote = RemoteNode(exchange.config, welcome, tmp_path / "data" / "history.sqlite")
    remote.writer = writer
    got: list[object] = []

    async def receive() -> None:
        while more := await frames.frames():
            for payload in more:
                message = decode_down(payload)
                got.append(message)
                remote.on_message(message)

    receiving = asyncio.get_running_loop().create_task(receive())
    return exchange, hub, remote, got, receiving, writer


async def _leave(
    exchange: Exchange, hub: WorkerHub, receiving: asyncio.Task[None], writer: asyncio.Transport
) -> None:
    writer.close()
    await hub.close()
    await exchange.close()
    receiving.cancel()


def _batches(got: list[object]) -> list[list[int]]:
    return [
        [c.seq for c in decode_applied(m.applied)]
        for m in got
        if isinstance(m, Batch) and decode_applied(m.applied)
    ]


def test_an_idle_worker_gets_the_held_batches_before_the_answer_to_what_it_asks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "HOLD_S", 60.0)  # only a request sends them here

    async def run() -> None:
        exchange, hub, remote, got, receiving, writer = await _joined(tmp_path)
        start = exchange.engine.last_seq
        for n in range(6):
            await exchange.submit(_order(n))
        await asyncio.sleep(0.05)
        # Six durable batches, none sent: the worker has no connection.
        assert _batches(got) == [] and remote.engine.last_seq == start
        # A connection to admit: every batch held comes first, as one, then the answer.
        assert await asyncio.wait_for(remote.admit("127.0.0.1"), 10)
        assert _batches(got) == [[start + n for n in range(1, 7)]]
        kinds = [type(m).__name__ for m in got if not isinstance(m, Batch) or m.replies]
        assert kinds == ["Batch"]  # the answer (Admitted) came in a frame after the held one
        assert isinstance(got[-1], Batch) and isinstance(got[-1].replies[0], Admitted)
        assert remote.engine.state_hash() == exchange.engine.state_hash()
        # With a connection admitted, each batch goes at once.
        await exchange.submit(_order(7))
        await _wait(lambda: remote.engine.last_seq == start + 7, "the next batch at once")
        await _leave(exchange, hub, receiving, writer)

    asyncio.run(run())


def test_held_batches_go_after_hold_s_or_at_hold_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "HOLD_S", 0.2)
    monkeypatch.setattr(hub_module, "HOLD_COMMANDS", 4)

    async def run() -> None:
        exchange, hub, remote, got, receiving, writer = await _joined(tmp_path)
        start = exchange.engine.last_seq
        for n in range(5):
            await exchange.submit(_order(n))
        # The fourth command reached HOLD_COMMANDS: those four went together.
        await _wait(lambda: _batches(got) == [[start + 1, start + 2, start + 3, start + 4]], "4")
        # The fifth waits for HOLD_S.
        await _wait(lambda: remote.engine.last_seq == start + 5, "the fifth after HOLD_S")
        assert _batches(got)[1:] == [[start + 5]]
        assert remote.engine.state_hash() == exchange.engine.state_hash()
        await _leave(exchange, hub, receiving, writer)

    asyncio.run(run())


def test_the_fix_worker_with_no_client_gets_the_batches_held_once_one_connects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An early worker (the FIX worker) with no client connection: nothing is sent until
    it says a client connected; then the batches as applied (one Applied) and how far
    they are durable (one Durable), and from then on each batch at once."""
    monkeypatch.setattr(hub_module, "HOLD_S", 60.0)

    async def run() -> None:
        exchange, hub, remote, got, receiving, writer = await _joined(tmp_path, early=True)
        published: list[int] = []
        remote.add_listener(lambda applied: published.extend(c.seq for c, _ in applied))
        start = exchange.engine.last_seq
        for n in range(5):
            await exchange.submit(_order(n))
        await asyncio.sleep(0.05)
        assert got == [] and remote.engine.last_seq == start
        remote.connected(1)
        await _wait(lambda: published == [start + n for n in range(1, 6)], "the held batches")
        applied = [m for m in got if isinstance(m, Applied)]
        durable = [m for m in got if isinstance(m, Durable)]
        assert [[c.seq for c in decode_applied(m.applied)] for m in applied] == [
            [start + n for n in range(1, 6)]
        ]
        assert [m.upto for m in durable] == [start + 5]
        assert remote.engine.state_hash() == exchange.engine.state_hash()
        # A client connected: the next batch comes as applied, then durable, at once.
        await exchange.submit(_order(6))
        await _wait(lambda: published[-1:] == [start + 6], "the next batch at once")
        assert [type(m).__name__ for m in got[-2:]] == ["Applied", "Durable"]
        # The last client gone: held again.
        remote.connected(-1)
        await asyncio.sleep(0.05)
        before = len(got)
        await exchange.submit(_order(7))
        await asyncio.sleep(0.05)
        assert len(got) == before and remote.engine.last_seq == start + 6
        await _leave(exchange, hub, receiving, writer)

    asyncio.run(run())
