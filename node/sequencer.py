"""The sequencer: the single entry to the engine, with the journal in front of it.

Every command gets the next sequence number and the time, is framed into the
journal's batch, and only then applied to the engine; the batch is written
and made durable (:meth:`JournalWriter.flush`, per the fsync policy) before
any of its commands is answered. Timers are commands too: before each client
command, and on :meth:`Sequencer.tick`, every timer the engine reports due
(``Engine.next_timer``) goes in as a :class:`RunTimers` at its own instant.
The journal therefore holds exactly what the engine applied, in order, and
replaying it rebuilds the same state.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import msgspec

from engine.engine import Engine
from engine.events import Event
from model.commands import Command, RunTimers
from node.journal import JournalWriter, check_size, encode_command

__all__ = ["Sequenced", "Sequencer", "Unjournaled"]

Sequenced = tuple[Command, list[Event]]
"""A command as applied (with its seq and ts) and the events it caused."""


_set = msgspec.structs.force_setattr
_copy: Callable[[Command], Command] = copy.copy


def _stamped(command: Command, seq: int, ts: int) -> Command:
    """A copy of ``command`` with its seq and time.

    Not ``msgspec.structs.replace``: that runs the command's checks
    (``__post_init__``) again, a third of the cost of stamping, on a command
    that passed them when it was made.
    """
    out: Command = _copy(command)
    _set(out, "seq", seq)
    _set(out, "ts", ts)
    return out


class Unjournaled(Exception):
    """A group the journal could not take (a command too large, or not encodable).

    None of the group's commands was applied or journaled. The timers due
    before it were (``applied``): they are durable with the batch and must
    still reach the listeners, or a gateway's view (and a worker's copy of
    the engine) would miss them. ``error`` is why (ValueError, TypeError or
    OverflowError, as the encoder or the size check raised it).
    """

    def __init__(self, error: Exception, applied: list[Sequenced]) -> None:
        super().__init__(str(error))
        self.error = error
        self.applied = applied


class Sequencer:
    """Stamps, journals and applies commands, one batch at a time (group commit)."""

    def __init__(self, engine: Engine, writer: JournalWriter, clock: Callable[[], int]) -> None:
        if writer.next_seq != engine.last_seq + 1:
            raise ValueError(
                f"journal at seq {writer.next_seq - 1}, engine at {engine.last_seq}: not recovered"
            )
        self.engine = engine
        self.writer = writer
        self.clock = clock
        self.last_ts = 0

    def _now(self) -> int:
        now = self.clock()
        if now < self.last_ts:
            now = self.last_ts  # time never goes back in the journal
        self.last_ts = now
        return now

    def _apply(self, command: Command, out: list[Sequenced]) -> None:
        self.writer.add(command)  # into the journal's batch before the engine sees it
        out.append((command, self.engine.process(command)))

    def _timers(self, now: int, out: list[Sequenced]) -> None:
        engine = self.engine
        while True:
            due = engine.next_timer()
            if due is None or due > now:
                return
            at = max(due, self.last_ts)
            self._apply(RunTimers(self.writer.next_seq, at), out)

    def submit(self, command: Command) -> list[Sequenced]:
        """Stamp and apply one command (after any timers due); durable only after :meth:`flush`."""
        out: list[Sequenced] = []
        now = self._now()
        self._timers(now, out)
        self._apply(_stamped(command, self.writer.next_seq, now), out)
        return out

    def submit_group(self, commands: Sequence[Command]) -> list[Sequenced]:
        """Apply the timers due, then ``commands`` back to back at one instant.

        Nothing comes between them, so a batch of orders reaches the engine
        whole. With no commands this is :meth:`tick`.

        Each command is stamped and encoded once: the same bytes are checked
        for size, framed into the journal and handed on to the gateway
        workers (:meth:`JournalWriter.take`). All or nothing: every command is
        encoded before any is applied, so one the journal cannot take stops
        the whole group, and :class:`Unjournaled` carries the timers that ran
        before it.
        """
        out: list[Sequenced] = []
        now = self._now()
        self._timers(now, out)
        writer = self.writer
        first = writer.next_seq
        stamped = [_stamped(command, first + n, now) for n, command in enumerate(commands)]
        try:
            encoded = [encode_command(command) for command in stamped]
            for payload in encoded:
                check_size(payload)
        except (ValueError, TypeError, OverflowError) as e:
            raise Unjournaled(e, out) from e
        process = self.engine.process
        add = writer.add_encoded
        for command, payload in zip(stamped, encoded, strict=True):
            add(command.seq, payload)  # into the journal's batch before the engine sees it
            out.append((command, process(command)))
        return out

    def tick(self) -> list[Sequenced]:
        """Apply the timers due by now; durable only after :meth:`flush`."""
        out: list[Sequenced] = []
        self._timers(self._now(), out)
        return out

    def flush(self) -> int:
        """Make the gathered batch durable; after this its commands may be answered."""
        return self.writer.flush()

    def commit(self, commands: Sequence[Command]) -> list[Sequenced]:
        """Submit a batch and flush it: one write and (policy ``batch``) one fsync for all."""
        out: list[Sequenced] = []
        for command in commands:
            out += self.submit(command)
        self.flush()
        return out
