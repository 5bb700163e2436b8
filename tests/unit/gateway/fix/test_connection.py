"""The transport's gate: bytes go out only when the store and the journal have what they tell,
in order, and a client that does not read goes; a new connection is read from once the
node's barrier asked for at its opening is answered."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from gateway.fix.server import SLOW_CONSUMER_BYTES, Connection
from node.metrics import GatewayMetrics


class FakeTransport:
    def __init__(self, unread: int = 0) -> None:
        self.written: list[bytes] = []
        self.unread = unread
        self.closed = self.aborted = False
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return self.unread

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


class FakeNode:
    """What a connection asks of the node at its opening: it counts, and a barrier."""

    def __init__(self, answer_at_once: bool = True) -> None:
        self.connections = 0
        self.barriers: list[Callable[[], None]] = []
        self.answer_at_once = answer_at_once

    def connected(self, delta: int) -> None:
        self.connections += delta

    def enqueue_barrier(self, after: Callable[[], None]) -> None:
        if self.answer_at_once:
            after()
        else:
            self.barriers.append(after)


def _connection(transport: FakeTransport, node: FakeNode | None = None) -> Connection:
    gateway: Any = SimpleNamespace(
        connections=set(),
        waiting={},
        holding={},
        metrics=GatewayMetrics("fix"),
        durable_seq=0,
        node=node or FakeNode(),
    )
    conn = Connection(gateway)
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn


def test_a_new_connection_is_counted_and_read_from_once_its_barrier_is_answered() -> None:
    transport = FakeTransport()
    node = FakeNode(answer_at_once=False)
    _connection(transport, node)
    assert node.connections == 1
    assert not transport.reading  # the node's held batches first
    [answer] = node.barriers
    answer()
    assert transport.reading


def test_queued_bytes_wait_for_the_commit_then_go_in_one_write() -> None:
    transport = FakeTransport()
    conn = _connection(transport)
    conn.queue(b"one")
    conn.queue(b"two")
    assert transport.written == []  # not before the store has them
    conn.sealed, conn.pending = conn.pending, []
    conn.release()
    assert transport.written == [b"onetwo"]


def test_a_connection_ending_closes_once_its_last_bytes_are_out() -> None:
    transport = FakeTransport()
    conn = _connection(transport)
    conn.queue(b"logout")
    conn.closing = True
    conn.release()
    assert not transport.closed  # its Logout is not sealed yet
    conn.sealed, conn.pending = conn.pending, []
    conn.release()
    assert transport.written == [b"logout"] and transport.closed


def test_a_client_that_does_not_read_is_let_go() -> None:
    transport = FakeTransport(unread=SLOW_CONSUMER_BYTES + 1)
    conn = _connection(transport)
    conn.queue(b"report")
    conn.sealed, conn.pending = conn.pending, []
    conn.release()
    assert transport.aborted
    assert conn.gateway.metrics.disconnects == {"slow_consumer": 1}


def test_bytes_made_before_the_journal_synced_wait_for_it_and_keep_their_order() -> None:
    transport = FakeTransport()
    conn = _connection(transport)
    gateway = conn.gateway
    conn.queue(b"fill7", 7)  # a report of record 7, not yet durable
    conn.queue(b"heartbeat")  # made later: it may not pass the report
    conn.sealed, conn.pending = conn.pending, []
    conn.release()  # the store synced both
    assert transport.written == []
    assert gateway.holding == {id(conn): conn}
    gateway.durable_seq = 6
    gateway.holding.clear()
    conn.flush()
    assert transport.written == []  # record 6 durable is not enough
    gateway.durable_seq = 7
    conn.flush()
    assert b"".join(transport.written) == b"fill7heartbeat"
    assert conn.ready == []


def test_a_connection_ending_waits_for_the_journal_too() -> None:
    transport = FakeTransport()
    conn = _connection(transport)
    gateway = conn.gateway
    conn.queue(b"cancelled", 3)
    conn.closing = True
    conn.sealed, conn.pending = conn.pending, []
    conn.release()
    assert not transport.closed
    gateway.durable_seq = 3
    conn.flush()
    assert b"".join(transport.written) == b"cancelled" and transport.closed
