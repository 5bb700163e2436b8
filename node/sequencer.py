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
from node.journal import MAX_RECORD, JournalWriter, encode_command

__all__ = ["Sequenced", "Sequencer"]

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
        """
        if len(commands) > 1:
            # All or nothing: a command the journal cannot take stops the group before
            # any of it is applied (a record's stamp adds a few bytes at most).
            for command in commands:
                size = len(encode_command(command))
                if size > MAX_RECORD - 64:
                    raise ValueError(
                        f"command of {size} bytes: a journal record holds at most {MAX_RECORD}"
                    )
        out: list[Sequenced] = []
        now = self._now()
        self._timers(now, out)
        for command in commands:
            self._apply(_stamped(command, self.writer.next_seq, now), out)
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
