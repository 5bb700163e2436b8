"""A journal writer process: commands in on stdin, acknowledgements out once they are durable.

``python -m node.writer --data DIR [--fsync batch|always|off] [--snapshot-every N]``

Recovers ``DIR`` (creating it with the demo genesis if it is new), then
reads JSON commands, one per line, on stdin (``seq`` and ``ts`` are
placeholders: the sequencer stamps them). It takes every line already waiting
as one batch, sequences, journals and applies the batch, makes it durable,
and only then prints one acknowledgement per command on stdout,
``{"seq": N, "events": K}``, in order. Every ``N`` commands it forks a
snapshot and prunes what the snapshots make unnecessary. The crash tests
kill it with SIGKILL at random points; the recovery benchmark feeds it
load. ``tokex serve`` is the same pipeline behind the gateways.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from model.commands import Command
from node.demo import demo_genesis
from node.journal import FSYNC_POLICIES, JournalWriter
from node.recovery import prune, recover
from node.sequencer import Sequencer
from node.store import write_genesis, write_snapshot_in_background

__all__ = ["main"]

_decode = msgspec.json.Decoder(Command).decode


def _read_batch(stream: int, pending: bytearray) -> list[bytes] | None:
    """Every complete line available now (blocking for the first); None at end of input."""
    while b"\n" not in pending:
        chunk = os.read(stream, 1 << 16)
        if not chunk:
            return None
        pending += chunk
    while select.select([stream], [], [], 0)[0]:
        chunk = os.read(stream, 1 << 16)
        if not chunk:
            break
        pending += chunk
    *lines, rest = bytes(pending).split(b"\n")
    pending[:] = rest
    return [line for line in lines if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.writer", description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--fsync", choices=FSYNC_POLICIES, default="batch")
    parser.add_argument("--snapshot-every", type=int, default=0, help="0: never")
    args = parser.parse_args(argv)
    data: Path = args.data
    if not (data / "genesis.tkx").exists():
        write_genesis(data, demo_genesis())
    recovered = recover(data)
    writer = JournalWriter(data / "journal", recovered.next_seq, args.fsync)
    sequencer = Sequencer(recovered.engine, writer, time.time_ns)
    children: list[int] = []
    since_snapshot = 0
    pending = bytearray()
    out = sys.stdout
    stdin = sys.stdin.fileno()
    while True:
        lines = _read_batch(stdin, pending)
        if lines is None:
            break
        acks = []
        for line in lines:
            try:
                command = _decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                acks.append(msgspec.json.encode({"error": str(e)}))
                continue
            try:
                applied = sequencer.submit(command)
            except ValueError as e:  # a command too large for a journal record
                acks.append(msgspec.json.encode({"error": str(e)}))
                continue
            mine, events = applied[-1]
            acks.append(msgspec.json.encode({"seq": mine.seq, "events": len(events)}))
        sequencer.flush()  # durable: now they may be answered
        out.write(b"\n".join(acks).decode() + "\n")
        out.flush()
        since_snapshot += len(lines)
        if args.snapshot_every and since_snapshot >= args.snapshot_every:
            since_snapshot = 0
            children.append(write_snapshot_in_background(data, sequencer.engine))
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.remove(pid)
                if status == 0:
                    prune(data)
    writer.close()
    for pid in children:
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
