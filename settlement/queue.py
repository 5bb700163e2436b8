"""The settlement queue's small interface, which both backends implement.

* The node's side, :class:`QueueWriter`: learn the queue's tail (the
  highest seq it holds), then append messages in engine order. ``put`` never
  blocks the node's event loop; ``stored`` says how far the backend has
  durably taken them, which is what the node's retention floor follows.
* The worker's side, :class:`QueueReader`: ``open`` at the cursor the
  ledger committed last, ``fetch`` what follows in order, and ``ack`` once
  what was fetched is committed in the ledger. The ledger, not the queue,
  holds the authoritative consumer position (committed in the same SQLite
  transaction as the bookings), so an ack lost in a crash costs only a
  redelivery that the ledger recognises and skips.

Backends: :mod:`settlement.sqlite_queue` (embedded, the default) and
:mod:`settlement.nats_queue` (NATS JetStream). :func:`open_writer` and
:func:`open_reader` pick one from the ``[settlement]`` configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from node.config import SettlementConfig
from settlement.records import Message

__all__ = [
    "Delivery",
    "QueueError",
    "QueueReader",
    "QueueWriter",
    "backend_name",
    "open_reader",
    "open_writer",
    "settlement_dir",
]


class QueueError(Exception):
    """The queue cannot be reached or does not hold what it must (named, with the reason)."""


@dataclass(frozen=True)
class Delivery:
    """One message as the reader got it: the message and where it sits in the backend."""

    message: Message
    cursor: int
    """The backend's own position of this message (SQLite: the seq; NATS: the stream seq)."""
    handle: Any = None
    """What ``ack`` needs (the NATS message); None for SQLite."""
    redelivered: bool = False


class QueueWriter(Protocol):
    """The node's side of the queue."""

    async def open(self) -> int:
        """Connect or open; return the queue's tail: its highest message seq (0: empty)."""
        ...

    def put(self, messages: list[Message]) -> None:
        """Queue ``messages`` (in order, continuing the tail) for storing; never blocks."""
        ...

    async def flush(self) -> None:
        """Wait until everything put so far is stored (QueueError if it cannot be)."""
        ...

    @property
    def stored(self) -> int:
        """The highest seq known stored in the backend."""
        ...

    async def pending_after(self, cursor: int) -> list[tuple[int, int]]:
        """(seq, fed_ns) of the stored messages after the backend position ``cursor``."""
        ...

    async def close(self) -> None:
        """Store what is put, then close."""
        ...


class QueueReader(Protocol):
    """The worker's side of the queue."""

    async def open(self, cursor: int, seq: int) -> None:
        """Start reading after ``cursor`` (the backend position of the message ``seq``).

        Called again, reading starts over from there: what was fetched after
        ``cursor`` and not acknowledged comes again.
        """
        ...

    async def fetch(self, limit: int, timeout: float) -> list[Delivery]:
        """Up to ``limit`` messages in queue order; [] if none came within ``timeout`` s."""
        ...

    async def ack(self, deliveries: list[Delivery]) -> None:
        """Tell the backend these are committed in the ledger."""
        ...

    async def depth(self, cursor: int) -> tuple[int, int | None]:
        """Messages after ``cursor``, and the ``fed_ns`` of the first of them (None: none)."""
        ...

    async def close(self) -> None: ...


def settlement_dir(data: Path) -> Path:
    """Where settlement keeps its files in a data directory (created if missing)."""
    folder = data / "settlement"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def backend_name(config: SettlementConfig) -> str:
    return "nats" if config.backend == "nats" else "sqlite"


def open_writer(config: SettlementConfig, data: Path) -> QueueWriter:
    """The node's side of the configured backend (not yet opened)."""
    if config.backend == "nats":
        from settlement.nats_queue import NatsWriter

        return NatsWriter(config)
    from settlement.sqlite_queue import SqliteWriter

    return SqliteWriter(settlement_dir(data) / "queue.sqlite")


def open_reader(config: SettlementConfig, data: Path) -> QueueReader:
    """The worker's side of the configured backend (not yet opened)."""
    if config.backend == "nats":
        from settlement.nats_queue import NatsReader

        return NatsReader(config)
    from settlement.sqlite_queue import SqliteReader

    return SqliteReader(settlement_dir(data) / "queue.sqlite")
